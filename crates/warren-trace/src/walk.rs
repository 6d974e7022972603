//! The walk: from the source namespace, hop by hop, with the kernel's own lookups in each
//! namespace — the route lookup (`RTM_GETROUTE`, which applies policy rules, with the input
//! interface for routed hops), forwarding and rp_filter sysctls, link and bridge-port states,
//! MTUs, neighbours, the link layer to the next namespace, warren's DNAT maps and masquerade
//! sets — until the packet is delivered, leaves what warren can see, or stops.

use std::collections::HashSet;
use std::net::IpAddr;

use nix::errno::Errno;
use warren_kernel::neigh::NeighState;
use warren_kernel::route::{LOCAL, MAIN, Route, RouteQuery, RouteType};

use crate::error::{Result, kernel};
use crate::firewall::{self, hook};
use crate::l2;
use crate::nat;
use crate::verdict::{Cause, Hop, Trace, Verdict};
use crate::world::World;

mod checks;

/// A trace stops following a path after this many namespaces.
pub const MAX_HOPS: usize = 32;

/// The transport of the traced packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP or ICMPv6 echo.
    Icmp,
}

impl Proto {
    /// The IP protocol number (ICMP by family).
    pub fn number(self, v6: bool) -> u8 {
        match (self, v6) {
            (Proto::Tcp, _) => 6,
            (Proto::Udp, _) => 17,
            (Proto::Icmp, false) => 1,
            (Proto::Icmp, true) => 58,
        }
    }
}

/// The packet to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Source address; `None`: what the source namespace's route picks.
    pub src: Option<IpAddr>,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport.
    pub proto: Proto,
    /// Destination port (TCP, UDP).
    pub port: Option<u16>,
    /// Size in bytes with DF set; `None`: the MTU of the source's out interface.
    pub size: Option<u32>,
}

/// The interfaces of one hop, for the probe's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopIfaces {
    /// Namespace index.
    pub ns: usize,
    /// Input interface.
    pub iif: Option<u32>,
    /// Output interface.
    pub oif: Option<u32>,
}

/// A finished walk: the trace and, per hop, its interfaces.
#[derive(Debug, Clone)]
pub struct Walked {
    /// What is shown.
    pub trace: Trace,
    /// Interfaces per hop (same order as the trace's hops).
    pub ifaces: Vec<HopIfaces>,
    /// Destination port after DNAT.
    pub port: Option<u16>,
}

struct Walker<'w> {
    w: &'w World,
    hops: Vec<Hop>,
    ifaces: Vec<HopIfaces>,
}

