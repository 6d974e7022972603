#!/bin/bash
# tests/podman/run.sh — prove a set of CNI plugins with Debian's Podman 4.3 as a real client, offline.
#
# Usage:  tests/podman/run.sh PLUGIN_DIR [TYPE_PREFIX]
#
#   PLUGIN_DIR   directory holding the plugin binaries
#   TYPE_PREFIX  prefix of the plugin type names; the conflist uses ${TYPE_PREFIX}bridge,
#                ${TYPE_PREFIX}host-local and ${TYPE_PREFIX}portmap (default: empty)
#
# Examples:
#   tests/podman/run.sh /usr/lib/cni                 # the reference plugins (validates the harness)
#   tests/podman/run.sh target/release warren-       # warren's plugins
#   # the harness under warren's names, reference binaries behind them (their leftovers are known):
#   d=$(mktemp -d); for t in bridge host-local portmap; do ln -s /usr/lib/cni/$t $d/warren-$t; done
#   WPOD_LEFTOVERS=report tests/podman/run.sh $d warren-
#
# Environment:
#   WPOD_LEFTOVERS=strict|report  whether firewall rules left after the last container is removed
#                  are a FAIL (strict) or only printed (report). Rules that mention a removed
#                  container (id or address) and any rule added since the baseline (empty tables and
#                  chains excepted) count. Default: strict with a prefix, report without one (the
#                  reference portmap leaves its CNI-HOSTPORT-* chains and their jumps behind).
#   WARREN_BIN=/path/to/warren-cni  also check that `warren-cni ls -j` prints [] at the end.
#   WPOD_CAPTURE=FILE             log every plugin call (argv, CNI_* env, stdin, stdout, rc) to FILE.
#   WPOD_TIMING_RUNS=N            runs for the timing step (default 5; 0 skips it).
#
# Needs root, podman (4.3, CNI backend), runc, busybox-static, iproute2, nft. Runs hermetically: it
# re-executes itself in new network + mount namespaces (see env.sh); that network namespace is "the
# host" of the test. Every check prints one PASS/FAIL line; the first FAIL stops the run (exit 1),
# after the cleanup trap has removed everything. Run `bash -x` for a trace.
set -euo pipefail

HERE=$(dirname "$(readlink -f "$0")")
# shellcheck source=tests/podman/env.sh
source "$HERE/env.sh"

