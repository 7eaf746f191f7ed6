#!/usr/bin/env bash
# scripts/demo.sh - the fwdmap demo (run by `make demo`, after `make deps all`).
#
#   scripts/demo.sh [--keep-running]
#
# Starts, all on 127.0.0.1 and all in one directory under /tmp:
#   - a private slapd holding the sample meta-directory scripts/demo/directory.ldif
#     (tenants TUM, LMU, LRZ, BAdW: staff on Exchange, students on myTUM,
#     alumni with forwards only, chemistry on its own server, physics in the
#     middle of its migration, and a few deliberately bad entries);
#   - ldapsync (one full sync, then continuous) and fwdmapd, configured by
#     scripts/demo/fwdmap.json.in;
#   - a private Postfix instance configured as the forwarder;
#   - smtp-sink "stores": Exchange (SMTP), myTUM (LMTP), chemistry's server,
#     the old physics server, and "the Internet" for external forwards.
# Then it sends sample mail with swaks, prints where each recipient's mail
# went (or why it was rejected), makes one change in the directory and shows
# that the next message follows it without touching Postfix.
#
# Everything it started is stopped when it ends or on Ctrl-C (by PID).  The
# logs stay in the demo directory, which is printed at the end.  With
# --keep-running it waits for Ctrl-C before stopping, so that you can try
# swaks, `fwdmap explain` or ldapmodify yourself.

set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
KEEP_RUNNING=0
case "${1:-}" in
--keep-running) KEEP_RUNNING=1 ;;
"") ;;
*) echo "usage: $0 [--keep-running]" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
    echo "demo: run me as root (the private Postfix instance needs it): sudo make demo" >&2
    exit 1
fi
for p in fwdmapd ldapsync fwdmap; do
    [ -x "${FWDMAP_BUILD:-$TOP/build}/$p" ] || { echo "demo: build/$p is missing; run: make" >&2; exit 1; }
done
for p in slapd slapadd ldapmodify postfix postmap smtp-sink swaks; do
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] ||
        { echo "demo: $p is missing; run: make deps" >&2; exit 1; }
done
export PATH="$PATH:/usr/sbin:/sbin"

DEMO_DIR=$(mktemp -d /tmp/fwdmap-demo.XXXXXX)
chmod 755 "$DEMO_DIR"
export TEST_TMP=$DEMO_DIR FWDMAP_BUILD=${FWDMAP_BUILD:-$TOP/build} TOP
# The test helpers give us: processes tracked by PID and stopped on exit or
# Ctrl-C, loopback ports, slapd/Postfix/smtp-sink fixtures.
# shellcheck source=../tests/lib/common.sh
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/sink.sh"
source "$TOP/tests/lib/postfix.sh"	# also loads tests/lib/slapd.sh

# Ctrl-C and kill are handled by common.sh (everything is stopped by PID);
# also stop cleanly when the terminal goes away, and keep going (to clean
# up) when stdout is a pipe that was closed, e.g. "make demo | head".
trap 'exit 129' HUP
trap '' PIPE

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { printf '\n'; bold "== $*"; }

_demo_done() {
    printf '\n'
    bold "== Stopping everything the demo started (by PID). Logs are kept in $DEMO_DIR:"
    cat <<EOF
   ldapsync     $DEMO_DIR/logs/ldapsync.log   (sync report: $FW_STATE/)
   fwdmapd      $DEMO_DIR/logs/fwdmapd.log
   Postfix      $DEMO_DIR/postfix/maillog
   slapd        $DEMO_DIR/slapd-ldap/slapd.log
   stores       $DEMO_DIR/sinks/<store>/   (one file per message received)
   config       $FW_CONF
   tables       $FW_MAPS/   (try: build/fwdmap -d $FW_MAPS explain jane.doe@tum.de)
   Remove with: rm -rf $DEMO_DIR
EOF
}
# common.sh runs exit handlers with their output discarded: write to a
# saved copy of stdout.
exec 9>&1
t_on_exit "_demo_done >&9"

# Friendly names of the sinks.
declare -A STORE_NAME=(
    [exchange]="Exchange"
    [mytum]="myTUM (LMTP)"
    [dept]="chemistry's own server"
    [physics]="old physics server"
    [outside]="Internet"
    [stray]="NO ROUTE (bug!)"
)

step "Starting the stores (smtp-sink on loopback)"
fw_sinks
for n in exchange mytum dept physics outside; do
    printf '   %-24s 127.0.0.1:%s\n' "${STORE_NAME[$n]}" "$(sink_port "$n")"
done

