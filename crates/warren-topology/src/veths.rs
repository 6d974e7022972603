//! The veth and macvlan map (`warren veths`): one row per veth, macvlan or macvtap in every
//! namespace, with its peer (or parent), the namespaces and owners of both, and both bridges.
//! Pure: built from a [`Topology`].

use serde::Serialize;

use crate::model::{Owner, Relation, Topology};

/// One row of the map. Every key is always present in JSON (`null` when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VethRow {
    /// The namespace's label (`red`, `host`, `net:[INO]`).
    pub netns: String,
    /// The namespace's inode.
    pub netns_ino: u64,
    /// Its owner.
    pub owner: Option<Owner>,
    /// The interface.
    pub ifname: String,
    /// Its index.
    pub ifindex: u32,
    /// `veth`, `macvlan` or `macvtap`.
    pub kind: String,
    /// Administratively up.
    pub up: bool,
    /// The bridge it is a port of.
    pub bridge: Option<String>,
    /// `peer` (a veth's other end) or `parent` (a macvlan's lower device).
    pub relation: Relation,
    /// The peer's (parent's) name; `null` when its namespace is unknown or unreadable.
    pub peer_ifname: Option<String>,
    /// Its index in its own namespace, as the kernel gave it.
    pub peer_ifindex: Option<u32>,
    /// The peer's namespace label; `null` when the kernel named one the scan did not find.
    pub peer_netns: Option<String>,
    /// The peer's namespace inode.
    pub peer_netns_ino: Option<u64>,
    /// The peer namespace's owner.
    pub peer_owner: Option<Owner>,
    /// The bridge the peer is a port of.
    pub peer_bridge: Option<String>,
}

/// The map, in the topology's namespace order and each namespace's interface order.
pub fn rows(topo: &Topology) -> Vec<VethRow> {
    let mut out = Vec::new();
    for ns in &topo.namespaces {
        for l in ns.interfaces.iter().filter(|l| l.is_pairable()) {
            let relation = l.relation().unwrap_or(Relation::Peer);
            let peer = l.peer.as_ref();
            let peer_ns = peer.and_then(|p| p.ns).and_then(|i| topo.namespaces.get(i));
            let peer_if = peer.and_then(|p| topo.iface(p));
            out.push(VethRow {
                netns: ns.label.clone(),
                netns_ino: ns.ino,
                owner: ns.owner.clone(),
                ifname: l.name.clone(),
                ifindex: l.index,
                kind: l.kind.clone().unwrap_or_default(),
                up: l.up,
                bridge: l.master.clone(),
                relation,
                peer_ifname: peer.and_then(|p| p.name.clone()),
                peer_ifindex: peer.map(|p| p.index),
                peer_netns: peer_ns.map(|n| n.label.clone()),
                peer_netns_ino: peer_ns.map(|n| n.ino),
                peer_owner: peer_ns.and_then(|n| n.owner.clone()),
                peer_bridge: peer_if.and_then(|i| i.master.clone()),
            });
        }
    }
    out
}

