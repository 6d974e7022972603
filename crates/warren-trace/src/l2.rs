//! The link layer between two namespaces: from an out interface, the interfaces that frames
//! reach — a veth's peer (in its namespace, found by link-netnsid and nsids), the bridge it
//! is a port of and the bridge's other ports' far ends, and on through every bridge those far
//! ends are ports of: Docker and CNI put one bridge between namespaces, labs chain switches
//! (a linear topology, a switch of more than 1,023 ports). Each bridge is crossed at most once
//! per fan-out, so a ring of switches ends.

use std::collections::HashSet;

use warren_kernel::link::port::PortState;

use crate::error::Result;
use crate::world::World;

/// One interface that frames sent out of an interface reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// Namespace index.
    pub ns: usize,
    /// Interface index there.
    pub ifindex: u32,
    /// How frames get there.
    pub path: Vec<Step>,
}

/// One link-layer step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Through a veth pair.
    Veth {
        /// Namespace of the sending end.
        from_ns: usize,
        /// Sending end.
        from_if: u32,
        /// Namespace of the peer.
        to_ns: usize,
        /// The peer.
        to_if: u32,
    },
    /// Across a bridge, in at port `in_port` (`None`: sent by the bridge device itself) and
    /// out at `out_port` (`None`: delivered to the bridge device).
    Bridge {
        /// Namespace of the bridge.
        ns: usize,
        /// The bridge.
        bridge: u32,
        /// Port frames come in by.
        in_port: Option<u32>,
        /// Port frames leave by.
        out_port: Option<u32>,
    },
}

/// The far end of a veth `ifindex` in namespace `ns`: (namespace, index), if it is a veth
/// whose peer's namespace is known.
pub fn veth_peer(w: &World, ns: usize, ifindex: u32) -> Result<Option<(usize, u32)>> {
    let Some(l) = w.list[ns].link(ifindex)? else {
        return Ok(None);
    };
    if l.kind.as_deref() != Some("veth") {
        return Ok(None);
    }
    let Some(peer) = l.link.filter(|p| *p != 0) else {
        return Ok(None);
    };
    let peer_ns = match l.link_netnsid {
        None => Some(ns),
        Some(id) => w.by_nsid(ns, id),
    };
    Ok(peer_ns.map(|p| (p, peer)))
}

/// Where frames sent out of `ifindex` in `ns` can arrive; empty when the link leads beyond
/// what warren sees (a physical interface, a veth into an unknown namespace).
pub fn reach(w: &World, ns: usize, ifindex: u32) -> Result<Vec<Reach>> {
    let me = &w.list[ns];
    let Some(link) = me.link(ifindex)? else {
        return Ok(Vec::new());
    };
    let mut seen = HashSet::new();
    if link.kind.as_deref() == Some("bridge") {
        return bridge_fan_out(w, ns, ifindex, None, Vec::new(), &mut seen);
    }
    let Some((pns, pif)) = veth_peer(w, ns, ifindex)? else {
        return Ok(Vec::new());
    };
    let step = Step::Veth {
        from_ns: ns,
        from_if: ifindex,
        to_ns: pns,
        to_if: pif,
    };
    match bridge_of(w, pns, pif)? {
        Some(br) => bridge_fan_out(w, pns, br, Some(pif), vec![step], &mut seen),
        None => Ok(vec![Reach {
            ns: pns,
            ifindex: pif,
            path: vec![step],
        }]),
    }
}

/// The bridge that `ifindex` in `ns` is a port of, if any (a port of a bond or a VRF is not).
fn bridge_of(w: &World, ns: usize, ifindex: u32) -> Result<Option<u32>> {
    let Some(master) = w.list[ns].link(ifindex)?.and_then(|l| l.master) else {
        return Ok(None);
    };
    let is_bridge = w.list[ns]
        .link(master)?
        .is_some_and(|b| b.kind.as_deref() == Some("bridge"));
    Ok(is_bridge.then_some(master))
}

/// The bridge device itself (when frames came in by a port) and the far end of every other
/// port of bridge `br` in namespace `ns`; a far end that is itself a port of a bridge not in
/// `seen` is followed across that bridge in turn.
fn bridge_fan_out(
    w: &World,
    ns: usize,
    br: u32,
    in_port: Option<u32>,
    before: Vec<Step>,
    seen: &mut HashSet<(usize, u32)>,
) -> Result<Vec<Reach>> {
    let mut out = Vec::new();
    if !seen.insert((ns, br)) {
        return Ok(out);
    }
    if in_port.is_some() {
        let mut path = before.clone();
        path.push(Step::Bridge {
            ns,
            bridge: br,
            in_port,
            out_port: None,
        });
        out.push(Reach {
            ns,
            ifindex: br,
            path,
        });
    }
    let ports: Vec<u32> = w.list[ns]
        .links()?
        .iter()
        .filter(|l| l.master == Some(br) && Some(l.index) != in_port)
        .map(|l| l.index)
        .collect();
    for port in ports {
        let mut path = before.clone();
        path.push(Step::Bridge {
            ns,
            bridge: br,
            in_port,
            out_port: Some(port),
        });
        match veth_peer(w, ns, port)? {
            Some((pns, pif)) => {
                path.push(Step::Veth {
                    from_ns: ns,
                    from_if: port,
                    to_ns: pns,
                    to_if: pif,
                });
                match bridge_of(w, pns, pif)? {
                    Some(next) => out.extend(bridge_fan_out(w, pns, next, Some(pif), path, seen)?),
                    None => out.push(Reach {
                        ns: pns,
                        ifindex: pif,
                        path,
                    }),
                }
            }
            None => out.push(Reach {
                ns,
                ifindex: port,
                path,
            }),
        }
    }
    Ok(out)
}

/// Whether a bridge port passes frames.
pub fn forwards(state: Option<PortState>) -> bool {
    matches!(state, None | Some(PortState::Forwarding))
}
