//! Shared helpers for the plugin tests: a CNI_PATH of links to `warren-cni`, a [`Runtime`]
//! over it, conflist builders, a raw plugin runner, and oracles that read state back
//! independently (`ip -j`, `nft -j`, the SQLite database).

#![allow(dead_code)]

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Map, Value, json};
use warren_cni::runtime::{Attachment, ConfList, Runtime};
use warren_engine::attach::RETIRED_ALIAS;
use warren_kernel::netns::{self, Source};
use warren_kernel::{Handle, NetNs};

/// The binary every plugin is.
pub const BIN: &str = env!("CARGO_BIN_EXE_warren-cni");
/// Every plugin's name (without `warren-`).
pub const PLUGINS: [&str; 9] = [
    "bridge",
    "ptp",
    "macvlan",
    "ipvlan",
    "host-local",
    "portmap",
    "bandwidth",
    "tuning",
    "loopback",
];
/// warren's database inside the sandbox.
pub const DB: &str = "/run/warren-state/warren.db";

/// A temporary CNI_PATH (`/run/cni-bin`, the sandbox's own tmpfs) with `warren-NAME` links
/// to the binary, and a runtime over it; the sandbox's `lo` is brought up.
pub fn runtime() -> Runtime {
    let dir = PathBuf::from("/run/cni-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for p in PLUGINS {
        let link = dir.join(format!("warren-{p}"));
        if !link.exists() {
            std::os::unix::fs::symlink(BIN, &link).unwrap();
        }
    }
    Handle::current().unwrap().link_set_up("lo").unwrap();
    Runtime {
        path: vec![dir],
        cache_dir: PathBuf::from("/run/cni-cache"),
    }
}

/// A named namespace (`ip netns` style, `/run/netns/NAME`) with `lo` up.
pub fn netns(name: &str) -> (NetNs, PathBuf) {
    let ns = netns::add_named(name, Source::New).unwrap();
    Handle::new(ns.try_clone().unwrap())
        .unwrap()
        .link_set_up("lo")
        .unwrap();
    (ns, netns::named_path(name))
}

/// An attachment of container `cid` as `eth0` in namespace `path`.
pub fn att(cid: &str, path: &Path) -> Attachment {
    Attachment {
        container_id: cid.into(),
        netns: Some(path.to_owned()),
        ifname: "eth0".into(),
        ..Attachment::default()
    }
}

/// `att` with published ports (`host_port`→`container_port`, TCP).
pub fn att_ports(cid: &str, path: &Path, ports: &[(u16, u16)]) -> Attachment {
    let mut a = att(cid, path);
    let pm: Vec<Value> = ports
        .iter()
        .map(|(h, c)| json!({"hostPort": h, "containerPort": c, "protocol": "tcp"}))
        .collect();
    a.capabilities.insert("portMappings".into(), json!(pm));
    a
}

/// A conflist from JSON.
pub fn list(v: &Value) -> ConfList {
    ConfList::parse(v.to_string().as_bytes()).unwrap()
}

/// host-local IPAM over `ranges` (a list of range sets) with a default route.
pub fn host_local(ranges: Value) -> Value {
    json!({"type": "warren-host-local", "ranges": ranges, "routes": [{"dst": "0.0.0.0/0"}]})
}

/// The bridge plugin object like Podman writes it.
pub fn bridge_plugin(bridge: &str, ranges: Value) -> Map<String, Value> {
    json!({
        "type": "warren-bridge",
        "bridge": bridge,
        "isGateway": true,
        "ipMasq": true,
        "hairpinMode": true,
        "ipam": host_local(ranges),
    })
    .as_object()
    .unwrap()
    .clone()
}

/// The IPv4 range set 10.89.7.0/24 (gateway .1).
pub fn v4_ranges() -> Value {
    json!([[{"subnet": "10.89.7.0/24", "gateway": "10.89.7.1"}]])
}

/// 10.89.7.0/24 plus fd00:89:7::/64.
pub fn dual_ranges() -> Value {
    json!([
        [{"subnet": "10.89.7.0/24", "gateway": "10.89.7.1"}],
        [{"subnet": "fd00:89:7::/64", "gateway": "fd00:89:7::1"}]
    ])
}

