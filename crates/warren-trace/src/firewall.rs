//! The firewall of one hop, evaluated for the traced packet: the base chains on the hooks the
//! packet passes (output/postrouting in the source, prerouting/forward/postrouting at a
//! router, prerouting/input at the destination), of every `ip`/`ip6`/`inet` table, in
//! priority order, read with the nf_tables ruleset dump. Rules are run on a model of the
//! packet (its IP and transport header, interfaces, `ct state new`); the first rule whose
//! matches all hold and whose verdict is drop or reject — or a drop policy reached — is the
//! answer. A rule with a match that cannot be judged statically (sets of other kinds, fib,
//! xtables matches, ...) is taken as not matching and reported as a possible drop.

use std::net::IpAddr;

use warren_kernel::nft::dump::{
    ChainInfo, DData, DExpr, ELEM_INTERVAL_END, RuleInfo, TableInfo, reg32, set_flags,
};

use crate::nat::describe;

/// `NF_INET_*` hooks.
pub mod hook {
    /// Prerouting.
    pub const PREROUTING: u32 = 0;
    /// Input.
    pub const INPUT: u32 = 1;
    /// Forward.
    pub const FORWARD: u32 = 2;
    /// Output.
    pub const OUTPUT: u32 = 3;
    /// Postrouting.
    pub const POSTROUTING: u32 = 4;
}

/// The packet as the firewall sees it at one hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkt {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number.
    pub proto: u8,
    /// Destination port (TCP, UDP).
    pub dport: Option<u16>,
    /// Size in bytes.
    pub size: u32,
    /// Input interface (name, index).
    pub iif: Option<(String, u32)>,
    /// Output interface (name, index).
    pub oif: Option<(String, u32)>,
    /// Whether a DNAT was applied (`ct status dnat`).
    pub dnat: bool,
}

/// What the firewall of a hop does with the packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Judgement {
    /// The rule (or policy) that drops it, when one certainly does.
    pub drop: Option<String>,
    /// Rules that might drop it but could not be judged, with why.
    pub maybe: Vec<String>,
}

/// Evaluate the chains of `tables` on `hooks` (in this order) for `p`.
pub fn judge(tables: &[TableInfo], hooks: &[u32], p: &Pkt) -> Judgement {
    let mut j = Judgement::default();
    let fam_ok = |f: u8| f == 1 || f == if p.src.is_ipv6() { 10 } else { 2 };
    for &h in hooks {
        let mut chains: Vec<(&TableInfo, &ChainInfo, i32)> = tables
            .iter()
            .filter(|t| fam_ok(t.family))
            .flat_map(|t| {
                t.chains.iter().filter_map(move |c| {
                    let hk = c.hook.as_ref()?;
                    (hk.hooknum == h && c.kind.as_deref() != Some("nat")).then_some((
                        t,
                        c,
                        hk.priority,
                    ))
                })
            })
            .collect();
        chains.sort_by_key(|(_, _, prio)| *prio);
        for (t, c, _) in chains {
            match run(t, c, p, 0, &mut j) {
                Flow::Drop(why) => {
                    j.drop = Some(why);
                    return j;
                }
                Flow::Accept => {}
                Flow::Continue | Flow::Return => {
                    if c.policy == Some(0) {
                        j.drop = Some(format!("{} chain {} policy drop", describe(t), c.name));
                        return j;
                    }
                }
            }
        }
    }
    j
}

/// The first rule of a `nat` chain on postrouting (any table, priority order) that
/// masquerades or source-NATs the packet, as `table ... chain ... handle N: RULE`.
pub fn source_nat(tables: &[TableInfo], p: &Pkt) -> Option<String> {
    let fam_ok = |f: u8| f == 1 || f == if p.src.is_ipv6() { 10 } else { 2 };
    let mut chains: Vec<(&TableInfo, &ChainInfo, i32)> =
        tables
            .iter()
            .filter(|t| fam_ok(t.family))
            .flat_map(|t| {
                t.chains.iter().filter_map(move |c| {
                    let hk = c.hook.as_ref()?;
                    (hk.hooknum == hook::POSTROUTING && c.kind.as_deref() == Some("nat"))
                        .then_some((t, c, hk.priority))
                })
            })
            .collect();
    chains.sort_by_key(|(_, _, prio)| *prio);
    for (t, c, _) in chains {
        for r in &c.rules {
            match eval(t, r, p) {
                RuleOut::SourceNat => {
                    return Some(format!(
                        "{} chain {} handle {}: {}",
                        describe(t),
                        c.name,
                        r.handle,
                        text(r)
                    ));
                }
                // A verdict ends this chain (jumps into nat sub-chains are not followed).
                RuleOut::Verdict(..) => break,
                _ => {}
            }
        }
    }
    None
}

