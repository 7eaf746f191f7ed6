#!/bin/sh
# scripts/install-deps.sh - install the Debian 12 packages fwdmap needs to
# build, test, benchmark and run its demo.  Idempotent: does nothing when
# everything is there.  Run by `make deps`, `make check` and `make demo`.
#
#   scripts/install-deps.sh --runtime   (`make deps-runtime`)
#	only what building and running the programs needs (compiler, the
#	-dev libraries, Postfix): no slapd, clang, strace, swaks or other
#	test tools, for a production forwarder built from source.  (With the
#	Debian package, `apt install ./fwdmap_*.deb` pulls in what it needs.)
#
# Installing slapd and postfix must not leave a system slapd or Postfix
# running (the tests start their own on loopback): services are kept from
# starting with a temporary policy-rc.d, and debconf is told not to
# configure either package.
set -eu

PKGS="build-essential clang libclang-rt-14-dev pkg-config
      libcdb-dev tinycdb libjansson-dev libldap-dev
      libmicrohttpd-dev
      python3-prometheus-client
      prometheus
      slapd ldap-utils postfix postfix-cdb postfix-ldap swaks
      procps iproute2 time python3 bsdextrautils jq man-db strace
      nettle-dev
      postsrsd
      faketime
      python3-dkim
      debhelper
      dpkg-dev
      lintian
      adduser
      systemd
      util-linux
      graphviz
"
RUNTIME_PKGS="build-essential pkg-config libcdb-dev libjansson-dev libldap-dev
      libmicrohttpd-dev
      nettle-dev
      postfix"
case ${1:-} in
--runtime) PKGS=$RUNTIME_PKGS ;;
"") ;;
*) echo "usage: $0 [--runtime]" >&2; exit 2 ;;
esac

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-deps: need root to install:$missing" >&2
        exit 1
    fi
fi

# Keep package scripts from starting services.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
fi
cleanup() { [ "$made_policy" = 1 ] && $SUDO rm -f "$policy"; return 0; }
trap cleanup EXIT INT TERM

# Postfix and slapd without interactive configuration.
printf '%s\n' \
    "postfix postfix/main_mailer_type select No configuration" \
    "postfix postfix/mailname string fwdmap.invalid" \
    "slapd slapd/no_configuration boolean true" \
    | $SUDO debconf-set-selections

export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -q --no-install-recommends $missing; then
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi

# The prometheus package (for promtool) enables its server for the next
# boot; a build or test machine needs none: disable it when installed here.
case " $missing " in
*" prometheus "*)
    $SUDO systemctl disable prometheus.service >/dev/null 2>&1 \
        || $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true ;;
esac

# Should anything have started anyway, stop the system instances: the tests
# run their own and must not find ports or queues taken.  Not on a
# production forwarder (--runtime): its Postfix is the admin's.
[ "${1:-}" = --runtime ] && { echo "install-deps: done"; exit 0; }
for svc in slapd postfix prometheus; do
    if command -v service >/dev/null 2>&1 && pgrep -x "$svc" >/dev/null 2>&1; then
        $SUDO service "$svc" stop >/dev/null 2>&1 || true
    fi
done
if pgrep -f '/usr/lib/postfix/sbin/master' >/dev/null 2>&1; then
    $SUDO postfix stop >/dev/null 2>&1 || true
fi
echo "install-deps: done"
