#!/bin/bash
# 39-ldapsync-split-attrs.sh - an entry that carries the same attribute
# twice: slapd keeps an LDIF's attribute lines as slapadd got them, so
# fwdMailAlias / fwdForwardAddress lines that are not next to each other
# come back as two occurrences of the attribute.  Every value of every
# occurrence counts, in the full sync and in persist mode.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
person split split@tum.de "fwdMailAlias: s1@tum.de" "fwdMailboxLocation: exchange" \
    "fwdForwardAddress: f1@web.de" "fwdMailAlias: s2@tum.de" "description: between" \
    "fwdForwardAddress: f2@web.de" "fwdMailAlias: s3@tum.de" > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
# The directory really returns the attribute more than once.
n=$(slapd_search ldap "(uid=split)" fwdMailAlias | grep -c '^fwdMailAlias:')
t_eq "slapd returns three alias values" 3 "$n"
ls_conf
check_all() {
    local a
    for a in s1 s2 s3; do
        t_eq "$1: alias $a" "OK split@tum.de" "$(q virtual "$a@tum.de")"
        t_eq "$1: alias $a transport" "OK smtp:[exchange.example.org]:25" "$(q transport "$a@tum.de")"
    done
    t_eq "$1: forwards" "OK split@tum.de,f1@web.de,f2@web.de" "$(q virtual split@tum.de)"
}
ls_once
t_eq "--once exit" 0 "$LS_RC"
check_all "--once"
rm -f "$T/maps/"* 
ls_start
t_wait 10 q_is transport split@tum.de "OK smtp:[exchange.example.org]:25" || t_fail "daemon: $(cat "$LSLOG")"
check_all "persist"
ls_stop
exit 0
