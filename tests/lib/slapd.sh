# tests/lib/slapd.sh - throwaway OpenLDAP servers for the tests.
#
# Source after tests/lib/common.sh.  Every server lives in
# $TEST_TMP/slapd-NAME, listens on 127.0.0.1 on a port from t_port, runs
# in the foreground (slapd -d 0) as a child of the test, is recorded with
# t_track and so is stopped by PID when the test exits.  Several servers
# can run at once, told apart by NAME.
#
# Directory layout of every server (the same for both config forms):
#   suffix  $SLAPD_SUFFIX   (dc=example,dc=org), mdb backend, syncprov overlay
#   rootdn  $SLAPD_ROOTDN   password $SLAPD_ROOTPW
#   sync account $SLAPD_SYNCDN password $SLAPD_SYNCPW, read access to all,
#           limits size=unlimited time=unlimited (slapd's default is 500),
#           or $SLAPD_SYNC_LIMITS when set (e.g. "size=10 size.prtotal=unlimited")
#   schemas core, cosine, inetorgperson, nis and $TOP/schema/fwdmap.*
#
# Functions (NAME defaults to "ldap"):
#   slapd_init NAME [conf|cnconfig]
#               write the configuration: "conf" (default) a slapd.conf that
#               includes schema/fwdmap.schema; "cnconfig" a slapd.d built
#               with slapadd -n0 from schema/fwdmap.ldif.  Also loads the
#               suffix entry, the sync account and ou=tum/ou=lmu/ou=ext.
#               Options by environment: SLAPD_NO_SYNCPROV=1 leaves the
#               syncprov overlay out (for the fallback test);
#               SLAPD_NO_SESSIONLOG=1 leaves out syncprov's session log, so
#               that a refresh with a cookie uses the present phase.
#               SLAPD_RELOADHINT=1 sets syncprov-reloadhint TRUE: a stale
#               cookie (older than every entry) then gets
#               e-syncRefreshRequired instead of a silent present refresh.
#               SLAPD_SYNC_LIMITS="LIMIT..." replaces the sync account's
#               limits (slapd.conf(5) "limits"), for the paged-search tests.
#               SLAPD_EXTRA_SCHEMAS="FILE..." includes these .schema files
#               after fwdmap.schema ("conf" form only), e.g. misc.schema.
#               SLAPD_ACCESS="LINES" replaces the rule after the userPassword
#               one ("access to * by dn.exact=SYNCDN read by * read") in
#               the "conf" form, SLAPD_OLCACCESS="LINES" (olcAccess values,
#               one a line) in the "cnconfig" form: least-privilege ACLs.
#               SLAPD_GUIDE_DB=1 leaves out of the database what
#               docs/install.md's directory settings add (the sync
#               account's limits, the entryUUID,entryCSN and mail indexes,
#               the syncprov overlay, and in "cnconfig" form its module),
#               so that a test adds them the guide's way (tests/cases/91-*).
#               SLAPD_LDAPI=1 ("cnconfig" form): slapd also listens on a
#               ldapi:// socket ($(slapd_ldapi_uri NAME)), and root over it
#               (SASL EXTERNAL) may manage cn=config, as on Debian's slapd.
#   slapd_load NAME FILE...   slapadd -q FILEs (server must be stopped)
#   slapd_start NAME          start, wait until it answers (fails the test
#                             otherwise); sets SLAPD_PID[NAME]
#   slapd_stop NAME           TERM, wait for exit
#   slapd_kill NAME           KILL (simulated crash), wait for exit
#   slapd_uri NAME            print ldap://127.0.0.1:PORT/
#   slapd_port NAME           print the port
#   slapd_add NAME FILE       ldapadd -c as rootdn (LDIF of new entries)
#   slapd_modify NAME FILE    ldapmodify as rootdn (changetype LDIF; "-" reads stdin)
#   slapd_search NAME ARGS... ldapsearch -LLL as rootdn under the suffix
#   slapd_pwfile NAME         write the sync password to a 0600 file, print its path
#   slapd_consumer NAME PROVIDER
#               init + start NAME as a syncrepl (refreshAndPersist) consumer
#               of server PROVIDER, replicating the whole suffix; the
#               consumer also runs syncprov so that it can be synced from
#   slapd_wait_replicated NAME PROVIDER [SECS]
#               wait until both servers report the same contextCSN
#   slapd_tls_ca [DIR]        make a throwaway CA and a server certificate for
#                             127.0.0.1 (openssl) in DIR (default
#                             $TEST_TMP/tls): ca.pem, server.pem, server.key
#   SLAPD_TLS_DIR=DIR slapd_init NAME ...
#               configure TLS with the files of slapd_tls_ca; slapd_start
#               then also listens on ldaps://127.0.0.1:PORT/ (slapd_ldaps_uri)
#
# Example:
#   source "$TOP/tests/lib/common.sh"; source "$TOP/tests/lib/slapd.sh"
#   slapd_init ldap; slapd_load ldap people.ldif; slapd_start ldap
#   ldapsearch -H "$(slapd_uri ldap)" -x -D "$SLAPD_SYNCDN" -w "$SLAPD_SYNCPW" ...

