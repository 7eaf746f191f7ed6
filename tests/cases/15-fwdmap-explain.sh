#!/usr/bin/env bash
# asan: yes
# fwdmap explain follows every expansion as Postfix does: the alias of a
# person with a mailbox and a forward reaches both; a group shows its
# policy, members, what was skipped, the path to a member through nested
# groups and sub-lists, whether a sender may send; --dot is a graph that
# Graphviz's dot renders.  compile and dump carry the G and S records.
source "$TOP/tests/lib/common.sh"
fm() { "$(t_bin fwdmap)" -d "$T/maps" -D + "$@"; }
mkdir -p "$T/maps"
command -v dot >/dev/null || t_skip "graphviz (dot) not installed"
# What Postfix does with a destination outside the tables comes from its
# configuration (postconf, MAIL_CONFIG): a fixed one without relayhost.
mkdir -p "$T/pf"; echo "myhostname = fw.example.org" >"$T/pf/main.cf"
export MAIL_CONFIG=$T/pf
OUTSIDE="(not in fwdmap's tables: Postfix default_transport smtp, to the domain's MX hosts)"

cat > "$T/in.txt" <<'IN'
D tum.de tum reject
D lmu.de lmu reject
R jane.doe@tum.de tum
R j.doe@tum.de tum
R bob@tum.de tum
R team@tum.de tum
R team-list@tum.de tum
R faculty@tum.de tum
R empty@tum.de tum
V j.doe@tum.de jane.doe@tum.de
V jane.doe@tum.de jane.doe@tum.de,jane@gmail.example
V team@tum.de jane.doe@tum.de,bob@tum.de,ext@example.org
V team-list@tum.de jane.doe@tum.de,bob@tum.de,ext@example.org
V faculty@tum.de team@tum.de,fwdmap.sub.0123456789abcdef.1@tum.de
V fwdmap.sub.0123456789abcdef.1@tum.de carl@example.net,bob@tum.de
T jane.doe@tum.de smtp:[exchange.example.org]:25
T j.doe@tum.de smtp:[exchange.example.org]:25
T bob@tum.de lmtp:[mytum.example.org]:24
P jane.doe@tum.de {"dn":"uid=jane,ou=tum","tenant":"tum","role":"primary","primary":"jane.doe@tum.de","location":"exchange","forwards":["jane@gmail.example"]}
P j.doe@tum.de {"dn":"uid=jane,ou=tum","tenant":"tum","role":"alias","primary":"jane.doe@tum.de","location":"exchange","forwards":["jane@gmail.example"]}
P team@tum.de {"dn":"cn=team,ou=tum","tenant":"tum","role":"group","policy":"members","members":3,"direct":["jane.doe@tum.de","bob@tum.de","ext@example.org"],"skipped":[{"dn":"uid=ghost,ou=tum","reason":"no such entry"}],"skipped_total":4,"cycle":["team@tum.de","faculty@tum.de"]}
P faculty@tum.de {"dn":"cn=faculty,ou=tum","tenant":"tum","role":"group","policy":"tenant","members":5,"direct":["team@tum.de","bob@tum.de"],"direct_total":3,"skipped":[]}
G team@tum.de members team@tum.de tum
G team-list@tum.de members team@tum.de tum
G faculty@tum.de tenant faculty@tum.de tum
S team@tum.de jane.doe@tum.de member
S team@tum.de bob@tum.de member
S team@tum.de ext@example.org member
S team@tum.de boss@lmu.de allowed
S faculty@tum.de @partner.example allowed
IN
fm compile -s 5 "$T/in.txt" || t_fail "compile"

# dump | compile round-trips, G and S included.
fm dump | sort > "$T/dump1"
mkdir -p "$T/maps2"
"$(t_bin fwdmap)" -d "$T/maps2" compile -s 6 "$T/dump1" || t_fail "recompile"
"$(t_bin fwdmap)" -d "$T/maps2" dump | sort > "$T/dump2"
diff -u "$T/dump1" "$T/dump2" || t_fail "dump round trip differs"
t_eq "G dumped" "G team-list@tum.de members team@tum.de tum" "$(grep '^G team-list' "$T/dump1")"
t_eq "S dumped" "S team@tum.de boss@lmu.de allowed" "$(grep '^S team@tum.de boss' "$T/dump1")"
t_eq "counts" "3 5" "$(fm info | jq -r '"\(.base.counts.G) \(.base.counts.S)"')"
# A delta deletes an S record by primary and sender.
printf -- '-S team@tum.de boss@lmu.de\n' | fm compile -s 7 -b 5 || t_fail "delta"
t_eq "S deleted" "" "$(fm dump | grep '^S team@tum.de boss' || true)"
rm -f "$T/maps/fwdmap.delta.cdb"
# Bad G and S lines are refused, nothing published.
for bad in 'G x@tum.de everyone x@tum.de tum' 'G x@tum.de members x@tum.de' \
	   'S team@tum.de a@b.c' 'S team@tum.de a@b.c maybe' 'S team@tum.de'; do
    out=$(printf '%s\n' "$bad" | fm compile -s 9 2>&1) && t_fail "accepted [$bad]"
    t_match "refused [$bad]" 'nothing published' "$out"
done
t_eq "still serial 5" 5 "$(fm info | jq .base.serial)"

