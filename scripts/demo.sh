#!/usr/bin/env bash
# scripts/demo.sh - the fwdmap demo (run by `make demo`, after `make deps all`).
#
#   scripts/demo.sh [--keep-running]
#   DEMO_DIR=/tmp/mydemo scripts/demo.sh	(a new or empty directory)
#
# Starts, all on 127.0.0.1 and all in one directory (DEMO_DIR, else a new
# /tmp/fwdmap-demo.XXXXXX, printed first as "demo directory: DIR"):
#   - a private slapd holding the sample meta-directory scripts/demo/directory.ldif
#     (tenants TUM, LMU, LRZ, BAdW: staff on Exchange, students on myTUM,
#     alumni with forwards only, chemistry on its own server, physics in the
#     middle of its migration, and a few deliberately bad entries);
#     and three distribution lists: a team list, a faculty list with the
#     team list nested in it, and a members-only list;
#   - ldapsync (one full sync, then continuous) and fwdmapd (tables and
#     the policy service that enforces who may send to a list), configured
#     by scripts/demo/fwdmap.json.in;
#   - a private Postfix instance configured as the forwarder;
#   - smtp-sink "stores": Exchange (SMTP), myTUM (LMTP), chemistry's server,
#     the old physics server, and "the Internet" for external forwards.
# Then it sends sample mail with swaks, prints where each recipient's mail
# went (or why it was rejected), shows SRS at work (copies that leave carry
# an SRS sender in srs.lrz.de, the stores' copies the original one, and a
# bounce to an SRS address reaches the original sender), makes one change
# in the directory and shows that the next message follows it without
# touching Postfix.
#
# Verdict: CASES below says, once, where the sample directory means each
# recipient's mail to go (or that it must be rejected at RCPT time).  The
# demo compares that with what the stores actually received and exits 0
# only when every message reached exactly the expected stores and every
# expected rejection happened, every copy at the "Internet" store has the
# SRS form of its sender and every other copy the sender as sent, and the
# bounce came home; otherwise it prints "PROBLEM: ..." lines and
# exits 1.
#
# Every process it starts is written to DIR/pids ("PID NAME") and stopped
# by PID when the demo ends, on Ctrl-C or on kill (INT, TERM, HUP).  The
# logs stay in DIR.  With --keep-running it waits after the verdict, so
# that you can try swaks, `fwdmap explain` or ldapmodify yourself (the
# commands it prints work as printed; the rootdn password is in
# DIR/rootdn.pw, mode 0600); Ctrl-C or kill then stops everything at once
# and the exit status is still the verdict's.
#
# FWDMAP_DEMO_DATA=DIR replaces scripts/demo (directory.ldif and
# fwdmap.json.in); tests/cases/65-demo.sh uses it to check that the demo
# notices when the directory does not route as CASES says.

# The whole script is one brace group: bash parses all of it before running
# any of it.  Read command by command, a Ctrl-C that arrived while bash
# was parsing a command with a $(...) in it ran the trap inside the
# parser and broke the parse ("unexpected EOF while looking for matching
# `)'"), and the demo went on instead of stopping with 130.
{
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
KEEP_RUNNING=0
case "${1:-}" in
--keep-running) KEEP_RUNNING=1 ;;
"") ;;
*) echo "usage: [DEMO_DIR=DIR] $0 [--keep-running]" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
    echo "PROBLEM: run me as root (the private Postfix instance needs it): sudo make demo" >&2
    exit 1
fi
for p in fwdmapd ldapsync fwdmap; do
    [ -x "${FWDMAP_BUILD:-$TOP/build}/$p" ] ||
        { echo "PROBLEM: ${FWDMAP_BUILD:-$TOP/build}/$p is missing; run: make" >&2; exit 1; }
done
for p in slapd slapadd ldapmodify postfix postmap smtp-sink swaks runuser jq; do
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || [ -x "/sbin/$p" ] ||
        { echo "PROBLEM: $p is missing; run: make deps" >&2; exit 1; }
done
export PATH="$PATH:/usr/sbin:/sbin"

