//! Addressing: the lab's layer-2 segments (a switch with everything linked to it, chained
//! switches merged; or one direct link), each a LAN or a point-to-point link, and the
//! addresses of their interfaces from the pools; routers' loopbacks; NAT uplinks.

use crate::fxhash::{self, FxMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use warren_kernel::addr::{Family, IpNet};

use crate::load::Diags;
use crate::model::{End, NodeKind};
use crate::resolve::Ctx;
use crate::spec::{At, LAN6_PREFIX, P2P6_PREFIX, Setting};
use crate::yaml::Pos;

/// What a segment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegKind {
    /// A switch, or a direct link with a host: a `/lan_prefix` of `pools.lan`.
    Lan,
    /// A direct link between routers or NAT nodes: a `/p2p_prefix` of `pools.p2p`.
    P2p,
    /// Joined to the host (a host bridge or a macvlan): explicit addresses only.
    External,
}

/// A layer-2 segment: its kind and its node interfaces `(node, interface index)`.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub kind: SegKind,
    pub members: Vec<(usize, usize)>,
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[rb.max(ra)] = ra.min(rb);
        }
    }
}

/// The segments, in the order of their first link.
pub(crate) fn segments(cx: &Ctx) -> Vec<Segment> {
    let nodes = &cx.lab.nodes;
    // Items: every node (a switch is one item), then every interface.
    let mut base = Vec::with_capacity(nodes.len());
    let mut total = nodes.len();
    for n in nodes {
        base.push(total);
        total += n.interfaces.len();
    }
    let index: FxMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut iface_index: FxMap<(usize, &str), usize> = fxhash::map(total);
    for (i, n) in nodes.iter().enumerate() {
        for (k, f) in n.interfaces.iter().enumerate() {
            iface_index.insert((i, f.name.as_str()), base[i] + k);
        }
    }
    let item = |e: &End| -> Option<usize> {
        match e {
            End::Switch { node, .. } => index.get(node.as_str()).copied(),
            End::Node { node, interface } => {
                let i = *index.get(node.as_str())?;
                iface_index.get(&(i, interface.as_str())).copied()
            }
            _ => None,
        }
    };
    let mut uf = UnionFind((0..total).collect());
    let mut external = vec![false; total];
    let mut items_of_link = Vec::with_capacity(cx.lab.links.len());
    for (li, l) in cx.lab.links.iter().enumerate() {
        if cx.link_src[li].is_none() {
            items_of_link.push(None);
            continue;
        }
        let a = item(&l.ends[0]);
        let b = item(&l.ends[1]);
        match (a, b) {
            (Some(a), Some(b)) => uf.union(a, b),
            (Some(x), None) | (None, Some(x)) => external[x] = true,
            (None, None) => {}
        }
        items_of_link.push(a.or(b));
    }
    // Per root: the segment it is (by first link), a switch in it, a host in it.
    let mut seg_of_root: FxMap<usize, usize> = fxhash::map(16);
    let mut segs: Vec<(Segment, bool, bool)> = Vec::new();
    for x in items_of_link.into_iter().flatten() {
        let r = uf.find(x);
        seg_of_root.entry(r).or_insert_with(|| {
            segs.push((
                Segment {
                    kind: SegKind::Lan,
                    members: Vec::new(),
                },
                false,
                false,
            ));
            segs.len() - 1
        });
    }
    for (x, ext) in external.iter().enumerate() {
        if *ext {
            let r = uf.find(x);
            if let Some(&s) = seg_of_root.get(&r) {
                segs[s].0.kind = SegKind::External;
            }
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        if n.kind == NodeKind::Switch {
            let r = uf.find(i);
            if let Some(&s) = seg_of_root.get(&r) {
                segs[s].1 = true;
            }
        }
        for k in 0..n.interfaces.len() {
            let r = uf.find(base[i] + k);
            if let Some(&s) = seg_of_root.get(&r) {
                segs[s].0.members.push((i, k));
                segs[s].2 |= n.kind == NodeKind::Host;
            }
        }
    }
    segs.into_iter()
        .map(|(mut s, switch, host)| {
            if s.kind != SegKind::External && !switch && !host && s.members.len() == 2 {
                s.kind = SegKind::P2p;
            }
            // Routers and NAT nodes first, in node order; then hosts.
            s.members
                .sort_by_key(|&(i, k)| (nodes[i].kind == NodeKind::Host, i, k));
            s
        })
        .collect()
}

/// An address as a number (IPv4 in the low 32 bits).
fn num(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of family `fam` whose number is `n`.
fn from_num(fam: Family, n: u128) -> Option<IpAddr> {
    Some(match fam {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(n).ok()?)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(n)),
    })
}