/// Podman's conflist: bridge + host-local, then portmap with the portMappings capability.
pub fn podman_list(version: &str, name: &str, bridge: &str, ranges: Value) -> ConfList {
    list(&json!({
        "cniVersion": version,
        "name": name,
        "plugins": [
            bridge_plugin(bridge, ranges),
            {"type": "warren-portmap", "capabilities": {"portMappings": true}},
        ]
    }))
}

/// A conflist of the given plugin objects.
pub fn list_of(version: &str, name: &str, plugins: Value) -> ConfList {
    list(&json!({"cniVersion": version, "name": name, "plugins": plugins}))
}

/// What a plugin run directly answered.
#[derive(Debug)]
pub struct Out {
    /// Exit status was 0.
    pub ok: bool,
    /// stdout parsed (Null when empty).
    pub json: Value,
    /// stderr.
    pub stderr: String,
}

impl Out {
    /// The CNI error code (panics when it succeeded).
    pub fn code(&self) -> u64 {
        assert!(!self.ok, "expected a failure, got {}", self.json);
        self.json["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("no code in {}", self.json))
    }

    /// The error message.
    pub fn msg(&self) -> String {
        self.json["msg"].as_str().unwrap_or_default().to_owned()
    }

    /// Assert a failure with `code` whose msg (or details) contains every `words`.
    pub fn fails(&self, code: u64, words: &[&str]) {
        assert_eq!(self.code(), code, "wrong code: {}", self.json);
        let text = format!(
            "{} {}",
            self.msg(),
            self.json["details"].as_str().unwrap_or_default()
        );
        for w in words {
            assert!(text.contains(w), "error does not name {w:?}: {}", self.json);
        }
    }
}

/// Run plugin `warren-NAME` with exactly `env` (nothing else inherited) and `stdin`.
pub fn raw(plugin: &str, env: &[(&str, &str)], stdin: &str) -> Out {
    let mut c = Command::new(format!("/run/cni-bin/warren-{plugin}"));
    c.env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let json = if out.stdout.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("bad output ({e}): {}", String::from_utf8_lossy(&out.stdout))
        })
    };
    Out {
        ok: out.status.success(),
        json,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A count from warren's database (0 when the database does not exist yet).
pub fn db_count(sql: &str) -> i64 {
    if !Path::new(DB).exists() {
        return 0;
    }
    let c = rusqlite::Connection::open(DB).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Leases of network `net`.
pub fn leases(net: &str) -> i64 {
    db_count(&format!(
        "SELECT count(*) FROM cni_leases WHERE network = '{net}'"
    ))
}

/// Records of network `net`.
pub fn records(net: &str) -> i64 {
    db_count(&format!(
        "SELECT count(*) FROM cni_records WHERE network = '{net}'"
    ))
}

/// The leased addresses of `net`, as text.
pub fn lease_ips(net: &str) -> Vec<String> {
    if !Path::new(DB).exists() {
        return vec![];
    }
    let c = rusqlite::Connection::open(DB).unwrap();
    let mut st = c
        .prepare("SELECT ip FROM cni_leases WHERE network = ?1 ORDER BY ip")
        .unwrap();
    st.query_map([net], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `nft -j list table inet warren-cni` (Null when the table does not exist).
pub fn nft_table() -> Value {
    let out = Command::new("nft")
        .args(["-j", "list", "table", "inet", "warren-cni"])
        .output()
        .unwrap();
    if !out.status.success() {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every element of every set and map of warren-cni's table, as JSON text, one per element,
/// prefixed with the set's name (`masq_v4: "10.89.7.0/24"`).
pub fn nft_elements() -> Vec<String> {
    let t = nft_table();
    let mut out = Vec::new();
    for o in t["nftables"].as_array().into_iter().flatten() {
        for kind in ["set", "map"] {
            if let Some(s) = o.get(kind) {
                for e in s["elem"].as_array().into_iter().flatten() {
                    out.push(format!("{}: {}", s["name"].as_str().unwrap_or("?"), e));
                }
            }
        }
    }
    out
}

/// Elements mentioning `needle` (an address, a port).
pub fn nft_elements_with(needle: &str) -> Vec<String> {
    nft_elements()
        .into_iter()
        .filter(|e| e.contains(needle))
        .collect()
}

/// Names of the links in the sandbox's (the "host's") namespace, once the deleters that
/// earlier DELs started are done: a DEL retires a veth at once (alias [`RETIRED_ALIAS`],
/// bridge port disabled) and a detached process deletes it milliseconds later. Waits up to
/// 10 s for every retired link to go.
pub fn host_links() -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let links = warren_testkit::oracle::ip_json(&["link", "show"]);
        let links = links.as_array().unwrap();
        let retired: Vec<&str> = links
            .iter()
            .filter(|l| l["ifalias"].as_str() == Some(RETIRED_ALIAS))
            .filter_map(|l| l["ifname"].as_str())
            .collect();
        if retired.is_empty() {
            return links
                .iter()
                .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
                .collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retired veths not deleted after 10 s: {retired:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Right after a DEL: the host side `name` is gone, or retired — the alias set and its
/// bridge port disabled (the bridge forwards nothing to or from it) — waiting for its
/// deleter.
pub fn assert_out_of_service(name: &str) {
    let v = warren_testkit::oracle::ip_json(&["-d", "link", "show"]);
    let Some(l) = v
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"].as_str() == Some(name))
    else {
        return;
    };
    assert_eq!(l["ifalias"].as_str(), Some(RETIRED_ALIAS), "{l}");
    assert_eq!(
        l["linkinfo"]["info_slave_data"]["state"].as_str(),
        Some("disabled"),
        "{l}"
    );
}

/// Host links whose name starts with `prefix` (warren's veths are `wc…`/`wp…`), once
/// retired ones are deleted.
pub fn host_links_with(prefix: &str) -> Vec<String> {
    host_links()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// The addresses (`ADDR/PREFIX`) of `dev` in the namespace at `path`, from `ip -j addr`.
pub fn addrs_in(path: &Path, dev: &str) -> Vec<String> {
    let v =
        warren_testkit::oracle::ip_json_in(path.to_str().unwrap(), &["addr", "show", "dev", dev]);
    v[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["scope"] == "global")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

/// The container address of family v4/v6 from an ADD result.
pub fn result_ip(r: &Value, v4: bool) -> IpAddr {
    r["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let a = i["address"].as_str().unwrap();
            a.split('/').next().unwrap().parse::<IpAddr>().unwrap()
        })
        .find(|a| a.is_ipv4() == v4)
        .unwrap_or_else(|| panic!("no v4={v4} address in {r}"))
}

/// A socket address.
pub fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// The sandbox's own namespace (the "host").
pub fn host_ns() -> NetNs {
    NetNs::current().unwrap()
}

/// A sysctl of the host namespace.
pub fn host_sysctl(key: &str) -> String {
    warren_kernel::sysctl::get(&host_ns(), key).unwrap()
}

/// Names of the links in the namespace at `path`.
pub fn oracle_link_names(path: &Path) -> Vec<String> {
    warren_testkit::oracle::link_names_in(path.to_str().unwrap())
}

/// An "outside" namespace routed only to the host: host 203.0.113.1/24 on `up0`, outside
/// 203.0.113.2/24 with its default route via the host.
pub fn outside() -> NetNs {
    use warren_kernel::link::veth::Veth;
    use warren_kernel::route::RouteSpec;
    let (o, _) = netns("outside");
    let host = Handle::current().unwrap();
    let oh = Handle::new(o.try_clone().unwrap()).unwrap();
    host.link_add(&Veth::new("up0", "eth0").peer_netns(&o).up().peer_up())
        .unwrap();
    for (h, dev, a) in [
        (&host, "up0", "203.0.113.1/24"),
        (&oh, "eth0", "203.0.113.2/24"),
    ] {
        let idx = h.link_index(dev).unwrap();
        h.addr_add(idx, a.parse().unwrap()).unwrap();
    }
    oh.route_add(&RouteSpec::default_v4().via("203.0.113.1".parse().unwrap()))
        .unwrap();
    o
}
