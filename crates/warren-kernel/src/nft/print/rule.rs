//! One rule's expressions turned back into nft statements: registers are followed from the
//! expression that loads them (`meta`, `payload`, `ct`, `fib`, `bitwise`, `immediate`, map
//! `lookup`) to the one that uses them (`cmp`, `range`, `lookup`, `nat`, ...).

use std::collections::HashMap;

use super::super::dump::{DData, DExpr, RuleInfo, SetInfo, TableInfo, reg32};
use super::value::{Ty, bitmask_names, format, is_bitmask, ty, uint};
use super::{elements_text, is_anonymous};

/// What a register holds.
#[derive(Debug, Clone)]
enum Src {
    Meta(u32),
    Payload {
        base: u32,
        offset: u32,
        len: u32,
    },
    Ct {
        key: u32,
        dir: Option<u8>,
    },
    Fib {
        result: u32,
        flags: u32,
    },
    Masked {
        inner: Box<Src>,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Imm(Vec<u8>),
    MapOut {
        text: String,
        len: u32,
    },
}

/// A loaded value as nft names it.
struct Named {
    text: String,
    ty: Ty,
    /// Bytes the field has (an address compared on fewer bytes is a prefix).
    width: usize,
    /// The statement this field's protocol context came from, if any.
    dep: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Net {
    Ip,
    Ip6,
}

struct Printer<'a> {
    table: &'a TableInfo,
    regs: HashMap<u32, Src>,
    stmts: Vec<Option<String>>,
    net: Option<(Net, Option<usize>)>,
    l4: Option<(u8, Option<usize>)>,
}

fn meta_named(key: u32) -> (&'static str, Ty, usize) {
    match key {
        1 => ("meta protocol", Ty::be(ty::ETHERTYPE), 2),
        2 => ("meta priority", Ty::host(ty::INTEGER), 4),
        3 => ("meta mark", Ty::host(ty::MARK), 4),
        4 => ("iif", Ty::host(ty::IFINDEX), 4),
        5 => ("oif", Ty::host(ty::IFINDEX), 4),
        6 => ("iifname", Ty::be(ty::IFNAME), 16),
        7 => ("oifname", Ty::be(ty::IFNAME), 16),
        10 => ("meta skuid", Ty::host(ty::INTEGER), 4),
        11 => ("meta skgid", Ty::host(ty::INTEGER), 4),
        15 => ("meta nfproto", Ty::host(ty::NFPROTO), 1),
        16 => ("meta l4proto", Ty::host(ty::INET_PROTOCOL), 1),
        17 => ("meta ibrname", Ty::be(ty::IFNAME), 16),
        18 => ("meta obrname", Ty::be(ty::IFNAME), 16),
        19 => ("meta pkttype", Ty::host(ty::PKTTYPE), 1),
        26 => ("meta iifkind", Ty::be(ty::IFNAME), 16),
        27 => ("meta oifkind", Ty::be(ty::IFNAME), 16),
        _ => ("meta", Ty::host(ty::INTEGER), 4),
    }
}

/// A verdict as nft prints it.
pub fn verdict_text(code: i32, chain: Option<&str>) -> String {
    let chain = chain.unwrap_or("?");
    match code {
        0 => "drop".into(),
        1 => "accept".into(),
        -1 => "continue".into(),
        -3 => format!("jump {chain}"),
        -4 => format!("goto {chain}"),
        -5 => "return".into(),
        c if c & 0xff == 3 => "queue".into(),
        c => format!("verdict {c}"),
    }
}

fn op_text(op: u32) -> &'static str {
    match op {
        1 => "!= ",
        2 => "< ",
        3 => "<= ",
        4 => "> ",
        5 => ">= ",
        _ => "",
    }
}

/// The length in bytes of a value a source puts in registers.
fn src_len(s: &Src, named: &Named) -> usize {
    match s {
        Src::Payload { len, .. } => *len as usize,
        Src::Imm(b) => b.len(),
        Src::MapOut { len, .. } => *len as usize,
        _ => named.width,
    }
}

