//! warren's container firewall: one `inet` table that publishes ports (DNAT), masquerades
//! outbound traffic and hairpin connections, and isolates networks from each other.
//!
//! Every rule is written once, when the table is built; networks and published ports are
//! *elements* of sets and maps the rules look up. Adding a network or publishing a port is a
//! tiny atomic batch of element changes that touches nothing else (rule handles never
//! change), and a new connection costs one hash lookup however many ports are published.
//!
//! ```text
//! table inet warren {
//!   set bridges  { type ifname; }                     # every warren bridge
//!   set internal { type ifname; }                     # bridges of internal networks
//!   set same     { type ifname . ifname; }            # (br, br) per network
//!   set subnets4 { type ipv4_addr; flags interval; }  # all warren subnets
//!   set subnets6 { type ipv6_addr; flags interval; }
//!   set masq4    { type ipv4_addr; flags interval; }  # subnets masquerading outbound
//!   set masq6    { type ipv6_addr; flags interval; }
//!   map ports4   { type inet_proto . inet_service : ipv4_addr . inet_service; }
//!   map ports4a  { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
//!   map ports6   { type inet_proto . inet_service : ipv6_addr . inet_service; }
//!   map ports6a  { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
//!   chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//!     meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @ports4a
//!     meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @ports4
//!     meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @ports6a
//!     meta nfproto ipv6 fib daddr type local dnat ip6 to meta l4proto . th dport map @ports6
//!   }
//!   chain output { type nat hook output priority -100; policy accept;  # dstnat
//!     (the same four rules)
//!   }
//!   chain postrouting { type nat hook postrouting priority srcnat; policy accept;
//!     ct status dnat ip saddr 127.0.0.0/8 masquerade
//!     ct status dnat ip6 saddr ::1 masquerade
//!     ct status dnat oifname @bridges ip saddr @subnets4 masquerade
//!     ct status dnat oifname @bridges ip6 saddr @subnets6 masquerade
//!     ip saddr @masq4 ip daddr != @masq4 oifname != @bridges masquerade
//!     ip6 saddr @masq6 ip6 daddr != @masq6 oifname != @bridges masquerade
//!   }
//!   chain forward { type filter hook forward priority filter; policy accept;
//!     iifname . oifname @same accept
//!     iifname @internal drop
//!     oifname @internal drop
//!     ct status dnat accept                           # published ports, from any network
//!     iifname @bridges oifname @bridges drop
//!   }
//! }
//! ```
//!
//! [`Firewall::nft_text`] returns exactly this ruleset (without the comments), and the rules
//! are encoded as `nft` 1.0.6 encodes that text, attribute for attribute.
//!
//! Loopback clients of a published port (`127.0.0.1:PORT` on the host) need
//! `net.ipv4.conf.BRIDGE.route_localnet=1` on the bridge (set it with
//! [`crate::sysctl::set`]), since the packet leaves with a 127/8 source until `postrouting`
//! masquerades it.
//!
//! `[::1]:PORT` clients need two things more, because the *reply* comes back translated to
//! destination `::1` on the bridge (measured on Linux 6.18):
//! - `net.bridge.bridge-nf-call-ip6tables=0` in the namespace. With it on (the default of a
//!   new namespace once `br_netfilter` is loaded), the bridge runs the IPv6 prerouting hooks
//!   itself, so the reply is already translated to `::1` when `ipv6_rcv` checks it, and it is
//!   dropped as a loopback address on a non-loopback device (`Ip6InHdrErrors`). The firewall
//!   does not need bridged IPv6 to pass through netfilter: traffic between networks and to
//!   published ports is routed, not bridged.
//! - a `local ::1 dev BRIDGE table local` route ([`loopback6_reply_route`]): `::1` is a
//!   "strict" destination for the IPv6 input route lookup, which only takes a route through
//!   the interface the packet came in on (else `Ip6InNoRoutes`).

