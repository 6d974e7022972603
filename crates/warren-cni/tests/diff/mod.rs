//! The differential harness: one conflist written with the reference plugins' names, run
//! once as it is and once with every `type` renamed to warren's (`bridge` → `warren-bridge`,
//! `host-local` → `warren-host-local`, …), one side after the other in the same sandbox
//! (the host's leftovers of the first side are removed in between), each side's result and
//! kernel state normalized into a [`Value`] so that the two can be compared with one
//! `assert_eq!`.

pub mod snapshot;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use warren_cni::runtime::{Attachment, ConfList, Runtime};
use warren_kernel::NetNs;
use warren_kernel::netns::{self, Source};

/// Which plugins a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Debian's containernetworking-plugins in `/usr/lib/cni`.
    Reference,
    /// This crate's `warren-cni`, under `warren-<plugin>` links.
    Warren,
}

impl Side {
    /// Both, reference first.
    pub const BOTH: [Side; 2] = [Side::Reference, Side::Warren];

    fn rename(self, kind: &str) -> String {
        match self {
            Side::Reference => kind.to_owned(),
            Side::Warren => format!("warren-{kind}"),
        }
    }
}

/// Where the reference plugins are.
const REFERENCE_DIR: &str = "/usr/lib/cni";
/// Where the `warren-<plugin>` links are made (the sandbox's tmpfs).
const WARREN_DIR: &str = "/run/diff-bin";

/// The runtime both sides run under: warren's links first, then the reference plugins.
pub fn runtime() -> Runtime {
    let dir = Path::new(WARREN_DIR);
    std::fs::create_dir_all(dir).unwrap();
    for p in [
        "bridge",
        "ptp",
        "macvlan",
        "ipvlan",
        "host-local",
        "portmap",
        "bandwidth",
        "tuning",
        "loopback",
    ] {
        let link = dir.join(format!("warren-{p}"));
        if !link.exists() {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_warren-cni"), link).unwrap();
        }
    }
    Runtime {
        path: vec![dir.to_owned(), PathBuf::from(REFERENCE_DIR)],
        cache_dir: PathBuf::from("/run/diff-results"),
    }
}

/// `template` (reference names) for `side`: every plugin's `type` and its `ipam.type`
/// renamed.
pub fn conflist(template: &Value, side: Side) -> ConfList {
    let mut v = template.clone();
    for p in v["plugins"].as_array_mut().unwrap() {
        let kind = p["type"].as_str().unwrap().to_owned();
        p["type"] = json!(side.rename(&kind));
        if let Some(ipam) = p.get_mut("ipam").and_then(Value::as_object_mut)
            && let Some(t) = ipam.get("type").and_then(Value::as_str).map(str::to_owned)
        {
            ipam.insert("type".into(), json!(side.rename(&t)));
        }
    }
    ConfList::parse(v.to_string().as_bytes()).unwrap()
}

/// One container of a case: its id (also its namespace's name) and interface.
pub struct Container {
    /// `CNI_CONTAINERID` and the name of its namespace in `/run/netns`.
    pub id: &'static str,
    /// `CNI_IFNAME`.
    pub ifname: &'static str,
}

impl Container {
    /// The attachment for this container with `caps` offered.
    pub fn attachment(&self, caps: &Map<String, Value>) -> Attachment {
        Attachment {
            container_id: self.id.into(),
            netns: Some(netns::named_path(self.id)),
            ifname: self.ifname.into(),
            args: None,
            capabilities: caps.clone(),
        }
    }

    /// Its namespace, open.
    pub fn ns(&self) -> NetNs {
        NetNs::open_named(self.id).unwrap()
    }
}

/// Create the containers' namespaces (`lo` up: the sockets of the reachability checks use
/// it, and neither side touches it).
pub fn create(containers: &[Container]) {
    for c in containers {
        let ns = netns::add_named(c.id, Source::New).unwrap();
        warren_kernel::Handle::new(ns)
            .unwrap()
            .link_set_up("lo")
            .unwrap();
    }
}

/// Remove the containers' namespaces.
pub fn destroy(containers: &[Container]) {
    for c in containers {
        netns::delete_named(c.id).unwrap();
    }
}

/// Names that differ between the sides by design, mapped to the roles they play: the host
/// side of each container's veth (reference `veth%08x`, warren `wc…`/`wp…` — a hash of the
/// attachment, so DEL finds it without prevResult).
#[derive(Debug, Default, Clone)]
pub struct Roles(pub BTreeMap<String, String>);

impl Roles {
    /// Learn the host-side interfaces of `c` from its ADD result: every interface without a
    /// sandbox that is not `bridge` (the veth's host side first, then e.g. bandwidth's
    /// ifb).
    pub fn learn(&mut self, c: &Container, result: &Value, bridge: Option<&str>) {
        let mut n = 0;
        for i in result["interfaces"].as_array().into_iter().flatten() {
            let name = i["name"].as_str().unwrap_or_default();
            let sandboxed = i["sandbox"].as_str().is_some_and(|s| !s.is_empty());
            if !sandboxed && Some(name) != bridge {
                let role = match n {
                    0 => format!("<host side of {}>", c.id),
                    n => format!("<host interface {n} of {}>", c.id),
                };
                self.0.insert(name.to_owned(), role);
                n += 1;
            }
        }
    }