enum Flow {
    Continue,
    Return,
    Accept,
    Drop(String),
}

/// Outcome of one rule.
enum RuleOut {
    NoMatch,
    Unknown(String),
    Verdict(i32, Option<String>),
    /// A source NAT statement (masquerade or snat) was reached: the packet is accepted.
    SourceNat,
    /// Matched, no verdict (a counter or log rule).
    Fallthrough,
}

fn run(t: &TableInfo, c: &ChainInfo, p: &Pkt, depth: usize, j: &mut Judgement) -> Flow {
    if depth > 16 {
        return Flow::Continue;
    }
    for r in &c.rules {
        let where_ = || {
            format!(
                "{} chain {} handle {}: {}",
                describe(t),
                c.name,
                r.handle,
                text(r)
            )
        };
        match eval(t, r, p) {
            RuleOut::NoMatch | RuleOut::Fallthrough => {}
            RuleOut::SourceNat => return Flow::Accept,
            RuleOut::Unknown(why) => {
                if ends_in_drop(r) {
                    j.maybe.push(format!("{} (not judged: {why})", where_()));
                }
            }
            RuleOut::Verdict(code, chain) => match code {
                0 => return Flow::Drop(where_()),
                1 => return Flow::Accept,
                -5 => return Flow::Return,
                -3 | -4 => {
                    let Some(target) = chain.and_then(|n| t.chains.iter().find(|x| x.name == n))
                    else {
                        continue;
                    };
                    match run(t, target, p, depth + 1, j) {
                        Flow::Continue | Flow::Return if code == -3 => {}
                        Flow::Continue | Flow::Return => return Flow::Continue,
                        other => return other,
                    }
                }
                _ => {}
            },
        }
    }
    Flow::Continue
}

fn ends_in_drop(r: &RuleInfo) -> bool {
    r.exprs.iter().any(|e| {
        matches!(e, DExpr::Reject { .. })
            || matches!(
                e,
                DExpr::Immediate {
                    dreg: 0,
                    data: DData::Verdict { code: 0, .. }
                }
            )
    })
}

