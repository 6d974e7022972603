# shellcheck shell=bash
# tests/podman/env.sh — a hermetic, offline Podman 4.3 (CNI backend) environment.
#
# Sourced by tests/podman/run.sh and by benchmarks that want the same setup.
# Nothing here runs on source; call the functions:
#
#   wpod_enter "$0" "$@"          re-exec the calling script inside a private net+mount namespace
#                                 (no-op when already inside; needs real root, no user namespace)
#   wpod_setup PLUGIN_DIR PREFIX  make the temp dir, containers.conf, busybox image, conflist
#   wpod ARGS...                  run podman against that private state
#   wpod_teardown                 remove containers, podman state, temp dir, cgroups we created
#   wpod_wrap_plugins SRC PREFIX LOG OUTDIR
#                                 make OUTDIR with logging wrappers around SRC/${PREFIX}*
#
# Variables set by wpod_setup (read-only for callers):
#   WPOD_TMP      the temp dir holding everything (podman root/runroot/tmp, net.d, image tar)
#   WPOD_NET      CNI network name ("warrentest")
#   WPOD_BRIDGE   bridge name ("wtest0")
#   WPOD_SUBNET   10.89.7.0/24
#   WPOD_IMAGE    image name ("localhost/wbusybox:latest")
#
# Isolation (see wpod_enter):
#   * a new network namespace: it is "the host" for the test; only lo exists at the start;
#   * a new mount namespace with `/` made rprivate, then tmpfs over /run/netns (podman's CNI backend
#     creates container netns there), /var/lib/cni (host-local allocations + libcni result cache),
#     /etc/cni, /dev/shm (podman's shm lock segment "/libpod_lock") and /run/containers, /run/libpod;
#   * all podman state under WPOD_TMP (--root, --runroot, tmp_dir, volume_path, events off).
# What cannot be made private: cgroups (v1 here; cgroupfs manager creates `libpod_parent` in each
# hierarchy). wpod_teardown removes the cgroup directories that did not exist before setup.

WPOD_NET=${WPOD_NET:-warrentest}
WPOD_BRIDGE=${WPOD_BRIDGE:-wtest0}
WPOD_SUBNET=${WPOD_SUBNET:-10.89.7.0/24}
WPOD_IMAGE=${WPOD_IMAGE:-localhost/wbusybox:latest}
WPOD_PODMAN=${WPOD_PODMAN:-$(command -v podman || echo /usr/bin/podman)}
WPOD_MADE_DIRS=()
WPOD_CGROUPS_BEFORE=()

# ---------------------------------------------------------------------------------------------
# wpod_enter SCRIPT ARGS... — re-exec SCRIPT inside fresh net + mount namespaces, unless
# WPOD_INSIDE=1 says we already are. Returns (after the child exits) with the child's status
# via exit, so callers do: `wpod_enter "$0" "$@"` near the top.
wpod_enter() {
	if [[ ${WPOD_INSIDE:-0} == 1 ]]; then
		return 0
	fi
	if [[ $(id -u) != 0 ]]; then
		echo "FAIL: must run as root (podman rootful with the CNI backend)" >&2
		exit 2
	fi
	local script rc=0 before after leaks
	script=$(readlink -f "$1")
	shift
	before=$(wpod_host_snapshot)
	# --fork: the child is the first process in the new namespaces; unshare waits for it.
	WPOD_INSIDE=1 unshare --net --mount --fork -- bash "$script" "$@" || rc=$?
	# Back on the real host: did anything of ours stay behind? Other sessions may change the host
	# meanwhile, so only differences that carry our markers count as a failure.
	after=$(wpod_host_snapshot)
	leaks=$(diff <(echo "$before") <(echo "$after") | grep -E '^[<>]' |
		grep -E 'wpod|wtest0|warrentest|10\.89\.7\.|libpod|cni|netns' || true)
	if [[ -n $leaks ]]; then
		echo "FAIL: real host changed after the run:"
		echo "$leaks" | sed 's/^/    /'
		[[ $rc == 0 ]] && rc=1
	else
		echo "PASS: real host untouched (ip netns, nft ruleset, links, mounts, cgroups, /var/lib/cni, /run)"
	fi
	exit "$rc"
}

