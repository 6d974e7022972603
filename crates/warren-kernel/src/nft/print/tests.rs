//! Table-driven tests of the printer: decoded expressions in, nft's text out; and the
//! decoders fed random bytes.

use super::super::dump::{
    ChainInfo, DData, DExpr, ElemInfo, HookInfo, RuleInfo, SetInfo, TableInfo, decode_chain,
    decode_elements, decode_expr, decode_rule, decode_set, decode_table, set_flags,
};
use super::*;

fn table(family: u8, sets: Vec<SetInfo>) -> TableInfo {
    TableInfo {
        family,
        name: "t".into(),
        flags: 0,
        handle: 1,
        sets,
        chains: Vec::new(),
    }
}

fn rule(exprs: Vec<DExpr>) -> RuleInfo {
    RuleInfo {
        handle: 2,
        exprs,
        comment: None,
    }
}

fn meta(key: u32) -> DExpr {
    DExpr::Meta {
        key,
        dreg: Some(1),
        sreg: None,
    }
}
fn payload(base: u32, offset: u32, len: u32) -> DExpr {
    DExpr::Payload {
        base,
        offset,
        len,
        dreg: Some(1),
        sreg: None,
    }
}
fn cmp(op: u32, data: &[u8]) -> DExpr {
    DExpr::Cmp {
        sreg: 1,
        op,
        data: data.to_vec(),
    }
}
fn verdict(code: i32) -> DExpr {
    DExpr::Immediate {
        dreg: 0,
        data: DData::Verdict { code, chain: None },
    }
}

#[test]
fn rules_print_as_nft_prints_them() {
    let cases: Vec<(u8, Vec<DExpr>, &str)> = vec![
        (
            1,
            vec![
                meta(15),
                cmp(0, &[2]),
                payload(1, 12, 2),
                cmp(0, &[10, 1]),
                meta(16),
                cmp(0, &[6]),
                payload(2, 2, 2),
                cmp(0, &[0, 22]),
                DExpr::Counter {
                    packets: 3,
                    bytes: 180,
                },
                verdict(1),
            ],
            "ip saddr 10.1.0.0/16 tcp dport 22 counter packets 3 bytes 180 accept",
        ),
        (
            2,
            vec![
                meta(7),
                cmp(1, b"docker0\0"),
                DExpr::Masq {
                    flags: 0,
                    proto_min: None,
                    proto_max: None,
                },
            ],
            "oifname != \"docker0\" masquerade",
        ),
        (
            2,
            vec![
                DExpr::Ct {
                    key: 0,
                    dreg: Some(1),
                    sreg: None,
                    dir: None,
                },
                DExpr::Bitwise {
                    sreg: 1,
                    dreg: 1,
                    len: 4,
                    op: 0,
                    mask: vec![6, 0, 0, 0],
                    xor: vec![0; 4],
                    data: vec![],
                },
                cmp(1, &[0; 4]),
                verdict(1),
            ],
            "ct state established,related accept",
        ),
        (
            2,
            vec![
                meta(16),
                cmp(0, &[17]),
                payload(2, 2, 2),
                cmp(5, &[0x03, 0xe8]),
                cmp(3, &[0x07, 0xd0]),
                verdict(0),
            ],
            "udp dport 1000-2000 drop",
        ),
        (
            1,
            vec![
                meta(16),
                cmp(0, &[6]),
                payload(2, 2, 2),
                cmp(0, &[0x1f, 0x90]),
                DExpr::Immediate {
                    dreg: 1,
                    data: DData::Value(vec![10, 0, 0, 5]),
                },
                DExpr::Immediate {
                    dreg: 2,
                    data: DData::Value(vec![0, 80]),
                },
                DExpr::Nat {
                    kind: 1,
                    family: 2,
                    addr_min: Some(1),
                    addr_max: Some(1),
                    proto_min: Some(2),
                    proto_max: Some(2),
                    flags: 3,
                },
            ],
            "tcp dport 8080 dnat ip to 10.0.0.5:80",
        ),
        (
            2,
            vec![
                DExpr::Fib {
                    dreg: 1,
                    result: 3,
                    flags: 2,
                },
                cmp(0, &[2, 0, 0, 0]),
                DExpr::Match {
                    name: "addrtype".into(),
                    rev: 1,
                },
                DExpr::Target {
                    name: "DNAT".into(),
                    rev: 2,
                },
            ],
            "fib daddr type local xt match \"addrtype\" xt target \"DNAT\"",
        ),
        (
            1,
            vec![
                DExpr::Limit {
                    rate: 10,
                    unit: 1,
                    burst: 5,
                    kind: 0,
                    flags: 0,
                },
                DExpr::Log {
                    prefix: Some("x: ".into()),
                    group: None,
                    snaplen: None,
                    qthreshold: None,
                    level: Some(4),
                    flags: 0,
                },
                DExpr::Reject { kind: 2, code: 1 },
            ],
            "limit rate 10/second log prefix \"x: \" reject",
        ),
        (
            2,
            vec![DExpr::Other {
                name: "quota".into(),
            }],
            "[quota]",
        ),
    ];
    for (family, exprs, want) in cases {
        assert_eq!(rule_text(&table(family, vec![]), &rule(exprs)), want);
    }
}

