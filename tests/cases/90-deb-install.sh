#!/bin/bash
# exclusive: yes (runs alone when tests/run.sh runs cases in parallel)
# 90-deb-install.sh - the Debian package, installed the way docs/install.md
# says, from the package to one routed message, then removed and purged.
#
# Builds the package (make deb, lintian included), then runs the guide's
# own blocks (tests/lib/guide.sh: "<!-- guide: NAME -->"): apt install,
# the bind password, the checks, systemctl enable --now, the Postfix
# main.cf and master.cf, Postfix's start, the lookups, apt remove, apt
# purge.  What the test changes, and why:
#   - /etc/postfix in the guide's commands becomes a private directory, and
#     MAIL_CONFIG points there: the system's Postfix is never touched
#     (checked at the end).  After the guide's main.cf and master.cf, the
#     instance gets a loopback port, its own queue, and sinks instead of
#     the Internet (pf_test_overrides below).
#   - systemctl is tests/lib/systemctl-shim, because systemd is not PID 1
#     on the test machines: it runs the installed units' own ExecStartPre=
#     and ExecStart= lines as the units' User=.  The units themselves are
#     checked with systemd-analyze verify.
#   - /etc/fwdmap/fwdmap.json is the installed example, edited (jq) to name
#     the throwaway slapd and the sink stores, as an admin edits it.
# A trap purges the package whatever happens.  Runs as root, and refuses
# to run where the package was installed before (it would purge it).
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
source "$TOP/tests/lib/guide.sh"

[ "$(id -u)" = 0 ] || t_skip "installs a package: needs root"
fw_need
for p in dpkg-buildpackage lintian apt systemd-analyze setpriv jq; do
    command -v "$p" >/dev/null || t_skip "$p not installed"
done
dpkg-query -W -f='${Status}' fwdmap 2>/dev/null | grep -q 'installed\|config-files' &&
    t_fail "the fwdmap package is installed already; this case installs and purges it: remove it first"

HD_USER=fwdmap-t90-helpdesk
SHIM_DIR=$T/shim
export SHIM_PIDS=$T/shim.pids SHIM_LOG=$T/logs/systemctl-shim.log
mkdir -p "$SHIM_DIR"
cp "$TOP/tests/lib/systemctl-shim" "$SHIM_DIR/systemctl"
sys_maincf_before=$(md5sum /etc/postfix/main.cf 2>/dev/null || echo none)
sys_master() { pgrep -f '^/usr/lib/postfix/sbin/master' | while read -r p; do
    [ "$(readlink "/proc/$p/cwd")" = /var/spool/postfix ] && echo "$p"; done; }
sys_master_before=$(sys_master)

_t90_cleanup() {
    t_stop_all
    if dpkg-query -W -f='${Status}' fwdmap 2>/dev/null | grep -q 'installed\|config-files'; then
        dpkg --purge fwdmap >>"$T/logs/cleanup.log" 2>&1
    fi
    id "$HD_USER" >/dev/null 2>&1 && userdel -f "$HD_USER" >>"$T/logs/cleanup.log" 2>&1
    return 0
}
t_on_exit _t90_cleanup

# step TEXT: log progress with the seconds since the start.
step() { t_log "[${SECONDS}s] $*"; }

# Track what the shim started.
shim_track() {
    local pid u
    [ -f "$SHIM_PIDS" ] || return 0
    while read -r pid u; do t_track "$pid" "$u"; done <"$SHIM_PIDS"
}

# apt, non-interactive, waiting for a lock another apt may hold.
printf '%s\n' 'APT::Get::Assume-Yes "true";' 'DPkg::Lock::Timeout "300";' >"$T/apt.conf"
export APT_CONFIG=$T/apt.conf DEBIAN_FRONTEND=noninteractive

# 1. The package, built as `make deb` builds it (lintian: no errors).
step "1. The package, built as make deb builds it (lintian: no errors)."
# (noddebs: no -dbgsym package, which this case does not install.)
DEB_BUILD_OPTIONS="noddebs ${DEB_BUILD_OPTIONS:-}" \
    make -s -C "$TOP" deb DEB_DIR="$T/deb" >"$T/logs/make-deb.log" 2>&1 ||
    t_fail "make deb: $(tail -n 20 "$T/logs/make-deb.log")"
grep -q '^E: ' "$T/deb/lintian.log" && t_fail "lintian errors: $(grep '^E: ' "$T/deb/lintian.log")"
ls "$T"/deb/fwdmap_*.deb >/dev/null || t_fail "no fwdmap_*.deb in $T/deb"

# 2. guide: install
step "2. guide: install"
(cd "$T/deb" && guide_run install) >"$T/logs/apt-install.log" 2>&1 ||
    t_fail "apt install: $(tail -n 20 "$T/logs/apt-install.log")"
