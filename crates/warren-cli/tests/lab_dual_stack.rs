//! The dual-stack example lab (`examples/labs/dual-stack.yaml`): addresses of both families
//! from the pools, default routes of both families, TCP over IPv6 and IPv4 across the router.
//!
//! This test has a binary of its own so that it never runs next to the 1,000-host lab of
//! `lab_examples.rs`. That lab's hosts send router solicitations, and its router keeps a
//! neighbour entry for each. The kernel's IPv6 neighbour table is one for the whole machine
//! (`net.ipv6.neigh.default.gc_thresh3`, 1,024 entries by default), so while that lab is up,
//! neighbour discovery in any other namespace can fail for a few seconds (measured: a ping to
//! a neighbour on the same link in another sandbox failed while the big lab's router held
//! about 400-500 entries, and passed without it). Test binaries run one after another.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use warren_kernel::NetNs;
use warren_lab::model::Lab;
use warren_testkit::net::tcp_exchange;
use warren_testkit::{cli::Cli, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

fn up(file: &str) -> Lab {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/labs")
        .join(file);
    WARREN.ok(&["lab", "up", path.to_str().unwrap()]);
    warren_lab::load_file(&path).expect("example loads").lab
}

fn ns(lab: &Lab, node: &str) -> NetNs {
    NetNs::open_named(&lab.node(node).expect("node").netns).expect("open node namespace")
}

/// The first address of `node` of the family `v6` says, not an IPv6 link-local (interfaces
/// first, then `lo`).
fn first_addr(lab: &Lab, node: &str, v6: bool) -> IpAddr {
    let n = lab.node(node).expect("node");
    n.interfaces
        .iter()
        .flat_map(|i| &i.addresses)
        .chain(&n.loopback)
        .map(|a| a.addr)
        .find(|a| a.is_ipv6() == v6 && !(v6 && warren_kernel::link::is_link_local(a)))
        .unwrap_or_else(|| panic!("{node} has no such address"))
}

/// TCP from `from` to `to`'s address `dst`; the server sees the client's real address.
fn tcp(lab: &Lab, from: &str, to: &str, dst: IpAddr, port: u16) -> SocketAddr {
    tcp_exchange(&ns(lab, from), &ns(lab, to), SocketAddr::new(dst, port))
        .unwrap_or_else(|e| panic!("tcp {from} -> {to} ({dst}): {e}"))
}

sandbox_test! {
    fn dual_stack_router_routes_tcp_over_both_families() {
        let lab = up("dual-stack.yaml");
        let r1 = lab.node("r1").expect("r1");
        // From the pools: a /64 per LAN, the router first; a /128 loopback.
        let eth1: Vec<String> = r1.interfaces[0].addresses.iter().map(ToString::to_string).collect();
        assert_eq!(eth1, ["10.0.0.1/24", "fd00:10::1/64"]);
        assert_eq!(r1.loopback.iter().map(ToString::to_string).collect::<Vec<_>>(), ["10.254.0.1/32", "fd00:fe::1/128"]);
        // The kernel's routes in h3 (ip as the oracle): a default of each family via r1.
        let routes = WARREN.ok(&["lab", "exec", "h3", "--", "ip", "-j", "-6", "route", "show", "default"]);
        let routes: serde_json::Value = serde_json::from_str(&routes).unwrap();
        assert_eq!(routes[0]["gateway"], "fd00:10:0:1::1", "{routes}");
        // Across the router over IPv6 and IPv4, sources kept; and to the router's loopback.
        for (from, to, port) in [("h1", "h3", 7101), ("h4", "h2", 7102)] {
            let seen = tcp(&lab, from, to, first_addr(&lab, to, true), port);
            assert_eq!(seen.ip(), first_addr(&lab, from, true));
            let seen = tcp(&lab, from, to, first_addr(&lab, to, false), port + 10);
            assert_eq!(seen.ip(), first_addr(&lab, from, false));
        }
        tcp(&lab, "h3", "r1", "fd00:fe::1".parse().unwrap(), 7103);
        // Every node is in /etc/hosts by its IPv6 addresses too.
        let hosts = WARREN.ok(&["lab", "exec", "h1", "--", "cat", "/etc/hosts"]);
        assert!(hosts.contains("\n10.0.1.2\th3 h3-eth0\n"), "{hosts}");
        assert!(hosts.contains("\nfd00:10:0:1::2\th3 h3-eth0\n"), "{hosts}");
        assert!(hosts.contains("\nfd00:fe::1\tr1\n"), "{hosts}");
        assert!(hosts.contains("\nfd00:10::1\tr1-eth1\n"), "{hosts}");
        WARREN.ok(&["lab", "down", &lab.name]);
        let left = std::fs::read_dir("/run/netns").map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "namespaces left after down");
    }
}
