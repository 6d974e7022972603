//! The walk: from the source namespace, hop by hop, with the kernel's own lookups in each
//! namespace — the route lookup (`RTM_GETROUTE`, which applies policy rules, with the input
//! interface for routed hops), forwarding and rp_filter sysctls, link and bridge-port states,
//! MTUs, neighbours, the link layer to the next namespace, warren's DNAT maps and masquerade
//! sets — until the packet is delivered, leaves what warren can see, or stops.

use std::collections::HashSet;
use std::net::IpAddr;

use nix::errno::Errno;
use warren_kernel::link::format_mac;
use warren_kernel::neigh::NeighState;
use warren_kernel::route::{LOCAL, MAIN, Route, RouteQuery, RouteType};

use crate::error::{Result, kernel};
use crate::firewall::{self, hook};
use crate::l2::{self, Step};
use crate::nat;
use crate::verdict::{Cause, Hop, Trace, Verdict};
use crate::world::World;

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
        let reach = l2::reach(w, cur, oif)?;
        if reach.is_empty() {
            break Verdict::Leaves {
                ns: ns.label.clone(),
                iface: ns.name(oif),
            };
        }
        let owner = reach.into_iter().find(|r| {
            w.list[r.ns]
                .addrs()
                .is_ok_and(|a| a.iter().any(|a| a.index == r.ifindex && a.addr == next))
        });
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

