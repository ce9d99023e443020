#!/bin/sh
# Makes the certificates tests/integration/auth_test.cc uses, in $1:
#   ca.pem/ca.key              the test CA
#   server.pem/server.key      signed by it, SAN IP:127.0.0.1, DNS:localhost
#   spiffe.pem/spiffe.key      client, SAN URI:spiffe://example.org/ns/test/sa/webhooks
#   dns.pem/dns.key            client, SAN DNS:client.internal
#   other-ca.pem, stranger.pem/stranger.key  a client from another CA
# EC P-256 keys: fast to make on a busy machine. Valid for 2 days.
set -eu
dir=$1
cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

ca() {  # name
  openssl req -x509 $ec -keyout "$1.key" -out "$1.pem" -days 2 -subj "/CN=fetchpool test $1" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
}

leaf() {  # name ca san
  openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" \
    -days 2 -extfile "$1.ext" 2>/dev/null
}

ca ca
ca other-ca
leaf server ca "IP:127.0.0.1,DNS:localhost"
leaf spiffe ca "URI:spiffe://example.org/ns/test/sa/webhooks"
leaf dns ca "DNS:client.internal"
leaf stranger other-ca "URI:spiffe://example.org/ns/test/sa/stranger"
