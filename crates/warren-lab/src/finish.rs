//! The last step of the resolution, per node: routes (written ones, computed default
//! routes), sysctls (forwarding on routers and NAT nodes), environment, files (the generated
//! `/etc/hosts` included), commands, daemons and the startup order (`after`, no cycles).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use warren_kernel::addr::{Family, IpNet};

use crate::address::SegKind;
use crate::fxhash::{self, FxMap, FxSet};
use crate::load::Diags;
use crate::model::{Daemon, End, File, Node, NodeKind, Route};
use crate::resolve::{Ctx, UPLINK};
use crate::spec::Setting;

/// Sysctls every router and NAT node gets (unless the file sets them).
pub const FORWARDING: [&str; 2] = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];

pub(crate) fn finish(cx: &mut Ctx, d: &mut Diags) {
    routes(cx, d);
    for (i, e) in cx.eff.iter().enumerate() {
        let kind = cx.kinds[i];
        let node = &mut cx.lab.nodes[i];
        let mut sysctls: BTreeMap<String, String> = BTreeMap::new();
        if matches!(kind, NodeKind::Router | NodeKind::Nat) {
            for s in FORWARDING {
                sysctls.insert(s.into(), "1".into());
            }
        }
        for (k, v) in &e.sysctls {
            sysctls.insert(k.v.clone(), v.clone());
        }
        node.sysctls = sysctls;
        node.env = e
            .env
            .iter()
            .map(|(k, v)| (k.v.clone(), v.clone()))
            .collect();
        node.files = e
            .files
            .iter()
            .map(|(k, f)| File {
                path: k.v.clone(),
                content: f.content.clone(),
                mode: f.mode,
                lab_hosts: false,
            })
            .collect();
        // A switch runs nothing unless told to: it gets /etc/hosts only with commands.
        let runs = !(e.exec.as_ref().is_none_or(|x| x.v.is_empty())
            && e.daemons.as_ref().is_none_or(|x| x.v.is_empty()));
        let want_hosts = e.hosts.as_ref().is_none_or(|h| h.v) && (kind != NodeKind::Switch || runs);
        if want_hosts && !node.files.iter().any(|f| f.path == "/etc/hosts") {
            node.files.push(File {
                path: "/etc/hosts".into(),
                content: String::new(),
                mode: 0o644,
                lab_hosts: true,
            });
        }
        node.exec = e.exec.as_ref().map(|x| x.v.clone()).unwrap_or_default();
        let mut names: FxMap<&str, &crate::spec::At<String>> = fxhash::map(0);
        for dm in e.daemons.iter().flat_map(|x| &x.v) {
            if let Some(first) = names.insert(&dm.v.name.v, &dm.v.name) {
                d.error(
                    dm.v.name.pos,
                    &dm.v.name.field,
                    format!(
                        "duplicate daemon name {:?} (first at line {}, column {})",
                        dm.v.name.v, first.pos.line, first.pos.column
                    ),
                );
            }
            node.daemons.push(Daemon {
                name: dm.v.name.v.clone(),
                command: dm.v.command.clone(),
                ready: dm.v.ready.clone(),
                ready_timeout_ms: dm.v.ready_timeout_ms,
            });
        }
    }
    after(cx, d);
}

fn routes(cx: &mut Ctx, d: &mut Diags) {
    // The gateways of each LAN: its first router or NAT interface with an IPv4 address, and
    // its first with a global IPv6 address.
    let mut gw_of_seg: Vec<[Option<IpAddr>; 2]> = Vec::with_capacity(cx.segments.len());
    let mut seg_of: FxMap<(usize, usize), usize> = fxhash::map(cx.lab.nodes.len());
    for (s, seg) in cx.segments.iter().enumerate() {
        let gw = |fam: Family| {
            (seg.kind == SegKind::Lan)
                .then(|| {
                    seg.members.iter().find_map(|&(i, k)| {
                        (cx.kinds[i] != NodeKind::Host)
                            .then(|| first_global(&cx.lab.nodes[i].interfaces[k].addresses, fam))
                            .flatten()
                    })
                })
                .flatten()
        };
        gw_of_seg.push([gw(Family::V4), gw(Family::V6)]);
        for &m in &seg.members {
            seg_of.insert(m, s);
        }
    }
    for (i, e) in cx.eff.iter().enumerate() {
        let kind = cx.kinds[i];
        if kind == NodeKind::Switch {
            continue;
        }
        let node = &mut cx.lab.nodes[i];
        let mut routes: Vec<Route> = Vec::new();
        for r in e.routes.iter().flat_map(|r| &r.v) {
            if let Some(dev) = &r.v.dev {
                if dev != "lo" && !node.interfaces.iter().any(|f| &f.name == dev) {
                    d.error(
                        r.pos,
                        &r.field,
                        format!("{} has no interface {dev:?}", node.name),
                    );
                }
            }
            routes.push(r.v.clone());
        }
        let has_default = |routes: &[Route], fam: Family| {
            routes
                .iter()
                .any(|r| r.to.is_default() && r.to.family() == fam)
        };
        // A default route via `gw`, unless one of its family is written already.
        let default_via = |routes: &mut Vec<Route>, gw: IpAddr| {
            let fam = Family::of(&gw);
            if !has_default(routes, fam) {
                routes.push(Route {
                    to: IpNet::default_route(fam),
                    via: Some(gw),
                    dev: None,
                });
            }
        };
        let gateway = match (&e.gateway, kind) {
            (Some(g), _) => g.v.clone(),
            (None, NodeKind::Host) if cx.spec.auto_addresses => Setting::Auto,
            (None, _) => Setting::None,
        };
        match gateway {
            Setting::None => {}
            Setting::Auto => {
                let gw = (0..node.interfaces.len())
                    .find_map(|k| seg_of.get(&(i, k)).and_then(|&s| gw_of_seg[s][0]));
                if let Some(gw) = gw {
                    default_via(&mut routes, gw);
                }
                // IPv6: the first LAN whose gateway is on one of this node's own subnets
                // there (a node without an IPv6 address on it has no way to that gateway).
                let gw6 = (0..node.interfaces.len()).find_map(|k| {
                    let gw = seg_of.get(&(i, k)).and_then(|&s| gw_of_seg[s][1])?;
                    node.interfaces[k]
                        .addresses
                        .iter()
                        .any(|a| a.contains(gw))
                        .then_some(gw)
                });
                if let Some(gw) = gw6 {
                    default_via(&mut routes, gw);
                }
            }
            Setting::Set(gw) => {
                let on_link = node
                    .interfaces
                    .iter()
                    .flat_map(|f| &f.addresses)
                    .any(|a| a.contains(gw));
                if !on_link {
                    if let Some(g) = &e.gateway {
                        d.error(
                            g.pos,
                            &g.field,
                            format!("gateway {gw} is on none of {}'s subnets", node.name),
                        );
                    }
                }
                default_via(&mut routes, gw);
            }
        }
        if kind == NodeKind::Nat && !has_default(&routes, Family::V4) {
            let uplink = node.interfaces.iter().find(|f| f.name == UPLINK);
            let host = uplink.and_then(|f| match &cx.lab.links[f.link].ends[1] {
                End::HostUplink { address, .. } => Some(address.addr),
                _ => None,
            });
            if let Some(host) = host.filter(|h| !h.is_unspecified()) {
                routes.push(Route {
                    to: IpNet::default_route(Family::V4),
                    via: Some(host),
                    dev: Some(UPLINK.into()),
                });
            }
        }
        node.routes = routes;
    }
}