/// The route that lets replies to `[::1]:PORT` clients of a published port in, on the bridge
/// with index `bridge_index`: `local ::1 dev BRIDGE table local metric 1024` (the metric keeps
/// the host's own `local ::1 dev lo` first for everything else). See the module docs.
pub fn loopback6_reply_route(bridge_index: u32) -> crate::route::RouteSpec {
    crate::route::RouteSpec::to(IpNet::host(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)))
        .kind(crate::route::RouteType::Local)
        .dev(bridge_index)
        .table(255)
        .metric(1024)
}

use std::net::IpAddr;

use super::expr::ct_status;
use super::expr::{CmpOp, CtKey, Expr, MetaKey, NatKind, PayloadBase, RTN_LOCAL, Reg, Verdict};
use super::set::{DataType, Element, MapTo, Set, concat_value};
use super::{Batch, Chain, ChainType, Family, Hook, Nft, Rule, Table};
use crate::addr::IpNet;
use crate::error::{Error, Result};

/// Transport protocols a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Proto {
    /// The IP protocol number: 6, 17 or 132.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Sctp => 132,
        }
    }

    /// `tcp`, `udp` or `sctp`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// One published port: `host_ip:host_port` (for `proto`) forwarded to `addr:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRule {
    /// The host address it is published on; `None` (or an unspecified address) for every
    /// local address of `addr`'s family.
    pub host_ip: Option<IpAddr>,
    /// The protocol.
    pub proto: Proto,
    /// The host port (not 0).
    pub host_port: u16,
    /// The container's address.
    pub addr: IpAddr,
    /// The container's port (not 0).
    pub port: u16,
}

/// What the firewall knows of one network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetworkRules {
    /// Its bridge (1 to 15 bytes).
    pub bridge: String,
    /// Its subnets, IPv4 and/or IPv6 (host bits are ignored).
    pub subnets: Vec<IpNet>,
    /// Internal: no traffic in or out of the network through the host.
    pub internal: bool,
    /// Outbound traffic (leaving by an interface that is not one of the firewall's bridges)
    /// is masqueraded; never for an internal network.
    pub masquerade: bool,
}

/// NAT priorities: `dstnat` and `srcnat`.
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;
/// `NFPROTO_IPV4`, `NFPROTO_IPV6`.
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// warren's firewall in table `inet NAME`: the batches that build and change it.
#[derive(Debug, Clone)]
pub struct Firewall {
    table: Table,
}

/// Which port map a rule goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortMapKind {
    Any4,
    Addr4,
    Any6,
    Addr6,
}

impl PortMapKind {
    fn name(self) -> &'static str {
        match self {
            PortMapKind::Any4 => "ports4",
            PortMapKind::Addr4 => "ports4a",
            PortMapKind::Any6 => "ports6",
            PortMapKind::Addr6 => "ports6a",
        }
    }
}

impl Firewall {
    /// The firewall in table `inet NAME` (warren uses `warren`).
    pub fn new(table: &str) -> Firewall {
        Firewall {
            table: Table::new(Family::Inet, table),
        }
    }

    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    fn set(&self, name: &str, key: &[DataType]) -> Set {
        Set::new(&self.table, name, key)
    }

    /// Every set and map, in the order they are created.
    pub fn sets(&self) -> Vec<Set> {
        use DataType::{IfName, InetProto, InetService, Ipv4Addr, Ipv6Addr};
        let map = |name, key: &[DataType], to: &[DataType]| {
            self.set(name, key).map_to(MapTo::Value(to.to_vec()))
        };
        vec![
            self.set("bridges", &[IfName]),
            self.set("internal", &[IfName]),
            self.set("same", &[IfName, IfName]),
            self.set("subnets4", &[Ipv4Addr]).interval(),
            self.set("subnets6", &[Ipv6Addr]).interval(),
            self.set("masq4", &[Ipv4Addr]).interval(),
            self.set("masq6", &[Ipv6Addr]).interval(),
            map(
                "ports4",
                &[InetProto, InetService],
                &[Ipv4Addr, InetService],
            ),
            map(
                "ports4a",
                &[Ipv4Addr, InetProto, InetService],
                &[Ipv4Addr, InetService],
            ),
            map(
                "ports6",
                &[InetProto, InetService],
                &[Ipv6Addr, InetService],
            ),
            map(
                "ports6a",
                &[Ipv6Addr, InetProto, InetService],
                &[Ipv6Addr, InetService],
            ),
        ]
    }

