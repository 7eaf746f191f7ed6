#!/usr/bin/env bash
# bench/run.sh - every benchmark, each side by side with the alternative a
# user would pick, in one run.  Results are printed and kept in
# bench/results/ ; docs/benchmarks.md records them with the machine.
#
#   bench/run.sh [fwdmapd|ldapsync|groups-ldap|metrics|srs ...]
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 2
export TOP FWDMAP_BUILD="$TOP/build"
mkdir -p bench/results
which=("$@")
[ ${#which[@]} -eq 0 ] && which=(fwdmapd ldapsync groups-ldap metrics srs)
rc=0
for b in "${which[@]}"; do
    if [ ! -x "bench/$b.sh" ]; then
        echo "bench: no bench/$b.sh" >&2; rc=1; continue
    fi
    echo "=== bench $b ($(date -u +%FT%TZ), $(nproc) cores)"
    bash "bench/$b.sh" 2>&1 | tee "bench/results/$b.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || rc=1
done
exit $rc
