#!/usr/bin/env bash
# The classic router example, wired by warren alone: two LANs, each a namespace, joined by a
# router namespace with forwarding on. A ping crosses the router; then everything is removed.
#
#   lan-a (10.0.1.2) --veth-- router (10.0.1.1 | 10.0.2.1) --veth-- lan-b (10.0.2.2)
#
# Run as root from the repository: ./examples/router.sh   (it builds warren first)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "router.sh: run as root (network namespaces under /run/netns need it)" >&2
    exit 1
fi
if ! command -v ping >/dev/null && command -v apt-get >/dev/null; then
    echo "router.sh: installing iputils-ping to show the ping (apt-get install iputils-ping)"
    apt-get update -qq && apt-get install -y -qq iputils-ping >/dev/null
fi
scripts/build-release warren-cli
W=$PWD/target/release/warren
A=wdemo-lan-a R=wdemo-router B=wdemo-lan-b

cleanup() { "$W" ns delete "$A" "$R" "$B" 2>/dev/null || true; }
trap cleanup EXIT
cleanup

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
w() { step warren "$@"; }
warren() { "$W" "$@"; }

w ns add --lo-up "$A" "$R" "$B"
w -n "$R" link add to-a type veth peer name eth0 netns "$A"
w -n "$R" link add to-b type veth peer name eth0 netns "$B"
w -n "$R" addr add 10.0.1.1/24 dev to-a
w -n "$R" addr add 10.0.2.1/24 dev to-b
w -n "$R" link set to-a up
w -n "$R" link set to-b up
w -n "$R" sysctl net.ipv4.ip_forward=1
for side in "$A:10.0.1" "$B:10.0.2"; do
    ns=${side%%:*} net=${side#*:}
    w -n "$ns" addr add "$net.2/24" dev eth0
    w -n "$ns" link set eth0 up
    w -n "$ns" route add default via "$net.1"
done
w ns list
w -n "$R" link show
w -n "$A" route get 10.0.2.2
w ns exec "$A" ping -c 3 -W 2 10.0.2.2
echo
echo "cleaning up: warren ns delete $A $R $B"
