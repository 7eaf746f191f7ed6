#!/usr/bin/env bash
# exclusive: yes (runs alone when tests/run.sh runs cases in parallel)
# asan: yes
# fwdmapd without tables answers TEMP (never NOTFOUND), picks up published
# generations by itself while clients keep asking, keeps serving the old
# generation when a corrupt one is published, and follows deltas.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"

fw_conf
fw_start

# Nothing published yet: TEMP for every map.
for m in domains recipients virtual transport; do
    t_match "no table: $m" '^TEMP ' "$(fw_q $m jane.doe@tum.de)"
done
t_eq "stats: nothing loaded" false "$(fw_stat generation.loaded)"
t_eq "stats: no serial without a generation" false "$(fw_stat generation | jq 'has("serial")')"
# Every one of those answers was counted as temp, in its own map.
for m in domains recipients virtual transport; do
    t_eq "stats: $m while nothing loaded" '1 1 0 0 0' \
        "$(fw_stat maps.$m | jq -r '"\(.lookups) \(.temp) \(.hits) \(.misses) \(.perm)"')"
done
fw_q domains tum.de >/dev/null
t_eq "stats: temp counts every TEMP answer" 2 "$(fw_stat maps.domains.temp)"

answer_is() { [ "$(fw_q "$1" "$2")" = "$3" ]; }
answer_is_serial() { [ "$(fw_stat generation.delta.serial)" = "$1" ]; }
fw_gen 1 'smtp:[a.example.org]:25'
t_wait 10 answer_is transport jane.doe@tum.de 'OK smtp:[a.example.org]:25' ||
    t_fail "generation 1 not picked up: $(fw_q transport jane.doe@tum.de)"
t_eq "stats: serial 1 loaded" "true 1" "$(fw_stat generation | jq -r '"\(.loaded) \(.serial)"')"
# Just published: the generation is at most a second or two old, and it
# ages with the clock while nothing new comes.
age1=$(fw_stat generation.age)
t_match "stats: age right after publishing" '^[012]$' "$age1"
# Once loaded, lookups no longer count as temp.
temp1=$(fw_stat maps.domains.temp)
t_eq "loaded: domains" "OK tum" "$(fw_q domains tum.de)"
t_eq "stats: no temp once loaded" "$temp1" "$(fw_stat maps.domains.temp)"
temps() { fw_stat maps | jq -c '[.domains.temp, .recipients.temp, .virtual.temp, .transport.temp]'; }
temps1=$(temps)
sleep 3
age2=$(fw_stat generation.age)
[ "$age2" -ge $((age1 + 2)) ] && [ "$age2" -le $((age1 + 5)) ] ||
    t_fail "stats: generation.age went from $age1 to $age2 in 3 s"

# Switch generations while two clients loop: every answer is one of the two
# transports, none is TEMP, NOTFOUND or missing.
SM "unix:$SOCK" loop 3 transport Jane.Doe@tum.de > "$T/loop1.out" & l1=$!
SM "unix:$SOCK" loop 3 recipients j.doe+x@tum.de > "$T/loop2.out" & l2=$!
t_track $l1; t_track $l2
for s in 2 3 4 5 6 7 8 9; do
    if [ $((s % 2)) = 0 ]; then tr='smtp:[b.example.org]:25'; else tr='smtp:[a.example.org]:25'; fi
    fw_gen $s "$tr"
    sleep 0.25
done
wait $l1 || t_fail "loop client 1 failed"
wait $l2 || t_fail "loop client 2 failed"
cat "$T/loop1.out" "$T/loop2.out" >&2
bad=$(grep -v -E '^OK (smtp:\[[ab]\.example\.org\]:25|tum) [0-9]+$' "$T/loop1.out" "$T/loop2.out" || true)
t_eq "no failed lookups during switches" "" "$bad"
grep -q 'a\.example' "$T/loop1.out" && grep -q 'b\.example' "$T/loop1.out" ||
    t_fail "the looping client did not see both generations"
t_wait 5 answer_is transport jane.doe@tum.de 'OK smtp:[a.example.org]:25' || t_fail "last generation"
t_eq "serial after switches" 9 "$(fw_stat generation.serial)"
t_match "stats: age after the last switch" '^[012]$' "$(fw_stat generation.age)"
reloads=$(fw_stat reloads)
[ "$reloads" -ge 5 ] || t_fail "only $reloads reloads counted"
t_eq "stats: no temp answers during the switches" "$temps1" "$(temps)"

