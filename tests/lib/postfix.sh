# tests/lib/postfix.sh - a throwaway Postfix instance configured as the forwarder.
#
# Sourced after tests/lib/common.sh (needs TEST_TMP, t_track, t_on_exit,
# t_port, t_wait, t_fail).  Everything lives under $PF_DIR (default
# $TEST_TMP/postfix): config, queue, data, the log.  The instance listens
# on 127.0.0.1:$PF_PORT only and is stopped by PID at exit.
#
#   pf_init SOCKET EXT_PORT [STRAY_PORT]
#	Write main.cf/master.cf.  The forwarder's own settings are exactly
#	what "fwdmap postconf -c $PF_FWDMAP_CONF" (and -M for master.cf)
#	prints, PF_FWDMAP_CONF defaulting to $FW_CONF; SOCKET is fwdmapd's
#	socket ("unix:/path" or "inet:127.0.0.1:port") and must be that
#	configuration's fwdmapd.listen (checked).  Only what a throwaway
#	instance needs is added: its directories, loopback, the sinks.
#	EXT_PORT is the "outside world": mail for domains that are not ours
#	(forward targets) goes to smtp:[127.0.0.1]:EXT_PORT.  STRAY_PORT, if
#	given, catches mail for one of our domains that the tables gave no
#	transport (relay_transport); tests assert it stays empty.
#	Extra main.cf lines can be appended with pf_conf "name = value".
#   pf_conf LINE...	append/override main.cf settings (postconf -e)
#   pf_start		start the instance, wait until it accepts SMTP
#   pf_stop		stop it (TERM to the master) and wait until all its processes are gone
#   pf_reload		postfix reload (tests never need it; kept for demos)
#   pf_flush		postqueue -f (deliver deferred mail now)
#   pf_queue_count	print the number of queued messages
#   pf_wait_queue_empty SECS	flush until the queue is empty (0) or time runs out (1)
#   pf_log_grep REGEX	grep the instance's mail log
#   pf_sendmail FROM RCPT...	submit a message via sendmail(1) (sets PF_TOKEN;
#			call it in the current shell, not in a pipe)
#   pf_smtp FROM RCPT...	one SMTP transaction with swaks; see below
#			(PF_XCLIENT_ADDR=IP: as a client from IP, by XCLIENT;
#			needs smtpd_authorized_xclient_hosts = 127.0.0.1)
#
# pf_smtp writes the transcript to $PF_LAST (a file) and prints one line per
# recipient, "RCPT <addr> <code> <text>", then "DATA <code> <text>" (code
# 000 if DATA was not reached).  pf_rcpt_code ADDR prints the code that
# ADDR got in the last transaction, pf_rcpt_text ADDR the whole reply,
# pf_data_code the reply to the final dot.  The message carries a header
# "X-Fwdmap-Test: $PF_TOKEN", PF_TOKEN being unique per call, so sinks can
# tell messages apart.

: "${PF_DIR:=$TEST_TMP/postfix}"
PF_PORT=
PF_LAST=
PF_TOKEN=
_pf_n=0

