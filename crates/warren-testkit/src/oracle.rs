//! Independent oracles: read kernel state back with iproute2's JSON output.

use serde_json::Value;

/// `ip -j ARGS` run inside the namespace at `ns_path` (via `nsenter --net=`), parsed.
pub fn ip_json_in(ns_path: &str, args: &[&str]) -> Value {
    let mut full = vec![format!("--net={ns_path}"), "ip".into(), "-j".into()];
    full.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    let out = crate::run("nsenter", &refs);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args:?}: bad JSON ({e}): {out}"))
}

/// `ip -j ARGS` in the sandbox's own namespace, parsed.
pub fn ip_json(args: &[&str]) -> Value {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let out = crate::run("ip", &full);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args:?}: bad JSON ({e}): {out}"))
}

/// The link named `name` from `ip -j link show` in `ns_path`, or None.
pub fn link_in(ns_path: &str, name: &str) -> Option<Value> {
    let v = ip_json_in(ns_path, &["-d", "link", "show"]);
    v.as_array()?.iter().find(|l| l["ifname"] == name).cloned()
}

/// Names of all links in `ns_path`.
pub fn link_names_in(ns_path: &str) -> Vec<String> {
    let v = ip_json_in(ns_path, &["link", "show"]);
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A path to `ns` usable by another process (`nsenter --net=PATH`, `ip netns attach`): the
/// descriptor through this process's `/proc/PID/fd`.
pub fn ns_path(ns: &warren_kernel::NetNs) -> String {
    use std::os::fd::AsRawFd;
    format!("/proc/{}/fd/{}", std::process::id(), ns.as_raw_fd())
}

/// `tcpdump -r FILE -nn`: one line per packet, the independent reader of a capture file. It
/// runs in a nested user namespace as uid 1: as root (the sandbox's) tcpdump would try to drop
/// to user `tcpdump`, which the sandbox's namespace cannot.
pub fn tcpdump_read(path: &str) -> Vec<String> {
    let out = std::process::Command::new("unshare")
        .args([
            "--user",
            "--map-user=1",
            "--map-group=1",
            "tcpdump",
            "-r",
            path,
            "-nn",
        ])
        .output()
        .expect("tcpdump is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "tcpdump -r {path} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