if [ -n "${DEMO_DIR:-}" ]; then
    case $DEMO_DIR in /*) ;; *) DEMO_DIR=$PWD/$DEMO_DIR ;; esac
    mkdir -p "$DEMO_DIR" || { echo "PROBLEM: cannot create DEMO_DIR $DEMO_DIR" >&2; exit 1; }
    if [ -n "$(ls -A "$DEMO_DIR")" ]; then
        echo "PROBLEM: DEMO_DIR $DEMO_DIR is not empty; give a new or an empty directory" >&2
        exit 1
    fi
else
    DEMO_DIR=$(mktemp -d /tmp/fwdmap-demo.XXXXXX) ||
        { echo "PROBLEM: mktemp failed" >&2; exit 1; }
fi
chmod 755 "$DEMO_DIR"
echo "demo directory: $DEMO_DIR"

# The test helpers give us: processes tracked by PID (and listed in
# T_PIDFILE) and stopped on exit or Ctrl-C, loopback ports,
# slapd/Postfix/smtp-sink fixtures.
export TEST_TMP=$DEMO_DIR FWDMAP_BUILD=${FWDMAP_BUILD:-$TOP/build} TOP
export T_PIDFILE=$DEMO_DIR/pids
: >"$T_PIDFILE"
# shellcheck source=../tests/lib/common.sh
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/sink.sh"
source "$TOP/tests/lib/postfix.sh"	# also loads tests/lib/slapd.sh
[ -n "${FWDMAP_DEMO_DATA:-}" ] && FW_DEMO=$FWDMAP_DEMO_DATA

# A fixture that cannot start is a problem of the demo's run, not a test
# failure: say so in the demo's words and stop everything.
t_fail() { printf 'PROBLEM: %s\n' "$*"; exit 1; }

# Ctrl-C and kill are handled by common.sh (everything is stopped by PID);
# also stop cleanly when the terminal goes away, and keep going (to clean
# up) when stdout is a pipe that was closed, e.g. "make demo | head".
trap 'exit 129' HUP
trap '' PIPE

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { printf '\n'; bold "== $*"; }
# cmd WORD...: the words as one command line to copy and paste, quoting
# only the words that need it.
cmd() {
    local w out=""
    for w in "$@"; do
        if [[ $w =~ ^[A-Za-z0-9_./:=,@+%-]+$ ]]; then
            out="$out${out:+ }$w"
        else
            out="$out${out:+ }'${w//\'/\'\\\'\'}'"
        fi
    done
    printf '%s\n' "$out"
}

FWDMAP=$FWDMAP_BUILD/fwdmap
ROOTPW_FILE=$DEMO_DIR/rootdn.pw
_logs() {
    cat <<EOF
   ldapsync     $DEMO_DIR/logs/ldapsync.log   (sync report: $FW_STATE/)
   fwdmapd      $DEMO_DIR/logs/fwdmapd.log
   Postfix      $DEMO_DIR/postfix/maillog   (swaks transcripts: $DEMO_DIR/postfix/smtp-*.log)
   slapd        $DEMO_DIR/slapd-ldap/slapd.log
   stores       $DEMO_DIR/sinks/<store>/   (one file per message received)
   PIDs         $DEMO_DIR/pids   (everything the demo started; all stopped at the end)
EOF
}
echo "   logs (kept after the demo):"
_logs

_demo_done() {
    printf '\n'
    bold "== Stopping everything the demo started (by PID, see $DEMO_DIR/pids). Logs are kept:"
    _logs
    cat <<EOF
   config       $FW_CONF
   tables       $FW_MAPS/   (try the next line)
   \$ $(cmd "$FWDMAP" -d "$FW_MAPS" explain jane.doe@tum.de)
   Remove with: rm -rf $DEMO_DIR
EOF
}
# common.sh runs exit handlers with their output discarded: write to a
# saved copy of stdout.
exec 9>&1
t_on_exit "_demo_done >&9"

# Friendly names of the sinks.
STORES=(exchange mytum dept physics outside stray)
declare -A STORE_NAME=(
    [exchange]="Exchange"
    [mytum]="myTUM (LMTP)"
    [dept]="chemistry's own server"
    [physics]="old physics server"
    [outside]="Internet"
    [stray]="NO ROUTE (bug!)"
)

# ------------------------------------------------------- what should happen
# recipient | where the sample directory means its mail to go: the stores
# ("store:envelope recipient", lower case, space separated; each exactly
# once, nothing anywhere else) or "reject" (5xx at RCPT, nothing delivered) |
# what the sample directory says about it | the envelope sender (optional;
# default a fresh outside address, see fw_sender)
CASES=(
    "jane.doe@tum.de|exchange:jane.doe@tum.de|TUM staff, mailbox on Exchange"
    "j.doe@tum.de|exchange:jane.doe@tum.de|alias of jane.doe"
    "Jane.Doe+Lists@TUM.de|exchange:jane.doe+lists@tum.de|extension and mixed case"
    "jane.doe@ei.tum.de|exchange:jane.doe@tum.de|alias in a department domain"
    "erika.mustermann@tum.de|exchange:erika.mustermann@tum.de outside:erika.m@example.com|Exchange plus an extra forward"
    "max.muster@mytum.de|mytum:max.muster@mytum.de|TUM student, mailbox on myTUM"
    "ga12abc@mytum.de|mytum:max.muster@mytum.de|student's alias"
    "hans.alt@alumni.tum.de|outside:familie.alt@example.net|alumnus, forward only"
    "grete.alt@alumni.tum.de|outside:familie.alt@example.net|alumna, same target as hans"
    "olga.ehemalig@alumni.tum.de|outside:olga@example.com outside:o.ehemalig@example.net|alumna with two forwards"
    "clara.chemie@ch.tum.de|dept:clara.chemie@ch.tum.de|chemistry: own mail server"
    "paul.physik@ph.tum.de|exchange:paul.physik@ph.tum.de|physics, already migrated"
    "einstein@ph.tum.de|physics:einstein@ph.tum.de|physics, not yet migrated"
    "anna.schmidt@lmu.de|exchange:anna.schmidt@lmu.de|LMU staff, Exchange"
    "praesident@lmu.de|exchange:praesident@lmu.de|LMU; also claimed by a TUM entry"
    "postmaster@lrz.de|exchange:lena.berger@lrz.de|LRZ alias"
    "tom.huber@lrz.de|mytum:tom.huber@lrz.de|LRZ, mailbox on myTUM"
    "k.weber@badw.de|exchange:karl.weber@badw.de outside:karl.weber@example.org|BAdW alias with a forward"
    "nobody@tum.de|reject|unknown, strict domain"
    "info@lrz.de|reject|claimed only by a TUM entry"
    "bad.store@tum.de|reject|entry names an unknown store"
    "bad.external@ch.tum.de|reject|external without fwdMailHost"
    "bad.forward@alumni.tum.de|reject|forward smuggles a 2nd address"
    "it-team@tum.de|exchange:jane.doe@tum.de exchange:erika.mustermann@tum.de outside:erika.m@example.com mytum:max.muster@mytum.de|team list: every member once|"
    "fakultaet-info@tum.de|exchange:jane.doe@tum.de exchange:erika.mustermann@tum.de outside:erika.m@example.com mytum:max.muster@mytum.de exchange:paul.physik@ph.tum.de dept:clara.chemie@ch.tum.de|faculty list, team list nested|jane.doe@tum.de"
    "senat@tum.de|exchange:jane.doe@tum.de outside:familie.alt@example.net outside:senat-archiv@example.org|members-only list, a member writes|hans.alt@alumni.tum.de"
    "academic-senate@tum.de|reject|members-only list, outsider writes|stranger@example.com"
)
# One message with several recipients in different stores: it must reach
# the union of their expectations above.
MULTI=(jane.doe@tum.de max.muster@mytum.de clara.chemie@ch.tum.de hans.alt@alumni.tum.de einstein@ph.tum.de)
# After the change in the directory (max.muster moves to Exchange):
CHANGE_RCPT=max.muster@mytum.de
CHANGE_EXPECT="exchange:max.muster@mytum.de"

declare -A EXPECT WHAT TOKEN CODE TEXT SENDER
# SRS (the srs section fw_config adds): the domain bounces come back to.
FW_SRS_DOMAIN=srs.lrz.de
BOUNCE_TOKEN=
# The alumnus whose forwarded copy gets a bounce.
BOUNCE_RCPT=hans.alt@alumni.tum.de BOUNCE_TARGET=familie.alt@example.net
RCPTS=()
for c in "${CASES[@]}"; do
    IFS='|' read -r r e w snd <<<"$c"
    RCPTS+=("$r"); EXPECT[$r]=$e; WHAT[$r]=$w; SENDER[$r]=$snd
done
PROBLEMS=()
problem() { PROBLEMS+=("$*"); }

# got TOKEN: what the stores received with TOKEN, "store:rcpt" per line,
# store by store; gots TOKEN: the same, sorted, to compare.
# While GOT_INDEXED=1, got answers from GOT, an index of every store's dump
# files read once by index_stores (forking a grep per store and token made
# the table take seconds); sending more mail sets GOT_INDEXED=0 again.
declare -A GOT=()
GOT_INDEXED=0
got() {
    local n
    if [ "$GOT_INDEXED" = 1 ]; then
        printf '%s' "${GOT[$1]:-}"
        return 0
    fi
    for n in "${STORES[@]}"; do sink_rcpts "$n" "$1" | sort | sed "s/^/$n:/"; done
}
# index_stores: fill GOT, in got's order (store by store, recipients
# sorted), and SENT_FROM[token]: "store sender" per dump file.
declare -A SENT_FROM=()
index_stores() {
    local i kind tok a b
    GOT=() SENT_FROM=()
    while IFS=$'\t' read -r kind tok a b; do
        case $kind in
        R) GOT[$tok]+="$b"$'\n' ;;
        S) SENT_FROM[$tok]+="$a $b"$'\n' ;;
        esac
    done < <(for i in "${!STORES[@]}"; do
                 find "$SINK_ROOT/${STORES[$i]}" -type f -exec awk -v n="${STORES[$i]}" -v i="$i" '
                     function flush(   t, r) {
                         for (t in toks) {
                             for (r in rcpts) printf "R\t%s\t%d\t%s:%s\n", t, i, n, r
                             if (from != "") printf "S\t%s\t%s\t%s\n", t, n, from
                         }
                         split("", toks); split("", rcpts); from = ""
                     }
                     FNR == 1 { flush() }
                     /^X-Fwdmap-Test: / { toks[substr($0, 16)] = 1 }
                     /^X-Rcpt-Args: </ { r = substr($0, 15); sub(/>.*/, "", r); rcpts[tolower(r)] = 1 }
                     /^X-Mail-Args: </ && from == "" { from = substr($0, 15); sub(/>.*/, "", from); if (from == "") from = "<>" }
                     END { flush() }' {} + 2>/dev/null
             done | sort -t$'\t' -k1,1 -k2,2 -k3,3n -k4,4)
    GOT_INDEXED=1
}
gots() { got "$1" | sort; }
# sorted EXPECTATION: the same form from an expectation string.
sorted() { printf '%s\n' $1 | sed '/^$/d' | sort; }
# pretty: "store:rcpt" lines on stdin -> "Exchange <rcpt>, Internet <rcpt>".
pretty() {
    local s r out=""
    while IFS=: read -r s r; do
        [ -n "$s" ] || continue
        out="$out${out:+, }${STORE_NAME[$s]:-$s} <$r>"
    done
    echo "${out:-(nothing arrived)}"
}

