//! Byte-level tests of tc requests and options against the uapi layouts (`pkt_sched.h`,
//! `pkt_cls.h`, `tc_act/tc_mirred.h`), with the scheduler clock of every current kernel.

use super::wire::{self, Psched};
use super::*;
use crate::link::tests_support::{attr, attr_str, nested, nlmsghdr};

fn ps() -> Psched {
    Psched::parse("000003e8 00000040 000f4240 3b9aca00\n").unwrap()
}

/// `struct tcmsg`.
fn tcmsg(ifindex: i32, handle: u32, parent: u32, info: u32) -> Vec<u8> {
    let mut v = vec![0u8; 4]; // family, pad1, pad2
    v.extend(ifindex.to_ne_bytes());
    v.extend(handle.to_ne_bytes());
    v.extend(parent.to_ne_bytes());
    v.extend(info.to_ne_bytes());
    v
}

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

#[test]
fn psched_gives_iproute2s_tick_conversion() {
    let p = ps();
    assert!((p.tick_in_usec - 15.625).abs() < 1e-9);
    assert!((p.hz - 1e9).abs() < 1e-3);
    assert_eq!(p, Psched::default());
    // 4096 bytes at 125000 bytes/s = 32.768 ms = 512000 ticks of 64 ns, and back.
    assert_eq!(p.xmittime(125_000, 4096), 512_000);
    assert_eq!(p.xmitsize(125_000, 512_000), 4096);
    assert_eq!(Psched::parse("garbage"), None);
    assert_eq!(Psched::parse("1 0 1 1"), None);
}

#[test]
fn tbf_options_match_tc_qopt_layout() {
    let got = wire::tbf_options(125_000, 4096, 12_500, &ps());
    // struct tc_ratespec: cell_log 3 (MTU 2047 in 256 cells), linklayer ethernet, overhead 0,
    // cell_align -1, mpu 0, rate.
    let mut rate = vec![3u8, 1, 0, 0, 0xff, 0xff, 0, 0];
    rate.extend(125_000u32.to_ne_bytes());
    let mut qopt = rate;
    qopt.extend([0u8; 12]); // peakrate
    qopt.extend(words(&[12_500, 512_000, 0])); // limit, buffer (ticks), mtu
    // The rate table: ticks to send (i + 1) * 8 bytes, rounded up after tc's double
    // arithmetic (so 984 bytes are 123001 ticks, as tc sends them); 8 bytes take 64 µs = 1000.
    let table: Vec<u32> = (1..=256u32)
        .map(|i| ps().xmittime(125_000, i * 8))
        .collect();
    assert_eq!((table[0], table[122], table[255]), (1000, 123_001, 256_000));
    assert!(
        table
            .iter()
            .enumerate()
            .all(|(i, &t)| t.abs_diff((i as u32 + 1) * 1000) <= 1)
    );
    let rtab = words(&table);
    let mut want = attr(1, &qopt); // TCA_TBF_PARMS
    want.extend(attr(6, &4096u32.to_ne_bytes())); // TCA_TBF_BURST
    want.extend(attr(2, &rtab)); // TCA_TBF_RTAB
    assert_eq!(got, want);
    assert_eq!(wire::tbf_decode(&got, &ps()), Some((125_000, 4096, 12_500)));
}

#[test]
fn tbf_rates_past_32_bits_go_in_rate64() {
    let rate = 5_000_000_000u64;
    let got = wire::tbf_options(rate, 1 << 20, 1 << 22, &ps());
    let attrs: Vec<(u16, Vec<u8>)> = wire::attrs(&got).map(|(t, p)| (t, p.to_vec())).collect();
    let types: Vec<u16> = attrs.iter().map(|(t, _)| *t).collect();
    assert_eq!(types, [1, 6, 4, 2]); // PARMS, BURST, RATE64, RTAB
    assert_eq!(
        attrs[0].1[8..12],
        u32::MAX.to_ne_bytes(),
        "rate field says ~0"
    );
    assert_eq!(attrs[2].1, rate.to_ne_bytes());
    assert_eq!(wire::tbf_decode(&got, &ps()).map(|t| t.0), Some(rate));
}

#[test]
fn ingress_qdisc_request_bytes() {
    let q = QdiscSpec::new(7, Parent::Ingress, QdiscKind::Ingress);
    let req = qdisc_add_request(&q).unwrap();
    let mut body = tcmsg(7, 0xFFFF_0000, 0xFFFF_FFF1, 0);
    body.extend(attr_str(1, "ingress")); // TCA_KIND
    // RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
    let mut want = nlmsghdr(body.len(), 36, 0x0605, 9);
    want.extend(body);
    assert_eq!(req.to_bytes(9), want);
}

#[test]
fn tbf_replace_request_bytes() {
    let q = QdiscSpec::new(
        3,
        Parent::Root,
        QdiscKind::Tbf {
            rate: 125_000,
            burst: 4096,
            limit: 12_500,
        },
    );
    let req = qdisc_replace_request(&q).unwrap();
    let mut body = tcmsg(3, 0, 0xFFFF_FFFF, 0);
    body.extend(attr_str(1, "tbf"));
    body.extend(attr(2, &wire::tbf_options(125_000, 4096, 12_500, &ps()))); // TCA_OPTIONS
    // NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE | NLM_F_CREATE
    let mut want = nlmsghdr(body.len(), 36, 0x0505, 1);
    want.extend(body);
    assert_eq!(req.to_bytes(1), want);
}

#[test]
fn delete_request_names_only_the_parent() {
    let req = qdisc_del_request(4, Parent::Root).unwrap();
    let body = tcmsg(4, 0, 0xFFFF_FFFF, 0);
    let mut want = nlmsghdr(body.len(), 37, 0x0005, 2); // RTM_DELQDISC
    want.extend(body);
    assert_eq!(req.to_bytes(2), want);
}