/// The network and transport headers of the packet, as payload expressions read them.
fn headers(p: &Pkt) -> (Vec<u8>, Vec<u8>) {
    let len = u16::try_from(p.size).unwrap_or(u16::MAX);
    let net = match (p.src, p.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0];
            h.extend(len.to_be_bytes());
            h.extend([0, 0, 0x40, 0, 64, p.proto, 0, 0]);
            h.extend(s.octets());
            h.extend(d.octets());
            h
        }
        (s, d) => {
            let mut h = vec![0x60, 0, 0, 0];
            h.extend(len.saturating_sub(40).to_be_bytes());
            h.extend([p.proto, 64]);
            for a in [s, d] {
                if let IpAddr::V6(a) = a {
                    h.extend(a.octets());
                }
            }
            h
        }
    };
    let dport = p.dport.unwrap_or(0).to_be_bytes();
    let th = match p.proto {
        6 => {
            let mut h = vec![0, 0];
            h.extend(dport);
            h.extend([0; 8]);
            h.extend([0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
            h
        }
        17 => {
            let mut h = vec![0, 0];
            h.extend(dport);
            h.extend([0, 8, 0, 0]);
            h
        }
        1 => vec![8, 0, 0, 0, 0, 0, 0, 1],
        58 => vec![128, 0, 0, 0, 0, 0, 0, 1],
        _ => Vec::new(),
    };
    (net, th)
}

fn ifname(n: &str) -> Vec<u8> {
    let mut v = n.as_bytes().to_vec();
    v.resize(16, 0);
    v
}

/// Run one rule on a register file; its outcome.
fn eval(t: &TableInfo, r: &RuleInfo, p: &Pkt) -> RuleOut {
    let mut regs = [0u8; 96];
    let (net, th) = headers(p);
    let put = |regs: &mut [u8; 96], r: Option<u32>, v: &[u8]| -> bool {
        let Some(i) = r.and_then(reg32) else {
            return false;
        };
        let at = i as usize * 4;
        let Some(dst) = regs.get_mut(at..at + v.len()) else {
            return false;
        };
        dst.copy_from_slice(v);
        true
    };
    let get = |regs: &[u8; 96], r: u32, len: usize| -> Option<Vec<u8>> {
        let at = reg32(r)? as usize * 4;
        regs.get(at..at + len).map(<[u8]>::to_vec)
    };
    for e in &r.exprs {
        match e {
            DExpr::Meta {
                key, dreg: Some(d), ..
            } => {
                let v: Vec<u8> = match key {
                    0 => p.size.to_ne_bytes().to_vec(),
                    1 => if p.src.is_ipv6() { 0x86ddu16 } else { 0x0800 }
                        .to_be_bytes()
                        .to_vec(),
                    3 => 0u32.to_ne_bytes().to_vec(),
                    4 => match &p.iif {
                        Some((_, i)) => i.to_ne_bytes().to_vec(),
                        None => return RuleOut::NoMatch,
                    },
                    5 => match &p.oif {
                        Some((_, i)) => i.to_ne_bytes().to_vec(),
                        None => return RuleOut::NoMatch,
                    },
                    6 => ifname(p.iif.as_ref().map_or("", |x| x.0.as_str())),
                    7 => ifname(p.oif.as_ref().map_or("", |x| x.0.as_str())),
                    8 | 9 => 1u16.to_ne_bytes().to_vec(),
                    15 => vec![if p.src.is_ipv6() { 10 } else { 2 }],
                    16 => vec![p.proto],
                    k => return RuleOut::Unknown(format!("meta key {k}")),
                };
                if !put(&mut regs, Some(*d), &v) {
                    return RuleOut::Unknown("register".into());
                }
            }
            DExpr::Payload {
                base,
                offset,
                len,
                dreg: Some(d),
                ..
            } => {
                let src = match base {
                    1 => &net,
                    2 => &th,
                    _ => return RuleOut::Unknown("link-layer header".into()),
                };
                let (o, l) = (*offset as usize, *len as usize);
                if *base == 2 && p.proto != 1 && p.proto != 58 && o < 2 {
                    return RuleOut::Unknown("source port".into());
                }
                let Some(v) = src.get(o..o + l) else {
                    return RuleOut::NoMatch;
                };
                if !put(&mut regs, Some(*d), v) {
                    return RuleOut::Unknown("register".into());
                }
            }
            DExpr::Cmp { sreg, op, data } => {
                let Some(v) = get(&regs, *sreg, data.len()) else {
                    return RuleOut::Unknown("register".into());
                };
                let ord = v.as_slice().cmp(data.as_slice());
                let ok = match op {
                    0 => ord.is_eq(),
                    1 => ord.is_ne(),
                    2 => ord.is_lt(),
                    3 => ord.is_le(),
                    4 => ord.is_gt(),
                    5 => ord.is_ge(),
                    _ => return RuleOut::Unknown(format!("cmp op {op}")),
                };
                if !ok {
                    return RuleOut::NoMatch;
                }
            }
            DExpr::Range { sreg, op, from, to } => {
                let Some(v) = get(&regs, *sreg, from.len()) else {
                    return RuleOut::Unknown("register".into());
                };
                let inside = v.as_slice() >= from.as_slice() && v.as_slice() <= to.as_slice();
                if inside != (*op == 0) {
                    return RuleOut::NoMatch;
                }
            }
            DExpr::Bitwise {
                sreg,
                dreg,
                len,
                op: 0,
                mask,
                xor,
                ..
            } => {
                let Some(v) = get(&regs, *sreg, *len as usize) else {
                    return RuleOut::Unknown("register".into());
                };
                let out: Vec<u8> = v
                    .iter()
                    .zip(mask.iter().chain(std::iter::repeat(&0xff)))
                    .zip(xor.iter().chain(std::iter::repeat(&0)))
                    .map(|((b, m), x)| (b & m) ^ x)
                    .collect();
                if !put(&mut regs, Some(*dreg), &out) {
                    return RuleOut::Unknown("register".into());
                }
            }
            DExpr::Lookup {
                set,
                sreg,
                dreg,
                flags,
            } => {
                let Some(s) = t.set(set) else {
                    return RuleOut::Unknown(format!("set {set}"));
                };
                let Some(key) = get(&regs, *sreg, s.key_len as usize) else {
                    return RuleOut::Unknown("register".into());
                };
                let hit = lookup(s, &key);
                let invert = flags & 1 != 0;
                match (hit, dreg) {
                    (None, _) if !invert => return RuleOut::NoMatch,
                    (Some(_), _) if invert => return RuleOut::NoMatch,
                    (Some(Some(DData::Value(v))), Some(d)) if !put(&mut regs, Some(*d), v) => {
                        return RuleOut::Unknown("register".into());
                    }
                    (Some(Some(DData::Verdict { code, chain })), _) => {
                        return RuleOut::Verdict(*code, chain.clone());
                    }
                    _ => {}
                }
            }
            DExpr::Immediate { dreg: 0, data } => {
                if let DData::Verdict { code, chain } = data {
                    return RuleOut::Verdict(*code, chain.clone());
                }
            }
            DExpr::Immediate {
                dreg,
                data: DData::Value(v),
            } => {
                if !put(&mut regs, Some(*dreg), v) {
                    return RuleOut::Unknown("register".into());
                }
            }
            DExpr::Ct {
                key, dreg: Some(d), ..
            } => {
                let v: u32 = match key {
                    0 => 8, // ct state new
                    1 => {
                        if p.dnat {
                            0x20
                        } else {
                            0
                        }
                    } // ct status
                    2 => 0, // ct direction original
                    3 => 0, // ct mark
                    k => return RuleOut::Unknown(format!("ct key {k}")),
                };
                if !put(&mut regs, Some(*d), &v.to_ne_bytes()) {
                    return RuleOut::Unknown("register".into());
                }
            }
            DExpr::Reject { .. } => return RuleOut::Verdict(0, None),
            DExpr::Masq { .. } | DExpr::Nat { kind: 0, .. } => return RuleOut::SourceNat,
            DExpr::Nat { .. } | DExpr::Redir { .. } => return RuleOut::Verdict(1, None),
            DExpr::Counter { .. } | DExpr::Log { .. } | DExpr::Limit { .. } | DExpr::Notrack => {}
            DExpr::Fib { .. } => return RuleOut::Unknown("fib".into()),
            DExpr::Match { name, .. } | DExpr::Target { name, .. } => {
                return RuleOut::Unknown(format!("xtables {name}"));
            }
            other => return RuleOut::Unknown(format!("{other:?}").chars().take(40).collect()),
        }
    }
    RuleOut::Fallthrough
}

/// The element of `s` holding `key`: `Some(data)` when found.
fn lookup<'s>(s: &'s warren_kernel::nft::dump::SetInfo, key: &[u8]) -> Option<Option<&'s DData>> {
    if s.flags & set_flags::INTERVAL != 0 {
        if s.elements.iter().any(|e| e.key_end.is_some()) {
            return s
                .elements
                .iter()
                .find(|e| {
                    e.key.as_slice() <= key && e.key_end.as_deref().is_some_and(|end| key <= end)
                })
                .map(|e| e.data.as_ref());
        }
        let mut best: Option<&warren_kernel::nft::dump::ElemInfo> = None;
        for e in s.elements.iter().filter(|e| e.key.len() == key.len()) {
            if e.key.as_slice() > key {
                continue;
            }
            let end = |x: &warren_kernel::nft::dump::ElemInfo| x.flags & ELEM_INTERVAL_END != 0;
            best = match best {
                None => Some(e),
                Some(b) if e.key > b.key || (e.key == b.key && !end(e)) => Some(e),
                keep => keep,
            };
        }
        return best
            .filter(|b| b.flags & ELEM_INTERVAL_END == 0)
            .map(|b| b.data.as_ref());
    }
    s.elements
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.data.as_ref())
}

