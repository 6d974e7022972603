# bench/run cni — sourced by bench/run. See bench/README.md.
# shellcheck shell=bash disable=SC2034
DESCRIPTION="CNI chain bridge + host-local + portmap: ADD/DEL of 1 and 100 containers, peak RSS per call: warren's plugins vs the reference plugins vs netavark; podman run with either"
# Debian ships netavark outside PATH.
PATH="$PATH:/usr/lib/podman"
REQUIRES=(ip unshare netavark iptables nft)
CRATES=(warren-bench warren-cni)
OPTIONAL_CRATES=()

bench_main() {
    # Options (all optional): --n N (20 rounds of one container), --seq-n M (100),
    # --parts one,seq, --contenders warren,cni,netavark,netavark2, --podman-runs R (5; 0 skips
    # the podman part, reported as not measured). NETAVARK2=/path adds netavark 2.x.
    # The podman part needs root, podman, busybox and tests/podman/env.sh (WPOD_ENV=/path names
    # another copy of it).
    local args=() podman_runs=5
    while [ $# -gt 0 ]; do
        case "$1" in
            --podman-runs) podman_runs="$2"; shift 2 ;;
            *) args+=("$1"); shift ;;
        esac
    done
    local missing=()
    for p in bridge host-local portmap; do
        [ -x "/usr/lib/cni/$p" ] || missing+=("/usr/lib/cni/$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "bench/run cni: missing CNI plugins: ${missing[*]}" >&2
        echo "  they come with containernetworking-plugins (Debian: apt-get install containernetworking-plugins); not installed automatically." >&2
        exit 3
    fi
    local nv2="${NETAVARK2:-}"
    if [ -n "$nv2" ] && [ ! -x "$nv2" ]; then
        echo "bench/run cni: NETAVARK2=$nv2 is not an executable; netavark 2.x will be reported as not installed" >&2
        nv2=""
    fi
    local tmp
    tmp="$(mktemp -d /tmp/warren-bench-cni.XXXXXX)"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    local plugins="$tmp/plugins"
    if ! "$BENCH_BIN/warren-cni" install "$plugins" >/dev/null; then
        echo "bench/run cni: warren-cni install $plugins failed" >&2
        exit 1
    fi

    # Part 3 first (podman): it leaves nothing behind and needs nothing from the rest.
    local pm="$tmp/podman.json" why=""
    local env_sh="${WPOD_ENV:-$BENCH_ROOT/tests/podman/env.sh}"
    if [ "$podman_runs" = 0 ]; then
        why="--podman-runs 0"
    elif [ "$(id -u)" != 0 ]; then
        why="needs root (rootful podman with the CNI backend); running as uid $(id -u)"
    elif ! command -v podman >/dev/null 2>&1; then
        why="podman is not installed"
    elif [ ! -f "$env_sh" ]; then
        why="$env_sh not found (the podman harness of branch podman-cni; WPOD_ENV=/path/to/env.sh names one)"
    elif ! command -v busybox >/dev/null 2>&1 && [ ! -x /bin/busybox ]; then
        why="busybox (busybox-static) is not installed: the test image is made from it"
    fi
    if [ -n "$why" ]; then
        echo "bench/run cni: podman part not measured: $why" >&2
        printf '{"not_measured": "%s"}\n' "$why" >"$pm"
    else
        echo "bench/run cni: podman run --rm IMAGE true: warren vs reference vs --network none, $podman_runs rounds ..." >&2
        bash "$BENCH_ROOT/bench/lib/cni-podman.sh" "$pm" "$plugins" "$env_sh" "$podman_runs" >&2 ||
            true
        [ -s "$pm" ] || printf '{"not_measured": "%s"}\n' \
            "the podman script (bench/lib/cni-podman.sh) failed without a result" >"$pm"
    fi

    local out
    out="$BENCH_RESULTS/cni-$(date -u +%Y%m%dT%H%M%SZ).json"
    "$BENCH_BIN/warren-bench" cni --plugins "$plugins" --netavark2 "$nv2" --podman "$pm" \
        --out "$out" "${args[@]}"
}