/// Walk `pkt` from namespace `src_ns` of `w`.
pub fn walk(w: &World, src_ns: usize, pkt: &Packet) -> Result<Walked> {
    let mut k = Walker {
        w,
        hops: Vec::new(),
        ifaces: Vec::new(),
    };
    let mut src = pkt.src;
    // The source as sent (the walk's `src` changes where a router masquerades).
    let mut origin = pkt.src;
    let mut dst = pkt.dst;
    let mut port = pkt.port;
    let mut size = pkt.size;
    let mut cur = src_ns;
    let mut iif: Option<u32> = None;
    let mut seen = HashSet::new();
    let mut routers: Vec<usize> = Vec::new();
    let mut dnat = false;
    let v6 = dst.is_ipv6();
    let verdict = loop {
        if k.hops.len() >= MAX_HOPS {
            break stop(k.hops.len() - 1, Cause::HopLimit);
        }
        let ns = &w.list[cur];
        let hi = k.hops.len();
        k.hops.push(Hop {
            ns: ns.label.clone(),
            iif: iif.map(|i| ns.name(i)),
            ..Hop::default()
        });
        k.ifaces.push(HopIfaces {
            ns: cur,
            iif,
            oif: None,
        });
        if !seen.insert((cur, iif)) {
            break stop(hi, Cause::Loop);
        }
        // Published ports: prerouting (or output, in the source) DNAT before routing.
        if let Some(p) = port
            && pkt.proto != Proto::Icmp
            && let Some((to, to_port, table)) = nat::dnat(ns, dst, pkt.proto.number(v6), p)?
        {
            k.hops[hi].nat.push(format!(
                "dnat {} -> {} (published port, table inet {table})",
                sock(dst, p),
                sock(to, to_port)
            ));
            dst = to;
            port = Some(to_port);
            dnat = true;
        }
        let local = ns.owner_of(dst)?.is_some();
        if let (Some(i), Some(s)) = (iif, src) {
            if !local && let Some(c) = k.forwarding_off(cur, i, v6)? {
                break stop(hi, c);
            }
            if let Some(c) = k.rp_filter(cur, i, s)? {
                break stop(hi, c);
            }
        }
        let q = RouteQuery {
            from: if iif.is_some() { src } else { pkt.src },
            iif,
            ..RouteQuery::default()
        };
        let route = match ns.h.route_get(dst, q) {
            Ok(r) => r,
            Err(e) => match lookup_cause(&e, dst) {
                Some(Cause::RpFilter { .. }) => {
                    let mode = k.rp_mode(cur, iif.unwrap_or(0))?.max(1);
                    break stop(
                        hi,
                        Cause::RpFilter {
                            iface: ns.name(iif.unwrap_or(0)),
                            mode,
                            back_via: None,
                        },
                    );
                }
                Some(Cause::NoRoute { to }) => {
                    break stop(
                        hi,
                        k.down_link_cause(cur, to)?.unwrap_or(Cause::NoRoute { to }),
                    );
                }
                Some(Cause::RejectRoute { kind, .. })
                    if kind == "blackhole"
                        && iif.is_some()
                        && src.is_some_and(|s| ns.owner_of(s).ok().flatten().is_some()) =>
                {
                    break stop(
                        hi,
                        Cause::MartianSource {
                            src: src.unwrap_or(dst),
                        },
                    );
                }
                Some(c) => break stop(hi, c),
                None => {
                    return Err(kernel(format!("route lookup in {}", ns.label))(e));
                }
            },
        };
        if src.is_none() {
            src = route.prefsrc;
        }
        if hi == 0 {
            origin = src;
        }
        k.hops[hi].route = Some(describe(ns, &route));
        if route.table != MAIN && route.table != LOCAL {
            k.hops[hi].table = Some(route.table);
            if let Some(rule) = k.rule_for(cur, route.table, src, dst, iif) {
                k.hops[hi].notes.push(format!("policy rule: {rule}"));
            }
        }
        k.conntrack_note(cur, hi, src, dst, pkt.proto.number(v6));
        match route.kind {
            RouteType::Local => {
                if iif.is_some()
                    && let Some(c) = k.firewall(
                        cur,
                        hi,
                        &[hook::PREROUTING, hook::INPUT],
                        fw(src, dst, pkt, port, iif, None, size, dnat),
                    )
                {
                    break stop(hi, c);
                }
                break k.delivered(cur, hi, src, &routers)?;
            }
            RouteType::Unicast => {}
            RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit => {
                let kind = match route.kind {
                    RouteType::Blackhole => "blackhole",
                    RouteType::Unreachable => "unreachable",
                    _ => "prohibit",
                };
                break stop(
                    hi,
                    Cause::RejectRoute {
                        kind: kind.into(),
                        to: dst,
                    },
                );
            }
            _ => break stop(hi, Cause::NoRoute { to: dst }),
        }
        let Some(oif) = route
            .oif
            .or_else(|| route.nexthops.first().and_then(|n| n.dev))
        else {
            break stop(hi, Cause::NoRoute { to: dst });
        };
        k.hops[hi].oif = Some(ns.name(oif));
        k.ifaces[hi].oif = Some(oif);
        let gateway = route
            .gateway
            .or_else(|| route.nexthops.first().and_then(|n| n.via));
        let next = gateway.unwrap_or(dst);
        k.hops[hi].next_hop = Some(next);
        let out = ns.link(oif)?.cloned();
        let path_mtu = out
            .as_ref()
            .map_or(u32::MAX, |l| l.mtu)
            .min(route.mtu.unwrap_or(u32::MAX));
        let sz = *size.get_or_insert(path_mtu);
        if let Some(l) = &out {
            if !l.up {
                break stop(
                    hi,
                    Cause::LinkDown {
                        iface: l.name.clone(),
                        ns: ns.label.clone(),
                    },
                );
            }
            if sz > path_mtu {
                break stop(
                    hi,
                    Cause::MtuTooSmall {
                        iface: l.name.clone(),
                        ns: ns.label.clone(),
                        mtu: path_mtu,
                        size: sz,
                    },
                );
            }
        }
        let hooks: &[u32] = if iif.is_some() {
            &[hook::PREROUTING, hook::FORWARD, hook::POSTROUTING]
        } else {
            &[hook::OUTPUT, hook::POSTROUTING]
        };
        if let Some(c) = k.firewall(
            cur,
            hi,
            hooks,
            fw(src, dst, pkt, port, iif, Some(oif), Some(sz), dnat),
        ) {
            break stop(hi, c);
        }
        // Source NAT at a router: warren's masquerade sets, else any table's nat rules.
        if iif.is_some()
            && let Some(s) = src
        {
            let by = match nat::masquerades(ns, s, dst, out.as_ref().map(|l| l.name.as_str()))? {
                Some(table) => Some(format!("table inet {table}")),
                None => fw(src, dst, pkt, port, iif, Some(oif), Some(sz), dnat).and_then(
                    |(mut p, _, _)| {
                        p.iif = iif.map(|i| (ns.name(i), i));
                        p.oif = Some((ns.name(oif), oif));
                        firewall::source_nat(ns.tables(), &p)
                    },
                ),
            };
            let new = route.prefsrc.or_else(|| first_addr(ns, oif, v6));
            if let (Some(by), Some(n)) = (by, new) {
                k.hops[hi].nat.push(format!("masquerade {s} -> {n} ({by})"));
                src = Some(n);
            }
        }
        // The link layer to the next namespace.
        let found = l2::search(w, cur, oif, |r| {
            w.list[r.ns]
                .addrs()
                .is_ok_and(|a| a.iter().any(|a| a.index == r.ifindex && a.addr == next))
        })?;
        if !found.any {
            break Verdict::Leaves {
                ns: ns.label.clone(),
                iface: ns.name(oif),
            };
        }
        let owner = found.found;
        let neigh = k.neigh_state(cur, oif, next);
        let Some(owner) = owner else {
            break stop(
                hi,
                match gateway {
                    Some(gw) => Cause::WrongGateway {
                        gateway: gw,
                        reason: format!(
                            "no namespace on the link of {} has this address",
                            ns.name(oif)
                        ),
                    },
                    None => Cause::NoArpAnswer {
                        addr: next,
                        iface: ns.name(oif),
                        state: neigh.map(|s| s.to_string()),
                    },
                },
            );
        };
        if let Some(s) = neigh.filter(|s| matches!(s, NeighState::Failed | NeighState::Incomplete))
        {
            k.hops[hi].notes.push(format!(
                "neighbour {next} is {s} (an earlier failure; the kernel asks again)"
            ));
        }
        if let Some(c) = k.check_path(hi, &owner.path, sz)? {
            break stop(hi, c);
        }
        if iif.is_some() {
            routers.push(hi);
        }
        cur = owner.ns;
        iif = Some(owner.ifindex);
    };
    Ok(Walked {
        trace: Trace {
            src: origin,
            dst,
            size: size.unwrap_or(0),
            hops: k.hops,
            verdict,
        },
        ifaces: k.ifaces,
        port,
    })
}