    fn named(&self, name: &str) -> Set {
        self.sets()
            .into_iter()
            .find(|s| s.name == name)
            .expect("one of the firewall's sets")
    }

    /// The chains: prerouting, output, postrouting, forward.
    pub fn chains(&self) -> Vec<Chain> {
        let t = &self.table;
        vec![
            Chain::base(t, "prerouting", ChainType::Nat, Hook::Prerouting, DSTNAT),
            Chain::base(t, "output", ChainType::Nat, Hook::Output, DSTNAT),
            Chain::base(t, "postrouting", ChainType::Nat, Hook::Postrouting, SRCNAT),
            Chain::base(t, "forward", ChainType::Filter, Hook::Forward, 0),
        ]
    }

    /// Every rule, chain by chain, in order.
    pub fn rules(&self) -> Vec<Rule> {
        let mut rules = Vec::new();
        for c in self.chains() {
            let exprs = match c.name.as_str() {
                "prerouting" | "output" => dnat_rules(),
                "postrouting" => postrouting_rules(),
                _ => forward_rules(),
            };
            rules.extend(exprs.into_iter().map(|e| Rule::new(&c, e)));
        }
        rules
    }

    /// The ruleset in nft's syntax (what [`Firewall::skeleton`] builds).
    pub fn nft_text(&self) -> String {
        let mut s = format!("table inet {} {{\n", self.table.name);
        let types = |ts: &[DataType]| {
            ts.iter()
                .map(|t| match t {
                    DataType::Ipv4Addr => "ipv4_addr",
                    DataType::Ipv6Addr => "ipv6_addr",
                    DataType::IfName => "ifname",
                    DataType::InetProto => "inet_proto",
                    DataType::InetService => "inet_service",
                })
                .collect::<Vec<_>>()
                .join(" . ")
        };
        for set in self.sets() {
            let kind = if set.map.is_some() { "map" } else { "set" };
            let mut ty = types(&set.key);
            if let Some(MapTo::Value(to)) = &set.map {
                ty = format!("{ty} : {}", types(to));
            }
            let flags = if set.interval { " flags interval;" } else { "" };
            s += &format!("  {kind} {} {{ type {ty};{flags} }}\n", set.name);
        }
        let dnat = [
            "meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @ports4a",
            "meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @ports4",
            "meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @ports6a",
            "meta nfproto ipv6 fib daddr type local dnat ip6 to meta l4proto . th dport map @ports6",
        ];
        let post = [
            "ct status dnat ip saddr 127.0.0.0/8 masquerade",
            "ct status dnat ip6 saddr ::1 masquerade",
            "ct status dnat oifname @bridges ip saddr @subnets4 masquerade",
            "ct status dnat oifname @bridges ip6 saddr @subnets6 masquerade",
            "ip saddr @masq4 ip daddr != @masq4 oifname != @bridges masquerade",
            "ip6 saddr @masq6 ip6 daddr != @masq6 oifname != @bridges masquerade",
        ];
        let fwd = [
            "iifname . oifname @same accept",
            "iifname @internal drop",
            "oifname @internal drop",
            "ct status dnat accept",
            "iifname @bridges oifname @bridges drop",
        ];
        for (chain, head, rules) in [
            (
                "prerouting",
                "type nat hook prerouting priority dstnat",
                &dnat[..],
            ),
            // nft 1.0.6 only knows `dstnat` by name on prerouting.
            ("output", "type nat hook output priority -100", &dnat[..]),
            (
                "postrouting",
                "type nat hook postrouting priority srcnat",
                &post[..],
            ),
            (
                "forward",
                "type filter hook forward priority filter",
                &fwd[..],
            ),
        ] {
            s += &format!("  chain {chain} {{ {head}; policy accept;\n");
            for r in rules {
                s += &format!("    {r}\n");
            }
            s += "  }\n";
        }
        s += "}\n";
        s
    }

