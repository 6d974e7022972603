//! `warren trace` against the real kernel: a lab wired as Docker and labs wire namespaces,
//! broken one way per test, must name the exact cause and the hop where the packet stops;
//! the healthy lab must say "reaches", and real probes (TCP, UDP, ICMP) must agree.
//!
//! ```text
//!  a eth0 10.0.1.2 ── ra 10.0.1.1 ┐                ┌ vb ── eth0 10.0.2.2  b
//!                                 │  r (router)    br0 10.0.2.1
//!  ext eth0 192.168.9.2 ── re 192.168.9.1           └ vc ── eth0 10.0.2.3  c
//! ```
//! `r` forwards and masquerades 10.0.1.0/24 and 10.0.2.0/24 towards other networks
//! (warren's own `inet warren` table); `ext` has no route back to the 10.0 networks.

use std::net::IpAddr;

use warren_kernel::addr::IpNet;
use warren_kernel::link::bridge::Bridge;
use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::nft::batch::Batch;
use warren_kernel::nft::{
    Chain, ChainType, CmpOp, Expr, Firewall, Hook, MetaKey, Nft, PayloadBase, Reg, Rule, Table,
    Verdict,
};
use warren_kernel::route::RouteSpec;
use warren_kernel::{Handle, sysctl};
use warren_testkit::sandbox_test;
use warren_trace::{Report, Request};

