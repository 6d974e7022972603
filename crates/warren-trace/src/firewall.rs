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

use warren_kernel::nft::print::rule_text;

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
                        rule_text(t, r)
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
                rule_text(t, r)
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

#[cfg(test)]
mod tests {
    use super::*;
    use warren_kernel::nft::dump::{ElemInfo, HookInfo, SetInfo};

    fn pkt(dport: u16) -> Pkt {
        Pkt {
            src: "10.0.1.2".parse().unwrap(),
            dst: "10.0.2.2".parse().unwrap(),
            proto: 6,
            dport: Some(dport),
            size: 1500,
            iif: Some(("ra".into(), 2)),
            oif: Some(("br0".into(), 5)),
            dnat: false,
        }
    }

    fn rule(handle: u64, exprs: Vec<DExpr>) -> RuleInfo {
        RuleInfo {
            handle,
            exprs,
            comment: None,
        }
    }

    fn verdict(code: i32, chain: Option<&str>) -> DExpr {
        DExpr::Immediate {
            dreg: 0,
            data: DData::Verdict {
                code,
                chain: chain.map(str::to_owned),
            },
        }
    }

    fn cmp(op: u32, data: &[u8]) -> DExpr {
        DExpr::Cmp {
            sreg: 1,
            op,
            data: data.to_vec(),
        }
    }

    fn dport() -> DExpr {
        DExpr::Payload {
            base: 2,
            offset: 2,
            len: 2,
            dreg: Some(1),
            sreg: None,
        }
    }

    fn daddr() -> DExpr {
        DExpr::Payload {
            base: 1,
            offset: 16,
            len: 4,
            dreg: Some(1),
            sreg: None,
        }
    }

    fn chain(
        name: &str,
        hook: Option<u32>,
        policy: Option<u32>,
        rules: Vec<RuleInfo>,
    ) -> ChainInfo {
        ChainInfo {
            name: name.into(),
            handle: 1,
            hook: hook.map(|h| HookInfo {
                hooknum: h,
                priority: 0,
                dev: None,
            }),
            kind: hook.map(|_| "filter".into()),
            policy,
            rules,
        }
    }

    fn table(chains: Vec<ChainInfo>, sets: Vec<SetInfo>) -> TableInfo {
        TableInfo {
            family: 1,
            name: "filter".into(),
            flags: 0,
            handle: 1,
            sets,
            chains,
        }
    }

    fn ports_set() -> SetInfo {
        let el = |p: u16| ElemInfo {
            key: p.to_be_bytes().to_vec(),
            key_end: None,
            data: None,
            flags: 0,
        };
        SetInfo {
            name: "blocked".into(),
            handle: 2,
            flags: 0,
            key_type: 13,
            key_len: 2,
            data_type: None,
            data_len: None,
            timeout: None,
            elements: vec![el(22), el(80)],
        }
    }

    #[test]
    fn judgements() {
        let fwd = Some(hook::FORWARD);
        // One forward chain `f` with policy accept and these rules.
        let forward = |rules: Vec<RuleInfo>, sets: Vec<SetInfo>| {
            table(vec![chain("f", fwd, Some(1), rules)], sets)
        };
        // A forward chain dropping ports in set `blocked` (22 and 80).
        let blocked = || {
            forward(
                vec![rule(
                    9,
                    vec![
                        dport(),
                        DExpr::Lookup {
                            set: "blocked".into(),
                            sreg: 1,
                            dreg: None,
                            flags: 0,
                        },
                        verdict(0, None),
                    ],
                )],
                vec![ports_set()],
            )
        };
        // (name, table, destination port, expected dropping rule's ending, maybes)
        let cases: Vec<(&str, TableInfo, u16, Option<&str>, usize)> = vec![
            (
                "empty chain, accept policy",
                forward(vec![], vec![]),
                80,
                None,
                0,
            ),
            (
                "drop policy",
                table(vec![chain("f", fwd, Some(0), vec![])], vec![]),
                80,
                Some("chain f policy drop"),
                0,
            ),
            (
                "port rule",
                forward(
                    vec![
                        rule(
                            3,
                            vec![dport(), cmp(0, &81u16.to_be_bytes()), verdict(0, None)],
                        ),
                        rule(
                            4,
                            vec![dport(), cmp(0, &80u16.to_be_bytes()), verdict(0, None)],
                        ),
                    ],
                    vec![],
                ),
                80,
                Some("handle 4: th dport 80 drop"),
                0,
            ),
            (
                "accept first",
                forward(
                    vec![
                        rule(3, vec![daddr(), cmp(0, &[10, 0, 2, 2]), verdict(1, None)]),
                        rule(4, vec![verdict(0, None)]),
                    ],
                    vec![],
                ),
                80,
                None,
                0,
            ),
            (
                "neq",
                forward(
                    vec![rule(
                        5,
                        vec![
                            daddr(),
                            cmp(1, &[10, 0, 2, 9]),
                            DExpr::Reject { kind: 1, code: 0 },
                        ],
                    )],
                    vec![],
                ),
                80,
                // No `meta nfproto` before the payload in this inet rule: printed raw, as nft does.
                Some("handle 5: @nh,128,32 != 167772681 reject with tcp reset"),
                0,
            ),
            (
                "jump and return",
                table(
                    vec![
                        chain(
                            "f",
                            fwd,
                            Some(1),
                            vec![
                                rule(6, vec![verdict(-3, Some("sub"))]),
                                rule(7, vec![verdict(0, None)]),
                            ],
                        ),
                        chain("sub", None, None, vec![rule(8, vec![verdict(-5, None)])]),
                    ],
                    vec![],
                ),
                80,
                Some("handle 7: drop"),
                0,
            ),
            (
                "set lookup",
                blocked(),
                80,
                Some("handle 9: th dport @blocked drop"),
                0,
            ),
            ("set lookup misses", blocked(), 443, None, 0),
            (
                "unjudgeable fib",
                forward(
                    vec![rule(
                        10,
                        vec![
                            DExpr::Fib {
                                dreg: 1,
                                result: 3,
                                flags: 2,
                            },
                            cmp(0, &[1, 0, 0, 0]),
                            verdict(0, None),
                        ],
                    )],
                    vec![],
                ),
                80,
                None,
                1,
            ),
            (
                "other hook",
                table(vec![chain("i", Some(hook::INPUT), Some(0), vec![])], vec![]),
                80,
                None,
                0,
            ),
        ];
        for (name, t, port, want, maybes) in cases {
            let j = judge(
                std::slice::from_ref(&t),
                &[hook::PREROUTING, hook::FORWARD, hook::POSTROUTING],
                &pkt(port),
            );
            match want {
                None => assert_eq!(j.drop, None, "{name}"),
                Some(end) => assert!(
                    j.drop.as_deref().is_some_and(|d| d.ends_with(end)),
                    "{name}: {:?}",
                    j.drop
                ),
            }
            assert_eq!(j.maybe.len(), maybes, "{name}: {:?}", j.maybe);
        }
    }
}