# A corrupt generation is published: logged, the old one stays.
head -c 600 "$T/maps/fwdmap.cdb" > "$T/maps/.cut" && mv "$T/maps/.cut" "$T/maps/fwdmap.cdb"
t_wait 10 grep -q 'rejected' "$FWLOG" || t_fail "corrupt generation not noticed"
t_eq "old generation kept" 'OK smtp:[a.example.org]:25' "$(fw_q transport jane.doe@tum.de)"
t_eq "serial kept" 9 "$(fw_stat generation.serial)"
t_match "failure counted" '^[1-9]' "$(fw_stat reload_failures)"
t_match "last error shown" 'cdb|corrupt|trunc|short|meta|size' "$(fw_stat generation.last_error)"
# It is not re-read again and again while unchanged.
n1=$(grep -c rejected "$FWLOG"); sleep 0.5; n2=$(grep -c rejected "$FWLOG")
t_eq "corrupt file logged once" "$n1" "$n2"

# A good generation after the bad one, then a delta on top of it.
fw_gen 10 'smtp:[c.example.org]:25'
t_wait 10 answer_is transport jane.doe@tum.de 'OK smtp:[c.example.org]:25' || t_fail "recovery"
printf -- '-R j.doe@tum.de\n-V j.doe@tum.de\nT jane.doe@tum.de lmtp:[mytum.example.org]:24\n' |
    "$FWDMAP" -d "$T/maps" compile -s 11 -b 10 || t_fail "delta compile"
t_wait 10 answer_is transport jane.doe@tum.de 'OK lmtp:[mytum.example.org]:24' || t_fail "delta not served"
t_eq "delta delete" "NOTFOUND " "$(fw_q recipients j.doe@tum.de)"
t_eq "delta serial" 11 "$(fw_stat generation.delta.serial)"
t_eq "base serial under the delta" 10 "$(fw_stat generation.serial)"
t_match "stats: delta age" '^[012]$' "$(fw_stat generation.delta.age)"

# ldapsync's compaction: the new base (serial 12, reserved when the
# compaction started) is renamed into place while a newer delta (13, over
# base 10) is being served; only then comes the delta over the new base.
# In between, answers must not go back to what base 12 alone says.
printf 'T jane.doe@tum.de smtp:[new.example.org]:25\n' |
    "$FWDMAP" -d "$T/maps" compile -s 13 -b 10 || t_fail "delta 13 compile"
t_wait 10 answer_is transport jane.doe@tum.de 'OK smtp:[new.example.org]:25' || t_fail "delta 13 not served"
fw_gen 12 'smtp:[old.example.org]:25'
t_wait 10 grep -q 'serial 12 in .* is older than serial 13 being served' "$FWLOG" ||
    t_fail "older base not noticed"
for i in 1 2 3 4 5 6; do
    t_eq "older base held back ($i)" 'OK smtp:[new.example.org]:25' "$(fw_q transport jane.doe@tum.de)"
    sleep 0.2
done
t_eq "still serving 13" 13 "$(fw_stat generation.delta.serial)"
printf 'T jane.doe@tum.de smtp:[new.example.org]:25\n' |
    "$FWDMAP" -d "$T/maps" compile -s 14 -b 12 || t_fail "delta 14 compile"
t_wait 10 answer_is_serial 14 || t_fail "delta over the new base not taken: $(fw_stat generation.delta.serial)"
t_eq "new base with its delta" 12 "$(fw_stat generation.serial)"
t_eq "answer after the switch" 'OK smtp:[new.example.org]:25' "$(fw_q transport jane.doe@tum.de)"
t_eq "base 12 answers below the delta" 'OK smtp:[old.example.org]:25' "$(fw_q transport j.doe@tum.de)"

# Tables restored from an old backup: serial 7 alone, and nothing newer
# comes.  Held back for a while, then taken, with a warning.
rm -f "$T/maps/fwdmap.delta.cdb"
fw_gen 7 'smtp:[backup.example.org]:25'
t_wait 10 grep -q 'is older than serial 14 being served' "$FWLOG" ||
    t_fail "restored base not noticed"
