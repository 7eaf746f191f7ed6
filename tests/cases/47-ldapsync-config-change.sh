#!/bin/bash
# 47-ldapsync-config-change.sh - a restart under a changed configuration
# (a store's transport, a domain policy) does a full refresh instead of
# resuming from the saved cookie, so that unchanged entries are compiled
# under the new configuration; a restart under the same configuration
# still resumes; a cookie without a configuration fingerprint (older
# ldapsync) means a full refresh.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
{
    person jane jane@tum.de "fwdMailboxLocation: exchange"
    person max max@tum.de "fwdMailboxLocation: mytum"
    person_in lmu ute ute@lmu.de
} > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
EX1="OK smtp:[exchange.example.org]:25" EX2="OK smtp:[exchange2.example.org]:25"
ls_conf
ls_start
t_wait 10 q_is transport jane@tum.de "$EX1" || t_fail "initial refresh not published: $(cat "$LSLOG")"
t_eq "ph.tum.de policy" "OK smtp:[mail.ph.tum.de]:25" "$(q transport nobody@ph.tum.de)"
t_wait 5 test -s "$T/maps/ldapsync.cookie" || t_fail "no cookie saved"
jq -e '.config_hash | test("^[0-9a-f]{16}$")' "$T/maps/ldapsync.cookie" >/dev/null ||
    t_fail "no configuration fingerprint next to the cookie: $(cat "$T/maps/ldapsync.cookie")"
ls_stop
base1=$(serial)

# 1. Same configuration: resume from the cookie, no full refresh.
: > "$LSLOG"
ls_start
t_wait 10 grep -q "refresh done" "$LSLOG" || t_fail "no refresh: $(cat "$LSLOG")"
t_match "resumed" "resuming from saved cookie" "$(cat "$LSLOG")"
t_match "incremental" "refresh done \(incremental\)" "$(cat "$LSLOG")"
grep -q "configuration changed" "$LSLOG" && t_fail "unchanged configuration taken for a change"
ls_stop

# 2. A store's transport and a domain policy change (and the directory
# changes too while ldapsync is down): full refresh; jane, ute and max
# did not change in LDAP but are compiled under the new configuration.
ls_conf '.stores.exchange = "smtp:[exchange2.example.org]:25"
         | .domains["ph.tum.de"].default_route = "smtp:[mail2.ph.tum.de]:25"'
person zoe zoe@tum.de "fwdMailboxLocation: exchange" > "$T/zoe.ldif"
slapd_add ldap "$T/zoe.ldif"
: > "$LSLOG"
ls_start
t_wait 10 q_is transport zoe@tum.de "$EX2" || t_fail "no refresh after the change: $(cat "$LSLOG")"
t_match "logged" "configuration changed since the last sync: full refresh" "$(cat "$LSLOG")"
t_match "full refresh" "refresh done \(full\): 4 entries" "$(cat "$LSLOG")"
grep -q "resuming from saved cookie" "$LSLOG" && t_fail "resumed under a changed configuration"
t_eq "unchanged entry, new store transport" "$EX2" "$(q transport jane@tum.de)"
t_eq "other tenant, default location" "$EX2" "$(q transport ute@lmu.de)"
t_eq "other store untouched" "OK lmtp:[mytum.example.org]:24" "$(q transport max@tum.de)"
t_eq "new domain policy" "OK smtp:[mail2.ph.tum.de]:25" "$(q transport nobody@ph.tum.de)"
[ "$(serial)" -gt "$base1" ] || t_fail "no new base (serial $(serial), was $base1)"
# Changes keep flowing after the full refresh.
printf 'dn: uid=max,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: exchange\n' \
    "$SLAPD_SUFFIX" | slapd_modify ldap
t_wait 10 q_is transport max@tum.de "$EX2" || t_fail "change after the full refresh not applied"
ls_stop

# 3. The new fingerprint was saved: the next restart resumes again.
: > "$LSLOG"
ls_start
t_wait 10 grep -q "refresh done" "$LSLOG" || t_fail "no refresh: $(cat "$LSLOG")"
t_match "resumed under the new configuration" "resuming from saved cookie" "$(cat "$LSLOG")"
grep -q "configuration changed" "$LSLOG" && t_fail "new fingerprint not saved"
t_eq "still the new transport" "$EX2" "$(q transport jane@tum.de)"
ls_stop

# 4. A cookie from an older ldapsync (no fingerprint): full refresh.
jq 'del(.config_hash)' "$T/maps/ldapsync.cookie" > "$T/cookie.old" &&
    mv "$T/cookie.old" "$T/maps/ldapsync.cookie"
: > "$LSLOG"
ls_start
t_wait 10 grep -q "refresh done" "$LSLOG" || t_fail "no refresh: $(cat "$LSLOG")"
t_match "old cookie" "configuration changed since the last sync: full refresh \(fingerprint none" "$(cat "$LSLOG")"
t_match "full refresh" "refresh done \(full\)" "$(cat "$LSLOG")"
t_eq "tables unchanged" "$EX2" "$(q transport jane@tum.de)"
ls_stop
exit 0