/// Whether `a` is an address a pool gives or an explicit one counts for its subnet: not an
/// IPv6 link-local (`fe80::/10`), which every interface has anyway.
pub(crate) fn routable(a: &IpNet) -> bool {
    a.addr.is_ipv4() || !warren_kernel::link::is_link_local(&a.addr)
}

/// Allocates subnets of one pool in order, past every explicit address (the numbers of the
/// pool's family, sorted).
struct Allocator<'a> {
    /// The pool, with where the file gives it.
    pool: &'a At<IpNet>,
    prefix: u8,
    next: u128,
    explicit: &'a [u128],
    /// Whether the pool's exhaustion was reported.
    exhausted: bool,
}

impl<'a> Allocator<'a> {
    /// Subnets of `/prefix` from `pool`, the `first` (0 or, for loopbacks, 1) onwards.
    fn new(pool: &'a At<IpNet>, prefix: u8, first: u128, explicit: &'a [u128]) -> Self {
        Allocator {
            pool,
            prefix,
            next: first,
            explicit,
            exhausted: false,
        }
    }

    /// The next subnet; the first time there is none, an error for what it was `for_what`.
    fn take(&mut self, d: &mut Diags, for_what: &str) -> Option<IpNet> {
        let net = self.next();
        if net.is_none() && !std::mem::replace(&mut self.exhausted, true) {
            let pool = self.pool;
            let unit = if self.prefix == pool.v.family().max_prefix() {
                "address".to_owned()
            } else {
                format!("/{}", self.prefix)
            };
            d.error(
                pool.pos,
                &pool.field,
                format!("pool {} has no {unit} left for {for_what}", pool.v),
            );
        }
        net
    }

    fn next(&mut self) -> Option<IpNet> {
        let pool = self.pool.v;
        let fam = pool.family();
        let base = num(pool.network().addr);
        let size = 1u128.checked_shl(u32::from(fam.max_prefix() - self.prefix))?;
        let end = num(pool.last());
        loop {
            let lo = base.checked_add(self.next.checked_mul(size)?)?;
            let hi = lo.checked_add(size - 1)?;
            if hi > end {
                return None;
            }
            self.next += 1;
            let start = self.explicit.partition_point(|&a| a < lo);
            if self.explicit.get(start).is_some_and(|&a| a <= hi) {
                continue;
            }
            return Some(IpNet {
                addr: from_num(fam, lo)?,
                prefix: self.prefix,
            });
        }
    }
}

/// Host addresses of a subnet that interfaces may take: all of a /31, else all but the
/// network and broadcast addresses.
fn usable(net: IpNet) -> (u128, u128) {
    let bits = u32::from(net.family().max_prefix() - net.prefix);
    let size = 1u128.checked_shl(bits).unwrap_or(u128::MAX);
    match bits {
        0 => (0, 0),
        1 => (0, 1),
        _ => (1, size.saturating_sub(2)),
    }
}