/// A rule in words close to nft's (payload and meta names, values, verdicts).
pub fn text(r: &RuleInfo) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    for e in &r.exprs {
        match e {
            DExpr::Meta {
                key, dreg: Some(_), ..
            } => {
                last = Some(
                    match key {
                        0 => "meta length",
                        3 => "meta mark",
                        4 => "iif",
                        5 => "oif",
                        6 => "iifname",
                        7 => "oifname",
                        15 => "meta nfproto",
                        16 => "meta l4proto",
                        _ => "meta",
                    }
                    .to_owned(),
                );
            }
            DExpr::Payload {
                base,
                offset,
                len,
                dreg: Some(_),
                ..
            } => {
                last = Some(match (base, offset, len) {
                    (1, 9, 1) => "ip protocol".into(),
                    (1, 12, 4) => "ip saddr".into(),
                    (1, 16, 4) => "ip daddr".into(),
                    (1, 6, 1) => "ip6 nexthdr".into(),
                    (1, 8, 16) => "ip6 saddr".into(),
                    (1, 24, 16) => "ip6 daddr".into(),
                    (2, 0, 2) => "th sport".into(),
                    (2, 2, 2) => "th dport".into(),
                    (b, o, l) => format!(
                        "@{},{},{}",
                        ["ll", "nh", "th", "ih"].get(*b as usize).unwrap_or(&"?"),
                        o * 8,
                        l * 8
                    ),
                });
            }
            DExpr::Ct {
                key, dreg: Some(_), ..
            } => {
                last = Some(match key {
                    0 => "ct state".into(),
                    1 => "ct status".into(),
                    k => format!("ct key {k}"),
                });
            }
            DExpr::Cmp { op, data, .. } => {
                let what = last.take().unwrap_or_else(|| "?".into());
                let ops = ["", "!= ", "< ", "<= ", "> ", ">= "];
                out.push(format!(
                    "{what} {}{}",
                    ops.get(*op as usize).unwrap_or(&"? "),
                    value(&what, data)
                ));
            }
            DExpr::Lookup { set, flags, .. } => {
                let what = last.take().unwrap_or_default();
                let not = if flags & 1 != 0 { "!= " } else { "" };
                out.push(format!("{what} {not}@{set}").trim().to_owned());
            }
            DExpr::Counter { .. } => out.push("counter".into()),
            DExpr::Reject { .. } => out.push("reject".into()),
            DExpr::Immediate {
                dreg: 0,
                data: DData::Verdict { code, chain },
            } => out.push(match (code, chain) {
                (0, _) => "drop".into(),
                (1, _) => "accept".into(),
                (-3, Some(c)) => format!("jump {c}"),
                (-4, Some(c)) => format!("goto {c}"),
                (-5, _) => "return".into(),
                (c, _) => format!("verdict {c}"),
            }),
            DExpr::Masq { .. } => out.push("masquerade".into()),
            DExpr::Log { .. } => out.push("log".into()),
            _ => {}
        }
    }
    out.join(" ")
}

fn value(what: &str, data: &[u8]) -> String {
    match (what, data.len()) {
        (w, 16) if w.ends_with("name") => {
            format!(
                "\"{}\"",
                String::from_utf8_lossy(data).trim_end_matches('\0')
            )
        }
        (_, 4) if what.contains("addr") => {
            IpAddr::from(<[u8; 4]>::try_from(data).unwrap_or_default()).to_string()
        }
        (_, 16) if what.contains("addr") => {
            IpAddr::from(<[u8; 16]>::try_from(data).unwrap_or_default()).to_string()
        }
        (_, 2) if what.contains("port") => u16::from_be_bytes([data[0], data[1]]).to_string(),
        (_, 1) => data[0].to_string(),
        _ => data.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    }
}