pf_init() {
    local sock=$1 ext=$2 stray=${3:-}
    [ -n "$sock" ] && [ -n "$ext" ] || t_fail "pf_init SOCKET EXT_PORT [STRAY_PORT]"
    PF_PORT=$(t_port)
    mkdir -p "$PF_DIR/etc" "$PF_DIR/queue" "$PF_DIR/data" || t_fail "mkdir $PF_DIR"
    chown postfix "$PF_DIR/data" || t_fail "chown postfix $PF_DIR/data"
    PF_LOG=$PF_DIR/maillog
    local maps="socketmap:$sock"
    local relay_transport=relay
    [ -n "$stray" ] && relay_transport="smtp:[127.0.0.1]:$stray"
    local conf=${PF_FWDMAP_CONF:-$FW_CONF} fm
    fm=$(t_bin fwdmap)
    [ -f "$conf" ] || t_fail "pf_init: no fwdmap configuration $conf"
    "$fm" postconf -c "$conf" >"$PF_DIR/postconf.main" 2>"$PF_DIR/postconf.err" &&
        "$fm" postconf -c "$conf" -M >"$PF_DIR/postconf.master" 2>>"$PF_DIR/postconf.err" ||
        t_fail "fwdmap postconf -c $conf: $(cat "$PF_DIR/postconf.err")"
    grep -qxF "relay_domains = socketmap:$sock:domains" "$PF_DIR/postconf.main" ||
        t_fail "pf_init: $sock is not fwdmapd.listen in $conf"
    {
    cat <<EOF
# Throwaway forwarder instance written by tests/lib/postfix.sh: its own
# directories and loopback only, then what "fwdmap postconf" prints.
config_directory = $PF_DIR/etc
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = fwdtest
maillog_file = $PF_LOG
maillog_file_prefixes = $PF_DIR
myhostname = forwarder.fwdmap.invalid
mydomain = fwdmap.invalid
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_banner = \$myhostname ESMTP fwdmap test forwarder

# The "outside world" (forward targets) is a sink on loopback; mail for one
# of our domains without a transport goes to relay_transport.
default_transport = smtp:[127.0.0.1]:$ext
relay_transport = $relay_transport
relayhost =
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtp_tls_security_level = none
lmtp_tls_security_level = none
smtpd_tls_security_level = none

# Fast retries for tests.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
lmtp_connect_timeout = 5s
delay_warning_time = 0
bounce_queue_lifetime = 1d
maximal_queue_lifetime = 1d
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
in_flow_delay = 0

EOF
    cat "$PF_DIR/postconf.main"
    } >"$PF_DIR/etc/main.cf"
    cat >"$PF_DIR/etc/master.cf" <<EOF
# Throwaway forwarder instance: no chroot anywhere.
127.0.0.1:$PF_PORT inet n - n - - smtpd
pickup    unix  n       -       n       1       1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    cat "$PF_DIR/postconf.master" >>"$PF_DIR/etc/master.cf"
    _pf_settled "$PF_DIR/etc/main.cf" "$PF_DIR/etc/master.cf"
    t_on_exit "pf_stop"
}

pf_conf() {
    local l
    for l in "$@"; do
        postconf -c "$PF_DIR/etc" -e "$l" || t_fail "postconf -e $l"
    done
    _pf_settled "$PF_DIR/etc/main.cf"
}

# Postfix reads a configuration file only once it is 2 s old (it naps
# 300 ms at a time until then, so as not to read a file half written):
# date back the files we have finished writing.
_pf_settled() { touch -d '-10 seconds' "$@"; }

_pf_master_pid() {
    local f=$PF_DIR/queue/pid/master.pid
    [ -s "$f" ] && tr -dc 0-9 <"$f"
}

_pf_smtp_up() {
    (exec 3<>"/dev/tcp/127.0.0.1/$PF_PORT" && head -c 3 <&3 | grep -q 220) 2>/dev/null
}

pf_start() {
    _pf_settled "$PF_DIR/etc/main.cf" "$PF_DIR/etc/master.cf"
    postfix -c "$PF_DIR/etc" check >"$PF_DIR/check.log" 2>&1 ||
        t_fail "postfix check: $(cat "$PF_DIR/check.log")"
    postfix -c "$PF_DIR/etc" start >"$PF_DIR/start.log" 2>&1 ||
        t_fail "postfix start: $(cat "$PF_DIR/start.log")"
    t_wait 10 _pf_master_pid || t_fail "postfix master did not write its PID"
    PF_MASTER_PID=$(_pf_master_pid)
    t_track "$PF_MASTER_PID" "postfix master"
    t_wait 15 _pf_smtp_up || t_fail "postfix does not answer on 127.0.0.1:$PF_PORT"
}

# The processes of the instance: the master is a session leader and its
# children stay in its session.  Zombies do not count: the master's
# parent is init, which reaps it (and so its children) when it gets to it.
_pf_session() { ps -e -o pid= -o sid= -o stat= | awk -v s="$1" '$2 == s && $3 !~ /^Z/ { print $1 }'; }
_pf_session_gone() { [ -z "$(_pf_session "$1")" ]; }

