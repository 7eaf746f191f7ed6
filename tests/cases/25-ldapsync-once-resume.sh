#!/bin/bash
# 25-ldapsync-once-resume.sh - `ldapsync --once` against a server with
# syncprov leaves the state a daemon resumes from: the base, the state
# snapshot and a sync cookie per tenant (read with RFC 4533 refreshOnly,
# which ends with the cookie for exactly what was read).  The daemon
# started next resumes from them without a full refresh, and its first
# change is a small delta over that base.  Restarted with a delta
# published, it adopts the delta (its records and its routes) instead of
# writing a new base on the first change.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
{
    for i in 1 2 3 4 5; do person "p$i" "p$i@tum.de" "fwdMailboxLocation: exchange"; done
    person a1 a1@tum.de "fwdMailboxLocation: mytum" "fwdMailAlias: alias1@tum.de"
    person_in lmu l1 l1@lmu.de
} > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf

ls_once
t_eq "--once exit" 0 "$LS_RC"
t_eq "routed after --once" "OK smtp:[exchange.example.org]:25" "$(q transport p1@tum.de)"
base=$(serial)
[ -s "$T/maps/ldapsync.state" ] || t_fail "--once left no state snapshot: $(cat "$LSLOG")"
t_eq "cookie names the base" "$base" "$(jq -r .base_serial "$T/maps/ldapsync.cookie" 2>/dev/null)"
t_match "cookie for tum" "csn=" "$(jq -r .cookies.tum "$T/maps/ldapsync.cookie")"
t_match "cookie for lmu" "csn=" "$(jq -r .cookies.lmu "$T/maps/ldapsync.cookie")"
t_eq "the cookie is the server's state" "$(csn)" "$(saved_csn)"
t_match "logged" "sync cookie saved" "$(cat "$LSLOG")"
# The snapshot is written while the base is compiled, for the serial the
# base gets, and installed after it: nothing half-done is left behind.
t_match "written beside the publication" "beside the publication" "$(cat "$LSLOG")"
t_eq "the snapshot names the base" "$base" "$(awk 'NR == 1 {print $3}' "$T/maps/ldapsync.state")"
compgen -G "$T/maps/*.next" > /dev/null && t_fail "left behind: $(ls -a "$T/maps")"

# A second --once over that base: the next serial, and its snapshot.
: > "$LSLOG"
ls_once
t_eq "second --once exit" 0 "$LS_RC"
t_eq "a new base" "$((base + 1))" "$(serial)"
base=$(serial)
t_eq "the new snapshot names it" "$base" "$(awk 'NR == 1 {print $3}' "$T/maps/ldapsync.state")"
t_eq "so does the cookie" "$base" "$(jq -r .base_serial "$T/maps/ldapsync.cookie" 2>/dev/null)"
t_match "written beside it" "beside the publication" "$(cat "$LSLOG")"
compgen -G "$T/maps/*.next" > /dev/null && t_fail "left behind: $(ls -a "$T/maps")"

# The daemon resumes: no full refresh, and a change is a delta.
: > "$LSLOG"
ls_start
t_wait 10 grep -q "refresh done" "$LSLOG" || t_fail "no refresh: $(cat "$LSLOG")"
t_match "resumed" "resuming from saved cookie: 7 entries, base serial $base" "$(cat "$LSLOG")"
t_match "incremental" "refresh done \(incremental\)" "$(cat "$LSLOG")"
t_nomatch() { [[ $3 =~ $2 ]] && t_fail "$1: /$2/ found"; return 0; }
t_nomatch "no full refresh" "full refresh|reloading everything" "$(cat "$LSLOG")"
mod p2 fwdMailboxLocation mytum
t_wait 10 q_is transport p2@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "change after the start not applied: $(cat "$LSLOG")"
t_eq "published as a delta over the base --once wrote" "$base" "$(serial)"
[ -s "$T/maps/fwdmap.delta.cdb" ] || t_fail "no delta file"
t_eq "routes before the delta" 8 "$(rep .counts.previous_routes)"

# Restart with the delta published: it is adopted, not rewritten as a base.
ls_stop
: > "$LSLOG"
ls_start
t_wait 10 grep -q "refresh done (incremental)" "$LSLOG" || t_fail "no incremental refresh: $(cat "$LSLOG")"
mod p3 fwdMailboxLocation mytum
t_wait 10 q_is transport p3@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "change after the restart not applied: $(cat "$LSLOG")"
t_eq "still a delta over the same base" "$base" "$(serial)"
t_eq "the adopted delta's change kept" "OK lmtp:[mytum.example.org]:24" "$(q transport p2@tum.de)"
t_eq "routes counted from base and delta" 8 "$(rep .counts.previous_routes)"
# A removal through the delta path is counted against the adopted routes.
printf 'dn: uid=p5,ou=tum,%s\nchangetype: delete\n' "$SLAPD_SUFFIX" | slapd_modify ldap
t_wait 10 q_is recipients p5@tum.de "NOTFOUND" || t_fail "delete not applied: $(cat "$LSLOG")"
t_eq "routes after the delete" 7 "$(rep .counts.routes)"
ls_stop

# Without syncprov's control (poll mode) --once reads with a paged search
# and leaves no cookie behind (the old one names an older base).
ls_conf '.ldap.sync = "poll"'
ls_once
t_eq "--once (poll) exit" 0 "$LS_RC"
[ -e "$T/maps/ldapsync.cookie" ] && t_fail "a cookie of an older base was left"
exit 0
