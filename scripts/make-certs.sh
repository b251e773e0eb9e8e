#!/usr/bin/env bash
# make-certs.sh: throwaway TLS certificates for mqttlb's tests, benchmark and
# demo. TEST/DEMO CERTIFICATES ONLY: the keys are world-readable and lie
# beside the certificates, the CAs live two days; never use them for real
# traffic.
#
#   make-certs.sh DIR --san SANS [--client NAME[:CA]]... [--ca NAME]...
#                     [--label TEXT] [--days N]
#
# Makes, in DIR (created if missing), all with ECDSA P-256 keys, valid
# --days days (default 2) from now:
#   ca.key, ca.pem           the CA (self-signed; CN "mqttlb TEXT CA")
#   server.key, server.pem   a server certificate the CA signed: SAN SANS
#                            (e.g. "DNS:a.example.net,DNS:*.b.example.net,
#                            IP:10.0.0.1"), CN its first name, serverAuth
#   NAME.key, NAME.pem       for every --ca NAME: another CA (a "rogue" one,
#                            whose certificates the first CA does not accept)
#   NAME.key, NAME.pem       for every --client NAME[:CA]: a client
#                            certificate (CN NAME, clientAuth) signed by CA:
#                            `ca` (the default) or a NAME given with --ca
# Names are letters, digits, '.', '_' and '-'; `ca` and `server` are taken.
# Each certificate is checked with `openssl verify` against its CA. The keys
# are mode 644 (Mosquitto reads its keyfile after dropping root). Nothing
# else is left in DIR (no openssl.cnf, no CSRs).
#
# Used by bench/scenarios/tls.sh (tls_certs), scripts/demo.sh (certificates;
# installed beside it) and tests/e2e/test_tls.sh (make_certs).
#
# Quiet on success. On failure: a message naming the step that failed and
# openssl's output on stderr, exit status 1, and no new file in DIR (the set
# is made in a temporary directory inside DIR and moved in at the end; if a
# move fails, every file of the set is removed from DIR). Files of an
# earlier run are replaced.
set -euo pipefail

PROG=make-certs.sh

usage() {
  cat <<'EOF'
usage: make-certs.sh DIR --san SANS [--client NAME[:CA]]... [--ca NAME]...
                     [--label TEXT] [--days N]

Makes test/demo TLS certificates (ECDSA P-256) in DIR: ca.key/ca.pem (a CA),
server.key/server.pem (signed by it, subjectAltName SANS, e.g.
"DNS:a.example.net,DNS:*.b.example.net,IP:10.0.0.1"), NAME.key/NAME.pem for
every --ca NAME (another CA) and every --client NAME[:CA] (a client
certificate signed by CA: `ca` by default, or a --ca NAME).

  --san SANS         the server certificate's subjectAltName (required)
  --client NAME[:CA] a client certificate NAME, signed by CA (default ca)
  --ca NAME          another CA, NAME.key/NAME.pem
  --label TEXT       the CA's common name is "mqttlb TEXT CA" (default: test)
  --days N           validity in days (default 2)
  -h, --help         this text

Test and demo certificates only. Exit status 0, or 1 with nothing made.
EOF
}

die() {
  echo "$PROG: $*" >&2
  exit 1
}

# --- arguments -----------------------------------------------------------------------

DIR="" SANS="" LABEL=test DAYS=2
CAS=()     # extra CAs' names
CLIENTS=() # NAME:CA
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --san | --client | --ca | --label | --days)
      if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (--help)"; fi
      case "$1" in
        --san) SANS=$2 ;;
        --client) CLIENTS+=("$2") ;;
        --ca) CAS+=("$2") ;;
        --label) LABEL=$2 ;;
        --days) DAYS=$2 ;;
      esac
      shift 2
      ;;
    -*) die "unknown option '$1' (--help)" ;;
    *)
      [ -z "$DIR" ] || die "unexpected argument '$1': one DIR only (--help)"
      DIR=$1
      shift
      ;;
  esac
