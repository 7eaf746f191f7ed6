#!/usr/bin/env bash
# asan: yes
# 19-fwdmap-explain-postfix.sh - `fwdmap explain` on a destination that is
# not in fwdmap's tables (a forward target outside): Postfix decides, with
# default_transport and relayhost.  explain must not claim "DNS MX" where
# a relayhost is set (issue 12): it reads both with postconf(1) from the
# Postfix configuration (MAIL_CONFIG honoured), and says that it cannot
# know them when postconf cannot be run.
source "$TOP/tests/lib/common.sh"
command -v postconf >/dev/null || t_skip "postconf (postfix) not installed"
FWDMAP=$(t_bin fwdmap)
fm() { "$FWDMAP" -d "$T/maps" -D + "$@"; }
mkdir -p "$T/maps"
fm compile -s 1 <<'IN' || t_fail "compile"
D tum.de tum reject
R jane.doe@tum.de tum
V jane.doe@tum.de jane.doe@tum.de,jane@gmail.com
T jane.doe@tum.de smtp:[exchange.example.org]:25
IN

# pf NAME LINES: a Postfix configuration directory with these main.cf lines.
pf() { mkdir -p "$T/$1"; printf '%s\n' "${@:2}" >"$T/$1/main.cf"; echo "$T/$1"; }
dest() { fm explain jane.doe@tum.de | sed -n 's/^ *\(delivered to\)\{0,1\} *jane@gmail.com -> //p'; }

# A relayhost: the forward leaves through it.
export MAIL_CONFIG
MAIL_CONFIG=$(pf relay "relayhost = [smarthost.example.org]:587")
out=$(dest)
t_eq "with relayhost" "(not in fwdmap's tables: Postfix default_transport smtp via relayhost [smarthost.example.org]:587)" "$out"
t_eq "store unchanged" "jane.doe@tum.de -> smtp:[exchange.example.org]:25" \
    "$(fm explain jane.doe@tum.de | sed -n 's/^  delivered to *//p')"
t_eq "json" "(not in fwdmap's tables: Postfix default_transport smtp via relayhost [smarthost.example.org]:587)" \
    "$(fm explain -j jane.doe@tum.de | jq -r '.destinations[] | select(.address == "jane@gmail.com") | .transport')"

# No relayhost: the domain's MX hosts.
MAIL_CONFIG=$(pf plain "myhostname = fw.example.org")
t_eq "without relayhost" "(not in fwdmap's tables: Postfix default_transport smtp, to the domain's MX hosts)" "$(dest)"

# default_transport with its own next hop: that, whatever relayhost says.
MAIL_CONFIG=$(pf nexthop "default_transport = smtp:[outbound.example.org]:25" "relayhost = [smarthost.example.org]")
t_eq "default_transport with next hop" "(not in fwdmap's tables: Postfix default_transport smtp:[outbound.example.org]:25)" "$(dest)"

# postconf fails (no main.cf there) or is not on PATH: explain says so.
MAIL_CONFIG=$T/nonexistent
t_eq "postconf fails" "(not in fwdmap's tables: Postfix's default_transport and relayhost decide; postconf not available)" "$(dest)"
MAIL_CONFIG=$T/relay
out=$(PATH=/nonexistent fm explain jane.doe@tum.de) || t_fail "explain without postconf on PATH: $out"
t_match "no postconf" "jane@gmail.com -> \(not in fwdmap's tables: Postfix's default_transport and relayhost decide; postconf not available\)" "$out"
[[ $out == *"DNS MX"* ]] && t_fail "explain still claims DNS MX: $out"
exit 0