/// The packet as the firewall of the hop sees it; `None` when the source is not known yet.
#[allow(clippy::too_many_arguments)]
fn fw(
    src: Option<IpAddr>,
    dst: IpAddr,
    pkt: &Packet,
    port: Option<u16>,
    iif: Option<u32>,
    oif: Option<u32>,
    size: Option<u32>,
    dnat: bool,
) -> Option<(firewall::Pkt, Option<u32>, Option<u32>)> {
    Some((
        firewall::Pkt {
            src: src?,
            dst,
            proto: pkt.proto.number(dst.is_ipv6()),
            dport: port,
            size: size.unwrap_or(1500),
            iif: None,
            oif: None,
            dnat,
        },
        iif,
        oif,
    ))
}

fn stop(hop: usize, cause: Cause) -> Verdict {
    Verdict::Stops { hop, cause }
}

fn sock(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}:{port}"),
        IpAddr::V6(_) => format!("[{ip}]:{port}"),
    }
}

fn first_addr(ns: &crate::world::Ns, ifindex: u32, v6: bool) -> Option<IpAddr> {
    ns.addrs().ok()?.iter().find_map(|a| {
        (a.index == ifindex
            && a.addr.is_ipv6() == v6
            && !warren_kernel::link::is_link_local(&a.addr))
        .then_some(a.addr)
    })
}

/// The cause a failed route lookup stands for, by the kernel's errno.
pub fn lookup_cause(e: &warren_kernel::Error, to: IpAddr) -> Option<Cause> {
    let reject = |kind: &str| {
        Some(Cause::RejectRoute {
            kind: kind.into(),
            to,
        })
    };
    match e.errno()? {
        Errno::ENETUNREACH => Some(Cause::NoRoute { to }),
        Errno::EHOSTUNREACH => reject("unreachable"),
        Errno::EACCES => reject("prohibit"),
        Errno::EINVAL => reject("blackhole"),
        Errno::EXDEV => Some(Cause::RpFilter {
            iface: String::new(),
            mode: 1,
            back_via: None,
        }),
        _ => None,
    }
}

/// A route in ip's words, with interface names.
fn describe(ns: &crate::world::Ns, r: &Route) -> String {
    let mut s = if r.dst.is_default() {
        "default".to_owned()
    } else if r.dst.prefix == r.dst.family().max_prefix() {
        r.dst.addr.to_string()
    } else {
        r.dst.to_string()
    };
    if r.kind == RouteType::Local {
        s = format!("local {s}");
    }
    if let Some(g) = r.gateway {
        s.push_str(&format!(" via {g}"));
    }
    if let Some(o) = r.oif {
        s.push_str(&format!(" dev {}", ns.name(o)));
    }
    if let Some(p) = r.prefsrc {
        s.push_str(&format!(" src {p}"));
    }
    if r.table != MAIN {
        let t = if r.table == LOCAL {
            "local".to_owned()
        } else {
            r.table.to_string()
        };
        s.push_str(&format!(" table {t}"));
    }
    s
}
