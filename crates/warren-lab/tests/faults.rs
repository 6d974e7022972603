//! Runtime faults against the real kernel, each test in its own sandbox: a link down stops
//! TCP and up restores it, a bandwidth is a tbf read back from the kernel, a partition cuts
//! A↔B but not A↔C, heal restores it and leaves other tables alone.

#[path = "handmade/mod.rs"]
mod common;

use std::net::SocketAddr;

use common::{addr, lab, node, ns, wire};
use warren_kernel::Handle;
use warren_lab::faults::{self, FaultError, LinkAction, PARTITION_TABLE};
use warren_testkit::net::tcp_exchange;
use warren_testkit::sandbox_test;

fn tcp(
    l: &warren_lab::model::Lab,
    from: &str,
    to: &str,
    to_if: &str,
) -> std::io::Result<SocketAddr> {
    tcp_exchange(
        &ns(l, from),
        &ns(l, to),
        SocketAddr::new(addr(l, to, to_if), 5555),
    )
}

fn is_up(l: &warren_lab::model::Lab, n: &str, ifname: &str) -> bool {
    let v = warren_testkit::oracle::link_in(
        &format!("/run/netns/{}", l.node(n).unwrap().netns),
        ifname,
    )
    .unwrap_or_else(|| panic!("no {ifname} in {n}"));
    v["flags"].as_array().unwrap().iter().any(|f| f == "UP")
}

fn tables(netns: &str) -> Vec<String> {
    let out = warren_testkit::run(
        "ip",
        &["netns", "exec", netns, "nft", "-j", "list", "tables"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("table"))
        .map(|t| {
            format!(
                "{} {}",
                t["family"].as_str().unwrap(),
                t["name"].as_str().unwrap()
            )
        })
        .collect()
}

sandbox_test! {
    fn link_down_takes_both_ends_down_and_up_restores_tcp() {
        let l = lab("fl", vec![node("fl", "a"), node("fl", "b")], &[("a", "eth0", "10.0.0.1/24", "b", "eth1", "10.0.0.2/24")]);
        wire(&l);
        tcp(&l, "a", "b", "eth1").expect("connected before");
        faults::link_set(&l, "a", "eth0", LinkAction::Down).unwrap();
        assert!(!is_up(&l, "a", "eth0") && !is_up(&l, "b", "eth1"), "both ends down");
        assert!(tcp(&l, "a", "b", "eth1").is_err(), "no TCP over a down link");
        // Named from the other end, as Mininet's `link b a up` would.
        faults::link_set(&l, "b", "eth1", LinkAction::Up).unwrap();
        assert!(is_up(&l, "a", "eth0") && is_up(&l, "b", "eth1"));
        tcp(&l, "a", "b", "eth1").expect("connected again");
        let e = faults::link_set(&l, "a", "eth9", LinkAction::Down).unwrap_err();
        assert!(matches!(e, FaultError::NoSuchInterface { .. }), "{e}");
        assert!(e.to_string().contains("eth9"), "{e}");
        let e = faults::link_set(&l, "zz", "eth0", LinkAction::Down).unwrap_err();
        assert!(matches!(e, FaultError::NoSuchNode { .. }), "{e}");
    }
}

sandbox_test! {
    fn bandwidth_is_a_tbf_on_both_ends_and_can_be_removed() {
        let l = lab("fb", vec![node("fb", "a"), node("fb", "b")], &[("a", "eth0", "10.0.0.1/24", "b", "eth0", "10.0.0.2/24")]);
        wire(&l);
        faults::link_set(&l, "a", "eth0", LinkAction::Bandwidth(10_000_000)).unwrap();
        for n in ["a", "b"] {
            let h = Handle::new(ns(&l, n)).unwrap();
            let idx = h.link_index("eth0").unwrap();
            let q = h.qdisc_list(Some(idx)).unwrap();
            let tbf = q.iter().find(|q| q.kind == "tbf").unwrap_or_else(|| panic!("{n}: {q:?}"));
            assert_eq!(tbf.tbf.map(|t| t.0), Some(1_250_000), "{n}: 10 Mbit/s = 1.25 MB/s");
            assert_eq!(tbf.parent, 0xffff_ffff, "{n}: at the root");
        }
        // A new rate replaces the old one.
        faults::link_set(&l, "b", "eth0", LinkAction::Bandwidth(1_000_000)).unwrap();
        let h = Handle::new(ns(&l, "a")).unwrap();
        let idx = h.link_index("eth0").unwrap();
        let q = h.qdisc_list(Some(idx)).unwrap();
        assert_eq!(q.iter().filter(|q| q.kind == "tbf").count(), 1, "{q:?}");
        assert_eq!(q.iter().find(|q| q.kind == "tbf").and_then(|t| t.tbf).map(|t| t.0), Some(125_000));
        tcp(&l, "a", "b", "eth0").expect("still connected");
        faults::link_set(&l, "a", "eth0", LinkAction::Unshaped).unwrap();
        assert!(!h.qdisc_list(Some(idx)).unwrap().iter().any(|q| q.kind == "tbf"));
        // Twice is fine.
        faults::link_set(&l, "a", "eth0", LinkAction::Unshaped).unwrap();
        let e = faults::link_set(&l, "a", "eth0", LinkAction::Bandwidth(0)).unwrap_err();
        assert!(matches!(e, FaultError::BadRate { .. }), "{e}");
    }
}

sandbox_test! {
    fn partition_cuts_a_from_b_not_from_c_and_heal_restores_leaving_other_tables() {
        let l = lab(
            "fp",
            vec![node("fp", "a"), node("fp", "b"), node("fp", "c")],
            &[
                ("a", "eth0", "10.0.1.1/24", "b", "eth0", "10.0.1.2/24"),
                ("a", "eth1", "10.0.2.1/24", "c", "eth0", "10.0.2.2/24"),
            ],
        );
        wire(&l);
        // Someone else's table in a: never touched.
        warren_testkit::run("ip", &["netns", "exec", "fp-a", "nft", "add", "table", "inet", "theirs"]);
        tcp(&l, "a", "b", "eth0").expect("a-b before");
        faults::partition(&l, &["a"], &["b"]).unwrap();
        assert!(tcp(&l, "a", "b", "eth0").is_err(), "a to b cut");
        assert!(tcp(&l, "b", "a", "eth0").is_err(), "b to a cut");
        tcp(&l, "a", "c", "eth0").expect("a to c flows");
        tcp(&l, "c", "a", "eth1").expect("c to a flows");
        let mine = format!("inet {PARTITION_TABLE}");
        assert!(tables("fp-a").contains(&mine) && tables("fp-b").contains(&mine));
        assert!(!tables("fp-c").contains(&mine), "c is in no group");
        // Partitions add up.
        faults::partition(&l, &["a"], &["c"]).unwrap();
        assert!(tcp(&l, "a", "c", "eth0").is_err(), "a to c cut too");
        faults::heal(&l).unwrap();
        tcp(&l, "a", "b", "eth0").expect("a-b healed");
        tcp(&l, "a", "c", "eth0").expect("a-c healed");
        assert_eq!(tables("fp-a"), vec!["inet theirs".to_owned()]);
        assert!(tables("fp-b").is_empty());
        // Healing a healed lab is fine; bad groups are refused.
        faults::heal(&l).unwrap();
        for (a, b, want) in [
            (&["a"][..], &["a"][..], "both sides"),
            (&[][..], &["b"][..], "at least one"),
            (&["a"][..], &["zz"][..], "no node zz"),
        ] {
            let e = faults::partition(&l, a, b).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
    }
}