/// Assigns every address of the lab.
pub(crate) fn assign(cx: &mut Ctx, d: &mut Diags) {
    let pools = &cx.spec.pools;
    // Every pair of pools (those of different families never overlap).
    let all: Vec<&At<IpNet>> = [&pools.lan, &pools.p2p, &pools.loopback, &pools.uplink]
        .into_iter()
        .chain(
            [&pools.lan6, &pools.p2p6, &pools.loopback6]
                .into_iter()
                .flatten(),
        )
        .collect();
    for (x, a) in all.iter().enumerate() {
        for b in &all[x + 1..] {
            if a.v.contains(b.v.addr) || b.v.contains(a.v.addr) {
                d.error(
                    b.pos,
                    &b.field,
                    format!("pool {} overlaps {} ({})", b.v, a.field, a.v),
                );
            }
        }
    }
    // Every explicit address, once (duplicates reported).
    let mut taken: FxMap<IpAddr, (String, Pos)> = fxhash::map(cx.explicit.len());
    let mut claim = |a: &At<IpNet>, d: &mut Diags| {
        if let Some((field, first)) = taken.get(&a.v.addr) {
            d.error(
                a.pos,
                &a.field,
                format!(
                    "address {} is already {field}'s (line {}, column {})",
                    a.v.addr, first.line, first.column
                ),
            );
        } else {
            taken.insert(a.v.addr, (a.field.clone(), a.pos));
        }
    };
    let mut explicit_keys: Vec<&(usize, usize)> = cx.explicit.keys().collect();
    explicit_keys.sort();
    for key in explicit_keys {
        for a in &cx.explicit[key] {
            claim(a, d);
        }
    }
    let loopbacks: Vec<Option<&At<Setting<IpNet>>>> =
        cx.eff.iter().map(|e| e.loopback.as_ref()).collect();
    let mut loop_explicit = Vec::new();
    for l in loopbacks.iter().flatten() {
        if let Setting::Set(n) = &l.v {
            let a = At {
                v: IpNet::host(n.addr),
                pos: l.pos,
                field: l.field.clone(),
            };
            claim(&a, d);
            if n.family() == warren_kernel::addr::Family::V4 && !pools.loopback.v.contains(n.addr) {
                d.error(
                    l.pos,
                    &l.field,
                    format!(
                        "address {} is outside its pool {} (pools.loopback)",
                        n.addr, pools.loopback.v
                    ),
                );
            }
            loop_explicit.push(a.v);
        }
    }
    let explicit_of = |fam: Family| -> Vec<u128> {
        let mut v: Vec<u128> = taken
            .keys()
            .filter(|a| Family::of(a) == fam)
            .map(|a| num(*a))
            .collect();
        v.sort_unstable();
        v
    };
    let (explicit_v4, explicit_v6) = (explicit_of(Family::V4), explicit_of(Family::V6));

    let segs = segments(cx);
    let mut lan4 = Allocator::new(&pools.lan, pools.lan_prefix.v, 0, &explicit_v4);
    let mut p2p4 = Allocator::new(&pools.p2p, pools.p2p_prefix.v, 0, &explicit_v4);
    let mut lan6 = pools
        .lan6
        .as_ref()
        .map(|p| Allocator::new(p, LAN6_PREFIX, 0, &explicit_v6));
    let mut p2p6 = pools
        .p2p6
        .as_ref()
        .map(|p| Allocator::new(p, P2P6_PREFIX, 0, &explicit_v6));
    for seg in &segs {
        // Every member starts with its explicit addresses.
        for &(i, k) in &seg.members {
            let ex = cx
                .explicit
                .get(&(i, k))
                .map(|v| v.iter().map(|a| a.v).collect());
            cx.lab.nodes[i].interfaces[k].addresses = ex.unwrap_or_default();
        }
        let (v4, v6) = match seg.kind {
            SegKind::External => continue,
            SegKind::Lan => (&mut lan4, lan6.as_mut()),
            SegKind::P2p => (&mut p2p4, p2p6.as_mut()),
        };
        fill(cx, d, seg, Family::V4, v4, &taken);
        if let Some(v6) = v6 {
            fill(cx, d, seg, Family::V6, v6, &taken);
        }
    }
    loopbacks_and_uplinks(cx, d, (&explicit_v4, &explicit_v6), &loopbacks_of(cx));
    cx.segments = segs;
}

