//! Reading a whole nf_tables ruleset back over netlink (`nft list ruleset` without `nft`):
//! every table of every family with its chains (hook, priority, policy), sets and maps with
//! their elements, and rules with their expressions decoded ([`DExpr`]). Reading is not
//! changing: warren reads other tables to show them, never to alter them.
//!
//! [`super::print`] turns a [`Ruleset`] into `nft`'s own syntax.

use serde::Serialize;

use super::batch::{NLM_F_DUMP, NftSocket};
use super::wire::{self, NFTA_LIST_ELEM, attrs, be32_of, be64_of, msg, str_of};
use super::{Nft, Table};
use crate::error::{Error, Result};

/// `NFT_MSG_GET*` and their `NEW*` answers not in [`msg`].
const GETCHAIN: u16 = 4;
const GETRULE: u16 = 7;
const GETSET: u16 = 10;
const GETSETELEM: u16 = 13;

/// Set flags (`NFT_SET_*`).
pub mod set_flags {
    /// `anonymous`: a set written inline in a rule (`{ 22, 80 }`).
    pub const ANONYMOUS: u32 = 0x1;
    /// `constant`.
    pub const CONSTANT: u32 = 0x2;
    /// `interval`.
    pub const INTERVAL: u32 = 0x4;
    /// A map.
    pub const MAP: u32 = 0x8;
    /// `timeout`.
    pub const TIMEOUT: u32 = 0x10;
    /// `dynamic` (updated from the packet path).
    pub const EVAL: u32 = 0x20;
    /// An object map.
    pub const OBJECT: u32 = 0x40;
    /// Concatenated keys.
    pub const CONCAT: u32 = 0x80;
}

/// `NFT_SET_ELEM_INTERVAL_END`.
pub const ELEM_INTERVAL_END: u32 = 1;

/// The whole ruleset of one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ruleset {
    /// Tables in the kernel's order.
    pub tables: Vec<TableInfo>,
}

/// One table with its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableInfo {
    /// `NFPROTO_*` family number (1 inet, 2 ip, 3 arp, 5 netdev, 7 bridge, 10 ip6).
    pub family: u8,
    /// Name.
    pub name: String,
    /// `NFT_TABLE_F_*` flags (1 dormant, 2 owner).
    pub flags: u32,
    /// Handle.
    pub handle: u64,
    /// Sets and maps (anonymous ones included: rules refer to them).
    pub sets: Vec<SetInfo>,
    /// Chains, each with its rules.
    pub chains: Vec<ChainInfo>,
}

impl TableInfo {
    /// The family's name as nft writes it (`inet`, `ip`, `ip6`, `arp`, `bridge`, `netdev`).
    pub fn family_name(&self) -> &'static str {
        family_name(self.family)
    }

    /// The set named `name`.
    pub fn set(&self, name: &str) -> Option<&SetInfo> {
        self.sets.iter().find(|s| s.name == name)
    }
}

/// nft's name of an `NFPROTO_*` family.
pub fn family_name(f: u8) -> &'static str {
    match f {
        1 => "inet",
        2 => "ip",
        3 => "arp",
        5 => "netdev",
        7 => "bridge",
        10 => "ip6",
        _ => "unknown",
    }
}

/// A chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainInfo {
    /// Name.
    pub name: String,
    /// Handle.
    pub handle: u64,
    /// Base chain: hook number, priority and device (netdev).
    pub hook: Option<HookInfo>,
    /// Type of a base chain (`filter`, `nat`, `route`).
    pub kind: Option<String>,
    /// Policy of a base chain (`NF_DROP` 0, `NF_ACCEPT` 1).
    pub policy: Option<u32>,
    /// The rules in order.
    pub rules: Vec<RuleInfo>,
}

/// The hook of a base chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookInfo {
    /// `NF_INET_*` hook number (0 prerouting .. 4 postrouting; netdev 0 ingress, 1 egress).
    pub hooknum: u32,
    /// Priority.
    pub priority: i32,
    /// Device (netdev family).
    pub dev: Option<String>,
}

/// A set or map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetInfo {
    /// Name (`__set0` etc. for anonymous sets).
    pub name: String,
    /// Handle.
    pub handle: u64,
    /// [`set_flags`].
    pub flags: u32,
    /// nft's datatype id of the key (concatenations packed 6 bits per part).
    pub key_type: u32,
    /// Key length in bytes.
    pub key_len: u32,
    /// Datatype id of a map's data (`0xffffff00` for verdicts).
    pub data_type: Option<u32>,
    /// Length of a map's data.
    pub data_len: Option<u32>,
    /// Default timeout in milliseconds.
    pub timeout: Option<u64>,
    /// Elements.
    pub elements: Vec<ElemInfo>,
}

