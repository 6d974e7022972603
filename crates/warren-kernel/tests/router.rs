//! The classic router example, wired with warren's kernel API alone: two LAN namespaces and a
//! router namespace joined by veth pairs, forwarding on in the router, default routes in the
//! LANs. ICMP, TCP and UDP cross the router with the client's own source address; with
//! forwarding off they do not.
//!
//! ```text
//! lan-a eth0 (10.0.1.2, fd01::2) -- to-a | router | to-b -- eth0 (10.0.2.2, fd02::2) lan-b
//!                                   (10.0.1.1 / 10.0.2.1, fd01::1 / fd02::1)
//! ```

use std::net::{IpAddr, SocketAddr};

use warren_kernel::addr::{AddrSpec, IpNet};
use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::route::{RouteQuery, RouteSpec};
use warren_kernel::{Handle, sysctl};
use warren_testkit::net::{ping, tcp_exchange, udp_exchange};
use warren_testkit::sandbox_test;

struct Lab {
    a: Handle,
    r: Handle,
    b: Handle,
}

fn ipa(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn wire() -> Lab {
    let open = |name| Handle::new(netns::add_named(name, Source::New).unwrap()).unwrap();
    let (a, r, b) = (open("lan-a"), open("router"), open("lan-b"));
    for h in [&a, &r, &b] {
        h.link_set_up("lo").unwrap();
        // Links made from here on skip DAD for their link-local address too: a router only
        // sends neighbour solicitations for forwarded IPv6 packets from a link-local address
        // that has finished DAD, which would hold the first packets for about two seconds.
        sysctl::set(h.ns(), "net.ipv6.conf.default.accept_dad", "0").unwrap();
    }
    r.link_add(&Veth::new("to-a", "eth0").peer_netns(a.ns()).up().peer_up())
        .unwrap();
    r.link_add(&Veth::new("to-b", "eth0").peer_netns(b.ns()).up().peer_up())
        .unwrap();
    for (h, dev, v4, v6) in [
        (&r, "to-a", "10.0.1.1/24", "fd01::1/64"),
        (&r, "to-b", "10.0.2.1/24", "fd02::1/64"),
        (&a, "eth0", "10.0.1.2/24", "fd01::2/64"),
        (&b, "eth0", "10.0.2.2/24", "fd02::2/64"),
    ] {
        let idx = h.link_index(dev).unwrap();
        h.addr_add(idx, net(v4)).unwrap();
        h.addr_add_spec(&AddrSpec::new(idx, net(v6)).nodad())
            .unwrap();
    }
    for (h, gw4, gw6) in [(&a, "10.0.1.1", "fd01::1"), (&b, "10.0.2.1", "fd02::1")] {
        h.route_add(&RouteSpec::default_v4().via(ipa(gw4))).unwrap();
        h.route_add(&RouteSpec::default_v6().via(ipa(gw6))).unwrap();
    }
    sysctl::forwarding(r.ns(), true).unwrap();
    Lab { a, r, b }
}

sandbox_test! {
    fn lan_a_reaches_lan_b_through_the_router() {
        let lab = wire();
        assert_eq!(sysctl::get(lab.r.ns(), "net.ipv4.ip_forward").unwrap(), "1");
        assert_eq!(sysctl::get(lab.r.ns(), "net.ipv6.conf.all.forwarding").unwrap(), "1");
        assert_eq!(sysctl::get(lab.a.ns(), "net.ipv4.ip_forward").unwrap(), "0", "per namespace");

        // The LAN's own lookup goes through the router.
        let got = lab.a.route_get(ipa("10.0.2.2"), RouteQuery::default()).unwrap();
        assert_eq!(got.gateway, Some(ipa("10.0.1.1")));
        assert_eq!(got.oif, Some(lab.a.link_index("eth0").unwrap()));
        assert_eq!(got.prefsrc, Some(ipa("10.0.1.2")));

        for (dst, src) in [("10.0.2.2", "10.0.1.2"), ("fd02::2", "fd01::2")] {
            ping(lab.a.ns(), ipa(dst)).unwrap_or_else(|e| panic!("ping {dst}: {e}"));
            let peer = tcp_exchange(lab.a.ns(), lab.b.ns(), SocketAddr::new(ipa(dst), 5001))
                .unwrap_or_else(|e| panic!("tcp {dst}: {e}"));
            assert_eq!(peer.ip(), ipa(src), "the server sees the client's real address");
            let peer = udp_exchange(lab.a.ns(), lab.b.ns(), SocketAddr::new(ipa(dst), 5002))
                .unwrap_or_else(|e| panic!("udp {dst}: {e}"));
            assert_eq!(peer.ip(), ipa(src));
        }
        // And back the other way.
        ping(lab.b.ns(), ipa("10.0.1.2")).unwrap();

        // The router's own view of a packet arriving from lan-a: forwarded out of to-b.
        let from_a = RouteQuery {
            from: Some(ipa("10.0.1.2")),
            iif: Some(lab.r.link_index("to-a").unwrap()),
            ..RouteQuery::default()
        };
        let fwd = lab.r.route_get(ipa("10.0.2.2"), from_a).unwrap();
        assert_eq!(fwd.oif, Some(lab.r.link_index("to-b").unwrap()), "{fwd:?}");
        assert_eq!(fwd.gateway, None, "directly connected");
    }
}

sandbox_test! {
    fn without_forwarding_nothing_crosses() {
        let lab = wire();
        ping(lab.a.ns(), ipa("10.0.2.2")).unwrap();
        sysctl::forwarding(lab.r.ns(), false).unwrap();
        assert_eq!(sysctl::get(lab.r.ns(), "net.ipv4.ip_forward").unwrap(), "0");
        assert!(ping(lab.a.ns(), ipa("10.0.2.2")).is_err(), "forwarding is off");
        assert!(ping(lab.a.ns(), ipa("fd02::2")).is_err(), "IPv6 forwarding is off");
        // The kernel's own lookup says why: it would not forward.
        let from_a = RouteQuery {
            from: Some(ipa("10.0.1.2")),
            iif: Some(lab.r.link_index("to-a").unwrap()),
            ..RouteQuery::default()
        };
        let e = lab.r.route_get(ipa("10.0.2.2"), from_a).unwrap_err();
        assert_eq!(e.errno(), Some(nix::errno::Errno::EHOSTUNREACH), "{e}");
        // The router itself still answers on both sides.
        ping(lab.a.ns(), ipa("10.0.1.1")).unwrap();
        ping(lab.a.ns(), ipa("10.0.2.1")).unwrap();
        sysctl::forwarding(lab.r.ns(), true).unwrap();
        ping(lab.a.ns(), ipa("10.0.2.2")).unwrap();
    }
}

sandbox_test! {
    fn without_a_default_route_the_lan_is_unreachable() {
        let lab = wire();
        lab.a.route_del(&RouteSpec::default_v4()).unwrap();
        let e = lab.a.route_get(ipa("10.0.2.2"), RouteQuery::default()).unwrap_err();
        assert_eq!(e.errno(), Some(nix::errno::Errno::ENETUNREACH), "{e}");
        assert!(e.to_string().contains("(netns lan-a)"), "{e}");
        assert!(ping(lab.a.ns(), ipa("10.0.2.2")).is_err());
    }
}
