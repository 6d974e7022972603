//! The checks of one hop, as methods of the walker: the firewall, policy rules, conntrack,
//! forwarding and rp_filter sysctls, down links, neighbours, the link-layer path (links up,
//! bridge ports forwarding, MTUs, the FDB), and delivery with the route back.

use std::net::IpAddr;

use warren_kernel::link::format_mac;
use warren_kernel::neigh::NeighState;
use warren_kernel::route::{RouteQuery, RouteType};

use super::{Walker, stop};
use crate::error::{Result, kernel};
use crate::firewall;
use crate::l2::{self, Step};
use crate::nat;
use crate::verdict::{Cause, Verdict};

impl Walker<'_> {
    /// The first policy rule (by priority) that sends a lookup to `table` and whose
    /// selectors fit the packet (source, destination, input interface).
    pub(super) fn rule_for(
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
    pub(super) fn conntrack_note(
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
    pub(super) fn firewall(
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

    pub(super) fn forwarding_off(&self, ns: usize, iif: u32, v6: bool) -> Result<Option<Cause>> {
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
    pub(super) fn rp_mode(&self, ns: usize, iif: u32) -> Result<u8> {
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
    pub(super) fn rp_filter(&self, ns: usize, iif: u32, src: IpAddr) -> Result<Option<Cause>> {
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
    pub(super) fn down_link_cause(&self, ns: usize, to: IpAddr) -> Result<Option<Cause>> {
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

    pub(super) fn neigh_state(&self, ns: usize, oif: u32, ip: IpAddr) -> Option<NeighState> {
        self.w.list[ns]
            .h
            .neighs(Some(oif))
            .ok()?
            .into_iter()
            .find(|n| n.ip == ip)
            .map(|n| n.state)
    }

    /// Check every link-layer step: links up, bridge ports forwarding, MTUs; note the FDB.
    pub(super) fn check_path(
        &mut self,
        hi: usize,
        path: &[Step],
        size: u32,
    ) -> Result<Option<Cause>> {
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
                    let fdb = self.fdb_note(path, ns, bridge, out);
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

    /// What the bridge's FDB says about the MAC of the interface at the end of `path` (the
    /// frame's destination, also when more bridges follow this one).
    pub(super) fn fdb_note(&self, path: &[Step], ns: usize, bridge: u32, out: u32) -> String {
        let w = self.w;
        let target = match path.last() {
            Some(Step::Veth { to_ns, to_if, .. }) => (*to_ns, *to_if),
            Some(Step::Bridge {
                ns,
                bridge,
                out_port,
                ..
            }) => (*ns, out_port.unwrap_or(*bridge)),
            None => (ns, out),
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
    pub(super) fn delivered(
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
