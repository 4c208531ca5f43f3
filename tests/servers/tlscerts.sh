#!/bin/sh
# tests/servers/tlscerts.sh - a throw-away test CA and a "localhost" server
# certificate, made with the openssl CLI.
#
#   sh tests/servers/tlscerts.sh DIR
#
# Writes DIR/ca.pem (the CA to give smtpsend as --tls-trust-file),
# DIR/ca.key, DIR/server.pem (leaf, then the CA: a full chain),
# DIR/server-leaf.pem and DIR/server.key (unencrypted, mode 0644 so that
# servers running as their own users can read it: these are test keys).
# The leaf has subjectAltName DNS:localhost, IP:127.0.0.1, is valid for
# 2 days, and is signed by the CA (RSA 2048, SHA-256).  Does nothing when
# DIR/server.pem already exists.
set -u
. "$(dirname "$0")/common.sh"

d=${1:-}
[ -n "$d" ] || die "usage: tlscerts.sh DIR"
[ -s "$d/server.pem" ] && [ -s "$d/ca.pem" ] && exit 0
command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install openssl)"
mkdir -p "$d" || exit 1
cd "$d" || exit 1
q() {
	# openssl is chatty on stderr; show it only when it fails.
	"$@" >openssl.log 2>&1 || { cat openssl.log >&2; die "failed: $*"; }
}
q openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 2 \
    -keyout ca.key -out ca.pem -subj "/O=smtpsend tests/CN=smtpsend test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
q openssl req -new -newkey rsa:2048 -nodes -sha256 \
    -keyout server.key -out server.csr -subj "/O=smtpsend tests/CN=localhost"
cat >server.ext <<EXT
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
EXT
q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 2 -sha256 -extfile server.ext -out server-leaf.pem
cat server-leaf.pem ca.pem >server.pem
chmod 0644 server.key server.pem server-leaf.pem ca.pem
chmod 0755 .
q openssl verify -CAfile ca.pem server-leaf.pem
rm -f server.csr openssl.log
exit 0