step "Starting slapd with the sample meta-directory (scripts/demo/directory.ldif)"
fw_slapd_start
printf '   %s, %s entries with fwdMailRecipient\n' "$SLAPD_URI" \
    "$(slapd_search ldap '(objectClass=fwdMailRecipient)' dn | grep -c '^dn:')"

step "ldapsync: one full sync, then following the directory (refreshAndPersist)"
fw_config "$SLAPD_URI"
if ! "$(t_bin ldapsync)" -c "$FW_CONF" --once >>"$DEMO_DIR/logs/ldapsync.log" 2>&1; then
    echo "ldapsync --once failed:" >&2; tail -n 20 "$DEMO_DIR/logs/ldapsync.log" >&2; exit 1
fi
tail -n 3 "$DEMO_DIR/logs/ldapsync.log" | sed 's/^/   /'
fw_ldapsync_start
"$(t_bin fwdmap)" -c "$FW_CONF" info 2>/dev/null | python3 -c '
import json, sys
b = json.load(sys.stdin)["base"]
c = b["counts"]
print("   published generation %s: %s domains, %s recipient addresses, %s expansions, %s transports, %s rejected claims"
      % (b["serial"], c.get("D", 0), c.get("R", 0), c.get("V", 0), c.get("T", 0), c.get("X", 0)))
' 2>/dev/null || true

step "fwdmapd and a private Postfix forwarder"
fw_fwdmapd_start
pf_init "unix:$FW_SOCK" "$(sink_port outside)" "$(sink_port stray)"
pf_start
printf '   fwdmapd on %s, Postfix on 127.0.0.1:%s (config %s)\n' "$FW_SOCK" "$PF_PORT" "$PF_DIR/etc"
postconf -c "$PF_DIR/etc" -n relay_domains relay_recipient_maps virtual_alias_maps \
    virtual_alias_domains transport_maps | sed 's/^/   /'

# --------------------------------------------------------------- the mail
# recipient | what the sample directory says about it
CASES=(
    "jane.doe@tum.de|TUM staff, mailbox on Exchange"
    "j.doe@tum.de|alias of jane.doe"
    "Jane.Doe+Lists@TUM.de|extension and mixed case"
    "jane.doe@ei.tum.de|alias in a department domain"
    "erika.mustermann@tum.de|Exchange plus an extra forward"
    "max.muster@mytum.de|TUM student, mailbox on myTUM"
    "ga12abc@mytum.de|student's alias"
    "hans.alt@alumni.tum.de|alumnus, forward only"
    "grete.alt@alumni.tum.de|alumna, same target as hans"
    "olga.ehemalig@alumni.tum.de|alumna with two forwards"
    "clara.chemie@ch.tum.de|chemistry: own mail server"
    "paul.physik@ph.tum.de|physics, already migrated"
    "einstein@ph.tum.de|physics, not yet migrated"
    "anna.schmidt@lmu.de|LMU staff, Exchange"
    "praesident@lmu.de|LMU; also claimed by a TUM entry"
    "postmaster@lrz.de|LRZ alias"
    "tom.huber@lrz.de|LRZ, mailbox on myTUM"
    "k.weber@badw.de|BAdW alias with a forward"
    "nobody@tum.de|unknown, strict domain"
    "info@lrz.de|claimed only by a TUM entry"
    "bad.store@tum.de|entry names an unknown store"
    "bad.external@ch.tum.de|external without fwdMailHost"
    "bad.forward@alumni.tum.de|forward smuggles a 2nd address"
)
declare -A TOKEN CODE TEXT

step "Sending one message per recipient with swaks"
for c in "${CASES[@]}"; do
    r=${c%%|*}
    pf_smtp "$(fw_sender)" "$r" >/dev/null
    TOKEN[$r]=$PF_TOKEN
    CODE[$r]=$(pf_rcpt_code "$r")
    TEXT[$r]=$(pf_rcpt_text "$r")
    printf '.'
done
printf ' %d messages\n' "${#CASES[@]}"

# One message with several recipients in different stores.
MULTI=(jane.doe@tum.de max.muster@mytum.de clara.chemie@ch.tum.de hans.alt@alumni.tum.de einstein@ph.tum.de)
pf_smtp "$(fw_sender)" "${MULTI[@]}" >/dev/null
MULTI_TOKEN=$PF_TOKEN
echo "   and one message to ${#MULTI[@]} recipients: ${MULTI[*]}"

pf_wait_queue_empty 60 || echo "   (some mail is still queued: $(pf_queue_count) message(s); see the maillog)"

