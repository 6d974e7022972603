//! Resolving `IFLA_LINK_NETNSID` into namespaces, as pure logic over what the scan read.
//!
//! An nsid means something only in the namespace that assigned it. What binds one is always an
//! answer of the kernel: the current namespace's nsid for each namespace (`RTM_GETNSID` with
//! its descriptor, read by the scan), each namespace's nsid for the current one, and, for the
//! rest, a check inside the namespace against one candidate after another. Candidates are
//! only an order to ask in (a veth whose `IFLA_LINK` points back first); nothing is bound by
//! matching names or indexes alone.

use std::collections::{BTreeSet, HashMap};

use crate::model::{PeerRef, Topology};

/// `(namespace index, nsid as seen there)` → the namespace index it means.
pub type Bindings = HashMap<(usize, i32), usize>;

/// The bindings the scan's own answers give: the current namespace's ids of every namespace,
/// and every namespace's id of the current one (`host_id_here[i]`).
pub fn initial(topo: &Topology, host_id_here: &[Option<i32>]) -> Bindings {
    let mut b = Bindings::new();
    let Some(cur) = topo.namespaces.iter().position(|n| n.current) else {
        return b;
    };
    for (i, ns) in topo.namespaces.iter().enumerate() {
        if let Some(id) = ns.nsid
            && i != cur
        {
            b.insert((cur, id), i);
        }
        if let Some(Some(id)) = host_id_here.get(i)
            && i != cur
        {
            b.insert((i, *id), cur);
        }
    }
    b
}

/// The `(namespace, nsid)` pairs its interfaces use that `b` does not bind yet, in order.
pub fn unresolved(topo: &Topology, b: &Bindings) -> Vec<(usize, i32)> {
    let mut out = BTreeSet::new();
    for (i, ns) in topo.namespaces.iter().enumerate() {
        for l in &ns.interfaces {
            if l.relation().is_some()
                && let Some((_, Some(id))) = l.raw_link
                && !b.contains_key(&(i, id))
            {
                out.insert((i, id));
            }
        }
    }
    out.into_iter().collect()
}

/// The namespaces to ask namespace `a` about for `nsid`, most likely first: those holding a
/// veth at the index one of `a`'s veths names whose own `IFLA_LINK` names that veth back, then
/// those with any interface at a named index (a macvlan's parent), then every other one.
pub fn candidates(topo: &Topology, a: usize, nsid: i32) -> Vec<usize> {
    let Some(ns) = topo.namespaces.get(a) else {
        return Vec::new();
    };
    let pointers: Vec<(u32, u32, bool)> = ns
        .interfaces
        .iter()
        .filter_map(|l| match l.raw_link {
            Some((k, Some(id))) if id == nsid => {
                Some((l.index, k, l.kind.as_deref() == Some("veth")))
            }
            _ => None,
        })
        .collect();
    let mut first = Vec::new();
    let mut second = Vec::new();
    let mut rest = Vec::new();
    for (j, other) in topo.namespaces.iter().enumerate() {
        if j == a {
            continue;
        }
        let back = pointers.iter().any(|&(mine, k, veth)| {
            veth && other.interfaces.iter().any(|o| {
                o.index == k
                    && o.kind.as_deref() == Some("veth")
                    && matches!(o.raw_link, Some((back, Some(_))) if back == mine)
            })
        });
        let has_index = pointers
            .iter()
            .any(|&(_, k, _)| other.interfaces.iter().any(|o| o.index == k));
        if back {
            first.push(j);
        } else if has_index {
            second.push(j);
        } else {
            rest.push(j);
        }
    }
    first.extend(second);
    first.extend(rest);
    first
}

