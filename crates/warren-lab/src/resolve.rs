//! Resolution of a checked [`Spec`] into a [`Lab`], as docs/lab.md's Semantics say:
//! inheritance, kinds, links and their ends, interface and switch-port names, switch
//! chaining, NAT uplinks; then addressing ([`crate::address`]) and each node's routes,
//! sysctls, files and commands ([`crate::finish`]). Deterministic: everything is visited in
//! file order, hash maps serve lookups only.

use crate::fxhash::{self, FxMap};

use warren_kernel::addr::IpNet;

use crate::load::Diags;
use crate::model::{End, Interface, Lab, Link, Node, NodeKind, Shaping, Switch, SwitchPort};
use crate::names;
use crate::spec::{At, EndSpec, NodeSpec, Setting, Spec};
use crate::yaml::Pos;

/// Ports one bridge takes (the kernel refuses the 1,024th).
pub const BRIDGE_PORTS: usize = 1023;
/// Most bridges one switch chains.
pub const MAX_BRIDGES: usize = 64;
/// The interface a NAT node gets towards the host.
pub const UPLINK: &str = "uplink";

/// The work-in-progress shared by the resolution steps.
pub(crate) struct Ctx<'s> {
    pub spec: &'s Spec,
    pub eff: Vec<NodeSpec>,
    pub kinds: Vec<NodeKind>,
    pub index: FxMap<&'s str, usize>,
    pub lab: Lab,
    /// For each link of `lab.links`: the spec link it comes from (`None`: a NAT uplink).
    pub link_src: Vec<Option<usize>>,
    /// Explicit addresses of each (node, interface index).
    pub explicit: FxMap<(usize, usize), Vec<At<IpNet>>>,
    /// Whether a link of the file was left out for its errors.
    pub links_dropped: bool,
    /// The layer-2 segments (set by the addressing step).
    pub segments: Vec<crate::address::Segment>,
}

/// Resolves `spec`; errors go to `d` (the returned lab is then incomplete).
pub(crate) fn resolve(spec: &Spec, d: &mut Diags) -> Lab {
    let eff = crate::inherit::effective(spec, d);
    let kinds: Vec<NodeKind> = eff
        .iter()
        .map(|e| e.kind.as_ref().map_or(NodeKind::Host, |k| k.v))
        .collect();
    let index = spec
        .nodes
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.v.as_str(), i))
        .collect();
    let name = spec.name.as_ref().map(|n| n.v.clone()).unwrap_or_default();
    let nodes = spec
        .nodes
        .iter()
        .zip(&kinds)
        .map(|((k, _), kind)| Node {
            name: k.v.clone(),
            kind: *kind,
            netns: format!("{name}-{}", k.v),
            loopback: Vec::new(),
            interfaces: Vec::new(),
            routes: Vec::new(),
            sysctls: Default::default(),
            env: Default::default(),
            files: Vec::new(),
            exec: Vec::new(),
            daemons: Vec::new(),
            after: Vec::new(),
            switch: (*kind == NodeKind::Switch).then(|| Switch {
                bridges: Vec::new(),
                ports: Vec::new(),
            }),
        })
        .collect();
    let mut cx = Ctx {
        spec,
        eff,
        kinds,
        index,
        lab: Lab {
            name,
            nodes,
            links: Vec::new(),
        },
        link_src: Vec::new(),
        explicit: fxhash::map(0),
        segments: Vec::new(),
        links_dropped: false,
    };
    check_switch_fields(&cx, d);
    links(&mut cx, d);
    unlinked_interfaces(&mut cx, d);
    uplinks(&mut cx, d);
    interface_names(&mut cx, d);
    switches(&mut cx, d);
    crate::address::assign(&mut cx, d);
    crate::finish::finish(&mut cx, d);
    cx.lab
}