impl Printer<'_> {
    fn push(&mut self, s: String) -> usize {
        self.stmts.push(Some(s));
        self.stmts.len() - 1
    }

    fn reg(&self, r: u32) -> Option<Src> {
        reg32(r).and_then(|i| self.regs.get(&i).cloned())
    }

    fn set_reg(&mut self, r: u32, s: Src) {
        if let Some(i) = reg32(r) {
            self.regs.insert(i, s);
        }
    }

    fn name(&self, s: &Src) -> Named {
        let plain = |text: String, ty: Ty, width: usize| Named {
            text,
            ty,
            width,
            dep: None,
        };
        match s {
            Src::Meta(k) => {
                let (t, ty, w) = meta_named(*k);
                let text = if t == "meta" {
                    format!("meta {k}")
                } else {
                    t.to_owned()
                };
                plain(text, ty, w)
            }
            Src::Payload { base, offset, len } => self.payload_name(*base, *offset, *len),
            Src::Ct { key, dir } => {
                let dir = match dir {
                    Some(0) => "original ",
                    Some(1) => "reply ",
                    _ => "",
                };
                let fam_addr = match self.table.family {
                    10 => (Ty::be(ty::IP6ADDR), 16),
                    _ => (Ty::be(ty::IPADDR), 4),
                };
                let (field, t, w) = match key {
                    0 => ("state", Ty::host(ty::CT_STATE), 4),
                    1 => ("direction", Ty::host(ty::CT_DIR), 1),
                    2 => ("status", Ty::host(ty::CT_STATUS), 4),
                    3 => ("mark", Ty::host(ty::MARK), 4),
                    5 => ("expiration", Ty::host(ty::INTEGER), 4),
                    6 => ("helper", Ty::be(ty::STRING), 16),
                    7 => ("l3proto", Ty::host(ty::NFPROTO), 1),
                    8 => ("saddr", fam_addr.0, fam_addr.1),
                    9 => ("daddr", fam_addr.0, fam_addr.1),
                    10 => ("protocol", Ty::host(ty::INET_PROTOCOL), 1),
                    11 => ("proto-src", Ty::be(ty::INET_SERVICE), 2),
                    12 => ("proto-dst", Ty::be(ty::INET_SERVICE), 2),
                    17 => ("zone", Ty::host(ty::INTEGER), 2),
                    19 => ("ip saddr", Ty::be(ty::IPADDR), 4),
                    20 => ("ip daddr", Ty::be(ty::IPADDR), 4),
                    21 => ("ip6 saddr", Ty::be(ty::IP6ADDR), 16),
                    22 => ("ip6 daddr", Ty::be(ty::IP6ADDR), 16),
                    23 => ("id", Ty::be(ty::INTEGER), 4),
                    _ => ("key", Ty::host(ty::INTEGER), 4),
                };
                plain(format!("ct {dir}{field}"), t, w)
            }
            Src::Fib { result, flags } => {
                let mut parts = Vec::new();
                if flags & 1 != 0 {
                    parts.push("saddr");
                }
                if flags & 2 != 0 {
                    parts.push("daddr");
                }
                if flags & 4 != 0 {
                    parts.push("mark");
                }
                if flags & 8 != 0 {
                    parts.push("iif");
                }
                if flags & 16 != 0 {
                    parts.push("oif");
                }
                let (r, t, w) = match result {
                    1 => ("oif", Ty::host(ty::IFINDEX), 4),
                    2 => ("oifname", Ty::be(ty::IFNAME), 16),
                    _ => ("type", Ty::host(ty::FIB_ADDR), 4),
                };
                plain(format!("fib {} {r}", parts.join(" . ")), t, w)
            }
            Src::Masked { inner, .. } => self.name(inner),
            Src::Imm(b) => plain(format(Ty::be(ty::INTEGER), b), Ty::be(ty::INTEGER), b.len()),
            Src::MapOut { text, len, .. } => {
                plain(text.clone(), Ty::be(ty::INTEGER), *len as usize)
            }
        }
    }

    fn payload_name(&self, base: u32, offset: u32, len: u32) -> Named {
        let field = |text: &str, t: Ty, width: usize, dep: Option<usize>| Named {
            text: text.to_owned(),
            ty: t,
            width,
            dep,
        };
        let found = match base {
            0 => match (offset, len) {
                (0, 6) => Some(field("ether daddr", Ty::be(ty::ETHERADDR), 6, None)),
                (6, 6) => Some(field("ether saddr", Ty::be(ty::ETHERADDR), 6, None)),
                (12, 2) => Some(field("ether type", Ty::be(ty::ETHERTYPE), 2, None)),
                _ => None,
            },
            1 => match self.net {
                Some((Net::Ip, dep)) => match (offset, len) {
                    (9, 1) => Some(field("ip protocol", Ty::be(ty::INET_PROTOCOL), 1, dep)),
                    (8, 1) => Some(field("ip ttl", Ty::be(ty::INTEGER), 1, dep)),
                    (2, 2) => Some(field("ip length", Ty::be(ty::INTEGER), 2, dep)),
                    (4, 2) => Some(field("ip id", Ty::be(ty::INTEGER), 2, dep)),
                    (12, 1..=4) => Some(field("ip saddr", Ty::be(ty::IPADDR), 4, dep)),
                    (16, 1..=4) => Some(field("ip daddr", Ty::be(ty::IPADDR), 4, dep)),
                    _ => None,
                },
                Some((Net::Ip6, dep)) => match (offset, len) {
                    (6, 1) => Some(field("ip6 nexthdr", Ty::be(ty::INET_PROTOCOL), 1, dep)),
                    (7, 1) => Some(field("ip6 hoplimit", Ty::be(ty::INTEGER), 1, dep)),
                    (4, 2) => Some(field("ip6 length", Ty::be(ty::INTEGER), 2, dep)),
                    (8, 1..=16) => Some(field("ip6 saddr", Ty::be(ty::IP6ADDR), 16, dep)),
                    (24, 1..=16) => Some(field("ip6 daddr", Ty::be(ty::IP6ADDR), 16, dep)),
                    _ => None,
                },
                None => None,
            },
            2 => {
                let (proto, dep) = self.l4.map_or((0, None), |(p, d)| (p, d));
                let port = Ty::be(ty::INET_SERVICE);
                match (proto, offset, len) {
                    (6, 0, 2) => Some(field("tcp sport", port, 2, dep)),
                    (6, 2, 2) => Some(field("tcp dport", port, 2, dep)),
                    (6, 13, 1) => Some(field("tcp flags", Ty::be(ty::TCP_FLAG), 1, dep)),
                    (17, 0, 2) => Some(field("udp sport", port, 2, dep)),
                    (17, 2, 2) => Some(field("udp dport", port, 2, dep)),
                    (132, 0, 2) => Some(field("sctp sport", port, 2, dep)),
                    (132, 2, 2) => Some(field("sctp dport", port, 2, dep)),
                    (33, 0, 2) => Some(field("dccp sport", port, 2, dep)),
                    (33, 2, 2) => Some(field("dccp dport", port, 2, dep)),
                    (1, 0, 1) => Some(field("icmp type", Ty::be(ty::ICMP_TYPE), 1, dep)),
                    (1, 1, 1) => Some(field("icmp code", Ty::be(ty::INTEGER), 1, dep)),
                    (58, 0, 1) => Some(field("icmpv6 type", Ty::be(ty::ICMP6_TYPE), 1, dep)),
                    (58, 1, 1) => Some(field("icmpv6 code", Ty::be(ty::INTEGER), 1, dep)),
                    (_, 0, 2) => Some(field("th sport", port, 2, None)),
                    (_, 2, 2) => Some(field("th dport", port, 2, None)),
                    _ => None,
                }
            }
            _ => None,
        };
        found.unwrap_or_else(|| {
            let b = match base {
                0 => "ll",
                1 => "nh",
                2 => "th",
                _ => "ih",
            };
            Named {
                text: format!("@{b},{},{}", offset * 8, len * 8),
                ty: Ty::be(ty::INTEGER),
                width: len as usize,
                dep: None,
            }
        })
    }

    /// Drop the protocol dependency statement a field came with (nft prints `ip saddr X`,
    /// not `meta nfproto ipv4 ip saddr X`).
    fn consume_dep(&mut self, n: &Named) {
        if let Some(i) = n.dep
            && let Some(s) = self.stmts.get_mut(i)
        {
            *s = None;
        }
    }

    /// After `lhs == value`: remember a protocol context it sets.
    fn learn(&mut self, src: &Src, n: &Named, value: &[u8], idx: usize) {
        let v = uint(value, n.ty.be);
        match src {
            Src::Meta(15) => {
                self.net = match v {
                    2 => Some((Net::Ip, Some(idx))),
                    10 => Some((Net::Ip6, Some(idx))),
                    _ => self.net,
                }
            }
            Src::Meta(1) | Src::Payload { base: 0, .. } if n.ty.id == ty::ETHERTYPE => {
                self.net = match v {
                    0x0800 => Some((Net::Ip, Some(idx))),
                    0x86dd => Some((Net::Ip6, Some(idx))),
                    _ => self.net,
                }
            }
            _ if n.ty.id == ty::INET_PROTOCOL && n.text != "ct protocol" => {
                self.l4 = Some((v as u8, Some(idx)));
            }
            _ => {}
        }
    }

    /// `lhs OP value`.
    fn relational(&mut self, src: &Src, op: u32, value: &[u8]) {
        let n = self.name(src);
        let text = match src {
            Src::Masked { inner, mask, xor } if xor.iter().all(|b| *b == 0) => {
                let inner_n = self.name(inner);
                let zero = value.iter().all(|b| *b == 0);
                if is_bitmask(inner_n.ty.id) && op == 1 && zero {
                    let m = uint(mask, inner_n.ty.be);
                    format!("{} {}", inner_n.text, bitmask_names(inner_n.ty.id, m))
                } else if let Some(bits) = prefix_bits(mask)
                    && matches!(inner_n.ty.id, ty::IPADDR | ty::IP6ADDR)
                {
                    let mut full = value.to_vec();
                    full.resize(inner_n.width, 0);
                    format!(
                        "{} {}{}/{bits}",
                        inner_n.text,
                        op_text(op),
                        format(inner_n.ty, &full)
                    )
                } else {
                    let o = if op == 0 { "== " } else { op_text(op) };
                    format!(
                        "{} & {} {o}{}",
                        inner_n.text,
                        format(inner_n.ty, mask),
                        format(inner_n.ty, value)
                    )
                }
            }
            _ => format!(
                "{} {}{}",
                n.text,
                op_text(op),
                self.value_text(&n, src, value)
            ),
        };
        self.consume_dep(&n);
        let idx = self.push(text);
        if op == 0 && !matches!(src, Src::Masked { .. }) {
            self.learn(src, &n, value, idx);
        }
    }

    /// A compared value: an address loaded on fewer bytes than its field is a prefix.
    fn value_text(&self, n: &Named, src: &Src, value: &[u8]) -> String {
        let loaded = src_len(src, n);
        if matches!(n.ty.id, ty::IPADDR | ty::IP6ADDR) && loaded < n.width {
            let mut full = value.to_vec();
            full.resize(n.width, 0);
            return format!("{}/{}", format(n.ty, &full), loaded * 8);
        }
        format(n.ty, value)
    }

    /// The key a lookup reads: one source, or a concatenation of consecutive registers.
    /// Returns the text and the single source (for dependency elision), if it is one.
    fn key(&mut self, sreg: u32, key_len: u32) -> (String, Option<(Src, Named)>) {
        let Some(start) = reg32(sreg) else {
            return ("?".into(), None);
        };
        let mut parts: Vec<(Src, Named)> = Vec::new();
        let mut off = 0usize;
        while off < (key_len as usize).max(1) {
            let Some(src) = self.regs.get(&(start + (off / 4) as u32)).cloned() else {
                break;
            };
            let n = self.name(&src);
            let len = src_len(&src, &n).max(1);
            off += len.div_ceil(4) * 4;
            parts.push((src, n));
        }
        match parts.len() {
            0 => ("?".into(), None),
            1 => {
                let (s, n) = parts.remove(0);
                (n.text.clone(), Some((s, n)))
            }
            _ => {
                // nft drops a field's protocol dependency inside a concatenation too.
                for (_, n) in &parts {
                    self.consume_dep(n);
                }
                (
                    parts
                        .iter()
                        .map(|(_, n)| n.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" . "),
                    None,
                )
            }
        }
    }

    fn set_ref(&self, set: &SetInfo) -> String {
        if is_anonymous(set) {
            format!("{{ {} }}", elements_text(set).join(", "))
        } else {
            format!("@{}", set.name)
        }
    }

    fn lookup(&mut self, set_name: &str, sreg: u32, dreg: Option<u32>, flags: u32) {
        let Some(set) = self.table.set(set_name) else {
            self.push(format!("lookup @{set_name}"));
            return;
        };
        let (key, single) = self.key(sreg, set.key_len);
        if let Some((_, n)) = &single {
            self.consume_dep(n);
        }
        let sref = self.set_ref(set);
        match dreg {
            None => {
                let inv = if flags & 1 != 0 { "!= " } else { "" };
                self.push(format!("{key} {inv}{sref}"));
            }
            Some(0) => {
                self.push(format!("{key} vmap {sref}"));
            }
            Some(r) => {
                let len = set.data_len.unwrap_or(4);
                self.set_reg(
                    r,
                    Src::MapOut {
                        text: format!("{key} map {sref}"),
                        len,
                    },
                );
            }
        }
    }

    /// The text of a value a statement takes from a register (`dnat to X`, `set X`).
    fn operand(&self, r: u32, t: Ty) -> String {
        match self.reg(r) {
            Some(Src::Imm(b)) => format(t, &b),
            Some(s) => self.name(&s).text,
            None => "?".into(),
        }
    }

    /// Whether register `inner` is filled by the map lookup that filled `outer`.
    fn same_map(&self, outer: u32, inner: u32) -> bool {
        match (self.reg(outer), reg32(outer), reg32(inner)) {
            (Some(Src::MapOut { len, .. }), Some(o), Some(i)) => i > o && i < o + len.div_ceil(4),
            _ => false,
        }
    }

    fn nat(
        &mut self,
        kind: &str,
        family: Option<u32>,
        addr: (Option<u32>, Option<u32>),
        proto: (Option<u32>, Option<u32>),
        flags: u32,
    ) {
        let mut s = kind.to_owned();
        if self.table.family == 1
            && let Some(f) = family
        {
            s.push_str(if f == 10 { " ip6" } else { " ip" });
        }
        let addr_ty = if family == Some(10) || self.table.family == 10 {
            Ty::be(ty::IP6ADDR)
        } else {
            Ty::be(ty::IPADDR)
        };
        let port = Ty::be(ty::INET_SERVICE);
        let mut target = String::new();
        let mut proto_in_map = false;
        if let (Some(min), max) = addr {
            let mut a = self.operand(min, addr_ty);
            if let Some(max) = max.filter(|m| *m != min) {
                a = format!("{a}-{}", self.operand(max, addr_ty));
            }
            proto_in_map = proto.0.is_some_and(|p| self.same_map(min, p));
            if addr_ty.id == ty::IP6ADDR
                && proto.0.is_some()
                && !proto_in_map
                && matches!(self.reg(min), Some(Src::Imm(_)))
            {
                a = format!("[{a}]");
            }
            target.push_str(&a);
        }
        if let (Some(min), max) = proto
            && !proto_in_map
        {
            let mut p = format!(":{}", self.operand(min, port));
            if let Some(max) = max.filter(|m| *m != min) {
                let hi = self.operand(max, port);
                if Some(&hi[..]) != p.get(1..) {
                    p = format!("{p}-{hi}");
                }
            }
            target.push_str(&p);
        }
        if !target.is_empty() {
            s.push_str(" to ");
            s.push_str(&target);
        }
        let names: Vec<&str> = [(4, "random"), (16, "fully-random"), (8, "persistent")]
            .iter()
            .filter(|(f, _)| flags & f != 0)
            .map(|(_, n)| *n)
            .collect();
        if !names.is_empty() {
            s.push(' ');
            s.push_str(&names.join(","));
        }
        self.push(s);
    }

    fn reject(&mut self, kind: u32, code: u8) {
        let fam = self.table.family;
        let text = match (kind, fam, code) {
            (1, _, _) => "reject with tcp reset".to_owned(),
            (0, 10, 4) | (0, 2, 3) | (2, _, 1) => "reject".to_owned(),
            (0, 10, c) => {
                let n = match c {
                    0 => "no-route",
                    1 => "admin-prohibited",
                    3 => "addr-unreachable",
                    4 => "port-unreachable",
                    _ => "",
                };
                format!(
                    "reject with icmpv6 {}",
                    if n.is_empty() {
                        c.to_string()
                    } else {
                        n.into()
                    }
                )
            }
            (0, _, c) => {
                let n = match c {
                    0 => "net-unreachable",
                    1 => "host-unreachable",
                    2 => "prot-unreachable",
                    3 => "port-unreachable",
                    9 => "net-prohibited",
                    10 => "host-prohibited",
                    13 => "admin-prohibited",
                    _ => "",
                };
                format!(
                    "reject with icmp {}",
                    if n.is_empty() {
                        c.to_string()
                    } else {
                        n.into()
                    }
                )
            }
            (_, _, c) => {
                let n = match c {
                    0 => "no-route",
                    1 => "port-unreachable",
                    2 => "host-unreachable",
                    3 => "admin-prohibited",
                    _ => "",
                };
                format!(
                    "reject with icmpx {}",
                    if n.is_empty() {
                        c.to_string()
                    } else {
                        n.into()
                    }
                )
            }
        };
        self.push(text);
    }
}