done
[ -n "$DIR" ] || die "no DIR given (usage: $PROG DIR --san SANS [--client NAME[:CA]]... [--ca NAME]...)"
[ -n "$SANS" ] || die "--san is required (the server certificate's subjectAltName, e.g. DNS:a.example.net)"
[[ "$DAYS" =~ ^[1-9][0-9]{0,3}$ ]] || die "--days '$DAYS': a whole number of days, 1 to 9999"
[[ "$LABEL" != */* && "$LABEL" != *$'\n'* ]] || die "--label '$LABEL': no '/' or newline"

SERVER_CN=""
IFS=, read -r -a san_list <<<"$SANS"
for s in "${san_list[@]}"; do
  [[ "$s" =~ ^(DNS|IP):[^[:space:]]+$ ]] ||
    die "--san: '$s' is not DNS:NAME or IP:ADDRESS (entries separated by commas, no spaces)"
  [ -n "$SERVER_CN" ] || SERVER_CN=${s#*:}
done
for s in "${san_list[@]}"; do # the common name: the first DNS name, else the first address
  if [[ "$s" == DNS:* ]]; then
    SERVER_CN=${s#DNS:}
    break
  fi
done

# every file name made, to check clashes and to move in at the end
declare -A TAKEN=([ca]="the CA" [server]="the server certificate")
name_ok() { # WHAT NAME
  [[ "$2" =~ ^[A-Za-z0-9._-]+$ && "$2" != .* ]] ||
    die "$1 '$2': a name is letters, digits, '.', '_' and '-' (not starting with '.')"
  [ -z "${TAKEN[$2]:-}" ] || die "$1 '$2': the name is already used by ${TAKEN[$2]}"
}
for c in "${CAS[@]}"; do
  name_ok --ca "$c"
  TAKEN[$c]="--ca $c"
done
for spec in "${CLIENTS[@]}"; do
  name=${spec%%:*} signer=ca
  [ "$name" = "$spec" ] || signer=${spec#*:}
  name_ok --client "$name"
  [ "$signer" = ca ] || [[ " ${CAS[*]} " == *" $signer "* ]] ||
    die "--client $spec: no CA '$signer' (ca, or one given with --ca: ${CAS[*]:-none})"
  TAKEN[$name]="--client $spec"
done

command -v openssl >/dev/null 2>&1 || die "'openssl' not found (Debian package openssl)"
mkdir -p "$DIR" || die "cannot make the directory '$DIR'"
[ -w "$DIR" ] || die "cannot write in '$DIR'"

# --- making, in a temporary directory inside DIR -----------------------------------------

WORK=$(mktemp -d "$DIR/.make-certs.XXXXXX") || die "cannot make a temporary directory in '$DIR'"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM HUP

cat >"$WORK/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $SANS
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# run WHAT CMD...: CMD quietly; on failure a message naming the step, the
# command and its output on stderr, exit 1 (the trap removes what was made).
run() {
  local what=$1 rc=0
  shift
  "$@" >"$WORK/out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    {
      echo "$PROG: making $what failed: $1 ${2:-} exited with status $rc"
      echo "    \$ ${*//"$WORK"\//}"
      sed 's/^/    /' "$WORK/out"
      echo "$PROG: nothing made in $DIR"
    } >&2
    exit 1
  fi
}

O=(-config "$WORK/openssl.cnf")
key() { # NAME WHAT
  run "$2's key ($1.key)" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/$1.key"
}
ca() { # NAME CN
  key "$1" "the CA $1"
  run "the CA certificate $1.pem" openssl req "${O[@]}" -x509 -new -key "$WORK/$1.key" -out "$WORK/$1.pem" \
    -days "$DAYS" -subj "/CN=$2" -extensions v3_ca
}
leaf() { # NAME CA CN EXTENSIONS WHAT
  key "$1" "$5"
  run "$5's request ($1.csr)" openssl req "${O[@]}" -new -key "$WORK/$1.key" -out "$WORK/$1.csr" -subj "/CN=$3"
  run "$5 ($1.pem, signed by $2)" openssl x509 -req -in "$WORK/$1.csr" -CA "$WORK/$2.pem" -CAkey "$WORK/$2.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days "$DAYS" -out "$WORK/$1.pem" \
    -extfile "$WORK/openssl.cnf" -extensions "$4"
  run "$5: $1.pem does not verify against $2.pem" openssl verify -CAfile "$WORK/$2.pem" "$WORK/$1.pem"
}

ca ca "mqttlb $LABEL CA"
for c in "${CAS[@]}"; do ca "$c" "mqttlb $LABEL CA $c"; done
leaf server ca "$SERVER_CN" v3_server "the server certificate"
for spec in "${CLIENTS[@]}"; do
  name=${spec%%:*} signer=ca
  [ "$name" = "$spec" ] || signer=${spec#*:}
  leaf "$name" "$signer" "$name" v3_client "the client certificate $name"
done
chmod 644 "$WORK"/*.key "$WORK"/*.pem || die "cannot chmod the keys in $WORK"

# --- into DIR: all or nothing ------------------------------------------------------------

NAMES=("${!TAKEN[@]}")
for n in "${NAMES[@]}"; do
  if ! mv -f "$WORK/$n.key" "$WORK/$n.pem" "$DIR/"; then
    for m in "${NAMES[@]}"; do rm -f "$DIR/$m.key" "$DIR/$m.pem" 2>/dev/null || true; done
    die "cannot move $n.key and $n.pem into $DIR (nothing made)"
  fi
done