for f in /usr/sbin/fwdmapd /usr/sbin/ldapsync /usr/bin/fwdmap; do
    [ -x "$f" ] || t_fail "$f not installed"
done
for f in /lib/systemd/system/fwdmapd.service /lib/systemd/system/ldapsync.service \
         /usr/share/fwdmap/schema/fwdmap.schema /usr/share/fwdmap/schema/fwdmap.ldif \
         /usr/share/man/man8/fwdmapd.8.gz /usr/share/man/man8/ldapsync.8.gz \
         /usr/share/man/man1/fwdmap.1.gz /usr/share/man/man5/fwdmap.json.5.gz \
         /usr/lib/tmpfiles.d/fwdmap.conf /usr/share/doc/fwdmap/install.md.gz; do
    [ -f "$f" ] || t_fail "$f not installed"
done
dpkg-query -W -f='${Conffiles}\n' fwdmap | grep -q '^ /etc/fwdmap/fwdmap.json ' ||
    t_fail "/etc/fwdmap/fwdmap.json is not a conffile"
getent passwd fwdmap >/dev/null || t_fail "no user fwdmap"
getent group fwdmap-helpdesk >/dev/null || t_fail "no group fwdmap-helpdesk"
t_eq "/var/lib/fwdmap" "fwdmap fwdmap-helpdesk 750" "$(stat -c '%U %G %a' /var/lib/fwdmap)"
t_eq "/run/fwdmap" "root root 755" "$(stat -c '%U %G %a' /run/fwdmap)"
# Nothing enabled, nothing started.
ls /etc/systemd/system/*/fwdmapd.service /etc/systemd/system/*/ldapsync.service 2>/dev/null &&
    t_fail "a unit was enabled by the installation"
pgrep -f '^/usr/sbin/(fwdmapd|ldapsync) ' >/dev/null && t_fail "a daemon runs after the installation"

# 3. The guide shows the file the package installs.
step "3. The guide shows the file the package installs."
t_eq "guide's fwdmap.json = installed example" "$(jq -S . /etc/fwdmap/fwdmap.json)" \
    "$(guide_block config | jq -S .)"

# 4. guide: secret, then guide: check on the installed example.
step "4. guide: secret, then guide: check on the installed example."
printf '%s\n' "$SLAPD_SYNCPW" | guide_run secret >"$T/logs/secret.log" 2>&1 ||
    t_fail "guide: secret: $(cat "$T/logs/secret.log")"
t_eq "ldap.secret" "root fwdmap 640" "$(stat -c '%U %G %a' /etc/fwdmap/ldap.secret)"
t_eq "ldap.secret content" "$SLAPD_SYNCPW" "$(cat /etc/fwdmap/ldap.secret)"
out=$(guide_run check 2>&1) || t_fail "guide: check rejects the installed example: $out"
# What the guide says fwdmap postconf prints for this file is what it prints.
t_eq "guide's fwdmap postconf output" "$(guide_block postconf-output)" \
    "$(fwdmap postconf -c /etc/fwdmap/fwdmap.json | sed 1d)"
t_match "fwdmapd -t" "configuration /etc/fwdmap/fwdmap.json OK" "$out"
t_match "ldapsync --check" "/etc/fwdmap/fwdmap.json: configuration OK" "$out"

# 5. The units, as systemd itself reads them (no PID 1 needed).
step "5. The units, as systemd itself reads them (no PID 1 needed)."
out=$(systemd-analyze verify /lib/systemd/system/fwdmapd.service \
      /lib/systemd/system/ldapsync.service 2>&1) || t_fail "systemd-analyze verify: $out"
[ -z "$out" ] || t_fail "systemd-analyze verify complains: $out"

# 6. The throwaway directory and stores; the example edited to use them.
step "6. The throwaway directory and stores; the example edited to use them."
fw_sinks
fw_slapd_start
jq --arg uri "$SLAPD_URI" --arg ex "smtp:[127.0.0.1]:$(sink_port exchange)" \
   --arg my "lmtp:[127.0.0.1]:$(sink_port mytum)" --arg ph "smtp:[127.0.0.1]:$(sink_port physics)" \
   '.ldap.uris = [$uri] | .ldap.starttls = false | .stores.exchange = $ex | .stores.mytum = $my
    | .domains["ph.tum.de"].default_route = $ph' /etc/fwdmap/fwdmap.json >"$T/fwdmap.json" &&
    cat "$T/fwdmap.json" >/etc/fwdmap/fwdmap.json || t_fail "editing /etc/fwdmap/fwdmap.json"
out=$(guide_run check 2>&1) || t_fail "guide: check rejects the edited file: $out"

