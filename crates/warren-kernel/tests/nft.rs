//! nf_tables over netlink: the encoder byte for byte against the uapi layout, and the kernel
//! taking warren's batches (read back with `nft -j`) and refused batches leaving nothing
//! behind. The firewall built on it is tested in `firewall.rs`.

use nix::errno::Errno;
use serde_json::Value;
use warren_kernel::nft::{
    Batch, Chain, ChainType, CmpOp, Expr, Family, Hook, MetaKey, Nft, Reg, Rule, Table, Verdict,
};
use warren_kernel::{Error, NetNs};
use warren_testkit::oracle::ns_path;
use warren_testkit::sandbox_test;

/// The object message of a batch holding exactly one: without the begin and end messages.
fn only_message(b: &Batch) -> Vec<u8> {
    let all = b.to_bytes(1);
    all[20..all.len() - 20].to_vec()
}

/// nlmsghdr + nfgenmsg of an nf_tables message (little-endian host).
fn header(len: u32, msg: u8, flags: u16, seq: u32, family: u8) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&len.to_le_bytes());
    h.extend_from_slice(&[msg, 10]); // NFNL_SUBSYS_NFTABLES << 8 | msg
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&seq.to_le_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, family, 0, 0, 0]);
    h
}

#[cfg(target_endian = "little")]
#[test]
fn batch_of_a_table_is_begin_newtable_end() {
    let mut b = Batch::new();
    b.add_table(&Table::new(Family::Ip, "warren"));
    let all = b.to_bytes(1);
    // BATCH_BEGIN: type 0x10, NLM_F_REQUEST, seq 1, AF_UNSPEC, res_id NFNL_SUBSYS_NFTABLES (be).
    let begin = [
        20, 0, 0, 0, 0x10, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
    ];
    let end = [
        20, 0, 0, 0, 0x11, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
    ];
    // NEWTABLE, REQUEST|ACK|CREATE, seq 2, NFPROTO_IPV4; NFTA_TABLE_NAME, NFTA_TABLE_FLAGS 0.
    let mut table = header(40, 0, 0x405, 2, 2);
    table.extend_from_slice(&[11, 0, 1, 0, b'w', b'a', b'r', b'r', b'e', b'n', 0, 0]);
    table.extend_from_slice(&[8, 0, 2, 0, 0, 0, 0, 0]);
    let mut want = begin.to_vec();
    want.extend(table);
    want.extend(end);
    assert_eq!(all, want);
}

#[cfg(target_endian = "little")]
#[test]
fn base_chain_bytes() {
    let t = Table::new(Family::Ip, "warren");
    let mut b = Batch::new();
    b.add_chain(&Chain::base(
        &t,
        "prerouting",
        ChainType::Nat,
        Hook::Prerouting,
        -100,
    ));
    let mut want = header(20 + 12 + 16 + 20 + 8 + 8, 3, 0x405, 2, 2);
    want.extend_from_slice(&[11, 0, 1, 0, b'w', b'a', b'r', b'r', b'e', b'n', 0, 0]);
    want.extend_from_slice(&[15, 0, 3, 0]);
    want.extend_from_slice(b"prerouting\0\0");
    // Type, policy, hook: the order nft sends them in.
    want.extend_from_slice(&[8, 0, 7, 0, b'n', b'a', b't', 0]); // NFTA_CHAIN_TYPE
    want.extend_from_slice(&[8, 0, 5, 0, 0, 0, 0, 1]); // NFTA_CHAIN_POLICY NF_ACCEPT
    // NFTA_CHAIN_HOOK (nested): HOOKNUM 0 (prerouting), PRIORITY -100, both big-endian.
    want.extend_from_slice(&[
        20, 0, 4, 0x80, 8, 0, 1, 0, 0, 0, 0, 0, 8, 0, 2, 0, 0xff, 0xff, 0xff, 0x9c,
    ]);
    assert_eq!(only_message(&b), want);
}

