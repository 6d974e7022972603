//! Runtime faults in a running lab: a link down or up, its bandwidth changed, the lab split in
//! two groups, and healed.
//!
//! - [`link_set`] acts on the *link* the named interface is an end of, like Mininet's
//!   `link s1 h1 down`: down and up change both ends (a node's interface, a switch's port, the
//!   host end of an uplink or host-bridge veth); a bandwidth is a tbf on the egress of every
//!   end inside the lab (node interfaces and switch ports), so both directions are shaped.
//! - [`partition`] cuts traffic between the nodes of group A and those of group B (by their
//!   addresses) and leaves everything else flowing: every node of either group gets warren's
//!   own table `inet warren-lab` dropping traffic to and from the other group's addresses
//!   ([`warren_kernel::nft::Blocklist`]). No other table is touched.
//! - [`heal`] removes that table from every node.

use std::net::IpAddr;

use warren_kernel::nft::{Blocklist, Nft};
use warren_kernel::tc::{Parent, QdiscKind, QdiscSpec};
use warren_kernel::{Handle, NetNs};

use crate::model::{End, Lab, Node};

/// warren's table in a partitioned node.
pub const PARTITION_TABLE: &str = "warren-lab";

/// What to do to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    /// Both ends down.
    Down,
    /// Both ends up.
    Up,
    /// Shape every lab end's egress to this many bits per second (tbf).
    Bandwidth(u64),
    /// Remove the shaping (the default qdisc comes back).
    Unshaped,
}

/// What can go wrong with a fault.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// No such node.
    #[error("lab {lab}: no node {node}")]
    NoSuchNode {
        /// The lab.
        lab: String,
        /// The name given.
        node: String,
    },
    /// The node has no such interface.
    #[error("lab {lab}: node {node} has no interface {interface}")]
    NoSuchInterface {
        /// The lab.
        lab: String,
        /// The node.
        node: String,
        /// The name given.
        interface: String,
    },
    /// Groups that cannot be partitioned.
    #[error("lab {lab}: partition: {reason}")]
    BadGroups {
        /// The lab.
        lab: String,
        /// What is wrong.
        reason: String,
    },
    /// A rate that tbf cannot take.
    #[error("lab {lab}: bandwidth {bps} bit/s: {reason}")]
    BadRate {
        /// The lab.
        lab: String,
        /// The rate given.
        bps: u64,
        /// Why.
        reason: &'static str,
    },
    /// A kernel operation on an end failed.
    #[error("lab {lab}: {place}: {source}")]
    Kernel {
        /// The lab.
        lab: String,
        /// Which node/interface (or `host`).
        place: String,
        /// The cause.
        #[source]
        source: Box<warren_kernel::Error>,
    },
}

/// One end of a link as the kernel knows it: the namespace (`None` = this process's, the
/// lab's host) and the kernel interface name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KernelEnd {
    netns: Option<String>,
    ifname: String,
    place: String,
    /// Inside the lab (a node's interface or a switch's port): shaped by a bandwidth.
    in_lab: bool,
}

fn node<'a>(lab: &'a Lab, name: &str) -> Result<&'a Node, FaultError> {
    lab.node(name).ok_or_else(|| FaultError::NoSuchNode {
        lab: lab.name.clone(),
        node: name.to_owned(),
    })
}

/// The kernel ends of the link that `node:interface` is an end of.
fn link_ends(lab: &Lab, node_name: &str, interface: &str) -> Result<Vec<KernelEnd>, FaultError> {
    let n = node(lab, node_name)?;
    let iface = n
        .interfaces
        .iter()
        .find(|i| i.name == interface || i.ifname == interface)
        .ok_or_else(|| FaultError::NoSuchInterface {
            lab: lab.name.clone(),
            node: node_name.to_owned(),
            interface: interface.to_owned(),
        })?;
    let mut ends = vec![KernelEnd {
        netns: Some(n.netns.clone()),
        ifname: iface.ifname.clone(),
        place: format!("node {node_name} interface {interface}"),
        in_lab: true,
    }];
    let Some(link) = lab.links.get(iface.link) else {
        return Ok(ends);
    };
    for end in &link.ends {
        match end {
            End::Node {
                node: other,
                interface: oif,
            } if !(other == node_name && oif == &iface.name) => {
                let o = node(lab, other)?;
                if let Some(i) = o.interfaces.iter().find(|i| &i.name == oif) {
                    ends.push(KernelEnd {
                        netns: Some(o.netns.clone()),
                        ifname: i.ifname.clone(),
                        place: format!("node {other} interface {oif}"),
                        in_lab: true,
                    });
                }
            }
            End::Switch { node: sw, port } => {
                let s = node(lab, sw)?;
                if let Some(p) = s.switch.as_ref().and_then(|s| s.ports.get(*port)) {
                    ends.push(KernelEnd {
                        netns: Some(s.netns.clone()),
                        ifname: p.ifname.clone(),
                        place: format!("switch {sw} port {}", p.ifname),
                        in_lab: true,
                    });
                }
            }
            End::HostBridge { ifname, .. } | End::HostUplink { ifname, .. } => {
                ends.push(KernelEnd {
                    netns: None,
                    ifname: ifname.clone(),
                    place: format!("host interface {ifname}"),
                    in_lab: false,
                });
            }
            // A macvlan's other side is the host's own interface: not ours to change.
            End::Macvlan { .. } | End::Node { .. } => {}
        }
    }
    Ok(ends)
}