/// The mask's prefix length, if it is a run of ones followed by zeros.
fn prefix_bits(mask: &[u8]) -> Option<u32> {
    let v = uint(mask, true);
    let width = (mask.len() * 8) as u32;
    let ones = if width == 128 {
        v.leading_ones()
    } else {
        (v << (128 - width)).leading_ones()
    }
    .min(width);
    let rebuilt = if ones == 0 {
        0
    } else {
        (u128::MAX << (128 - ones)) >> (128 - width)
    };
    (rebuilt == v).then_some(ones)
}

fn unit_name(unit: u64) -> String {
    match unit {
        1 => "second".into(),
        60 => "minute".into(),
        3600 => "hour".into(),
        86400 => "day".into(),
        604800 => "week".into(),
        n => format!("{n}s"),
    }
}

fn bytes_rate(rate: u64) -> String {
    if rate > 0 && rate % (1024 * 1024) == 0 {
        format!("{} mbytes", rate / (1024 * 1024))
    } else if rate > 0 && rate % 1024 == 0 {
        format!("{} kbytes", rate / 1024)
    } else {
        format!("{rate} bytes")
    }
}

/// One rule as `nft list ruleset` prints it (without indentation), in the context of its
/// table (sets for lookups, family for `ip`/`ip6` words).
pub fn rule_text(table: &TableInfo, rule: &RuleInfo) -> String {
    let net = match table.family {
        2 => Some((Net::Ip, None)),
        10 => Some((Net::Ip6, None)),
        _ => None,
    };
    let mut p = Printer {
        table,
        regs: HashMap::new(),
        stmts: Vec::new(),
        net,
        l4: None,
    };
    let mut i = 0;
    let exprs = &rule.exprs;
    while i < exprs.len() {
        match &exprs[i] {
            DExpr::Meta {
                key, dreg: Some(r), ..
            } => p.set_reg(*r, Src::Meta(*key)),
            DExpr::Meta {
                key, sreg: Some(r), ..
            } => {
                let (name, t, _) = meta_named(*key);
                let v = p.operand(*r, t);
                let name = if name.starts_with("meta") {
                    name.to_owned()
                } else {
                    format!("meta {name}")
                };
                p.push(format!("{name} set {v}"));
            }
            DExpr::Payload {
                base,
                offset,
                len,
                dreg: Some(r),
                ..
            } => p.set_reg(
                *r,
                Src::Payload {
                    base: *base,
                    offset: *offset,
                    len: *len,
                },
            ),
            DExpr::Ct {
                key,
                dreg: Some(r),
                dir,
                ..
            } => p.set_reg(
                *r,
                Src::Ct {
                    key: *key,
                    dir: *dir,
                },
            ),
            DExpr::Ct {
                key,
                sreg: Some(r),
                dir,
                ..
            } => {
                let n = p.name(&Src::Ct {
                    key: *key,
                    dir: *dir,
                });
                let v = p.operand(*r, n.ty);
                p.push(format!("{} set {v}", n.text));
            }
            DExpr::Fib {
                dreg,
                result,
                flags,
            } => p.set_reg(
                *dreg,
                Src::Fib {
                    result: *result,
                    flags: *flags,
                },
            ),
            DExpr::Bitwise {
                sreg,
                dreg,
                op: 0,
                mask,
                xor,
                ..
            } => {
                if let Some(inner) = p.reg(*sreg) {
                    p.set_reg(
                        *dreg,
                        Src::Masked {
                            inner: Box::new(inner),
                            mask: mask.clone(),
                            xor: xor.clone(),
                        },
                    );
                }
            }
            DExpr::Immediate { dreg: 0, data } => {
                if let DData::Verdict { code, chain } = data {
                    p.push(verdict_text(*code, chain.as_deref()));
                }
            }
            DExpr::Immediate {
                dreg,
                data: DData::Value(v),
            } => p.set_reg(*dreg, Src::Imm(v.clone())),
            DExpr::Cmp { sreg, op, data } => {
                let src = p.reg(*sreg);
                let next_lte = match exprs.get(i + 1) {
                    Some(DExpr::Cmp {
                        sreg: s2,
                        op: 3,
                        data: hi,
                    }) if s2 == sreg && *op == 5 => Some(hi.clone()),
                    _ => None,
                };
                match (src, next_lte) {
                    (Some(src), Some(hi)) => {
                        let n = p.name(&src);
                        p.consume_dep(&n);
                        p.push(format!(
                            "{} {}-{}",
                            n.text,
                            format(n.ty, data),
                            format(n.ty, &hi)
                        ));
                        i += 1;
                    }
                    (Some(src), None) => p.relational(&src, *op, data),
                    (None, _) => {
                        p.push(format!(
                            "? {}{}",
                            op_text(*op),
                            format(Ty::be(ty::INTEGER), data)
                        ));
                    }
                }
            }
            DExpr::Range { sreg, op, from, to } => {
                if let Some(src) = p.reg(*sreg) {
                    let n = p.name(&src);
                    p.consume_dep(&n);
                    p.push(format!(
                        "{} {}{}-{}",
                        n.text,
                        op_text(*op),
                        format(n.ty, from),
                        format(n.ty, to)
                    ));
                }
            }
            DExpr::Lookup {
                set,
                sreg,
                dreg,
                flags,
            } => p.lookup(set, *sreg, *dreg, *flags),
            DExpr::Counter { packets, bytes } => {
                p.push(format!("counter packets {packets} bytes {bytes}"));
            }
            DExpr::Nat {
                kind,
                family,
                addr_min,
                addr_max,
                proto_min,
                proto_max,
                flags,
            } => p.nat(
                if *kind == 0 { "snat" } else { "dnat" },
                Some(*family),
                (*addr_min, *addr_max),
                (*proto_min, *proto_max),
                *flags,
            ),
            DExpr::Masq {
                flags,
                proto_min,
                proto_max,
            } => p.nat(
                "masquerade",
                None,
                (None, None),
                (*proto_min, *proto_max),
                *flags,
            ),
            DExpr::Redir {
                flags,
                proto_min,
                proto_max,
            } => p.nat(
                "redirect",
                None,
                (None, None),
                (*proto_min, *proto_max),
                *flags,
            ),
            DExpr::Limit {
                rate,
                unit,
                burst,
                kind,
                flags,
            } => {
                let over = if flags & 1 != 0 { "over " } else { "" };
                let u = unit_name(*unit);
                let s = if *kind == 1 {
                    let mut s = format!("limit rate {over}{}/{u}", bytes_rate(*rate));
                    if *burst != 0 {
                        s.push_str(&format!(" burst {}", bytes_rate(u64::from(*burst))));
                    }
                    s
                } else {
                    let mut s = format!("limit rate {over}{rate}/{u}");
                    if *burst != 0 && *burst != 5 {
                        s.push_str(&format!(" burst {burst} packets"));
                    }
                    s
                };
                p.push(s);
            }
            DExpr::Log {
                prefix,
                group,
                snaplen,
                qthreshold,
                level,
                ..
            } => {
                let mut s = "log".to_owned();
                if let Some(pre) = prefix {
                    s.push_str(&format!(" prefix \"{pre}\""));
                }
                if let Some(g) = group {
                    s.push_str(&format!(" group {g}"));
                }
                if let Some(n) = snaplen {
                    s.push_str(&format!(" snaplen {n}"));
                }
                if let Some(q) = qthreshold {
                    s.push_str(&format!(" queue-threshold {q}"));
                }
                if let Some(l) = level.filter(|l| *l != 4) {
                    let names = [
                        "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
                    ];
                    let n = names
                        .get(l as usize)
                        .map_or_else(|| l.to_string(), |s| (*s).to_owned());
                    s.push_str(&format!(" level {n}"));
                }
                p.push(s);
            }
            DExpr::Reject { kind, code } => p.reject(*kind, *code),
            DExpr::Notrack => {
                p.push("notrack".into());
            }
            DExpr::Match { name, .. } => {
                p.push(format!("xt match \"{name}\""));
            }
            DExpr::Target { name, .. } => {
                p.push(format!("xt target \"{name}\""));
            }
            DExpr::Other { name } => {
                p.push(format!("[{name}]"));
            }
            other => {
                p.push(format!("[{}]", expr_name(other)));
            }
        }
        i += 1;
    }
    let mut out: Vec<String> = p.stmts.into_iter().flatten().collect();
    if let Some(c) = &rule.comment {
        out.push(format!("comment \"{c}\""));
    }
    out.join(" ")
}

fn expr_name(e: &DExpr) -> &'static str {
    match e {
        DExpr::Meta { .. } => "meta",
        DExpr::Payload { .. } => "payload",
        DExpr::Ct { .. } => "ct",
        DExpr::Bitwise { .. } => "bitwise",
        DExpr::Immediate { .. } => "immediate",
        _ => "expr",
    }
}
