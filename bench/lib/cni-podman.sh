#!/usr/bin/env bash
# bench/lib/cni-podman.sh OUT WARREN_PLUGIN_DIR ENV_SH [RUNS] — the podman part of `bench/run cni`:
# `podman run --rm IMAGE true` with warren's plugins, with the reference plugins and with
# `--network none`, RUNS (5) alternating rounds after one untimed warm-up run of each; medians.
# Runs in the private environment of tests/podman/env.sh (ENV_SH): its own network and mount
# namespaces, podman state in a temp dir. Writes one JSON object to OUT; on any failure it
# writes {"not_measured": REASON} instead, so the report never skips silently.
set -uo pipefail

OUT=$1
WDIR=$2
ENV_SH=$3
RUNS=${4:-5}
# shellcheck source=/dev/null
source "$ENV_SH"

fail() {
    local why=$1
    echo "bench/run cni: podman: not measured: $why" >&2
    printf '{"not_measured": "%s"}\n' "${why//\"/\'}" >"$OUT"
    exit 0
}

# Outside: re-exec this script in the private namespaces (wpod_enter exits with its status).
if [[ ${WPOD_INSIDE:-0} != 1 ]]; then
    wpod_enter "$0" "$@"
fi

trap wpod_teardown EXIT
wpod_setup "$WDIR" warren- >/dev/null || fail "setting up podman's private environment failed"
warren_net=$WPOD_NET
# A second network with the reference plugins: its own name, bridge and subnet; podman looks
# for plugins in both directories.
WPOD_NET=wrefnet WPOD_BRIDGE=wref0 WPOD_SUBNET=10.89.8.0/24 wpod_write_conflist ""
sed -i "s|^cni_plugin_dirs = .*|cni_plugin_dirs = [\"$WPOD_PLUGIN_DIR\", \"/usr/lib/cni\"]|" \
    "$WPOD_TMP/containers.conf"
# warren's plugins keep their state on a tmpfs private to this run.
mkdir -p /run/containers/warren-state
export WARREN_STATE_DIR=/run/containers/warren-state

declare -A times=([warren]="" [reference]="" [none]="")
run_once() { # NAME NETWORK -> ms on stdout
    local t0 t1 err
    t0=$(date +%s%N)
    if ! err=$(wpod run --rm --ulimit host --pull never --network "$2" "$WPOD_IMAGE" true 2>&1 >/dev/null); then
        fail "podman run --network $2 ($1) failed: $(echo "$err" | tail -1)"
    fi
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}
# Untimed warm-up of each (page cache, first bridge creation).
for spec in "warren:$warren_net" "reference:wrefnet" "none:none"; do
    run_once "${spec%%:*}" "${spec#*:}" >/dev/null
done
for ((r = 0; r < RUNS; r++)); do
    for spec in "warren:$warren_net" "reference:wrefnet" "none:none"; do
        ms=$(run_once "${spec%%:*}" "${spec#*:}") || exit 0
        [[ -n $ms ]] || exit 0
        times[${spec%%:*}]+="$ms "
    done
    echo "bench/run cni: podman round $((r + 1))/$RUNS done (ms so far: warren ${times[warren]}| reference ${times[reference]}| none ${times[none]})" >&2
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int(NR/2)+1]}'; }
json_runs() { local IFS=,; echo "[$*]"; }
{
    printf '{"runs": %d, "image": "%s", "podman": "%s", "what": "%s",' "$RUNS" "$WPOD_IMAGE" \
        "$(wpod --version 2>/dev/null)" \
        "podman run --rm --ulimit host --pull never --network NET IMAGE true, wall time from start to exit; CNI backend, rootful, in tests/podman/env.sh's private namespaces; networks: bridge + host-local + portmap conflist (hairpinMode, ipMasq) with warren- prefixed plugins, the same with the reference plugins, and --network none; one untimed warm-up of each, then alternating rounds"
    sep=""
    for k in warren reference none; do
        # shellcheck disable=SC2086
        printf '%s"%s": {"median_ms": %s, "runs_ms": %s}' "$sep" "$k" \
            "$(median ${times[$k]})" "$(json_runs ${times[$k]})"
        sep=","
    done
    echo "}"
} >"$OUT"
