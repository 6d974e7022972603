//! Small labs made in Rust, already resolved (no YAML): for tests and benchmarks that must
//! not depend on the loader. Names follow `docs/lab.md` (namespace `LAB-NODE`, altname
//! `NODE:IF`, switch ports `pN`, bridges chained every [`PORTS_PER_BRIDGE`] ports).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use warren_kernel::addr::IpNet;

use crate::model::{End, Interface, Lab, Link, Node, NodeKind, Route, Switch, SwitchPort};

/// Ports a sample switch puts on one bridge before chaining the next (a bridge takes 1,023,
/// and the chain veth takes one port on each side).
pub const PORTS_PER_BRIDGE: usize = 1000;

fn net(s: &str) -> IpNet {
    s.parse().expect("sample address")
}

/// A node of `kind` with nothing on it.
pub fn node(lab: &str, name: &str, kind: NodeKind) -> Node {
    let mut sysctls = BTreeMap::new();
    if matches!(kind, NodeKind::Router | NodeKind::Nat) {
        sysctls.insert("net.ipv4.ip_forward".to_owned(), "1".to_owned());
    }
    Node {
        name: name.to_owned(),
        kind,
        netns: format!("{lab}-{name}"),
        loopback: Vec::new(),
        interfaces: Vec::new(),
        routes: Vec::new(),
        sysctls,
        env: BTreeMap::new(),
        files: Vec::new(),
        exec: Vec::new(),
        daemons: Vec::new(),
        after: Vec::new(),
        switch: None,
    }
}

/// An interface `name` with `addresses`, end of link `link`.
pub fn iface(node: &str, name: &str, addresses: &[&str], link: usize) -> Interface {
    Interface {
        name: name.to_owned(),
        ifname: name.to_owned(),
        altnames: vec![format!("{node}:{name}")],
        addresses: addresses.iter().map(|a| net(a)).collect(),
        mtu: None,
        mac: None,
        link,
    }
}

/// A default route via `gw`.
pub fn default_via(gw: &str) -> Route {
    Route {
        to: net("0.0.0.0/0"),
        via: Some(gw.parse().expect("sample gateway")),
        dev: None,
    }
}

/// An empty switch node.
pub fn switch(lab: &str, name: &str) -> Node {
    let mut n = node(lab, name, NodeKind::Switch);
    n.switch = Some(Switch {
        bridges: vec!["br0".into()],
        ports: Vec::new(),
    });
    n
}

/// Link node `a` (interface `a_if`, addresses) to switch `sw`: a new port, a new link.
pub fn attach(lab: &mut Lab, a: &str, a_if: &str, addrs: &[&str], sw: &str) -> usize {
    let link = lab.links.len();
    let sw_node = lab.nodes.iter_mut().find(|n| n.name == sw).expect("switch");
    let s = sw_node.switch.as_mut().expect("a switch");
    let port = s.ports.len();
    let bridge = port / PORTS_PER_BRIDGE;
    while s.bridges.len() <= bridge {
        s.bridges.push(format!("br{}", s.bridges.len()));
    }
    s.ports.push(SwitchPort {
        ifname: format!("p{port}"),
        altnames: vec![format!("{a}:{a_if}")],
        bridge,
        link,
    });
    let n = lab.nodes.iter_mut().find(|n| n.name == a).expect("node");
    n.interfaces.push(iface(a, a_if, addrs, link));
    lab.links.push(Link {
        ends: [
            End::Node {
                node: a.to_owned(),
                interface: a_if.to_owned(),
            },
            End::Switch {
                node: sw.to_owned(),
                port,
            },
        ],
        mtu: None,
        shaping: None,
    });
    link
}

/// A direct veth link `a:a_if` -- `b:b_if`.
pub fn connect(lab: &mut Lab, a: (&str, &str, &[&str]), b: (&str, &str, &[&str])) -> usize {
    let link = lab.links.len();
    for (n, i, addrs) in [a, b] {
        let node = lab.nodes.iter_mut().find(|x| x.name == n).expect("node");
        node.interfaces.push(iface(n, i, addrs, link));
    }
    lab.links.push(Link {
        ends: [
            End::Node {
                node: a.0.to_owned(),
                interface: a.1.to_owned(),
            },
            End::Node {
                node: b.0.to_owned(),
                interface: b.1.to_owned(),
            },
        ],
        mtu: None,
        shaping: None,
    });
    link
}