/// The map as a table: one line per row, columns aligned.
pub fn table(topo: &Topology) -> String {
    let mut lines = vec![[
        "NETNS".to_owned(),
        "IFACE".to_owned(),
        "KIND".to_owned(),
        "BRIDGE".to_owned(),
        "PEER".to_owned(),
        "PEER NETNS".to_owned(),
        "PEER BRIDGE".to_owned(),
    ]];
    for r in rows(topo) {
        let ns_of = |label: &str, owner: &Option<Owner>| match owner {
            Some(o) if o.name != label => format!("{label} ({o})"),
            _ => label.to_owned(),
        };
        let peer = match (&r.peer_ifname, r.peer_ifindex) {
            (Some(n), _) => n.clone(),
            (None, Some(i)) => format!("if{i}"),
            (None, None) => "-".to_owned(),
        };
        let peer = if r.relation == Relation::Parent {
            format!("parent {peer}")
        } else {
            peer
        };
        lines.push([
            ns_of(&r.netns, &r.owner),
            r.ifname.clone(),
            r.kind.clone(),
            r.bridge.clone().unwrap_or_else(|| "-".into()),
            peer,
            r.peer_netns
                .as_deref()
                .map_or_else(|| "?".to_owned(), |n| ns_of(n, &r.peer_owner)),
            r.peer_bridge.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let mut widths = [0usize; 7];
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for l in &lines {
        let mut line = String::new();
        for (i, (c, w)) in l.iter().zip(widths).enumerate() {
            if i + 1 == l.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_iface as iface;
    use crate::model::{Namespace, PeerRef};

    fn topo() -> Topology {
        let p = |ns, index, name: &str| {
            Some(PeerRef {
                relation: Relation::Peer,
                ns,
                index,
                name: Some(name.into()),
            })
        };
        Topology {
            namespaces: vec![
                Namespace {
                    ino: 1,
                    label: "host".into(),
                    names: vec![],
                    current: true,
                    nsid: None,
                    pid: Some(1),
                    owner: None,
                    interfaces: vec![
                        iface(3, "docker0", "bridge", None, None),
                        iface(
                            4,
                            "veth1234567",
                            "veth",
                            Some("docker0"),
                            p(Some(1), 2, "eth0"),
                        ),
                    ],
                    readable: true,
                },
                Namespace {
                    ino: 2,
                    label: "net:[2]".into(),
                    names: vec![],
                    current: false,
                    nsid: Some(0),
                    pid: Some(99),
                    owner: Some(Owner {
                        kind: "docker".into(),
                        name: "0123456789ab".into(),
                        id: None,
                    }),
                    interfaces: vec![
                        iface(2, "eth0", "veth", None, p(Some(0), 4, "veth1234567")),
                        iface(
                            5,
                            "lost",
                            "veth",
                            None,
                            Some(PeerRef {
                                relation: Relation::Peer,
                                ns: None,
                                index: 9,
                                name: None,
                            }),
                        ),
                    ],
                    readable: true,
                },
            ],
        }
    }

    #[test]
    fn rows_carry_both_sides() {
        let r = rows(&topo());
        assert_eq!(r.len(), 3, "the bridge is not listed");
        assert_eq!(r[0].ifname, "veth1234567");
        assert_eq!(r[0].bridge.as_deref(), Some("docker0"));
        assert_eq!(r[0].peer_netns.as_deref(), Some("net:[2]"));
        assert_eq!(
            r[0].peer_owner.as_ref().map(|o| o.kind.as_str()),
            Some("docker")
        );
        assert_eq!(r[1].peer_bridge.as_deref(), Some("docker0"));
        assert_eq!(r[1].peer_netns_ino, Some(1));
        assert_eq!(
            (r[2].peer_netns.as_deref(), r[2].peer_ifindex),
            (None, Some(9))
        );
    }

    #[test]
    fn json_keys_are_stable() {
        let v = serde_json::to_value(rows(&topo())).unwrap();
        let keys: Vec<&str> = v[2]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want = vec![
            "netns",
            "netns_ino",
            "owner",
            "ifname",
            "ifindex",
            "kind",
            "up",
            "bridge",
            "relation",
            "peer_ifname",
            "peer_ifindex",
            "peer_netns",
            "peer_netns_ino",
            "peer_owner",
            "peer_bridge",
        ];
        want.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, want);
        assert!(v[2]["peer_netns"].is_null());
    }

    #[test]
    fn table_names_owners_and_unknown_peers() {
        let t = table(&topo());
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("NETNS"));
        assert!(
            lines[1].contains("veth1234567") && lines[1].contains("net:[2] (docker 0123456789ab)")
        );
        assert!(
            lines[3].contains("if9") && lines[3].contains('?'),
            "{}",
            lines[3]
        );
    }
}
