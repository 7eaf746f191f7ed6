#!/usr/bin/env bash
# asan: yes
# fwdmapd -t finds configuration errors and names them; the daemon binds,
# sets socket mode and group, drops to its user for good, and refuses to
# start when that user cannot read maps_dir.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"

# check_t WHAT REGEX: -t must fail with a message matching REGEX.
check_t() {
    local out rc
    out=$("$FWDMAPD" -c "$CONF" -t 2>&1); rc=$?
    [ "$rc" != 0 ] || t_fail "$1: -t accepted it: $out"
    t_match "$1" "$2" "$out"
}

fw_conf
out=$("$FWDMAPD" -c "$CONF" -t 2>&1) || t_fail "good config rejected: $out"
t_match "good config" 'configuration .* OK' "$out"
t_match "no generation yet" 'TEMP' "$out"
fw_gen 3
t_match "generation shown" 'serial 3' "$("$FWDMAPD" -c "$CONF" -t 2>&1)"

out=$("$FWDMAPD" -c "$T/nonexistent.json" -t 2>&1) && t_fail "missing file accepted"
t_match "missing file" 'nonexistent.json' "$out"
echo '{"maps_dir": "x",' > "$CONF"
check_t "bad json" 'fwdmap.json'
fw_conf '"lsiten": "unix:/tmp/x"'
check_t "unknown key" 'fwdmapd.lsiten'
fw_conf '"max_connections": 0'
check_t "range" 'max_connections'
fw_conf '"socket_mode": "0999"'
check_t "bad mode" 'socket_mode'
fw_conf; sed -i "s|\"listen\": \"unix:$SOCK\"|\"listen\": \"tcp:127.0.0.1:25\"|" "$CONF"
check_t "bad listen" 'listen'
fw_conf; sed -i "s|\"listen\": \"unix:$SOCK\"|\"listen\": \"inet::9999\"|" "$CONF"
check_t "inet without host" 'listen'
fw_conf '"user": "no-such-user-fwdmap"'
check_t "unknown user" 'no-such-user-fwdmap'
fw_conf '"socket_group": "no-such-group-fwdmap"'
check_t "unknown group" 'no-such-group-fwdmap'
fw_conf; sed -i "s|\"maps_dir\": \"$T/maps\"|\"maps_dir\": \"$T/nope\"|" "$CONF"
check_t "maps_dir missing" 'maps_dir'
# The daemon itself refuses the same file, exit 1, before binding.
"$FWDMAPD" -c "$CONF" -f 2>"$T/logs/start.err"; rc=$?
[ "$rc" != 0 ] || t_fail "daemon started with a bad config"
t_match "daemon message" 'maps_dir' "$(cat "$T/logs/start.err")"
[ -e "$SOCK" ] && t_fail "bound a socket with a bad config"

# -S without a running daemon fails cleanly.
fw_conf
out=$("$FWDMAPD" -c "$CONF" -S 2>&1) && t_fail "-S without daemon succeeded"
t_match "-S without daemon" 'is fwdmapd running' "$out"

# Privileges: root starts it, "nobody" runs it.
[ "$(id -u)" = 0 ] || t_skip "not root: the privilege part (user, socket group, drop) needs root"
getent passwd nobody >/dev/null || t_skip "no user nobody for the privilege part"
grp=$(id -gn nobody)
# The run's TEST_TMP is private (mode 700); nobody needs a path it can reach.
P=$(mktemp -d /tmp/fwdmapd-priv.XXXXXX)
t_on_exit "rm -rf '$P'"
chmod 755 "$P"
mkdir -p "$P/maps"
cp "$T/maps/fwdmap.cdb" "$P/maps/" && chmod 644 "$P/maps/fwdmap.cdb"
SOCK="$P/fwdmapd.sock" CTL="$P/ctl.sock"
fw_conf "\"user\": \"nobody\", \"socket_group\": \"$grp\", \"socket_mode\": \"0660\""
sed -i "s|\"maps_dir\": \"$T/maps\"|\"maps_dir\": \"$P/maps\"|" "$CONF"
fw_start
t_eq "socket owner, group, mode" "nobody $grp 660" "$(stat -c '%U %G %a' "$SOCK")"
uid=$(id -u nobody); gid=$(id -g nobody)
t_match "uids dropped" "^Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid\$" "$(grep '^Uid:' /proc/$FWPID/status)"
t_match "gids dropped" "^Gid:[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid[[:space:]]+$gid\$" "$(grep '^Gid:' /proc/$FWPID/status)"
t_match "no root group" "^Groups:[[:space:]]*([1-9][0-9]*[[:space:]]*)*\$" "$(grep '^Groups:' /proc/$FWPID/status)"
t_eq "serves as nobody" "OK tum" "$(fw_q domains tum.de)"
t_match "stats as root" '^3$' "$(fw_stat generation.serial)"
kill -TERM "$FWPID"; wait "$FWPID"; t_eq "exit 0" 0 $?

# maps_dir the unprivileged user cannot open: refuse to start.
chmod 700 "$P/maps"
"$FWDMAPD" -c "$CONF" -f 2>"$T/logs/priv.err"; rc=$?
[ "$rc" != 0 ] || t_fail "started although nobody cannot read maps_dir"
t_match "maps_dir check" 'cannot open maps_dir' "$(cat "$T/logs/priv.err")"
exit 0