    /// `name` as its role, or unchanged.
    pub fn of(&self, name: &str) -> String {
        self.0.get(name).cloned().unwrap_or_else(|| name.to_owned())
    }
}

/// A result with what may differ removed: MACs (random), host veth names (by role), the
/// sandbox path kept only as "in a sandbox".
///
/// Two more, where the results say the same thing in different words:
/// * `dns`: the reference prints `"dns": {}` when IPAM gave none, warren leaves the key
///   out; the spec makes an empty DNS object and none the same.
/// * a route without `gw`: the reference passes host-local's route on as configured ("the
///   plugin's default gateway"), warren writes the gateway it used (the address's gateway
///   of the same family). The kernel routes, compared separately, are the same.
pub fn normalize_result(result: &Value, roles: &Roles) -> Value {
    let mut r = result.clone();
    if r.get("dns").is_some_and(|d| d == &json!({})) {
        r.as_object_mut().unwrap().remove("dns");
    }
    let gateways: Vec<String> = r["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["gateway"].as_str().map(str::to_owned))
        .collect();
    if let Some(routes) = r.get_mut("routes").and_then(Value::as_array_mut) {
        for route in routes {
            let v4 = route["dst"].as_str().is_some_and(|d| !d.contains(':'));
            if route.get("gw").is_none()
                && let Some(gw) = gateways.iter().find(|g| g.contains(':') != v4)
            {
                route["gw"] = json!(gw);
            }
        }
    }
    if let Some(ifs) = r.get_mut("interfaces").and_then(Value::as_array_mut) {
        for i in ifs {
            let o = i.as_object_mut().unwrap();
            o.remove("mac");
            if let Some(n) = o.get("name").and_then(Value::as_str) {
                let n = roles.of(n);
                o.insert("name".into(), json!(n));
            }
            if let Some(s) = o.remove("sandbox") {
                let inside = s.as_str().is_some_and(|s| !s.is_empty());
                o.insert("sandbox".into(), json!(inside));
            }
        }
    }
    r
}

/// A CHECK's outcome, with the reference's known false failures counted as success:
/// * portmap 1.1.1 fails CHECK on IPv4-only containers ("could not check ipv6 dnat: chain
///   CNI-DN-… not found", upstream containernetworking/plugins#819);
/// * ptp 1.1.1 fails CHECK on an IPAM route without `gw` ("Expected Route {…GW:<nil>} not
///   found"): it looks for a route without a next hop while it installed the route via the
///   gateway itself.
pub fn check_outcome(r: Result<(), warren_cni::runtime::ExecError>) -> Value {
    match r {
        Ok(()) => json!("ok"),
        Err(e) => {
            let m = e.to_string();
            let known = (m.starts_with("portmap CHECK") && m.contains("could not check ipv6 dnat"))
                || (m.starts_with("ptp CHECK") && m.contains("GW:<nil>} not found"));
            if known {
                json!("ok")
            } else {
                json!(format!("CHECK failed: {m}"))
            }
        }
    }
}

/// Whether a TCP connection from `from` to `to` reaches a server listening on
/// `listen_port` in `server`.
pub fn reaches(from: &NetNs, server: &NetNs, listen_port: u16, to: SocketAddr) -> bool {
    warren_testkit::net::tcp_exchange_via(from, server, listen_port, to).is_ok()
}

/// Between the sides: remove what the first side leaves on the host by design (the
/// reference bridge plugin never deletes its bridge; portmap never deletes its global
/// chains), so the second side starts from the same host.
pub fn reset_host(bridges: &[&str]) {
    for b in bridges {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", b])
            .status();
    }
    let _ = std::process::Command::new("nft")
        .args(["flush", "ruleset"])
        .status();
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").unwrap();
}

/// Compare the two sides' observations: every path where they differ, then both in full.
pub fn assert_same(what: &str, reference: &Value, warren: &Value) {
    let mut diffs = Vec::new();
    differences("", reference, warren, &mut diffs);
    if !diffs.is_empty() {
        let r = serde_json::to_string_pretty(reference).unwrap();
        let w = serde_json::to_string_pretty(warren).unwrap();
        panic!(
            "{what}: warren differs from the reference at\n{}\n--- reference\n{r}\n--- warren\n{w}",
            diffs.join("\n")
        );
    }
}

fn differences(path: &str, r: &Value, w: &Value, out: &mut Vec<String>) {
    match (r, w) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (x, y) = (
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                );
                differences(&format!("{path}.{k}"), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if r != w => out.push(format!("  {path}: reference {r}, warren {w}")),
        _ => {}
    }
}
