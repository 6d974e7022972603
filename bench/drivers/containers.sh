# bench/run containers — sourced by bench/run. See bench/README.md.
# shellcheck shell=bash disable=SC2034
DESCRIPTION="one container (0/1/10 ports), 100 in sequence, connections to 10,000 published ports, DNS: warren vs netavark, CNI chain, aardvark-dns"
# Debian ships netavark and aardvark-dns outside PATH; the CNI plugins are checked below.
PATH="$PATH:/usr/lib/podman"
REQUIRES=(ip netavark aardvark-dns iptables nft)
CRATES=(warren-bench warren-cli warren-dns)
OPTIONAL_CRATES=()

bench_main() {
    # Options (all optional): --n N (20 runs per figure of part 1), --seq-n M (100),
    # --secs S (3: per measurement of parts 3 and 4), --ports 0,1,10, --levels 1,1000,10000,
    # --parts wire,seq,connrate,dns, --contenders warren,warren-adopt,warren-dnscold,netavark,netavark-dns,
    # netavark2,cni. A netavark 2.x binary is measured too when NETAVARK2=/path names one.
    local missing=()
    for p in bridge host-local portmap; do
        [ -x "/usr/lib/cni/$p" ] || missing+=("/usr/lib/cni/$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "bench/run containers: missing CNI plugins: ${missing[*]}" >&2
        echo "  they come with containernetworking-plugins (Debian: apt-get install containernetworking-plugins); not installed automatically." >&2
        exit 3
    fi
    if [ ! -x "$BENCH_BIN/warren-dns" ]; then
        echo "bench/run containers: $BENCH_BIN/warren-dns is missing (warren finds it beside itself)" >&2
        exit 3
    fi
    local nv2="${NETAVARK2:-}"
    if [ -n "$nv2" ] && [ ! -x "$nv2" ]; then
        echo "bench/run containers: NETAVARK2=$nv2 is not an executable; netavark 2.x will be reported as not installed" >&2
        nv2=""
    fi
    "$BENCH_BIN/warren-bench" containers --warren "$BENCH_BIN/warren" --netavark2 "$nv2" \
        --out "$BENCH_OUT" "$@"
}
