//! Labs built in the real kernel (per-test sandbox): connectivity through them, kernel state
//! read back, re-apply of only the difference, and `down` leaving nothing, never touching
//! what the lab did not make.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Instant;

use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::{Handle, NetNs};
use warren_lab::build::{self, Options};
use warren_lab::model::{End, Lab, Link, NodeKind, Shaping};
use warren_lab::{Error, sample, teardown};
use warren_store::Store;
use warren_testkit::{net, oracle, sandbox_test};

fn store() -> Store {
    Store::open(Path::new(warren_testkit::STATE_DIR)).expect("store")
}

fn ns(name: &str) -> NetNs {
    NetNs::open_named(name).unwrap_or_else(|e| panic!("open {name}: {e}"))
}

fn path(name: &str) -> String {
    format!("/run/netns/{name}")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The peer a server saw, as IPv4 when it is v4-mapped.
fn peer_ip(a: SocketAddr) -> IpAddr {
    match a.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn ifindex(netns: &str, ifname: &str) -> u64 {
    oracle::link_in(&path(netns), ifname).unwrap_or_else(|| panic!("{netns}:{ifname} missing"))["ifindex"]
        .as_u64()
        .unwrap()
}

fn netns_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn up(lab: &Lab) -> build::Outcome {
    build::up(&mut store(), lab, &Options::default())
        .unwrap_or_else(|e| panic!("up {}: {e:?}", lab.name))
}

sandbox_test! {
    fn a_router_between_two_lans_carries_tcp_and_reads_back() {
        let lab = sample::two_lans("t");
        up(&lab);
        // h1 (on the switch) reaches h2 (direct link) through r.
        let peer = net::tcp_exchange(&ns("t-h1"), &ns("t-h2"), addr("10.0.2.2:7000")).unwrap();
        assert_eq!(peer_ip(peer), "10.0.1.2".parse::<IpAddr>().unwrap());
        // Kernel state, read back with ip.
        let eth0 = oracle::link_in(&path("t-h1"), "eth0").unwrap();
        assert_eq!(eth0["altnames"][0], "h1.eth0", "{eth0}");
        let a = oracle::ip_json_in(&path("t-r"), &["addr", "show", "dev", "eth1"]);
        assert_eq!(a[0]["addr_info"][0]["local"], "10.0.1.1");
        let lo = oracle::ip_json_in(&path("t-r"), &["addr", "show", "dev", "lo"]);
        assert!(lo.to_string().contains("10.254.0.1"), "{lo}");
        let r = oracle::ip_json_in(&path("t-h1"), &["route", "show", "default"]);
        assert_eq!(r[0]["gateway"], "10.0.1.1");
        assert_eq!(warren_kernel::sysctl::get(&ns("t-r"), "net.ipv4.ip_forward").unwrap(), "1");
        let p0 = oracle::link_in(&path("t-sw1"), "p0").unwrap();
        assert_eq!(p0["master"], "br0");
        assert_eq!(p0["altnames"][0], "r.eth1");
        // The lab's namespace files are its group's, linked from /run/netns.
        assert_eq!(
            std::fs::read_link("/run/netns/t-h1").unwrap(),
            std::path::Path::new("/run/warren/netns/t/t-h1")
        );
        // down removes every namespace, and their files' tmpfs with them.
        let rep = teardown::down(&mut store(), "t").unwrap();
        assert_eq!(rep.namespaces, 4);
        assert!(netns_names().is_empty(), "{:?}", netns_names());
        assert!(!std::path::Path::new("/run/warren/netns/t").exists());
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mi.contains("/run/warren/netns"), "{mi}");
        assert!(matches!(teardown::down(&mut store(), "t"), Err(Error::NoSuchLab(_))));
    }
}

sandbox_test! {
    fn three_hosts_on_a_switch_reach_each_other() {
        let mut lab = sample::hosts_on_switch("s", 3);
        for n in &mut lab.nodes {
            n.routes.clear();
        }
        up(&lab);
        for (from, to, ip) in [("s-h0", "s-h2", "10.0.0.4"), ("s-h2", "s-h1", "10.0.0.3")] {
            net::tcp_exchange(&ns(from), &ns(to), SocketAddr::new(ip.parse().unwrap(), 7001))
                .unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
        }
        teardown::down(&mut store(), "s").unwrap();
        assert!(netns_names().is_empty());
    }
}

/// A namespace `ext` linked to the sandbox's host by a veth: host 192.0.2.1/24, ext
/// 192.0.2.2/24. Returns it.
fn outside() -> NetNs {
    let ext = netns::add_named("ext", Source::New).unwrap();
    let host = Handle::current().unwrap();
    host.link_add(&Veth::new("ext0", "eth0").peer_netns(&ext).up().peer_up())
        .unwrap();
    let i = host.link_index("ext0").unwrap();
    host.addr_add(i, "192.0.2.1/24".parse().unwrap()).unwrap();
    let h = Handle::new(ext.try_clone().unwrap()).unwrap();
    let e = h.link_index("eth0").unwrap();
    h.addr_add(e, "192.0.2.2/24".parse().unwrap()).unwrap();
    h.link_set_up("lo").unwrap();
    ext
}

sandbox_test! {
    fn a_nat_node_reaches_out_through_the_hosts_masquerade() {
        let ext = outside();
        let before = warren_kernel::sysctl::get(&NetNs::current().unwrap(), "net.ipv4.ip_forward").unwrap();
        let lab = sample::nat("n", "wl-n-up0");
        up(&lab);
        // h (10.0.9.2) behind out (100.64.0.2 on its uplink) reaches ext through the host,
        // which masquerades the uplink: ext sees the host's address.
        let peer = net::tcp_exchange(&ns("n-h"), &ext, addr("192.0.2.2:7002")).unwrap();
        assert_eq!(peer_ip(peer), "192.0.2.1".parse::<IpAddr>().unwrap());
        let host_end = oracle::link_in("/proc/self/ns/net", "wl-n-up0").unwrap();
        assert!(host_end.to_string().contains("warren-lab.n.out.up0"), "{host_end}");
        let t = warren_testkit::run("nft", &["-j", "list", "table", "inet", "warren-lab"]);
        assert!(t.contains("100.64.0.0"), "{t}");
        let t = warren_testkit::run("nsenter", &["--net=/run/netns/n-out", "nft", "-j", "list", "table", "inet", "warren-lab"]);
        assert!(t.contains("10.0.9.0"), "{t}");
        assert_eq!(warren_kernel::sysctl::get(&NetNs::current().unwrap(), "net.ipv4.ip_forward").unwrap(), "1");

        // The LAN renumbered in a re-apply: the NAT node masquerades the new LAN instead.
        let mut moved = lab.clone();
        let out = moved.nodes.iter_mut().find(|n| n.name == "out").unwrap();
        out.interfaces[0].addresses = vec!["10.0.19.1/24".parse().unwrap()];
        let h = moved.nodes.iter_mut().find(|n| n.name == "h").unwrap();
        h.interfaces[0].addresses = vec!["10.0.19.2/24".parse().unwrap()];
        h.routes = vec![sample::default_via("10.0.19.1")];
        up(&moved);
        let t = warren_testkit::run("nsenter", &["--net=/run/netns/n-out", "nft", "-j", "list", "table", "inet", "warren-lab"]);
        assert!(t.contains("10.0.19.0") && !t.contains("10.0.9.0"), "{t}");
        let peer = net::tcp_exchange(&ns("n-h"), &ext, addr("192.0.2.2:7003")).unwrap();
        assert_eq!(peer_ip(peer), "192.0.2.1".parse::<IpAddr>().unwrap());
        // And back: the old LAN again, through the same node.
        up(&lab);
        let t = warren_testkit::run("nsenter", &["--net=/run/netns/n-out", "nft", "-j", "list", "table", "inet", "warren-lab"]);
        assert!(t.contains("10.0.9.0") && !t.contains("10.0.19.0"), "{t}");
        net::tcp_exchange(&ns("n-h"), &ext, addr("192.0.2.2:7004")).unwrap();

        let rep = teardown::down(&mut store(), "n").unwrap();
        assert_eq!((rep.host_links, rep.masquerade), (1, 1));
        assert!(oracle::link_in("/proc/self/ns/net", "wl-n-up0").is_none());
        let tables = warren_testkit::run("nft", &["-j", "list", "tables"]);
        assert!(!tables.contains("warren-lab"), "{tables}");
        assert_eq!(warren_kernel::sysctl::get(&NetNs::current().unwrap(), "net.ipv4.ip_forward").unwrap(), before);
        assert_eq!(netns_names(), ["ext"]);
    }
}

sandbox_test! {
    fn a_host_bridge_link_joins_the_hosts_bridge_and_goes_on_down() {
        let host = Handle::current().unwrap();
        host.link_add(&warren_kernel::link::bridge::Bridge::new("hbr0").up()).unwrap();
        let br = host.link_index("hbr0").unwrap();
        host.addr_add(br, "192.0.2.1/24".parse().unwrap()).unwrap();
        let mut lab = Lab { name: "hb".into(), nodes: vec![sample::node("hb", "h1", NodeKind::Host)], links: vec![] };
        lab.nodes[0].interfaces.push(sample::iface("h1", "eth1", &["192.0.2.5/24"], 0));
        lab.links.push(Link {
            ends: [
                End::Node { node: "h1".into(), interface: "eth1".into() },
                End::HostBridge { bridge: "hbr0".into(), ifname: "wl-hb-h1".into() },
            ],
            mtu: None,
            shaping: None,
        });
        up(&lab);
        let port = oracle::link_in("/proc/self/ns/net", "wl-hb-h1").unwrap();
        assert_eq!(port["master"], "hbr0");
        assert!(port.to_string().contains("warren-lab.hb.h1.eth1"), "{port}");
        let peer = net::tcp_exchange(&ns("hb-h1"), &NetNs::current().unwrap(), addr("192.0.2.1:7003")).unwrap();
        assert_eq!(peer_ip(peer), "192.0.2.5".parse::<IpAddr>().unwrap());
        teardown::down(&mut store(), "hb").unwrap();
        assert!(oracle::link_in("/proc/self/ns/net", "wl-hb-h1").is_none());
        assert!(oracle::link_in("/proc/self/ns/net", "hbr0").is_some(), "the host's bridge stays");
        assert!(netns_names().is_empty());
    }
}

sandbox_test! {
    fn a_macvlan_link_lands_in_the_node_under_its_name() {
        let host = Handle::current().unwrap();
        host.link_add(&Veth::new("par0", "par1").up().peer_up()).unwrap();
        let mut lab = Lab { name: "mv".into(), nodes: vec![sample::node("mv", "h", NodeKind::Host)], links: vec![] };
        lab.nodes[0].interfaces.push(sample::iface("h", "eth1", &["198.51.100.5/24"], 0));
        lab.nodes[0].interfaces[0].mac = Some("02:00:00:00:00:05".into());
        lab.links.push(Link {
            ends: [
                End::Node { node: "h".into(), interface: "eth1".into() },
                End::Macvlan { parent: "par0".into(), mode: "bridge".into() },
            ],
            mtu: Some(1400),
            shaping: None,
        });
        up(&lab);
        let l = oracle::link_in(&path("mv-h"), "eth1").unwrap();
        assert_eq!(l["linkinfo"]["info_kind"], "macvlan", "{l}");
        assert_eq!(l["linkinfo"]["info_data"]["mode"], "bridge", "{l}");
        assert_eq!(l["address"], "02:00:00:00:00:05");
        assert_eq!(l["mtu"], 1400);
        assert_eq!(l["altnames"][0], "h.eth1");
        let a = oracle::ip_json_in(&path("mv-h"), &["addr", "show", "dev", "eth1"]);
        assert_eq!(a[0]["addr_info"][0]["local"], "198.51.100.5");
        teardown::down(&mut store(), "mv").unwrap();
        assert!(netns_names().is_empty());
        assert!(oracle::link_in("/proc/self/ns/net", "par0").is_some());
    }
}

sandbox_test! {
    fn mtu_and_tbf_read_back_on_both_ends() {
        let mut lab = sample::two_lans("m");
        lab.links[2].mtu = Some(9000);
        lab.links[2].shaping = Some(Shaping { rate_bps: Some(10_000_000), delay_us: None, loss_percent: None });
        up(&lab);
        for (n, i) in [("m-r", "eth2"), ("m-h2", "eth0")] {
            assert_eq!(oracle::link_in(&path(n), i).unwrap()["mtu"], 9000, "{n}:{i}");
            let h = Handle::new(ns(n)).unwrap();
            let idx = h.link_index(i).unwrap();
            let q = h.qdisc_list(Some(idx)).unwrap();
            let tbf = q.iter().find(|q| q.kind == "tbf").unwrap_or_else(|| panic!("{n}:{i}: {q:?}"));
            assert_eq!(tbf.tbf.unwrap().0, 1_250_000, "{n}:{i}");
        }
        teardown::down(&mut store(), "m").unwrap();
    }
}

sandbox_test! {
    fn netem_is_refused_plainly_and_leaves_nothing() {
        let mut lab = sample::two_lans("d");
        lab.links[2].shaping = Some(Shaping { rate_bps: None, delay_us: Some(5000), loss_percent: Some(0.1) });
        match build::up(&mut store(), &lab, &Options::default()) {
            Err(e) => {
                assert!(matches!(e, Error::NoNetem { .. }), "{e:?}");
                assert!(e.to_string().contains("kernel lacks netem"), "{e}");
                assert!(e.to_string().contains("h2:eth0 -- r:eth2"), "{e}");
                assert!(netns_names().is_empty(), "{:?}", netns_names());
                assert!(warren_lab::state::row(&mut store(), "d").unwrap().is_none());
            }
            Ok(_) => {
                // A kernel with netem: it must be there, not ignored.
                let h = Handle::new(ns("d-r")).unwrap();
                let q = h.qdisc_list(Some(h.link_index("eth2").unwrap())).unwrap();
                assert!(q.iter().any(|q| q.kind == "netem"), "{q:?}");
                teardown::down(&mut store(), "d").unwrap();
            }
        }
    }
}

sandbox_test! {
    fn a_reapply_changes_only_the_difference() {
        let old = sample::two_lans("r");
        up(&old);
        let keep = [("r-r", "eth1"), ("r-h1", "eth0"), ("r-sw1", "p0"), ("r-sw1", "p1"), ("r-r", "eth2"), ("r-h2", "eth0")];
        let before: Vec<u64> = keep.iter().map(|(n, i)| ifindex(n, i)).collect();
        let h1_inode = warren_lab::state::ns_inode(Path::new(&path("r-h1")));
        let mut new = old.clone();
        new.nodes.push(sample::node("r", "h3", NodeKind::Host));
        sample::attach(&mut new, "h3", "eth0", &["10.0.1.3/24"], "sw1");
        new.nodes[0].interfaces[1].addresses = vec!["10.0.2.254/24".parse().unwrap()];
        new.nodes[3].routes = vec![sample::default_via("10.0.2.254")];
        let plan = build::plan(&mut store(), &new).unwrap();
        let text = plan.to_string();
        assert!(text.contains("+ node h3") && text.contains("+ link h3:eth0 -- sw1:p2"), "{text}");
        assert!(text.contains("~ node r: address eth2 10.0.2.1/24 → 10.0.2.254/24"), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("- ")), "nothing removed: {text}");
        let out = up(&new);
        assert_eq!(out.plan, plan);
        let after: Vec<u64> = keep.iter().map(|(n, i)| ifindex(n, i)).collect();
        assert_eq!(before, after, "untouched links keep their interfaces");
        assert_eq!(h1_inode, warren_lab::state::ns_inode(Path::new(&path("r-h1"))));
        let a = oracle::ip_json_in(&path("r-r"), &["addr", "show", "dev", "eth2"]).to_string();
        assert!(a.contains("10.0.2.254") && !a.contains("10.0.2.1\""), "{a}");
        net::tcp_exchange(&ns("r-h3"), &ns("r-h2"), addr("10.0.2.2:7004")).unwrap_err();
        // h3 has no route out, but reaches its LAN; h2 follows the new gateway.
        net::tcp_exchange(&ns("r-h3"), &ns("r-h1"), addr("10.0.1.2:7005")).unwrap();
        net::tcp_exchange(&ns("r-h2"), &ns("r-h1"), addr("10.0.1.2:7006")).unwrap();
        // Applying the same file again changes nothing.
        assert!(up(&new).plan.is_empty());
        // Remove h3 again: its namespace goes, the others stay.
        let out = up(&old);
        assert_eq!(out.plan.remove_nodes, ["h3"]);
        assert!(!netns_names().contains(&"r-h3".to_owned()));
        assert_eq!(before, keep.iter().map(|(n, i)| ifindex(n, i)).collect::<Vec<_>>());
        assert!(oracle::link_in(&path("r-sw1"), "p2").is_none());
        teardown::down(&mut store(), "r").unwrap();
        assert!(netns_names().is_empty());
    }
}