fn check_switch_fields(cx: &Ctx, d: &mut Diags) {
    for (i, e) in cx.eff.iter().enumerate() {
        if cx.kinds[i] != NodeKind::Switch {
            continue;
        }
        let mut bad: Vec<(&str, Pos)> = Vec::new();
        if let Some((k, _)) = e.interfaces.first() {
            bad.push((&k.field, k.pos));
        }
        if let Some(r) = e.routes.as_ref().filter(|r| !r.v.is_empty()) {
            bad.push((&r.field, r.pos));
        }
        if let Some(l) = e
            .loopback
            .as_ref()
            .filter(|l| matches!(l.v, Setting::Set(_)))
        {
            bad.push((&l.field, l.pos));
        }
        if let Some(g) = e
            .gateway
            .as_ref()
            .filter(|g| matches!(g.v, Setting::Set(_)))
        {
            bad.push((&g.field, g.pos));
        }
        for (field, pos) in bad {
            d.error(
                pos,
                field,
                format!(
                    "{} is a switch: it has ports, not interfaces, addresses or routes",
                    cx.lab.nodes[i].name
                ),
            );
        }
    }
}

/// A link end after the node lookup.
#[derive(Clone)]
enum EndR {
    Iface(usize, String),
    Port(usize, Option<String>),
    HostBr(String),
    Macvlan(String),
}

fn end_of(cx: &Ctx, e: &At<EndSpec>, d: &mut Diags) -> Option<EndR> {
    match &e.v {
        EndSpec::Host(b) => Some(EndR::HostBr(b.clone())),
        EndSpec::Macvlan(p) => Some(EndR::Macvlan(p.clone())),
        EndSpec::Node(n, iface) => {
            let Some(&i) = cx.index.get(n.as_str()) else {
                d.error(e.pos, &e.field, format!("unknown node {n:?}"));
                return None;
            };
            match (cx.kinds[i], iface) {
                (NodeKind::Switch, p) => Some(EndR::Port(i, p.clone())),
                (_, Some(f)) => Some(EndR::Iface(i, f.clone())),
                (k, None) => {
                    d.error(
                        e.pos,
                        &e.field,
                        format!("{n} is a {}: name its interface ({n}:eth1)", kind_name(k)),
                    );
                    None
                }
            }
        }
    }
}

pub(crate) fn kind_name(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Host => "host",
        NodeKind::Router => "router",
        NodeKind::Switch => "switch",
        NodeKind::Nat => "nat",
    }
}