impl SetInfo {
    /// Whether this is a map (elements carry data).
    pub fn is_map(&self) -> bool {
        self.flags & set_flags::MAP != 0
    }
}

/// One element of a set or map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElemInfo {
    /// The key bytes.
    pub key: Vec<u8>,
    /// The end of a range (concatenated interval sets).
    pub key_end: Option<Vec<u8>>,
    /// A map element's data.
    pub data: Option<DData>,
    /// `NFT_SET_ELEM_*` flags ([`ELEM_INTERVAL_END`]).
    pub flags: u32,
}

/// Data of an immediate, a map element or a comparison: bytes or a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DData {
    /// Bytes as the register holds them.
    Value(Vec<u8>),
    /// A verdict code (`NF_DROP` 0, `NF_ACCEPT` 1, `NFT_CONTINUE` -1, `NFT_BREAK` -2, `NFT_JUMP`
    /// -3, `NFT_GOTO` -4, `NFT_RETURN` -5, `NF_QUEUE` 3) and the chain of a jump or goto.
    Verdict {
        /// The code.
        code: i32,
        /// Target chain.
        chain: Option<String>,
    },
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Handle.
    pub handle: u64,
    /// The expressions in order.
    pub exprs: Vec<DExpr>,
    /// A comment nft stored in the rule's user data.
    pub comment: Option<String>,
}

/// One expression of a rule, decoded. Registers are kept as sent (`NFT_REG_1`..`4` are 1..4,
/// `NFT_REG32_00`.. are 8..); see [`reg32`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub enum DExpr {
    /// `meta` load (`dreg`) or set (`sreg`).
    Meta {
        key: u32,
        dreg: Option<u32>,
        sreg: Option<u32>,
    },
    /// `payload` load, or write when `sreg` is set. `base`: 0 link, 1 network, 2 transport,
    /// 3 inner.
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: Option<u32>,
        sreg: Option<u32>,
    },
    /// `cmp`: op 0 eq, 1 neq, 2 lt, 3 lte, 4 gt, 5 gte.
    Cmp { sreg: u32, op: u32, data: Vec<u8> },
    /// `bitwise`: op 0 mask-and-xor, 1 lshift, 2 rshift.
    Bitwise {
        sreg: u32,
        dreg: u32,
        len: u32,
        op: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
        data: Vec<u8>,
    },
    /// `lookup` in a set (`dreg` for a map); flags 1 = inverted.
    Lookup {
        set: String,
        sreg: u32,
        dreg: Option<u32>,
        flags: u32,
    },
    /// `immediate`: data into a register (register 0 is the verdict).
    Immediate { dreg: u32, data: DData },
    /// `counter`.
    Counter { packets: u64, bytes: u64 },
    /// `ct` load (`dreg`) or set (`sreg`); direction 0 original, 1 reply.
    Ct {
        key: u32,
        dreg: Option<u32>,
        sreg: Option<u32>,
        dir: Option<u8>,
    },
    /// `nat`: kind 0 snat, 1 dnat; family `NFPROTO_*`.
    Nat {
        kind: u32,
        family: u32,
        addr_min: Option<u32>,
        addr_max: Option<u32>,
        proto_min: Option<u32>,
        proto_max: Option<u32>,
        flags: u32,
    },
    /// `masq`.
    Masq {
        flags: u32,
        proto_min: Option<u32>,
        proto_max: Option<u32>,
    },
    /// `redir`.
    Redir {
        flags: u32,
        proto_min: Option<u32>,
        proto_max: Option<u32>,
    },
    /// `limit`: kind 0 packets, 1 bytes; flags 1 = over.
    Limit {
        rate: u64,
        unit: u64,
        burst: u32,
        kind: u32,
        flags: u32,
    },
    /// `log`.
    Log {
        prefix: Option<String>,
        group: Option<u16>,
        snaplen: Option<u32>,
        qthreshold: Option<u16>,
        level: Option<u32>,
        flags: u32,
    },
    /// `reject`: kind 0 icmp unreachable, 1 tcp reset, 2 icmpx.
    Reject { kind: u32, code: u8 },
    /// `range`: op 0 eq, 1 neq.
    Range {
        sreg: u32,
        op: u32,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    /// `fib`: result 1 oif, 2 oifname, 3 type; flags 1 saddr, 2 daddr, 4 mark, 8 iif, 16 oif,
    /// 32 present.
    Fib { dreg: u32, result: u32, flags: u32 },
    /// xtables compat `match` (iptables-nft's `-m NAME`).
    Match { name: String, rev: u32 },
    /// xtables compat `target` (iptables-nft's `-j NAME`).
    Target { name: String, rev: u32 },
    /// `notrack`.
    Notrack,
    /// Any other expression, by name.
    Other { name: String },
}

