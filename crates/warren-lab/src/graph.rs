//! A lab as a topology graph, for `warren lab graph`: one graph node per lab node (by kind),
//! a switch's ports collapsed into the links node → switch, and the host's side of a link
//! (an existing host bridge, a macvlan's parent interface, a NAT node's masqueraded uplink)
//! as nodes of their own outside the lab. Links carry the interface names and addresses at
//! each end, and the link's MTU and shaping.

use warren_graph::{Edge, EdgeKind, Graph, Node as GNode, NodeKind as GKind};

use crate::model::{End, Interface, Lab, Link, Node, NodeKind, Shaping};

/// The graph id of the host's own namespace (uplinks end there). Lab node names cannot
/// contain `:`, so ids with one never collide with them.
const HOST_ID: &str = "host:";

/// The lab `lab` as a graph.
pub fn lab_graph(lab: &Lab) -> Graph {
    let mut g = Graph::new(format!("lab {}", lab.name));
    let owner = format!("lab {}", lab.name);
    for n in &lab.nodes {
        g.nodes.push(GNode {
            id: n.name.clone(),
            label: n.name.clone(),
            kind: match n.kind {
                NodeKind::Host => GKind::Host,
                NodeKind::Router => GKind::Router,
                NodeKind::Switch => GKind::Switch,
                NodeKind::Nat => GKind::Nat,
            },
            owner: Some(owner.clone()),
            details: details(n),
            group: None,
        });
    }
    for link in &lab.links {
        let mut ends = [
            resolve(lab, &link.ends[0], link),
            resolve(lab, &link.ends[1], link),
        ];
        // A switch goes on the far side, so links read node → switch.
        if matches!(link.ends[0], End::Switch { .. }) && !matches!(link.ends[1], End::Switch { .. })
        {
            ends.swap(0, 1);
        }
        for e in &ends {
            if let Some(outside) = &e.outside {
                if !g.nodes.iter().any(|n| n.id == outside.id) {
                    g.nodes.push(outside.clone());
                }
            }
        }
        let kind = link
            .ends
            .iter()
            .map(|e| match e {
                End::Switch { .. } | End::HostBridge { .. } => EdgeKind::BridgePort,
                End::Macvlan { .. } => EdgeKind::Macvlan,
                End::HostUplink { .. } => EdgeKind::Uplink,
                End::Node { .. } => EdgeKind::Veth,
            })
            .find(|k| *k != EdgeKind::Veth)
            .unwrap_or(EdgeKind::Veth);
        let [a, b] = ends;
        g.edges.push(
            Edge::new(a.id, b.id, kind)
                .ends(a.label, b.label)
                .label(link_label(link)),
        );
    }
    g
}

/// One end of a link as the graph shows it.
struct GraphEnd {
    id: String,
    label: String,
    /// A node outside the lab that this end introduces.
    outside: Option<GNode>,
}

fn outside(id: String, label: String, kind: GKind, details: Vec<String>) -> Option<GNode> {
    Some(GNode {
        id,
        label,
        kind,
        owner: Some("host".into()),
        details,
        group: None,
    })
}