sandbox_test! {
    fn down_never_removes_what_the_lab_did_not_make() {
        // A namespace of a lab node's name that exists first: up fails, undoes itself, and
        // the namespace stays.
        let foreign = netns::add_named("f-h1", Source::New).unwrap();
        let foreign_id = foreign.id();
        let e = build::up(&mut store(), &sample::two_lans("f"), &Options::default()).unwrap_err();
        assert!(e.to_string().contains("f-h1"), "{e}");
        assert_eq!(netns_names(), ["f-h1"]);
        assert_eq!(ns("f-h1").id(), foreign_id);
        netns::delete_named("f-h1").unwrap();

        // Built, then replaced behind warren's back by same-named objects: down leaves them.
        up(&sample::nat("g", "wl-g-up0"));
        netns::delete_named("g-h").unwrap();
        let imposter = netns::add_named("g-h", Source::New).unwrap();
        let host = Handle::current().unwrap();
        host.link_del("wl-g-up0").unwrap();
        host.link_add(&Veth::new("wl-g-up0", "other0")).unwrap();
        let rep = teardown::down(&mut store(), "g").unwrap();
        assert!(rep.left_alone.contains(&"namespace g-h".to_owned()), "{rep:?}");
        assert!(rep.left_alone.contains(&"host interface wl-g-up0".to_owned()), "{rep:?}");
        assert_eq!(netns_names(), ["g-h"]);
        assert_eq!(ns("g-h").id(), imposter.id());
        assert!(oracle::link_in("/proc/self/ns/net", "wl-g-up0").is_some());
    }
}