/// A register as a 32-bit register index (`NFT_REG_1` is 0..3, `NFT_REG32_00` is 0); the
/// verdict register (0) stays `None`.
pub fn reg32(r: u32) -> Option<u32> {
    match r {
        1..=4 => Some((r - 1) * 4),
        8..=23 => Some(r - 8),
        _ => None,
    }
}

fn data_of(b: &[u8]) -> Option<DData> {
    for (ty, p) in attrs(b) {
        match ty {
            wire::attr::DATA_VALUE => return Some(DData::Value(p.to_vec())),
            wire::attr::DATA_VERDICT => {
                let mut code = 0;
                let mut chain = None;
                for (t, v) in attrs(p) {
                    match t {
                        wire::attr::VERDICT_CODE => code = be32_of(v) as i32,
                        wire::attr::VERDICT_CHAIN => chain = Some(str_of(v)),
                        _ => {}
                    }
                }
                return Some(DData::Verdict { code, chain });
            }
            _ => {}
        }
    }
    None
}

fn value_of(b: &[u8]) -> Vec<u8> {
    match data_of(b) {
        Some(DData::Value(v)) => v,
        _ => Vec::new(),
    }
}

fn be16_of(b: &[u8]) -> u16 {
    b.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

/// Decode one expression (the content of an `NFTA_LIST_ELEM`).
pub fn decode_expr(elem: &[u8]) -> DExpr {
    let mut name = String::new();
    let mut data: &[u8] = &[];
    for (ty, p) in attrs(elem) {
        match ty {
            wire::attr::EXPR_NAME => name = str_of(p),
            wire::attr::EXPR_DATA => data = p,
            _ => {}
        }
    }
    let a: Vec<(u16, &[u8])> = attrs(data).collect();
    let get = |t: u16| a.iter().find(|(ty, _)| *ty == t).map(|(_, p)| *p);
    let u = |t: u16| get(t).map(be32_of);
    let bytes = |t: u16| get(t).map(value_of).unwrap_or_default();
    let z = |t: u16| u(t).unwrap_or(0);
    match name.as_str() {
        "meta" => DExpr::Meta {
            key: z(2),
            dreg: u(1),
            sreg: u(3),
        },
        "payload" => DExpr::Payload {
            base: z(2),
            offset: z(3),
            len: z(4),
            dreg: u(1),
            sreg: u(5),
        },
        "cmp" => DExpr::Cmp {
            sreg: z(1),
            op: z(2),
            data: bytes(3),
        },
        "bitwise" => DExpr::Bitwise {
            sreg: z(1),
            dreg: z(2),
            len: z(3),
            op: z(6),
            mask: bytes(4),
            xor: bytes(5),
            data: bytes(7),
        },
        "lookup" => DExpr::Lookup {
            set: get(1).map(str_of).unwrap_or_default(),
            sreg: z(2),
            dreg: u(3),
            flags: z(5),
        },
        "immediate" => DExpr::Immediate {
            dreg: z(1),
            data: get(2).and_then(data_of).unwrap_or(DData::Value(Vec::new())),
        },
        "counter" => DExpr::Counter {
            bytes: get(1).map_or(0, be64_of),
            packets: get(2).map_or(0, be64_of),
        },
        "ct" => DExpr::Ct {
            key: z(2),
            dreg: u(1),
            sreg: u(4),
            dir: get(3).and_then(|b| b.first().copied()),
        },
        "nat" => DExpr::Nat {
            kind: z(1),
            family: z(2),
            addr_min: u(3),
            addr_max: u(4),
            proto_min: u(5),
            proto_max: u(6),
            flags: z(7),
        },
        "masq" => DExpr::Masq {
            flags: z(1),
            proto_min: u(2),
            proto_max: u(3),
        },
        "redir" => DExpr::Redir {
            proto_min: u(1),
            proto_max: u(2),
            flags: z(3),
        },
        "limit" => DExpr::Limit {
            rate: get(1).map_or(0, be64_of),
            unit: get(2).map_or(0, be64_of),
            burst: z(3),
            kind: z(4),
            flags: z(5),
        },
        "log" => DExpr::Log {
            group: get(1).map(be16_of),
            prefix: get(2).map(str_of),
            snaplen: u(3),
            qthreshold: get(4).map(be16_of),
            level: u(5),
            flags: z(6),
        },
        "reject" => DExpr::Reject {
            kind: z(1),
            code: get(2).and_then(|b| b.first().copied()).unwrap_or(0),
        },
        "range" => DExpr::Range {
            sreg: z(1),
            op: z(2),
            from: bytes(3),
            to: bytes(4),
        },
        "fib" => DExpr::Fib {
            dreg: z(1),
            result: z(2),
            flags: z(3),
        },
        "match" | "target" => {
            let n = get(1).map(str_of).unwrap_or_default();
            let rev = z(2);
            if name == "match" {
                DExpr::Match { name: n, rev }
            } else {
                DExpr::Target { name: n, rev }
            }
        }
        "notrack" => DExpr::Notrack,
        _ => DExpr::Other { name },
    }
}

/// The `nfgenmsg` family and the attributes of one message.
fn body(m: &[u8]) -> (u8, &[u8]) {
    (
        m.get(16).copied().unwrap_or(0),
        m.get(20..).unwrap_or_default(),
    )
}

/// Decode a `NEWTABLE` message.
pub fn decode_table(m: &[u8]) -> TableInfo {
    let (family, b) = body(m);
    let mut t = TableInfo {
        family,
        name: String::new(),
        flags: 0,
        handle: 0,
        sets: Vec::new(),
        chains: Vec::new(),
    };
    for (ty, p) in attrs(b) {
        match ty {
            1 => t.name = str_of(p),
            2 => t.flags = be32_of(p),
            4 => t.handle = be64_of(p),
            _ => {}
        }
    }
    t
}

/// Decode a `NEWCHAIN` message: (table, chain).
pub fn decode_chain(m: &[u8]) -> (String, ChainInfo) {
    let (_, b) = body(m);
    let mut table = String::new();
    let mut c = ChainInfo {
        name: String::new(),
        handle: 0,
        hook: None,
        kind: None,
        policy: None,
        rules: Vec::new(),
    };
    for (ty, p) in attrs(b) {
        match ty {
            1 => table = str_of(p),
            2 => c.handle = be64_of(p),
            3 => c.name = str_of(p),
            4 => {
                let mut h = HookInfo {
                    hooknum: 0,
                    priority: 0,
                    dev: None,
                };
                for (t, v) in attrs(p) {
                    match t {
                        1 => h.hooknum = be32_of(v),
                        2 => h.priority = be32_of(v) as i32,
                        3 => h.dev = Some(str_of(v)),
                        _ => {}
                    }
                }
                c.hook = Some(h);
            }
            5 => c.policy = Some(be32_of(p)),
            7 => c.kind = Some(str_of(p)),
            _ => {}
        }
    }
    (table, c)
}

/// Decode a `NEWRULE` message: (table, chain, rule).
pub fn decode_rule(m: &[u8]) -> (String, String, RuleInfo) {
    let (_, b) = body(m);
    let mut table = String::new();
    let mut chain = String::new();
    let mut r = RuleInfo {
        handle: 0,
        exprs: Vec::new(),
        comment: None,
    };
    for (ty, p) in attrs(b) {
        match ty {
            1 => table = str_of(p),
            2 => chain = str_of(p),
            3 => r.handle = be64_of(p),
            4 => {
                r.exprs = attrs(p)
                    .filter(|(t, _)| *t == NFTA_LIST_ELEM)
                    .map(|(_, e)| decode_expr(e))
                    .collect()
            }
            7 => r.comment = udata_comment(p),
            _ => {}
        }
    }
    (table, chain, r)
}

/// nft's rule user data: TLVs of one byte type and one byte length; type 0 is the comment.
fn udata_comment(mut b: &[u8]) -> Option<String> {
    while b.len() >= 2 {
        let (ty, len) = (b[0], usize::from(b[1]));
        let v = b.get(2..2 + len)?;
        if ty == 0 {
            return Some(str_of(v));
        }
        b = &b[2 + len..];
    }
    None
}

/// Decode a `NEWSET` message: (table, set without elements).
pub fn decode_set(m: &[u8]) -> (String, SetInfo) {
    let (_, b) = body(m);
    let mut table = String::new();
    let mut s = SetInfo {
        name: String::new(),
        handle: 0,
        flags: 0,
        key_type: 0,
        key_len: 0,
        data_type: None,
        data_len: None,
        timeout: None,
        elements: Vec::new(),
    };
    for (ty, p) in attrs(b) {
        match ty {
            1 => table = str_of(p),
            2 => s.name = str_of(p),
            3 => s.flags = be32_of(p),
            4 => s.key_type = be32_of(p),
            5 => s.key_len = be32_of(p),
            6 => s.data_type = Some(be32_of(p)),
            7 => s.data_len = Some(be32_of(p)),
            11 => s.timeout = Some(be64_of(p)),
            16 => s.handle = be64_of(p),
            _ => {}
        }
    }
    (table, s)
}

/// Decode a `NEWSETELEM` message into its elements.
pub fn decode_elements(m: &[u8]) -> Vec<ElemInfo> {
    let (_, b) = body(m);
    let mut out = Vec::new();
    for (ty, p) in attrs(b) {
        if ty != wire::attr::SET_ELEM_LIST_ELEMENTS {
            continue;
        }
        for (_, e) in attrs(p).filter(|(t, _)| *t == NFTA_LIST_ELEM) {
            let mut el = ElemInfo {
                key: Vec::new(),
                key_end: None,
                data: None,
                flags: 0,
            };
            for (t, v) in attrs(e) {
                match t {
                    1 => el.key = value_of(v),
                    2 => el.data = data_of(v),
                    3 => el.flags = be32_of(v),
                    10 => el.key_end = Some(value_of(v)),
                    _ => {}
                }
            }
            out.push(el);
        }
    }
    out
}

impl NftSocket {
    fn dump(
        &mut self,
        what: &'static str,
        m: u16,
        family: u8,
        body: &[u8],
    ) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let outcome = self.request(wire::nft_type(m), NLM_F_DUMP, family, 0, body, |r| {
            out.push(r.to_vec())
        })?;
        outcome.map_err(|source| Error::Netlink {
            op: "dump",
            object: what.into(),
            ns: self.ns.clone(),
            source,
        })?;
        Ok(out)
    }

    fn ruleset(&mut self) -> Result<Ruleset> {
        let mut tables: Vec<TableInfo> = self
            .dump("nf_tables tables", msg::GETTABLE, 0, &[])?
            .iter()
            .map(|m| decode_table(m))
            .collect();
        let find = |tables: &mut Vec<TableInfo>, family: u8, name: &str| {
            tables
                .iter_mut()
                .position(|t| t.family == family && t.name == name)
        };
        for m in self.dump("nf_tables chains", GETCHAIN, 0, &[])? {
            let family = body(&m).0;
            let (table, chain) = decode_chain(&m);
            if let Some(i) = find(&mut tables, family, &table) {
                tables[i].chains.push(chain);
            }
        }
        for m in self.dump("nf_tables sets", GETSET, 0, &[])? {
            let family = body(&m).0;
            let (table, set) = decode_set(&m);
            if let Some(i) = find(&mut tables, family, &table) {
                tables[i].sets.push(set);
            }
        }
        for t in &mut tables {
            for s in &mut t.sets {
                let mut n = wire::Nla::new();
                n.str(wire::attr::SET_ELEM_LIST_TABLE, &t.name)
                    .str(wire::attr::SET_ELEM_LIST_SET, &s.name);
                let what = "nf_tables set elements";
                for m in self.dump(what, GETSETELEM, t.family, n.bytes())? {
                    s.elements.extend(decode_elements(&m));
                }
            }
        }
        for m in self.dump("nf_tables rules", GETRULE, 0, &[])? {
            let family = body(&m).0;
            let (table, chain, rule) = decode_rule(&m);
            if let Some(i) = find(&mut tables, family, &table)
                && let Some(c) = tables[i].chains.iter_mut().find(|c| c.name == chain)
            {
                c.rules.push(rule);
            }
        }
        Ok(Ruleset { tables })
    }
}

impl Nft {
    /// Read the whole ruleset of the namespace: every table of every family, with chains,
    /// sets (and their elements) and rules. Tables are read one after another, not in one
    /// transaction: a change made meanwhile may show half.
    pub fn ruleset(&self) -> Result<Ruleset> {
        self.sock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ruleset()
    }

    /// Read one table (as [`Nft::ruleset`] does, keeping only `table`); `None` if absent.
    pub fn table(&self, table: &Table) -> Result<Option<TableInfo>> {
        Ok(self
            .ruleset()?
            .tables
            .into_iter()
            .find(|t| t.family == table.family as u8 && t.name == table.name))
    }
}