#[test]
fn htb_qdisc_and_class_options() {
    // struct tc_htb_glob: version 3, rate2quantum 10, defcls, debug, direct_pkts.
    assert_eq!(
        wire::htb_qdisc_options(0x10),
        attr(2, &words(&[3, 10, 0x10, 0, 0]))
    );
    let p = ps();
    assert_eq!(wire::htb_default_burst(125_000, &p), 1600);
    let got = wire::htb_class_options(125_000, 250_000, 1600, 3000, &p);
    let types: Vec<u16> = wire::attrs(&got).map(|(t, _)| t).collect();
    assert_eq!(types, [1, 3, 4]); // PARMS, CTAB, RTAB
    let parms = wire::attrs(&got).next().unwrap().1.to_vec();
    assert_eq!(parms.len(), 44, "struct tc_htb_opt");
    assert_eq!(parms[8..12], 125_000u32.to_ne_bytes());
    assert_eq!(parms[20..24], 250_000u32.to_ne_bytes());
    assert_eq!(parms[24..28], p.xmittime(125_000, 1600).to_ne_bytes()); // buffer
    assert_eq!(parms[28..32], p.xmittime(250_000, 3000).to_ne_bytes()); // cbuffer
}

#[test]
fn netem_options_are_the_bare_qopt_then_attributes() {
    let got = wire::netem_options(10_000, 1000, 50.0, Some(125_000), &ps());
    // latency 10 ms = 156250 ticks, limit 1000, loss 50 % of 2^32-1, gap, duplicate, jitter.
    let mut want = words(&[156_250, 1000, 2_147_483_648, 0, 0, 15_625]);
    want.extend(attr(10, &10_000_000i64.to_ne_bytes())); // TCA_NETEM_LATENCY64 (ns)
    want.extend(attr(11, &1_000_000i64.to_ne_bytes())); // TCA_NETEM_JITTER64 (ns)
    want.extend(attr(6, &words(&[125_000, 0, 0, 0]))); // TCA_NETEM_RATE
    assert_eq!(got, want);
    let bad = QdiscKind::Netem {
        delay_us: 0,
        jitter_us: 0,
        loss_percent: 120.0,
        rate: None,
    };
    assert!(qdisc_add_request(&QdiscSpec::new(1, Parent::Root, bad)).is_err());
}

#[test]
fn u32_match_all_mirred_filter_bytes() {
    let action = FilterAction::Mirred {
        egress_redirect_to: 9,
    };
    let f = FilterSpec::new(5, Parent::Ingress, FilterKind::MatchAll { action });
    let req = filter_add_request(&f).unwrap();
    // struct tc_u32_sel: flags TERMINAL, offshift, nkeys 1, pad, offmask, off, offoff, hoff,
    // hmask; then one struct tc_u32_key: mask 0, val 0, off 0, offmask 0.
    let mut sel = vec![1u8, 0, 1, 0];
    sel.extend([0u8; 12]);
    sel.extend([0u8; 16]);
    // struct tc_mirred: tc_gen (index, capab, action TC_ACT_STOLEN, refcnt, bindcnt), eaction
    // TCA_EGRESS_REDIR, ifindex.
    let mirred = words(&[0, 0, 4, 0, 0, 1, 9]);
    let act = nested(
        1,
        &[
            attr_str(1, "mirred"),          // TCA_ACT_KIND
            nested(2, &[attr(2, &mirred)]), // TCA_ACT_OPTIONS { TCA_MIRRED_PARMS }
        ],
    );
    let options = nested(2, &[attr(5, &sel), nested(7, &[act])]); // TCA_U32_SEL, TCA_U32_ACT
    // tcm_info: prio 1 << 16 | htons(ETH_P_ALL).
    let mut body = tcmsg(5, 0, 0xFFFF_FFF2, (1 << 16) | u32::from(3u16.to_be()));
    body.extend(attr_str(1, "u32"));
    body.extend(options);
    let mut want = nlmsghdr(body.len(), 44, 0x0605, 4); // RTM_NEWTFILTER
    want.extend(body);
    assert_eq!(strip_nested_flag(req.to_bytes(4)), strip_nested_flag(want));
}

/// The same bytes with `NLA_F_NESTED` cleared everywhere it could be: the kernel parses tc's
/// nests either way, and the crate sets it on some. Walks the attributes from the tcmsg on.
fn strip_nested_flag(mut msg: Vec<u8>) -> Vec<u8> {
    fn walk(buf: &mut [u8]) {
        let mut off = 0;
        while off + 4 <= buf.len() {
            let len = usize::from(u16::from_ne_bytes([buf[off], buf[off + 1]]));
            if len < 4 || off + len > buf.len() {
                return;
            }
            let ty = u16::from_ne_bytes([buf[off + 2], buf[off + 3]]);
            buf[off + 2..off + 4].copy_from_slice(&(ty & 0x7fff).to_ne_bytes());
            // Recurse into what looks like a nest: parsing junk stops at the first bad length.
            if len > 8 {
                walk(&mut buf[off + 4..off + len]);
            }
            off += len.next_multiple_of(4);
        }
    }
    walk(&mut msg[36..]);
    msg
}

#[test]
fn handles_print_as_tc_prints_them() {
    assert_eq!(handle_to_string(0x8001_0000), "8001:");
    assert_eq!(handle_to_string(0x1_0010), "1:10");
    assert_eq!(handle_to_string(0xFFFF_FFF1), "ffff:fff1");
    assert_eq!(handle_to_string(0xFFFF_FFFF), "root");
}
