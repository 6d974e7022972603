//! Kernel tests of traffic control: qdiscs, classes and filters made over netlink on a veth
//! pair between two namespaces, read back through the crate and with `tc -j` as an independent
//! oracle, and a TCP transfer measured through a tbf.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use warren_kernel::addr::IpNet;
use warren_kernel::link::ifb::Ifb;
use warren_kernel::link::veth::Veth;
use warren_kernel::tc::{
    self, ClassSpec, FilterAction, FilterKind, FilterSpec, Parent, QdiscKind, QdiscSpec,
};
use warren_kernel::{Handle, NetNs};
use warren_testkit::net::tcp_listen;
use warren_testkit::{oracle, run, sandbox_test};

/// `tc -j ARGS` inside `ns`, parsed.
fn tc_json(ns: &NetNs, args: &[&str]) -> Value {
    let net = format!("--net={}", oracle::ns_path(ns));
    let mut full = vec![net.as_str(), "tc", "-j"];
    full.extend_from_slice(args);
    let out = run("nsenter", &full);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("tc -j {args:?}: bad JSON ({e}): {out}"))
}

/// Two namespaces joined by veth `va` (in `a`, 10.7.0.1) / `vb` (in `b`, 10.7.0.2), both up.
fn pair() -> (Handle, Handle, u32) {
    let a = Handle::new(NetNs::new_anonymous("tc-a").unwrap()).unwrap();
    let b = Handle::new(NetNs::new_anonymous("tc-b").unwrap()).unwrap();
    a.link_set_up("lo").unwrap();
    b.link_set_up("lo").unwrap();
    a.link_add(&Veth::new("va", "vb").peer_netns(b.ns()).up().peer_up())
        .unwrap();
    let va = a.link_index("va").unwrap();
    a.addr_add(va, "10.7.0.1/24".parse::<IpNet>().unwrap())
        .unwrap();
    let vb = b.link_index("vb").unwrap();
    b.addr_add(vb, "10.7.0.2/24".parse::<IpNet>().unwrap())
        .unwrap();
    (a, b, va)
}

fn tbf(rate: u64, burst: u32, limit: u32) -> QdiscKind {
    QdiscKind::Tbf { rate, burst, limit }
}

sandbox_test! {
    fn tbf_root_add_replace_list_del_matches_tc() {
        let (a, _b, va) = pair();
        a.qdisc_add(&QdiscSpec::new(va, Parent::Root, tbf(125_000, 4096, 12_500))).unwrap();

        let mine: Vec<_> = a.qdisc_list(Some(va)).unwrap();
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(mine[0].kind, "tbf");
        assert_eq!(mine[0].parent, 0xFFFF_FFFF);
        assert_eq!(mine[0].tbf, Some((125_000, 4096, 12_500)));
        let seen = tc_json(a.ns(), &["qdisc", "show", "dev", "va"]);
        let q = &seen[0];
        assert_eq!(q["kind"], "tbf", "{seen}");
        assert_eq!(q["root"], true, "{seen}");
        assert_eq!(q["options"]["rate"], 125_000, "{seen}");
        assert_eq!(q["options"]["burst"], 4096, "{seen}");
        // tc shows the limit as latency: 1e6 * limit / rate - 1e6 * burst / rate µs.
        assert_eq!(q["options"]["lat"], 100_000 - 32_768, "{seen}");

        // A second add is refused; replace changes it in place.
        let again = a.qdisc_add(&QdiscSpec::new(va, Parent::Root, tbf(125_000, 4096, 12_500)));
        assert!(again.is_err());
        a.qdisc_replace(&QdiscSpec::new(va, Parent::Root, tbf(1_250_000, 20_000, 50_000)))
            .unwrap();
        assert_eq!(a.qdisc_list(Some(va)).unwrap()[0].tbf, Some((1_250_000, 20_000, 50_000)));
        let seen = tc_json(a.ns(), &["qdisc", "show", "dev", "va"]);
        assert_eq!(seen[0]["options"]["rate"], 1_250_000, "{seen}");
        assert_eq!(seen[0]["options"]["burst"], 20_000, "{seen}");
        assert_eq!(seen[0]["options"]["lat"], 40_000 - 16_000, "{seen}");

        // 64-bit rates (5 GB/s) survive the round trip too.
        a.qdisc_replace(&QdiscSpec::new(va, Parent::Root, tbf(5_000_000_000, 1 << 20, 1 << 22)))
            .unwrap();
        // The kernel dumps the bucket in 64 ns ticks, and one tick at 5 GB/s is 320 bytes: the
        // burst reads back rounded down to a tick, the same as tc shows it.
        let (rate, burst, limit) = a.qdisc_list(Some(va)).unwrap()[0].tbf.unwrap();
        assert_eq!((rate, limit), (5_000_000_000, 1 << 22));
        assert!((1 << 20) - burst < 320, "{burst}");
        let seen = tc_json(a.ns(), &["qdisc", "show", "dev", "va"]);
        assert_eq!(seen[0]["options"]["rate"], 5_000_000_000u64, "{seen}");
        // tc 6.1's JSON rounds large sizes to three digits (1045Kb): compare within 1 %.
        let tc_burst = seen[0]["options"]["burst"].as_f64().unwrap();
        assert!((tc_burst - f64::from(burst)).abs() < f64::from(burst) / 100.0, "{seen}");

        a.qdisc_del(va, Parent::Root).unwrap();
        let seen = tc_json(a.ns(), &["qdisc", "show", "dev", "va"]);
        assert_ne!(seen[0]["kind"], "tbf", "{seen}");
        let gone = a.qdisc_del(va, Parent::Root).unwrap_err();
        assert!(tc::is_gone(&gone), "{gone}");
        let gone = a.qdisc_del(va, Parent::Ingress).unwrap_err();
        assert!(tc::is_gone(&gone), "{gone}");
    }
}