# wpod_host_snapshot — the host state a leak would show up in (one "kind: item" per line).
wpod_host_snapshot() {
	ip netns list 2>/dev/null | sed 's/^/netns: /'
	echo "nft-lines: $(nft list ruleset 2>/dev/null | wc -l)"
	nft list ruleset 2>/dev/null | grep -E 'wtest0|warrentest|10\.89\.7\.|CNI-' | sed 's/^/nft: /'
	ip -o link 2>/dev/null | awk -F': ' '{print "link: " $2}'
	awk '{print "mount: " $5 " " $9}' /proc/self/mountinfo | grep -E 'wpod|/run/netns/|/var/lib/cni|/run/libpod|/run/containers|/tmp/' || true
	ls -d /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null | sed 's/^/cgroup: /'
	ls -d /tmp/wpod.* /var/lib/cni /run/libpod /run/containers /etc/cni/net.d/* 2>/dev/null | sed 's/^/path: /'
	return 0
}

# wpod_private_mounts — called inside the namespaces (by wpod_setup) to privatise shared paths.
wpod_private_mounts() {
	# Stop every mount we make from propagating back to the real host.
	mount --make-rprivate /
	local d
	WPOD_MADE_DIRS=()
	# /var/lib/warren and /run/warren: warren's plugins keep their state there by default, and
	# podman's cleanup processes (conmon's exit command) do not inherit our environment.
	for d in /run/netns /var/lib/cni /etc/cni /run/containers /run/libpod /var/lib/warren /run/warren; do
		# mkdir is not namespaced: remember dirs we create on the real disk; teardown removes them.
		if [[ ! -d $d ]]; then
			mkdir -p "$d"
			WPOD_MADE_DIRS+=("$d")
		fi
		mount -t tmpfs -o mode=0755 "wpod-${d//\//_}" "$d"
	done
	mount -t tmpfs -o mode=1777 wpod-shm /dev/shm
	# The new netns is "the host": bring its loopback up so 127.0.0.1 works.
	ip link set lo up
}

# ---------------------------------------------------------------------------------------------
# wpod PODMAN-ARGS... — podman with all state private to WPOD_TMP.
wpod() {
	CONTAINERS_CONF="$WPOD_TMP/containers.conf" \
		CONTAINERS_STORAGE_CONF="$WPOD_TMP/storage.conf" \
		CONTAINERS_REGISTRIES_CONF="$WPOD_TMP/registries.conf" \
		"$WPOD_PODMAN" \
		--root "$WPOD_TMP/root" \
		--runroot "$WPOD_TMP/runroot" \
		--storage-driver "${WPOD_STORAGE_DRIVER:-overlay}" \
		--cgroup-manager cgroupfs \
		--network-backend cni \
		--network-config-dir "$WPOD_TMP/net.d" \
		--runtime runc \
		--events-backend none \
		--tmpdir "$WPOD_TMP/libpod-tmp" \
		"$@"
}

# The flags every `podman run` here needs (FACTS.md: --ulimit host; runc; our network).
WPOD_RUN_FLAGS=(--ulimit host --network "$WPOD_NET" --pull never)

# ---------------------------------------------------------------------------------------------
# wpod_write_conf PLUGIN_DIR — containers.conf / storage.conf / registries.conf in WPOD_TMP.
wpod_write_conf() {
	local plugin_dir=$1
	mkdir -p "$WPOD_TMP"/{root,runroot,libpod-tmp,net.d,volumes}
	cat >"$WPOD_TMP/containers.conf" <<EOF
[containers]
# No /etc/hosts or resolv.conf from the real host matter offline; keep defaults minimal.
default_ulimits = []
[network]
network_backend = "cni"
cni_plugin_dirs = ["$plugin_dir"]
network_config_dir = "$WPOD_TMP/net.d"
default_network = "$WPOD_NET"
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "none"
tmp_dir = "$WPOD_TMP/libpod-tmp"
volume_path = "$WPOD_TMP/volumes"
static_dir = "$WPOD_TMP/root/libpod"
EOF
	cat >"$WPOD_TMP/storage.conf" <<EOF
[storage]
driver = "${WPOD_STORAGE_DRIVER:-overlay}"
graphroot = "$WPOD_TMP/root"
runroot = "$WPOD_TMP/runroot"
EOF
	cat >"$WPOD_TMP/registries.conf" <<EOF
unqualified-search-registries = []
EOF
}

# wpod_write_conflist PREFIX — the CNI network under test (bridge + host-local + portmap).
wpod_write_conflist() {
	local p=$1
	cat >"$WPOD_TMP/net.d/$WPOD_NET.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$WPOD_NET",
  "plugins": [
    {
      "type": "${p}bridge",
      "bridge": "$WPOD_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "${p}host-local",
        "routes": [{ "dst": "0.0.0.0/0" }],
        "ranges": [[{ "subnet": "$WPOD_SUBNET", "gateway": "${WPOD_SUBNET%.0/24}.1" }]]
      }
    },
    {
      "type": "${p}portmap",
      "capabilities": { "portMappings": true }
    }
  ]
}
EOF
}

# wpod_make_image — a minimal rootfs from the static busybox, imported as WPOD_IMAGE.
wpod_make_image() {
	local bb rootfs a
	bb=$(command -v busybox || true)
	if [[ -z $bb ]] || ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
		[[ -x /bin/busybox ]] && bb=/bin/busybox
	fi
	[[ -n $bb ]] || { echo "FAIL: busybox (busybox-static) not found" >&2; return 1; }
	rootfs="$WPOD_TMP/rootfs"
	mkdir -p "$rootfs"/{bin,etc,www,tmp,proc,sys,dev,run,var}
	cp "$bb" "$rootfs/bin/busybox"
	# Only the applets the tests use (all present in Debian 12's busybox-static 1.35).
	for a in sh cat echo printf sed sleep true false ip nc httpd ls ps hostname; do
		ln -s busybox "$rootfs/bin/$a"
	done
	echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
	echo 'root:x:0:' >"$rootfs/etc/group"
	echo hello-from-warren >"$rootfs/www/index.html"
	# hget HOST PORT [PATH]: print an HTTP body. busybox wget (static, glibc NSS) segfaults here.
	cat >"$rootfs/bin/hget" <<'EOS'
#!/bin/sh
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "${3:-/}" "$1" | nc -w 3 "$1" "$2" | sed '1,/^\r*$/d'
EOS
	chmod +x "$rootfs/bin/hget"
	tar -C "$rootfs" -cf "$WPOD_TMP/rootfs.tar" .
	if ! wpod import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' \
		"$WPOD_TMP/rootfs.tar" "$WPOD_IMAGE" >"$WPOD_TMP/import.log" 2>&1; then
		cat "$WPOD_TMP/import.log" >&2
		return 1
	fi
}

# Record which cgroup dirs podman may create, so teardown removes only what we made.
wpod_cgroup_snapshot() {
	local h
	WPOD_CGROUPS_BEFORE=()
	for h in /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent /sys/fs/cgroup/*/machine.slice; do
		[[ -d $h ]] && WPOD_CGROUPS_BEFORE+=("$h")
	done
	return 0
}