    /// The table, its sets and chains and rules, added to `b` (no elements).
    fn add_skeleton(&self, b: &mut Batch) {
        for s in self.sets() {
            b.add_set(&s);
        }
        for c in self.chains() {
            b.add_chain(&c);
        }
        for r in self.rules() {
            b.add_rule(&r);
        }
    }

    /// Create the table with its sets, chains and rules and no elements; refused with EEXIST
    /// (and nothing changed) if the table exists. See [`Firewall::ensure`].
    pub fn skeleton(&self) -> Batch {
        let mut b = Batch::new();
        b.create_table(&self.table);
        self.add_skeleton(&mut b);
        b
    }

    /// Whole table from scratch in one transaction (add table; delete table; add
    /// everything): used the first time and to repair it (e.g. after `nft flush ruleset`).
    /// Other tables are not touched.
    pub fn rebuild(&self, networks: &[NetworkRules], ports: &[PortRule]) -> Result<Batch> {
        let mut b = Batch::new();
        // Adding first makes the delete succeed whether or not the table existed.
        b.add_table(&self.table).del_table(&self.table);
        b.add_table(&self.table);
        self.add_skeleton(&mut b);
        for n in networks {
            b.append(self.add_network(n)?);
        }
        b.append(self.publish(ports)?);
        Ok(b)
    }

    /// Whether the table exists.
    pub fn exists(&self, nft: &Nft) -> Result<bool> {
        nft.table_exists(&self.table)
    }