# -------------------------------------------------------------- the set-up
step "Starting the stores (smtp-sink on loopback)"
fw_sinks
for n in exchange mytum dept physics outside; do
    printf '   %-24s 127.0.0.1:%s\n' "${STORE_NAME[$n]}" "$(sink_port "$n")"
done

step "Starting slapd with the sample meta-directory ($FW_DEMO/directory.ldif)"
fw_slapd_start
( umask 077; printf '%s' "$SLAPD_ROOTPW" >"$ROOTPW_FILE" )
printf '   %s, %s entries with fwdMailRecipient\n' "$SLAPD_URI" \
    "$(slapd_search ldap '(objectClass=fwdMailRecipient)' dn | grep -c '^dn:')"

step "ldapsync: one full sync, then following the directory (refreshAndPersist)"
fw_config "$SLAPD_URI"
if ! runuser -u postfix -- test -x "$(dirname "$FW_SOCK")" 2>/dev/null; then
    t_fail "Postfix (user postfix) cannot reach $(dirname "$FW_SOCK"): give a DEMO_DIR whose parents others may search (chmod o+x), e.g. below /tmp"
fi
if ! "$(t_bin ldapsync)" -c "$FW_CONF" --once >>"$DEMO_DIR/logs/ldapsync.log" 2>&1; then
    tail -n 20 "$DEMO_DIR/logs/ldapsync.log" | sed 's/^/   /'
    t_fail "ldapsync --once failed (see $DEMO_DIR/logs/ldapsync.log)"
