//! The classic router example wired with `warren` commands only (ns, link, addr, route, sysctl,
//! as examples/router.sh does), checked with sockets opened inside the namespaces; and
//! `warren sysctl` per namespace.
//!
//! ```text
//! lan-a eth0 10.0.1.2 -- to-a | router 10.0.1.1 / 10.0.2.1 | to-b -- eth0 10.0.2.2 lan-b
//! ```

use std::net::{IpAddr, SocketAddr};

use warren_kernel::NetNs;
use warren_testkit::net::{ping, tcp_exchange, udp_exchange};
use warren_testkit::{cli::Cli, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

fn ok(args: &[&str]) -> String {
    WARREN.ok(args)
}

fn fails(args: &[&str]) -> (i32, String) {
    WARREN.fails(args)
}

fn veth(ns: &str, name: &str, peer: &str, peer_ns: &str) {
    ok(&[
        "-n", ns, "link", "add", name, "type", "veth", "peer", "name", peer, "netns", peer_ns,
    ]);
    ok(&["-n", ns, "link", "set", name, "up"]);
    ok(&["-n", peer_ns, "link", "set", peer, "up"]);
}

fn ipa(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn wire() {
    ok(&["ns", "add", "--lo-up", "lan-a", "router", "lan-b"]);
    veth("router", "to-a", "eth0", "lan-a");
    veth("router", "to-b", "eth0", "lan-b");
    ok(&["-n", "router", "addr", "add", "10.0.1.1/24", "dev", "to-a"]);
    ok(&["-n", "router", "addr", "add", "10.0.2.1/24", "dev", "to-b"]);
    ok(&["-n", "router", "sysctl", "net.ipv4.ip_forward=1"]);
    for (ns, net) in [("lan-a", "10.0.1"), ("lan-b", "10.0.2")] {
        ok(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{net}.2/24"),
            "dev",
            "eth0",
        ]);
        ok(&[
            "-n",
            ns,
            "route",
            "add",
            "default",
            "via",
            &format!("{net}.1"),
        ]);
    }
}

sandbox_test! {
    fn router_example_with_warren_commands() {
        wire();
        let a = NetNs::open_named("lan-a").unwrap();
        let b = NetNs::open_named("lan-b").unwrap();
        assert_eq!(ok(&["-n", "lan-a", "route", "get", "10.0.2.2"]), "10.0.2.2 via 10.0.1.1 dev eth0 src 10.0.1.2\n");

        ping(&a, ipa("10.0.2.2")).unwrap();
        let peer = tcp_exchange(&a, &b, SocketAddr::new(ipa("10.0.2.2"), 7000)).unwrap();
        assert_eq!(peer.ip(), ipa("10.0.1.2"), "the server sees the client's own address");
        let peer = udp_exchange(&b, &a, SocketAddr::new(ipa("10.0.1.2"), 7001)).unwrap();
        assert_eq!(peer.ip(), ipa("10.0.2.2"));

        // The router's own lookup for a packet arriving from lan-a.
        let fwd = ok(&["-n", "router", "route", "get", "10.0.2.2", "from", "10.0.1.2", "iif", "to-a"]);
        assert!(fwd.starts_with("10.0.2.2 dev to-b"), "{fwd}");

        ok(&["-n", "router", "sysctl", "net.ipv4.ip_forward=0"]);
        assert!(tcp_exchange(&a, &b, SocketAddr::new(ipa("10.0.2.2"), 7002)).is_err(), "forwarding off");
        let (code, err) = fails(&["-n", "router", "route", "get", "10.0.2.2", "from", "10.0.1.2", "iif", "to-a"]);
        assert_eq!(code, 2);
        assert!(err.starts_with("warren: look up route to 10.0.2.2 from 10.0.1.2 iif #"), "{err}");
        assert!(err.ends_with("(netns router): No route to host\n"), "{err}");
        ok(&["-n", "router", "sysctl", "net.ipv4.ip_forward=1"]);
        tcp_exchange(&a, &b, SocketAddr::new(ipa("10.0.2.2"), 7003)).unwrap();
    }
}

sandbox_test! {
    fn sysctl_reads_and_writes_per_namespace() {
        ok(&["ns", "add", "red", "blue"]);
        assert_eq!(ok(&["-n", "red", "sysctl", "net.ipv4.ip_forward"]), "0\n");
        assert_eq!(ok(&["-n", "red", "sysctl", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]), "");
        assert_eq!(ok(&["-n", "red", "sysctl", "net.ipv4.ip_forward"]), "1\n");
        assert_eq!(ok(&["-n", "blue", "sysctl", "net/ipv4/ip_forward"]), "0\n", "blue is its own");
        assert_eq!(
            ok(&["-n", "red", "sysctl", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]),
            "net.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 1\n"
        );
        let v: serde_json::Value = serde_json::from_str(&ok(&["-n", "red", "-j", "sysctl", "net.ipv4.ip_forward"])).unwrap();
        assert_eq!(v, serde_json::json!({"net.ipv4.ip_forward": "1"}));
        let red = NetNs::open_named("red").unwrap();
        assert_eq!(warren_kernel::sysctl::get(&red, "net.ipv4.ip_forward").unwrap(), "1");

        let (code, err) = fails(&["-n", "red", "sysctl", "kernel.hostname=x"]);
        assert_eq!(code, 1);
        assert!(err.starts_with("warren: sysctl: invalid sysctl key \"kernel.hostname\""), "{err}");
        let (code, err) = fails(&["-n", "red", "sysctl", "net.ipv4.no_such_key"]);
        assert_eq!(code, 1);
        assert!(err.contains("/proc/sys/net/ipv4/no_such_key") && err.contains("No such file"), "{err}");

        // All or nothing: a bad value after a good one puts the first back.
        let (_, err) = fails(&["-n", "red", "sysctl", "net.ipv4.ip_forward=0", "net.ipv4.conf.all.rp_filter=banana"]);
        assert!(err.contains("rp_filter"), "{err}");
        assert_eq!(ok(&["-n", "red", "sysctl", "net.ipv4.ip_forward"]), "1\n", "rolled back");
    }
}
