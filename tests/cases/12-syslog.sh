#!/usr/bin/env bash
# Both daemons log to syslog with the mail facility when not told
# otherwise, in Postfix's style ("prog[pid]: warning: ..."), and never log
# the bind password.  The machine has no syslog daemon, so the case runs in
# a private mount namespace whose /dev/log is a datagram socket read by a
# small collector.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"
command -v unshare >/dev/null && unshare -m true 2>/dev/null || t_skip "no mount namespaces here"
command -v python3 >/dev/null || t_skip "python3 missing"

source "$TOP/tests/lib/slapd.sh"
fw_conf
fw_gen 4
# A real slapd that refuses the (wrong) password: the bind happens, fails,
# and is logged - without the password.
slapd_init ldap conf
slapd_start ldap
echo "s3cr3t-bind-password" > "$T/pw"; chmod 600 "$T/pw"
sed -i "s|\"uris\": \[\"ldap://127.0.0.1:9\"\]|\"uris\": [\"$(slapd_uri ldap)\"], \"bind_dn\": \"$SLAPD_SYNCDN\", \"bind_password_file\": \"$T/pw\", \"network_timeout\": 1|" "$CONF"
grep -q "$(slapd_uri ldap)" "$CONF" || t_fail "configuration not pointed at slapd"

cat > "$T/inner.sh" <<INNER
set -u
# A private /dev holding what the programs need, plus our /dev/log.
mkdir -p "$T/realdev"
mount --bind /dev "$T/realdev"
mount -t tmpfs tmpfs /dev
for n in null zero urandom random; do : > /dev/\$n; mount --bind "$T/realdev/\$n" /dev/\$n; done
python3 - "$T/syslog.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
with open(sys.argv[1], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536) + b"\n")
PY
col=\$!
for i in \$(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
"$FWDMAPD" -c "$CONF" &
fw=\$!
for i in \$(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
"$FWDMAP" -d "$T/maps" query recipients jane.doe@tum.de >/dev/null
perl "$TOP/tests/lib/sockmap-client.pl" "unix:$SOCK" raw "bogus" > /dev/null 2>&1
kill -TERM \$fw; wait \$fw
echo "fwdmapd_pid=\$fw" > "$T/pids"
"$(t_bin ldapsync)" -c "$CONF" --once -s
echo "ldapsync_rc=\$?" >> "$T/pids"
sleep 0.3
kill \$col
INNER
unshare -m bash "$T/inner.sh" > "$T/logs/inner.log" 2>&1
source "$T/pids"
[ -s "$T/syslog.txt" ] || { cat "$T/logs/inner.log"; t_fail "nothing reached syslog"; }
log=$(cat "$T/syslog.txt")
# <22> = mail.info, <20> = mail.warning, <19> = mail.err, <18> = mail.crit
t_match "fwdmapd start (mail.info)" "<22>[A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} fwdmapd\[$fwdmapd_pid\]: .*listening on" "$log"
t_match "fwdmapd stop" "fwdmapd\[$fwdmapd_pid\]: .*(stopp|exit|terminat)" "$log"
[ "$ldapsync_rc" != 0 ] || t_fail "ldapsync --once with a wrong password succeeded"
t_match "the bind was refused by slapd (so the password was sent)" "ldapsync\[[0-9]+\]: .*Invalid credentials" "$log"
t_match "ldapsync error (mail facility)" "<(1[6-9]|2[0-3])>[^<]*ldapsync\[[0-9]+\]: (warning|error|fatal): " "$log"
grep -q "s3cr3t-bind-password" "$T/syslog.txt" && t_fail "the bind password reached syslog"
grep -q "s3cr3t-bind-password" "$T/logs/inner.log" && t_fail "the bind password reached stderr"
exit 0