sandbox_test! {
    fn twelve_hundred_hosts_on_one_switch_chain_bridges() {
        let lab = sample::hosts_on_switch("big", 1200);
        let t = Instant::now();
        up(&lab);
        let up_s = t.elapsed().as_secs_f64();
        let links = oracle::link_names_in(&path("big-sw"));
        assert!(links.contains(&"br1".to_owned()) && links.contains(&"br0-up".to_owned()), "chained");
        assert_eq!(links.iter().filter(|l| l.starts_with('p')).count(), 1200);
        // Across the chain: h0 on br0, h1199 on br1.
        net::tcp_exchange(&ns("big-h0"), &ns("big-h1199"), SocketAddr::new(sample::host_addr(1199, 8).split('/').next().unwrap().parse().unwrap(), 7007)).unwrap();
        let t = Instant::now();
        let rep = teardown::down(&mut store(), "big").unwrap();
        let down_s = t.elapsed().as_secs_f64();
        assert_eq!(rep.namespaces, 1201);
        assert!(netns_names().is_empty());
        println!("1,200 hosts on one switch (debug build): up {up_s:.2} s, down {down_s:.2} s");
    }
}

/// The first address of `node`'s first interface in `lab`.
fn first_addr(lab: &Lab, node: &str) -> IpAddr {
    lab.node(node).unwrap().interfaces[0].addresses[0].addr
}

