#!/usr/bin/env bash
# asan: yes
# The fwdmap admin tool: compile text records, query them with the Postfix
# semantics, dump them back, explain an address, and refuse bad input.
source "$TOP/tests/lib/common.sh"
fm() { "$(t_bin fwdmap)" -d "$T/maps" -D + "$@"; }
mkdir -p "$T/maps"

cat > "$T/in.txt" <<'IN'
# domains
D tum.de tum reject
D ph.tum.de tum route smtp:[mail.ph.tum.de]:25
R jane.doe@tum.de tum
R j.doe@tum.de tum
V j.doe@tum.de jane.doe@tum.de
T jane.doe@tum.de smtp:[exchange.example.org]:25
T j.doe@tum.de smtp:[exchange.example.org]:25
P jane.doe@tum.de {"dn":"uid=jane,ou=people,ou=tum,dc=example,dc=org","tenant":"tum","role":"primary","location":"exchange","forwards":[]}
X boss@tum.de {"dn":"uid=evil,ou=people,ou=lmu,dc=example,dc=org","tenant":"lmu","reason":"domain tum.de belongs to tenant tum"}
IN
fm compile -s 5 "$T/in.txt" || t_fail "compile"
t_eq "domain" "OK tum" "$(fm query domains TUM.DE)"
t_eq "recipient" "OK tum" "$(fm query recipients Jane.Doe+News@tum.de)"
t_eq "unknown" "NOTFOUND" "$(fm query recipients nobody@tum.de)"
t_eq "route domain" "OK tum" "$(fm query recipients nobody@ph.tum.de)"
t_eq "alias" "OK jane.doe@tum.de" "$(fm query virtual J.DOE@tum.de)"
t_eq "transport" "OK smtp:[exchange.example.org]:25" "$(fm query transport jane.doe+x@TUM.de)"
t_eq "default route" "OK smtp:[mail.ph.tum.de]:25" "$(fm query transport old@ph.tum.de)"
fm query recipients nobody@tum.de >/dev/null; t_eq "exit not found" 1 $?

# dump | compile round-trips to the same records.
fm dump | sort > "$T/dump1"
mkdir -p "$T/maps2"
"$(t_bin fwdmap)" -d "$T/maps2" compile -s 6 "$T/dump1" || t_fail "recompile"
"$(t_bin fwdmap)" -d "$T/maps2" dump | sort > "$T/dump2"
diff -u "$T/dump1" "$T/dump2" || t_fail "dump round trip differs"
t_eq "records" 9 "$(wc -l < "$T/dump1")"

# info shows serial and counts.
fm info > "$T/info.json"
t_match "info serial" '"serial": 5' "$(cat "$T/info.json")"
t_match "info counts" '"R": 2' "$(cat "$T/info.json")"

# explain: owner, alias, rejected claim.
out=$(fm explain Jane.Doe+x@tum.de)
t_match "explain owner" 'owner dn +uid=jane,ou=people' "$out"
t_match "explain role" 'role +primary' "$out"
out=$(fm explain j.doe+x@tum.de)
t_match "explain dest" 'jane.doe\+x@tum.de -> smtp:\[exchange.example.org\]:25' "$out"
out=$(fm explain boss@tum.de); rc=$?
t_eq "explain rejected rc" 1 "$rc"
t_match "explain rejected" 'rejected at RCPT' "$out"
t_match "explain claim" 'claimed by uid=evil.*belongs to tenant tum' "$out"
# A known recipient without provenance (hand-compiled) is still "routed";
# an unknown one in a route domain passes on.
out=$(fm explain j.doe@tum.de)
t_match "explain known" 'verdict +accepted and routed' "$out"
out=$(fm explain someone@ph.tum.de)
t_match "explain route domain" 'unknown address in a domain that passes' "$out"
fm explain -j jane.doe@tum.de | grep -q '"verdict": "accepted and routed"' || t_fail "explain json"

# A delta over the base: a tombstone and a change.
printf -- '-R j.doe@tum.de\n-V j.doe@tum.de\nT jane.doe@tum.de lmtp:[mytum.example.org]:24\n' |
    fm compile -s 7 -b 5 || t_fail "delta compile"
t_eq "delta change" "OK lmtp:[mytum.example.org]:24" "$(fm query transport jane.doe@tum.de)"
t_eq "delta delete" "NOTFOUND" "$(fm query recipients j.doe@tum.de)"

# Bad input publishes nothing and says where.
printf 'D tum.de tum maybe\n' > "$T/bad.txt"
out=$(fm compile -s 8 "$T/bad.txt" 2>&1) && t_fail "bad input accepted"
t_match "bad input message" 'line 1' "$out"
t_eq "still old" "OK lmtp:[mytum.example.org]:24" "$(fm query transport jane.doe@tum.de)"
t_eq "no temp files" "" "$(ls -A "$T/maps" | grep '^\.fwdmap' || true)"

# A corrupt table: TEMP, exit 2, never NOTFOUND.
head -c $(( $(stat -c %s "$T/maps/fwdmap.cdb") - 100 )) "$T/maps/fwdmap.cdb" > "$T/cut" && mv "$T/cut" "$T/maps/fwdmap.cdb"
out=$(fm query recipients jane.doe@tum.de 2>/dev/null); rc=$?
t_eq "corrupt rc" 2 "$rc"
t_eq "corrupt answer" "TEMP no routing table loaded" "$out"
# A delimiter that is address punctuation is refused (it would split keys
# at the wrong place).
"$(t_bin fwdmap)" -d "$T/maps" -D '@+' query virtual a@b@tum.de >/dev/null 2>"$T/delim.err"
t_eq "-D @ refused" 2 $?
t_match "-D @ message" 'must not be address punctuation' "$(cat "$T/delim.err")"
exit 0
