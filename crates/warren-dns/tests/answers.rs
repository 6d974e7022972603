//! The server's own answers: A, AAAA and PTR, scoped by network, NODATA; over UDP and TCP.
//!
//! Two networks on loopback: `front` listens on 127.0.0.1, `back` on 127.0.0.2. Clients pick
//! their source address: 127.0.0.10 has a name in front, 127.0.0.20 in back, 127.0.0.30 in
//! both, 127.0.0.99 in none.

mod common;

use std::net::SocketAddr;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use warren_dns::Config;
use warren_testkit::sandbox_test;

const FRONT: &str = "127.0.0.1:53";
const BACK: &str = "127.0.0.2:53";
const UPSTREAM: &str = "127.0.0.53:53";
/// What the fake upstream answers for every name.
const FORWARDED: &str = "192.0.2.99";

fn config() -> Config {
    Config {
        listen: vec![listen("front", "127.0.0.1"), listen("back", "127.0.0.2")],
        upstreams: vec![UPSTREAM.parse().unwrap()],
        names: vec![
            name("web", "front", &["127.0.0.10", "fd89::10"]),
            name("www", "front", &["127.0.0.10"]),
            name("v4only", "front", &["127.0.0.11"]),
            name("db", "back", &["127.0.0.20"]),
            name("both", "front", &["127.0.0.30"]),
            name("both", "back", &["127.0.0.30"]),
        ],
        ..Config::default()
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn a(from: &str, server: &str, qname: &str) -> Vec<std::net::IpAddr> {
    addrs(&udp(
        from,
        addr(server),
        &query(qname, RecordType::A, 0x4242),
    ))
}

sandbox_test! {
    fn a_aaaa_and_ptr_are_answered() {
        lo_up();
        let upstream = Upstream::start(UPSTREAM, FORWARDED);
        let server = Server::start(&config());
        let front = addr(FRONT);
        for qname in ["web", "WEB", "web.", "Web.Front", "web.front."] {
            let r = udp("127.0.0.99", front, &query(qname, RecordType::A, 0x1234));
            assert_eq!(r.id(), 0x1234, "{qname}: the ID is kept");
            assert_eq!(r.response_code(), ResponseCode::NoError);
            assert_eq!(addrs(&r), vec![ip("127.0.0.10")], "{qname}");
            assert!(r.answers().iter().all(|rr| rr.ttl() == 0));
        }
        let r = udp("127.0.0.99", front, &query("web", RecordType::AAAA, 7));
        assert_eq!(addrs(&r), vec![ip("fd89::10")]);
        let ptr = udp("127.0.0.99", front, &query("10.0.0.127.in-addr.arpa.", RecordType::PTR, 8));
        let mut names: Vec<String> = ptr
            .answers()
            .iter()
            .filter_map(|r| match r.data() {
                RData::PTR(p) => Some(p.0.to_ascii()),
                _ => None,
            })
            .collect();
        names.sort();
        assert_eq!(names, ["web.", "www."]);
        let v6 = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.8.d.f.ip6.arpa.";
        let ptr6 = udp("127.0.0.99", front, &query(v6, RecordType::PTR, 9));
        assert_eq!(ptr6.answers().len(), 1);
        assert_eq!(upstream.count(), 0, "nothing of ours is forwarded");
        server.stop();
    }
}

sandbox_test! {
    fn tcp_queries_are_answered_on_one_connection_or_many() {
        lo_up();
        let _upstream = Upstream::start(UPSTREAM, FORWARDED);
        let server = Server::start(&config());
        for id in 0..20 {
            let r = tcp("127.0.0.99", addr(FRONT), &query("web", RecordType::A, id));
            assert_eq!((r.id(), addrs(&r)), (id, vec![ip("127.0.0.10")]));
        }
        let r = tcp("127.0.0.99", addr(FRONT), &query("example.org.", RecordType::A, 77));
        assert_eq!((r.id(), addrs(&r)), (77, vec![ip(FORWARDED)]));
        server.stop();
    }
}

sandbox_test! {
    fn names_are_scoped_by_network() {
        lo_up();
        let upstream = Upstream::start(UPSTREAM, FORWARDED);
        let server = Server::start(&config());
        // A client of front (by listener or by its own name) does not see back's names: the
        // query leaves for the upstream instead.
        assert_eq!(a("127.0.0.99", FRONT, "db"), vec![ip(FORWARDED)]);
        assert_eq!(a("127.0.0.10", FRONT, "db"), vec![ip(FORWARDED)]);
        assert_eq!(a("127.0.0.10", FRONT, "db.back"), vec![ip(FORWARDED)]);
        assert_eq!(a("127.0.0.20", BACK, "web"), vec![ip(FORWARDED)]);
        // Asking on back's listener: back's names.
        assert_eq!(a("127.0.0.99", BACK, "db"), vec![ip("127.0.0.20")]);
        // A client with a name in back sees back's names even on front's listener.
        assert_eq!(a("127.0.0.20", FRONT, "db"), vec![ip("127.0.0.20")]);
        assert_eq!(a("127.0.0.20", FRONT, "web"), vec![ip("127.0.0.10")]);
        // A client with names in both sees both, on either listener.
        for server in [FRONT, BACK] {
            assert_eq!(a("127.0.0.30", server, "web"), vec![ip("127.0.0.10")]);
            assert_eq!(a("127.0.0.30", server, "db.back"), vec![ip("127.0.0.20")]);
        }
        // PTR is scoped too.
        let q = query("20.0.0.127.in-addr.arpa.", RecordType::PTR, 3);
        let scoped_out = udp("127.0.0.99", addr(FRONT), &q);
        assert_eq!(addrs(&scoped_out), vec![ip(FORWARDED)], "forwarded, not answered");
        let seen = udp("127.0.0.30", addr(FRONT), &q);
        assert_eq!(seen.answers().len(), 1);
        assert!(upstream.count() >= 5);
        server.stop();
    }
}

sandbox_test! {
    fn a_known_name_without_the_family_is_nodata_and_not_forwarded() {
        lo_up();
        let upstream = Upstream::start(UPSTREAM, FORWARDED);
        let server = Server::start(&config());
        for (qname, qtype) in [("v4only", RecordType::AAAA), ("web", RecordType::MX), ("www", RecordType::TXT)] {
            let r: Message = udp("127.0.0.99", addr(FRONT), &query(qname, qtype, 5));
            assert_eq!(r.response_code(), ResponseCode::NoError, "{qname} {qtype}");
            assert!(r.answers().is_empty(), "{qname} {qtype}: {:?}", r.answers());
        }
        assert_eq!(upstream.count(), 0);
        server.stop();
    }
}

sandbox_test! {
    fn ipv6_listen_addresses_and_clients() {
        lo_up();
        let mut c = config();
        c.listen = vec![listen("front", "::1")];
        c.upstreams.clear();
        let server = Server::start(&c);
        let at = addr("[::1]:53");
        let r = udp("::1", at, &query("web", RecordType::AAAA, 1));
        assert_eq!(addrs(&r), vec![ip("fd89::10")]);
        let r = tcp("::1", at, &query("web.front", RecordType::A, 2));
        assert_eq!(addrs(&r), vec![ip("127.0.0.10")]);
        server.stop();
    }
}
