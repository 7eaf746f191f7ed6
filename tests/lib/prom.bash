# tests/lib/prom.bash - scrape a /metrics endpoint in a case (17, 81).
# Sourced after tests/lib/common.sh; not a test itself.
#
#   prom_need          skip unless Debian's prometheus_client and promtool
#                      are installed (scripts/install-deps.sh installs both)
#   scrape             fetch $URL, validate it with prometheus_client
#                      (tests/lib/prom.py) and `promtool check metrics`;
#                      the canonical samples go to $M, the raw text to
#                      $T/raw.N
#   val SAMPLE         its value in the last scrape, "absent" if not there
#                      (SAMPLE as printed: name{k="v",...}, labels sorted)
#   is SAMPLE VALUE    (t_wait helper) a fresh scrape shows exactly VALUE
#   ge SAMPLE MIN      (t_wait helper) a fresh scrape shows at least MIN
#   http_status URL [METHOD]   the HTTP status code

PY=/usr/bin/python3
_prom_n=0
M=

prom_need() {
    "$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
        t_skip "python3-prometheus-client not installed (scripts/install-deps.sh)"
    command -v promtool >/dev/null || t_skip "promtool not installed (package prometheus)"
}

scrape() {
    _prom_n=$((_prom_n+1))
    "$PY" "$TOP/tests/lib/prom.py" scrape "$URL" "$T/raw.$_prom_n" > "$T/m.$_prom_n" ||
        t_fail "scrape $_prom_n did not validate (raw text in $T/raw.$_prom_n)"
    [ -s "$T/raw.$_prom_n" ] || t_fail "scrape $_prom_n: empty"
    promtool check metrics < "$T/raw.$_prom_n" > "$T/promtool.$_prom_n" 2>&1 ||
        t_fail "promtool check metrics: $(cat "$T/promtool.$_prom_n")"
    M="$T/m.$_prom_n"
}

val() {
    local v
    v=$(grep -F -- "$1 " "$M" | awk '{print $NF}')
    echo "${v:-absent}"
}

is() { scrape; [ "$(val "$1")" = "$2" ]; }
ge() { local v; scrape; v=$(val "$1"); [ "$v" != absent ] && [ "$v" -ge "$2" ]; }

http_status() { "$PY" "$TOP/tests/lib/prom.py" status "$@"; }