/// The first address of family `fam` that is not an IPv6 link-local.
fn first_global(addrs: &[IpNet], fam: Family) -> Option<IpAddr> {
    addrs
        .iter()
        .find(|a| a.family() == fam && crate::address::routable(a))
        .map(|a| a.addr)
}

/// The lab's `/etc/hosts`: every node by name (a router by its loopback) once per address
/// family, every interface address as `NODE-IF`.
pub(crate) fn hosts_file(lab: &str, nodes: &[Node]) -> String {
    let mut s = String::with_capacity(64 + nodes.len() * 40);
    s.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    let _ = writeln!(s, "# lab {lab}, written by warren");
    let slot = |a: &IpNet| usize::from(a.family() == Family::V6);
    for n in nodes {
        // Whether the node's name is given yet, for IPv4 and for IPv6.
        let mut named = [false; 2];
        for a in &n.loopback {
            if std::mem::replace(&mut named[slot(a)], true) {
                let _ = writeln!(s, "{}\t{}-lo", a.addr, n.name);
            } else {
                let _ = writeln!(s, "{}\t{}", a.addr, n.name);
            }
        }
        for f in &n.interfaces {
            for a in &f.addresses {
                if std::mem::replace(&mut named[slot(a)], true) {
                    let _ = writeln!(s, "{}\t{}-{}", a.addr, n.name, f.name);
                } else {
                    let _ = writeln!(s, "{}\t{} {}-{}", a.addr, n.name, n.name, f.name);
                }
            }
        }
    }
    s
}

/// `after`: known nodes, not the node itself, no cycles.
fn after(cx: &mut Ctx, d: &mut Diags) {
    let n = cx.lab.nodes.len();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in cx.eff.iter().enumerate() {
        let Some(list) = &e.after else { continue };
        let mut seen: FxSet<usize> = fxhash::set(list.v.len());
        for a in &list.v {
            match cx.index.get(a.v.as_str()) {
                None => d.error(a.pos, &a.field, format!("unknown node {:?}", a.v)),
                Some(&j) if j == i => d.error(a.pos, &a.field, "a node cannot start after itself"),
                Some(&j) => {
                    if seen.insert(j) {
                        edges[i].push(j);
                        cx.lab.nodes[i].after.push(a.v.clone());
                    }
                }
            }
        }
    }
    // Iterative depth-first search; a back edge closes a cycle, reported once at the
    // `after` of the cycle's first node in the file.
    let mut state = vec![0u8; n]; // 0 new, 1 on the stack, 2 done
    let mut reported: FxSet<Vec<usize>> = fxhash::set(0);
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&w) = edges[v].get(*next) {
                *next += 1;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => {
                        let at = stack.iter().position(|&(x, _)| x == w).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[at..].iter().map(|&(x, _)| x).collect();
                        let mut key = cycle.clone();
                        key.sort_unstable();
                        if reported.insert(key) {
                            let first = *cycle.iter().min().unwrap_or(&w);
                            let rot = cycle.iter().position(|&x| x == first).unwrap_or(0);
                            cycle.rotate_left(rot);
                            cycle.push(first);
                            let names: Vec<&str> = cycle
                                .iter()
                                .map(|&x| cx.lab.nodes[x].name.as_str())
                                .collect();
                            let (pos, field) = cx.eff[first]
                                .after
                                .as_ref()
                                .map_or((cx.eff[first].pos, String::new()), |a| {
                                    (a.pos, a.field.clone())
                                });
                            d.error(
                                pos,
                                &field,
                                format!("cycle in startup order: {}", names.join(" after ")),
                            );
                        }
                    }
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
}