/// Fill in every veth's peer and macvlan's parent from the bindings.
pub fn apply(topo: &mut Topology, b: &Bindings) {
    let names: Vec<HashMap<u32, String>> = topo
        .namespaces
        .iter()
        .map(|n| {
            n.interfaces
                .iter()
                .map(|l| (l.index, l.name.clone()))
                .collect()
        })
        .collect();
    let readable: Vec<bool> = topo.namespaces.iter().map(|n| n.readable).collect();
    for (i, ns) in topo.namespaces.iter_mut().enumerate() {
        for l in &mut ns.interfaces {
            let (Some(relation), Some((k, id))) = (l.relation(), l.raw_link) else {
                continue;
            };
            let target = match id {
                None => Some(i),
                Some(id) => b.get(&(i, id)).copied(),
            };
            let name = target
                .filter(|t| readable[*t])
                .and_then(|t| names[t].get(&k).cloned());
            l.peer = Some(PeerRef {
                relation,
                ns: target,
                index: k,
                name,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Iface, Namespace};

    fn iface(index: u32, name: &str, kind: &str, link: Option<(u32, Option<i32>)>) -> Iface {
        Iface {
            index,
            name: name.into(),
            kind: (!kind.is_empty()).then(|| kind.to_owned()),
            up: true,
            operstate: "up".into(),
            mac: None,
            master: None,
            raw_link: link,
            peer: None,
        }
    }

    fn ns(ino: u64, current: bool, nsid: Option<i32>, ifs: Vec<Iface>) -> Namespace {
        Namespace {
            ino,
            label: ino.to_string(),
            names: vec![],
            current,
            nsid,
            pid: None,
            owner: None,
            interfaces: ifs,
            readable: true,
        }
    }

    /// host(0) —veth→ a(1); a(1) —veth→ b(2) (host has no id for b); b has a macvlan on its
    /// own veth.
    fn sample() -> Topology {
        Topology {
            namespaces: vec![
                ns(
                    10,
                    true,
                    None,
                    vec![iface(5, "vethA", "veth", Some((2, Some(0))))],
                ),
                ns(
                    11,
                    false,
                    Some(0),
                    vec![
                        iface(2, "eth0", "veth", Some((5, Some(7)))),
                        iface(3, "ab", "veth", Some((2, Some(1)))),
                    ],
                ),
                ns(
                    12,
                    false,
                    None,
                    vec![
                        iface(2, "ba", "veth", Some((3, Some(4)))),
                        iface(3, "mv", "macvlan", Some((2, None))),
                    ],
                ),
            ],
        }
    }

    #[test]
    fn initial_binds_through_the_current_namespace() {
        let t = sample();
        let b = initial(&t, &[None, Some(7), None]);
        assert_eq!(b.get(&(0, 0)), Some(&1));
        assert_eq!(b.get(&(1, 7)), Some(&0));
        assert_eq!(b.len(), 2);
        assert_eq!(unresolved(&t, &b), vec![(1, 1), (2, 4)]);
    }

    #[test]
    fn candidates_put_the_pointing_back_veth_first() {
        let t = sample();
        assert_eq!(candidates(&t, 1, 1), vec![2, 0]);
        assert_eq!(candidates(&t, 2, 4), vec![1, 0]);
        assert_eq!(candidates(&t, 9, 4), Vec::<usize>::new());
    }

    #[test]
    fn apply_fills_peers_and_parents() {
        let mut t = sample();
        let mut b = initial(&t, &[None, Some(7), None]);
        b.insert((1, 1), 2);
        b.insert((2, 4), 1);
        apply(&mut t, &b);
        let peer = |n: usize, i: usize| t.namespaces[n].interfaces[i].peer.clone().unwrap();
        assert_eq!(
            (peer(0, 0).ns, peer(0, 0).name.as_deref()),
            (Some(1), Some("eth0"))
        );
        assert_eq!(
            (peer(1, 0).ns, peer(1, 0).name.as_deref()),
            (Some(0), Some("vethA"))
        );
        assert_eq!(
            (peer(1, 1).ns, peer(1, 1).name.as_deref()),
            (Some(2), Some("ba"))
        );
        assert_eq!(
            (peer(2, 0).ns, peer(2, 0).name.as_deref()),
            (Some(1), Some("ab"))
        );
        let mv = peer(2, 1);
        assert_eq!(mv.relation, crate::model::Relation::Parent);
        assert_eq!((mv.ns, mv.name.as_deref()), (Some(2), Some("ba")));
    }

    #[test]
    fn an_unbound_nsid_leaves_the_namespace_unknown() {
        let mut t = sample();
        apply(&mut t, &Bindings::new());
        let p = t.namespaces[1].interfaces[1].peer.clone().unwrap();
        assert_eq!((p.ns, p.index, p.name), (None, 2, None));
    }
}