# The defect: the alias of a person with a mailbox and a forward showed
# only the mailbox.  Postfix expands jane.doe@ again and reaches both.
out=$(fm explain j.doe@tum.de) || t_fail "explain j.doe: exit $?"
t_match "alias: mailbox" $'\n  delivered to +jane.doe@tum.de -> smtp:\\[exchange.example.org\\]:25\n' "$out"
[[ $out == *$'\n                 jane@gmail.example -> '"$OUTSIDE"$'\n'* ]] || t_fail "alias: forward too: $out"
t_eq "alias: json" "jane.doe@tum.de jane@gmail.example" \
    "$(fm explain -j j.doe@tum.de | jq -r '[.destinations[].address] | join(" ")')"
# With an extension, propagated onto both (as fwdmapd answers Postfix).
t_eq "alias+ext" "jane.doe+x@tum.de jane+x@gmail.example" \
    "$(fm explain -j j.doe+x@tum.de | jq -r '[.destinations[].address] | join(" ")')"

# A group: policy, members, skipped, each final address once.
out=$(fm explain team@tum.de) || t_fail "explain team: exit $?"
t_match "group line" $'\n  group +members: only its members and listed senders may send\n' "$out"
t_match "members" $'\n  members +3\n' "$out"
t_match "skipped" $'\n  skipped +uid=ghost,ou=tum: no such entry\n +4 skipped in all' "$out"
t_match "cycle" $'\n  cycle broken +\\["team@tum.de","faculty@tum.de"\\]\n' "$out"
j=$(fm explain -j faculty@tum.de)
t_eq "faculty policy" "tenant faculty@tum.de" "$(jq -r '"\(.group.policy) \(.group.primary)"' <<<"$j")"
t_eq "faculty destinations, each once" \
    "bob@tum.de carl@example.net ext@example.org jane.doe@tum.de jane@gmail.example" \
    "$(jq -r '[.destinations[].address] | sort | join(" ")' <<<"$j")"
t_eq "via a nested group" "team@tum.de jane.doe@tum.de" \
    "$(jq -r '.destinations[] | select(.address=="jane@gmail.example") | .via | join(" ")' <<<"$j")"
# An alias of a group is the group.
t_eq "group alias" "members team@tum.de" \
    "$(fm explain -j team-list@tum.de | jq -r '"\(.group.policy) \(.group.primary)"')"

# -m: the path to a member through the directory's nesting (the groups'
# direct members), else (a direct list cut short in a large group) the way
# the expansion reaches it, through internal sub-lists; a member given by
# an alias is found by its primary address.
out=$(fm explain -m carl@example.net faculty@tum.de) || t_fail "-m carl: exit $?"
t_match "path via sub-list" $'\n  path +faculty@tum.de -> fwdmap.sub.0123456789abcdef.1@tum.de -> carl@example.net\n' "$out"
out=$(fm explain -m J.Doe@tum.de faculty@tum.de) || t_fail "-m j.doe: exit $?"
t_match "path via group" 'path +faculty@tum.de -> team@tum.de -> jane.doe@tum.de' "$out"
out=$(fm explain -m nobody@tum.de faculty@tum.de); rc=$?
t_eq "-m not reached: exit" 1 "$rc"
t_match "-m not reached" 'nobody@tum.de is not reached from faculty@tum.de' "$out"

# -s: what fwdmapd's policy service answers.
fm explain -s Bob+lists@TUM.de team@tum.de >/dev/null || t_fail "member refused"
out=$(fm explain -s mallory@lmu.de team@tum.de); rc=$?
t_eq "-s refused: exit" 1 "$rc"
t_match "-s refused" 'sender +<mallory@lmu.de> refused at RCPT: sender is not a member; 5.7.1 group <team@tum.de> accepts mail only from its members' "$out"
fm explain -s boss@lmu.de team@tum.de >/dev/null || t_fail "allowed sender refused"
fm explain -s x@partner.example faculty@tum.de >/dev/null || t_fail "allowed domain refused"
fm explain -s x@tum.de faculty@tum.de >/dev/null || t_fail "tenant sender refused"
t_eq "-s null sender" "refused at RCPT|null sender" \
    "$(fm explain -j -s '' team@tum.de | jq -r '"\(.sender.verdict)|\(.sender.why)"')"

# --dot: a graph dot renders; groups are boxes, every edge is there.
fm explain --dot faculty@tum.de > "$T/g.dot" || t_fail "--dot: exit $?"
dot -Tsvg "$T/g.dot" > "$T/g.svg" 2>"$T/dot.err" || t_fail "dot: $(cat "$T/dot.err")"
[ -s "$T/dot.err" ] && t_fail "dot warned: $(cat "$T/dot.err")"
grep -q '<svg' "$T/g.svg" || t_fail "no SVG"
t_match "group box" 'n0 \[label="faculty@tum.de\\ngroup, its tenant may send", shape=box' "$(cat "$T/g.dot")"
t_eq "edges" 8 "$(grep -c -- '-> n' "$T/g.dot")"
t_match "store" 't[0-9]+ \[label="lmtp:\[mytum.example.org\]:24", shape=cylinder\]' "$(cat "$T/g.dot")"
t_match "sub-list" 'label="fwdmap.sub.0123456789abcdef.1@tum.de\\ninternal sub-list"' "$(cat "$T/g.dot")"
grep -qF "label=\"Internet\\n$OUTSIDE\", shape=octagon" "$T/g.dot" || t_fail "no Internet node: $(cat "$T/g.dot")"
exit 0