fn links(cx: &mut Ctx, d: &mut Diags) {
    let mut seen: FxMap<(usize, &str), Pos> = fxhash::map(2 * cx.spec.links.len());
    for (li, l) in cx.spec.links.iter().enumerate() {
        let ends: Vec<Option<EndR>> = l.ends.iter().map(|e| end_of(cx, e, d)).collect();
        let [Some(a), Some(b)] = [ends[0].clone(), ends[1].clone()] else {
            cx.links_dropped = true;
            continue;
        };
        let mut ok = true;
        let external = |e: &EndR| matches!(e, EndR::HostBr(_) | EndR::Macvlan(_));
        if external(&a) && external(&b) {
            d.error(l.pos, &l.field, "a link needs a node at one end at least");
            ok = false;
        }
        for (x, y) in [(&a, &b), (&b, &a)] {
            if matches!(x, EndR::Macvlan(_)) && !matches!(y, EndR::Iface(..)) {
                d.error(
                    l.pos,
                    &l.field,
                    "a macvlan goes into a host, router or NAT node, not a switch",
                );
                ok = false;
            }
        }
        if let (EndR::Port(s1, _), EndR::Port(s2, _)) = (&a, &b) {
            if s1 == s2 {
                d.error(l.pos, &l.field, "a switch linked to itself (a loop)");
                ok = false;
            }
        }
        if let Some(m) = &l.mode {
            if !matches!((&a, &b), (EndR::Macvlan(_), _) | (_, EndR::Macvlan(_))) {
                d.error(m.pos, &m.field, "`mode` applies to macvlan links only");
                ok = false;
            }
        }
        for (k, e) in [&a, &b].into_iter().enumerate() {
            let at = &l.ends[k];
            let key = match (e, &at.v) {
                (EndR::Iface(n, _) | EndR::Port(n, Some(_)), EndSpec::Node(_, Some(f))) => {
                    (*n, f.as_str())
                }
                _ => continue,
            };
            if let Some(first) = seen.get(&key) {
                d.error(
                    at.pos,
                    &at.field,
                    format!(
                        "duplicate endpoint {}:{} (first at line {}, column {})",
                        cx.lab.nodes[key.0].name, key.1, first.line, first.column
                    ),
                );
                ok = false;
            } else {
                seen.insert(key, at.pos);
            }
        }
        for (k, addr) in l.addresses.iter().enumerate() {
            if let Some(a) = addr {
                if !matches!(ends[k], Some(EndR::Iface(..))) {
                    d.error(a.pos, &a.field, "only a node's interface takes an address");
                    ok = false;
                }
            }
        }
        if !ok {
            cx.links_dropped = true;
            continue;
        }
        let lab_li = cx.lab.links.len();
        let mut model_ends = Vec::with_capacity(2);
        for (k, e) in [&a, &b].into_iter().enumerate() {
            let other = if k == 0 { &b } else { &a };
            let end = match e {
                EndR::Iface(n, f) => {
                    let node = &mut cx.lab.nodes[*n];
                    let spec_if = cx.eff[*n].interfaces.iter().find(|(k, _)| &k.v == f);
                    let mut explicit: Vec<At<IpNet>> = Vec::new();
                    if let Some(Some(a)) = l.addresses.get(k) {
                        explicit.push(a.clone());
                    }
                    if let Some((_, s)) = spec_if {
                        explicit.extend(s.addresses.iter().cloned());
                    }
                    let idx = node.interfaces.len();
                    if !explicit.is_empty() {
                        cx.explicit.insert((*n, idx), explicit);
                    }
                    node.interfaces.push(Interface {
                        name: f.clone(),
                        ifname: String::new(),
                        altnames: Vec::new(),
                        addresses: Vec::new(),
                        mtu: spec_if.and_then(|(_, s)| s.mtu).or(l.mtu),
                        mac: spec_if.and_then(|(_, s)| s.mac.clone()),
                        link: lab_li,
                    });
                    End::Node {
                        node: node.name.clone(),
                        interface: f.clone(),
                    }
                }
                EndR::Port(n, p) => {
                    let sw = cx.lab.nodes[*n].switch.as_mut().expect("a switch");
                    let port = sw.ports.len();
                    sw.ports.push(SwitchPort {
                        ifname: p.clone().unwrap_or_default(),
                        altnames: Vec::new(),
                        bridge: 0,
                        link: lab_li,
                    });
                    End::Switch {
                        node: cx.lab.nodes[*n].name.clone(),
                        port,
                    }
                }
                EndR::HostBr(b) => {
                    let (node, iface) = match other {
                        EndR::Iface(n, f) => (cx.lab.nodes[*n].name.clone(), f.clone()),
                        EndR::Port(n, _) => (cx.lab.nodes[*n].name.clone(), format!("l{li}")),
                        _ => unreachable!("checked above"),
                    };
                    End::HostBridge {
                        bridge: b.clone(),
                        ifname: names::host_side(&cx.lab.name, &node, &iface),
                    }
                }
                EndR::Macvlan(p) => End::Macvlan {
                    parent: p.clone(),
                    mode: l.mode.as_ref().map_or("bridge".into(), |m| m.v.clone()),
                },
            };
            model_ends.push(end);
        }
        let shaping = (l.rate_bps.is_some() || l.delay_us.is_some() || l.loss_percent.is_some())
            .then_some(Shaping {
                rate_bps: l.rate_bps,
                delay_us: l.delay_us,
                loss_percent: l.loss_percent,
            });
        let b_end = model_ends.pop().expect("two ends");
        let a_end = model_ends.pop().expect("two ends");
        cx.lab.links.push(Link {
            ends: [a_end, b_end],
            mtu: l.mtu,
            shaping,
        });
        cx.link_src.push(Some(li));
    }
}

/// `interfaces.IF` of a node that no link uses.
fn unlinked_interfaces(cx: &mut Ctx, d: &mut Diags) {
    if cx.links_dropped || cx.spec.links.len() < cx.spec.link_count {
        return; // the interface may well be in a link with an error
    }
    for (i, e) in cx.eff.iter().enumerate() {
        if cx.kinds[i] == NodeKind::Switch {
            continue;
        }
        let node = &cx.lab.nodes[i];
        for (k, _) in &e.interfaces {
            let uplink = cx.kinds[i] == NodeKind::Nat && k.v == UPLINK;
            if !uplink && !node.interfaces.iter().any(|f| f.name == k.v) {
                d.error(
                    k.pos,
                    &k.field,
                    format!("interface {:?} is an end of no link", k.v),
                );
            }
        }
    }
}