# where TOKEN went: "Store <rcpt>, Store <rcpt>"
reached() {
    local tok=$1 n r out=""
    for n in exchange mytum dept physics outside stray; do
        for r in $(sink_rcpts "$n" "$tok" | sort -u); do
            out="$out${out:+, }${STORE_NAME[$n]} <$r>"
        done
    done
    echo "${out:-(nothing arrived)}"
}

step "Result: where each recipient's mail went"
printf '%-28s %-33s %s\n' "RECIPIENT" "CASE" "REACHED (store <envelope recipient>)"
printf '%-28s %-33s %s\n' "---------" "----" "-------"
for c in "${CASES[@]}"; do
    r=${c%%|*}; what=${c#*|}
    [ "${CODE[$r]}" = 250 ] || continue
    printf '%-28s %-33s %s\n' "$r" "$what" "$(reached "${TOKEN[$r]}")"
done
printf '\nOne message to several recipients:\n'
reached "$MULTI_TOKEN" | tr ',' '\n' | sed 's/^ */   /'

step "Rejected at RCPT time (5xx: the sender's server keeps the message, no bounce from us)"
printf '%-28s %-33s %s\n' "RECIPIENT" "CASE" "SMTP REPLY"
for c in "${CASES[@]}"; do
    r=${c%%|*}; what=${c#*|}
    [ "${CODE[$r]}" = 250 ] && continue
    printf '%-28s %-33s %s\n' "$r" "$what" "${TEXT[$r]}"
done

step "Why? fwdmap explain (what the published tables say, and where it came from)"
for r in j.doe@tum.de einstein@ph.tum.de info@lrz.de praesident@lmu.de; do
    bold "\$ fwdmap explain $r"
    "$(t_bin fwdmap)" -c "$FW_CONF" explain "$r" 2>&1 | sed 's/^/   /'
done

report=$(ls "$FW_STATE"/*report*.json 2>/dev/null | head -n 1)
if [ -n "$report" ]; then
    step "ldapsync's report on the bad entries ($report)"
    python3 - "$report" <<'PY' 2>/dev/null || sed 's/^/   /' "$report" | head -n 40
import json, sys
r = json.load(open(sys.argv[1]))
def walk(o):
    if isinstance(o, dict):
        if "dn" in o and ("reason" in o or "why" in o):
            yield o
        for v in o.values():
            yield from walk(v)
    elif isinstance(o, list):
        for v in o:
            yield from walk(v)
seen = set()
for e in walk(r):
    extra = e.get("address") or e.get("value") or ""
    key = (e.get("dn"), e.get("reason", e.get("why")), extra)
    if key in seen:
        continue
    seen.add(key)
    print("   %-44s %s%s" % (e["dn"], key[1], (": " + extra) if extra else ""))
if not seen:
    raise SystemExit(1)
PY
fi

step "A change in the directory: max.muster moves from myTUM to Exchange"
serial_before=$(fw_serial)
fw_ldapmodify <<LDIF
dn: uid=max.muster,ou=tum,dc=example,dc=org
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: exchange
LDIF
start=$(date +%s%N)
if fw_wait_query 20 transport max.muster@mytum.de "127\\.0\\.0\\.1\\]:$(sink_port exchange)\$"; then
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "   the tables answered the new route after ${ms} ms (generation ${serial_before:-?} -> $(fw_serial)), no Postfix reload"
    pf_smtp "$(fw_sender)" max.muster@mytum.de >/dev/null
    tok=$PF_TOKEN
    pf_wait_queue_empty 30 >/dev/null
    printf '   %-28s %s\n' "max.muster@mytum.de" "$(reached "$tok")"
else
    echo "   the change did not reach the tables within 20 s (see $DEMO_DIR/logs/ldapsync.log)"
fi

if [ "$(sink_total stray)" -gt 0 ]; then
    echo; echo "WARNING: $(sink_total stray) message(s) for our domains had no route (see the maillog)"
fi

if [ "$KEEP_RUNNING" = 1 ]; then
    step "Everything keeps running; press Ctrl-C to stop. Try:"
    cat <<EOF
   swaks --server 127.0.0.1:$PF_PORT --to olga.ehemalig@alumni.tum.de
   $TOP/build/fwdmap -c $FW_CONF explain olga.ehemalig@alumni.tum.de
   $TOP/build/fwdmapd -c $FW_CONF -S
   ldapmodify -x -H $SLAPD_URI -D '$SLAPD_ROOTDN' -w $SLAPD_ROOTPW
EOF
    while :; do sleep 3600; done
fi
exit 0