# pf_stop: what "postfix stop" does (TERM to the master, which passes it to
# its children), without its 1 s naps; returns once every process of the
# instance has exited (KILL after 5 s).
pf_stop() {
    local pid
    pid=$(_pf_master_pid) || return 0
    [ -n "$pid" ] && t_alive "$pid" || return 0
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = master ] || return 0	# a stale PID file
    kill -TERM "$pid" 2>/dev/null
    t_wait 5 _pf_session_gone "$pid" && return 0
    # shellcheck disable=SC2046
    kill -KILL $(_pf_session "$pid") 2>/dev/null
    t_wait 2 _pf_session_gone "$pid"
    return 0
}

pf_reload() { postfix -c "$PF_DIR/etc" reload >/dev/null 2>&1; }
pf_flush() { postqueue -c "$PF_DIR/etc" -f >/dev/null 2>&1; }

pf_queue_count() {
    # Count queue files directly: postqueue -j would need showq.
    find "$PF_DIR/queue/maildrop" "$PF_DIR/queue/incoming" "$PF_DIR/queue/active" \
         "$PF_DIR/queue/deferred" "$PF_DIR/queue/hold" -type f 2>/dev/null | wc -l
}

_pf_queue_empty() { [ "$(pf_queue_count)" -eq 0 ]; }

pf_wait_queue_empty() {
    local secs=${1:-20} end
    end=$(( $(date +%s) + secs ))
    while [ "$(date +%s)" -lt "$end" ]; do
        _pf_queue_empty && return 0
        pf_flush
        t_wait 1 _pf_queue_empty && return 0
    done
    _pf_queue_empty
}

pf_log_grep() { grep -E "$@" "$PF_LOG" 2>/dev/null; }

_pf_new_token() {
    _pf_n=$((_pf_n + 1))
    PF_TOKEN="t$$-$_pf_n-$RANDOM"
}

pf_sendmail() {
    local from=$1; shift
    _pf_new_token
    printf 'From: %s\nSubject: fwdmap test %s\nX-Fwdmap-Test: %s\n\ntest message %s\n' \
        "$from" "$PF_TOKEN" "$PF_TOKEN" "$PF_TOKEN" | sendmail -C "$PF_DIR/etc" -f "$from" -- "$@"
}

pf_smtp() {
    local from=$1; shift
    local to
    to=$(IFS=,; echo "$*")
    _pf_new_token
    PF_LAST=$PF_DIR/smtp-$_pf_n.log
    swaks --server 127.0.0.1 --port "$PF_PORT" --helo client.fwdmap.invalid \
        ${PF_XCLIENT_ADDR:+--xclient-addr "$PF_XCLIENT_ADDR"} \
        --from "$from" --to "$to" --timeout 30 \
        --header "Subject: fwdmap test $PF_TOKEN" --header "X-Fwdmap-Test: $PF_TOKEN" \
        --body "test message $PF_TOKEN" >"$PF_LAST" 2>&1
    _pf_parse_last
}

# Print "RCPT <addr> <code> <text>" per recipient and "DATA <code> <text>"
# (the reply after the final dot) from the swaks transcript in $PF_LAST.
_pf_parse_last() {
    awk '
        function reply(line) { sub(/^ *<[-*~]+ */, "", line); return line }
        / -> RCPT TO:/ { r = $0; sub(/.*RCPT TO:</, "", r); sub(/>.*/, "", r); want = "rcpt"; next }
        / -> DATA$/ { want = "dataok"; next }
        / -> \.$/ { want = "dot"; next }
        /^ *<[-*~]+ / {
            line = reply($0)
            # a multi-line reply ends at "NNN " (not "NNN-")
            if (line ~ /^[0-9][0-9][0-9]-/) next
            if (want == "rcpt") { printf "RCPT %s %s\n", r, line }
            else if (want == "dot") { printf "DATA %s\n", line; sawdata = 1 }
            want = ""
        }
        END { if (!sawdata) print "DATA 000 not reached" }
    ' "$PF_LAST"
}

# pf_rcpt_code ADDR: the reply code ADDR got in the last pf_smtp.
pf_rcpt_code() {
    _pf_parse_last | awk -v a="$1" '$1 == "RCPT" && tolower($2) == tolower(a) { print $3; exit }'
}
# pf_rcpt_text ADDR: the whole reply ADDR got in the last pf_smtp.
pf_rcpt_text() {
    _pf_parse_last | awk -v a="$1" '$1 == "RCPT" && tolower($2) == tolower(a) { $1 = ""; $2 = ""; sub(/^  /, ""); print; exit }'
}
# pf_data_code: the reply code after the final dot in the last pf_smtp.
pf_data_code() { _pf_parse_last | awk '$1 == "DATA" { print $2; exit }'; }