#[cfg(target_endian = "little")]
#[test]
fn rule_bytes() {
    let t = Table::new(Family::Ip, "warren");
    let c = Chain::regular(&t, "c");
    let rule = Rule::new(
        &c,
        vec![
            Expr::Meta {
                key: MetaKey::L4Proto,
                dreg: Reg::R0,
            },
            Expr::Cmp {
                sreg: Reg::R0,
                op: CmpOp::Eq,
                data: vec![6],
            },
            Expr::verdict(Verdict::Accept),
        ],
    );
    let mut b = Batch::new();
    b.add_rule(&rule);
    // NEWRULE, REQUEST|ACK|CREATE|APPEND.
    let mut want = header(20 + 12 + 8 + 132, 6, 0xc05, 2, 2);
    want.extend_from_slice(&[11, 0, 1, 0, b'w', b'a', b'r', b'r', b'e', b'n', 0, 0]);
    want.extend_from_slice(&[6, 0, 2, 0, b'c', 0, 0, 0]);
    want.extend_from_slice(&[132, 0, 4, 0x80]); // NFTA_RULE_EXPRESSIONS
    // [ meta load l4proto => reg 1 ] (NFT_META_L4PROTO = 16, then NFT_REG32_00 = 8: nft's
    // order of the key and the register)
    want.extend_from_slice(&[
        36, 0, 1, 0x80, 9, 0, 1, 0, b'm', b'e', b't', b'a', 0, 0, 0, 0,
    ]);
    want.extend_from_slice(&[
        20, 0, 2, 0x80, 8, 0, 2, 0, 0, 0, 0, 16, 8, 0, 1, 0, 0, 0, 0, 8,
    ]);
    // [ cmp eq reg 1 0x06 ]
    want.extend_from_slice(&[44, 0, 1, 0x80, 8, 0, 1, 0, b'c', b'm', b'p', 0]);
    want.extend_from_slice(&[
        32, 0, 2, 0x80, 8, 0, 1, 0, 0, 0, 0, 8, 8, 0, 2, 0, 0, 0, 0, 0,
    ]);
    want.extend_from_slice(&[12, 0, 3, 0x80, 5, 0, 1, 0, 6, 0, 0, 0]);
    // [ immediate reg 0 accept ]
    want.extend_from_slice(&[48, 0, 1, 0x80, 14, 0, 1, 0]);
    want.extend_from_slice(b"immediate\0\0\0");
    want.extend_from_slice(&[28, 0, 2, 0x80, 8, 0, 1, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[16, 0, 2, 0x80, 12, 0, 2, 0x80, 8, 0, 1, 0, 0, 0, 0, 1]);
    assert_eq!(only_message(&b), want);
}

/// `nft -j ARGS` inside `ns`.
fn nft_json(ns: &NetNs, args: &[&str]) -> Value {
    let path = format!("--net={}", ns_path(ns));
    let mut full = vec![path.as_str(), "nft", "-j"];
    full.extend_from_slice(args);
    let out = warren_testkit::run("nsenter", &full);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("nft -j {args:?}: {e}: {out}"))
}

/// The objects of kind `kind` ("table", "chain", "set", "map", "rule") in the ruleset.
fn objects(ns: &NetNs, kind: &str) -> Vec<Value> {
    nft_json(ns, &["list", "ruleset"])["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get(kind).cloned())
        .collect()
}

fn have_nft() -> bool {
    if std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    warren_testkit::skip("nft (package nftables) is not installed: no oracle");
    false
}

sandbox_test! {
    fn failing_batch_names_the_object_and_changes_nothing() {
        if !have_nft() {
            return;
        }
        let ns = NetNs::current().unwrap();
        let nft = Nft::new(&ns).unwrap();

        let long = "t".repeat(300);
        let e = nft.apply(Batch::new().add_table(&Table::new(Family::Inet, &long))).unwrap_err();
        assert!(matches!(e, Error::Netlink { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("add table inet {long}")), "{e}");
        assert_eq!(e.errno(), Some(Errno::ERANGE), "{e}");

        let t = Table::new(Family::Inet, "partial");
        let c = Chain::regular(&t, "c");
        let mut b = Batch::new();
        b.add_table(&t)
            .add_chain(&c)
            .add_rule(&Rule::new(&c, vec![Expr::verdict(Verdict::Jump("nowhere".into()))]));
        let e = nft.apply(&b).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOENT), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("add rule in chain inet partial c [immediate]"), "{msg}");
        assert!(objects(&ns, "table").is_empty(), "the transaction left state behind");
    }
}

