#!/bin/bash
# 43-ldapsync-guard.sh - never publish a suspicious result: --dry-run
# publishes nothing, the mass-removal guard (count and percentage) refuses
# unless --force, an empty directory is never published, --check.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
for i in $(seq 1 20); do person "p$i" "p$i@tum.de" "fwdMailboxLocation: exchange"; done > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf '.safety = {"max_removed": 3, "max_removed_percent": 50}'

# --check
out=$("$LDAPSYNC" -c "$CONF" --check 2>&1) || t_fail "--check on a good file: $out"
t_match "--check ok" "configuration OK" "$out"
jq '.ldap.bind_pasword_file = "/x"' "$CONF" > "$T/bad.json"
out=$("$LDAPSYNC" -c "$T/bad.json" --check 2>&1) && t_fail "--check accepted an unknown key"
t_match "--check names key" "bad.json: ldap.bind_pasword_file: unknown key" "$out"

# --dry-run before anything was published: prints, writes nothing
out=$("$LDAPSYNC" -c "$CONF" --once --dry-run 2>>"$LSLOG") || t_fail "dry run failed"
t_eq "dry-run lists additions" 20 "$(grep -c '^+ ' <<<"$out")"
[ -e "$T/maps/fwdmap.cdb" ] && t_fail "dry run published"

ls_once
t_eq "first sync" 0 "$LS_RC"
t_eq "serial" 1 "$(serial)"

# --dry-run against a published generation: a changed route is listed.
printf 'dn: uid=p20,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: mytum\n' \
    "$SLAPD_SUFFIX" | slapd_modify ldap
out=$("$LDAPSYNC" -c "$CONF" --dry-run 2>"$T/dry.err") || t_fail "dry run failed"
t_eq "dry-run lists the change" "~ p20@tum.de" "$out"
t_match "dry-run summary counts it" "added=0 removed=0 changed=1 .*result=dry-run" "$(cat "$T/dry.err")"
t_eq "dry-run publishes nothing" 1 "$(serial)"
ls_once
t_eq "change published" "OK lmtp:[mytum.example.org]:24" "$(q transport p20@tum.de)"

# Remove 4 people (> max_removed 3): refused, last generation keeps serving.
for i in 1 2 3 4; do printf 'dn: uid=p%s,ou=tum,%s\nchangetype: delete\n\n' "$i" "$SLAPD_SUFFIX"; done | slapd_modify ldap
out=$("$LDAPSYNC" -c "$CONF" --once --dry-run 2>&1)
t_eq "dry-run lists removals" 4 "$(grep -c '^- ' <<<"$out")"
t_eq "dry-run leaves tables" 2 "$(serial)"
ls_once
t_eq "guard exit status" 3 "$LS_RC"
t_match "guard message" "refusing to publish: 4 of 20 routes would be removed" "$(tail -3 "$LSLOG")"
t_match "guard message (full path)" "refusing to publish: 4 of 20 routes would be removed \(limit 3: safety.max_removed 3, max_removed_percent [0-9.]+\); if this is intended, confirm it with --force" "$(tail -3 "$LSLOG")"
t_eq "still serial 2" 2 "$(serial)"
t_eq "still served" "OK tum" "$(q recipients p1@tum.de)"
t_eq "report result" refused "$(rep .result)"
ls_once --force
t_eq "--force publishes" 0 "$LS_RC"
t_eq "serial 3" 3 "$(serial)"
t_eq "removed now" NOTFOUND "$(q recipients p1@tum.de)"

# Percentage: 3 of 16 removals are within max_removed 3 but above 10 %.
ls_conf '.safety = {"max_removed": 500, "max_removed_percent": 10}'
for i in 5 6; do printf 'dn: uid=p%s,ou=tum,%s\nchangetype: delete\n\n' "$i" "$SLAPD_SUFFIX"; done | slapd_modify ldap
ls_once
t_eq "percent guard" 3 "$LS_RC"
t_match "percent message" "2 of 16 routes would be removed \(limit 1" "$(tail -3 "$LSLOG")"
t_eq "serial still 3" 3 "$(serial)"

# allow_mass_removal in the configuration lets it through.
ls_conf '.safety = {"max_removed": 500, "max_removed_percent": 10, "allow_mass_removal": true}'
ls_once
t_eq "allowed" 0 "$LS_RC"
t_eq "serial 4" 4 "$(serial)"

# An empty result is never published, not even with --force.
for i in $(seq 7 20); do printf 'dn: uid=p%s,ou=tum,%s\nchangetype: delete\n\n' "$i" "$SLAPD_SUFFIX"; done | slapd_modify ldap
ls_once --force
t_eq "empty refused" 3 "$LS_RC"
t_match "empty message" "no routes at all" "$(tail -3 "$LSLOG")"
t_eq "serial still 4" 4 "$(serial)"
t_eq "last good generation serves" "OK tum" "$(q recipients p20@tum.de)"
exit 0
