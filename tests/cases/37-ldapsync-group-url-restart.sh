#!/bin/bash
# 37-ldapsync-group-url-restart.sh - issue 10 item 3: memberURL results
# survive a restart of the daemon.  A restarted ldapsync answers with the
# results it had published (STATE_DIR/ldapsync.urls), also when another
# group that nests the memberURL group is recompiled, and evaluates the
# URLs again when ldapsync.group_url_interval since the saved evaluation
# is over, not before its first publish; a damaged file is reported and
# the groups are evaluated at the start as without it.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
S=$SLAPD_SUFFIX
slapd_init ldap conf
{
    person p1 p1@tum.de "fwdMailboxLocation: exchange" "employeeType: staff"
    person p2 p2@tum.de "fwdMailboxLocation: exchange" "employeeType: staff"
    person p3 p3@tum.de "fwdMailboxLocation: mytum"
    person p4 p4@tum.de "fwdMailboxLocation: mytum"
    printf 'dn: cn=staff,ou=tum,%s\nobjectClass: groupOfURLs\nobjectClass: fwdMailRecipient\ncn: staff\nmail: staff@tum.de\nmemberURL: ldap:///ou=tum,%s??sub?(employeeType=staff)\n\n' "$S" "$S"
    printf 'dn: cn=all,ou=tum,%s\nobjectClass: groupOfNames\nobjectClass: fwdMailRecipient\ncn: all\nmail: all@tum.de\nmember: cn=staff,ou=tum,%s\nmember: uid=p3,ou=tum,%s\n\n' "$S" "$S" "$S"
} > "$T/dir.ldif"
slapd_load ldap "$T/dir.ldif"
slapd_start ldap
IV=30
ls_conf ".ldapsync.group_url_interval = $IV | .ldapsync.state_dir = \"$T/maps\""

sorted() { q virtual "$1" | sed 's/^OK //' | tr , '\n' | sort | tr '\n' ' ' | sed 's/ $//'; }
sorted_is() { [ "$(sorted "$1")" = "$2" ]; }
since() { tail -n +"$(( $1 + 1 ))" "$LSLOG"; }	# log lines after line $1

ls_start
t_wait 15 sorted_is all@tum.de "p1@tum.de p2@tum.de p3@tum.de" || t_fail "first publish: $(sorted all@tum.de); $(tail -5 "$LSLOG")"
t_wait 10 test -s "$T/maps/ldapsync.urls" || t_fail "no ldapsync.urls after the first publish: $(ls "$T/maps")"
t_eq "results saved" "d uid=p1,ou=tum,$S d uid=p2,ou=tum,$S" "$(grep "^d " "$T/maps/ldapsync.urls" | tr "\n" " " | sed "s/ $//")"
ls_stop

# While ldapsync is down, p2 stops being staff: a directory change the
# next evaluation of the URL sees, not the sync stream.
mod p2 employeeType student
n=$(wc -l < "$LSLOG")
ls_start
t_wait 15 eval 'since $n | grep -q "resuming from saved cookie"' || t_fail "no resume: $(since "$n")"
t_match "results loaded" "memberURL results of 1 of 1 groups loaded" "$(since "$n")"
# A change to the group nesting staff recompiles it: staff's members come
# from the saved results.
printf 'dn: cn=all,ou=tum,%s\nchangetype: modify\nadd: member\nmember: uid=p4,ou=tum,%s\n' "$S" "$S" | slapd_modify ldap
t_wait 15 eval 'q virtual all@tum.de | grep -q p4@tum.de' || t_fail "p4 not added to all: $(q virtual all@tum.de)"
t_eq "all after the restart (staff as saved)" "p1@tum.de p2@tum.de p3@tum.de p4@tum.de" "$(sorted all@tum.de)"
t_eq "staff after the restart (as saved)" "p1@tum.de p2@tum.de" "$(sorted staff@tum.de)"
t_eq "no memberURL search before the first publish" "" "$(since "$n" | grep 'memberURLs of')"
# ... and within the interval since the saved evaluation, the URL again.
t_wait $(( IV + 20 )) sorted_is staff@tum.de "p1@tum.de" || t_fail "staff not re-evaluated: $(sorted staff@tum.de); $(since "$n" | tail -5)"
t_wait 10 sorted_is all@tum.de "p1@tum.de p3@tum.de p4@tum.de" || t_fail "all after the evaluation: $(sorted all@tum.de)"
t_match "evaluated on the interval" "memberURLs of 1 groups evaluated in [0-9]+ ms: 1 changed" "$(since "$n")"
t_wait 10 eval '! grep -q "^d uid=p2," "$T/maps/ldapsync.urls"' || t_fail "new results not saved: $(cat "$T/maps/ldapsync.urls")"
t_eq "no full refresh" "" "$(since "$n" | grep 'refresh done (full)')"
ls_stop

# A damaged file: reported, and the groups evaluated before publishing.
printf 'fwdmap-urls 1 0\ng not-a-uuid\n' > "$T/maps/ldapsync.urls"
mod p2 employeeType staff
n=$(wc -l < "$LSLOG")
ls_start
t_wait 15 eval 'since $n | grep -q "refresh done"' || t_fail "no restart: $(since "$n")"
t_match "damaged file reported" "ldapsync.urls: malformed at line 2; the memberURLs are evaluated again" "$(since "$n")"
t_wait 10 sorted_is staff@tum.de "p1@tum.de p2@tum.de" || t_fail "staff after a start without results: $(sorted staff@tum.de)"
t_match "evaluated at the start" "memberURLs of 1 groups evaluated" "$(since "$n")"
t_wait 10 eval 'grep -q "^d uid=p2," "$T/maps/ldapsync.urls"' || t_fail "results not saved again: $(cat "$T/maps/ldapsync.urls")"
ls_stop
exit 0