wpod_cgroup_cleanup() {
	local d b keep
	for d in /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent; do
		[[ -d $d ]] || continue
		keep=0
		for b in "${WPOD_CGROUPS_BEFORE[@]}"; do [[ $b == "$d" ]] && keep=1; done
		[[ $keep == 1 ]] && continue
		# Depth-first rmdir of empty cgroup dirs (cgroupfs files cannot be unlinked; rmdir does it).
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
}

# ---------------------------------------------------------------------------------------------
# wpod_setup PLUGIN_DIR [PREFIX] — everything up to a ready image and network.
wpod_setup() {
	local plugin_dir prefix
	plugin_dir=$(readlink -f "$1")
	prefix=${2:-}
	[[ ${WPOD_INSIDE:-0} == 1 ]] || { echo "wpod_setup: call wpod_enter first" >&2; return 1; }
	wpod_private_mounts
	WPOD_TMP=$(mktemp -d /tmp/wpod.XXXXXX)
	export WPOD_TMP
	wpod_cgroup_snapshot
	# WPOD_CAPTURE=FILE: run the plugins through logging wrappers (argv, CNI_* env, stdin, stdout).
	if [[ -n ${WPOD_CAPTURE:-} ]]; then
		wpod_wrap_plugins "$plugin_dir" "$prefix" "$WPOD_CAPTURE" "$WPOD_TMP/plugins-wrapped"
		plugin_dir=$WPOD_TMP/plugins-wrapped
	fi
	WPOD_PLUGIN_DIR=$plugin_dir
	wpod_write_conf "$plugin_dir"
	wpod_write_conflist "$prefix"
	wpod_make_image
}

