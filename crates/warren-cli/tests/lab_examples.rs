//! Every lab in `examples/labs/` brought up with `warren lab up`, traffic sent across it with
//! sockets opened inside its nodes, then `warren lab down` leaving no namespace behind.
//! Addresses come from the resolved lab (`warren_lab::load_file`), the same value `up` built.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use warren_kernel::NetNs;
use warren_lab::model::{End, Lab, NodeKind};
use warren_testkit::net::{tcp_exchange, udp_exchange};
use warren_testkit::{cli::Cli, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

fn example(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/labs")
        .join(file)
}

/// `warren lab up FILE`, and the lab it built.
fn up(file: &str) -> Lab {
    let path = example(file);
    let started = Instant::now();
    WARREN.ok(&["lab", "up", path.to_str().unwrap()]);
    eprintln!("lab up {file}: {:.2} s", started.elapsed().as_secs_f64());
    warren_lab::load_file(&path).expect("example loads").lab
}

/// `warren lab down NAME`; then no namespace of the lab is left.
fn down(lab: &Lab) {
    WARREN.ok(&["lab", "down", &lab.name]);
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{}-", lab.name)))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "namespaces left after down: {left:?}");
}

fn ns(lab: &Lab, node: &str) -> NetNs {
    NetNs::open_named(&lab.node(node).expect("node").netns).expect("open node namespace")
}

/// The first IPv4 address of `node`'s interface `iface` (its file name).
fn addr(lab: &Lab, node: &str, iface: &str) -> IpAddr {
    let n = lab.node(node).expect("node");
    let i = n
        .interfaces
        .iter()
        .find(|i| i.name == iface)
        .unwrap_or_else(|| panic!("{node} has no {iface}"));
    i.addresses
        .iter()
        .map(|a| a.addr)
        .find(IpAddr::is_ipv4)
        .expect("an IPv4 address")
}

/// The first IPv4 address of `node` on any interface.
fn any_addr(lab: &Lab, node: &str) -> IpAddr {
    let n = lab.node(node).expect("node");
    n.interfaces
        .iter()
        .flat_map(|i| &i.addresses)
        .map(|a| a.addr)
        .find(IpAddr::is_ipv4)
        .unwrap_or_else(|| panic!("{node} has no address"))
}

/// TCP from `from` to `to`'s address `dst`; the server sees the client's real address.
fn tcp(lab: &Lab, from: &str, to: &str, dst: IpAddr, port: u16) -> SocketAddr {
    tcp_exchange(&ns(lab, from), &ns(lab, to), SocketAddr::new(dst, port))
        .unwrap_or_else(|e| panic!("tcp {from} -> {to} ({dst}): {e}"))
}

/// For every link between two node interfaces, TCP across it in both directions.
fn across_every_link(lab: &Lab) {
    let mut n = 0;
    for (k, link) in lab.links.iter().enumerate() {
        let [
            End::Node {
                node: a,
                interface: ia,
            },
            End::Node {
                node: b,
                interface: ib,
            },
        ] = &link.ends
        else {
            continue;
        };
        let port = 7000 + u16::try_from(k).unwrap();
        let seen = tcp(lab, a, b, addr(lab, b, ib), port);
        assert_eq!(seen.ip(), addr(lab, a, ia), "{a} -> {b}: source kept");
        tcp(lab, b, a, addr(lab, a, ia), port);
        n += 1;
    }
    assert!(n > 0, "no node-to-node link in {}", lab.name);
}

sandbox_test! {
    fn router_between_two_lans_routes_tcp_and_udp() {
        let lab = up("router-two-lans.yaml");
        // Across the router, both ways, sources kept (no NAT inside a lab).
        let seen = tcp(&lab, "h1", "h3", any_addr(&lab, "h3"), 7001);
        assert_eq!(seen.ip(), any_addr(&lab, "h1"));
        tcp(&lab, "h4", "h2", any_addr(&lab, "h2"), 7002);
        let seen = udp_exchange(
            &ns(&lab, "h2"),
            &ns(&lab, "h4"),
            SocketAddr::new(any_addr(&lab, "h4"), 7003),
        )
        .expect("udp h2 -> h4");
        assert_eq!(seen.ip(), any_addr(&lab, "h2"));
        // The same LAN through the switch.
        tcp(&lab, "h1", "h2", any_addr(&lab, "h2"), 7004);
        // Names from the generated /etc/hosts, inside a node.
        let out = WARREN.ok(&["lab", "exec", "h1", "--", "cat", "/etc/hosts"]);
        assert!(out.contains("h3"), "{out}");
        // A fault and its repair: the kernel drops h1's default route with its link; `up`
        // brings the link and the lab's routes back.
        WARREN.ok(&["lab", "link", "set", "h1:eth0", "down"]);
        let h3 = SocketAddr::new(any_addr(&lab, "h3"), 7005);
        assert!(tcp_exchange(&ns(&lab, "h1"), &ns(&lab, "h3"), h3).is_err());
        WARREN.ok(&["lab", "link", "set", "h1:eth0", "up"]);
        tcp(&lab, "h1", "h3", h3.ip(), 7006);
        // A partition cuts the two LANs apart and leaves each LAN whole; heal undoes it.
        WARREN.ok(&["lab", "partition", "h1,h2", "/", "h3,h4"]);
        assert!(tcp_exchange(&ns(&lab, "h1"), &ns(&lab, "h3"), h3).is_err());
        tcp(&lab, "h1", "h2", any_addr(&lab, "h2"), 7007);
        WARREN.ok(&["lab", "heal"]);
        tcp(&lab, "h1", "h3", h3.ip(), 7008);
        down(&lab);
    }
}

sandbox_test! {
    fn three_hosts_on_a_switch_reach_each_other() {
        let lab = up("bridge-three.yaml");
        for (a, b) in [("h1", "h2"), ("h2", "h3"), ("h3", "h1")] {
            let seen = tcp(&lab, a, b, any_addr(&lab, b), 7010);
            assert_eq!(seen.ip(), any_addr(&lab, a));
        }
        // `warren veths` names each end's lab node.
        let veths = WARREN.ok(&["-j", "veths"]);
        for n in ["bridge3/h1", "bridge3/h2", "bridge3/h3", "bridge3/sw"] {
            assert!(
                veths.contains(&format!("\"name\":\"{n}\"")) || veths.contains(&format!("\"name\": \"{n}\"")),
                "{n} not named as an owner: {veths}"
            );
        }
        assert!(veths.contains("lab-node"), "{veths}");
        down(&lab);
    }
}

sandbox_test! {
    fn ring_of_six_carries_traffic_on_every_link() {
        let lab = up("ring6.yaml");
        across_every_link(&lab);
        // r1's static route to r2's loopback.
        let lo = lab.node("r2").unwrap().loopback[0].addr;
        tcp(&lab, "r1", "r2", lo, 7020);
        down(&lab);
    }
}

sandbox_test! {
    fn full_mesh_of_six_carries_traffic_on_every_link() {
        let lab = up("mesh6.yaml");
        across_every_link(&lab);
        // r1's links are shaped: a tbf on each of its interfaces.
        let r1 = lab.node("r1").unwrap();
        let path = format!("/run/netns/{}", r1.netns);
        let qdiscs = warren_testkit::run("tc", &["-n", &r1.netns, "-j", "qdisc", "show"]);
        let tbf = qdiscs.matches("\"tbf\"").count();
        assert_eq!(tbf, 5, "a tbf per link of r1 in {path}: {qdiscs}");
        down(&lab);
    }
}

sandbox_test! {
    fn nat_node_takes_hosts_out_through_the_host() {
        let lab = up("nat.yaml");
        // The host end of the NAT node's uplink: an address in this (the sandbox's host)
        // namespace.
        let (uplink_host, uplink_node) = lab
            .links
            .iter()
            .find_map(|l| match &l.ends {
                [
                    End::Node { node, interface },
                    End::HostUplink { address, .. },
                ] => Some((address.addr, addr(&lab, node, interface))),
                _ => None,
            })
            .expect("the NAT node's uplink");
        let host = NetNs::current().unwrap();
        let seen = tcp_exchange(&ns(&lab, "h1"), &host, SocketAddr::new(uplink_host, 7030))
            .expect("h1 reaches the host through the NAT node");
        assert_eq!(
            seen.ip(),
            uplink_node,
            "the host sees the NAT node's uplink address (masqueraded), not h1's"
        );
        assert!(lab.nodes.iter().any(|n| n.kind == NodeKind::Nat));
        down(&lab);
        // The host's masquerade for the lab is gone with it.
        let nft = warren_testkit::run("nft", &["list", "ruleset"]);
        assert!(
            !nft.contains(&uplink_host.to_string()),
            "nothing of the lab left in the host's rules: {nft}"
        );
    }
}

sandbox_test! {
    fn bgp_triangle_with_bird_converges_and_routes_loopbacks() {
        let have_bird = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("bird").exists()))
            || std::path::Path::new("/usr/sbin/bird").exists();
        if !have_bird {
            warren_testkit::skip("bird (Debian's bird2) is not installed");
            return;
        }
        let lab = up("bgp3.yaml");
        // Wait (bounded) until r1 has a route to r3's loopback learnt over BGP.
        let lo3 = lab.node("r3").unwrap().loopback[0].addr;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let routes = warren_testkit::run("ip", &["-n", "bgp3-r1", "-j", "route", "show"]);
            if routes.contains(&format!("\"{lo3}\"")) && routes.contains("\"bird\"") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "BGP did not converge in 60 s: r1's routes {routes}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // r3's loopback, reachable only through the route BGP installed (retried until the
        // deadline: sessions may still be settling when the first route shows).
        loop {
            match tcp_exchange(&ns(&lab, "r1"), &ns(&lab, "r3"), SocketAddr::new(lo3, 7040)) {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => {
                    let r1 = warren_testkit::run("ip", &["-n", "bgp3-r1", "route", "show"]);
                    let r3 = warren_testkit::run("ip", &["-n", "bgp3-r3", "route", "show"]);
                    panic!("tcp r1 -> r3's loopback {lo3}: {e}\nr1:\n{r1}\nr3:\n{r3}");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        down(&lab);
        let birds = warren_testkit::run("sh", &["-c", "pgrep -x bird || true"]);
        assert!(birds.trim().is_empty(), "bird left running: {birds}");
    }
}

sandbox_test! {
    fn a_thousand_hosts_on_chained_switches_reach_each_other() {
        let lab = up("hosts1000.yaml");
        let hosts: Vec<&str> = lab
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Host)
            .map(|n| n.name.as_str())
            .collect();
        assert!(hosts.len() >= 1000, "{} hosts", hosts.len());
        let (first, last) = (hosts[0], hosts[hosts.len() - 1]);
        let seen = tcp(&lab, first, last, any_addr(&lab, last), 7050);
        assert_eq!(seen.ip(), any_addr(&lab, first));
        tcp(&lab, last, "r1", any_addr(&lab, "r1"), 7051);
        // `warren trace` follows the frame across the four chained switches to the last host.
        let (src, dst) = (format!("hosts1000-{first}"), format!("hosts1000-{last}"));
        let out = WARREN.ok(&["-j", "trace", &src, &dst]);
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["verdict"]["verdict"], "reaches", "{out}");
        assert_eq!(json["hops"][1]["ns"], dst.as_str(), "{out}");
        let links: Vec<&str> = json["hops"][0]["link"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        for sw in ["sw1", "sw2", "sw3", "sw4"] {
            let bridge = format!("bridge br0 in hosts1000-{sw}: port ");
            assert!(links.iter().any(|l| l.starts_with(&bridge)), "{sw}: {out}");
        }
        let delivered = format!("veth {last}-eth0 -> eth0 in {dst}");
        assert_eq!(links.last(), Some(&delivered.as_str()), "{out}");
        let started = Instant::now();
        down(&lab);
        eprintln!(
            "lab down hosts1000: {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }
}
