# bench/run inspect — sourced by bench/run. See bench/README.md.
# shellcheck shell=bash disable=SC2034
DESCRIPTION="seeing the host at 1,000 namespaces: warren ns list --all, warren veths vs ip -all netns exec ip -j link"
REQUIRES=(ip)
CRATES=(warren-bench warren-cli)
OPTIONAL_CRATES=()

bench_main() {
    # Options (all optional): --n N (1000 namespaces), --repeat R (5 interleaved rounds).
    local out
    out="$BENCH_RESULTS/inspect-$(date -u +%Y%m%dT%H%M%SZ).json"
    "$BENCH_BIN/warren-bench" inspect --warren "$BENCH_BIN/warren" --out "$out" "$@"
}