SLAPD_SUFFIX="dc=example,dc=org"
SLAPD_ROOTDN="cn=admin,$SLAPD_SUFFIX"
SLAPD_ROOTPW="rootsecret"
SLAPD_SYNCDN="cn=fwdmap,$SLAPD_SUFFIX"
SLAPD_SYNCPW="syncsecret"
: "${SLAPD_BIN:=/usr/sbin/slapd}"
: "${SLAPD_SCHEMA_DIR:=/etc/ldap/schema}"
: "${SLAPD_MODULE_DIR:=/usr/lib/ldap}"
declare -A SLAPD_PID SLAPD_PORTS SLAPD_MODE SLAPD_LDAPS_PORTS

_slapd_dir() { echo "$TEST_TMP/slapd-${1:-ldap}"; }

# Common part of slapd.conf for provider and consumer.
_slapd_conf() {
    local name=$1 d=$2
    cat <<EOF
include $SLAPD_SCHEMA_DIR/core.schema
include $SLAPD_SCHEMA_DIR/cosine.schema
include $SLAPD_SCHEMA_DIR/inetorgperson.schema
include $SLAPD_SCHEMA_DIR/nis.schema
include $TOP/schema/fwdmap.schema
EOF
    local x
    for x in ${SLAPD_EXTRA_SCHEMAS:-}; do echo "include $x"; done
    cat <<EOF
pidfile $d/slapd.pid
argsfile $d/slapd.args
modulepath $SLAPD_MODULE_DIR
moduleload back_mdb
EOF
    [ -n "${SLAPD_NO_SYNCPROV:-}" ] || echo "moduleload syncprov"
    if [ -n "${SLAPD_TLS_DIR:-}" ]; then
        printf 'TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n' \
            "$SLAPD_TLS_DIR/ca.pem" "$SLAPD_TLS_DIR/server.pem" "$SLAPD_TLS_DIR/server.key"
    fi
    cat <<EOF
sizelimit 500
database mdb
maxsize 8589934592
suffix "$SLAPD_SUFFIX"
rootdn "$SLAPD_ROOTDN"
rootpw $SLAPD_ROOTPW
directory $d/db
index objectClass eq
EOF
    [ -n "${SLAPD_GUIDE_DB:-}" ] || cat <<EOF
index entryUUID,entryCSN eq
index mail,fwdMailAlias eq
limits dn.exact="$SLAPD_SYNCDN" ${SLAPD_SYNC_LIMITS:-size=unlimited time=unlimited}
EOF
    cat <<EOF
limits dn.exact="$SLAPD_ROOTDN" size=unlimited time=unlimited
access to attrs=userPassword by self write by anonymous auth by * none
EOF
    if [ -n "${SLAPD_ACCESS:-}" ]; then
        printf '%s\n' "$SLAPD_ACCESS"
    else
        echo "access to * by dn.exact=\"$SLAPD_SYNCDN\" read by * read"
    fi
}

_slapd_syncprov_conf() {
    [ -n "${SLAPD_NO_SYNCPROV:-}${SLAPD_GUIDE_DB:-}" ] && return 0
    printf 'overlay syncprov\nsyncprov-checkpoint 100 1\n'
    [ -n "${SLAPD_NO_SESSIONLOG:-}" ] || printf 'syncprov-sessionlog 10000\n'
    [ -z "${SLAPD_RELOADHINT:-}" ] || printf 'syncprov-reloadhint TRUE\n'
}

_slapd_base_ldif() {
    cat <<EOF
dn: $SLAPD_SUFFIX
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: $SLAPD_SYNCDN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: fwdmap
userPassword: $SLAPD_SYNCPW

dn: ou=tum,$SLAPD_SUFFIX
objectClass: organizationalUnit
ou: tum

dn: ou=lmu,$SLAPD_SUFFIX
objectClass: organizationalUnit
ou: lmu

dn: ou=ext,$SLAPD_SUFFIX
objectClass: organizationalUnit
ou: ext
EOF
}