    /// Build the table if it is missing, leaving an existing one (and its elements) as it
    /// is. Race-free: the table is created exclusively, so of two callers one builds it and
    /// the other finds it. Returns true if it was built.
    pub fn ensure(&self, nft: &Nft) -> Result<bool> {
        if self.exists(nft)? {
            return Ok(false);
        }
        match nft.apply(&self.skeleton()) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(nix::errno::Errno::EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Remove the table and everything in it.
    pub fn uninstall(&self) -> Batch {
        let mut b = Batch::new();
        b.del_table(&self.table);
        b
    }

    /// The elements of a network, set by set.
    fn network_elements(&self, n: &NetworkRules) -> Result<Vec<(Set, Vec<Element>)>> {
        let br = ifname(&n.bridge)?;
        let mut out = vec![
            (self.named("bridges"), vec![Element::key(br.to_vec())]),
            (
                self.named("same"),
                vec![Element::key(concat_value(&[&br, &br]))],
            ),
        ];
        if n.internal {
            out.push((self.named("internal"), vec![Element::key(br.to_vec())]));
        }
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in &n.subnets {
            let (bytes, list) = match net.addr {
                IpAddr::V4(a) => (a.octets().to_vec(), &mut v4),
                IpAddr::V6(a) => (a.octets().to_vec(), &mut v6),
            };
            let elems = Element::interval(&bytes, net.prefix).ok_or_else(|| {
                Error::invalid(
                    "subnet",
                    format!("{}/{}", net.addr, net.prefix),
                    "prefix length out of range",
                )
            })?;
            list.extend(elems);
        }
        for (elems, all, masq) in [(v4, "subnets4", "masq4"), (v6, "subnets6", "masq6")] {
            if elems.is_empty() {
                continue;
            }
            if n.masquerade && !n.internal {
                out.push((self.named(masq), elems.clone()));
            }
            out.push((self.named(all), elems));
        }
        Ok(out)
    }

    /// Add a network: its bridge and subnets become elements (nothing else changes). Adding
    /// what is already there is not an error.
    pub fn add_network(&self, n: &NetworkRules) -> Result<Batch> {
        let mut b = Batch::new();
        for (set, elems) in self.network_elements(n)? {
            b.add_elements(&set, &elems, false);
        }
        Ok(b)
    }

    /// Remove a network's elements; ENOENT if one is missing.
    pub fn remove_network(&self, n: &NetworkRules) -> Result<Batch> {
        let mut b = Batch::new();
        for (set, elems) in self.network_elements(n)? {
            b.del_elements(&set, &elems);
        }
        Ok(b)
    }

    /// Add (or remove) subnets to the masquerade sets only: traffic from them leaving by an
    /// interface that is not one of the firewall's bridges is masqueraded (routed setups
    /// without a bridge, such as CNI's ptp). Adding what is there is not an error; removing
    /// what is not there is ENOENT.
    pub fn masquerade(&self, subnets: &[IpNet], add: bool) -> Result<Batch> {
        let mut b = Batch::new();
        for net in subnets {
            let (bytes, set) = match net.addr {
                IpAddr::V4(a) => (a.octets().to_vec(), "masq4"),
                IpAddr::V6(a) => (a.octets().to_vec(), "masq6"),
            };
            let elems = Element::interval(&bytes, net.prefix).ok_or_else(|| {
                Error::invalid(
                    "subnet",
                    format!("{}/{}", net.addr, net.prefix),
                    "prefix length out of range",
                )
            })?;
            if add {
                b.add_elements(&self.named(set), &elems, false);
            } else {
                b.del_elements(&self.named(set), &elems);
            }
        }
        Ok(b)
    }

    /// The map a port goes to and its element.
    fn port_element(&self, p: &PortRule) -> Result<(PortMapKind, Element)> {
        let describe = || {
            let host = p.host_ip.map(|h| h.to_string()).unwrap_or_default();
            format!(
                "{host}:{}:{}/{} -> {}",
                p.host_port,
                p.port,
                p.proto.name(),
                p.addr
            )
        };
        if p.host_port == 0 || p.port == 0 {
            return Err(Error::invalid("published port", describe(), "port 0"));
        }
        let host = p.host_ip.filter(|h| !h.is_unspecified());
        if let Some(h) = p.host_ip
            && h.is_ipv4() != p.addr.is_ipv4()
        {
            return Err(Error::invalid(
                "published port",
                describe(),
                "the host address and the container address are of different families",
            ));
        }
        let proto = [p.proto.number()];
        let hport = p.host_port.to_be_bytes();
        let port = p.port.to_be_bytes();
        let value = match p.addr {
            IpAddr::V4(a) => concat_value(&[&a.octets(), &port]),
            IpAddr::V6(a) => concat_value(&[&a.octets(), &port]),
        };
        let (kind, key) = match (host, p.addr) {
            (None, IpAddr::V4(_)) => (PortMapKind::Any4, concat_value(&[&proto, &hport])),
            (None, IpAddr::V6(_)) => (PortMapKind::Any6, concat_value(&[&proto, &hport])),
            (Some(IpAddr::V4(h)), _) => (
                PortMapKind::Addr4,
                concat_value(&[&h.octets(), &proto, &hport]),
            ),
            (Some(IpAddr::V6(h)), _) => (
                PortMapKind::Addr6,
                concat_value(&[&h.octets(), &proto, &hport]),
            ),
        };
        Ok((kind, Element::value(key, value)))
    }

    fn port_batch(&self, ports: &[PortRule], add: bool) -> Result<Batch> {
        let mut groups: Vec<(PortMapKind, Vec<Element>)> = Vec::new();
        for p in ports {
            let (kind, e) = self.port_element(p)?;
            match groups.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, v)) => v.push(e),
                None => groups.push((kind, vec![e])),
            }
        }
        let mut b = Batch::new();
        for (kind, elems) in groups {
            let map = self.named(kind.name());
            if add {
                b.add_elements(&map, &elems, true);
            } else {
                b.del_elements(&map, &elems);
            }
        }
        Ok(b)
    }

    /// Publish ports: all or none; EEXIST (naming the map) if a host address, protocol and
    /// port is already published.
    pub fn publish(&self, ports: &[PortRule]) -> Result<Batch> {
        self.port_batch(ports, true)
    }

    /// Stop publishing ports (by host address, protocol and port); ENOENT if one is not
    /// published.
    pub fn unpublish(&self, ports: &[PortRule]) -> Result<Batch> {
        self.port_batch(ports, false)
    }
}

