//! The host's topology as a [`warren_graph::Graph`] (`warren graph --host`): one node per
//! namespace (the host, containers and pods by their owners, the rest as namespaces), one per
//! bridge, one edge per veth pair (from bridge to bridge when its ends are ports) and per
//! macvlan (to its parent's end). Pure.

use std::collections::HashSet;

use warren_graph::{Edge, EdgeKind, Graph, Node, NodeKind};

use crate::model::{Iface, Namespace, Relation, Topology};

fn ns_id(ns: &Namespace) -> String {
    format!("ns:{}", ns.ino)
}

fn bridge_id(ns: &Namespace, index: u32) -> String {
    format!("br:{}:{index}", ns.ino)
}

fn kind_of(ns: &Namespace) -> NodeKind {
    if ns.current {
        return NodeKind::Host;
    }
    match ns.owner.as_ref().map(|o| o.kind.as_str()) {
        Some("warren-pod" | "kubernetes") => NodeKind::Pod,
        Some("process") | None => NodeKind::Namespace,
        Some(_) => NodeKind::Container,
    }
}

/// The node an interface's end attaches to: its bridge when it is a port, else its namespace.
fn end_of(ns: &Namespace, l: &Iface) -> String {
    l.master
        .as_ref()
        .and_then(|m| {
            ns.interfaces
                .iter()
                .find(|b| &b.name == m && b.kind.as_deref() == Some("bridge"))
        })
        .map_or_else(|| ns_id(ns), |b| bridge_id(ns, b.index))
}

/// The graph of `topo`.
pub fn host_graph(topo: &Topology) -> Graph {
    let mut g = Graph::new("host");
    for ns in &topo.namespaces {
        let bridges: Vec<&Iface> = ns
            .interfaces
            .iter()
            .filter(|l| l.kind.as_deref() == Some("bridge"))
            .collect();
        let group = (!bridges.is_empty()).then(|| ns.label.clone());
        let mut details = vec![format!("net:[{}]", ns.ino)];
        if let Some(id) = ns.nsid {
            details.push(format!("nsid {id}"));
        }
        if let Some(pid) = ns.pid {
            details.push(format!("pid {pid}"));
        }
        if ns.readable {
            let names: Vec<&str> = ns.interfaces.iter().map(|l| l.name.as_str()).collect();
            details.push(format!("interfaces: {}", names.join(" ")));
        } else {
            details.push("not readable".to_owned());
        }
        g.nodes.push(Node {
            id: ns_id(ns),
            label: ns.label.clone(),
            kind: kind_of(ns),
            owner: ns.owner.as_ref().map(ToString::to_string),
            details,
            group: group.clone(),
        });
        for b in bridges {
            let ports: Vec<&str> = ns
                .interfaces
                .iter()
                .filter(|l| l.master.as_deref() == Some(b.name.as_str()))
                .map(|l| l.name.as_str())
                .collect();
            g.nodes.push(Node {
                id: bridge_id(ns, b.index),
                label: b.name.clone(),
                kind: NodeKind::Bridge,
                owner: None,
                details: vec![
                    format!("bridge in {}", ns.label),
                    format!("ports: {}", ports.join(" ")),
                ],
                group: group.clone(),
            });
        }
    }
    let mut done: HashSet<(u64, u32)> = HashSet::new();
    for ns in &topo.namespaces {
        for l in &ns.interfaces {
            let Some(p) = &l.peer else { continue };
            let Some(peer_ns) = p.ns.and_then(|i| topo.namespaces.get(i)) else {
                continue;
            };
            let a = end_of(ns, l);
            let peer_if = topo.iface(p);
            let b = peer_if.map_or_else(|| ns_id(peer_ns), |pi| end_of(peer_ns, pi));
            let b_label = p.name.clone().unwrap_or_else(|| format!("if{}", p.index));
            match p.relation {
                Relation::Peer => {
                    if done.contains(&(peer_ns.ino, p.index)) {
                        continue;
                    }
                    done.insert((ns.ino, l.index));
                    g.edges
                        .push(Edge::new(a, b, EdgeKind::Veth).ends(l.name.clone(), b_label));
                }
                Relation::Parent if a != b => {
                    g.edges
                        .push(Edge::new(a, b, EdgeKind::Macvlan).ends(l.name.clone(), b_label));
                }
                Relation::Parent => {}
            }
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_iface as iface;
    use crate::model::{Owner, PeerRef};

    fn peer(relation: Relation, ns: usize, index: u32, name: &str) -> Option<PeerRef> {
        Some(PeerRef {
            relation,
            ns: Some(ns),
            index,
            name: Some(name.into()),
        })
    }

    #[test]
    fn veths_become_one_edge_from_bridge_to_namespace() {
        let ns = |ino, label: &str, current, owner: Option<&str>, ifs| Namespace {
            ino,
            label: label.into(),
            names: vec![],
            current,
            nsid: None,
            pid: None,
            owner: owner.map(|k| Owner {
                kind: k.into(),
                name: "web".into(),
                id: None,
            }),
            interfaces: ifs,
            readable: true,
        };
        let topo = Topology {
            namespaces: vec![
                ns(
                    1,
                    "host",
                    true,
                    None,
                    vec![
                        iface(3, "docker0", "bridge", None, None),
                        iface(
                            4,
                            "vethabc",
                            "veth",
                            Some("docker0"),
                            peer(Relation::Peer, 1, 2, "eth0"),
                        ),
                        iface(5, "up0", "veth", None, None),
                    ],
                ),
                ns(
                    2,
                    "net:[2]",
                    false,
                    Some("docker"),
                    vec![
                        iface(
                            2,
                            "eth0",
                            "veth",
                            None,
                            peer(Relation::Peer, 0, 4, "vethabc"),
                        ),
                        iface(
                            3,
                            "mv0",
                            "macvlan",
                            None,
                            peer(Relation::Parent, 0, 5, "up0"),
                        ),
                    ],
                ),
            ],
        };
        let g = host_graph(&topo);
        assert!(g.check().is_ok());
        let kinds: Vec<(&str, NodeKind)> =
            g.nodes.iter().map(|n| (n.id.as_str(), n.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("ns:1", NodeKind::Host),
                ("br:1:3", NodeKind::Bridge),
                ("ns:2", NodeKind::Container)
            ]
        );
        assert_eq!(g.edges.len(), 2, "{:?}", g.edges);
        let e = &g.edges[0];
        assert_eq!(
            (e.a.as_str(), e.b.as_str(), e.kind),
            ("br:1:3", "ns:2", EdgeKind::Veth)
        );
        assert_eq!(
            (e.a_label.as_str(), e.b_label.as_str()),
            ("vethabc", "eth0")
        );
        let m = &g.edges[1];
        assert_eq!(
            (m.a.as_str(), m.b.as_str(), m.kind),
            ("ns:2", "ns:1", EdgeKind::Macvlan)
        );
        assert_eq!(g.nodes[2].owner.as_deref(), Some("docker web"));
    }
}