if [[ $# -lt 1 || $# -gt 2 || ! -d $1 ]]; then
	sed -n '2,24p' "$0" >&2
	exit 2
fi
PLUGIN_DIR=$(readlink -f "$1")
PREFIX=${2:-}
if [[ -z ${WPOD_LEFTOVERS:-} ]]; then
	if [[ -n $PREFIX ]]; then WPOD_LEFTOVERS=strict; else WPOD_LEFTOVERS=report; fi
fi

# Outside: re-exec inside the namespaces, then check the real host is untouched. Does not return.
wpod_enter "$0" "$@"

# ------------------------------------------------------------------------------------------------
# Inside the private namespaces from here on.

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	exit 1
}
# check DESCRIPTION COMMAND... — PASS if the command succeeds, else FAIL (and stop).
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# http_get http://HOST:PORT/PATH — HTTP/1.0 GET from "the host" namespace with bash's /dev/tcp
# (Debian's static busybox wget segfaults on the host: glibc NSS in a static binary), prints the body.
http_get() {
	local hp=${1#http://} path host port
	path=/${hp#*/}
	hp=${hp%%/*}
	host=${hp%:*}
	port=${hp##*:}
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$2" "$0" >&3 && cat <&3' \
		"$host" "$port" "$path" 2>/dev/null | sed '1,/^\r$/d'
}
# expect_body URL — the page served by the test container, retried for up to ~5 s.
BODY=hello-from-warren
expect_body() {
	local i got=
	for ((i = 0; i < 25; i++)); do
		got=$(http_get "$1" || true)
		[[ $got == "$BODY" ]] && return 0
		sleep 0.2
	done
	echo "    got: '${got}'" >&2
	return 1
}
# in_ctr_get CONTAINER HOST PORT — fetch / from inside a running container (image's hget: busybox nc).
in_ctr_get() {
	local i got=
	for ((i = 0; i < 10; i++)); do
		got=$(wpod exec "$1" hget "$2" "$3" 2>/dev/null || true)
		[[ $got == "$BODY" ]] && return 0
		sleep 0.3
	done
	echo "    got: '${got}'" >&2
	return 1
}

# check_warren_state — warren's own state. No-op unless WARREN_BIN names the warren-cni binary;
# then `warren-cni ls -j` must print an empty JSON list (no attachments left), and warren's
# table `inet warren-cni` (whose fixed rules stay, like an empty chain) must hold no element.
check_warren_state() {
	if [[ -z ${WARREN_BIN:-} ]]; then
		echo "SKIP: warren state (WARREN_BIN not set)"
		return 0
	fi
	local out
	out=$("$WARREN_BIN" ls -j 2>&1) || fail "warren state: '$WARREN_BIN ls -j' failed: $out"
	if [[ $(echo "$out" | tr -d ' \n\t') == "[]" ]]; then
		pass "warren state: 'warren-cni ls -j' is [] (no attachment, lease or record left)"
	else
		echo "$out" | sed 's/^/    /'
		fail "warren state: attachments left"
	fi
	local elems
	elems=$(nft list table inet warren-cni 2>/dev/null | grep -A2 'elements = ' || true)
	[[ -z $elems ]] || { echo "$elems" | sed 's/^/    /'; fail "warren state: elements left in table inet warren-cni"; }
	pass "warren state: table inet warren-cni holds no element"
}

trap 'wpod_teardown' EXIT
echo "== plugins: $PLUGIN_DIR  prefix: '${PREFIX}'  leftovers: $WPOD_LEFTOVERS"
for t in bridge host-local portmap; do
	[[ -x $PLUGIN_DIR/$PREFIX$t ]] || fail "plugin $PLUGIN_DIR/$PREFIX$t missing"
done
wpod_setup "$PLUGIN_DIR" "$PREFIX"
pass "podman $("$WPOD_PODMAN" --version | awk '{print $3}') set up in $WPOD_TMP (image $WPOD_IMAGE, network $WPOD_NET)"
[[ -n ${WPOD_CAPTURE:-} ]] && echo "   (plugin calls logged to $WPOD_CAPTURE)"
net_listed() { [[ $(wpod network ls --format '{{.Name}}' | grep -cx "$WPOD_NET") == 1 ]]; }
check "podman sees network $WPOD_NET (backend cni)" net_listed

# Baseline of the host firewall before any container exists (the bridge is created on first ADD).
NFT_BASE=$(nft list ruleset 2>/dev/null)

# --- 1. a detached server, port 8080 on the host -> 80 in the container ------------------------
C1=$(wpod run -d --name wpod-c1 "${WPOD_RUN_FLAGS[@]}" -p 8080:80 "$WPOD_IMAGE" \
	httpd -f -p 80 -h /www) || fail "podman run -d -p 8080:80 (server)"
pass "container 1 started (${C1:0:12}) with -p 8080:80"
IP1=$(wpod inspect -f "{{(index .NetworkSettings.Networks \"$WPOD_NET\").IPAddress}}" wpod-c1)
[[ $IP1 =~ ^10\.89\.7\.[0-9]+$ ]] || fail "container 1 address from podman inspect: '$IP1'"
pass "container 1 address $IP1 (podman inspect)"
lo_up() { wpod exec "$1" ip -o link show lo | grep -q '<LOOPBACK,UP'; }
check "container 1 has lo UP (podman does it; the conflist has no loopback plugin)" lo_up wpod-c1
echo "    bridge $WPOD_BRIDGE ports: $(ip -o link show master "$WPOD_BRIDGE" | awk -F': ' '{print $2}' | tr '\n' ' ')"

check "host -> 127.0.0.1:8080 (published port, localhost)" expect_body http://127.0.0.1:8080/
check "host -> $IP1:80 (container address)" expect_body "http://$IP1:80/"
check "host -> ${WPOD_SUBNET%.0/24}.1:8080 (published port on the bridge address)" \
	expect_body "http://${WPOD_SUBNET%.0/24}.1:8080/"

# --- 2. a second container reaches the first -------------------------------------------------------
C2=$(wpod run -d --name wpod-c2 "${WPOD_RUN_FLAGS[@]}" "$WPOD_IMAGE" sleep 600) ||
	fail "podman run -d (client)"
IP2=$(wpod inspect -f "{{(index .NetworkSettings.Networks \"$WPOD_NET\").IPAddress}}" wpod-c2)
[[ $IP2 =~ ^10\.89\.7\.[0-9]+$ && $IP2 != "$IP1" ]] || fail "container 2 address: '$IP2'"
pass "container 2 started (${C2:0:12}) at $IP2"
check "container 2 -> $IP1:80 (across the bridge)" in_ctr_get wpod-c2 "$IP1" 80
check "container 2 -> ${WPOD_SUBNET%.0/24}.1:8080 (published port via the host)" \
	in_ctr_get wpod-c2 "${WPOD_SUBNET%.0/24}.1" 8080
oneshot_get() { [[ $(wpod run --rm "${WPOD_RUN_FLAGS[@]}" "$WPOD_IMAGE" hget "$1" "$2") == "$BODY" ]]; }
check "podman run --rm -> $IP1:80 (one-shot container)" oneshot_get "$IP1" 80
check "container 1 -> ${WPOD_SUBNET%.0/24}.1:8080 (hairpin: its own published port)" \
	in_ctr_get wpod-c1 "${WPOD_SUBNET%.0/24}.1" 8080

# --- 3. remove both; nothing may be left ---------------------------------------------------------------
wpod rm -f -t 0 wpod-c1 wpod-c2 >/dev/null || fail "podman rm -f"
pass "podman rm -f both containers"

# 3a. interfaces: only lo and the bridge, and the bridge has no ports.
extra=$(ip -o link | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -vxE "lo|$WPOD_BRIDGE" || true)
ports=$(ip -o link show master "$WPOD_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' || true)
echo "    bridge $WPOD_BRIDGE: $(ip -br addr show "$WPOD_BRIDGE" 2>/dev/null | tr -s ' ')"
echo "    bridge $WPOD_BRIDGE ports: ${ports:-(none)}"
[[ -z $extra && -z $ports ]] || fail "interfaces left: ${extra//$'\n'/ } ${ports//$'\n'/ }"
pass "no interfaces left but lo and $WPOD_BRIDGE; no bridge ports"

# 3b. network namespaces podman made.
left_ns=$(ls -A /run/netns)
[[ -z $left_ns ]] || fail "netns left in /run/netns: $left_ns"
pass "no netns left in /run/netns"

# 3c. IPAM allocations and libcni's result cache.
alloc=$(ls -A "/var/lib/cni/networks/$WPOD_NET" 2>/dev/null | grep -vE '^(lock|last_reserved_ip\..*)$' || true)
[[ -z $alloc ]] || fail "host-local allocations left: $alloc"
pass "no IP allocations left in /var/lib/cni/networks/$WPOD_NET"
cache=$(ls -A /var/lib/cni/results 2>/dev/null || true)
[[ -z $cache ]] || fail "libcni result cache left: $cache"
pass "no cached results left in /var/lib/cni/results"

# 3d. firewall: rules mentioning either container (id, address), and everything new since the baseline.
ip_re() { echo "${1//./\\.}([^0-9]|\$)"; }
# warren's table keeps its fixed rules (its sets and maps, checked empty below, are the state).
NFT_NOW=$(nft list ruleset 2>/dev/null | awk '/^table inet warren-cni \{/{skip=1} !skip{print} skip&&/^\}/{skip=0}')
mention=$(echo "$NFT_NOW" | grep -nE "$C1|$C2|${C1:0:12}|${C2:0:12}|$(ip_re "$IP1")|$(ip_re "$IP2")" || true)
newrules=$(diff <(echo "$NFT_BASE") <(echo "$NFT_NOW") | grep '^>' || true)
legacy=
if command -v iptables-legacy-save >/dev/null; then
	legacy=$(iptables-legacy-save 2>/dev/null | grep -E '^-A' || true)
fi
echo "    nft ruleset: $(echo "$NFT_NOW" | grep -c .) lines now, $(echo "$NFT_BASE" | grep -c .) before the first container"
if [[ -n $newrules ]]; then
	echo "    nft lines added since the baseline and still present:"
	echo "$newrules" | sed 's/^> */        /'
fi
[[ -z $legacy ]] || { echo "    iptables-legacy rules:"; echo "$legacy" | sed 's/^/        /'; }
if [[ -n $mention || -n $legacy ]]; then
	echo "    rules mentioning the removed containers:"
	echo "$mention" | sed 's/^/        /'
	if [[ $WPOD_LEFTOVERS == strict ]]; then
		fail "firewall rules of removed containers left"
	fi
	echo "REPORT: firewall rules of removed containers left (WPOD_LEFTOVERS=report: not a failure)"
else
	pass "no firewall rules mention the removed containers"
fi
# Rule lines (not table/chain headers, base-chain hooks, braces) added since the baseline.
newrule_lines=$(echo "$newrules" | sed 's/^> *//' | grep -vE '^\s*$|^\s*(table|chain) .*\{$|^\s*\}$|^\s*type .* hook ' || true)
if [[ -n $newrule_lines ]]; then
	if [[ $WPOD_LEFTOVERS == strict ]]; then
		fail "firewall rules left after the last container was removed (listed above)"
	fi
	echo "REPORT: firewall rules left after the last container was removed (listed above; WPOD_LEFTOVERS=report)"
elif [[ -n $newrules ]]; then
	pass "only empty tables/chains left after the last container (listed above)"
else
	pass "ruleset back to the baseline"
fi

# 3e. warren's own state (hook).
check_warren_state

# --- 4. timing: `podman run --rm IMAGE true` ------------------------------------------------------------
runs=${WPOD_TIMING_RUNS:-5}
if ((runs > 0)); then
	wpod_time_run "$runs" --network "$WPOD_NET"
	m_net=$WPOD_MEDIAN_MS t_net=$WPOD_TIMES
	wpod_time_run "$runs" --network none
	m_none=$WPOD_MEDIAN_MS t_none=$WPOD_TIMES
	echo "TIMING: podman run --rm IMAGE true, network $WPOD_NET: median ${m_net} ms (runs: $t_net)"
	echo "TIMING: podman run --rm IMAGE true, network none:  median ${m_none} ms (runs: $t_none)"
	echo "TIMING: CNI share (difference of medians): $((m_net - m_none)) ms"
	alloc=$(ls -A "/var/lib/cni/networks/$WPOD_NET" | grep -vE '^(lock|last_reserved_ip\..*)$' || true)
	[[ -z $alloc ]] || fail "allocations left after the timing runs: $alloc"
	pass "timing runs left no allocations"
fi

echo "ALL PASS ($PLUGIN_DIR, prefix '${PREFIX}')"
