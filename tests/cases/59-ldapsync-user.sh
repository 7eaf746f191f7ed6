#!/bin/bash
# 59-ldapsync-user.sh - ldapsync started as root with ldapsync.user drops
# to that user (real, effective, saved and filesystem uid and gid, and its
# supplementary groups, read from /proc) and still publishes: the tables in
# a maps_dir owned by the user, the bind password from a root-only file read
# before the drop, also on a reconnect after slapd restarted.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
[ "$(id -u)" = 0 ] || t_skip "needs root"
RUNAS=nobody
uid=$(id -u "$RUNAS" 2>/dev/null) || t_skip "no user $RUNAS"
gid=$(id -g "$RUNAS")
groups=$(id -G "$RUNAS" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')

# TEST_TMP is private to root: the user's maps_dir lives beside it.
M=$(mktemp -d /tmp/fwdmap-user.XXXXXX) || t_fail "mktemp"
t_on_exit "rm -rf '$M'"
chown "$RUNAS:" "$M"; chmod 0755 "$M"

slapd_init ldap conf
person jane jane.doe@tum.de "fwdMailboxLocation: exchange" "fwdMailAlias: jd@tum.de" > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf ".maps_dir = \"$M\" | .ldapsync.user = \"$RUNAS\""
out=$("$LDAPSYNC" -c "$CONF" --check 2>&1) || t_fail "--check with ldapsync.user $RUNAS: $out"
jq '.ldapsync.user = "no-such-user-fwdmap"' "$CONF" > "$T/nouser.json"
out=$("$LDAPSYNC" -c "$T/nouser.json" --check 2>&1) && t_fail "--check accepted a user that does not exist"
t_match "--check names the missing user" "ldapsync.user no-such-user-fwdmap: no such user" "$out"
pw=$(jq -r .ldap.bind_password_file "$CONF")
t_eq "password file root-only" "root 600" "$(stat -c '%U %a' "$pw")"
if runuser -u "$RUNAS" -- cat "$pw" >/dev/null 2>&1; then
    t_fail "$RUNAS can read the password file: the test proves nothing"
fi
mq() { "$FWDMAP" -d "$M" query "$1" "$2"; }
mq_is() { [ "$(mq "$1" "$2")" = "$3" ]; }

# --once: published by the user.
ls_once
[ "$LS_RC" = 0 ] || t_fail "ldapsync --once as $RUNAS: rc=$LS_RC: $(tail -5 "$LSLOG")"
t_eq "once: tables" "OK smtp:[exchange.example.org]:25" "$(mq transport jd@tum.de)"
t_eq "once: table owner" "$RUNAS" "$(stat -c %U "$M/fwdmap.cdb")"
t_eq "once: report owner" "$RUNAS" "$(stat -c %U "$M/ldapsync-report.json")"

# Continuous: the ids of the running process.
: > "$LSLOG"
ls_start
t_wait 10 grep -q "refresh done" "$LSLOG" || t_fail "no refresh: $(cat "$LSLOG")"
st=/proc/$LS_PID/status
t_eq "Uid (real effective saved fs)" "$uid	$uid	$uid	$uid" "$(awk '/^Uid:/ {print $2"\t"$3"\t"$4"\t"$5}' "$st")"
t_eq "Gid (real effective saved fs)" "$gid	$gid	$gid	$gid" "$(awk '/^Gid:/ {print $2"\t"$3"\t"$4"\t"$5}' "$st")"
t_eq "supplementary groups" "$groups" "$(awk '/^Groups:/ {$1=""; print}' "$st" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ' | sed 's/ $//')"
t_eq "no capabilities" "0000000000000000" "$(awk '/^CapEff:/ {print $2}' "$st")"

# A change arrives as a delta written by the user.
mod jane fwdMailboxLocation mytum
t_wait 10 mq_is transport jd@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "change not published as $RUNAS: $(tail -5 "$LSLOG")"

# slapd restarts: ldapsync binds again (as nobody, with the secret it read
# as root) and the next change arrives.
slapd_stop ldap
slapd_start ldap
person zoe zoe@tum.de "fwdMailboxLocation: exchange" > "$T/zoe.ldif"
slapd_add ldap "$T/zoe.ldif"
t_wait 20 mq_is transport zoe@tum.de "OK smtp:[exchange.example.org]:25" ||
    t_fail "no publish after reconnect: $(tail -8 "$LSLOG")"
grep -q "bind_password_file" "$LSLOG" && t_fail "password file read after the drop: $(grep bind_password_file "$LSLOG")"
t_eq "still $RUNAS" "$uid" "$(awk '/^Uid:/ {print $3}' "$st")"
ls_stop
find "$M" -maxdepth 1 -type f ! -user "$RUNAS" | grep . && t_fail "files not owned by $RUNAS"
exit 0
