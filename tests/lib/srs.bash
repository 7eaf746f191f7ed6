# tests/lib/srs.bash - SRS helpers for the SRS cases (tests/cases/3*.sh, 66-68).
# Sourced after tests/lib/common.sh; not a test itself.
#
#   srs_conf_add FILE DOMAIN SECRETS [PASS]   add an "srs" section to a
#                                  fwdmap.json (jq), pass_address PASS if given
#   srs_secrets FILE LINE...       write a secrets file, mode 0600
#   srs_mint SECRET DOMAIN SENDER [DAYS_AGO [HASHLEN]]
#                                  print the SRS0 address an independent
#                                  implementation (Python's hmac, base64)
#                                  makes for SENDER, DAYS_AGO days ago
#   srs_stamp [DAYS_AGO]           the two-character day stamp
#   postsrsd_start SECRETS DOMAIN [FAKETIME]
#                                  Debian's postsrsd on 127.0.0.1 (ports
#                                  $PSRS_FWD, $PSRS_REV), optionally under
#                                  libfaketime (faked); stopped at exit
#   postsrsd_get PORT KEY          one tcp_table request: prints "200 VALUE"
#                                  or "500 reason"

srs_conf_add() {
    local f=$1 dom=$2 sec=$3 pass=${4:-}
    local extra=""
    [ -n "$pass" ] && extra=", \"pass_address\": \"$pass\""
    jq ". + {\"srs\": {\"domain\": \"$dom\", \"secrets_file\": \"$sec\"$extra}}" "$f" >"$f.new" &&
        mv "$f.new" "$f" || t_fail "srs_conf_add $f"
}

srs_secrets() {
    local f=$1; shift
    (umask 077; printf '%s\n' "$@" >"$f") || t_fail "writing $f"
    chmod 0600 "$f"
}

srs_mint() {
    /usr/bin/python3 - "$@" <<'PY'
import base64, hashlib, hmac, sys, time
secret, domain, sender = sys.argv[1], sys.argv[2], sys.argv[3]
ago = int(sys.argv[4]) if len(sys.argv) > 4 else 0
hl = int(sys.argv[5]) if len(sys.argv) > 5 else 4
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
day = int(time.time()) // 86400 - ago
st = B32[(day >> 5) & 31] + B32[day & 31]
user, host = sender.rsplit("@", 1)
mac = hmac.new(secret.encode(), (st + host + user).lower().encode(), hashlib.sha1).digest()
print("SRS0=%s=%s=%s=%s@%s" % (base64.b64encode(mac).decode()[:hl], st, host, user, domain))
PY
}

srs_stamp() {
    /usr/bin/python3 -c '
import sys, time
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
day = int(time.time()) // 86400 - int(sys.argv[1])
print(B32[(day >> 5) & 31] + B32[day & 31])' "${1:-0}"
}

# faked FAKETIME CMD...: run CMD with libfaketime preloaded, as
# `faketime -f FAKETIME CMD` does, but without faketime's wrapper process:
# started in the background, $! is CMD itself, so t_track stops it.
faked() {
    local fake=$1 lib
    shift
    lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
    [ -n "$lib" ] || t_skip "faketime not installed (no libfaketime.so.1)"
    LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}" FAKETIME="$fake" exec "$@"
}

PSRS_FWD=
PSRS_REV=
postsrsd_start() {
    local sec=$1 dom=$2 fake=${3:-} pid
    command -v postsrsd >/dev/null || [ -x /usr/sbin/postsrsd ] || t_skip "postsrsd not installed"
    PSRS_FWD=$(t_port)
    PSRS_REV=$(t_port)
    if [ -n "$fake" ]; then
        command -v faketime >/dev/null || t_skip "faketime not installed"
        faked "$fake" /usr/sbin/postsrsd -s "$sec" -d "$dom" -f "$PSRS_FWD" -r "$PSRS_REV" \
            -l 127.0.0.1 -4 >>"$T/logs/postsrsd.log" 2>&1 &
    else
        /usr/sbin/postsrsd -s "$sec" -d "$dom" -f "$PSRS_FWD" -r "$PSRS_REV" \
            -l 127.0.0.1 -4 >>"$T/logs/postsrsd.log" 2>&1 &
    fi
    pid=$!
    t_track "$pid" postsrsd
    t_wait 10 _psrs_up "$PSRS_REV" || t_fail "postsrsd does not answer: $(tail -n 3 "$T/logs/postsrsd.log")"
}
_psrs_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

postsrsd_get() {
    local port=$1 key=$2 line
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'get %s\n' "$key" >&3
    IFS= read -r -t 5 line <&3
    exec 3<&-
    printf '%s\n' "${line%$'\r'}"
}
