#!/bin/bash
# 44-ldapsync-paged-limit.sh - the full sync reads the directory with paged
# results (RFC 2696), so a size limit for the sync account lower than the
# directory does not truncate it; where the server caps paged searches too
# (size.prtotal), the sync fails and nothing is published -- never a
# truncated directory.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
N=50
for i in $(seq 1 $N); do person "p$i" "p$i@tum.de" "fwdMailboxLocation: exchange"; done > "$T/people.ldif"

# Hard size limit 10 for the sync account, paged searches exempt.
SLAPD_SYNC_LIMITS="size.soft=10 size.hard=10 size.prtotal=unlimited time=unlimited" slapd_init ldap conf
slapd_load ldap "$T/people.ldif"
slapd_start ldap
sync_search() {
    ldapsearch -x -LLL -H "$(slapd_uri "$1")" -D "$SLAPD_SYNCDN" -w "$SLAPD_SYNCPW" \
        -b "ou=tum,$SLAPD_SUFFIX" "${@:2}" '(objectClass=fwdMailRecipient)' dn > "$T/search.out" 2>&1
}
# The limit is real: a plain search as the sync account stops at 10.
sync_search ldap; rc=$?
t_eq "plain search: sizeLimitExceeded" 4 "$rc"
t_eq "plain search: entries" 10 "$(grep -c '^dn:' "$T/search.out")"

all_routed() {	# all_routed WHAT: every one of the N people is routed
    local i bad=
    for i in $(seq 1 $N); do
        [ "$(q recipients "p$i@tum.de")" = "OK tum" ] || bad="$bad p$i"
    done
    t_eq "$1: unrouted" "" "$bad"
}
ls_conf '.ldap.page_size = 7'
ls_once
t_eq "paged sync exit" 0 "$LS_RC"
t_eq "paged sync: entries" $N "$(rep .counts.entries)"
t_eq "paged sync: routes in the tables" $N "$("$FWDMAP" -d "$T/maps" info | jq '.base.counts.R')"
all_routed "page size 7"
# A page size above the limit: slapd returns at most 10 per page, ldapsync
# keeps following the paging cookie.
ls_conf '.ldap.page_size = 100'
ls_once
t_eq "large pages: exit" 0 "$LS_RC"
t_eq "large pages: entries" $N "$(rep .counts.entries)"
t_eq "large pages: serial" 2 "$(serial)"
all_routed "page size 100"

# The same limit without the paged-results exemption: the server cuts
# even the paged search at 10.  ldapsync fails and keeps serial 2.
before=$(md5sum < "$T/maps/fwdmap.cdb")
SLAPD_SYNC_LIMITS="size.soft=10 size.hard=10 time=unlimited" slapd_init capped conf
slapd_load capped "$T/people.ldif"
slapd_start capped
sync_search capped -E pr=7/noprompt; rc=$?
t_eq "capped paged search: sizeLimitExceeded" 4 "$rc"
ls_conf ".ldap.page_size = 7 | .ldap.uris = [\"$(slapd_uri capped)\"]"
ls_once
[ "$LS_RC" -ne 0 ] || t_fail "a sync cut short by the size limit succeeded"
t_match "capped: message" "full sync failed: .*Size limit exceeded; nothing published" "$(tail -n 2 "$LSLOG")"
t_eq "capped: tables untouched" "$before" "$(md5sum < "$T/maps/fwdmap.cdb")"
t_eq "capped: report" failed "$(rep .result)"
all_routed "after the capped sync"
exit 0