# ---------------------------------------------------------------------------
# The whole forwarder for the end-to-end cases: sinks for every destination,
# slapd with the sample meta-directory (scripts/demo/directory.ldif, via
# tests/lib/slapd.sh), ldapsync, fwdmapd and the Postfix instance above.
#
#   fw_start		everything, ready for mail (fw_need + fw_sinks +
#			fw_slapd_start + fw_run)
#   fw_need		skip the case (77) when a program, root or slapd.sh is missing
#   fw_sinks		the six sinks below
#   fw_slapd_start / fw_slapd_stop / fw_slapd_restart	slapd "ldap" with the
#			sample directory (fw_ldif DEPT_HOST writes it)
#   fw_config URI...	write $FW_CONF from scripts/demo/fwdmap.json.in; with
#			FW_SRS_DOMAIN set, plus an srs section for it (secrets
#			in $FW_SRS_SECRETS, made if missing; the second pass on
#			a free port, $FW_SRS_PASS)
#   fw_run URI...	config, ldapsync --once, ldapsync, fwdmapd, Postfix
#   fw_ldapmodify [NAME]	changetype LDIF on stdin, as the rootdn
#   fw_sender		print a fresh sender address (Postfix caches the last
#			resolve result per sender+recipient for 30 s per
#			process; tests use a new sender per message)
#   fw_send RCPT...	pf_smtp with a fresh sender; the token is $PF_TOKEN
#   fw_query MAP KEY	what Postfix's own socketmap client gets (postmap -q)
#   fw_wait_query SECS MAP KEY REGEX	poll fw_query until it matches
#   fw_wait_notfound SECS MAP KEY	poll until the answer is NOTFOUND
#   fw_ldapsync_start / fw_ldapsync_stop / fw_fwdmapd_start / fw_fwdmapd_stop
#   fw_serial		the published generation's serial
#
# Sinks: exchange (SMTP), mytum (LMTP), dept (chemistry's own server, via
# fwdMailHost), physics (the old physics server, the ph.tum.de default
# route), outside (every external forward target), stray (relay_transport:
# mail for our domains that got no transport; must stay empty).

# The slapd helper, loaded here at top level: its "declare -A" arrays must
# be global, which they would not be if it were sourced inside a function.
# shellcheck source=slapd.sh
[ -f "$TOP/tests/lib/slapd.sh" ] && source "$TOP/tests/lib/slapd.sh"

FW_CONF=$TEST_TMP/fwdmap.json
FW_MAPS=$TEST_TMP/maps
FW_STATE=$TEST_TMP/state
FW_SOCK=$TEST_TMP/run/fwdmapd.sock
FW_CONTROL=$TEST_TMP/run/fwdmapd.ctl
FW_POLICY=$TEST_TMP/run/policy.sock
FW_LDAPSYNC_PID=
FW_FWDMAPD_PID=
FW_DEMO=$TOP/scripts/demo
_fw_n=0