fi
tail -n 3 "$DEMO_DIR/logs/ldapsync.log" | sed 's/^/   /'
fw_ldapsync_start
"$FWDMAP" -c "$FW_CONF" info 2>/dev/null | python3 -c '
import json, sys
b = json.load(sys.stdin)["base"]
c = b["counts"]
print("   published generation %s: %s domains, %s recipient addresses, %s expansions, %s transports, %s rejected claims, %s group addresses"
      % (b["serial"], c.get("D", 0), c.get("R", 0), c.get("V", 0), c.get("T", 0), c.get("X", 0), c.get("G", 0)))
' 2>/dev/null || true

step "fwdmapd and a private Postfix forwarder"
fw_fwdmapd_start
pf_init "unix:$FW_SOCK" "$(sink_port outside)" "$(sink_port stray)"
# The demo's mail comes from "another host" (192.0.2.25, by XCLIENT), as a
# forwarder's mail does: this host itself is in mynetworks, which Postfix
# lets through before asking the policy service.
pf_conf "smtpd_authorized_xclient_hosts = 127.0.0.1"
export PF_XCLIENT_ADDR=192.0.2.25
pf_start
printf '   fwdmapd on %s (policy service %s), Postfix on 127.0.0.1:%s (config %s)\n' \
    "$FW_SOCK" "$FW_POLICY" "$PF_PORT" "$PF_DIR/etc"
