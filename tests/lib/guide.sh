# tests/lib/guide.sh - the commands of docs/install.md, for the cases that
# walk the guide (tests/cases/90-deb-install.sh, 91-ldapsync-acl.sh).
#
# A block of the guide that a test runs is marked by a line
# "<!-- guide: NAME -->" right before its ``` fence.  So the documented
# path is the tested path: change the guide and the tests run the change.
#
#   guide_block NAME [FILE]	print the block's lines (the fence's own
#				indentation removed); fails the test when
#				there is no such block or it is empty
#   guide_run NAME [SED-EXPR...]	run the block with bash -e (after the
#				sed expressions, if any); its status

GUIDE=${GUIDE:-$TOP/docs/install.md}

guide_block() {
    local out
    out=$(awk -v name="$1" '
        index($0, "<!-- guide: " name " -->") { want = 1; next }
        want && /^[[:space:]]*```/ {
            if (inblk) exit
            inblk = 1; match($0, /^[[:space:]]*/); ind = RLENGTH; next
        }
        inblk { print substr($0, ind + 1) }
    ' "${2:-$GUIDE}")
    [ -n "$out" ] || t_fail "no block \"guide: $1\" in ${2:-$GUIDE}"
    printf '%s\n' "$out"
}

guide_run() {
    local name=$1 code e; shift
    code=$(guide_block "$name") || return 1
    for e in "$@"; do code=$(printf '%s\n' "$code" | sed -e "$e"); done
    printf '%s\n' "---- guide: $name" "$code" >>"$TEST_TMP/logs/guide.log"
    bash -e -c "$code"
}
