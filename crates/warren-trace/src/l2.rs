//! The link layer between two namespaces: from an out interface, the interfaces that frames
//! reach — a veth's peer (in its namespace, found by link-netnsid and nsids), the bridge it
//! is a port of and the bridge's other ports' far ends, and on through every bridge those far
//! ends are ports of: Docker and CNI put one bridge between namespaces, labs chain switches
//! (a linear topology, a switch of more than 1,023 ports). The search goes nearest first and
//! crosses each bridge at most once, so a ring of switches ends.

use std::collections::{HashSet, VecDeque};

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

/// What [`search`] found.
#[derive(Debug, Default)]
pub struct Search {
    /// The first interface `want` accepted.
    pub found: Option<Reach>,
    /// Whether frames reach any interface warren sees at all (when not, the link leads
    /// beyond: a physical interface, a veth into an unknown namespace).
    pub any: bool,
}

impl Search {
    /// Offer one interface frames reach; true once `want` accepts it.
    fn offer(&mut self, r: Reach, want: &mut impl FnMut(&Reach) -> bool) -> bool {
        self.any = true;
        if want(&r) {
            self.found = Some(r);
            return true;
        }
        false
    }
}

/// A bridge still to cross: its namespace, index, the port frames come in by and the steps
/// before it.
type Pending = (usize, u32, Option<u32>, Vec<Step>);

/// The interfaces frames sent out of `ifindex` in `ns` arrive at, nearest first (a bridge's
/// own far ends before those behind the next bridge), until `want` accepts one. Links are
/// read only as far as the search goes, so finding a neighbour on the first switch of a
/// large lab does not read the whole lab.
pub fn search(
    w: &World,
    ns: usize,
    ifindex: u32,
    mut want: impl FnMut(&Reach) -> bool,
) -> Result<Search> {
    let mut s = Search::default();
    let Some(link) = w.list[ns].link(ifindex)? else {
        return Ok(s);
    };
    let mut queue: VecDeque<Pending> = VecDeque::new();
    if link.kind.as_deref() == Some("bridge") {
        queue.push_back((ns, ifindex, None, Vec::new()));
    } else {
        match over_veth(w, ns, ifindex, Vec::new())? {
            Over::Unknown(_) => return Ok(s),
            Over::Bridge(p) => queue.push_back(p),
            Over::At(r) => {
                s.offer(r, &mut want);
                return Ok(s);
            }
        }
    }
    let mut seen = HashSet::new();
    while let Some((ns, br, in_port, before)) = queue.pop_front() {
        if seen.insert((ns, br))
            && cross(w, (ns, br, in_port, before), &mut queue, &mut s, &mut want)?
        {
            break;
        }
    }
    Ok(s)
}

/// Cross one bridge: offer the bridge device itself (when frames came in by a port) and the
/// far end of every other port; a far end that is a port of another bridge is queued.
/// True once `want` accepted one.
fn cross(
    w: &World,
    (ns, br, in_port, before): Pending,
    queue: &mut VecDeque<Pending>,
    s: &mut Search,
    want: &mut impl FnMut(&Reach) -> bool,
) -> Result<bool> {
    if in_port.is_some() {
        let mut path = before.clone();
        path.push(Step::Bridge {
            ns,
            bridge: br,
            in_port,
            out_port: None,
        });
        if s.offer(
            Reach {
                ns,
                ifindex: br,
                path,
            },
            want,
        ) {
            return Ok(true);
        }
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
        let reach = match over_veth(w, ns, port, path)? {
            Over::Bridge(p) => {
                queue.push_back(p);
                continue;
            }
            Over::At(r) => r,
            // Not a veth into a namespace warren sees: the port itself is where frames go.
            Over::Unknown(path) => Reach {
                ns,
                ifindex: port,
                path,
            },
        };
        if s.offer(reach, want) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Where frames go over a veth.
enum Over {
    /// Its peer is a bridge's port: that bridge, to cross.
    Bridge(Pending),
    /// Its peer.
    At(Reach),
    /// No veth, or its peer's namespace is unknown: the steps given, back.
    Unknown(Vec<Step>),
}

/// Where frames sent out of veth `ifindex` in `ns`, after the steps `path`, arrive.
fn over_veth(w: &World, ns: usize, ifindex: u32, mut path: Vec<Step>) -> Result<Over> {
    let Some((pns, pif)) = veth_peer(w, ns, ifindex)? else {
        return Ok(Over::Unknown(path));
    };
    path.push(Step::Veth {
        from_ns: ns,
        from_if: ifindex,
        to_ns: pns,
        to_if: pif,
    });
    Ok(match bridge_of(w, pns, pif)? {
        Some(br) => Over::Bridge((pns, br, Some(pif), path)),
        None => Over::At(Reach {
            ns: pns,
            ifindex: pif,
            path,
        }),
    })
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

/// Whether a bridge port passes frames.
pub fn forwards(state: Option<PortState>) -> bool {
    matches!(state, None | Some(PortState::Forwarding))
}
