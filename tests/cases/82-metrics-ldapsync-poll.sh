#!/usr/bin/env bash
# asan: yes
# ldapsync's metrics in poll mode (ldap.sync "poll"), started as root with
# ldapsync.user: the metrics socket is bound before the privilege drop (a
# port below 1024, served while running as the user); each periodic full
# sync is counted (published, then unchanged), keeps the in-sync time
# moving, and a failed one (slapd stopped) shows the directory down;
# --once serves no metrics.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
source "$TOP/tests/lib/prom.bash"
prom_need
[ "$(id -u)" = 0 ] || t_skip "needs root (the privilege drop and a port below 1024)"
RUNAS=nobody
uid=$(id -u "$RUNAS" 2>/dev/null) || t_skip "no user $RUNAS"

low=
for p in $(seq 1022 -1 900); do
    grep -qi ":$(printf '%04X' "$p") " /proc/net/tcp /proc/net/tcp6 2>/dev/null || { low=$p; break; }
done
[ -n "$low" ] || t_fail "no free port below 1024"
URL="http://127.0.0.1:$low/metrics"

# TEST_TMP is private to root: the user's maps_dir lives beside it.
MD=$(mktemp -d /tmp/fwdmap-metrics.XXXXXX) || t_fail "mktemp"
t_on_exit "rm -rf '$MD'"
chown "$RUNAS:" "$MD"; chmod 0755 "$MD"

slapd_init ldap conf
{
    person jane jane.doe@tum.de "fwdMailboxLocation: exchange"
    person max max@tum.de "fwdMailboxLocation: mytum"
} > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf ".maps_dir = \"$MD\" | .ldapsync.user = \"$RUNAS\" | .ldap.sync = \"poll\" | .ldap.poll_interval = 2 | .ldapsync.metrics_listen = \"inet:127.0.0.1:$low\""
out=$("$LDAPSYNC" -c "$CONF" --check 2>&1) || t_fail "--check: $out"

# --once: no metrics endpoint.
ls_once
[ "$LS_RC" = 0 ] || t_fail "--once: rc=$LS_RC: $(tail -3 "$LSLOG")"
grep -q 'metrics at' "$LSLOG" && t_fail "--once served metrics"

ls_start
t_wait 15 is 'fwdmap_ldapsync_syncs_total{mode="full",result="unchanged"}' 1 ||
    t_fail "first periodic sync not shown: $(tail -3 "$LSLOG")"
grep -q "metrics at http://127.0.0.1:$low/metrics" "$LSLOG" || t_fail "endpoint not logged"
t_match "runs as $RUNAS" "^Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid\$" \
    "$(grep '^Uid:' /proc/$LS_PID/status)"
t_eq "directory up (the last sync connected)" 1 "$(val fwdmap_ldapsync_directory_up)"
t_eq "entries" 2 "$(val fwdmap_ldapsync_entries)"
t_eq "no cookie in poll mode" absent "$(val fwdmap_ldapsync_cookie_age_seconds)"
s1=$(val fwdmap_ldapsync_in_sync_timestamp_seconds)

# A change is picked up by the next poll and published.
mod max fwdMailboxLocation exchange
t_wait 15 ge 'fwdmap_ldapsync_syncs_total{mode="full",result="published"}' 1 ||
    t_fail "changed poll not counted"
t_eq "changes applied" 1 "$(val 'fwdmap_ldapsync_changes_applied_total{change="changed"}')"
s2=$(val fwdmap_ldapsync_in_sync_timestamp_seconds)
[ "$s2" -gt "$s1" ] || t_fail "in-sync time did not move: $s1 -> $s2"
[ "$(val 'fwdmap_ldapsync_sync_duration_seconds_count{mode="full"}')" -ge 2 ] || t_fail "syncs not timed"

# slapd stopped: the next poll fails; the directory is down.
slapd_stop ldap
t_wait 20 is fwdmap_ldapsync_directory_up 0 || t_fail "directory still up: $(tail -3 "$LSLOG")"
t_wait 20 ge 'fwdmap_ldapsync_syncs_total{mode="full",result="failed"}' 1 || t_fail "failed poll not counted"
ls_stop
