//! The classic examples, wired with `warren` commands alone, then proven with TCP between
//! sockets opened inside the namespaces: two namespaces over a veth, a bridge with three
//! namespaces, and macvlan in bridge mode on a veth parent. (The router between two LANs is
//! in router_cli.rs.)

use std::net::{IpAddr, SocketAddr};

use warren_kernel::NetNs;
use warren_testkit::net::tcp_exchange;
use warren_testkit::{cli::Cli, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

/// Run one `warren` command line (split on white space); it must succeed.
fn w(line: &str) {
    WARREN.ok(&line.split_whitespace().collect::<Vec<_>>());
}

fn ns(name: &str) -> NetNs {
    NetNs::open_named(name).unwrap()
}

/// TCP from `from` to `to`'s address `ip`, and the server saw `from`'s own address.
fn reaches(from: &str, from_ip: &str, to: &str, ip: &str, port: u16) {
    let target = SocketAddr::new(ip.parse().unwrap(), port);
    let peer = tcp_exchange(&ns(from), &ns(to), target)
        .unwrap_or_else(|e| panic!("{from} -> {to} ({target}): {e}"));
    assert_eq!(
        peer.ip(),
        from_ip.parse::<IpAddr>().unwrap(),
        "source address kept"
    );
}

sandbox_test! {
    fn two_namespaces_over_a_veth() {
        w("ns add --lo-up left right");
        w("-n left link add veth0 type veth peer name veth1 netns right");
        w("-n left addr add 10.10.0.1/24 dev veth0");
        w("-n left link set veth0 up");
        w("-n right addr add 10.10.0.2/24 dev veth1");
        w("-n right link set veth1 up");
        reaches("left", "10.10.0.1", "right", "10.10.0.2", 7001);
        reaches("right", "10.10.0.2", "left", "10.10.0.1", 7002);
    }
}

sandbox_test! {
    fn a_bridge_with_three_namespaces() {
        w("ns add --lo-up sw h1 h2 h3");
        w("-n sw link add br0 type bridge");
        w("-n sw link set br0 up");
        for (i, h) in ["h1", "h2", "h3"].iter().enumerate() {
            w(&format!("-n sw link add v{h} type veth peer name eth0 netns {h}"));
            w(&format!("-n sw link set v{h} master br0 up"));
            w(&format!("-n {h} addr add 10.20.0.{}/24 dev eth0", i + 1));
            w(&format!("-n {h} link set eth0 up"));
        }
        let shown = WARREN.ok(&["-n", "sw", "-j", "link", "show"]);
        let links: serde_json::Value = serde_json::from_str(&shown).unwrap();
        let ports = links
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["master"] == "br0")
            .count();
        assert_eq!(ports, 3, "three ports on br0: {shown}");
        reaches("h1", "10.20.0.1", "h2", "10.20.0.2", 7101);
        reaches("h2", "10.20.0.2", "h3", "10.20.0.3", 7102);
        reaches("h3", "10.20.0.3", "h1", "10.20.0.1", 7103);
    }
}

sandbox_test! {
    fn macvlan_in_bridge_mode_on_a_veth_parent() {
        w("ns add --lo-up base ma mb");
        w("-n base link add parent type veth peer name parent-peer");
        w("-n base link set parent up");
        w("-n base link set parent-peer up");
        for (i, m) in ["ma", "mb"].iter().enumerate() {
            w(&format!("-n base link add mv{i} link parent netns {m} type macvlan mode bridge"));
            w(&format!("-n {m} addr add 10.30.0.{}/24 dev mv{i}", i + 1));
            w(&format!("-n {m} link set mv{i} up"));
        }
        let shown = WARREN.ok(&["-n", "ma", "-j", "link", "show", "mv0"]);
        assert!(shown.contains("macvlan"), "{shown}");
        reaches("ma", "10.30.0.1", "mb", "10.30.0.2", 7201);
        reaches("mb", "10.30.0.2", "ma", "10.30.0.1", 7202);
    }
}
