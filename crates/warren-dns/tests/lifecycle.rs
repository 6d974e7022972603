//! The server's life: the pid file, reloads on SIGHUP (under load, adding and removing listen
//! addresses, a broken config), exit on a config without listen addresses, and its peak memory.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::rr::RecordType;
use warren_dns::Config;
use warren_testkit::sandbox_test;

const FRONT: &str = "127.0.0.1:53";
const UPSTREAM: &str = "127.0.0.53:53";

fn base() -> Config {
    Config {
        listen: vec![listen("front", "127.0.0.1")],
        upstreams: vec![UPSTREAM.parse().unwrap()],
        names: vec![name("web", "front", &["127.0.0.10"])],
        ..Config::default()
    }
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Poll until `qname` resolves to `want` on `server`, for at most 3 s.
fn eventually_resolves(server: &str, qname: &str, want: &str) {
    let since = Instant::now();
    loop {
        let q = query(qname, RecordType::A, 1);
        if let Ok(r) = try_udp("127.0.0.99", sock(server), &q, Duration::from_millis(500)) {
            if addrs(&r) == vec![ip(want)] {
                return;
            }
        }
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "{qname} never resolved on {server}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

sandbox_test! {
    fn the_pid_file_is_written_once_serving_and_removed_on_sigterm() {
        lo_up();
        let s = Server::start(&base());
        // Server::start returned: the pid file names the child, and it answers at once.
        assert_eq!(addrs(&udp("127.0.0.99", sock(FRONT), &query("web", RecordType::A, 1))), vec![ip("127.0.0.10")]);
        let pid_file = s.pid_file.clone();
        let status = s.stop();
        assert!(status.success(), "{status}");
        assert!(!pid_file.exists(), "pid file removed on exit");
    }
}

sandbox_test! {
    fn reloads_under_load_drop_no_query_and_new_names_appear() {
        lo_up();
        let _up = Upstream::start(UPSTREAM, "192.0.2.1");
        let s = Server::start(&base());
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        // Three clients: own name over UDP, a forwarded name over UDP, own name over TCP.
        let clients: Vec<_> = [("web", "127.0.0.10", false), ("example.org.", "192.0.2.1", false), ("web", "127.0.0.10", true)]
            .into_iter()
            .enumerate()
            .map(|(i, (qname, want, over_tcp))| {
                let (stop, failures, answered) = (Arc::clone(&stop), Arc::clone(&failures), Arc::clone(&answered));
                std::thread::spawn(move || {
                    let from = format!("127.0.0.{}", 100 + i);
                    let mut id: u16 = 0;
                    let since = Instant::now();
                    while !stop.load(Ordering::Relaxed) && since.elapsed() < Duration::from_secs(60) {
                        id = id.wrapping_add(1);
                        let q = query(qname, RecordType::A, id);
                        let r = if over_tcp {
                            try_tcp(&from, sock(FRONT), &q)
                        } else {
                            try_udp(&from, sock(FRONT), &q, Duration::from_secs(3))
                        };
                        match r {
                            Ok(r) if r.id() == id && addrs(&r) == vec![ip(want)] => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            other => {
                                eprintln!("client {i}: {qname}: {other:?}");
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        let mut config = base();
        for i in 0..60 {
            config.names.push(name(&format!("new{i}"), "front", &["127.0.0.20"]));
            // Every other reload also adds, then removes, a second listen address.
            if i % 2 == 0 {
                config.listen.push(listen("front", "127.0.0.2"));
            } else {
                config.listen.truncate(1);
            }
            s.reload(&config);
            if i % 10 == 0 {
                eventually_resolves(FRONT, &format!("new{i}"), "127.0.0.20");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eventually_resolves(FRONT, "new59", "127.0.0.20");
        // A storm of signals with no change in between.
        for _ in 0..50 {
            s.hup();
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        let (ok, failed) = (answered.load(Ordering::Relaxed), failures.load(Ordering::Relaxed));
        println!("reload under load: {ok} queries answered, {failed} failed, across 110 SIGHUPs");
        assert_eq!(failed, 0);
        assert!(ok > 300, "the clients hardly ran: {ok}");
        for i in 0..60 {
            let r = udp("127.0.0.99", sock(FRONT), &query(&format!("new{i}"), RecordType::A, 2));
            assert_eq!(addrs(&r), vec![ip("127.0.0.20")], "new{i}");
        }
        assert!(s.log_text().contains("reloaded"), "reloads are logged: {}", s.log_text());
        assert!(s.stop().success());
    }
}

sandbox_test! {
    fn a_reload_adds_and_removes_listen_addresses() {
        lo_up();
        let s = Server::start(&base());
        let mut c = base();
        c.listen.push(listen("back", "127.0.0.2"));
        c.names.push(name("db", "back", &["127.0.0.20"]));
        s.reload(&c);
        eventually_resolves("127.0.0.2:53", "db", "127.0.0.20");
        let r = tcp("127.0.0.99", sock("127.0.0.2:53"), &query("db", RecordType::A, 3));
        assert_eq!(addrs(&r), vec![ip("127.0.0.20")]);
        // Remove the first one: it stops answering, the second goes on.
        c.listen.remove(0);
        s.reload(&c);
        let since = Instant::now();
        while try_udp("127.0.0.99", sock(FRONT), &query("web", RecordType::A, 4), Duration::from_millis(200)).is_ok() {
            assert!(since.elapsed() < Duration::from_secs(3), "127.0.0.1 still answers");
        }
        assert!(try_tcp("127.0.0.99", sock(FRONT), &query("web", RecordType::A, 4)).is_err());
        eventually_resolves("127.0.0.2:53", "db", "127.0.0.20");
        s.stop();
    }
}

sandbox_test! {
    fn a_forward_in_flight_is_answered_after_its_listener_is_removed() {
        lo_up();
        let _slow = Upstream::start_delayed(UPSTREAM, "192.0.2.1", Duration::from_millis(700));
        let mut c = base();
        c.listen.push(listen("back", "127.0.0.2"));
        let s = Server::start(&c);
        let asking = std::thread::spawn(|| {
            let q = query("example.org.", RecordType::A, 0x0707);
            try_udp("127.0.0.99", sock("127.0.0.2:53"), &q, Duration::from_secs(3))
        });
        // The query is at the upstream when 127.0.0.2 goes away.
        std::thread::sleep(Duration::from_millis(200));
        s.reload(&base());
        let r = asking.join().unwrap().expect("the in-flight query is answered");
        assert_eq!((r.id(), addrs(&r)), (0x0707, vec![ip("192.0.2.1")]));
        s.stop();
    }
}

sandbox_test! {
    fn a_forward_in_flight_is_answered_before_the_server_exits() {
        lo_up();
        let _slow = Upstream::start_delayed(UPSTREAM, "192.0.2.1", Duration::from_millis(700));
        let mut s = Server::start(&base());
        let asking = std::thread::spawn(|| {
            let q = query("example.org.", RecordType::A, 0x0808);
            try_udp("127.0.0.99", sock(FRONT), &q, Duration::from_secs(3))
        });
        std::thread::sleep(Duration::from_millis(200));
        s.reload(&Config { listen: vec![], ..base() });
        let r = asking.join().unwrap().expect("the in-flight query is answered");
        assert_eq!(addrs(&r), vec![ip("192.0.2.1")]);
        assert!(s.wait_exit(Duration::from_secs(5)).success());
    }
}

sandbox_test! {
    fn a_config_without_listen_addresses_stops_the_server_with_exit_0() {
        lo_up();
        let mut s = Server::start(&base());
        s.reload(&Config { listen: vec![], ..base() });
        let status = s.wait_exit(Duration::from_secs(5));
        assert!(status.success(), "{status}");
        assert!(!s.pid_file.exists());
    }
}

sandbox_test! {
    fn a_broken_config_on_reload_keeps_the_old_one_serving() {
        lo_up();
        let s = Server::start(&base());
        for broken in ["{ not json", r#"{"listen": [{"network": "front", "addr": "127.0.0.1"}], "port": 0}"#, ""] {
            std::fs::write(&s.config, broken).unwrap();
            s.hup();
            std::thread::sleep(Duration::from_millis(100));
            let r = udp("127.0.0.99", sock(FRONT), &query("web", RecordType::A, 5));
            assert_eq!(addrs(&r), vec![ip("127.0.0.10")], "after {broken:?}");
        }
        // A listen address that cannot be bound (another program has the port) keeps the old
        // config too.
        let _squatter = std::net::UdpSocket::bind("127.0.0.3:53").unwrap();
        let mut c = base();
        c.listen.push(listen("front", "127.0.0.3"));
        c.names.push(name("late", "front", &["127.0.0.21"]));
        s.reload(&c);
        std::thread::sleep(Duration::from_millis(100));
        let r = udp("127.0.0.99", sock(FRONT), &query("late", RecordType::A, 6));
        assert_ne!(addrs(&r), vec![ip("127.0.0.21")], "the new config must not be half applied");
        let log = s.log_text();
        assert_eq!(log.lines().filter(|l| l.contains("reload failed")).count(), 4, "{log}");
        assert!(log.lines().all(|l| l.starts_with("warren-dns: ")), "{log}");
        assert!(log.contains("127.0.0.3:53"), "the error names the address: {log}");
        assert!(s.stop().success());
    }
}

sandbox_test! {
    fn peak_rss_stays_under_5_mb() {
        lo_up();
        let _up = Upstream::start(UPSTREAM, "192.0.2.1");
        let s = Server::start(&base());
        // One client socket, so the figures are the server's round trip, not socket set-up.
        let client = std::net::UdpSocket::bind("127.0.0.99:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let round_trip = |qname: &str, id: u16| {
            let started = Instant::now();
            client.send_to(&query(qname, RecordType::A, id).to_vec().unwrap(), FRONT).unwrap();
            let mut buf = [0u8; 512];
            let n = client.recv(&mut buf).unwrap();
            assert_eq!(u16::from_be_bytes([buf[0], buf[1]]), id, "{n} bytes");
            started.elapsed()
        };
        let mut own: Vec<Duration> = (0..1500u16).map(|i| round_trip("web", i)).collect();
        let mut forwarded: Vec<Duration> = (0..300u16).map(|i| round_trip("example.org.", i)).collect();
        for i in 0..200u16 {
            tcp("127.0.0.99", sock(FRONT), &query("web", RecordType::AAAA, i));
        }
        own.sort();
        forwarded.sort();
        let pct = |v: &[Duration], p: usize| v[v.len() * p / 100].as_secs_f64() * 1e6;
        println!(
            "UDP round trip, own name: p50 {:.0} µs, p99 {:.0} µs; forwarded: p50 {:.0} µs, p99 {:.0} µs",
            pct(&own, 50), pct(&own, 99), pct(&forwarded, 50), pct(&forwarded, 99)
        );
        let kb = s.peak_rss_kb();
        let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
        let anon = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap_or_default();
        println!("warren-dns peak RSS (VmHWM) after 2000 queries: {kb} kB (now {anon})");
        assert!(kb <= 5 * 1024, "peak RSS {kb} kB");
        s.stop();
    }
}

sandbox_test! {
    fn fragments_of_the_include_directory_come_and_go_with_reloads() {
        lo_up();
        let mut c = base();
        c.include = Some("names".into());
        let s = Server::start(&c);
        let dir = s.config.parent().unwrap().join("names");
        std::fs::create_dir_all(&dir).unwrap();
        // Written as the engine writes them: a hidden temporary file renamed into place.
        let put = |file: &str, f: &warren_dns::Fragment| {
            let tmp = dir.join(format!(".{file}.tmp"));
            std::fs::write(&tmp, serde_json::to_vec(f).unwrap()).unwrap();
            std::fs::rename(&tmp, dir.join(file)).unwrap();
        };
        let frag = |n: &str, a: &str| warren_dns::Fragment {
            names: vec![name(n, "front", &[a])],
            ..warren_dns::Fragment::default()
        };
        put("one.json", &frag("one", "127.0.0.11"));
        put("two.json", &frag("two", "127.0.0.12"));
        s.hup();
        eventually_resolves(FRONT, "one", "127.0.0.11");
        eventually_resolves(FRONT, "two", "127.0.0.12");
        eventually_resolves(FRONT, "web", "127.0.0.10");
        // One replaced, one removed: the reload follows both.
        put("one.json", &frag("one", "127.0.0.21"));
        std::fs::remove_file(dir.join("two.json")).unwrap();
        s.hup();
        eventually_resolves(FRONT, "one", "127.0.0.21");
        let r = udp("127.0.0.99", sock(FRONT), &query("two", RecordType::A, 7));
        assert!(addrs(&r).is_empty(), "two is gone: {r:?}");
        // A broken fragment is left out with a line naming it; the others keep being served.
        std::fs::write(dir.join("bad.json"), "{").unwrap();
        put("three.json", &frag("three", "127.0.0.13"));
        s.hup();
        eventually_resolves(FRONT, "three", "127.0.0.13");
        eventually_resolves(FRONT, "one", "127.0.0.21");
        let log = s.log_text();
        assert!(log.lines().any(|l| l.contains("left out") && l.contains("bad.json")), "{log}");
        // The server watches the directory: a fragment written or removed without SIGHUP is
        // followed too.
        put("four.json", &frag("four", "127.0.0.14"));
        eventually_resolves(FRONT, "four", "127.0.0.14");
        put("four.json", &frag("four", "127.0.0.24"));
        eventually_resolves(FRONT, "four", "127.0.0.24");
        std::fs::remove_file(dir.join("four.json")).unwrap();
        let since = Instant::now();
        while !addrs(&udp("127.0.0.99", sock(FRONT), &query("four", RecordType::A, 8))).is_empty() {
            assert!(since.elapsed() < Duration::from_secs(3), "four never went away");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Even the directory removed and made again.
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        s.hup();
        put("five.json", &frag("five", "127.0.0.15"));
        eventually_resolves(FRONT, "five", "127.0.0.15");
        assert!(s.stop().success());
    }
}