/// A bridge name as the `ifname` type holds it: NUL-padded to 16 bytes.
fn ifname(name: &str) -> Result<[u8; 16]> {
    if name.is_empty() || name.len() > 15 || name.contains('\0') {
        return Err(Error::invalid(
            "bridge name",
            name,
            "must be 1 to 15 bytes without NUL",
        ));
    }
    let mut b = [0u8; 16];
    b[..name.len()].copy_from_slice(name.as_bytes());
    Ok(b)
}

fn meta(key: MetaKey, dreg: Reg) -> Expr {
    Expr::Meta { key, dreg }
}

fn cmp(op: CmpOp, data: &[u8]) -> Expr {
    Expr::Cmp {
        sreg: Reg::REG1,
        op,
        data: data.to_vec(),
    }
}

fn nfproto(family: u8) -> [Expr; 2] {
    [meta(MetaKey::NfProto, Reg::REG1), cmp(CmpOp::Eq, &[family])]
}

fn payload(base: PayloadBase, offset: u32, len: u32, dreg: Reg) -> Expr {
    Expr::Payload {
        base,
        offset,
        len,
        dreg,
    }
}

fn lookup(set: &str, dreg: Option<Reg>, invert: bool) -> Expr {
    Expr::Lookup {
        set: set.into(),
        sreg: Reg::REG1,
        dreg,
        verdict: false,
        invert,
    }
}

/// `th dport` into `dreg`.
fn dport(dreg: Reg) -> Expr {
    payload(PayloadBase::Transport, 2, 2, dreg)
}

fn fib_local() -> [Expr; 2] {
    [
        Expr::FibDaddrType { dreg: Reg::REG1 },
        cmp(CmpOp::Eq, &RTN_LOCAL.to_ne_bytes()),
    ]
}

fn dnat(family: u8, port: Reg) -> Expr {
    Expr::Nat {
        kind: NatKind::Dnat,
        family,
        addr: Some(Reg::REG1),
        port: Some(port),
    }
}

/// The four DNAT rules of prerouting and output, with nft's registers: a key concatenation
/// starts in `NFT_REG_1` and continues in 32-bit registers; the mapped address comes back in
/// `NFT_REG_1` and its port right after it (`NFT_REG32_01` for IPv4, `NFT_REG_2` for IPv6).
fn dnat_rules() -> Vec<Vec<Expr>> {
    let mut r4a: Vec<Expr> = nfproto(NFPROTO_IPV4).into();
    r4a.extend([
        payload(PayloadBase::Network, 16, 4, Reg::REG1),
        meta(MetaKey::L4Proto, Reg::r32(1)),
        dport(Reg::r32(2)),
        lookup("ports4a", Some(Reg::REG1), false),
        dnat(NFPROTO_IPV4, Reg::r32(1)),
    ]);
    let mut r4: Vec<Expr> = nfproto(NFPROTO_IPV4).into();
    r4.extend(fib_local());
    r4.extend([
        meta(MetaKey::L4Proto, Reg::REG1),
        dport(Reg::r32(1)),
        lookup("ports4", Some(Reg::REG1), false),
        dnat(NFPROTO_IPV4, Reg::r32(1)),
    ]);
    let mut r6a: Vec<Expr> = nfproto(NFPROTO_IPV6).into();
    r6a.extend([
        payload(PayloadBase::Network, 24, 16, Reg::REG1),
        meta(MetaKey::L4Proto, Reg::REG2),
        dport(Reg::r32(5)),
        lookup("ports6a", Some(Reg::REG1), false),
        dnat(NFPROTO_IPV6, Reg::REG2),
    ]);
    let mut r6: Vec<Expr> = nfproto(NFPROTO_IPV6).into();
    r6.extend(fib_local());
    r6.extend([
        meta(MetaKey::L4Proto, Reg::REG1),
        dport(Reg::r32(1)),
        lookup("ports6", Some(Reg::REG1), false),
        dnat(NFPROTO_IPV6, Reg::REG2),
    ]);
    vec![r4a, r4, r6a, r6]
}