struct Lab {
    a: Handle,
    r: Handle,
    b: Handle,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn open(name: &str) -> Handle {
    let h = Handle::new(netns::add_named(name, Source::New).unwrap()).unwrap();
    h.link_set_up("lo").unwrap();
    // No IPv6 chatter (router solicitations, MLD) in the probes' interface counters.
    sysctl::set_many(
        h.ns(),
        &[
            ("net.ipv6.conf.all.disable_ipv6", "1"),
            ("net.ipv6.conf.default.disable_ipv6", "1"),
        ],
    )
    .unwrap();
    h
}

fn wire() -> Lab {
    let (a, r, b, c, ext) = (open("a"), open("r"), open("b"), open("c"), open("ext"));
    r.link_add(&Veth::new("ra", "eth0").peer_netns(a.ns()).up().peer_up())
        .unwrap();
    r.link_add(&Veth::new("re", "eth0").peer_netns(ext.ns()).up().peer_up())
        .unwrap();
    r.link_add(&Bridge::new("br0").stp(false).up()).unwrap();
    let br = r.link_index("br0").unwrap();
    for (port, h) in [("vb", &b), ("vc", &c)] {
        r.link_add(
            &Veth::new(port, "eth0")
                .peer_netns(h.ns())
                .master(br)
                .up()
                .peer_up(),
        )
        .unwrap();
    }
    for (h, dev, addr) in [
        (&r, "ra", "10.0.1.1/24"),
        (&r, "re", "192.168.9.1/24"),
        (&r, "br0", "10.0.2.1/24"),
        (&a, "eth0", "10.0.1.2/24"),
        (&b, "eth0", "10.0.2.2/24"),
        (&c, "eth0", "10.0.2.3/24"),
        (&ext, "eth0", "192.168.9.2/24"),
    ] {
        h.addr_add(h.link_index(dev).unwrap(), net(addr)).unwrap();
    }
    for (h, gw) in [(&a, "10.0.1.1"), (&b, "10.0.2.1"), (&c, "10.0.2.1")] {
        h.route_add(&RouteSpec::default_v4().via(ip(gw))).unwrap();
    }
    sysctl::forwarding(r.ns(), true).unwrap();
    let nft = Nft::new(r.ns()).unwrap();
    let fw = Firewall::new("warren");
    nft.apply(&fw.skeleton()).unwrap();
    nft.apply(
        &fw.masquerade(&[net("10.0.1.0/24"), net("10.0.2.0/24")], true)
            .unwrap(),
    )
    .unwrap();
    Lab { a, r, b }
}

fn trace(src: &str, dst: &str, probe: bool) -> Report {
    warren_trace::trace(&Request {
        src: src.into(),
        dst: dst.into(),
        size: None,
        probe,
    })
    .unwrap_or_else(|e| panic!("trace {src} {dst}: {e}"))
}

fn show(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap()
}

/// The packet stops in namespace `ns` for cause `code`.
fn assert_stops(r: &Report, code: &str, ns: &str) {
    assert_eq!(r.trace.cause().map(|c| c.code()), Some(code), "{}", show(r));
    assert_eq!(r.trace.stop_ns(), Some(ns), "{}", show(r));
}

fn assert_reaches(r: &Report, ns: &str) {
    assert_eq!(
        r.trace.verdict,
        warren_trace::Verdict::Reaches { ns: ns.into() },
        "{}",
        show(r)
    );
}

/// One broken setup: how to break the lab, what to trace, the cause and the hop expected.
/// The same trace on the healthy lab first must reach, with a probe that arrives; on the
/// broken lab the probe (except for the MTU case) must not arrive.
struct Case {
    brk: fn(&Lab),
    src: &'static str,
    dst: &'static str,
    size: Option<u32>,
    cause: &'static str,
    at: &'static str,
}

fn check(case: Case) {
    let lab = wire();
    let healthy = warren_trace::trace(&Request {
        src: case.src.into(),
        dst: case.dst.into(),
        size: case.size.map(|_| 1400),
        probe: true,
    })
    .unwrap();
    assert!(
        matches!(healthy.trace.verdict, warren_trace::Verdict::Reaches { .. })
            && healthy.probe.as_ref().is_some_and(|p| p.reached),
        "before breaking it: {}",
        show(&healthy)
    );
    (case.brk)(&lab);
    let r = warren_trace::trace(&Request {
        src: case.src.into(),
        dst: case.dst.into(),
        size: case.size,
        // A probe is small: it cannot show an MTU problem of big packets; and no probe goes
        // to an address that no namespace holds.
        probe: case.size.is_none() && case.cause != "no-arp-answer",
    })
    .unwrap();
    assert_stops(&r, case.cause, case.at);
    if let Some(p) = &r.probe {
        assert!(!p.reached, "the probe got through: {}", show(&r));
        // The probe was last seen where the trace stops; without masquerade it does reach
        // the destination, whose answer cannot come back.
        let last = if case.cause == "missing-masquerade" {
            "ext"
        } else {
            case.at
        };
        let seen = p.lost_at.map(|i| r.trace.hops[i].ns.as_str());
        assert_eq!(seen, Some(last), "{}", show(&r));
    }
}

/// `table inet filter { chain forward { type filter hook forward priority 0; policy accept;
///   meta l4proto 17 accept; ip daddr 10.0.2.3 drop; meta l4proto 6 th dport 80 ip daddr
///   10.0.2.2 counter drop } }`: only the third rule drops the traced packet.
fn drop_forward(lab: &Lab) {
    let t = Table::new(warren_kernel::nft::Family::Inet, "filter");
    let c = Chain::base(&t, "forward", ChainType::Filter, Hook::Forward, 0);
    let l4 = |proto: u8| {
        vec![
            Expr::Meta {
                key: MetaKey::L4Proto,
                dreg: Reg::REG1,
            },
            Expr::Cmp {
                sreg: Reg::REG1,
                op: CmpOp::Eq,
                data: vec![proto],
            },
        ]
    };
    let daddr = |a: [u8; 4]| {
        vec![
            Expr::Payload {
                base: PayloadBase::Network,
                offset: 16,
                len: 4,
                dreg: Reg::REG1,
            },
            Expr::Cmp {
                sreg: Reg::REG1,
                op: CmpOp::Eq,
                data: a.to_vec(),
            },
        ]
    };
    let dport = vec![
        Expr::Payload {
            base: PayloadBase::Transport,
            offset: 2,
            len: 2,
            dreg: Reg::REG1,
        },
        Expr::Cmp {
            sreg: Reg::REG1,
            op: CmpOp::Eq,
            data: 80u16.to_be_bytes().to_vec(),
        },
    ];
    let mut b = Batch::new();
    b.add_table(&t).add_chain(&c);
    b.add_rule(&Rule::new(
        &c,
        [l4(17), vec![Expr::verdict(Verdict::Accept)]].concat(),
    ));
    b.add_rule(&Rule::new(
        &c,
        [daddr([10, 0, 2, 3]), vec![Expr::verdict(Verdict::Drop)]].concat(),
    ));
    b.add_rule(&Rule::new(
        &c,
        [
            l4(6),
            dport,
            daddr([10, 0, 2, 2]),
            vec![Expr::Counter, Expr::verdict(Verdict::Drop)],
        ]
        .concat(),
    ));
    Nft::new(lab.r.ns()).unwrap().apply(&b).unwrap();
}

sandbox_test! {
    fn the_dropping_rule_is_named_and_others_let_it_pass() {
        let lab = wire();
        drop_forward(&lab);
        let r = trace("a", "b:80", false);
        assert_stops(&r, "firewall-drop", "r");
        let Some(warren_trace::Cause::FirewallDrop { rule: Some(rule), .. }) = r.trace.cause() else {
            panic!("{}", show(&r));
        };
        assert!(rule.starts_with("table inet filter chain forward handle "), "{rule}");
        // In nft's syntax (the rule has no `meta nfproto` before its address match, so the
        // address is printed raw, as nft prints it).
        assert!(rule.contains(": tcp dport 80 @nh,128,32 167772674 counter packets "), "{rule}");
        assert!(rule.ends_with(" drop"), "{rule}");
        // UDP is accepted by the first rule; another port passes the third.
        assert_reaches(&trace("a", "b:53/udp", true), "b");
        let r = trace("a", "b:81", true);
        assert_reaches(&r, "b");
        assert!(r.probe.unwrap().reached);
        // c is dropped by the second rule.
        let r = trace("a", "10.0.2.3", false);
        assert_stops(&r, "firewall-drop", "r");
    }
}

macro_rules! cases {
    ($($name:ident: $brk:expr, $src:literal -> $dst:literal $(size $size:literal)? => $cause:literal at $at:literal;)*) => {
        $(sandbox_test! {
            fn $name() {
                #[allow(unused_mut, unused_assignments)]
                let mut size = None;
                $(size = Some($size);)?
                check(Case { brk: $brk, src: $src, dst: $dst, size, cause: $cause, at: $at });
            }
        })*
    };
}

cases! {
    no_route: |l| l.a.route_del(&RouteSpec::default_v4()).unwrap(),
        "a" -> "10.0.2.2" => "no-route" at "a";
    forwarding_off: |l| sysctl::forwarding(l.r.ns(), false).unwrap(),
        "a" -> "b:80" => "forwarding-off" at "r";
    missing_masquerade: |l| {
        let fw = Firewall::new("warren");
        Nft::new(l.r.ns()).unwrap().apply(&fw.masquerade(&[net("10.0.1.0/24")], false).unwrap()).unwrap();
    }, "a" -> "ext" => "missing-masquerade" at "r";
    wrong_gateway: |l| {
        l.a.route_replace(&RouteSpec::default_v4().via(ip("10.0.1.99"))).unwrap();
    }, "a" -> "10.0.2.2" => "wrong-gateway" at "a";
    link_down: |l| l.r.link_set_down("ra").unwrap(),
        "a" -> "b" => "link-down" at "a";
    bridge_port_down: |l| l.r.link_set_down("vb").unwrap(),
        "a" -> "b" => "bridge-port-down" at "r";
    rp_filter_strict: |l| {
        sysctl::set(l.r.ns(), "net.ipv4.conf.all.rp_filter", "1").unwrap();
        // The way back to a now leaves by the bridge: asymmetric.
        l.r.route_add(&RouteSpec::to(net("10.0.1.2/32")).via(ip("10.0.2.3"))).unwrap();
    }, "a" -> "b:80/udp" => "rp-filter" at "r";
    firewall_drop: drop_forward, "a" -> "b:80" => "firewall-drop" at "r";
    mtu_too_small: |l| l.r.link_set_mtu("vb", 1400).unwrap(),
        "a" -> "b" size 1500 => "mtu-too-small" at "r";
    no_arp_answer: |l| {
        let i = l.b.link_index("eth0").unwrap();
        l.b.addr_del(i, net("10.0.2.2/24")).unwrap();
    }, "a" -> "10.0.2.2" => "no-arp-answer" at "r";
    blackhole: |l| l.r.route_add(&RouteSpec::to(net("10.0.2.2/32")).blackhole()).unwrap(),
        "a" -> "b" => "reject-route" at "r";
}

sandbox_test! {
    fn healthy_paths_reach_and_tcp_udp_icmp_probes_agree() {
        let _lab = wire();
        for (src, dst, ns) in [
            ("a", "b", "b"),
            ("a", "b:80", "b"),
            ("a", "b:53/udp", "b"),
            ("a", "10.0.2.3", "c"),
            ("b", "a:22", "a"),
            ("c", "b:7/udp", "b"),
            ("a", "ext", "ext"),
            ("a", "ext:80", "ext"),
            ("b", "192.168.9.2:53/udp", "ext"),
        ] {
            let r = trace(src, dst, true);
            assert_reaches(&r, ns);
            let p = r.probe.as_ref().unwrap();
            assert!(p.reached, "{src} -> {dst}: the probe did not arrive: {}", show(&r));
            assert_eq!(p.lost_at, None);
        }
        // Through the router to another network the source is masqueraded, and the trace
        // says so at the router.
        let r = trace("a", "ext", false);
        assert_eq!(
            r.trace.hops[1].nat,
            vec!["masquerade 10.0.1.2 -> 192.168.9.1 (table inet warren)".to_owned()],
            "{}",
            show(&r)
        );
        assert_eq!(r.trace.hops[1].iif.as_deref(), Some("ra"));
        assert_eq!(r.trace.hops[1].oif.as_deref(), Some("re"));
        // Across the bridge: the port and the peer are named.
        let r = trace("a", "10.0.2.3:80", false);
        assert!(
            r.trace.hops[1].link.iter().any(|l| l.starts_with("bridge br0 in r: port vc")),
            "{}",
            show(&r)
        );
        assert_eq!(r.trace.hops[2].ns, "c");
    }
}

sandbox_test! {
    fn sources_by_address_and_path_and_a_refused_probe() {
        let lab = wire();
        // SRC as an address finds its namespace; the route picks the source address.
        let r = trace("10.0.2.2", "a:22", false);
        assert_eq!(r.src_ns, "b");
        assert_reaches(&r, "a");
        let path = warren_testkit::oracle::ns_path(lab.a.ns());
        let r = trace(&path, "b", false);
        assert_reaches(&r, "b");
        assert_eq!(r.trace.src, Some(ip("10.0.1.2")));
        // An address no namespace holds is external: no probe is sent there.
        let e = warren_trace::trace(&Request {
            src: "a".into(),
            dst: "203.0.113.5:80".into(),
            size: None,
            probe: true,
        })
        .unwrap_err();
        assert!(e.to_string().contains("no namespace holds"), "{e}");
        // Unknown names and bad words are named in the error.
        let e = warren_trace::trace(&Request {
            src: "nosuch".into(),
            dst: "b".into(),
            size: None,
            probe: false,
        })
        .unwrap_err();
        assert!(e.to_string().contains("SRC 'nosuch' not found"), "{e}");
    }
}

sandbox_test! {
    fn a_policy_rule_and_its_table_are_reported() {
        let lab = wire();
        lab.a
            .route_add(&RouteSpec::default_v4().via(ip("10.0.1.1")).table(100))
            .unwrap();
        lab.a.route_del(&RouteSpec::default_v4()).unwrap();
        // No rule API in warren yet: ip adds it (the trace reads it back over netlink).
        warren_testkit::run(
            "ip",
            &["-n", "a", "rule", "add", "from", "10.0.1.2", "to", "10.0.2.0/24", "lookup", "100", "pref", "100"],
        );
        // A socket bound to 10.0.1.2 matches the rule ...
        let r = trace("10.0.1.2", "b:80", true);
        assert_reaches(&r, "b");
        assert!(r.probe.as_ref().unwrap().reached);
        assert_eq!(r.trace.hops[0].table, Some(100), "{}", show(&r));
        assert!(
            r.trace.hops[0].notes.iter().any(|n| n.starts_with("policy rule: 100:") && n.contains("lookup 100")),
            "{}",
            show(&r)
        );
        // ... an unbound one looks up with no source, which `from` rules never match, as the
        // kernel does for a connect() without bind().
        assert_stops(&trace("a", "b:80", false), "no-route", "a");
        // Elsewhere the main table has no default any more.
        assert_stops(&trace("10.0.1.2", "ext", false), "no-route", "a");
    }
}

sandbox_test! {
    fn a_published_port_is_followed_through_warrens_dnat_map() {
        let lab = wire();
        let fw = Firewall::new("warren");
        let port = warren_kernel::nft::PortRule {
            host_ip: None,
            proto: warren_kernel::nft::Proto::Tcp,
            host_port: 8080,
            addr: ip("10.0.2.2"),
            port: 80,
        };
        Nft::new(lab.r.ns()).unwrap().apply(&fw.publish(&[port]).unwrap()).unwrap();
        let r = trace("a", "10.0.1.1:8080", true);
        assert_reaches(&r, "b");
        assert_eq!(
            r.trace.hops[1].nat,
            vec!["dnat 10.0.1.1:8080 -> 10.0.2.2:80 (published port, table inet warren)".to_owned()],
            "{}",
            show(&r)
        );
        assert_eq!(r.port, Some(80));
        assert!(r.probe.unwrap().reached);
        // Another port of the router is the router itself.
        assert_reaches(&trace("a", "10.0.1.1:8081", false), "r");
    }
}

sandbox_test! {
    fn a_masquerade_rule_of_another_table_is_seen() {
        let lab = wire();
        let nft = Nft::new(lab.r.ns()).unwrap();
        let fw = Firewall::new("warren");
        nft.apply(&fw.masquerade(&[net("10.0.1.0/24")], false).unwrap()).unwrap();
        assert_stops(&trace("a", "ext", false), "missing-masquerade", "r");
        // table ip nat { chain postrouting { type nat hook postrouting priority 100;
        //   oifname "re" masquerade } }
        let t = Table::new(warren_kernel::nft::Family::Ip, "nat");
        let c = Chain::base(&t, "postrouting", ChainType::Nat, Hook::Postrouting, 100);
        let mut oif = b"re".to_vec();
        oif.resize(16, 0);
        let mut b = Batch::new();
        b.add_table(&t).add_chain(&c).add_rule(&Rule::new(
            &c,
            vec![
                Expr::Meta { key: MetaKey::OifName, dreg: Reg::REG1 },
                Expr::Cmp { sreg: Reg::REG1, op: CmpOp::Eq, data: oif },
                Expr::Masquerade,
            ],
        ));
        nft.apply(&b).unwrap();
        let r = trace("a", "ext", true);
        assert_reaches(&r, "ext");
        assert!(r.probe.as_ref().unwrap().reached, "{}", show(&r));
        let nat = &r.trace.hops[1].nat;
        assert_eq!(nat.len(), 1, "{}", show(&r));
        assert!(
            nat[0].starts_with("masquerade 10.0.1.2 -> 192.168.9.1 (table ip nat chain postrouting handle ")
                && nat[0].ends_with(": oifname \"re\" masquerade)"),
            "{}",
            show(&r)
        );
    }
}

sandbox_test! {
    fn ipv6_through_a_router_and_forwarding_off() {
        let open6 = |name: &str| {
            let h = Handle::new(netns::add_named(name, Source::New).unwrap()).unwrap();
            h.link_set_up("lo").unwrap();
            sysctl::set(h.ns(), "net.ipv6.conf.default.accept_dad", "0").unwrap();
            h
        };
        let (a, r, b) = (open6("a6"), open6("r6"), open6("b6"));
        r.link_add(&Veth::new("ra", "eth0").peer_netns(a.ns()).up().peer_up())
            .unwrap();
        r.link_add(&Veth::new("rb", "eth0").peer_netns(b.ns()).up().peer_up())
            .unwrap();
        for (h, dev, addr) in [
            (&r, "ra", "fd01::1/64"),
            (&r, "rb", "fd02::1/64"),
            (&a, "eth0", "fd01::2/64"),
            (&b, "eth0", "fd02::2/64"),
        ] {
            let i = h.link_index(dev).unwrap();
            h.addr_add_spec(&warren_kernel::addr::AddrSpec::new(i, net(addr)).nodad())
                .unwrap();
        }
        for (h, gw) in [(&a, "fd01::1"), (&b, "fd02::1")] {
            h.route_add(&RouteSpec::default_v6().via(ip(gw))).unwrap();
        }
        sysctl::forwarding(r.ns(), true).unwrap();
        for dst in ["b6", "[fd02::2]:80", "[fd02::2]:53/udp"] {
            let rep = trace("a6", dst, true);
            assert_reaches(&rep, "b6");
            assert_eq!(rep.trace.src, Some(ip("fd01::2")));
            assert!(rep.probe.as_ref().unwrap().reached, "{}", show(&rep));
        }
        sysctl::forwarding(r.ns(), false).unwrap();
        let rep = trace("a6", "[fd02::2]:80", true);
        assert_stops(&rep, "forwarding-off", "r6");
        assert!(
            rep.trace.cause().unwrap().to_string().contains("net.ipv6.conf.all.forwarding=0"),
            "{}",
            show(&rep)
        );
        let p = rep.probe.unwrap();
        assert!(!p.reached);
        assert_eq!(p.lost_at, Some(1));
    }
}

sandbox_test! {
    fn leaving_the_seen_namespaces_and_a_routing_loop() {
        let lab = wire();
        // An uplink into a namespace no name or process shows: the packet leaves.
        let hidden = warren_kernel::NetNs::new_anonymous("hidden").unwrap();
        lab.r
            .link_add(&Veth::new("up0", "eth0").peer_netns(&hidden).up().peer_up())
            .unwrap();
        lab.r.addr_add(lab.r.link_index("up0").unwrap(), net("198.51.100.1/24")).unwrap();
        lab.r.route_add(&RouteSpec::default_v4().via(ip("198.51.100.2"))).unwrap();
        let r = trace("a", "203.0.113.9", false);
        assert_eq!(
            r.trace.verdict,
            warren_trace::Verdict::Leaves { ns: "r".into(), iface: "up0".into() },
            "{}",
            show(&r)
        );
        let e = warren_trace::trace(&Request {
            src: "a".into(),
            dst: "203.0.113.9".into(),
            size: None,
            probe: true,
        })
        .unwrap_err();
        assert!(e.to_string().contains("outside the namespaces"), "{e}");
        // r sends 10.9.9.0/24 to c, and c (forwarding) sends it back to r.
        lab.r.route_add(&RouteSpec::to(net("10.9.9.0/24")).via(ip("10.0.2.3"))).unwrap();
        assert_stops(&trace("a", "10.9.9.9", false), "forwarding-off", "c");
        let c = warren_kernel::NetNs::open_named("c").unwrap();
        sysctl::forwarding(&c, true).unwrap();
        // r masquerades a's packet out of br0 (no warren bridge), so it comes back to r with
        // r's own address as its source: a martian.
        let r = trace("a", "10.9.9.9", false);
        assert_stops(&r, "martian-source", "r");
        assert_eq!(r.trace.hops.len(), 4, "{}", show(&r));
        // Without masquerade it goes round: r, c, r, c.
        let fw = Firewall::new("warren");
        Nft::new(lab.r.ns()).unwrap().apply(&fw.masquerade(&[net("10.0.1.0/24")], false).unwrap()).unwrap();
        let r = trace("a", "10.9.9.9", false);
        assert_eq!(r.trace.cause(), Some(&warren_trace::Cause::Loop), "{}", show(&r));
        assert_eq!(r.trace.stop_ns(), Some("c"), "{}", show(&r));
    }
}

sandbox_test! {
    fn across_chained_switches_and_a_ring_that_ends() {
        let lab = wire();
        // A second switch `sw` (bridge br1 in a namespace of its own, as a lab's switch)
        // chained to r's br0, with host d behind it; a second, idle link between the two
        // switches closes a ring (both ends down: no broadcast storm, but the fan-out must
        // still end).
        let (sw, d) = (open("sw"), open("d"));
        sw.link_add(&Bridge::new("br1").stp(false).up()).unwrap();
        let br0 = lab.r.link_index("br0").unwrap();
        let br1 = sw.link_index("br1").unwrap();
        for (near, far, up) in [("vs", "up", true), ("vs2", "up2", false)] {
            let mut v = Veth::new(near, far).peer_netns(sw.ns()).master(br0);
            if up {
                v = v.up().peer_up();
            }
            lab.r.link_add(&v).unwrap();
            sw.link_set_master(far, Some(br1)).unwrap();
        }
        sw.link_add(&Veth::new("vd", "eth0").peer_netns(d.ns()).master(br1).up().peer_up())
            .unwrap();
        d.addr_add(d.link_index("eth0").unwrap(), net("10.0.2.4/24")).unwrap();
        d.route_add(&RouteSpec::default_v4().via(ip("10.0.2.1"))).unwrap();

        let r = trace("a", "d:80", true);
        assert_reaches(&r, "d");
        assert!(r.probe.as_ref().unwrap().reached, "{}", show(&r));
        let links = r.trace.hops[1].link.join("\n");
        assert!(links.contains("bridge br0 in r: port vs"), "{links}");
        assert!(links.contains("veth vs -> up in sw"), "{links}");
        assert!(links.contains("bridge br1 in sw: port vd"), "{links}");
        assert!(links.contains("veth vd -> eth0 in d"), "{links}");
        // From d back to b: two bridges the other way, the first in sw.
        assert_reaches(&trace("d", "10.0.2.2", true), "b");

        // The far switch's port to d goes down: named on br1, in r's hop.
        sw.link_set_down("vd").unwrap();
        let r = trace("a", "d", true);
        assert_stops(&r, "bridge-port-down", "r");
        let Some(warren_trace::Cause::BridgePortDown { bridge, port, .. }) = r.trace.cause() else {
            panic!("{}", show(&r));
        };
        assert_eq!((bridge.as_str(), port.as_str()), ("br1", "vd"), "{}", show(&r));
        assert!(!r.probe.unwrap().reached);
    }
}
