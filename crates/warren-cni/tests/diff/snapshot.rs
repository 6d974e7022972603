//! Kernel state as `ip -j` and `tc -j` report it, reduced to what both sides must agree on:
//! links (kind, MTU, up, bridge port and hairpin), addresses with their prefixes (not the
//! IPv6 link-local ones, made from random MACs), routes (destination, via, device, scope,
//! protocol, source) and the tc qdiscs and filters. Host names that differ by design go
//! through [`Roles`].

use serde_json::{Value, json};
use warren_testkit::run;

use super::Roles;

fn ip_json(netns: Option<&str>, args: &[&str]) -> Value {
    let mut all = vec!["-j"];
    if let Some(ns) = netns {
        all.extend(["-n", ns]);
    }
    all.extend(args);
    let out = run("ip", &all);
    if out.trim().is_empty() {
        return json!([]);
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip {all:?}: {e}: {out}"))
}

fn is_link_local_v6(a: &str) -> bool {
    a.starts_with("fe80:")
}

/// One link as both sides must make it. `wanted` picks the links (by name) to report.
fn links(netns: Option<&str>, roles: &Roles, wanted: &dyn Fn(&str) -> bool) -> Value {
    let all = ip_json(netns, &["-d", "addr", "show"]);
    let by_index = |i: &Value| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifindex"] == *i)
            .and_then(|l| l["ifname"].as_str())
            .map(|n| roles.of(n))
    };
    let mut out = Vec::new();
    for l in all.as_array().unwrap() {
        let name = l["ifname"].as_str().unwrap();
        if !wanted(name) {
            continue;
        }
        let mut addrs: Vec<Value> = l["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| !is_link_local_v6(a["local"].as_str().unwrap_or_default()))
            .map(|a| {
                json!(format!(
                    "{}/{} scope {}",
                    a["local"].as_str().unwrap_or_default(),
                    a["prefixlen"],
                    a["scope"].as_str().unwrap_or_default()
                ))
            })
            .collect();
        addrs.sort_by_key(ToString::to_string);
        let up = l["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "UP"));
        let info = &l["linkinfo"];
        let master = l["master"].as_str().map(|m| roles.of(m));
        let hairpin = info["info_slave_data"]["hairpin"].clone();
        let peer_in_netns = l.get("link_netnsid").is_some();
        out.push(json!({
            "name": roles.of(name),
            "kind": info["info_kind"],
            "mtu": l["mtu"],
            "up": up,
            "master": master,
            "hairpin": hairpin,
            "peer in another netns": peer_in_netns,
            "parent": l.get("link_index").and_then(|i| if peer_in_netns { None } else { by_index(i) }),
            "addrs": addrs,
        }));
    }
    out.sort_by_key(|l| l["name"].to_string());
    Value::Array(out)
}

/// Routes of a family (`-4`, `-6`) in the main table, the device by role.
fn routes(netns: Option<&str>, family: &str, roles: &Roles) -> Value {
    let all = ip_json(netns, &[family, "route", "show", "table", "main"]);
    let mut out: Vec<Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let dst = r["dst"].as_str().unwrap_or_default();
            !is_link_local_v6(dst) && !dst.starts_with("ff00:") && !dst.starts_with("multicast")
        })
        .map(|r| {
            json!({
                "dst": r["dst"],
                "via": r["gateway"],
                "dev": r["dev"].as_str().map(|d| roles.of(d)),
                "scope": r["scope"],
                "protocol": r["protocol"],
                "prefsrc": r["prefsrc"],
                "metric": r["metric"],
                "flags": r["flags"],
            })
        })
        .collect();
    out.sort_by_key(ToString::to_string);
    Value::Array(out)
}

fn sysctl(path: &str) -> Value {
    std::fs::read_to_string(path)
        .map(|s| json!(s.trim()))
        .unwrap_or(Value::Null)
}

/// A container's namespace: every link but `lo`, its IPv4 and IPv6 routes, and the sysctls
/// the reference sets on the interface.
pub fn container(netns: &str, ifname: &str) -> Value {
    let roles = Roles::default();
    let ns = warren_kernel::NetNs::open_named(netns).unwrap();
    let arp_notify = ns
        .run(|| {
            Ok(sysctl(&format!(
                "/proc/sys/net/ipv4/conf/{ifname}/arp_notify"
            )))
        })
        .unwrap();
    json!({
        "links": links(Some(netns), &roles, &|n| n != "lo"),
        "routes4": routes(Some(netns), "-4", &roles),
        "routes6": routes(Some(netns), "-6", &roles),
        "arp_notify": arp_notify,
    })
}

