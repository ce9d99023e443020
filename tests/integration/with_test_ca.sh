#!/bin/sh
# Runs a test inside a network namespace holding only loopback and a mount
# namespace where the system CA bundle is a fresh self-signed certificate
# for 127.0.0.1, so curl (which reads /etc/ssl/certs/ca-certificates.crt)
# trusts an HTTPS origin on loopback without any fetchpool TLS setting.
# Usage: unshare --net --mount sh with_test_ca.sh TEST_BINARY [ARGS...]
# The test finds the certificate and key in $FETCHPOOL_TEST_TLS_DIR.
set -eu
ip link set lo up
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
mount --bind "$dir/cert.pem" /etc/ssl/certs/ca-certificates.crt
FETCHPOOL_TEST_TLS_DIR=$dir "$@"