sandbox_test! {
    fn ingress_redirected_to_an_ifb_by_a_u32_mirred_filter() {
        let (a, _b, va) = pair();
        a.link_add(&Ifb::new("ifb0").up()).unwrap();
        let ifb = a.link_index("ifb0").unwrap();
        let l = oracle::link_in(&oracle::ns_path(a.ns()), "ifb0").unwrap();
        assert_eq!(l["linkinfo"]["info_kind"], "ifb", "{l}");

        a.qdisc_add(&QdiscSpec::new(va, Parent::Ingress, QdiscKind::Ingress)).unwrap();
        let action = FilterAction::Mirred { egress_redirect_to: ifb };
        a.filter_add(&FilterSpec::new(va, Parent::Ingress, FilterKind::MatchAll { action }))
            .unwrap();

        let qd = a.qdisc_list(Some(va)).unwrap();
        assert!(
            qd.iter().any(|q| q.kind == "ingress" && q.handle == 0xFFFF_0000 && q.parent == 0xFFFF_FFF1),
            "{qd:?}"
        );
        let mine = a.filter_list(va, Parent::Ingress).unwrap();
        assert!(mine.iter().all(|f| f.kind == "u32" && f.prio == 1 && f.protocol == 3), "{mine:?}");
        assert_eq!(mine.iter().filter_map(|f| f.mirred_to).collect::<Vec<_>>(), vec![ifb], "{mine:?}");

        let seen = tc_json(a.ns(), &["filter", "show", "dev", "va", "ingress"]);
        let acts: Vec<&Value> = seen
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["options"]["actions"].as_array())
            .flatten()
            .collect();
        assert_eq!(acts.len(), 1, "{seen}");
        assert_eq!(acts[0]["kind"], "mirred", "{seen}");
        assert_eq!(acts[0]["mirred_action"], "redirect", "{seen}");
        assert_eq!(acts[0]["direction"], "egress", "{seen}");
        assert_eq!(acts[0]["to_dev"], "ifb0", "{seen}");

        // The same works on a clsact qdisc's ingress hook.
        a.qdisc_del(va, Parent::Ingress).unwrap();
        a.qdisc_add(&QdiscSpec::new(va, Parent::Ingress, QdiscKind::Clsact)).unwrap();
        a.filter_add(&FilterSpec::new(va, Parent::Ingress, FilterKind::MatchAll { action }))
            .unwrap();
        let seen = tc_json(a.ns(), &["qdisc", "show", "dev", "va"]);
        assert!(seen.as_array().unwrap().iter().any(|q| q["kind"] == "clsact"), "{seen}");
        assert!(a.filter_list(va, Parent::Ingress).unwrap().iter().any(|f| f.mirred_to == Some(ifb)));
    }
}