fn handle(lab: &Lab, end: &KernelEnd) -> Result<Handle, FaultError> {
    let kernel = |source| FaultError::Kernel {
        lab: lab.name.clone(),
        place: end.place.clone(),
        source: Box::new(source),
    };
    let ns = match &end.netns {
        Some(name) => NetNs::open_named(name).map_err(kernel)?,
        None => NetNs::current().map_err(kernel)?,
    };
    Handle::new(ns).map_err(kernel)
}

/// tbf parameters for `bps` bits per second: a burst of at least one full frame and 1 ms of
/// traffic at the rate, and a queue of 50 ms (as `tc`'s usual `latency 50ms`).
fn tbf_for(bps: u64) -> Option<QdiscKind> {
    let rate = bps / 8;
    if rate == 0 {
        return None;
    }
    let burst = u32::try_from((rate / 1000).max(1600)).ok()?;
    let limit = u32::try_from((rate / 20).max(u64::from(burst) * 2)).ok()?;
    Some(QdiscKind::Tbf { rate, burst, limit })
}

/// Take the link of `node:interface` down or up (both ends), or change its bandwidth (every
/// end inside the lab). Every end is tried; the first error is returned after the others.
pub fn link_set(
    lab: &Lab,
    node_name: &str,
    interface: &str,
    action: LinkAction,
) -> Result<(), FaultError> {
    let ends = link_ends(lab, node_name, interface)?;
    let tbf = match action {
        LinkAction::Bandwidth(bps) => Some(tbf_for(bps).ok_or(FaultError::BadRate {
            lab: lab.name.clone(),
            bps,
            reason: "must be at least 8 bit/s and at most 32 Tbit/s",
        })?),
        _ => None,
    };
    let mut first = None;
    for end in &ends {
        let r = (|| {
            let h = handle(lab, end)?;
            let kernel = |source| FaultError::Kernel {
                lab: lab.name.clone(),
                place: end.place.clone(),
                source: Box::new(source),
            };
            match action {
                LinkAction::Down => h.link_set_down(&end.ifname).map_err(kernel),
                LinkAction::Up => h.link_set_up(&end.ifname).map_err(kernel),
                LinkAction::Bandwidth(_) | LinkAction::Unshaped if !end.in_lab => Ok(()),
                LinkAction::Bandwidth(_) => {
                    let Some(kind) = tbf.clone() else {
                        return Ok(());
                    };
                    let index = h.link_index(&end.ifname).map_err(kernel)?;
                    h.qdisc_replace(&QdiscSpec::new(index, Parent::Root, kind))
                        .map_err(kernel)
                }
                LinkAction::Unshaped => {
                    let index = h.link_index(&end.ifname).map_err(kernel)?;
                    match h.qdisc_del(index, Parent::Root) {
                        // Nothing to remove: already unshaped.
                        Err(e) if e.errno().is_some_and(|n| n as i32 == 2 || n as i32 == 22) => {
                            Ok(())
                        }
                        r => r.map_err(kernel),
                    }
                }
            }
        })();
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    }
    // The kernel drops a node's routes through an interface that goes down; bring back the
    // node's routes (as the lab file gives them) once its links are up again.
    if action == LinkAction::Up {
        for end in &ends {
            let Some(n) = end
                .netns
                .as_deref()
                .and_then(|ns| lab.nodes.iter().find(|n| n.netns == ns))
            else {
                continue;
            };
            if let Err(e) = restore_routes(lab, n, end) {
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// Put `node`'s routes back (replacing any still there).
fn restore_routes(lab: &Lab, node: &Node, end: &KernelEnd) -> Result<(), FaultError> {
    let h = handle(lab, end)?;
    for r in &node.routes {
        let spec = node.route_spec(r, |ifname| {
            h.link_index(ifname).map_err(|source| FaultError::Kernel {
                lab: lab.name.clone(),
                place: format!(
                    "interface {} of node {}",
                    r.dev.as_deref().unwrap_or(ifname),
                    node.name
                ),
                source: Box::new(source),
            })
        })?;
        h.route_replace(&spec)
            .map_err(|source| FaultError::Kernel {
                lab: lab.name.clone(),
                place: format!("route {} of node {}", r.to, node.name),
                source: Box::new(source),
            })?;
    }
    Ok(())
}

/// Every address of `node` (its interfaces' and its loopback's).
fn addresses(node: &Node) -> Vec<IpAddr> {
    node.interfaces
        .iter()
        .flat_map(|i| i.addresses.iter().map(|a| a.addr))
        .chain(node.loopback.iter().map(|a| a.addr))
        .collect()
}

/// Stop traffic between the nodes of `group_a` and those of `group_b` (node names), in both
/// directions, leaving every other flow alone. Partitions add up: a later call cuts more.
/// The groups must be non-empty, disjoint, and name nodes of the lab.
pub fn partition(lab: &Lab, group_a: &[&str], group_b: &[&str]) -> Result<(), FaultError> {
    let bad = |reason: String| FaultError::BadGroups {
        lab: lab.name.clone(),
        reason,
    };
    if group_a.is_empty() || group_b.is_empty() {
        return Err(bad("each side needs at least one node".into()));
    }
    if let Some(both) = group_a.iter().find(|n| group_b.contains(n)) {
        return Err(bad(format!("node {both} is on both sides")));
    }
    let a: Vec<&Node> = group_a
        .iter()
        .map(|n| node(lab, n))
        .collect::<Result<_, _>>()?;
    let b: Vec<&Node> = group_b
        .iter()
        .map(|n| node(lab, n))
        .collect::<Result<_, _>>()?;
    let addrs = |g: &[&Node]| g.iter().flat_map(|n| addresses(n)).collect::<Vec<_>>();
    let (a_addrs, b_addrs) = (addrs(&a), addrs(&b));
    if a_addrs.is_empty() || b_addrs.is_empty() {
        return Err(bad("a side has no addresses to cut".into()));
    }
    let list = Blocklist::new(PARTITION_TABLE);
    let mut first = None;
    for (side, peers) in [(&a, &b_addrs), (&b, &a_addrs)] {
        for n in side.iter() {
            if let Err(e) = block(lab, n, &list, peers) {
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(()), Err)
}

fn block(lab: &Lab, n: &Node, list: &Blocklist, peers: &[IpAddr]) -> Result<(), FaultError> {
    let kernel = |source| FaultError::Kernel {
        lab: lab.name.clone(),
        place: format!("node {}", n.name),
        source: Box::new(source),
    };
    let ns = NetNs::open_named(&n.netns).map_err(kernel)?;
    let nft = Nft::new(&ns).map_err(kernel)?;
    let batch = if nft.table_exists(list.table()).map_err(kernel)? {
        list.add(peers)
    } else {
        list.create(peers)
    };
    nft.apply(&batch).map_err(kernel)
}

/// Remove every partition: warren's table goes from every node that has it. Every node is
/// tried; the errors are returned together.
pub fn heal(lab: &Lab) -> Result<(), Vec<FaultError>> {
    let list = Blocklist::new(PARTITION_TABLE);
    let mut errors = Vec::new();
    for n in &lab.nodes {
        let kernel = |source| FaultError::Kernel {
            lab: lab.name.clone(),
            place: format!("node {}", n.name),
            source: Box::new(source),
        };
        let r = NetNs::open_named(&n.netns)
            .and_then(|ns| Nft::new(&ns))
            .and_then(|nft| {
                if nft.table_exists(list.table())? {
                    nft.apply(&list.remove())?;
                }
                Ok(())
            });
        if let Err(e) = r {
            errors.push(kernel(e));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tbf_parameters_scale_with_the_rate() {
        for (bps, want) in [
            (0, None),
            (7, None),
            (8_000, Some((1_000, 1_600, 3_200))),
            (100_000_000, Some((12_500_000, 12_500, 625_000))),
            (10_000_000_000, Some((1_250_000_000, 1_250_000, 62_500_000))),
        ] {
            let got = tbf_for(bps).map(|k| match k {
                QdiscKind::Tbf { rate, burst, limit } => (rate, burst, limit),
                _ => unreachable!(),
            });
            assert_eq!(got, want, "{bps}");
        }
        assert_eq!(tbf_for(u64::MAX), None);
    }
}