/// `ct status dnat`.
fn ct_dnat() -> [Expr; 3] {
    [
        Expr::Ct {
            key: CtKey::Status,
            dreg: Reg::REG1,
        },
        Expr::Bitwise {
            sreg: Reg::REG1,
            dreg: Reg::REG1,
            mask: ct_status::DNAT.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        cmp(CmpOp::Neq, &[0; 4]),
    ]
}

/// `ip saddr` / `ip6 saddr` into `NFT_REG_1`.
fn saddr(family: u8) -> Expr {
    if family == NFPROTO_IPV4 {
        payload(PayloadBase::Network, 12, 4, Reg::REG1)
    } else {
        payload(PayloadBase::Network, 8, 16, Reg::REG1)
    }
}

/// `ip daddr` / `ip6 daddr` into `NFT_REG_1`.
fn daddr(family: u8) -> Expr {
    if family == NFPROTO_IPV4 {
        payload(PayloadBase::Network, 16, 4, Reg::REG1)
    } else {
        payload(PayloadBase::Network, 24, 16, Reg::REG1)
    }
}

fn postrouting_rules() -> Vec<Vec<Expr>> {
    let mut rules = Vec::new();
    // Published ports reached from the host's loopback: the source must not stay 127/8 or ::1.
    let mut lo4: Vec<Expr> = ct_dnat().into();
    lo4.extend(nfproto(NFPROTO_IPV4));
    lo4.extend([
        payload(PayloadBase::Network, 12, 1, Reg::REG1),
        cmp(CmpOp::Eq, &[127]),
        Expr::Masquerade,
    ]);
    rules.push(lo4);
    let mut lo6: Vec<Expr> = ct_dnat().into();
    lo6.extend(nfproto(NFPROTO_IPV6));
    lo6.extend([
        saddr(NFPROTO_IPV6),
        cmp(CmpOp::Eq, &std::net::Ipv6Addr::LOCALHOST.octets()),
        Expr::Masquerade,
    ]);
    rules.push(lo6);
    // Hairpin: a container reaching a published port (its own or a neighbour's) through a
    // host address must see the reply come from the host, not from the container.
    for (family, set) in [(NFPROTO_IPV4, "subnets4"), (NFPROTO_IPV6, "subnets6")] {
        let mut r: Vec<Expr> = ct_dnat().into();
        r.extend([
            meta(MetaKey::OifName, Reg::REG1),
            lookup("bridges", None, false),
        ]);
        r.extend(nfproto(family));
        r.extend([saddr(family), lookup(set, None, false), Expr::Masquerade]);
        rules.push(r);
    }
    // Outbound: networks that are not internal leave with the host's address — not traffic
    // between masquerading subnets (routed setups without a bridge, such as CNI's ptp, route
    // container to container through the host: the peer must see the real address).
    for (family, set) in [(NFPROTO_IPV4, "masq4"), (NFPROTO_IPV6, "masq6")] {
        let mut r: Vec<Expr> = nfproto(family).into();
        r.extend([
            saddr(family),
            lookup(set, None, false),
            daddr(family),
            lookup(set, None, true),
            meta(MetaKey::OifName, Reg::REG1),
            lookup("bridges", None, true),
            Expr::Masquerade,
        ]);
        rules.push(r);
    }
    rules
}

fn forward_rules() -> Vec<Vec<Expr>> {
    vec![
        vec![
            meta(MetaKey::IifName, Reg::REG1),
            meta(MetaKey::OifName, Reg::REG2),
            lookup("same", None, false),
            Expr::verdict(Verdict::Accept),
        ],
        vec![
            meta(MetaKey::IifName, Reg::REG1),
            lookup("internal", None, false),
            Expr::verdict(Verdict::Drop),
        ],
        vec![
            meta(MetaKey::OifName, Reg::REG1),
            lookup("internal", None, false),
            Expr::verdict(Verdict::Drop),
        ],
        // A published port is reachable from other networks too, as from anywhere else that
        // reaches the host (through the host's address, masqueraded like hairpin traffic).
        {
            let mut r: Vec<Expr> = ct_dnat().into();
            r.push(Expr::verdict(Verdict::Accept));
            r
        },
        vec![
            meta(MetaKey::IifName, Reg::REG1),
            lookup("bridges", None, false),
            meta(MetaKey::OifName, Reg::REG1),
            lookup("bridges", None, false),
            Expr::verdict(Verdict::Drop),
        ],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(host_ip: Option<&str>, addr: &str) -> PortRule {
        PortRule {
            host_ip: host_ip.map(|h| h.parse().unwrap()),
            proto: Proto::Tcp,
            host_port: 8080,
            addr: addr.parse().unwrap(),
            port: 80,
        }
    }

    #[test]
    fn ports_go_to_the_map_of_their_family_and_host_address() {
        let fw = Firewall::new("w");
        let kind = |h, a| fw.port_element(&rule(h, a)).unwrap().0;
        assert_eq!(kind(None, "10.88.0.2"), PortMapKind::Any4);
        assert_eq!(kind(Some("0.0.0.0"), "10.88.0.2"), PortMapKind::Any4);
        assert_eq!(kind(Some("127.0.0.1"), "10.88.0.2"), PortMapKind::Addr4);
        assert_eq!(kind(None, "fd88::2"), PortMapKind::Any6);
        assert_eq!(kind(Some("::"), "fd88::2"), PortMapKind::Any6);
        assert_eq!(kind(Some("::1"), "fd88::2"), PortMapKind::Addr6);
        let (_, e) = fw
            .port_element(&rule(Some("127.0.0.1"), "10.88.0.2"))
            .unwrap();
        assert_eq!(e.key, [127, 0, 0, 1, 6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        assert_eq!(
            e.data,
            Some(super::super::Data::Value(vec![10, 88, 0, 2, 0, 80, 0, 0]))
        );
    }

    #[test]
    fn invalid_input_is_refused_naming_the_value() {
        let fw = Firewall::new("w");
        for (p, want) in [
            (rule(Some("127.0.0.1"), "fd88::2"), "different families"),
            (rule(Some("::"), "10.0.0.2"), "different families"),
            (
                PortRule {
                    host_port: 0,
                    ..rule(None, "10.0.0.2")
                },
                "port 0",
            ),
            (
                PortRule {
                    port: 0,
                    ..rule(None, "10.0.0.2")
                },
                "port 0",
            ),
        ] {
            let e = fw.publish(&[p]).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains(":8080:") || e.contains(":0:"),
                "{e}"
            );
            assert!(matches!(fw.unpublish(&[p]), Err(Error::Invalid { .. })));
        }
        let net = |bridge: &str, subnet: IpNet| NetworkRules {
            bridge: bridge.into(),
            subnets: vec![subnet],
            internal: false,
            masquerade: true,
        };
        let ok: IpNet = "10.88.0.0/24".parse().unwrap();
        for bad in ["", "sixteen-bytes-xx"] {
            let e = fw.add_network(&net(bad, ok)).unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
        let long = IpNet {
            addr: "10.88.0.0".parse().unwrap(),
            prefix: 33,
        };
        let e = fw.add_network(&net("wbr0", long)).unwrap_err().to_string();
        assert!(e.contains("10.88.0.0/33"), "{e}");
        assert!(fw.remove_network(&net("wbr0", long)).is_err());
        assert!(fw.rebuild(&[net("wbr0", long)], &[]).is_err());
    }
}