slapd_init() {
    local name=${1:-ldap} mode=${2:-conf} d
    d=$(_slapd_dir "$name")
    rm -rf "$d"; mkdir -p "$d/db"
    SLAPD_PORTS[$name]=$(t_port)
    SLAPD_MODE[$name]=$mode
    SLAPD_LDAPS_PORTS[$name]=
    [ -n "${SLAPD_TLS_DIR:-}" ] && SLAPD_LDAPS_PORTS[$name]=$(t_port)
    { _slapd_conf "$name" "$d"; _slapd_syncprov_conf; } > "$d/slapd.conf"
    if [ "$mode" = cnconfig ]; then
        _slapd_cnconfig "$name" "$d" || t_fail "slapd_init $name: cn=config failed"
    else
        "${SLAPD_BIN%slapd}slaptest" -Q -u -f "$d/slapd.conf" >"$d/slaptest.log" 2>&1 ||
            t_fail "slaptest failed for $name: $(cat "$d/slaptest.log")"
    fi
    _slapd_base_ldif > "$d/base.ldif"
    slapd_load "$name" "$d/base.ldif"
}

# cn=config form: slapd.d from an LDIF that includes schema/fwdmap.ldif.
_slapd_cnconfig() {
    local name=$1 d=$2 s
    mkdir -p "$d/slapd.d"
    {
        cat <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $d/slapd.pid
olcArgsFile: $d/slapd.args
olcSizeLimit: 500

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: $SLAPD_MODULE_DIR
olcModuleLoad: back_mdb
EOF
        [ -n "${SLAPD_NO_SYNCPROV:-}${SLAPD_GUIDE_DB:-}" ] || echo "olcModuleLoad: syncprov"
        cat <<EOF

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

EOF
        [ -z "${SLAPD_LDAPI:-}" ] || cat <<EOF
dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break

EOF
        for s in core cosine inetorgperson nis; do
            echo "include: file://$SLAPD_SCHEMA_DIR/$s.ldif"; echo
        done
        echo "include: file://$TOP/schema/fwdmap.ldif"; echo
        cat <<EOF
dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $SLAPD_SUFFIX
olcRootDN: $SLAPD_ROOTDN
olcRootPW: $SLAPD_ROOTPW
olcDbDirectory: $d/db
olcDbMaxSize: 8589934592
olcDbIndex: objectClass eq
EOF
        [ -n "${SLAPD_GUIDE_DB:-}" ] || cat <<EOF
olcDbIndex: entryUUID,entryCSN eq
olcDbIndex: mail,fwdMailAlias eq
olcLimits: dn.exact="$SLAPD_SYNCDN" ${SLAPD_SYNC_LIMITS:-size=unlimited time=unlimited}
EOF
        cat <<EOF
olcLimits: dn.exact="$SLAPD_ROOTDN" size=unlimited time=unlimited
olcAccess: to attrs=userPassword by self write by anonymous auth by * none
EOF
        if [ -n "${SLAPD_OLCACCESS:-}" ]; then
            printf '%s\n' "$SLAPD_OLCACCESS" | sed 's/^/olcAccess: /'
        else
            echo "olcAccess: to * by dn.exact=\"$SLAPD_SYNCDN\" read by * read"
        fi
        if [ -z "${SLAPD_NO_SYNCPROV:-}${SLAPD_GUIDE_DB:-}" ]; then
            cat <<EOF

dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
olcSpCheckpoint: 100 1
olcSpSessionlog: 10000
EOF
        fi
    } > "$d/config.ldif"
    "${SLAPD_BIN%slapd}slapadd" -n0 -F "$d/slapd.d" -l "$d/config.ldif" >"$d/slapadd0.log" 2>&1 || {
        cat "$d/slapadd0.log" >&2; return 1; }
    "${SLAPD_BIN%slapd}slaptest" -Q -u -F "$d/slapd.d" >"$d/slaptest.log" 2>&1 || {
        cat "$d/slaptest.log" >&2; return 1; }
}

_slapd_cfgarg() {
    local d; d=$(_slapd_dir "$1")
    if [ "${SLAPD_MODE[$1]}" = cnconfig ]; then echo "-F $d/slapd.d"; else echo "-f $d/slapd.conf"; fi
}

slapd_load() {
    local name=${1:-ldap}; shift
    local f d; d=$(_slapd_dir "$name")
    for f in "$@"; do
        # shellcheck disable=SC2046
        "${SLAPD_BIN%slapd}slapadd" -q $(_slapd_cfgarg "$name") -b "$SLAPD_SUFFIX" -l "$f" \
            >>"$d/slapadd.log" 2>&1 || t_fail "slapadd $f into $name: $(tail -5 "$d/slapadd.log")"
    done
}

slapd_uri() { echo "ldap://127.0.0.1:${SLAPD_PORTS[${1:-ldap}]}/"; }
# The ldapi:// URI of server NAME (SLAPD_LDAPI=1): its socket, %-encoded.
slapd_ldapi_uri() { echo "ldapi://$(_slapd_dir "${1:-ldap}" | sed 's|/|%2F|g')%2Fldapi"; }
slapd_ldaps_uri() { echo "ldaps://127.0.0.1:${SLAPD_LDAPS_PORTS[${1:-ldap}]}/"; }