sandbox_test! {
    fn htb_qdisc_with_a_class() {
        let (a, _b, va) = pair();
        let htb = QdiscKind::Htb { default_class: 0x10 };
        a.qdisc_add(&QdiscSpec::new(va, Parent::Root, htb).handle(0x1_0000)).unwrap();
        a.class_add(&ClassSpec::htb(va, 0x1_0000, 0x1_0010, 125_000)).unwrap();
        let mut capped = ClassSpec::htb(va, 0x1_0000, 0x1_0020, 125_000);
        capped.ceil = Some(250_000);
        capped.burst = Some(3000);
        a.class_add(&capped).unwrap();

        let qd = a.qdisc_list(Some(va)).unwrap();
        assert!(qd.iter().any(|q| q.kind == "htb" && q.handle == 0x1_0000), "{qd:?}");
        let seen = tc_json(a.ns(), &["qdisc", "show", "dev", "va"]);
        assert_eq!(seen[0]["kind"], "htb", "{seen}");
        assert_eq!(seen[0]["options"]["default"], "0x10", "{seen}");
        // This iproute2 has no JSON for classes: read its text.
        let net = format!("--net={}", oracle::ns_path(a.ns()));
        let classes = run("nsenter", &[&net, "tc", "class", "show", "dev", "va"]);
        assert!(
            classes.contains("class htb 1:10 root prio 0 rate 1Mbit ceil 1Mbit burst 1600b cburst 1600b"),
            "{classes}"
        );
        assert!(
            classes.contains("class htb 1:20 root prio 0 rate 1Mbit ceil 2Mbit burst 3000b cburst 1600b"),
            "{classes}"
        );
    }
}

sandbox_test! {
    fn netem_is_added_or_refused_as_missing_from_the_kernel() {
        let (a, _b, va) = pair();
        let netem = QdiscKind::Netem { delay_us: 10_000, jitter_us: 1000, loss_percent: 1.5, rate: Some(125_000) };
        match a.qdisc_add(&QdiscSpec::new(va, Parent::Root, netem)) {
            Err(e) if e.is_kernel_lacks() => {
                let text = e.to_string();
                eprintln!("netem refused: {text}");
                assert!(text.starts_with("kernel lacks netem: add qdisc netem on link index"), "{text}");
                // The kernel's refusal is the evidence, kept as the source.
                assert_eq!(e.errno(), Some(nix::errno::Errno::ENOENT), "{text}");
                assert!(text.contains("Specified qdisc kind is unknown"), "{text}");
                // Nothing was left behind.
                let seen = tc_json(a.ns(), &["qdisc", "show", "dev", "va"]);
                assert_ne!(seen[0]["kind"], "netem", "{seen}");
            }
            Err(e) => panic!("netem refused for another reason: {e}"),
            Ok(()) => {
                let qd = a.qdisc_list(Some(va)).unwrap();
                assert_eq!(qd[0].kind, "netem", "{qd:?}");
                let seen = tc_json(a.ns(), &["qdisc", "show", "dev", "va"]);
                assert_eq!(seen[0]["kind"], "netem", "{seen}");
                let delay = seen[0]["options"]["delay"]["delay"].as_f64();
                assert!(delay.is_some_and(|d| (d - 0.01).abs() < 1e-6), "{seen}");
            }
        }
    }
}

/// Bytes the server in `b` receives in `window` while a client in `a` sends as fast as it can.
fn bytes_in(a: &Handle, b: &Handle, window: Duration) -> usize {
    let addr: SocketAddr = "10.7.0.2:5099".parse().unwrap();
    let listener = tcp_listen(b.ns(), addr);
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let start = Instant::now();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        while start.elapsed() < window {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(_) => {}
            }
        }
        total
    });
    a.ns()
        .run(|| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_write_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let chunk = vec![7u8; 1 << 16];
            let start = Instant::now();
            while start.elapsed() < window + Duration::from_millis(200) {
                let _ = c.write(&chunk);
            }
            Ok(())
        })
        .unwrap();
    server.join().unwrap()
}

sandbox_test! {
    fn tbf_at_one_megabit_shapes_tcp() {
        let (a, b, va) = pair();
        let window = Duration::from_secs(1);
        let free = bytes_in(&a, &b, window);
        a.qdisc_add(&QdiscSpec::new(va, Parent::Root, tbf(125_000, 4096, 12_500))).unwrap();
        let shaped = bytes_in(&a, &b, window);
        eprintln!("unshaped {free} bytes/s, shaped {shaped} bytes/s");
        assert!(shaped > 10_000, "something must get through: {shaped}");
        assert!(shaped < 3 * 125_000, "tbf at 125000 bytes/s let {shaped} bytes through in 1 s");
        assert!(free > 10 * shaped, "unshaped {free} vs shaped {shaped}");
    }
}
