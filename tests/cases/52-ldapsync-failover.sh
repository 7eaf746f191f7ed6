#!/bin/bash
# 52-ldapsync-failover.sh - several URIs tried in order: a dead first URI
# is skipped; the daemon fails over from a killed provider to a syncrepl
# replica and keeps following changes there.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
person jane jane.doe@tum.de "fwdMailboxLocation: exchange" > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
dead=$(t_port)

# --once with a dead first URI.
ls_conf ".ldap.uris = [\"ldap://127.0.0.1:$dead/\", \"$(slapd_uri ldap)\"]"
ls_once
t_eq "failover --once" 0 "$LS_RC"
t_eq "served" "OK smtp:[exchange.example.org]:25" "$(q transport jane.doe@tum.de)"
t_eq "report names the URI used" "$(slapd_uri ldap)" "$(rep .uri)"
t_match "first URI's failure logged" "127.0.0.1:$dead" "$(cat "$LSLOG")"

# All URIs dead: non-zero exit, tables kept.
ls_conf ".ldap.uris = [\"ldap://127.0.0.1:$dead/\"]"
ls_once
[ "$LS_RC" -ne 0 ] || t_fail "--once succeeded with no server"
t_eq "kept" "OK smtp:[exchange.example.org]:25" "$(q transport jane.doe@tum.de)"

# Daemon: provider first, replica second; kill the provider.
slapd_consumer replica ldap
slapd_wait_replicated replica ldap || t_fail "replica did not catch up"
ls_conf ".ldap.uris = [\"$(slapd_uri ldap)\", \"$(slapd_uri replica)\"]"
: > "$LSLOG"
ls_start
# It resumes from the cookie --once left (nothing to publish) or, where
# that cannot be used, refreshes and publishes: either way it is current.
t_wait 10 grep -q "refresh done" "$LSLOG" || t_fail "daemon did not sync"
# Freeze ldapsync, change the provider, let the replica catch up, kill
# the provider, thaw ldapsync: it must carry on from the replica.
kill -STOP "$LS_PID"
mod jane fwdMailboxLocation mytum
slapd_wait_replicated replica ldap || { kill -CONT "$LS_PID"; t_fail "replica did not catch up"; }
slapd_kill ldap
kill -CONT "$LS_PID"
t_wait 20 q_is transport jane.doe@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "no failover to the replica: $(tail -5 "$LSLOG")"
t_match "refresh from the replica" "refresh done .* from $(slapd_uri replica)" "$(cat "$LSLOG")"
ls_stop
exit 0