slapd_tls_ca() {
    local d=${1:-$TEST_TMP/tls}
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=fwdmap test CA" \
        -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 || t_fail "openssl CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 || t_fail "openssl CSR"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$d/ext.cnf"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 2 -extfile "$d/ext.cnf" -out "$d/server.pem" >/dev/null 2>&1 ||
        t_fail "openssl sign"
    chmod 0644 "$d/server.key"
}
slapd_port() { echo "${SLAPD_PORTS[${1:-ldap}]}"; }

_slapd_up() {
    ldapsearch -x -H "$(slapd_uri "$1")" -b "" -s base -LLL namingContexts >/dev/null 2>&1
}

slapd_start() {
    local name=${1:-ldap} d pid
    d=$(_slapd_dir "$name")
    # shellcheck disable=SC2046
    local urls
    urls=$(slapd_uri "$name")
    [ -n "${SLAPD_LDAPI:-}" ] && urls="$urls $(slapd_ldapi_uri "$name")"
    [ -n "${SLAPD_LDAPS_PORTS[$name]:-}" ] && urls="$urls $(slapd_ldaps_uri "$name")"
    "$SLAPD_BIN" -d 0 -h "$urls" $(_slapd_cfgarg "$name") \
        >>"$d/slapd.log" 2>&1 &
    pid=$!
    t_track "$pid" "slapd $name"
    SLAPD_PID[$name]=$pid
    if ! t_wait 20 _slapd_up "$name"; then
        t_fail "slapd $name did not start: $(tail -5 "$d/slapd.log")"
    fi
}

_slapd_gone() { ! kill -0 "$1" 2>/dev/null; }

slapd_stop() {
    local name=${1:-ldap} pid=${SLAPD_PID[${1:-ldap}]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    t_wait 20 _slapd_gone "$pid" || { kill -KILL "$pid" 2>/dev/null; sleep 0.2; }
    wait "$pid" 2>/dev/null
    SLAPD_PID[$name]=
}

slapd_kill() {
    local name=${1:-ldap} pid=${SLAPD_PID[${1:-ldap}]:-}
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null
    t_wait 10 _slapd_gone "$pid"
    wait "$pid" 2>/dev/null
    SLAPD_PID[$name]=
}

slapd_add() {
    local name=${1:-ldap}
    ldapadd -x -c -H "$(slapd_uri "$name")" -D "$SLAPD_ROOTDN" -w "$SLAPD_ROOTPW" -f "$2" >/dev/null
}

slapd_modify() {
    local name=${1:-ldap} f=${2:--}
    if [ "$f" = - ]; then
        ldapmodify -x -H "$(slapd_uri "$name")" -D "$SLAPD_ROOTDN" -w "$SLAPD_ROOTPW" >/dev/null
    else
        ldapmodify -x -H "$(slapd_uri "$name")" -D "$SLAPD_ROOTDN" -w "$SLAPD_ROOTPW" -f "$f" >/dev/null
    fi
}

slapd_search() {
    local name=${1:-ldap}; shift
    ldapsearch -x -LLL -o ldif-wrap=no -H "$(slapd_uri "$name")" -D "$SLAPD_ROOTDN" \
        -w "$SLAPD_ROOTPW" -b "$SLAPD_SUFFIX" "$@"
}

slapd_pwfile() {
    local name=${1:-ldap} f
    f="$(_slapd_dir "$name").secret"
    ( umask 077; printf '%s\n' "$SLAPD_SYNCPW" > "$f" )
    echo "$f"
}

slapd_consumer() {
    local name=$1 prov=$2 d
    d=$(_slapd_dir "$name")
    rm -rf "$d"; mkdir -p "$d/db"
    SLAPD_PORTS[$name]=$(t_port)
    SLAPD_MODE[$name]=conf
    {
        _slapd_conf "$name" "$d"
        cat <<EOF
syncrepl rid=001
  provider=$(slapd_uri "$prov")
  bindmethod=simple binddn="$SLAPD_ROOTDN" credentials=$SLAPD_ROOTPW
  searchbase="$SLAPD_SUFFIX"
  type=refreshAndPersist
  retry="1 +"
  schemachecking=off
EOF
        _slapd_syncprov_conf
    } > "$d/slapd.conf"
    slapd_start "$name"
}

_slapd_csn() {
    ldapsearch -x -LLL -H "$(slapd_uri "$1")" -D "$SLAPD_ROOTDN" -w "$SLAPD_ROOTPW" \
        -s base -b "$SLAPD_SUFFIX" contextCSN 2>/dev/null | grep contextCSN | sort
}
_slapd_same_csn() {
    local a b
    a=$(_slapd_csn "$1"); b=$(_slapd_csn "$2")
    [ -n "$a" ] && [ "$a" = "$b" ]
}
slapd_wait_replicated() {
    t_wait "${3:-20}" _slapd_same_csn "$1" "$2"
}
