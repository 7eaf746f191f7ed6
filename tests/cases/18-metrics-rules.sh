#!/usr/bin/env bash
# The alerting rules in docs/monitoring/ pass `promtool check rules` and
# their unit tests (`promtool test rules`); every metric they and the
# dashboard use is one the daemons export (named in their sources), so a
# renamed metric cannot leave an alert silently dead; the dashboard is
# valid JSON.
source "$TOP/tests/lib/common.sh"

command -v promtool >/dev/null || t_skip "promtool not installed (package prometheus)"
D="$TOP/docs/monitoring"
promtool check rules "$D/fwdmap-alerts.yml" > "$T/check.out" 2>&1 ||
    t_fail "promtool check rules: $(cat "$T/check.out")"
grep -q 'SUCCESS: [1-9][0-9]* rules found' "$T/check.out" || t_fail "no rules found: $(cat "$T/check.out")"
# promtool resolves rule_files relative to the test file.
(cd "$D" && promtool test rules fwdmap-alerts.test.yml) > "$T/test.out" 2>&1 ||
    t_fail "promtool test rules: $(cat "$T/test.out")"
grep -q SUCCESS "$T/test.out" || t_fail "promtool test rules: $(cat "$T/test.out")"

# The tests fail when an alert does not fire as promised: shift one
# threshold and the same tests must fail.
cp "$D/fwdmap-alerts.test.yml" "$T/"
sed 's/fwdmap_generation_loaded == 0/fwdmap_generation_loaded == 2/' "$D/fwdmap-alerts.yml" > "$T/fwdmap-alerts.yml"
(cd "$T" && promtool test rules fwdmap-alerts.test.yml) > "$T/broken.out" 2>&1 &&
    t_fail "the rule tests pass with a broken rule"

# Every fwdmap_* name used by the rules and the dashboard is exported.
exported=$(cat "$TOP"/fwdmapd/*.c "$TOP"/ldapsync/*.c "$TOP"/maps/*.c | grep -o '"fwdmap_[a-z_]*"' | tr -d '"' | sort -u)
used=$(cat "$D/fwdmap-alerts.yml" "$D/fwdmap-dashboard.json" | grep -o 'fwdmap_[a-z_]*' | sort -u)
for m in $used; do
    base=$m
    for suf in _bucket _sum _count; do base=${base%$suf}; done
    grep -qx -- "$base" <<<"$exported" || t_fail "docs/monitoring uses $m, which no daemon exports"
done
[ -n "$used" ] || t_fail "no metric names found in the rules"
jq -e '.panels | length > 0' "$D/fwdmap-dashboard.json" >/dev/null || t_fail "dashboard JSON"