sandbox_test! {
    fn a_lab_from_yaml_with_automatic_addresses_routes_and_nat_works() {
        let ext = outside();
        let yaml = "name: y
nodes:
  r: { kind: router }
  sw1: { kind: switch }
  sw2: { kind: switch }
  h1: {}
  h2: {}
  h3: {}
  out: { kind: nat }
links:
  - [r:eth1, sw1]
  - [h1:eth0, sw1]
  - [r:eth2, h2:eth0]
  - [out:eth1, sw2]
  - [h3:a-very-long-interface-name, sw2]
";
        let lab = warren_lab::load_str(yaml, Path::new("y.yaml")).unwrap().lab;
        up(&lab);
        let h2 = first_addr(&lab, "h2");
        let peer = net::tcp_exchange(&ns("y-h1"), &ns("y-h2"), SocketAddr::new(h2, 7010)).unwrap();
        assert_eq!(peer_ip(peer), first_addr(&lab, "h1"));
        // h3, behind the NAT node, reaches the outside through two masquerades.
        let peer = net::tcp_exchange(&ns("y-h3"), &ext, addr("192.0.2.2:7011")).unwrap();
        assert_eq!(peer_ip(peer), "192.0.2.1".parse::<IpAddr>().unwrap());
        // The long interface name: a short kernel name, the long one as an altname.
        let f = &lab.node("h3").unwrap().interfaces[0];
        assert_ne!(f.ifname, f.name);
        let l = oracle::link_in(&path("y-h3"), &f.ifname).unwrap();
        assert!(l["altnames"].to_string().contains("a-very-long-interface-name"), "{l}");
        teardown::down(&mut store(), "y").unwrap();
        assert_eq!(netns_names(), ["ext"]);
    }
}