# Postfix's processes run as "postfix" and must reach fwdmapd's socket:
# every directory above it needs search permission for others.
# Only directories we own below /tmp are touched.
_fw_traversable() {
    local d=$1
    while [ "$d" != / ] && [ "$d" != /tmp ] && [ -n "$d" ]; do
        case $d in /tmp/*) [ -O "$d" ] && chmod o+x "$d" 2>/dev/null ;; esac
        d=$(dirname "$d")
    done
}

fw_sinks() {
    sink_start exchange smtp
    sink_start mytum lmtp
    sink_start dept smtp
    sink_start physics smtp
    sink_start outside smtp
    sink_start stray smtp
}

# fw_config LDAP_URI...: write $FW_CONF from the demo template.
fw_config() {
    local uris="" u
    for u in "$@"; do uris="$uris${uris:+, }\"$u\""; done
    mkdir -p "$FW_MAPS" "$FW_STATE" "$(dirname "$FW_SOCK")"
    _fw_traversable "$(dirname "$FW_SOCK")"
    sed -e "s|@MAPS_DIR@|$FW_MAPS|" -e "s|@LDAP_URIS@|$uris|" \
        -e "s|@BIND_DN@|${SLAPD_BIND_DN:-}|" -e "s|@BIND_PW_FILE@|${SLAPD_PW_FILE:-}|" \
        -e "s|@EXCHANGE_PORT@|$(sink_port exchange)|" -e "s|@MYTUM_PORT@|$(sink_port mytum)|" \
        -e "s|@PHYSICS_PORT@|$(sink_port physics)|" -e "s|@STATE_DIR@|$FW_STATE|" \
        -e "s|@SOCKET@|$FW_SOCK|" -e "s|@CONTROL@|$FW_CONTROL|" \
        -e "s|@POLICY@|$FW_POLICY|" \
        "$FW_DEMO/fwdmap.json.in" >"$FW_CONF" || t_fail "writing $FW_CONF"
    [ -n "${FW_SRS_DOMAIN:-}" ] && _fw_srs_config
    return 0
}

FW_SRS_SECRETS=${FW_SRS_SECRETS:-$TEST_TMP/srs.secret}
FW_SRS_PASS=
_fw_srs_config() {
    if [ ! -s "$FW_SRS_SECRETS" ]; then
        (umask 077; printf 'srs-%s-%s\n' "$RANDOM$RANDOM" "$(date +%s%N)" >"$FW_SRS_SECRETS") ||
            t_fail "writing $FW_SRS_SECRETS"
    fi
    chmod 0600 "$FW_SRS_SECRETS"
    [ -n "$FW_SRS_PASS" ] || FW_SRS_PASS=$(t_port)
    jq --arg d "$FW_SRS_DOMAIN" --arg s "$FW_SRS_SECRETS" --arg p "127.0.0.1:$FW_SRS_PASS" \
        '. + {srs: {domain: $d, secrets_file: $s, pass_address: $p}}' "$FW_CONF" >"$FW_CONF.new" &&
        mv "$FW_CONF.new" "$FW_CONF" || t_fail "adding the srs section to $FW_CONF"
}

# fw_ldif DEPT_HOST: the sample directory with the department host filled
# in, without the entries slapd_init already loaded (suffix, ou=tum, ou=lmu).
fw_ldif() {
    local out=$TEST_TMP/directory.ldif
    sed -e "s|@DEPT_HOST@|$1|" "$FW_DEMO/directory.ldif" |
        awk -v RS= -v ORS='\n\n' '
            /(^|\n)dn: (dc=example,dc=org|ou=tum,dc=example,dc=org|ou=lmu,dc=example,dc=org)(\n|$)/ { next }
            { print }' >"$out" || t_fail "writing $out"
    echo "$out"
}

fw_slapd_start() {
    slapd_init ldap
    slapd_load ldap "$(fw_ldif "127.0.0.1:$(sink_port dept)")"
    slapd_start ldap
    SLAPD_URI=$(slapd_uri ldap)
    SLAPD_BIND_DN=$SLAPD_SYNCDN
    SLAPD_PW_FILE=$(slapd_pwfile ldap)
}
fw_slapd_stop() { slapd_stop ldap; }
fw_slapd_restart() { slapd_start ldap; }

# fw_ldapmodify [NAME]: changetype LDIF on stdin, applied as the rootdn to
# slapd NAME (default: the one fw_start started).
fw_ldapmodify() {
    local out
    out=$(slapd_modify "${1:-ldap}" - 2>&1) || t_fail "ldapmodify: $out"
}

fw_ldapsync_start() {
    "$(t_bin ldapsync)" -c "$FW_CONF" "$@" >>"$TEST_TMP/logs/ldapsync.log" 2>&1 &
    FW_LDAPSYNC_PID=$!
    t_track "$FW_LDAPSYNC_PID" ldapsync
}
fw_ldapsync_stop() { [ -n "$FW_LDAPSYNC_PID" ] && t_stop_pid "$FW_LDAPSYNC_PID"; FW_LDAPSYNC_PID=; }

_fw_sock_ok() { [ -S "$FW_SOCK" ] && fw_query domains tum.de >/dev/null; }

fw_fwdmapd_start() {
    "$(t_bin fwdmapd)" -f -c "$FW_CONF" >>"$TEST_TMP/logs/fwdmapd.log" 2>&1 &
    FW_FWDMAPD_PID=$!
    t_track "$FW_FWDMAPD_PID" fwdmapd
    t_wait 10 _fw_sock_ok || t_fail "fwdmapd does not answer on $FW_SOCK (see logs/fwdmapd.log: $(tail -n 3 "$TEST_TMP/logs/fwdmapd.log"))"
}
fw_fwdmapd_stop() { [ -n "$FW_FWDMAPD_PID" ] && t_stop_pid "$FW_FWDMAPD_PID"; FW_FWDMAPD_PID=; }

# fw_query MAP KEY: print the value and return 0 (OK), return 1 (NOTFOUND)
# or 2 (TEMP, PERM or no answer).  postmap needs a main.cf: ours once the
# instance exists, else an empty one (a fresh Debian may have none in
# /etc/postfix).
fw_query() {
    local cf=$PF_DIR/etc out rc
    if [ ! -f "$cf/main.cf" ]; then
        cf=$TEST_TMP/postmap-etc
        [ -f "$cf/main.cf" ] || { mkdir -p "$cf" && : >"$cf/main.cf" && _pf_settled "$cf/main.cf"; }
    fi
    out=$(postmap -c "$cf" -q "$2" "socketmap:unix:$FW_SOCK:$1" 2>"$TEST_TMP/postmap.err")
    rc=$?
    [ -s "$TEST_TMP/postmap.err" ] && return 2
    [ $rc -eq 0 ] && printf '%s\n' "$out"
    return $rc
}

_fw_query_match() { local v; v=$(fw_query "$1" "$2") || return 1; [[ $v =~ $3 ]]; }
fw_wait_query() { t_wait "$1" _fw_query_match "$2" "$3" "$4"; }
_fw_query_notfound() { fw_query "$1" "$2" >/dev/null; [ $? -eq 1 ]; }	# not TEMP
fw_wait_notfound() { t_wait "$1" _fw_query_notfound "$2" "$3"; }

fw_serial() {	# the serial of what fwdmapd serves: the delta's if there is one
    "$(t_bin fwdmap)" -d "$FW_MAPS" info 2>/dev/null | python3 -c '
import json, sys
i = json.load(sys.stdin)
print((i.get("delta") or i["base"])["serial"])' 2>/dev/null
}

fw_sender() { echo "sender.$(date +%s%N).$RANDOM@example.com"; }

fw_send() { pf_smtp "$(fw_sender)" "$@"; }

_fw_published() { [ -s "$FW_MAPS/fwdmap.cdb" ]; }

# fw_need: skip the case unless the programs and the slapd helper exist.
fw_need() {
    local p
    for p in ldapsync fwdmapd fwdmap; do
        [ -x "$(t_bin $p)" ] || t_skip "$(t_bin $p) not built"
    done
    for p in smtp-sink swaks postfix slapd; do
        command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || t_skip "$p not installed"
    done
    [ "$(id -u)" = 0 ] || t_skip "the throwaway Postfix needs root"
    declare -F slapd_init >/dev/null || t_skip "tests/lib/slapd.sh not there"
}

# fw_run URI...: config for these LDAP URIs, one full sync, ldapsync
# (continuous), fwdmapd, Postfix.  Sinks and slapd must be up.
fw_run() {
    fw_config "$@"
    "$(t_bin ldapsync)" -c "$FW_CONF" --once >>"$TEST_TMP/logs/ldapsync.log" 2>&1 ||
        t_fail "ldapsync --once failed: $(tail -n 5 "$TEST_TMP/logs/ldapsync.log")"
    _fw_published || t_fail "ldapsync --once published nothing in $FW_MAPS"
    fw_ldapsync_start
    fw_fwdmapd_start
    pf_init "unix:$FW_SOCK" "$(sink_port outside)" "$(sink_port stray)"
    pf_start
}

# fw_start: the whole forwarder on one slapd with the sample directory.
fw_start() {
    fw_need
    fw_sinks
    fw_slapd_start
    fw_run "$SLAPD_URI"
}