/// Each NAT node's uplink to the host: one more link, after the file's.
fn uplinks(cx: &mut Ctx, d: &mut Diags) {
    for i in 0..cx.lab.nodes.len() {
        if cx.kinds[i] != NodeKind::Nat {
            continue;
        }
        let name = cx.lab.nodes[i].name.clone();
        if let Some(f) = cx.lab.nodes[i].interfaces.iter().find(|f| f.name == UPLINK) {
            let l = &cx.spec.links[cx.link_src[f.link].unwrap_or(0)];
            d.error(
                l.pos,
                &l.field,
                format!("{name} is a NAT node: its interface {UPLINK:?} is its uplink to the host"),
            );
            continue;
        }
        let li = cx.lab.links.len();
        let spec_if = cx.eff[i].interfaces.iter().find(|(k, _)| k.v == UPLINK);
        if let Some(a) = spec_if.and_then(|(_, s)| s.addresses.first()) {
            d.error(
                a.pos,
                &a.field,
                "a NAT uplink's addresses come from pools.uplink",
            );
        }
        let idx = cx.lab.nodes[i].interfaces.len();
        cx.explicit.insert(
            (i, idx),
            spec_if
                .map(|(_, s)| s.addresses.clone())
                .unwrap_or_default(),
        );
        cx.lab.nodes[i].interfaces.push(Interface {
            name: UPLINK.into(),
            ifname: String::new(),
            altnames: Vec::new(),
            addresses: Vec::new(),
            mtu: spec_if.and_then(|(_, s)| s.mtu),
            mac: spec_if.and_then(|(_, s)| s.mac.clone()),
            link: li,
        });
        cx.lab.links.push(Link {
            ends: [
                End::Node {
                    node: name.clone(),
                    interface: UPLINK.into(),
                },
                End::HostUplink {
                    ifname: names::host_side(&cx.lab.name, &name, UPLINK),
                    address: IpNet::host("0.0.0.0".parse().expect("an address")),
                },
            ],
            mtu: None,
            shaping: None,
        });
        cx.link_src.push(None);
    }
}

/// Kernel names (≤ 15 bytes) and altnames of every node interface; clashes reported.
fn interface_names(cx: &mut Ctx, d: &mut Diags) {
    for (i, node) in cx.lab.nodes.iter_mut().enumerate() {
        let mut taken: FxMap<String, String> = fxhash::map(node.interfaces.len());
        for f in &mut node.interfaces {
            f.ifname = names::short(&f.name, &node.name);
            if f.name.len() > names::IFNAME_MAX {
                f.altnames.push(f.name.clone());
            }
            f.altnames.push(format!("{}:{}", node.name, f.name));
            if let Some(other) = taken.insert(f.ifname.clone(), f.name.clone()) {
                let (pos, field) = cx.link_src[f.link].map_or_else(
                    || (cx.eff[i].pos, format!("nodes.{}", node.name)),
                    |s| (cx.spec.links[s].pos, cx.spec.links[s].field.clone()),
                );
                d.error(
                    pos,
                    &field,
                    format!(
                        "interface {:?} of {} gets the kernel name {:?}, as {:?} does: rename one",
                        f.name, node.name, f.ifname, other
                    ),
                );
            }
        }
    }
}