postconf -c "$PF_DIR/etc" -n relay_domains relay_recipient_maps virtual_alias_maps \
    sender_dependent_default_transport_maps recipient_canonical_maps \
    virtual_alias_domains transport_maps smtpd_recipient_restrictions | sed 's/^/   /'

# ---------------------------------------------------------------- the mail
step "Sending one message per recipient with swaks"
for r in "${RCPTS[@]}"; do
    [ -n "${SENDER[$r]}" ] || SENDER[$r]=$(fw_sender)
    pf_smtp "${SENDER[$r]}" "$r" >/dev/null
    TOKEN[$r]=$PF_TOKEN
    CODE[$r]=$(pf_rcpt_code "$r")
    TEXT[$r]=$(pf_rcpt_text "$r")
    printf '.'
done
printf ' %d messages\n' "${#RCPTS[@]}"

MULTI_SENDER=$(fw_sender)
pf_smtp "$MULTI_SENDER" "${MULTI[@]}" >/dev/null
MULTI_TOKEN=$PF_TOKEN
MULTI_EXPECT=""
for r in "${MULTI[@]}"; do
    MULTI_EXPECT="$MULTI_EXPECT ${EXPECT[$r]}"
    c=$(pf_rcpt_code "$r")
    [ "$c" = 250 ] || problem "one message to ${#MULTI[@]} recipients: RCPT $r got [$(pf_rcpt_text "$r")], expected 250"
done
echo "   and one message to ${#MULTI[@]} recipients: ${MULTI[*]}"

if ! pf_wait_queue_empty 60; then
    problem "$(pf_queue_count) message(s) still in Postfix's queue after 60 s (see $PF_LOG)"
fi