# 7. guide: start (the units' command lines, as their users).
step "7. guide: start (the units' command lines, as their users)."
PATH=$SHIM_DIR:$PATH guide_run start >"$T/logs/start.log" 2>&1 ||
    t_fail "guide: start: $(cat "$T/logs/start.log" "$SHIM_LOG")"
shim_track
FW_SOCK=/run/fwdmap/fwdmapd.sock
_published() { [ -s /var/lib/fwdmap/fwdmap.cdb ]; }
t_wait 20 _published || t_fail "ldapsync published nothing: $(cat "$SHIM_LOG")"
# (Other cases may run their own fwdmapd and ldapsync: look at ours only.)
pkg_pid() { pgrep -f "^/usr/sbin/$1 " | head -n 1; }
t_eq "ldapsync runs as" fwdmap "$(ps -o user= -p "$(pkg_pid ldapsync)" | tr -d ' ')"
t_wait 10 test -S "$FW_SOCK" || t_fail "no $FW_SOCK: $(cat "$SHIM_LOG")"
t_eq "fwdmapd runs as" fwdmap "$(ps -o user= -p "$(pkg_pid fwdmapd)" | tr -d ' ')"
t_eq "socket" "fwdmap postfix 660" "$(stat -c '%U %G %a' "$FW_SOCK")"

# 8. Postfix, the guide's way, in a private directory: a Postfix installed
step "8. Postfix, the guide's way, in a private directory: a Postfix installed"
#    with "No configuration" has Debian's master.cf and no main.cf.
PF_DIR=$T/postfix
export MAIL_CONFIG=$PF_DIR/etc
mkdir -p "$PF_DIR/etc" "$PF_DIR/queue" "$PF_DIR/data"
chown postfix "$PF_DIR/data"
_fw_traversable "$PF_DIR/data"	# the master opens its lock there as postfix
cp /etc/postfix/master.cf "$PF_DIR/etc/master.cf"
t_on_exit pf_stop
to_private="s|/etc/postfix|$PF_DIR/etc|g"
guide_run postfix-main "$to_private" >"$T/logs/postfix-main.log" 2>&1 ||
    t_fail "guide: postfix-main: $(cat "$T/logs/postfix-main.log")"
# The base is complete and safe: no open relay, nothing local.
t_eq "mynetworks" "127.0.0.0/8 [::1]/128" "$(postconf -h mynetworks)"
t_match "relay restrictions" "reject_unauth_destination" "$(postconf -h smtpd_relay_restrictions)"
t_eq "compatibility_level" "3.6" "$(postconf -h compatibility_level)"
t_eq "mydestination" "" "$(postconf -h mydestination)"
t_eq "virtual_alias_domains" "" "$(postconf -h virtual_alias_domains)"
guide_run postfix-master >"$T/logs/postfix-master.log" 2>&1 ||
    t_fail "guide: postfix-master: $(cat "$T/logs/postfix-master.log")"
t_eq "chrooted services after the guide" "" "$(postconf -F '*/*/chroot' | grep -v '= n$')"

# Test-only: loopback port, private queue and log, sinks for the world.
PF_PORT=$(t_port)
PF_LOG=$PF_DIR/maillog
smtpd_line=$(postconf -M smtp/inet) || t_fail "no smtp/inet service"
postconf -MX smtp/inet
postconf -M "127.0.0.1:$PF_PORT/inet=127.0.0.1:$PF_PORT${smtpd_line#smtp}"
pf_test_overrides=(
    "config_directory = $PF_DIR/etc" "queue_directory = $PF_DIR/queue"
    "data_directory = $PF_DIR/data" "maillog_file = $PF_LOG"
    "maillog_file_prefixes = $PF_DIR" "syslog_name = fwdtest90"
    "inet_interfaces = 127.0.0.1" "inet_protocols = ipv4"
    "default_transport = smtp:[127.0.0.1]:$(sink_port outside)"
    "relay_transport = smtp:[127.0.0.1]:$(sink_port stray)"
    "smtp_dns_support_level = disabled" "smtp_host_lookup = native"
    "lmtp_host_lookup = native" "smtp_tls_security_level = none"
    "queue_run_delay = 1s" "minimal_backoff_time = 1s" "maximal_backoff_time = 2s"
    "smtpd_error_sleep_time = 0" "in_flow_delay = 0")
postconf -e "${pf_test_overrides[@]}" || t_fail "postconf -e (test overrides)"
_pf_settled "$PF_DIR/etc/main.cf" "$PF_DIR/etc/master.cf"
PATH=$SHIM_DIR:$PATH guide_run postfix-start >"$T/logs/postfix-start.log" 2>&1 ||
    t_fail "guide: postfix-start: $(cat "$T/logs/postfix-start.log" "$SHIM_LOG")"