fn resolve(lab: &Lab, end: &End, link: &Link) -> GraphEnd {
    match end {
        End::Node { node, interface } => {
            let iface = lab
                .node(node)
                .and_then(|n| n.interfaces.iter().find(|i| &i.name == interface));
            GraphEnd {
                id: node.clone(),
                label: iface.map_or_else(|| interface.clone(), |i| iface_label(i, link)),
                outside: None,
            }
        }
        End::Switch { node, port } => {
            let sw = lab.node(node).and_then(|n| n.switch.as_ref());
            let label = match sw.and_then(|s| s.ports.get(*port).map(|p| (s, p))) {
                Some((s, p)) if s.bridges.len() > 1 => format!(
                    "{}@{}",
                    p.ifname,
                    s.bridges.get(p.bridge).map_or("?", String::as_str)
                ),
                Some((_, p)) => p.ifname.clone(),
                None => format!("port {port}"),
            };
            GraphEnd {
                id: node.clone(),
                label,
                outside: None,
            }
        }
        End::HostBridge { bridge, ifname } => {
            let id = format!("host:bridge:{bridge}");
            GraphEnd {
                outside: outside(
                    id.clone(),
                    format!("host bridge {bridge}"),
                    GKind::Bridge,
                    vec![format!("bridge {bridge} in the host's namespace")],
                ),
                id,
                label: ifname.clone(),
            }
        }
        End::Macvlan { parent, mode } => {
            let id = format!("host:if:{parent}");
            GraphEnd {
                outside: outside(
                    id.clone(),
                    format!("host {parent}"),
                    GKind::External,
                    vec![format!("interface {parent} in the host's namespace")],
                ),
                id,
                label: format!("macvlan {mode}"),
            }
        }
        End::HostUplink { ifname, address } => GraphEnd {
            outside: outside(
                HOST_ID.into(),
                "host".into(),
                GKind::External,
                vec!["the host's namespace: masquerades the NAT nodes' uplinks".into()],
            ),
            id: HOST_ID.into(),
            label: format!("{ifname} {address}"),
        },
    }
}

fn iface_label(i: &Interface, link: &Link) -> String {
    let mut s = i.name.clone();
    if i.ifname != i.name {
        s.push_str(&format!(" ({})", i.ifname));
    }
    for a in &i.addresses {
        s.push(' ');
        s.push_str(&a.to_string());
    }
    if let Some(m) = i.mtu.filter(|m| Some(*m) != link.mtu) {
        s.push_str(&format!(" mtu {m}"));
    }
    s
}

fn link_label(link: &Link) -> String {
    let mut parts = Vec::new();
    if let Some(m) = link.mtu {
        parts.push(format!("mtu {m}"));
    }
    if let Some(Shaping {
        rate_bps,
        delay_us,
        loss_percent,
    }) = &link.shaping
    {
        if let Some(r) = rate_bps {
            parts.push(rate(*r));
        }
        if let Some(d) = delay_us {
            parts.push(if d % 1000 == 0 {
                format!("delay {} ms", d / 1000)
            } else {
                format!("delay {d} µs")
            });
        }
        if let Some(l) = loss_percent {
            parts.push(format!("loss {l}%"));
        }
    }
    parts.join(", ")
}

/// A rate in bits per second as people write it (`100 Mbit/s`, `1.5 Gbit/s`).
fn rate(bps: u64) -> String {
    for (unit, name) in [
        (1_000_000_000, "Gbit/s"),
        (1_000_000, "Mbit/s"),
        (1_000, "kbit/s"),
    ] {
        if bps >= unit {
            return if bps % unit == 0 {
                format!("{} {name}", bps / unit)
            } else {
                format!("{:.1} {name}", bps as f64 / unit as f64)
            };
        }
    }
    format!("{bps} bit/s")
}

