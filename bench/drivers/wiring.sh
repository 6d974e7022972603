# bench/run wiring — sourced by bench/run. See bench/README.md.
# shellcheck shell=bash disable=SC2034
DESCRIPTION="1,000 namespaces on bridges up/down: warren vs raw netlink vs ip script vs ip -batch; warren ns vs ip netns"
REQUIRES=(ip sh)
CRATES=(warren-bench)
OPTIONAL_CRATES=(warren-cli)

bench_main() {
    # Options (all optional): --n N (1000), --per-bridge P (500), --script-n M (N: the ip
    # script's namespace count; fewer are extrapolated, clearly labelled), --parts a,b,
    # --contenders raw,warren,ip-batch,ip-script,ip-each,warren-each,ip-batch,warren-bulk
    "$BENCH_BIN/warren-bench" wiring --warren "$BENCH_BIN/warren" --out "$BENCH_OUT" "$@"
}
