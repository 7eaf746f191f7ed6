# gen-records.awk - baseline for bench/ldapsync.sh: turn `ldapsearch -LLL
# -o ldif-wrap=no` output of the benchmark people into the same R/V/T/P
# records ldapsync publishes, in `cdb -c -m` input form ("key value").
# No validation, no conflict handling: the cheapest possible equivalent.
BEGIN {
    store["exchange"] = "smtp:[exchange.example.org]:25"
    store["mytum"] = "lmtp:[mytum.example.org]:24"
}
function flush(   i, t, v, p, fw, fwq) {
    if (mail == "") return
    t = ""
    if (loc == "external") t = "smtp:[" host "]"
    else if (loc in store) t = store[loc]
    fw = ""; fwq = ""
    for (i = 1; i <= nf; i++) {
        fw = fw (i > 1 ? "," : "") fwd[i]
        fwq = fwq (i > 1 ? "," : "") "\"" fwd[i] "\""
    }
    if (loc == "none") v = fw
    else if (nf) v = mail "," fw
    else v = ""
    p = "{\"dn\":\"" dn "\",\"tenant\":\"tum\",\"role\":\"primary\",\"primary\":\"" mail \
        "\",\"location\":\"" loc "\",\"host\":" (host == "" ? "null" : "\"" host "\"") \
        ",\"forwards\":[" fwq "],\"uuid\":\"" uuid "\"}"
    print "R:" mail " tum"
    if (t != "") print "T:" mail " " t
    if (v != "") print "V:" mail " " v
    print "P:" mail " " p
    for (i = 1; i <= na; i++) {
        print "R:" alias[i] " tum"
        if (t != "") print "T:" alias[i] " " t
        print "V:" alias[i] " " mail
        sub(/"role":"primary"/, "\"role\":\"alias\"", p)
        print "P:" alias[i] " " p
    }
}
/^dn: / { flush(); dn = substr($0, 5); mail = ""; loc = ""; host = ""; uuid = ""; na = 0; nf = 0; next }
/^mail: / { mail = tolower(substr($0, 7)); next }
/^fwdMailAlias: / { alias[++na] = tolower(substr($0, 15)); next }
/^fwdMailboxLocation: / { loc = tolower(substr($0, 21)); next }
/^fwdMailHost: / { host = tolower(substr($0, 14)); next }
/^fwdForwardAddress: / { fwd[++nf] = tolower(substr($0, 20)); next }
/^entryUUID: / { uuid = substr($0, 12); next }
END { flush() }