sandbox_test! {
    fn a_sysctl_dropped_from_the_file_gets_its_value_from_before_back() {
        let lab_with = |h: &str, r: &str| {
            let yaml = format!(
                "name: sy\nnodes:\n  r: {{ kind: router{r} }}\n  h: {{ {h} }}\nlinks:\n  - [r:eth1, h:eth0]\n"
            );
            warren_lab::load_str(&yaml, Path::new("sy.yaml")).unwrap().lab
        };
        let get = |node: &str, key: &str| warren_kernel::sysctl::get(&ns(node), key).unwrap();
        let saved = || -> Vec<String> {
            let mut v: Vec<String> = store()
                .read(|tx| warren_store::lab_objects(tx, "sy", Some(warren_lab::state::SYSCTL)))
                .unwrap()
                .into_iter()
                .map(|o| o.name)
                .collect();
            v.sort();
            v
        };
        // What a namespace starts with.
        let fresh = netns::add_named("fresh", Source::New).unwrap();
        let ttl = warren_kernel::sysctl::get(&fresh, "net.ipv4.ip_default_ttl").unwrap();
        assert_ne!(ttl, "99");

        up(&lab_with("sysctls: { net.ipv4.ip_default_ttl: 99 }", ", sysctls: { net.ipv4.ip_forward: 0 }"));
        assert_eq!(get("sy-h", "net.ipv4.ip_default_ttl"), "99");
        assert_eq!(get("sy-r", "net.ipv4.ip_forward"), "0");
        let ttl_saved = "h net.ipv4.ip_default_ttl".to_owned();
        assert!(saved().contains(&ttl_saved) && saved().contains(&"r net.ipv4.ip_forward".to_owned()), "{:?}", saved());
        // Changed: the value from before the lab stays the one to put back.
        up(&lab_with("sysctls: { net.ipv4.ip_default_ttl: 77 }", ", sysctls: { net.ipv4.ip_forward: 0 }"));
        assert_eq!(get("sy-h", "net.ipv4.ip_default_ttl"), "77");
        // Dropped: the host's TTL is a fresh namespace's again; the router forwards again.
        let plan = build::plan(&mut store(), &lab_with("", "")).unwrap().to_string();
        assert!(plan.contains("~ node h: sysctl net.ipv4.ip_default_ttl 77 → (none)"), "{plan}");
        up(&lab_with("", ""));
        assert_eq!(get("sy-h", "net.ipv4.ip_default_ttl"), ttl);
        assert_eq!(get("sy-r", "net.ipv4.ip_forward"), "1");
        assert!(!saved().contains(&ttl_saved), "{:?}", saved());
        // A node removed forgets its records with its namespace.
        up(&lab_with("sysctls: { net.ipv4.ip_default_ttl: 99 }", ""));
        assert!(saved().contains(&ttl_saved), "{:?}", saved());
        let mut gone = lab_with("", "");
        gone.nodes.retain(|n| n.name != "h");
        gone.links.clear();
        gone.nodes.iter_mut().for_each(|n| n.interfaces.clear());
        up(&gone);
        assert!(!saved().iter().any(|s| s.starts_with("h ")), "{:?}", saved());
        teardown::down(&mut store(), "sy").unwrap();
        drop(fresh);
    }
}