fn reserved_port_name(s: &str) -> bool {
    if s == "lo" {
        return true;
    }
    let Some(rest) = s.strip_prefix("br") else {
        return false;
    };
    let digits = rest.trim_end_matches("-up").trim_end_matches("-dn");
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Switch ports: names from the far end, bridges chained past [`BRIDGE_PORTS`].
fn switches(cx: &mut Ctx, d: &mut Diags) {
    for i in 0..cx.lab.nodes.len() {
        if cx.kinds[i] != NodeKind::Switch {
            continue;
        }
        let sw_name = cx.lab.nodes[i].name.clone();
        let nports = cx.lab.nodes[i].switch.as_ref().map_or(0, |s| s.ports.len());
        // Labels of the far ends.
        let mut labels = Vec::with_capacity(nports);
        for p in 0..nports {
            let port = &cx.lab.nodes[i].switch.as_ref().expect("a switch").ports[p];
            let link = &cx.lab.links[port.link];
            let explicit = (!port.ifname.is_empty()).then(|| port.ifname.clone());
            let far = link
                .ends
                .iter()
                .find(
                    |e| !matches!(e, End::Switch { node, port: q } if *node == sw_name && *q == p),
                )
                .expect("a far end");
            let (label, alt) = match far {
                End::Node { node, interface } => {
                    (format!("{node}-{interface}"), format!("{node}:{interface}"))
                }
                // Another switch: named after it and the link (the same from both sides).
                End::Switch { node, .. } => (
                    format!("{node}-l{}", port.link),
                    format!("{node}:l{}", port.link),
                ),
                End::HostBridge { ifname, .. } => {
                    (format!("host-{ifname}"), format!("host:{ifname}"))
                }
                End::Macvlan { .. } | End::HostUplink { .. } => unreachable!("refused above"),
            };
            labels.push((explicit, label, alt));
        }
        let mut used = fxhash::set::<String>(nports);
        for (p, (explicit, label, alt)) in labels.into_iter().enumerate() {
            let link = cx.lab.nodes[i].switch.as_ref().expect("a switch").ports[p].link;
            let mut altnames = vec![alt];
            let name = if let Some(e) = explicit {
                let short = names::short(&e, &sw_name);
                if short != e {
                    altnames.insert(0, e.clone());
                }
                short
            } else {
                let mut n = names::short(&label, &sw_name);
                if used.contains(&n) || reserved_port_name(&n) {
                    n = format!(
                        "p{}",
                        names::hash32(&[&sw_name, &label, &link.to_string()], 14)
                    );
                }
                n
            };
            if reserved_port_name(&name) || !used.insert(name.clone()) {
                let (pos, field) = cx.link_src[link].map_or_else(
                    || (cx.eff[i].pos, format!("nodes.{sw_name}")),
                    |s| (cx.spec.links[s].pos, cx.spec.links[s].field.clone()),
                );
                d.error(
                    pos,
                    &field,
                    format!("port name {name:?} of switch {sw_name} is taken (or reserved: lo, brN, brN-up, brN-dn)"),
                );
            }
            let sw = cx.lab.nodes[i].switch.as_mut().expect("a switch");
            sw.ports[p].ifname = name;
            sw.ports[p].altnames = altnames;
        }
        // Chaining: the first and last bridges lose one port to the joining veth, the
        // middle ones two.
        let nbridges = bridges_for(nports);
        if nbridges > MAX_BRIDGES {
            let (k, _) = &cx.spec.nodes[i];
            d.error(
                k.pos,
                &k.field,
                format!(
                    "switch {sw_name} has {nports} ports, past the {} that {MAX_BRIDGES} chained bridges hold",
                    capacity(MAX_BRIDGES)
                ),
            );
            continue;
        }
        let sw = cx.lab.nodes[i].switch.as_mut().expect("a switch");
        sw.bridges = (0..nbridges).map(|b| format!("br{b}")).collect();
        let mut bridge = 0;
        let mut filled = 0;
        for port in &mut sw.ports {
            let room = if nbridges == 1 {
                BRIDGE_PORTS
            } else if bridge == 0 || bridge == nbridges - 1 {
                BRIDGE_PORTS - 1
            } else {
                BRIDGE_PORTS - 2
            };
            if filled == room {
                bridge += 1;
                filled = 0;
            }
            port.bridge = bridge;
            filled += 1;
        }
    }
}

/// Ports that `n` chained bridges hold.
pub(crate) fn capacity(n: usize) -> usize {
    match n {
        0 => 0,
        1 => BRIDGE_PORTS,
        _ => 2 * (BRIDGE_PORTS - 1) + (n - 2) * (BRIDGE_PORTS - 2),
    }
}

/// Bridges needed for `ports` ports (one at least).
pub(crate) fn bridges_for(ports: usize) -> usize {
    let mut n = 1;
    while capacity(n) < ports {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chaining_accounts_for_the_joining_veths() {
        assert_eq!(bridges_for(0), 1);
        assert_eq!(bridges_for(1023), 1);
        assert_eq!(bridges_for(1024), 2);
        assert_eq!(bridges_for(2044), 2);
        assert_eq!(bridges_for(2045), 3);
        assert_eq!(capacity(3), 1022 + 1021 + 1022);
        assert!(reserved_port_name("br0"));
        assert!(reserved_port_name("br12-up"));
        assert!(!reserved_port_name("bravo"));
    }
}