sandbox_test! {
    fn filter_rules_read_back_as_nft_would_write_them() {
        if !have_nft() {
            return;
        }
        use warren_kernel::nft::expr::ct_state;
        use warren_kernel::nft::{CtKey, DataType, Element, MapTo, PayloadBase, Set};
        let ns = NetNs::current().unwrap();
        let nft = Nft::new(&ns).unwrap();
        let t = Table::new(Family::Ip, "wf");
        let fwd = Chain::base(&t, "forward", ChainType::Filter, Hook::Forward, 0);
        let inbound = Chain::regular(&t, "inbound");
        let blocked = Set::new(&t, "blocked", &[DataType::Ipv4Addr]);
        let svc = Set::new(&t, "svc", &[DataType::InetService]).map_to(MapTo::Verdict);
        let mut ifname = [0u8; 16];
        ifname[..4].copy_from_slice(b"eth0");
        let mut b = Batch::new();
        b.add_table(&t)
            .add_chain(&inbound)
            .add_chain(&fwd)
            .add_set(&blocked)
            .add_set(&svc)
            .add_elements(&blocked, &[Element::key(vec![192, 0, 2, 7])], false)
            .add_elements(
                &svc,
                &[
                    Element::verdict(22u16.to_be_bytes().to_vec(), Verdict::Accept),
                    Element::verdict(23u16.to_be_bytes().to_vec(), Verdict::Drop),
                ],
                false,
            )
            .add_rule(&Rule::new(
                &fwd,
                vec![
                    Expr::Ct { key: CtKey::State, dreg: Reg::R0 },
                    Expr::Bitwise {
                        sreg: Reg::R0,
                        dreg: Reg::R0,
                        mask: (ct_state::ESTABLISHED | ct_state::RELATED).to_ne_bytes().to_vec(),
                        xor: vec![0; 4],
                    },
                    Expr::Cmp { sreg: Reg::R0, op: CmpOp::Neq, data: vec![0; 4] },
                    Expr::verdict(Verdict::Accept),
                ],
            ))
            .add_rule(&Rule::new(
                &fwd,
                vec![
                    Expr::Meta { key: MetaKey::IifName, dreg: Reg::R0 },
                    Expr::Cmp { sreg: Reg::R0, op: CmpOp::Eq, data: ifname.to_vec() },
                    Expr::verdict(Verdict::Jump("inbound".into())),
                ],
            ))
            .add_rule(&Rule::new(
                &inbound,
                vec![
                    Expr::Payload { base: PayloadBase::Network, offset: 12, len: 4, dreg: Reg::R0 },
                    Expr::Lookup {
                        set: "blocked".into(),
                        sreg: Reg::R0,
                        dreg: None,
                        verdict: false,
                        invert: false,
                    },
                    Expr::Counter,
                    Expr::verdict(Verdict::Drop),
                ],
            ))
            .add_rule(&Rule::new(
                &inbound,
                vec![
                    Expr::Meta { key: MetaKey::L4Proto, dreg: Reg::R0 },
                    Expr::Cmp { sreg: Reg::R0, op: CmpOp::Eq, data: vec![6] },
                    Expr::Payload { base: PayloadBase::Transport, offset: 2, len: 2, dreg: Reg::R0 },
                    Expr::Lookup {
                        set: "svc".into(),
                        sreg: Reg::R0,
                        dreg: None,
                        verdict: true,
                        invert: false,
                    },
                ],
            ))
            .add_rule(&Rule::new(&inbound, vec![Expr::verdict(Verdict::Return)]));
        nft.apply(&b).unwrap();

        let path = format!("--net={}", ns_path(&ns));
        let text = warren_testkit::run("nsenter", &[&path, "nft", "list", "table", "ip", "wf"]);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for want in [
            "type filter hook forward priority filter; policy accept;",
            "ct state established,related accept",
            "iifname \"eth0\" jump inbound",
            "ip saddr @blocked counter packets 0 bytes 0 drop",
            "tcp dport vmap @svc",
            "return",
            "elements = { 192.0.2.7 }",
        ] {
            assert!(lines.contains(&want), "missing {want:?} in:\n{text}");
        }
        assert!(text.contains("22 : accept") && text.contains("23 : drop"), "{text}");
    }
}