/// The host (the sandbox's namespace): the links in `roles` and `named`, all IPv4 routes,
/// `ip_forward`.
pub fn host(roles: &Roles, named: &[&str]) -> Value {
    let wanted = |n: &str| roles.0.contains_key(n) || named.contains(&n);
    let mut routes4 = routes(None, "-4", roles);
    // A host route to a container on its veth: the reference ptp adds it with scope host,
    // warren with scope link (as `ip route add ADDR dev IF` does). The kernel forwards the
    // same either way, and picks the same source (the host side's gateway address, the
    // only one on the veth) for the host's own packets.
    for r in routes4.as_array_mut().unwrap() {
        let host_route = !r["dst"].as_str().unwrap_or("/").contains('/') && r["via"].is_null();
        if host_route && r["scope"] == "host" {
            r["scope"] = json!("link");
        }
    }
    json!({
        "links": links(None, roles, &wanted),
        "routes4": routes4,
        "ip_forward": sysctl("/proc/sys/net/ipv4/ip_forward"),
    })
}

/// What is left on the host after DEL: the names of all links (a leaked veth keeps its
/// raw name, and so differs between the sides), all IPv4 routes and `ip_forward`.
///
/// Taken once it has settled (unchanged for a second, at most four seconds): a bridge
/// loses its carrier, and its routes become `linkdown`, only when the kernel's link watch
/// gets round to it after the last port went.
pub fn host_after(ignore: &[&str]) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    let mut last = host_after_now(ignore);
    let mut since = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = host_after_now(ignore);
        if now != last {
            last = now;
            since = std::time::Instant::now();
        } else if since.elapsed() >= std::time::Duration::from_secs(1) {
            break;
        }
    }
    last
}

fn host_after_now(ignore: &[&str]) -> Value {
    let all = ip_json(None, &["link", "show"]);
    let mut names: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["ifname"].as_str())
        .filter(|n| !ignore.contains(n))
        .map(str::to_owned)
        .collect();
    names.sort();
    json!({
        "links": names,
        "routes4": routes(None, "-4", &Roles::default()),
    })
}

/// tc state of the host: qdiscs and ingress filters of `devs` (by role).
pub fn tc(roles: &Roles, devs: &[String]) -> Value {
    let mut out = Vec::new();
    for dev in devs {
        let q: Value = serde_json::from_str(&run("tc", &["-j", "qdisc", "show", "dev", dev]))
            .unwrap_or(json!([]));
        let qdiscs: Vec<Value> = q
            .as_array()
            .into_iter()
            .flatten()
            .filter(|q| q["kind"] != "noqueue")
            .map(|q| json!({"kind": q["kind"], "parent": q["parent"], "root": q["root"], "options": q["options"]}))
            .collect();
        let f: Value = serde_json::from_str(&run(
            "tc",
            &["-j", "filter", "show", "dev", dev, "parent", "ffff:"],
        ))
        .unwrap_or(json!([]));
        let filters: Vec<Value> = f
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f.get("options").is_some())
            .map(|f| {
                let mut f = f.clone();
                rename_devs(&mut f, roles);
                normalize_filter(&mut f);
                f
            })
            .collect();
        out.push(json!({"dev": roles.of(dev), "qdiscs": qdiscs, "ingress filters": filters}));
    }
    Value::Array(out)
}

/// An ingress filter with what differs but does the same removed:
/// * `ingress: true`: warren attaches the filter at `ffff:fff2` (what `tc filter add … ingress`
///   does), the reference at `ffff:`; an ingress qdisc has one filter block, which both reach.
/// * `flowid 1:1`: the reference sets a class id, meaningless under an ingress qdisc (it has
///   no classes).
/// * actions after the first one that steals the packet: the reference (1.1.1) adds a second
///   mirred redirect that never runs, since the first redirect already took the packet.
/// * action `index`: a per-namespace counter, so it depends on how many actions exist.
fn normalize_filter(f: &mut Value) {
    let o = f.as_object_mut().unwrap();
    o.remove("ingress");
    let Some(opts) = o.get_mut("options").and_then(Value::as_object_mut) else {
        return;
    };
    opts.remove("flowid");
    if let Some(actions) = opts.get_mut("actions").and_then(Value::as_array_mut) {
        if let Some(i) = actions
            .iter()
            .position(|a| a["control_action"]["type"] == "stolen")
        {
            actions.truncate(i + 1);
        }
        for a in actions {
            a.as_object_mut().unwrap().remove("index");
        }
    }
}

fn rename_devs(v: &mut Value, roles: &Roles) {
    match v {
        Value::String(s) => {
            let r = roles.of(s);
            *s = r;
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename_devs(x, roles)),
        Value::Object(o) => o.values_mut().for_each(|x| rename_devs(x, roles)),
        _ => {}
    }
}