t_eq "restored base held back" 'OK smtp:[new.example.org]:25' "$(fw_q transport jane.doe@tum.de)"
t_wait 15 answer_is transport jane.doe@tum.de 'OK smtp:[backup.example.org]:25' ||
    t_fail "restored base never taken"
t_match "switch logged" 'went back from 14 to 7 and stayed' "$(cat "$FWLOG")"
t_eq "serial after restore" 7 "$(fw_stat generation.serial)"

# A daemon that starts with only a corrupt table answers TEMP.
kill -TERM "$FWPID"; wait "$FWPID"; t_eq "exit 0" 0 $?
rm -f "$T/maps/fwdmap.delta.cdb"
head -c 600 "$T/maps/fwdmap.cdb" > "$T/maps/.cut" && mv "$T/maps/.cut" "$T/maps/fwdmap.cdb"
fw_start
t_match "corrupt at start: TEMP" '^TEMP ' "$(fw_q recipients jane.doe@tum.de)"
t_eq "corrupt at start: not loaded" false "$(fw_stat generation.loaded)"
t_eq "corrupt at start: temp counted" 1 "$(fw_stat maps.recipients.temp)"
fw_gen 12
t_wait 10 answer_is domains tum.de 'OK tum' || t_fail "recovery from corrupt start"

# The live file truncated in place (cp over it, a full disk): the mapped
# pages beyond the new end raise SIGBUS in the next lookup.  fwdmapd must
# not die: it answers TEMP, drops the generation, and serves again once a
# good one is published.
{ fw_gen_records 13; awk 'BEGIN { for (i = 0; i < 20000; i++) print "R p" i "@tum.de tum" }'; } |
    fw_compile 13
t_wait 10 answer_is recipients p19999@tum.de 'OK tum' || t_fail "big generation not served"
size=$(stat -c %s "$T/maps/fwdmap.cdb")
[ "$size" -gt 200000 ] || t_fail "generation too small to test truncation: $size"
truncate -s 4096 "$T/maps/fwdmap.cdb"
t_match "truncated under fwdmapd: TEMP" '^TEMP ' "$(fw_q recipients p12345@tum.de)"
kill -0 "$FWPID" 2>/dev/null || t_fail "fwdmapd died on the truncated file (SIGBUS)"
t_match "logged" 'SIGBUS reading the tables' "$(cat "$FWLOG")"
t_eq "truncated: not loaded" false "$(fw_stat generation.loaded)"
t_match "TEMP for every map" '^TEMP ' "$(fw_q transport jane.doe@tum.de)"
fw_gen 14
t_wait 10 answer_is domains tum.de 'OK tum' || t_fail "no recovery after the truncation"
t_eq "serial after recovery" 14 "$(fw_stat generation.serial)"

# And a second time: the bracket saves no signal mask on the request
# path, so after a caught SIGBUS it must unblock SIGBUS itself, or this
# one would kill the daemon.
{ fw_gen_records 15; awk 'BEGIN { for (i = 0; i < 20000; i++) print "R q" i "@tum.de tum" }'; } |
    fw_compile 15
t_wait 10 answer_is recipients q19999@tum.de 'OK tum' || t_fail "second big generation not served"
truncate -s 4096 "$T/maps/fwdmap.cdb"
# This time the SIGBUS comes in a batch of 100 clients answered in a
# pipeline, whose prefetch reads the table too (server.c): all TEMP.
awk 'BEGIN { for (i = 0; i < 100; i++) print "recipients q" i * 97 "@tum.de" }' > "$T/many.txt"
t_eq "truncated under 100 clients at once: all TEMP" 100 \
    "$(SM "unix:$SOCK" many "$FWPID" < "$T/many.txt" | grep -c '^TEMP ')"
t_match "truncated again: TEMP" '^TEMP ' "$(fw_q recipients q12345@tum.de)"
kill -0 "$FWPID" 2>/dev/null || t_fail "fwdmapd died on the second truncation (SIGBUS left blocked)"
t_eq "two SIGBUS logged" 2 "$(grep -c 'SIGBUS reading the tables' "$FWLOG")"
fw_gen 16
t_wait 10 answer_is domains tum.de 'OK tum' || t_fail "no recovery after the second truncation"
t_eq "serial after the second recovery" 16 "$(fw_stat generation.serial)"
exit 0