# check_deliveries: compare every message with its expectation; fills
# DELIVERY_PROBLEMS and MISMATCH[rcpt] (what to print next to the row).
declare -A MISMATCH
check_deliveries() {
    local r e w have want
    DELIVERY_PROBLEMS=()
    MISMATCH=()
    for r in "${RCPTS[@]}"; do
        e=${EXPECT[$r]}
        have=$(gots "${TOKEN[$r]}")
        if [ "$e" = reject ]; then
            [[ ${CODE[$r]} == 5?? ]] ||
                DELIVERY_PROBLEMS+=("$r: expected a 5xx rejection at RCPT, got [${TEXT[$r]:-no reply}]")
            [ -z "$have" ] ||
                DELIVERY_PROBLEMS+=("$r: should have been rejected, but reached $(pretty <<<"$have")")
            [ "${CODE[$r]}" != 250 ] || MISMATCH[$r]="expected a 5xx rejection at RCPT"
            continue
        fi
        if [ "${CODE[$r]}" != 250 ]; then
            DELIVERY_PROBLEMS+=("$r: expected 250 at RCPT, got [${TEXT[$r]:-no reply}]")
            MISMATCH[$r]="expected 250, got ${CODE[$r]:-no reply}"
            continue
        fi
        want=$(sorted "$e")
        if [ "$have" != "$want" ]; then
            DELIVERY_PROBLEMS+=("$r: expected $(pretty <<<"$want"); reached $(pretty <<<"$have")")
            MISMATCH[$r]="expected $(pretty <<<"$want")"
        fi
    done
    want=$(sorted "$MULTI_EXPECT")
    have=$(gots "$MULTI_TOKEN")
    [ "$have" = "$want" ] ||
        DELIVERY_PROBLEMS+=("one message to ${#MULTI[@]} recipients: expected $(pretty <<<"$want"); reached $(pretty <<<"$have")")
    [ "${#DELIVERY_PROBLEMS[@]}" -eq 0 ]
}
# A store may still be writing the last message when the queue empties:
# look again for a few seconds before calling a difference a problem.
for i in 1 2 3 4 5; do
    index_stores
    check_deliveries && break
    sleep 1
done

step "Result: where each recipient's mail went"
printf '%-28s %-33s %s\n' "RECIPIENT" "CASE" "REACHED (store <envelope recipient>)"
printf '%-28s %-33s %s\n' "---------" "----" "-------"
for r in "${RCPTS[@]}"; do
    [ "${EXPECT[$r]}" = reject ] && [ "${CODE[$r]}" != 250 ] && continue
    printf '%-28s %-33s %s%s\n' "$r" "${WHAT[$r]}" "$(got "${TOKEN[$r]}" | pretty)" \
        "${MISMATCH[$r]:+   <-- PROBLEM: ${MISMATCH[$r]}}"
done
printf '\nOne message to several recipients:\n'
got "$MULTI_TOKEN" | pretty | tr ',' '\n' | sed 's/^ */   /'

step "Rejected at RCPT time (5xx: the sender's server keeps the message, no bounce from us)"
printf '%-28s %-33s %s\n' "RECIPIENT" "CASE" "SMTP REPLY"
for r in "${RCPTS[@]}"; do
    [ "${CODE[$r]}" = 250 ] && continue
    printf '%-28s %-33s %s\n' "$r" "${WHAT[$r]}" "${TEXT[$r]}"
done