fn details(n: &Node) -> Vec<String> {
    let mut d = vec![format!("netns {}", n.netns)];
    for a in &n.loopback {
        d.push(format!("lo {a}"));
    }
    for i in &n.interfaces {
        let mut s = i.name.clone();
        if i.ifname != i.name {
            s.push_str(&format!(" ({})", i.ifname));
        }
        for a in &i.addresses {
            s.push(' ');
            s.push_str(&a.to_string());
        }
        d.push(s);
    }
    if let Some(sw) = &n.switch {
        d.push(format!(
            "bridge{} {} ({} ports)",
            if sw.bridges.len() > 1 { "s" } else { "" },
            sw.bridges.join(", "),
            sw.ports.len()
        ));
    }
    for r in &n.routes {
        let mut s = if r.to.is_default() {
            "default".to_owned()
        } else {
            r.to.to_string()
        };
        if let Some(v) = r.via {
            s.push_str(&format!(" via {v}"));
        }
        if let Some(dev) = &r.dev {
            s.push_str(&format!(" dev {dev}"));
        }
        d.push(s);
    }
    d
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::model::{Route, Switch, SwitchPort};

    fn node(name: &str, kind: NodeKind) -> Node {
        crate::sample::node("demo", name, kind)
    }

    fn iface(name: &str, addr: &str, link: usize) -> Interface {
        Interface {
            name: name.into(),
            ifname: name.into(),
            altnames: Vec::new(),
            addresses: vec![addr.parse().unwrap()],
            mtu: None,
            mac: None,
            link,
        }
    }

    fn at(node: &str, interface: &str) -> End {
        End::Node {
            node: node.into(),
            interface: interface.into(),
        }
    }

    fn link(a: End, b: End) -> Link {
        Link {
            ends: [a, b],
            mtu: None,
            shaping: None,
        }
    }

    /// r1 and h1 on sw1; r1 — nat point to point (mtu 9000, 100 Mbit/s); nat's uplink;
    /// h1 on the host's br0 and on a macvlan of the host's eth0.
    pub(crate) fn demo() -> Lab {
        let mut r1 = node("r1", NodeKind::Router);
        r1.loopback = vec!["10.254.0.1/32".parse().unwrap()];
        r1.interfaces = vec![
            iface("eth1", "10.0.0.1/24", 0),
            iface("eth2", "10.255.0.0/31", 2),
        ];
        let mut sw1 = node("sw1", NodeKind::Switch);
        sw1.switch = Some(Switch {
            bridges: vec!["br0".into()],
            ports: vec![
                SwitchPort {
                    ifname: "p0".into(),
                    altnames: vec!["r1:eth1".into()],
                    bridge: 0,
                    link: 0,
                },
                SwitchPort {
                    ifname: "p1".into(),
                    altnames: vec!["h1:eth0".into()],
                    bridge: 0,
                    link: 1,
                },
            ],
        });
        let mut h1 = node("h1", NodeKind::Host);
        let mut long = iface("a-very-long-interface", "10.9.0.2/24", 4);
        long.ifname = "h1-3f2a9c".into();
        h1.interfaces = vec![
            iface("eth0", "10.0.0.2/24", 1),
            long,
            iface("eth2", "192.168.1.50/24", 5),
        ];
        h1.routes = vec![Route {
            to: "0.0.0.0/0".parse().unwrap(),
            via: Some("10.0.0.1".parse().unwrap()),
            dev: None,
        }];
        let mut nat = node("nat", NodeKind::Nat);
        nat.interfaces = vec![
            iface("eth1", "10.255.0.1/31", 2),
            iface("up0", "100.64.0.2/30", 3),
        ];
        let mut p2p = link(at("r1", "eth2"), at("nat", "eth1"));
        p2p.mtu = Some(9000);
        p2p.shaping = Some(Shaping {
            rate_bps: Some(100_000_000),
            delay_us: Some(5000),
            loss_percent: Some(0.1),
        });
        Lab {
            name: "demo".into(),
            nodes: vec![r1, sw1, h1, nat],
            links: vec![
                link(
                    at("r1", "eth1"),
                    End::Switch {
                        node: "sw1".into(),
                        port: 0,
                    },
                ),
                link(
                    End::Switch {
                        node: "sw1".into(),
                        port: 1,
                    },
                    at("h1", "eth0"),
                ),
                p2p,
                link(
                    at("nat", "up0"),
                    End::HostUplink {
                        ifname: "wl-demo-nat".into(),
                        address: "100.64.0.1/30".parse().unwrap(),
                    },
                ),
                link(
                    at("h1", "a-very-long-interface"),
                    End::HostBridge {
                        bridge: "br0".into(),
                        ifname: "wb-demo-h1".into(),
                    },
                ),
                link(
                    at("h1", "eth2"),
                    End::Macvlan {
                        parent: "eth0".into(),
                        mode: "bridge".into(),
                    },
                ),
            ],
        }
    }

    #[test]
    fn nodes_by_kind_and_the_host_side_as_outside_nodes() {
        let g = lab_graph(&demo());
        g.check().unwrap();
        assert_eq!(g.title, "lab demo");
        let nodes: Vec<(&str, &str, GKind, Option<&str>)> = g
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.label.as_str(), n.kind, n.owner.as_deref()))
            .collect();
        assert_eq!(
            nodes,
            [
                ("r1", "r1", GKind::Router, Some("lab demo")),
                ("sw1", "sw1", GKind::Switch, Some("lab demo")),
                ("h1", "h1", GKind::Host, Some("lab demo")),
                ("nat", "nat", GKind::Nat, Some("lab demo")),
                ("host:", "host", GKind::External, Some("host")),
                (
                    "host:bridge:br0",
                    "host bridge br0",
                    GKind::Bridge,
                    Some("host")
                ),
                ("host:if:eth0", "host eth0", GKind::External, Some("host")),
            ]
        );
        let h1 = &g.nodes[2];
        assert_eq!(
            h1.details,
            [
                "netns demo-h1",
                "eth0 10.0.0.2/24",
                "a-very-long-interface (h1-3f2a9c) 10.9.0.2/24",
                "eth2 192.168.1.50/24",
                "default via 10.0.0.1",
            ]
        );
        assert!(g.nodes[0].details.contains(&"lo 10.254.0.1/32".to_owned()));
        assert!(
            g.nodes[1]
                .details
                .contains(&"bridge br0 (2 ports)".to_owned())
        );
    }

    #[test]
    fn links_read_node_to_switch_with_interfaces_addresses_mtu_and_shaping() {
        let g = lab_graph(&demo());
        let edges: Vec<(&str, &str, &str, &str, &str, EdgeKind)> = g
            .edges
            .iter()
            .map(|e| {
                (
                    e.a.as_str(),
                    e.b.as_str(),
                    e.a_label.as_str(),
                    e.b_label.as_str(),
                    e.label.as_str(),
                    e.kind,
                )
            })
            .collect();
        assert_eq!(
            edges,
            [
                (
                    "r1",
                    "sw1",
                    "eth1 10.0.0.1/24",
                    "p0",
                    "",
                    EdgeKind::BridgePort
                ),
                (
                    "h1",
                    "sw1",
                    "eth0 10.0.0.2/24",
                    "p1",
                    "",
                    EdgeKind::BridgePort
                ),
                (
                    "r1",
                    "nat",
                    "eth2 10.255.0.0/31",
                    "eth1 10.255.0.1/31",
                    "mtu 9000, 100 Mbit/s, delay 5 ms, loss 0.1%",
                    EdgeKind::Veth
                ),
                (
                    "nat",
                    "host:",
                    "up0 100.64.0.2/30",
                    "wl-demo-nat 100.64.0.1/30",
                    "",
                    EdgeKind::Uplink
                ),
                (
                    "h1",
                    "host:bridge:br0",
                    "a-very-long-interface (h1-3f2a9c) 10.9.0.2/24",
                    "wb-demo-h1",
                    "",
                    EdgeKind::BridgePort
                ),
                (
                    "h1",
                    "host:if:eth0",
                    "eth2 192.168.1.50/24",
                    "macvlan bridge",
                    "",
                    EdgeKind::Macvlan
                ),
            ]
        );
    }

    #[test]
    fn a_chained_switch_names_the_bridge_of_each_port_and_outside_nodes_appear_once() {
        let mut lab = demo();
        let sw = lab.nodes[1].switch.as_mut().unwrap();
        sw.bridges.push("br1".into());
        sw.ports[1].bridge = 1;
        lab.links.push(link(
            at("r1", "eth3"),
            End::HostBridge {
                bridge: "br0".into(),
                ifname: "wb-demo-r1".into(),
            },
        ));
        let g = lab_graph(&lab);
        g.check().unwrap();
        assert_eq!(g.edges[0].b_label, "p0@br0");
        assert_eq!(g.edges[1].b_label, "p1@br1");
        assert_eq!(
            g.nodes.iter().filter(|n| n.id == "host:bridge:br0").count(),
            1
        );
        // An interface the model does not list still shows by its name.
        assert_eq!(g.edges[6].a_label, "eth3");
    }

    #[test]
    fn rates_read_as_people_write_them() {
        for (bps, want) in [
            (100_000_000, "100 Mbit/s"),
            (1_500_000_000, "1.5 Gbit/s"),
            (64_000, "64 kbit/s"),
            (999, "999 bit/s"),
            (10_000_000_000, "10 Gbit/s"),
        ] {
            assert_eq!(rate(bps), want);
        }
    }
}
