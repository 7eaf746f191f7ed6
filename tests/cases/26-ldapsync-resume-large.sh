#!/bin/bash
# 26-ldapsync-resume-large.sh - a restart from a snapshot large enough to
# be loaded on two threads (issue 11, item 6: 4,096 entries and more are
# read, parsed and validated on a second thread while the first indexes
# them).  6,000 people with aliases, a contested alias, forwards (as
# written) and a group: the daemon resumes from the cookie `--once` left
# without a full refresh, publishes a change as a delta, and its tables
# then equal those of a fresh full sync record for record.  A damaged
# snapshot (cut short; a line that is no entry) is refused with the reason
# and followed by a full refresh that publishes the same tables.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
N=6000
slapd_init ldap conf
S=$SLAPD_SUFFIX
awk -v n=$N -v s="$S" 'BEGIN {
    for (i = 1; i <= n; i++) {
        printf "dn: uid=p%d,ou=tum,%s\nobjectClass: inetOrgPerson\nobjectClass: fwdMailRecipient\n", i, s
        printf "uid: p%d\ncn: p%d\nsn: p%d\nmail: p%d@tum.de\n", i, i, i, i
        if (i % 20 == 0)
            printf "fwdMailboxLocation: none\nfwdForwardAddress: Carl.P%d@Example.NET\n", i
        else
            printf "fwdMailboxLocation: %s\n", i % 2 ? "exchange" : "mytum"
        if (i % 3 == 0) printf "fwdMailAlias: a%d@mytum.de\n", i
        if (i == 4000 || i == 4001) printf "fwdMailAlias: both@mytum.de\n"
        printf "\n"
    }
    printf "dn: cn=team,ou=tum,%s\nobjectClass: groupOfNames\nobjectClass: fwdMailRecipient\n", s
    printf "objectClass: fwdMailGroup\ncn: team\nmail: team@tum.de\n"
    printf "member: uid=p1,ou=tum,%s\nmember: uid=p2,ou=tum,%s\n\n", s, s
}' > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf

ls_once
t_eq "--once exit" 0 "$LS_RC"
head -1 "$T/maps/ldapsync.state" | grep -Eq "^fwdmap-ldapsync-state [0-9]+ [0-9]+ $((N + 1)) [0-9]+$" ||
    t_fail "snapshot header: $(head -1 "$T/maps/ldapsync.state")"
base=$(serial)

# Tables equal to those of a fresh full sync into another directory
# (provenance records aside: they carry times).
same_as_fresh() {
    rm -rf "$T/fresh" && mkdir -p "$T/fresh"
    jq --arg d "$T/fresh" '.maps_dir = $d' "$CONF" > "$T/fresh.json"
    "$LDAPSYNC" -c "$T/fresh.json" --once > "$T/fresh.log" 2>&1 || t_fail "fresh full sync: $(cat "$T/fresh.log")"
    "$FWDMAP" -d "$T/maps" -D + dump | grep -v '^P ' | sort > "$T/published.txt"
    "$FWDMAP" -d "$T/fresh" -D + dump | grep -v '^P ' | sort > "$T/fresh.txt"
    [ "$(wc -l < "$T/fresh.txt")" -gt "$N" ] || t_fail "fresh dump too short"
    diff "$T/published.txt" "$T/fresh.txt" > "$T/diff.txt" ||
        t_fail "$1: $(grep -c '^[<>]' "$T/diff.txt") records differ from a fresh full sync: $(head -5 "$T/diff.txt")"
}

# Start the daemon with a fresh log and wait for its first refresh.
start_refreshed() {
    : > "$LSLOG"
    ls_start
    t_wait 60 grep -q "refresh done" "$LSLOG" || t_fail "no refresh: $(cat "$LSLOG")"
}

# The daemon resumes from the large snapshot: no full refresh.
start_refreshed
t_match "resumed" "resuming from saved cookie: $((N + 1)) entries, base serial $base" "$(cat "$LSLOG")"
t_match "incremental" "refresh done \(incremental\)" "$(cat "$LSLOG")"
mod p100 fwdMailboxLocation mytum
t_wait 10 q_is transport p100@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "change after the start not applied: $(cat "$LSLOG")"
t_eq "published as a delta" "$base" "$(serial)"
t_eq "forward kept as written" "OK Carl.P20@example.net" "$(q virtual p20@tum.de)"
t_match "contested alias: one claimant (the same as a fresh sync, below)" "^OK p400[01]@tum.de$" "$(q virtual both@mytum.de)"
t_match "group" "p1@tum.de" "$(q virtual team@tum.de)"
ls_stop
same_as_fresh "after the resume"

# A snapshot cut short (after a whole line) is refused: full refresh.
cp "$T/maps/ldapsync.state" "$T/state.good"
head -c $(( $(stat -c %s "$T/state.good") / 2 )) "$T/state.good" | sed '$d' > "$T/maps/ldapsync.state"
start_refreshed
t_match "cut short: refused" "state snapshot unusable \(.*ldapsync.state: truncated\); full refresh" "$(cat "$LSLOG")"
t_match "full refresh" "refresh done \(full\)" "$(cat "$LSLOG")"
mod p101 fwdMailboxLocation mytum
t_wait 10 q_is transport p101@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "change after the full refresh not applied: $(cat "$LSLOG")"
ls_stop
same_as_fresh "after a truncated snapshot"

# A line that is no entry, in the middle of a snapshot the daemon saved.
awk -v m=$((N / 2)) 'NR == m { print "not an entry"; next } { print }' "$T/maps/ldapsync.state" > "$T/state.bad"
cp "$T/state.bad" "$T/maps/ldapsync.state"
start_refreshed
t_match "bad line: refused" "state snapshot unusable \(.*ldapsync.state: bad entry line\); full refresh" "$(cat "$LSLOG")"
ls_stop
same_as_fresh "after a snapshot with a bad line"
exit 0