# wpod_teardown — best effort; safe to call twice and from a trap.
wpod_teardown() {
	[[ -n ${WPOD_TMP:-} && -d $WPOD_TMP ]] || return 0
	wpod rm -af -t 0 >/dev/null 2>&1 || true
	wpod pod rm -af >/dev/null 2>&1 || true
	# Unmount anything podman left under the temp dir (overlay mounts, shm), then delete it.
	local m
	while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v t="$WPOD_TMP" 'index($5,t)==1{print $5}' /proc/self/mountinfo | sort -r)
	wpod_cgroup_cleanup
	rm -rf --one-file-system "$WPOD_TMP" 2>/dev/null || rm -rf "$WPOD_TMP" || true
	WPOD_TMP=
	# Directories wpod_private_mounts had to create on the real disk: unmount our tmpfs, rmdir.
	local d
	for d in "${WPOD_MADE_DIRS[@]}"; do
		umount -l "$d" 2>/dev/null || true
		rmdir "$d" 2>/dev/null || true
	done
	WPOD_MADE_DIRS=()
}

# ---------------------------------------------------------------------------------------------
# wpod_wrap_plugins SRC_DIR PREFIX LOG OUT_DIR — for every ${PREFIX}{bridge,host-local,portmap,
# loopback} in SRC_DIR, put a bash wrapper of the same name in OUT_DIR that appends argv, the CNI_*
# environment, stdin, stdout and the exit code to LOG, then behaves exactly like the plugin.
wpod_wrap_plugins() {
	local src out log p name
	src=$(readlink -f "$1")
	p=$2
	log=$3
	out=$4
	mkdir -p "$out"
	: >"$log"
	for name in bridge host-local portmap loopback; do
		[[ -e $src/$p$name ]] || continue
		cat >"$out/$p$name" <<EOF
#!/bin/bash
# logging wrapper around $src/$p$name (made by tests/podman/env.sh)
in=\$(cat)
out=\$(printf '%s' "\$in" | "$src/$p$name" "\$@"); rc=\$?
{
	flock 9
	echo "=== \$(date +%T.%N) $p$name argv=[\$*] pid=\$\$"
	env | grep -E '^(CNI_|PATH=)' | sort | sed 's/^/env: /'
	echo "stdin: \$in"
	echo "stdout: \$out"
	echo "rc: \$rc"
} 9>>"$log" >>"$log"
printf '%s' "\$out"
exit \$rc
EOF
		chmod +x "$out/$p$name"
	done
}

# ---------------------------------------------------------------------------------------------
# wpod_time_run N [PODMAN-RUN-ARGS...] — run `podman run --rm ... IMAGE true` N times; prints the
# wall times in ms, sorted, into WPOD_TIMES and the median into WPOD_MEDIAN_MS (call it without
# $(...) so the variables survive). Default network: WPOD_NET.
wpod_time_run() {
	local n=$1 i t0 t1
	shift
	local -a ts=()
	local -a args=("$@")
	[[ ${#args[@]} -gt 0 ]] || args=(--network "$WPOD_NET")
	for ((i = 0; i < n; i++)); do
		t0=$(date +%s%N)
		wpod run --rm --ulimit host --pull never "${args[@]}" "$WPOD_IMAGE" true >/dev/null
		t1=$(date +%s%N)
		ts+=($(((t1 - t0) / 1000000)))
	done
	mapfile -t ts < <(printf '%s\n' "${ts[@]}" | sort -n)
	WPOD_MEDIAN_MS=${ts[$((n / 2))]}
	WPOD_TIMES="${ts[*]}"
}
