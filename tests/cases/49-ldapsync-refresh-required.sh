#!/bin/bash
# 49-ldapsync-refresh-required.sh - RFC 4533 e-syncRefreshRequired: the
# directory is reloaded from scratch with slapadd while ldapsync is down, so
# its saved cookie is older than every entry; slapd (syncprov-reloadhint
# TRUE) answers the resumed sync with refreshRequired (4096).  ldapsync must
# throw the resumed state away, do a full refresh and publish tables that
# match the new directory: the removed person gone, the added one there, the
# unchanged ones kept.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
export SLAPD_RELOADHINT=1
people() {
    person jane jane.doe@tum.de "fwdMailboxLocation: exchange" "fwdMailAlias: jd@tum.de"
    person max max@tum.de "fwdMailboxLocation: mytum"
    local i
    for i in 1 2 3 4 5 6 7 8; do person "p$i" "p$i@tum.de" "fwdMailboxLocation: exchange"; done
}
slapd_init ldap conf
{ people; person gone gone@tum.de "fwdMailboxLocation: exchange"; } > "$T/v1.ldif"
slapd_load ldap "$T/v1.ldif"
slapd_start ldap
ls_conf
ls_start
qis() { [ "$(q "$1" "$2")" = "$3" ]; }
t_wait 10 qis transport gone@tum.de "OK smtp:[exchange.example.org]:25" || t_fail "first sync: $(cat "$LSLOG")"
ls_stop
[ -s "$T/maps/ldapsync.cookie" ] || t_fail "no cookie saved"
cookie1=$(jq -c .cookies "$T/maps/ldapsync.cookie")

# The directory from scratch: same suffix, new entryUUIDs and CSNs, "gone"
# removed, "new" added, max moved to exchange.  (slapd_init picks a new
# port: rewrite the configuration; the cookie and tables stay.)
slapd_stop ldap
# Reload in a later second than the cookie's CSN: slapd answers
# refreshRequired only when no entry is as old as the cookie.  The cookie's
# CSN can be later than the first load (slapd makes one when it starts), so
# under load "a second after slapadd" was not enough (CI, 1 run in ~30):
# wait until the clock is past the newest CSN in the saved cookie.
csn_max=$(jq -r '.cookies[]' "$T/maps/ldapsync.cookie" | grep -o 'csn=[0-9]\{14\}' | cut -c5- | sort | tail -1)
[ -n "$csn_max" ] || t_fail "no CSN in the saved cookie: $cookie1"
t_wait 5 bash -c "[ \$(date -u +%Y%m%d%H%M%S) -gt $csn_max ]" || t_fail "clock not past the cookie CSN $csn_max"
slapd_init ldap conf
{ people | sed 's/^fwdMailboxLocation: mytum$/fwdMailboxLocation: exchange/'
  person new new@tum.de "fwdMailboxLocation: mytum"; } > "$T/v2.ldif"
slapd_load ldap "$T/v2.ldif"
slapd_start ldap
ls_conf
: > "$LSLOG"
ls_start
t_wait 15 grep -q "refresh done" "$LSLOG" || t_fail "no refresh after the reload: $(cat "$LSLOG")"
t_wait 10 qis transport new@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "added entry not published: $(cat "$LSLOG")"
t_match "resumed first" "resuming from saved cookie" "$(cat "$LSLOG")"
t_match "server said refresh required" "requires a full refresh" "$(cat "$LSLOG")"
t_match "full refresh" "refresh done \(full\)" "$(cat "$LSLOG")"
grep -q "refresh done (incremental)" "$LSLOG" && t_fail "stale cookie accepted as incremental: $(cat "$LSLOG")"
t_eq "removed entry gone" NOTFOUND "$(q recipients gone@tum.de)"
t_eq "changed entry" "OK smtp:[exchange.example.org]:25" "$(q transport max@tum.de)"
t_eq "unchanged alias kept" "OK jane.doe@tum.de" "$(q virtual jd@tum.de)"
for i in 1 2 3 4 5 6 7 8; do
    t_eq "p$i kept" "OK tum" "$(q recipients "p$i@tum.de")"
done
t_eq "route count" 12 "$("$FWDMAP" -d "$T/maps" dump | grep -c '^T ')"
# A later change still arrives (persist phase after the full refresh), and
# the new cookie is saved once published.
person later later@tum.de "fwdMailboxLocation: exchange" > "$T/later.ldif"
slapd_add ldap "$T/later.ldif"
t_wait 10 qis transport later@tum.de "OK smtp:[exchange.example.org]:25" || t_fail "persist after full refresh"
ls_stop
t_wait 5 bash -c "[ \"\$(jq -c .cookies '$T/maps/ldapsync.cookie')\" != '$cookie1' ]" || t_fail "cookie not replaced"
exit 0
