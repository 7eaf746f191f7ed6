#!/bin/bash
# 40-ldapsync-restore.sh - the directory is restored from a backup taken
# before a change that ldapsync has already received, published and saved
# the cookie of (or a provider comes back from a crash behind what it had
# sent).  slapd's syncprov then refuses the cookie: "consumer state is newer
# than provider!", unwillingToPerform.  ldapsync must take that as "refresh
# required" - a full refresh that publishes the restored state, then
# persist mode again - and not as "no syncprov here", which would leave it
# on periodic full syncs (every poll_interval, 300 s by default) for good.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
{
    person p1 p1@tum.de "fwdMailboxLocation: exchange"
    person p2 p2@tum.de "fwdMailboxLocation: exchange"
} > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf
ls_start
t_wait 10 q_is transport p1@tum.de "OK smtp:[exchange.example.org]:25" || t_fail "no base: $(cat "$LSLOG")"

# The backup (with its entryCSNs and contextCSN), then a change.
d=$(_slapd_dir ldap)
backup_csn=$(csn)
# shellcheck disable=SC2046
"${SLAPD_BIN%slapd}slapcat" $(_slapd_cfgarg ldap) -b "$SLAPD_SUFFIX" -l "$T/backup.ldif" 2>>"$d/slapadd.log" ||
    t_fail "slapcat: $(tail -n 3 "$d/slapadd.log")"
# syncprov writes contextCSN to the suffix entry only every checkpoint;
# a backup of a checkpointed directory has it: put it there as such.
grep -q '^contextCSN:' "$T/backup.ldif" ||
    awk -v dn="dn: $SLAPD_SUFFIX" -v c="contextCSN: $backup_csn" \
        '{ print } $0 == dn { print c }' "$T/backup.ldif" > "$T/backup.tmp" && mv "$T/backup.tmp" "$T/backup.ldif"
grep -q "^contextCSN: $backup_csn" "$T/backup.ldif" || t_fail "backup without contextCSN"
sleep 1.1	# CSNs have microseconds, but make "later" unmistakable
mod p1 fwdMailboxLocation mytum
t_wait 10 q_is transport p1@tum.de "OK lmtp:[mytum.example.org]:24" || t_fail "change not applied"
t_wait 10 cookie_current || t_fail "cookie not saved: saved $(saved_csn), server $(csn)"
[ "$(saved_csn)" != "$backup_csn" ] || t_fail "the cookie did not move with the change"

# The restore: same port and configuration, the database from the backup.
slapd_stop ldap
rm -rf "$d/db" && mkdir -p "$d/db"
slapd_load ldap "$T/backup.ldif"
slapd_start ldap
t_eq "slapd restored to the backup's state" "$backup_csn" "$(csn)"

t_wait 30 grep -q "refused our sync cookie" "$LSLOG" || t_fail "no refusal seen: $(tail -n 5 "$LSLOG")"
t_wait 30 q_is transport p1@tum.de "OK smtp:[exchange.example.org]:25" ||
    t_fail "the restored state was not published: $(q transport p1@tum.de); $(tail -n 5 "$LSLOG")"
t_match "full refresh" "refresh done \(full\)" "$(cat "$LSLOG")"
grep -q "falling back to periodic full syncs" "$LSLOG" &&
    t_fail "took a refused cookie for a missing syncprov: $(grep falling "$LSLOG")"

# Persist mode again: the next change arrives in seconds.
mod p2 fwdMailboxLocation mytum
t_wait 10 q_is transport p2@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "change after the restore not followed: $(tail -n 5 "$LSLOG")"
kill -0 "$LS_PID" || t_fail "ldapsync died"
ls_stop
exit 0
