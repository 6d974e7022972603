//! Forwarding: what is not a known name goes to the upstreams (the client's own when
//! `client_upstreams` names it), over the client's transport, with the client's ID; the next
//! upstream is tried when one is silent or refuses; SERVFAIL when none answers.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use warren_dns::Config;
use warren_testkit::sandbox_test;

const SERVER: &str = "127.0.0.1:53";

fn config(upstreams: &[&str]) -> Config {
    Config {
        listen: vec![listen("front", "127.0.0.1")],
        upstreams: upstreams.iter().map(|u| u.parse().unwrap()).collect(),
        names: vec![name("web", "front", &["127.0.0.10"])],
        ..Config::default()
    }
}

fn server() -> SocketAddr {
    SERVER.parse().unwrap()
}

sandbox_test! {
    fn other_names_are_forwarded_with_the_clients_id() {
        lo_up();
        let up = Upstream::start("127.0.0.53:53", "192.0.2.1");
        let s = Server::start(&config(&["127.0.0.53:53"]));
        for id in [0, 1, 0xabcd, 0xffff] {
            let r = udp("127.0.0.99", server(), &query("example.org.", RecordType::A, id));
            assert_eq!((r.id(), addrs(&r)), (id, vec![ip("192.0.2.1")]), "UDP");
            let r = tcp("127.0.0.99", server(), &query("example.org.", RecordType::A, id));
            assert_eq!((r.id(), addrs(&r)), (id, vec![ip("192.0.2.1")]), "TCP");
        }
        assert_eq!(up.count(), 8);
        s.stop();
    }
}

sandbox_test! {
    fn client_upstreams_override_the_default_for_that_client() {
        lo_up();
        let _default = Upstream::start("127.0.0.53:53", "192.0.2.1");
        let own = Upstream::start("127.0.0.54:53", "192.0.2.2");
        let mut c = config(&["127.0.0.53:53"]);
        c.client_upstreams.insert(ip("127.0.0.30"), vec!["127.0.0.54:53".parse().unwrap()]);
        let s = Server::start(&c);
        let q = query("example.org.", RecordType::A, 9);
        assert_eq!(addrs(&udp("127.0.0.30", server(), &q)), vec![ip("192.0.2.2")]);
        assert_eq!(addrs(&tcp("127.0.0.30", server(), &q)), vec![ip("192.0.2.2")]);
        assert_eq!(addrs(&udp("127.0.0.31", server(), &q)), vec![ip("192.0.2.1")]);
        assert_eq!(own.count(), 2);
        // Own names are still answered for that client.
        assert_eq!(addrs(&udp("127.0.0.30", server(), &query("web", RecordType::A, 1))), vec![ip("127.0.0.10")]);
        s.stop();
    }
}

sandbox_test! {
    fn a_silent_upstream_is_skipped_after_its_timeout() {
        lo_up();
        let _silent = silent_upstream("127.0.0.52:53");
        let _up = Upstream::start("127.0.0.53:53", "192.0.2.1");
        let s = Server::start(&config(&["127.0.0.52:53", "127.0.0.53:53"]));
        let since = Instant::now();
        let r = udp("127.0.0.99", server(), &query("example.org.", RecordType::A, 4));
        let took = since.elapsed();
        assert_eq!(addrs(&r), vec![ip("192.0.2.1")]);
        assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(4), "{took:?}");
        s.stop();
    }
}

sandbox_test! {
    fn servfail_when_no_upstream_answers() {
        lo_up();
        // Nothing listens on .52 (refused at once), .51 is silent (a timeout).
        let _silent = silent_upstream("127.0.0.51:53");
        let s = Server::start(&config(&["127.0.0.52:53", "127.0.0.51:53"]));
        let q = query("example.org.", RecordType::A, 0x5151);
        let since = Instant::now();
        let r = udp("127.0.0.99", server(), &q);
        assert_eq!((r.id(), r.response_code()), (0x5151, ResponseCode::ServFail));
        assert!(since.elapsed() < Duration::from_secs(4), "{:?}", since.elapsed());
        let r = tcp("127.0.0.99", server(), &q);
        assert_eq!((r.id(), r.response_code()), (0x5151, ResponseCode::ServFail));
        s.stop();
        // No upstreams at all: SERVFAIL at once.
        let s = Server::start(&config(&[]));
        let r = udp("127.0.0.99", server(), &q);
        assert_eq!(r.response_code(), ResponseCode::ServFail);
        s.stop();
    }
}