# ------------------------------------------------------------------ SRS
step "SRS: copies that leave carry an SRS sender in $FW_SRS_DOMAIN, the stores' copies the original"
# check_senders TOKEN SENDER: every copy of TOKEN at the Internet store
# has an SRS sender that fwdmapd decodes to SENDER; every other copy SENDER.
# A sender in one of our own domains (a member writing to a list) is never
# rewritten.
# Reads SENT_FROM (index_stores, before any mail below is sent).
declare -A OURS=()
check_senders() {
    local n got dec ours d=${2##*@}
    if [ -z "${OURS[$d]:-}" ]; then
        OURS[$d]=0
        fw_query domains "$d" >/dev/null && OURS[$d]=1
    fi
    ours=${OURS[$d]}
    while read -r n got; do
        [ -n "$n" ] || continue
        [ "$got" = "<>" ] && got=
        if [ "$n" != outside ] || [ "$ours" = 1 ]; then
            [ "$got" = "$2" ] || problem "SRS: ${STORE_NAME[$n]} got $1 from <$got>, expected the original <$2>"
        elif [[ $got != SRS0=*@$FW_SRS_DOMAIN ]] || ! dec=$(fw_query srs_reverse "$got") || [ "$dec" != "$2" ]; then
            problem "SRS: the Internet got $1 from <$got>, expected an SRS address for <$2>"
        fi
    done <<<"${SENT_FROM[$1]:-}"
}
for r in "${RCPTS[@]}"; do check_senders "${TOKEN[$r]}" "${SENDER[$r]}"; done
check_senders "$MULTI_TOKEN" "$MULTI_SENDER"
for r in erika.mustermann@tum.de "$BOUNCE_RCPT"; do
    echo "   to $r from <${SENDER[$r]}>:"
    for n in exchange outside; do
        for f in $(_sink_files "$n" "${TOKEN[$r]}"); do
            printf '      %-10s envelope sender <%s>\n' "${STORE_NAME[$n]}" \
                "$(sed -n 's/^X-Mail-Args: <\([^>]*\)>.*/\1/p' "$f" | head -n 1)"
        done
    done
done
srs=$(sink_sender outside "$BOUNCE_TARGET" "${TOKEN[$BOUNCE_RCPT]}")
BOUNCE_TOKEN="bounce-$$-$RANDOM"
GOT_INDEXED=0	# more mail from here on: got reads the stores again
printf 'From: MAILER-DAEMON@mx.example.net\nTo: %s\nSubject: Undelivered Mail Returned to Sender\nX-Fwdmap-Test: %s\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n--b\nContent-Type: text/plain\n\nNo such user.\n--b--\n' \
    "$srs" "$BOUNCE_TOKEN" >"$DEMO_DIR/bounce.eml"
if [ -z "$srs" ] || ! swaks --server 127.0.0.1 --port "$PF_PORT" --from '<>' --to "$srs" \
        --data "$DEMO_DIR/bounce.eml" >"$DEMO_DIR/postfix/bounce-smtp.log" 2>&1; then
    problem "SRS: the bounce to <$srs> was not accepted (see $DEMO_DIR/postfix/bounce-smtp.log)"
elif pf_wait_queue_empty 30 && sink_wait outside "${SENDER[$BOUNCE_RCPT]}" "$BOUNCE_TOKEN" 10; then
    echo "   a bounce to <$srs> reached the original sender <${SENDER[$BOUNCE_RCPT]}> (Internet)"
else
    problem "SRS: the bounce to <$srs> did not reach <${SENDER[$BOUNCE_RCPT]}>; it reached: $(got "$BOUNCE_TOKEN" | pretty)"
fi

step "Why? fwdmap explain (what the published tables say, and where it came from)"
for r in j.doe@tum.de einstein@ph.tum.de info@lrz.de praesident@lmu.de; do
    bold "\$ fwdmap explain $r"
    "$FWDMAP" -c "$FW_CONF" explain "$r" 2>&1 | sed 's/^/   /'
done
# Groups: the path to a member through the nested list, and why a sender
# was refused (what fwdmapd's policy service answered Postfix).
for args in "-m max.muster@mytum.de fakultaet-info@tum.de" "-s stranger@example.com academic-senate@tum.de"; do
    bold "\$ fwdmap explain $args"
    # shellcheck disable=SC2086
    "$FWDMAP" -c "$FW_CONF" explain $args 2>&1 | sed 's/^/   /'
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

# ------------------------------------------------------------ the change
step "A change in the directory: max.muster moves from myTUM to Exchange"
CHANGE_LDIF=$DEMO_DIR/change-max.muster.ldif
cat >"$CHANGE_LDIF" <<LDIF
dn: uid=max.muster,ou=tum,dc=example,dc=org
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: exchange
LDIF
LDAPMODIFY=(ldapmodify -x -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$ROOTPW_FILE")
echo "   \$ $(cmd "${LDAPMODIFY[@]}" -f "$CHANGE_LDIF")"
serial_before=$(fw_serial)
start=$(date +%s%N)
if ! out=$("${LDAPMODIFY[@]}" -f "$CHANGE_LDIF" 2>&1); then
    problem "ldapmodify failed: $out"
elif fw_wait_query 20 transport "$CHANGE_RCPT" "127\\.0\\.0\\.1\\]:$(sink_port exchange)\$"; then
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "   the tables answered the new route after ${ms} ms (generation ${serial_before:-?} -> $(fw_serial)), no Postfix reload"
    pf_smtp "$(fw_sender)" "$CHANGE_RCPT" >/dev/null
    tok=$PF_TOKEN
    c=$(pf_rcpt_code "$CHANGE_RCPT")
    pf_wait_queue_empty 30 >/dev/null
    want=$(sorted "$CHANGE_EXPECT")
    for i in 1 2 3 4 5; do
        have=$(gots "$tok")
        [ "$have" = "$want" ] && break
        sleep 1
    done
    printf '   %-28s %s\n' "$CHANGE_RCPT" "$(pretty <<<"$have")"
    [ "$c" = 250 ] && [ "$have" = "$want" ] ||
        problem "after the change, $CHANGE_RCPT: RCPT got [$(pf_rcpt_text "$CHANGE_RCPT")]; expected $(pretty <<<"$want"); reached $(pretty <<<"$have")"
else
    problem "the change did not reach the tables within 20 s (see $DEMO_DIR/logs/ldapsync.log)"
fi

# ------------------------------------------------------------ the verdict
PROBLEMS+=("${DELIVERY_PROBLEMS[@]+"${DELIVERY_PROBLEMS[@]}"}")
# Every message in every store must be one the demo sent (a bounce to the
# sender, or mail for a route nobody expected, shows up here).
sent=$DEMO_DIR/sent-tokens
{
    for r in "${RCPTS[@]}"; do echo "X-Fwdmap-Test: ${TOKEN[$r]}"; done
    echo "X-Fwdmap-Test: $MULTI_TOKEN"
    [ -n "${tok:-}" ] && echo "X-Fwdmap-Test: $tok"
    [ -n "$BOUNCE_TOKEN" ] && echo "X-Fwdmap-Test: $BOUNCE_TOKEN"
} >"$sent"
for n in "${STORES[@]}"; do
    for f in $(_sink_files "$n"); do
        grep -q -x -F -f "$sent" "$f" ||
            problem "${STORE_NAME[$n]} received a message the demo did not send: $f"
        ! grep -q -x -F "X-Fwdmap-Test: $BOUNCE_TOKEN" "$f" &&
            grep -q '^Content-Type: multipart/report' "$f" &&
            problem "${STORE_NAME[$n]} received a bounce or delay notice: $f"
    done
done
b=$(pf_log_grep 'status=bounced' | head -n 3)
[ -z "$b" ] || problem "Postfix bounced mail: $b"
[ "$(pf_queue_count)" -eq 0 ] || problem "$(pf_queue_count) message(s) left in Postfix's queue (see $PF_LOG)"

step "Verdict"
nacc=0; nrej=0
for r in "${RCPTS[@]}"; do
    if [ "${EXPECT[$r]}" = reject ]; then nrej=$((nrej + 1)); else nacc=$((nacc + 1)); fi
done
if [ "${#PROBLEMS[@]}" -eq 0 ]; then
    VERDICT=0
    echo "   OK: all $((nacc + 2)) messages reached exactly the expected stores ($nacc recipients, one message to ${#MULTI[@]}, one after the change);"
    echo "   all $nrej expected rejections happened; nothing else arrived anywhere;"
    echo "   every copy that left has an SRS sender, every store's copy the original; the bounce came home."
else
    VERDICT=1
    printf 'PROBLEM: %s\n' "${PROBLEMS[@]}"
    echo "   ${#PROBLEMS[@]} problem(s); the logs are listed below."
fi

if [ "$KEEP_RUNNING" = 1 ]; then
    TRY_LDIF=$DEMO_DIR/try-olga.ldif
    cat >"$TRY_LDIF" <<LDIF
dn: uid=olga.ehemalig,ou=tum,dc=example,dc=org
changetype: modify
replace: fwdForwardAddress
fwdForwardAddress: olga.neu@example.org
LDIF
    step "Everything keeps running; press Ctrl-C (or kill $$) to stop it all. Try:"
    cat <<EOF
   # a message to an alumna; it goes to her two forwards ("Internet" store: $SINK_ROOT/outside/)
   \$ $(cmd swaks --server "127.0.0.1:$PF_PORT" --to olga.ehemalig@alumni.tum.de)
   # what the tables say about her, and why
   \$ $(cmd "$FWDMAP" -c "$FW_CONF" explain olga.ehemalig@alumni.tum.de)
   # fwdmapd's statistics
   \$ $(cmd "$FWDMAP_BUILD/fwdmapd" -c "$FW_CONF" -S)
   # change her forwards in the directory (rootdn password in $ROOTPW_FILE, mode 0600),
   # then explain and swaks again: the new forward applies within a second, no Postfix reload
   \$ $(cmd "${LDAPMODIFY[@]}" -f "$TRY_LDIF")
EOF
    # Stopping is the way a kept-running demo ends: exit with the verdict.
    trap 'exit $VERDICT' INT TERM
    while :; do
        sleep 86400 &
        t_track $! "sleep (--keep-running)"
        wait $!
    done
fi
exit "$VERDICT"
}
