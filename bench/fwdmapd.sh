#!/usr/bin/env bash
# bench/fwdmapd.sh - fwdmapd benchmarks, bounded to a few minutes.
#
#   bench/fwdmapd.sh            (run by `make bench` through bench/run.sh)
#
# Environment: BENCH_SIZES (people per generation, default "100000 1000000"),
# BENCH_IDLE (idle connections, default 10000), BENCH_LDAP_KEYS (sequential
# postmap lookups per table type, default 5000), BENCH_SKIP_LDAP=1.
#
# 1. For each size: publish a generation (people, a quarter of them with an
#    alias), start fwdmapd, and drive it with bench/loadgen over 1,000
#    connections: closed loop (one outstanding request per connection, like a
#    Postfix process), closed loop over 100 connections, pipelined (8
#    requests per write), and an open loop at a fixed rate; keys are a mix of
#    hits (addresses, +extensions, aliases) and misses.  Record memory
#    (private vs. mapped file) before and after.
# 2. Hold BENCH_IDLE idle connections, prove each is served before and after.
# 3. Sequential `postmap -q -` through socketmap against Postfix's own ldap:
#    table on a throwaway slapd holding the same people, same keys.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
export TOP
: "${FWDMAP_BUILD:=$TOP/build}"
export FWDMAP_BUILD
TEST_TMP=$(mktemp -d /tmp/fwdmap-bench.XXXXXX)
export TEST_TMP
source "$TOP/tests/lib/common.sh"
t_on_exit "rm -rf '$TEST_TMP'"
SIZES=${BENCH_SIZES:-100000 1000000}
IDLE=${BENCH_IDLE:-10000}
LKEYS=${BENCH_LDAP_KEYS:-5000}
FWDMAPD=$FWDMAP_BUILD/fwdmapd
FWDMAP=$FWDMAP_BUILD/fwdmap
LOADGEN=$FWDMAP_BUILD/bench/loadgen
for b in "$FWDMAPD" "$FWDMAP" "$LOADGEN"; do
    [ -x "$b" ] || { echo "bench: $b not built (make)"; exit 1; }
done
SOCK=$T/fwdmapd.sock
CTL=$T/ctl.sock
FWPID=

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024) " MB"}' /proc/meminfo), kernel $(uname -r)"
echo "# started $(date -u +%FT%TZ)"
echo "# $("$LOADGEN" -Z)"

# People p0..p(N-1) in tum.de, a quarter with an alias; the ph.tum.de
# department passes unknown recipients on.
gen_records() {
    awk -v N="$1" 'BEGIN {
        print "D tum.de tum reject"
        print "D ph.tum.de tum route smtp:[mail.ph.tum.de]:25"
        for (i = 0; i < N; i++) {
            a = "p" i ".person@tum.de"
            print "R " a " tum"
            print "T " a " smtp:[exchange.example.org]:25"
            if (i % 4 == 0) {
                print "R alias" i "@tum.de tum"
                print "V alias" i "@tum.de " a
                print "T alias" i "@tum.de smtp:[exchange.example.org]:25"
            }
        }
    }'
}

# 20,000 lookups: recipients hits, transport with +ext and odd case,
# virtual aliases, recipients misses (a quarter each).
gen_keys() {
    awk -v N="$1" 'BEGIN {
        srand(42)
        for (i = 0; i < 20000; i++) {
            r = int(rand() * N); m = i % 4
            if (m == 0) print "recipients p" r ".person@tum.de"
            else if (m == 1) print "transport P" r ".Person+news@TUM.de"
            else if (m == 2) print "virtual alias" (r - r % 4) "@tum.de"
            else print "recipients nobody" r "@tum.de"
        }
    }'
}

write_conf() {
    cat > "$T/fwdmap.json" <<JSON
{
  "maps_dir": "$T/maps",
  "recipient_delimiter": "+",
  "ldap": {"uris": ["ldap://127.0.0.1:9"]},
  "tenants": {"tum": {"base": "ou=tum,dc=example,dc=org",
                      "domains": ["tum.de", "ph.tum.de"]}},
  "domains": {"ph.tum.de": {"unknown_recipients": "route",
                            "default_route": "smtp:[mail.ph.tum.de]:25"}},
  "fwdmapd": {"listen": "unix:$SOCK", "control": "$CTL",
              "max_connections": $((IDLE + 2000)), "idle_timeout": 300}
}
JSON
}

start_fwdmapd() {
    rm -f "$SOCK" "$CTL"
    "$FWDMAPD" -c "$T/fwdmap.json" -f 2>>"$T/logs/fwdmapd.log" &
    FWPID=$!
    t_track "$FWPID"
    t_wait 30 test -S "$CTL" || { tail "$T/logs/fwdmapd.log"; exit 1; }
}
stop_fwdmapd() { kill -TERM "$FWPID"; wait "$FWPID" 2>/dev/null; }

# Memory of fwdmapd: private (anonymous) and mapped-file resident sizes.
mem() {
    awk '/^VmRSS|^RssAnon|^RssFile/ {printf "%s %.1f MB  ", $1, $2/1024} END {print ""}' \
        "/proc/$FWPID/status"
}

