//! `warren veths -j` in the sandbox against the truth the test built and, independently,
//! against `ip -j -d link` in every namespace: Docker-style wiring (anonymous namespaces held
//! only by a process, host ends `vethXXXXXXX` on a bridge `docker0`, peers `eth0`), lab-style
//! wiring (named namespaces, veths between them and to a switch namespace's bridge), macvlans
//! (parent in another namespace and in the same one) and a warren container's owner.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use warren_kernel::link::bridge::Bridge;
use warren_kernel::link::macvlan::{MacVlan, MacVlanMode};
use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::{Handle, NetNs};
use warren_testkit::cli::Cli;
use warren_testkit::oracle::ip_json_in;
use warren_testkit::sandbox_test;

const W: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

/// A process in a fresh network namespace of its own (what Docker's containers are to a scan:
/// nothing names the namespace, the process holds it). Killed on drop.
struct Held(Child);

impl Held {
    fn start() -> Held {
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let child = Command::new("unshare")
            .args(["-n", "sleep", "300"])
            .spawn()
            .unwrap();
        let path = format!("/proc/{}/ns/net", child.id());
        let t = Instant::now();
        while std::fs::read_link(&path).ok().is_none_or(|l| l == own) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "unshare -n never unshared"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Held(child)
    }

    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.0.id())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ino(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// One expected row: (namespace inode, interface, kind, bridge, peer namespace inode, peer
/// interface, peer's bridge).
type Truth = (
    u64,
    String,
    &'static str,
    Option<&'static str>,
    u64,
    String,
    Option<&'static str>,
);

fn veths() -> Vec<Value> {
    let out = W.ok(&["veths", "-j"]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn find<'a>(rows: &'a [Value], ns: u64, ifname: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["netns_ino"] == ns && r["ifname"] == ifname)
        .unwrap_or_else(|| panic!("no row for {ifname} in net:[{ns}]: {rows:#?}"))
}

fn check_truth(rows: &[Value], truth: &[Truth]) {
    for (ns, ifname, kind, bridge, peer_ns, peer, peer_bridge) in truth {
        let r = find(rows, *ns, ifname);
        assert_eq!(r["kind"], *kind, "{r}");
        assert_eq!(r["bridge"].as_str(), *bridge, "{r}");
        assert_eq!(r["peer_netns_ino"], *peer_ns, "{r}");
        assert_eq!(r["peer_ifname"], peer.as_str(), "{r}");
        assert_eq!(r["peer_bridge"].as_str(), *peer_bridge, "{r}");
        let relation = if *kind == "veth" { "peer" } else { "parent" };
        assert_eq!(r["relation"], relation, "{r}");
    }
}

/// Every row against `ip -j -d link` of both namespaces (paths by inode): the interface's
/// index, kind and master, and `IFLA_LINK` naming the peer's index (or name, in the same
/// namespace), whose interface in the peer namespace has the name we printed.
fn check_against_ip(rows: &[Value], paths: &HashMap<u64, String>) {
    let mut cache: HashMap<u64, Vec<Value>> = HashMap::new();
    let mut links = |ino: u64| -> Vec<Value> {
        cache
            .entry(ino)
            .or_insert_with(|| {
                ip_json_in(&paths[&ino], &["-d", "link", "show"])
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .clone()
    };
    let mut checked = 0;
    for r in rows {
        let ns = r["netns_ino"].as_u64().unwrap();
        let Some(peer_ns) = r["peer_netns_ino"].as_u64() else {
            panic!("peer namespace unresolved: {r}");
        };
        if !paths.contains_key(&ns) {
            continue;
        }
        let mine = links(ns);
        let l = mine
            .iter()
            .find(|l| l["ifname"] == r["ifname"])
            .unwrap_or_else(|| panic!("ip does not see {r}"));
        assert_eq!(l["ifindex"], r["ifindex"], "{r} vs {l}");
        assert_eq!(l["linkinfo"]["info_kind"], r["kind"], "{r} vs {l}");
        assert_eq!(l["master"].as_str(), r["bridge"].as_str(), "{r} vs {l}");
        if peer_ns == ns {
            assert_eq!(l["link"], r["peer_ifname"], "{r} vs {l}");
        } else {
            assert_eq!(l["link_index"], r["peer_ifindex"], "{r} vs {l}");
            assert!(l["link_netnsid"].is_number(), "{l}");
        }
        let theirs = links(peer_ns);
        let p = theirs
            .iter()
            .find(|p| p["ifindex"] == r["peer_ifindex"])
            .unwrap_or_else(|| {
                panic!(
                    "ip sees no index {} in the peer's namespace",
                    r["peer_ifindex"]
                )
            });
        assert_eq!(p["ifname"], r["peer_ifname"], "{r} vs {p}");
        if r["kind"] == "veth" && peer_ns != ns {
            assert_eq!(p["link_index"], r["ifindex"], "the peer points back: {p}");
        }
        checked += 1;
    }
    assert!(checked >= 10, "checked {checked} rows");
}

sandbox_test! {
    fn veths_maps_docker_style_lab_style_and_macvlans() {
        let host = Handle::current().unwrap();
        host.link_set_up("lo").unwrap();
        let me = format!("/proc/{}/ns/net", std::process::id());
        let host_ino = ino(&me);
        let mut paths: HashMap<u64, String> = HashMap::from([(host_ino, me.clone())]);
        let mut truth: Vec<Truth> = Vec::new();

        // Docker: docker0, two anonymous namespaces held by processes, vethXXXXXXX ↔ eth0.
        host.link_add(&Bridge::new("docker0").up()).unwrap();
        let br = host.link_index("docker0").unwrap();
        let held = [Held::start(), Held::start()];
        for (c, hex) in held.iter().zip(["1a2b3c4", "5d6e7f8"]) {
            let ns = NetNs::open_path(std::path::Path::new(&c.path())).unwrap();
            let name = format!("veth{hex}");
            host.link_add(&Veth::new(&name, "eth0").peer_netns(&ns).master(br).up())
                .unwrap();
            let i = ino(&c.path());
            paths.insert(i, c.path());
            truth.push((host_ino, name.clone(), "veth", Some("docker0"), i, "eth0".into(), None));
            truth.push((i, "eth0".into(), "veth", None, host_ino, name, Some("docker0")));
        }

        // A lab: h1, h2 on switch sw's bridge br0, and a direct link h1:eth2 ↔ h2:eth2, all
        // made from inside the namespaces (the host gets no nsid for them).
        let sw = netns::add_named("lab-sw", Source::New).unwrap();
        let swh = Handle::new(sw.try_clone().unwrap()).unwrap();
        swh.link_add(&Bridge::new("br0").up()).unwrap();
        let br0 = swh.link_index("br0").unwrap();
        let mut hosts = Vec::new();
        for h in ["h1", "h2"] {
            let ns = netns::add_named(&format!("lab-{h}"), Source::New).unwrap();
            let port = format!("{h}-eth1");
            swh.link_add(&Veth::new(&port, "eth1").peer_netns(&ns).master(br0).up())
                .unwrap();
            let i = ino(&format!("/run/netns/lab-{h}"));
            paths.insert(i, format!("/run/netns/lab-{h}"));
            hosts.push((ns, i));
            let sw_ino = ino("/run/netns/lab-sw");
            truth.push((sw_ino, port.clone(), "veth", Some("br0"), i, "eth1".into(), None));
            truth.push((i, "eth1".into(), "veth", None, sw_ino, port, Some("br0")));
        }
        paths.insert(ino("/run/netns/lab-sw"), "/run/netns/lab-sw".into());
        let h1 = Handle::new(hosts[0].0.try_clone().unwrap()).unwrap();
        h1.link_add(&Veth::new("eth2", "eth2").peer_netns(&hosts[1].0)).unwrap();
        truth.push((hosts[0].1, "eth2".into(), "veth", None, hosts[1].1, "eth2".into(), None));
        truth.push((hosts[1].1, "eth2".into(), "veth", None, hosts[0].1, "eth2".into(), None));

        // Macvlans: one in lab-h3 on a host parent, one in the host on a host parent.
        host.link_add(&Veth::new("mvp0", "mvp1")).unwrap();
        let h3 = netns::add_named("lab-h3", Source::New).unwrap();
        let h3_ino = ino("/run/netns/lab-h3");
        paths.insert(h3_ino, "/run/netns/lab-h3".into());
        let mvp0 = host.link_index("mvp0").unwrap();
        let mvp1 = host.link_index("mvp1").unwrap();
        host.link_add(&MacVlan::new("mv0", mvp0, MacVlanMode::Bridge).netns(&h3))
            .unwrap();
        host.link_add(&MacVlan::new("mvh", mvp1, MacVlanMode::Private)).unwrap();
        truth.push((h3_ino, "mv0".into(), "macvlan", None, host_ino, "mvp0".into(), None));
        truth.push((host_ino, "mvh".into(), "macvlan", None, host_ino, "mvp1".into(), None));
        truth.push((host_ino, "mvp0".into(), "veth", None, host_ino, "mvp1".into(), None));
        drop((sw, swh, hosts, h1, h3));

        let rows = veths();
        check_truth(&rows, &truth);
        check_against_ip(&rows, &paths);
        // Owners: the anonymous namespaces are named by their process; named ones by name.
        let r = find(&rows, host_ino, "veth1a2b3c4");
        assert_eq!(r["peer_owner"]["kind"], "process", "{r}");
        assert_eq!(r["peer_owner"]["name"], "sleep", "{r}");
        assert_eq!(r["peer_owner"]["id"], held[0].0.id().to_string(), "{r}");
        assert_eq!(find(&rows, hosts_ino("lab-h1"), "eth2")["peer_netns"], "lab-h2");
        assert_eq!(find(&rows, host_ino, "mvp0")["netns"], "host");

        // The table says the same in words.
        let table = W.ok(&["veths"]);
        let line = table.lines().find(|l| l.contains("veth5d6e7f8")).unwrap();
        assert!(line.contains("docker0") && line.contains("eth0") && line.contains("(process sleep)"), "{line}");
    }
}

fn hosts_ino(name: &str) -> u64 {
    ino(&format!("/run/netns/{name}"))
}

sandbox_test! {
    fn veths_names_a_warren_container_as_owner() {
        let host = Handle::current().unwrap();
        host.link_set_up("lo").unwrap();
        W.ok(&["run", "-d", "--name", "web", "--", "sleep", "60"]);
        let rows = veths();
        let inside = rows
            .iter()
            .find(|r| r["owner"]["name"] == "web")
            .unwrap_or_else(|| panic!("no row owned by web: {rows:#?}"));
        assert_eq!(inside["owner"]["kind"], "warren-container", "{inside}");
        assert_eq!(inside["ifname"], "eth0", "{inside}");
        assert!(inside["netns"].as_str().unwrap().starts_with("warren-"), "{inside}");
        assert_eq!(inside["peer_netns"], "host", "{inside}");
        assert_eq!(inside["peer_bridge"], "warren0", "{inside}");
        let outside = find(&rows, inside["peer_netns_ino"].as_u64().unwrap(), inside["peer_ifname"].as_str().unwrap());
        assert_eq!(outside["peer_owner"]["name"], "web", "{outside}");
        assert_eq!(outside["bridge"], "warren0", "{outside}");
        assert_eq!(outside["peer_netns_ino"], inside["netns_ino"], "{outside}");
        W.ok(&["rm", "-f", "web"]);
    }
}

sandbox_test! {
    fn graph_host_draws_namespaces_bridges_and_veths() {
        let host = Handle::current().unwrap();
        host.link_set_up("lo").unwrap();
        host.link_add(&Bridge::new("docker0").up()).unwrap();
        let br = host.link_index("docker0").unwrap();
        let c = Held::start();
        let ns = NetNs::open_path(std::path::Path::new(&c.path())).unwrap();
        host.link_add(&Veth::new("veth0a1b2c3", "eth0").peer_netns(&ns).master(br).up())
            .unwrap();
        let sw = netns::add_named("lab-sw", Source::New).unwrap();
        let h1 = netns::add_named("lab-h1", Source::New).unwrap();
        let swh = Handle::new(sw.try_clone().unwrap()).unwrap();
        swh.link_add(&Bridge::new("br0").up()).unwrap();
        let br0 = swh.link_index("br0").unwrap();
        swh.link_add(&Veth::new("h1-eth1", "eth1").peer_netns(&h1).master(br0)).unwrap();
        drop((ns, sw, h1, swh));

        let g: Value = serde_json::from_str(&W.ok(&["graph", "--host", "-j"])).unwrap();
        let nodes = g["nodes"].as_array().unwrap();
        let node = |id: &Value| nodes.iter().find(|n| n["id"] == *id).unwrap().clone();
        let edge = |a_label: &str| {
            g["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["a_label"] == a_label || e["b_label"] == a_label)
                .unwrap_or_else(|| panic!("no edge with {a_label}: {g:#}"))
                .clone()
        };
        let e = edge("veth0a1b2c3");
        assert_eq!(e["kind"], "veth", "{e}");
        let (mine, theirs) = if e["a_label"] == "veth0a1b2c3" { ("a", "b") } else { ("b", "a") };
        assert_eq!(node(&e[mine])["label"], "docker0", "the host end is on the bridge: {e}");
        assert_eq!(node(&e[mine])["kind"], "bridge");
        let other = node(&e[theirs]);
        assert_eq!(other["label"], format!("net:[{}]", ino(&c.path())), "{other}");
        assert_eq!(other["owner"], "process sleep", "{other}");
        let e = edge("h1-eth1");
        let (mine, theirs) = if e["a_label"] == "h1-eth1" { ("a", "b") } else { ("b", "a") };
        assert_eq!(node(&e[mine])["label"], "br0", "{e}");
        assert_eq!(node(&e[mine])["group"], "lab-sw", "{e}");
        assert_eq!(node(&e[theirs])["label"], "lab-h1", "{e}");
        assert_eq!(g["edges"].as_array().unwrap().len(), 2, "each veth pair once: {g:#}");

        let dot = W.ok(&["graph", "--host"]);
        assert!(dot.contains("veth0a1b2c3") && dot.contains("lab-h1"), "{dot}");
        let html = "/run/host.html";
        W.ok(&["graph", "--host", "-o", html]);
        let page = std::fs::read_to_string(html).unwrap();
        assert!(page.contains("<svg") && page.contains("docker0"), "an HTML page with the picture");
        assert!(!page.contains("http://") || !page.contains("<script src"), "self-contained");
        let (code, msg) = W.fails(&["graph"]);
        assert_eq!(code, 2, "{msg}");
    }
}
