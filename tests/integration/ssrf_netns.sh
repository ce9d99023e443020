#!/bin/sh
# Runs COMMAND inside the current (fresh, from `unshare --net --mount`)
# network namespace after giving its lo the addresses the SSRF suite needs,
# and HOSTS_FILE as /etc/hosts. The namespace holds nothing but lo, so a
# destination fetchpool fails to deny is either one of these local addresses
# (where a canary counts the connection) or "network unreachable": no packet
# can leave the machine.
# usage: unshare --net --mount sh ssrf_netns.sh HOSTS_FILE COMMAND [ARGS...]
set -eu
hosts_file=$1
shift
ip link set lo up
# origins fetchpool may reach under the default profile (private ranges)
ip addr add 10.0.0.1/32 dev lo
ip addr add 100.64.0.1/32 dev lo
# canaries on metadata addresses: reachable here if fetchpool failed to deny
ip addr add 169.254.169.254/32 dev lo
for a in fd00:ec2::254 64:ff9b::a9fe:a9fe 2002:a9fe:a9fe::; do
  ip -6 addr add "$a/128" dev lo nodad
done
mount --bind "$hosts_file" /etc/hosts
exec "$@"