/// One family's addresses on one segment: the explicit ones must lie in the pool; members
/// without one of that family get one from the segment's subnet, the subnet of its explicit
/// addresses or else the pool's next.
fn fill(
    cx: &mut Ctx,
    d: &mut Diags,
    seg: &Segment,
    fam: Family,
    alloc: &mut Allocator<'_>,
    taken: &FxMap<IpAddr, (String, Pos)>,
) {
    let pool = alloc.pool;
    let mut subnet: Option<IpNet> = None;
    let mut need = Vec::new();
    for &(i, k) in &seg.members {
        let ex = cx
            .explicit
            .get(&(i, k))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut has = false;
        for a in ex.iter().filter(|a| a.v.family() == fam && routable(&a.v)) {
            has = true;
            if !pool.v.contains(a.v.addr) {
                d.error(
                    a.pos,
                    &a.field,
                    format!(
                        "address {} is outside its pool {} ({})",
                        a.v, pool.v, pool.field
                    ),
                );
            }
            subnet.get_or_insert(a.v.network());
        }
        if !has {
            need.push((i, k));
        }
    }
    if need.is_empty() || !cx.spec.auto_addresses {
        return;
    }
    let Some(subnet) = subnet.or_else(|| alloc.take(d, "the lab's segments")) else {
        return;
    };
    let (first, last) = usable(subnet);
    let mut n = first;
    for (i, k) in need {
        let addr = loop {
            if n > last {
                break None;
            }
            let a = subnet.nth(n);
            n += 1;
            if let Some(a) = a.filter(|a| !taken.contains_key(a)) {
                break Some(a);
            }
        };
        let Some(addr) = addr else {
            let link = cx.lab.nodes[i].interfaces[k].link;
            let (pos, field) = cx.link_src[link].map_or((Pos::default(), String::new()), |s| {
                (cx.spec.links[s].pos, cx.spec.links[s].field.clone())
            });
            d.error(
                pos,
                &field,
                format!(
                    "{} interfaces on one segment: more than its subnet {subnet} holds",
                    seg.members.len(),
                ),
            );
            break;
        };
        cx.lab.nodes[i].interfaces[k].addresses.push(IpNet {
            addr,
            prefix: subnet.prefix,
        });
    }
}

fn loopbacks_of(cx: &Ctx) -> Vec<Setting<IpNet>> {
    cx.eff
        .iter()
        .zip(&cx.kinds)
        .map(|(e, k)| match (&e.loopback, k) {
            (Some(l), _) => l.v.clone(),
            (None, NodeKind::Router) => Setting::Auto,
            (None, _) => Setting::None,
        })
        .collect()
}

fn loopbacks_and_uplinks(
    cx: &mut Ctx,
    d: &mut Diags,
    (explicit_v4, explicit_v6): (&[u128], &[u128]),
    lbs: &[Setting<IpNet>],
) {
    let pools = &cx.spec.pools;
    let mut lo = Allocator::new(&pools.loopback, 32, 1, explicit_v4);
    let mut lo6 = pools
        .loopback6
        .as_ref()
        .map(|p| Allocator::new(p, 128, 1, explicit_v6));
    let mut up = Allocator::new(&pools.uplink, 30, 0, explicit_v4);
    let loopbacks = "the routers' loopbacks";
    for (i, lb) in lbs.iter().enumerate() {
        if cx.kinds[i] == NodeKind::Switch {
            continue;
        }
        match lb {
            Setting::None => {}
            Setting::Set(n) => cx.lab.nodes[i].loopback.push(IpNet::host(n.addr)),
            Setting::Auto if !cx.spec.auto_addresses => {}
            Setting::Auto => {
                let v4 = lo.take(d, loopbacks);
                let v6 = lo6.as_mut().and_then(|a| a.take(d, loopbacks));
                cx.lab.nodes[i].loopback.extend(v4.into_iter().chain(v6));
            }
        }
    }
    for li in 0..cx.lab.links.len() {
        if cx.link_src[li].is_some() {
            continue;
        }
        let Some(net) = up.take(d, "the NAT uplinks") else {
            continue;
        };
        let host = IpNet {
            addr: net.nth(1).expect("a /30"),
            prefix: 30,
        };
        let nat = IpNet {
            addr: net.nth(2).expect("a /30"),
            prefix: 30,
        };
        let link = &mut cx.lab.links[li];
        if let End::HostUplink { address, .. } = &mut link.ends[1] {
            *address = host;
        }
        let End::Node { node, .. } = &link.ends[0] else {
            continue;
        };
        let Some(i) = cx.index.get(node.as_str()).copied() else {
            continue;
        };
        if let Some(f) = cx.lab.nodes[i].interfaces.iter_mut().find(|f| f.link == li) {
            if f.addresses.is_empty() {
                f.addresses.push(nat);
            }
        }
    }
}