ulimit -n $((IDLE + 4000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
write_conf
mkdir -p "$T/maps"
for n in $SIZES; do
    echo
    echo "## generation with $n people"
    rm -f "$T/maps"/fwdmap*.cdb
    gen_records "$n" > "$T/records.txt"
    s=$(date +%s%N)
    "$FWDMAP" -d "$T/maps" compile -s "$n" "$T/records.txt" || exit 1
    e=$(date +%s%N)
    echo "compile: $(wc -l < "$T/records.txt") records in $(( (e - s) / 1000000 )) ms," \
         "file $(( $(stat -c %s "$T/maps/fwdmap.cdb") / 1048576 )) MB"
    rm -f "$T/records.txt"
    gen_keys "$n" > "$T/keys.txt"
    start_fwdmapd
    echo "memory after start:      $(mem)"
    echo "closed loop, 1000 connections, depth 1:"
    "$LOADGEN" -q -s "unix:$SOCK" -c 1000 -n 1000000 -k "$T/keys.txt"
    echo "closed loop, 100 connections, depth 1:"
    "$LOADGEN" -q -s "unix:$SOCK" -c 100 -n 500000 -k "$T/keys.txt"
    echo "closed loop, 1000 connections, pipelined depth 8:"
    "$LOADGEN" -q -s "unix:$SOCK" -c 1000 -n 2000000 -p 8 -k "$T/keys.txt"
    echo "open loop, 1000 connections, 20000 req/s for 5 s:"
    "$LOADGEN" -q -s "unix:$SOCK" -c 1000 -n 100000 -r 20000 -k "$T/keys.txt"
    echo "memory after 3.6M lookups: $(mem)"
    [ "$n" = "$(echo $SIZES | awk '{print $1}')" ] && BASE_KEYS_N=$n
    stop_fwdmapd
done

echo
echo "## $IDLE idle connections (ulimit -n $(ulimit -n))"
start_fwdmapd
echo "memory before:           $(mem)"
"$LOADGEN" -q -s "unix:$SOCK" -H "$IDLE" -D 8 -k "$T/keys.txt" > "$T/idle.out" 2>&1 &
lg=$!
t_track $lg
t_wait 60 grep -q 'answered a lookup' "$T/idle.out"
sleep 1
echo "memory while holding:    $(mem)"
echo "stats: $("$FWDMAPD" -c "$T/fwdmap.json" -S | tr -d ' \n' | grep -o '"connections":{[^}]*}')"
wait $lg; echo "loadgen exit $?"
cat "$T/idle.out"
stop_fwdmapd

[ "${BENCH_SKIP_LDAP:-0}" = 1 ] && exit 0
echo
echo "## sequential postmap -q - : socketmap (fwdmapd) vs. ldap: (slapd), $LKEYS keys"
source "$TOP/tests/lib/slapd.sh"
N=${BASE_KEYS_N:-100000}
awk -v N="$N" 'BEGIN {
    for (i = 0; i < N; i++) {
        printf "dn: uid=p%d,ou=tum,dc=example,dc=org\nobjectClass: inetOrgPerson\n", i
        printf "objectClass: fwdMailRecipient\nuid: p%d\ncn: Person %d\nsn: Person\n", i, i
        printf "mail: p%d.person@tum.de\nfwdMailboxLocation: exchange\n", i
        if (i % 4 == 0) printf "fwdMailAlias: alias%d@tum.de\n", i
        printf "\n"
    }
}' > "$T/people.ldif"
slapd_init bench
s=$(date +%s%N)
slapd_load bench "$T/people.ldif" >/dev/null 2>&1 || { echo "slapadd failed"; exit 1; }
e=$(date +%s%N)
echo "slapadd: $N people in $(( (e - s) / 1000000 )) ms"
# slapd indexes: the ones the fwdmap schema and slapd.sh set up.
slapd_start bench
gen_records "$N" > "$T/records.txt"
rm -f "$T/maps"/fwdmap*.cdb
"$FWDMAP" -d "$T/maps" compile -s 1 "$T/records.txt" || exit 1
start_fwdmapd
mkdir -p "$T/pf"; : > "$T/pf/main.cf"
cat > "$T/pf/ldap-recipients.cf" <<CF
server_host = $(slapd_uri bench)
version = 3
bind = no
search_base = ou=tum,dc=example,dc=org
query_filter = (|(mail=%s)(fwdMailAlias=%s))
result_attribute = mail
CF
awk -v N="$N" -v K="$LKEYS" 'BEGIN { srand(7)
    for (i = 0; i < K; i++) { r = int(rand() * N)
        if (i % 2) print "p" r ".person@tum.de"; else print "nobody" r "@tum.de" } }' > "$T/pkeys.txt"
pm() { postmap -c "$T/pf" -q - "$1" < "$T/pkeys.txt" > "$T/pm.out" 2>"$T/pm.err"; }
ms_of() { local s e; s=$(date +%s%N); pm "$1"; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
# A warm-up round of each (page cache, slapd's caches), then three rounds,
# alternating, so that a noisy neighbour hits both sides alike.
pm "socketmap:unix:$SOCK:recipients"; pm "ldap:$T/pf/ldap-recipients.cf"
for round in 1 2 3; do
    sock_ms=$(ms_of "socketmap:unix:$SOCK:recipients"); sock_found=$(wc -l < "$T/pm.out")
    ldap_ms=$(ms_of "ldap:$T/pf/ldap-recipients.cf"); ldap_found=$(wc -l < "$T/pm.out")
    [ -s "$T/pm.err" ] && { echo "postmap ldap errors:"; head -3 "$T/pm.err"; }
    printf 'round %d: socketmap %5d ms (%6d lookups/s, %d found)   ldap %5d ms (%6d lookups/s, %d found)' \
        "$round" "$sock_ms" $(( LKEYS * 1000 / (sock_ms > 0 ? sock_ms : 1) )) "$sock_found" \
        "$ldap_ms" $(( LKEYS * 1000 / (ldap_ms > 0 ? ldap_ms : 1) )) "$ldap_found"
    awk -v a="$ldap_ms" -v b="$sock_ms" 'BEGIN { if (b > 0) printf "   socketmap %.1fx faster\n", a / b; else print "" }'
done
stop_fwdmapd
echo "# finished $(date -u +%FT%TZ)"