impl Walker<'_> {
    /// The first policy rule (by priority) that sends a lookup to `table` and whose
    /// selectors fit the packet (source, destination, input interface).
    fn rule_for(
        &self,
        ns: usize,
        table: u32,
        src: Option<IpAddr>,
        dst: IpAddr,
        iif: Option<u32>,
    ) -> Option<String> {
        let n = &self.w.list[ns];
        let mut rules = n.h.rules().ok()?;
        rules.sort_by_key(|r| r.priority);
        let iif = iif.map(|i| n.name(i)).unwrap_or_else(|| "lo".into());
        rules
            .into_iter()
            .filter(|r| r.table == table && r.family == warren_kernel::addr::Family::of(&dst))
            .find(|r| {
                !r.invert
                    && r.from.is_none_or(|f| src.is_some_and(|s| f.contains(s)))
                    && r.to.is_none_or(|t| t.contains(dst))
                    && r.iif.as_ref().is_none_or(|i| *i == iif)
            })
            .map(|r| r.to_string())
    }

    /// Conntrack entries of this flow here, if any (they keep NAT bindings alive).
    fn conntrack_note(
        &mut self,
        ns: usize,
        hi: usize,
        src: Option<IpAddr>,
        dst: IpAddr,
        proto: u8,
    ) {
        let Some(src) = src else { return };
        let Ok(entries) = warren_kernel::conntrack::list(self.w.list[ns].h.ns()) else {
            return;
        };
        let n = entries
            .iter()
            .filter(|t| t.src == src && t.dst == dst && t.proto == proto)
            .count();
        if n > 0 {
            self.hops[hi]
                .notes
                .push(format!("conntrack: {n} entries of this flow"));
        }
    }

    /// Judge the firewall of hop `hi` (namespace `ns`) on `hooks`; the cause if it drops the
    /// packet, notes for rules that might.
    fn firewall(
        &mut self,
        ns: usize,
        hi: usize,
        hooks: &[u32],
        p: Option<(firewall::Pkt, Option<u32>, Option<u32>)>,
    ) -> Option<Cause> {
        let (mut p, iif, oif) = p?;
        let n = &self.w.list[ns];
        p.iif = iif.map(|i| (n.name(i), i));
        p.oif = oif.map(|i| (n.name(i), i));
        let tables = n.tables();
        if tables.is_empty() {
            return None;
        }
        let j = firewall::judge(tables, hooks, &p);
        for m in j.maybe {
            self.hops[hi].notes.push(format!("might drop it: {m}"));
        }
        j.drop.map(|rule| Cause::FirewallDrop {
            rule: Some(rule),
            tables: tables.iter().map(nat::describe).collect(),
        })
    }

    fn forwarding_off(&self, ns: usize, iif: u32, v6: bool) -> Result<Option<Cause>> {
        let n = &self.w.list[ns];
        let name = n.name(iif);
        let rel = if v6 {
            "ipv6/conf/all/forwarding".to_owned()
        } else {
            format!("ipv4/conf/{name}/forwarding")
        };
        let v = n.sysctls(std::slice::from_ref(&rel))?;
        if v[0].as_deref() == Some("0") {
            return Ok(Some(Cause::ForwardingOff {
                iface: name,
                sysctl: format!("net.{}", rel.replace('/', ".")),
            }));
        }
        Ok(None)
    }

    /// rp_filter mode on `iif`: the larger of `all` and the interface's (IPv4).
    fn rp_mode(&self, ns: usize, iif: u32) -> Result<u8> {
        let n = &self.w.list[ns];
        let v = n.sysctls(&[
            "ipv4/conf/all/rp_filter".to_owned(),
            format!("ipv4/conf/{}/rp_filter", n.name(iif)),
        ])?;
        Ok(v.iter()
            .filter_map(|x| x.as_deref().and_then(|s| s.parse::<u8>().ok()))
            .max()
            .unwrap_or(0))
    }

    /// IPv4 reverse-path filtering: strict wants the route back to the source to leave by
    /// the input interface; loose wants any route back.
    fn rp_filter(&self, ns: usize, iif: u32, src: IpAddr) -> Result<Option<Cause>> {
        if src.is_ipv6() {
            return Ok(None);
        }
        let mode = self.rp_mode(ns, iif)?;
        if mode == 0 {
            return Ok(None);
        }
        let n = &self.w.list[ns];
        let back = n.h.route_get(src, RouteQuery::default());
        let cause = |back_via| Cause::RpFilter {
            iface: n.name(iif),
            mode,
            back_via,
        };
        Ok(match back {
            Err(_) => Some(cause(None)),
            Ok(r) if r.kind != RouteType::Unicast && r.kind != RouteType::Local => {
                Some(cause(None))
            }
            Ok(r) if mode == 1 && r.oif.is_some_and(|o| o != iif) => {
                Some(cause(r.oif.map(|o| n.name(o))))
            }
            Ok(_) => None,
        })
    }

    /// When no route matches but an address on a down link covers the destination, the
    /// down link is the cause (its routes went away with it).
    fn down_link_cause(&self, ns: usize, to: IpAddr) -> Result<Option<Cause>> {
        let n = &self.w.list[ns];
        for a in n.addrs()? {
            if a.net().network().contains(to)
                && let Some(l) = n.link(a.index)?
                && !l.up
            {
                return Ok(Some(Cause::LinkDown {
                    iface: l.name.clone(),
                    ns: n.label.clone(),
                }));
            }
        }
        // Addresses go with a link only when it is deleted; a down link keeps them, so the
        // check above covers `ip link set X down`.
        Ok(None)
    }

    fn neigh_state(&self, ns: usize, oif: u32, ip: IpAddr) -> Option<NeighState> {
        self.w.list[ns]
            .h
            .neighs(Some(oif))
            .ok()?
            .into_iter()
            .find(|n| n.ip == ip)
            .map(|n| n.state)
    }

    /// Check every link-layer step: links up, bridge ports forwarding, MTUs; note the FDB.
    fn check_path(&mut self, hi: usize, path: &[Step], size: u32) -> Result<Option<Cause>> {
        let w = self.w;
        let mtu_cause = |ns: usize, idx: u32| -> Result<Option<Cause>> {
            let n = &w.list[ns];
            Ok(n.link(idx)?.and_then(|l| {
                (size > l.mtu).then(|| Cause::MtuTooSmall {
                    iface: l.name.clone(),
                    ns: n.label.clone(),
                    mtu: l.mtu,
                    size,
                })
            }))
        };
        for (si, step) in path.iter().enumerate() {
            match *step {
                Step::Veth {
                    from_ns,
                    from_if,
                    to_ns,
                    to_if,
                } => {
                    let to = &w.list[to_ns];
                    self.hops[hi].link.push(format!(
                        "veth {} -> {} in {}",
                        w.list[from_ns].name(from_if),
                        to.name(to_if),
                        to.label
                    ));
                    let port_of_bridge = matches!(path.get(si + 1), Some(Step::Bridge { in_port: Some(p), .. }) if *p == to_if);
                    if let Some(l) = to.link(to_if)?
                        && !l.up
                        && !port_of_bridge
                    {
                        return Ok(Some(Cause::LinkDown {
                            iface: l.name.clone(),
                            ns: to.label.clone(),
                        }));
                    }
                    if let Some(c) = mtu_cause(to_ns, to_if)? {
                        return Ok(Some(c));
                    }
                }
                Step::Bridge {
                    ns,
                    bridge,
                    in_port,
                    out_port,
                } => {
                    let n = &w.list[ns];
                    let bname = n.name(bridge);
                    let port_down = |port: u32| -> Result<Option<Cause>> {
                        let l = n.link(port)?;
                        let state = n.h.link_port_state(port).map_err(kernel(format!(
                            "read bridge port {} in {}",
                            n.name(port),
                            n.label
                        )))?;
                        if l.is_some_and(|l| !l.up) {
                            return Ok(Some(Cause::BridgePortDown {
                                bridge: bname.clone(),
                                port: n.name(port),
                                state: "down".into(),
                            }));
                        }
                        Ok((!l2::forwards(state)).then(|| Cause::BridgePortDown {
                            bridge: bname.clone(),
                            port: n.name(port),
                            state: state.map_or("?".into(), |s| s.name()),
                        }))
                    };
                    if let Some(p) = in_port
                        && let Some(c) = port_down(p)?
                    {
                        return Ok(Some(c));
                    }
                    if let Some(b) = n.link(bridge)?
                        && !b.up
                    {
                        return Ok(Some(Cause::LinkDown {
                            iface: bname,
                            ns: n.label.clone(),
                        }));
                    }
                    let Some(out) = out_port else {
                        self.hops[hi].link.push(format!(
                            "bridge {bname} in {}: to the bridge itself",
                            n.label
                        ));
                        continue;
                    };
                    // The far end being down takes the port's carrier: name the far end.
                    if let Some(Step::Veth { to_ns, to_if, .. }) = path.get(si + 1)
                        && n.link(out)?.is_some_and(|l| l.up)
                        && let Some(far) = w.list[*to_ns].link(*to_if)?
                        && !far.up
                    {
                        return Ok(Some(Cause::LinkDown {
                            iface: far.name.clone(),
                            ns: w.list[*to_ns].label.clone(),
                        }));
                    }
                    if let Some(c) = port_down(out)? {
                        return Ok(Some(c));
                    }
                    if let Some(c) = mtu_cause(ns, out)? {
                        return Ok(Some(c));
                    }
                    let fdb = self.fdb_note(path, si, ns, bridge, out);
                    self.hops[hi].link.push(format!(
                        "bridge {bname} in {}: port {} ({fdb})",
                        n.label,
                        n.name(out)
                    ));
                }
            }
        }
        Ok(None)
    }

    /// What the bridge's FDB says about the MAC of the interface at the end of `path`.
    fn fdb_note(&self, path: &[Step], si: usize, ns: usize, bridge: u32, out: u32) -> String {
        let w = self.w;
        let target = match path.get(si + 1) {
            Some(Step::Veth { to_ns, to_if, .. }) => (*to_ns, *to_if),
            _ => (ns, out),
        };
        let Some(mac) = w.list[target.0]
            .link(target.1)
            .ok()
            .flatten()
            .and_then(|l| l.mac)
        else {
            return "no MAC".into();
        };
        let n = &w.list[ns];
        match n.h.fdb_list(Some(bridge)) {
            Ok(entries) => match entries.iter().find(|e| e.mac == mac) {
                Some(e) if e.port == out => format!("fdb: {} on this port", format_mac(&mac)),
                Some(e) => format!("fdb: {} on port {}", format_mac(&mac), n.name(e.port)),
                None => format!("{} not learnt yet: flooded", format_mac(&mac)),
            },
            Err(_) => "fdb unreadable".into(),
        }
    }

    /// The packet is local here: check the way back, then say it reaches.
    fn delivered(
        &mut self,
        ns: usize,
        hi: usize,
        src: Option<IpAddr>,
        routers: &[usize],
    ) -> Result<Verdict> {
        let n = &self.w.list[ns];
        if let Some(s) = src
            && self.hops.len() > 1
            && n.owner_of(s)?.is_none()
        {
            let back = n.h.route_get(s, RouteQuery::default());
            let ok = back.is_ok_and(|r| r.kind == RouteType::Unicast || r.kind == RouteType::Local);
            if !ok {
                let cause = match routers.last() {
                    Some(_) => Cause::MissingMasquerade {
                        src: s,
                        dst_ns: n.label.clone(),
                    },
                    None => Cause::NoRouteBack {
                        src: s,
                        dst_ns: n.label.clone(),
                    },
                };
                return Ok(stop(*routers.last().unwrap_or(&hi), cause));
            }
        }
        Ok(Verdict::Reaches {
            ns: n.label.clone(),
        })
    }
}
