#!/usr/bin/env bash
# asan: yes
# ldapsync's Prometheus endpoint (ldapsync.metrics_listen) against a real
# slapd: scraped and validated with the real Prometheus parser
# (tests/lib/prom.py) and `promtool check metrics`; the full sync, a
# change, a new rejected entry, a guard refusal and a directory outage move
# the counters and gauges; other paths 404; --check checks the key.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"

source "$TOP/tests/lib/prom.bash"
prom_need

PORT=$(t_port)
URL="http://127.0.0.1:$PORT/metrics"

slapd_init ldap conf
{
    for i in 1 2 3 4 5; do person p$i p$i@tum.de "fwdMailboxLocation: exchange"; done
    person jane jane.doe@tum.de "fwdMailboxLocation: exchange" "fwdMailAlias: jd@tum.de"
    # rejected: a tum entry claiming an lmu address
    person bad1 bad1@lmu.de
} > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap

# --check validates the key.
ls_conf '.ldapsync.metrics_listen = "127.0.0.1:9490"'
"$LDAPSYNC" -c "$CONF" --check > "$T/check.out" 2>&1 && t_fail "--check accepted a bad metrics_listen"
t_match "--check names the key" 'ldapsync.metrics_listen: "127.0.0.1:9490": must be "inet:HOST:PORT"' "$(cat "$T/check.out")"
ls_conf '.ldapsync.metrics_listen = "inet:no-such-host.invalid:9490"'
"$LDAPSYNC" -c "$CONF" --check > "$T/check.out" 2>&1 && t_fail "--check accepted an unresolvable metrics_listen"
t_match "--check resolves it" 'ldapsync.metrics_listen: .*no-such-host.invalid' "$(cat "$T/check.out")"

# batch_delay_ms 1500: the three deletions below land in one batch.
ls_conf ".ldapsync.metrics_listen = \"inet:127.0.0.1:$PORT\" | .ldapsync.batch_delay_ms = 1500 | .safety = {\"max_removed\": 2, \"max_removed_percent\": 100}"
"$LDAPSYNC" -c "$CONF" --check > "$T/check.out" 2>&1 || t_fail "--check: $(cat "$T/check.out")"
ls_start
t_wait 15 is 'fwdmap_ldapsync_syncs_total{mode="full",result="published"}' 1 ||
    t_fail "full sync not shown: $(cat "$LSLOG")"
t_eq "directory up" 1 "$(val fwdmap_ldapsync_directory_up)"
t_eq "entries" 7 "$(val fwdmap_ldapsync_entries)"
t_eq "rejected by reason" 1 "$(val 'fwdmap_ldapsync_rejected_entries{reason="foreign_domain"}')"
t_eq "no other reason" 0 "$(val 'fwdmap_ldapsync_rejected_entries{reason="other"}')"
t_eq "published serial" "$(serial)" "$(val fwdmap_ldapsync_published_serial)"
t_eq "full sync timed" 1 "$(val 'fwdmap_ldapsync_sync_duration_seconds_count{mode="full"}')"
now=$(date +%s)
last=$(val fwdmap_ldapsync_last_publish_timestamp_seconds)
[ $((now - last)) -le 15 ] || t_fail "last publish $last, now $now"
t_eq "no refusal" 0 "$(val fwdmap_ldapsync_guard_refusals_total)"
# In sync while the session is up and nothing is pending: refreshed
# every second, also while nothing changes.
s1=$(val fwdmap_ldapsync_in_sync_timestamp_seconds)
sleep 2.2
scrape
s2=$(val fwdmap_ldapsync_in_sync_timestamp_seconds)
[ "$s2" -ge $((s1 + 2)) ] || t_fail "in-sync time did not move: $s1 -> $s2"
t_wait 10 ge fwdmap_ldapsync_cookie_age_seconds 0 || t_fail "no cookie age"

# A change: a delta, changes applied.
mod jane fwdMailboxLocation mytum
t_wait 10 ge 'fwdmap_ldapsync_syncs_total{mode="delta",result="published"}' 1 ||
    t_fail "delta not shown"
t_wait 5 ge 'fwdmap_ldapsync_changes_applied_total{change="changed"}' 2 ||
    t_fail "changes applied: $(val 'fwdmap_ldapsync_changes_applied_total{change="changed"}')"
t_eq "serial follows (the delta's)" 2 "$(val fwdmap_ldapsync_published_serial)"
[ "$(val 'fwdmap_ldapsync_sync_duration_seconds_count{mode="delta"}')" -ge 1 ] || t_fail "delta not timed"

# A new entry that is rejected: counted as a delta rejection.
person_in tum bad2 bad2@tum.de "fwdMailboxLocation: nowhere" > "$T/bad2.ldif"
slapd_add ldap "$T/bad2.ldif"
t_wait 10 ge 'fwdmap_ldapsync_delta_rejections_total{reason="unknown_store"}' 1 ||
    t_fail "delta rejection not counted"

# The guard: 3 routes removed > max_removed 2: refused, and counted.
for i in 1 2 3; do printf 'dn: uid=p%s,ou=tum,%s\nchangetype: delete\n\n' "$i" "$SLAPD_SUFFIX"; done |
    slapd_modify ldap
t_wait 10 ge fwdmap_ldapsync_guard_refusals_total 1 || t_fail "guard refusal not counted: $(tail -3 "$LSLOG")"
t_match "refused syncs" '^[1-9]' "$(val 'fwdmap_ldapsync_syncs_total{mode="delta",result="refused"}')"
t_eq "p1 still routed" "OK tum" "$(q recipients p1@tum.de)"

# Other paths: 404.
t_eq "/" 404 "$(http_status "http://127.0.0.1:$PORT/")"
t_eq "/metrics.txt" 404 "$(http_status "http://127.0.0.1:$PORT/metrics.txt")"

# The directory goes away: down; it comes back: up again.
slapd_stop ldap
t_wait 15 is fwdmap_ldapsync_directory_up 0 || t_fail "directory still up after slapd stopped"
slapd_start ldap
t_wait 30 is fwdmap_ldapsync_directory_up 1 || t_fail "directory not up again: $(tail -3 "$LSLOG")"
ls_stop