t_wait 10 _pf_master_pid || t_fail "postfix master did not write its PID"
t_track "$(_pf_master_pid)" "postfix master"
t_wait 15 _pf_smtp_up || t_fail "postfix does not answer on 127.0.0.1:$PF_PORT: $(tail -n 5 "$PF_LOG")"

# 9. guide: postfix-check (postmap -q through the socket, fwdmap explain).
step "9. guide: postfix-check (postmap -q through the socket, fwdmap explain)."
out=$(guide_run postfix-check 2>&1) || t_fail "guide: postfix-check: $out"
t_match "postmap domains" $'^tum\n' "$out"
t_match "postmap transport" "smtp:\\[127.0.0.1\\]:$(sink_port exchange)" "$out"
t_match "explain" "verdict +accepted and routed" "$out"

# 10. One routed message, through the installed daemons.
step "10. One routed message, through the installed daemons."
fw_send jane.doe@tum.de
t_eq "RCPT jane.doe@tum.de" 250 "$(pf_rcpt_code jane.doe@tum.de)"
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"
fw_send nobody.here@tum.de
t_eq "RCPT unknown" 550 "$(pf_rcpt_code nobody.here@tum.de)"

# 11. Helpdesk: the group fwdmap-helpdesk may explain, others may not.
step "11. Helpdesk: the group fwdmap-helpdesk may explain, others may not."
# (A user of this name is this case's own, left by an interrupted run.)
id "$HD_USER" >/dev/null 2>&1 && userdel -f "$HD_USER"
useradd -M -N -s /usr/sbin/nologin -G fwdmap-helpdesk "$HD_USER" || t_fail "useradd $HD_USER"
out=$(setpriv --reuid="$HD_USER" --regid=nogroup --init-groups -- fwdmap explain jane.doe@tum.de 2>&1) ||
    t_fail "helpdesk user cannot run fwdmap explain: $out"
t_match "helpdesk explain" "owner dn +uid=" "$out"
out=$(setpriv --reuid=nobody --regid=nogroup --init-groups -- fwdmap explain jane.doe@tum.de 2>&1) &&
    t_fail "a user outside fwdmap-helpdesk reads the tables: $out"
setpriv --reuid="$HD_USER" --regid=nogroup --init-groups -- cat /etc/fwdmap/ldap.secret >/dev/null 2>&1 &&
    t_fail "the helpdesk group reads the bind password"

# 12. guide: remove (programs go, configuration and tables stay), then purge.
step "12. guide: remove (programs go, configuration and tables stay), then purge."
pf_stop
PATH=$SHIM_DIR:$PATH guide_run remove >"$T/logs/remove.log" 2>&1 ||
    t_fail "guide: remove: $(tail -n 20 "$T/logs/remove.log")"
[ -n "$(pkg_pid fwdmapd)$(pkg_pid ldapsync)" ] && t_fail "a daemon still runs after remove"
[ -e /usr/sbin/fwdmapd ] && t_fail "/usr/sbin/fwdmapd left after remove"
[ -f /etc/fwdmap/fwdmap.json ] || t_fail "remove took the configuration"
[ -s /var/lib/fwdmap/fwdmap.cdb ] || t_fail "remove took the tables"
guide_run purge >"$T/logs/purge.log" 2>&1 || t_fail "guide: purge: $(tail -n 20 "$T/logs/purge.log")"
t_eq "package state after purge" "" "$(dpkg-query -W -f='${Status}' fwdmap 2>/dev/null)"
for f in /usr/sbin/fwdmapd /usr/sbin/ldapsync /usr/bin/fwdmap /etc/fwdmap /var/lib/fwdmap \
         /run/fwdmap /lib/systemd/system/fwdmapd.service /lib/systemd/system/ldapsync.service \
         /usr/lib/tmpfiles.d/fwdmap.conf /usr/share/fwdmap /usr/share/doc/fwdmap \
         /var/lib/systemd/deb-systemd-helper-enabled/fwdmapd.service.dsh-also \
         /var/lib/systemd/deb-systemd-helper-enabled/ldapsync.service.dsh-also; do
    [ -e "$f" ] && t_fail "$f left after purge"
done
# Kept on purpose (README.Debian, install.md §8): the user and the groups.
getent passwd fwdmap >/dev/null || t_fail "purge removed the user fwdmap (documented as kept)"
getent group fwdmap-helpdesk >/dev/null || t_fail "purge removed the group fwdmap-helpdesk (documented as kept)"
# The system's Postfix was not touched.
t_eq "system main.cf" "$sys_maincf_before" "$(md5sum /etc/postfix/main.cf 2>/dev/null || echo none)"
t_eq "system Postfix master" "$sys_master_before" "$(sys_master)"
exit 0