/// The `i`th host address of 10.0.0.0/8 (`i` from 0), as text with `/prefix`.
pub fn host_addr(i: usize, prefix: u8) -> String {
    let n = u32::try_from(i + 2).unwrap_or(u32::MAX);
    let ip = Ipv4Addr::from(0x0a00_0000 | n);
    format!("{ip}/{prefix}")
}

/// `n` hosts `h0..` on switch `sw` (10.0.0.0/8, gateway 10.0.0.1 in the routes), bridges
/// chained past [`PORTS_PER_BRIDGE`] ports.
pub fn hosts_on_switch(name: &str, n: usize) -> Lab {
    let mut lab = Lab {
        name: name.to_owned(),
        nodes: vec![switch(name, "sw")],
        links: Vec::new(),
    };
    for i in 0..n {
        let h = format!("h{i}");
        let mut node = node(name, &h, NodeKind::Host);
        node.routes.push(default_via("10.0.0.1"));
        lab.nodes.push(node);
        let a = host_addr(i, 8);
        attach(&mut lab, &h, "eth0", &[&a], "sw");
    }
    lab
}

/// Router `r` between two LANs: `h1` (10.0.1.2/24) on switch `sw1`, `h2` (10.0.2.2/24)
/// linked directly to `r:eth2`; `r` has 10.0.1.1 and 10.0.2.1 and a loopback 10.254.0.1/32.
pub fn two_lans(name: &str) -> Lab {
    let mut lab = Lab {
        name: name.to_owned(),
        nodes: vec![
            node(name, "r", NodeKind::Router),
            switch(name, "sw1"),
            node(name, "h1", NodeKind::Host),
            node(name, "h2", NodeKind::Host),
        ],
        links: Vec::new(),
    };
    lab.nodes[0].loopback.push(net("10.254.0.1/32"));
    lab.nodes[2].routes.push(default_via("10.0.1.1"));
    lab.nodes[3].routes.push(default_via("10.0.2.1"));
    attach(&mut lab, "r", "eth1", &["10.0.1.1/24"], "sw1");
    attach(&mut lab, "h1", "eth0", &["10.0.1.2/24"], "sw1");
    connect(
        &mut lab,
        ("r", "eth2", &["10.0.2.1/24"]),
        ("h2", "eth0", &["10.0.2.2/24"]),
    );
    lab
}

/// A NAT node `out` with an uplink to the host (host end `ifname`, 100.64.0.1/30; the node
/// 100.64.0.2/30, default route via the host) and a LAN 10.0.9.0/24 with host `h` behind it.
pub fn nat(name: &str, ifname: &str) -> Lab {
    let mut lab = Lab {
        name: name.to_owned(),
        nodes: vec![
            node(name, "out", NodeKind::Nat),
            node(name, "h", NodeKind::Host),
        ],
        links: Vec::new(),
    };
    lab.nodes[1].routes.push(default_via("10.0.9.1"));
    connect(
        &mut lab,
        ("out", "eth1", &["10.0.9.1/24"]),
        ("h", "eth0", &["10.0.9.2/24"]),
    );
    let link = lab.links.len();
    lab.nodes[0]
        .interfaces
        .push(iface("out", "up0", &["100.64.0.2/30"], link));
    lab.nodes[0].routes.push(Route {
        to: net("0.0.0.0/0"),
        via: Some(IpAddr::V4(Ipv4Addr::new(100, 64, 0, 1))),
        dev: None,
    });
    lab.links.push(Link {
        ends: [
            End::Node {
                node: "out".into(),
                interface: "up0".into(),
            },
            End::HostUplink {
                ifname: ifname.to_owned(),
                address: net("100.64.0.1/30"),
            },
        ],
        mtu: None,
        shaping: None,
    });
    lab
}
