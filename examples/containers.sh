#!/usr/bin/env bash
# Container networking with warren, in a private sandbox (its own user, network and mount
# namespaces and /run), so it changes nothing on this machine:
#   a dual-stack network, a detached container found by name through warren's DNS, a pod with a
#   published port in warren's own nftables table, then everything removed and checked gone.
#
# Run from the repository: ./examples/containers.sh   (it builds warren first; root, or a user
# allowed to create user namespaces)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${WARREN_EXAMPLE_INSIDE:-}" != 1 ]; then
    if ! command -v ping >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "containers.sh: installing iputils-ping and nftables to show a ping and the rules"
        apt-get update -qq && apt-get install -y -qq iputils-ping nftables >/dev/null
    fi
    scripts/build-release warren-cli warren-dns
    exec unshare --user --map-root-user --net --mount --fork \
        env WARREN_EXAMPLE_INSIDE=1 "$0" "$@"
fi

# Inside the sandbox: a private /run, and this namespace plays the host.
mount -t tmpfs tmpfs /run
mkdir -p /run/netns /run/warren
export WARREN_STATE_DIR=/run/warren-state
ip link set lo up 2>/dev/null || true
W=$PWD/target/release/warren

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
w() { step warren "$@"; }
warren() { "$W" "$@"; }

w network create front --subnet 10.77.0.0/24 --subnet fd77::/64
w network ls
w run -d --name db --net front --alias database -- sleep 300
w run --rm --name app --net front -- sh -c 'getent hosts db database; ping -c1 -W2 db | head -2'
w pod create web --net front -p 8080:80 -p '[::1]:8443:443'
w ps
w pod ls
if command -v nft >/dev/null; then
    step nft list map inet warren ports4
fi
w rm -f db
w pod rm web
w network rm front
w gc --dry-run
echo
echo "namespaces left: $(ls /run/netns | wc -l); warren links left: $(ip -br link | grep -c '^w' || true)"
