# bench/run labs — sourced by bench/run. See bench/README.md.
# shellcheck shell=bash disable=SC2034
DESCRIPTION="lab topologies up/down (1 switch with 10..1,000 hosts, 100 switches in a chain): warren lab vs Mininet 2.3 (Linux bridge, no controller) vs ip script vs ip -batch"
# Mininet 2.3 (python3 module `mininet`, its `mnexec`) and its Linux bridge switch's `brctl`
# (bridge-utils); Open vSwitch is not needed.
REQUIRES=(ip sh mnexec brctl /usr/bin/python3)
CRATES=(warren-bench)
OPTIONAL_CRATES=(warren-cli)

bench_main() {
    # Options (all optional): --n 10,100,200,1000 (hosts on one switch), --linear K (100; 0:
    # none), --contenders warren,mininet,ip-batch,ip-script, --repeat R, --ip-script-max N (200:
    # the ip script is not run on bigger topologies; nothing is extrapolated).
    if ! /usr/bin/python3 -c 'import mininet.net, mininet.nodelib' 2>/dev/null; then
        echo "bench/run labs: the python3 module mininet is missing (Debian: apt-get install mininet); not installed automatically." >&2
        exit 3
    fi
    "$BENCH_BIN/warren-bench" labs --warren "$BENCH_BIN/warren" \
        --mininet-script "$BENCH_ROOT/bench/lib/labs-mininet.py" \
        --out "$BENCH_RESULTS/labs-$(date -u +%Y%m%dT%H%M%SZ).json" "$@"
}