fn set(name: &str, flags: u32, key_type: u32, key_len: u32, elements: Vec<ElemInfo>) -> SetInfo {
    SetInfo {
        name: name.into(),
        handle: 3,
        flags,
        key_type,
        key_len,
        data_type: None,
        data_len: None,
        timeout: None,
        elements,
    }
}

fn elem(key: &[u8], flags: u32) -> ElemInfo {
    ElemInfo {
        key: key.to_vec(),
        key_end: None,
        data: None,
        flags,
    }
}

#[test]
fn anonymous_sets_are_inlined_and_intervals_merged() {
    let anon = set(
        "__set0",
        set_flags::ANONYMOUS | set_flags::CONSTANT,
        13,
        2,
        vec![elem(&[1, 187], 0), elem(&[0, 80], 0)],
    );
    let t = table(2, vec![anon]);
    let r = rule(vec![
        meta(16),
        cmp(0, &[6]),
        payload(2, 2, 2),
        DExpr::Lookup {
            set: "__set0".into(),
            sreg: 1,
            dreg: None,
            flags: 0,
        },
        verdict(1),
    ]);
    assert_eq!(rule_text(&t, &r), "tcp dport { 80, 443 } accept");

    let intervals = set(
        "nets",
        set_flags::INTERVAL,
        7,
        4,
        vec![
            elem(&[0, 0, 0, 0], ELEM_INTERVAL_END),
            elem(&[10, 0, 0, 0], 0),
            elem(&[11, 0, 0, 0], ELEM_INTERVAL_END),
            elem(&[192, 168, 1, 1], 0),
            elem(&[192, 168, 1, 2], ELEM_INTERVAL_END),
            elem(&[192, 168, 2, 1], 0),
            elem(&[192, 168, 2, 4], ELEM_INTERVAL_END),
        ],
    );
    assert_eq!(
        elements_text(&intervals),
        ["10.0.0.0/8", "192.168.1.1", "192.168.2.1-192.168.2.3"]
    );
}

#[test]
fn chains_print_hook_priority_and_policy() {
    let mut t = table(2, vec![]);
    t.chains.push(ChainInfo {
        name: "OUTPUT".into(),
        handle: 1,
        hook: Some(HookInfo {
            hooknum: 3,
            priority: -100,
            dev: None,
        }),
        kind: Some("nat".into()),
        policy: Some(1),
        rules: vec![],
    });
    assert_eq!(
        table_text(&t),
        "table ip t {\n\tchain OUTPUT {\n\t\ttype nat hook output priority -100; policy accept;\n\t}\n}\n"
    );
    let cases = [
        (2, 0, -100, "dstnat"),
        (2, 4, 100, "srcnat"),
        (2, 1, 0, "filter"),
        (2, 1, 5, "filter + 5"),
        (2, 0, -310, "raw - 10"),
        (2, 0, -150, "mangle"),
        (7, 1, -200, "filter"),
        (2, 1, 25, "25"),
    ];
    for (family, hook, prio, want) in cases {
        assert_eq!(priority_text(family, hook, prio), want);
    }
}

/// A tiny deterministic generator (no extra dependency).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn decoders_and_printer_survive_random_bytes() {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let len = (xorshift(&mut s) % 160) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| xorshift(&mut s) as u8).collect();
        // Mostly well-formed attribute headers, so the decoders get past the first one.
        if b.len() >= 4 && xorshift(&mut s) % 2 == 0 {
            let l = (b.len() as u16).to_ne_bytes();
            b[0] = l[0];
            b[1] = l[1];
        }
        let e = decode_expr(&b);
        let _ = decode_table(&b);
        let _ = decode_chain(&b);
        let _ = decode_set(&b);
        let _ = decode_elements(&b);
        let (_, _, r) = decode_rule(&b);
        let t = table(1, vec![]);
        let _ = rule_text(&t, &rule(vec![e, cmp(0, &b)]));
        let _ = rule_text(&t, &r);
    }
}
