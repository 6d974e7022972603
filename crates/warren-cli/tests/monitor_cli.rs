//! `warren monitor -j` in the sandbox: it sees a named namespace and an anonymous one appear,
//! a link, an address and a route added inside a namespace (each with the right namespace),
//! a link in the host, and goes on after a watched namespace is deleted.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;
use warren_kernel::Handle;
use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::route::RouteSpec;
use warren_testkit::sandbox_test;

const WARREN: &str = env!("CARGO_BIN_EXE_warren");

struct Monitor {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Monitor {
    fn start() -> Monitor {
        let mut child = Command::new(WARREN)
            .args(["monitor", "-j", "--rescan", "0.2", "--duration", "60"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Monitor {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first event (from now on) that `want` accepts; fails after 10 s.
    fn expect(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let t = Instant::now();
        loop {
            let left = Duration::from_secs(10).saturating_sub(t.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if want(&v) {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "monitor never reported {what}; it said: {:#?}; alive: {:?}",
                    self.seen,
                    self.child.try_wait()
                ),
            }
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is(v: &Value, netns: &str, event: &str, action: &str) -> bool {
    v["netns"] == netns && v["event"] == event && v["action"] == action
}

sandbox_test! {
    fn monitor_sees_namespaces_links_addresses_and_routes_where_they_happen() {
        let host = Handle::current().unwrap();
        host.link_set_up("lo").unwrap();
        let mut m = Monitor::start();
        // Wait until the monitor runs: a namespace made now is reported.
        let t = Instant::now();
        let mut n = 0;
        loop {
            n += 1;
            let name = format!("probe{n}");
            netns::add_named(&name, Source::New).unwrap();
            let got = (0..50).find_map(|_| m.lines.recv_timeout(Duration::from_millis(100)).ok());
            if let Some(v) = got {
                m.seen.push(v.clone());
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "monitor never started");
        }

        let red = netns::add_named("red", Source::New).unwrap();
        let e = m.expect("red appearing", |v| is(v, "red", "netns", "new"));
        let red_ino = e["netns_ino"].as_u64().unwrap();
        assert_eq!(red_ino, red.id().ino, "{e}");

        let r = Handle::new(red.try_clone().unwrap()).unwrap();
        r.link_add(&Veth::new("a0", "a1").up().peer_up()).unwrap();
        let e = m.expect("a0 in red", |v| is(v, "red", "link", "new") && v["ifname"] == "a0");
        assert_eq!(e["kind"], "veth", "{e}");
        assert_eq!(e["netns_ino"], red_ino, "{e}");
        let a0 = r.link_index("a0").unwrap();
        r.addr_add(a0, "10.9.0.1/24".parse().unwrap()).unwrap();
        let e = m.expect("10.9.0.1/24 in red", |v| {
            is(v, "red", "addr", "new") && v["address"] == "10.9.0.1/24"
        });
        assert_eq!((e["ifname"].as_str(), e["family"].as_str()), (Some("a0"), Some("inet")), "{e}");
        r.route_add(&RouteSpec::to("10.10.0.0/24".parse().unwrap()).via("10.9.0.2".parse().unwrap()))
            .unwrap();
        let e = m.expect("the route in red", |v| {
            is(v, "red", "route", "new") && v["dst"] == "10.10.0.0/24"
        });
        assert_eq!((e["gateway"].as_str(), e["ifname"].as_str()), (Some("10.9.0.2"), Some("a0")), "{e}");

        // The host's own events carry its label.
        host.link_add(&Veth::new("h0", "h1")).unwrap();
        m.expect("h0 in the host", |v| is(v, "host", "link", "new") && v["ifname"] == "h0");

        // An anonymous namespace held only by a process is found by the periodic scan.
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        let mut child = Command::new("unshare").args(["-n", "sleep", "60"]).spawn().unwrap();
        let path = format!("/proc/{}/ns/net", child.id());
        while std::fs::read_link(&path).ok().is_none_or(|l| l == own) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let ino = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&path).unwrap().ino()
        };
        let e = m.expect("the anonymous namespace", |v| {
            v["event"] == "netns" && v["action"] == "new" && v["netns_ino"] == ino
        });
        assert_eq!(e["netns"], format!("net:[{ino}]"), "{e}");

        // Deleting a watched namespace is reported, and the monitor goes on.
        drop((r, red));
        netns::delete_named("red").unwrap();
        m.expect("red going away", |v| is(v, "red", "netns", "del"));
        host.link_add(&Veth::new("h2", "h3")).unwrap();
        m.expect("h2 after the deletion", |v| is(v, "host", "link", "new") && v["ifname"] == "h2");
        assert!(m.child.try_wait().unwrap().is_none(), "the monitor is still running");
        let _ = child.kill();
        let _ = child.wait();
        m.expect("the anonymous namespace going away", |v| {
            v["event"] == "netns" && v["action"] == "del" && v["netns_ino"] == ino
        });
        // Every event carries a time.
        assert!(m.seen.iter().all(|v| v["time"].as_str().is_some_and(|t| t.ends_with('Z'))));
    }
}

sandbox_test! {
    fn monitor_stops_after_count_events() {
        let host = Handle::current().unwrap();
        let mut child = Command::new(WARREN)
            .args(["monitor", "--count", "2", "--rescan", "0.1", "--duration", "30"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        let mut n = 0;
        while child.try_wait().unwrap().is_none() {
            assert!(t.elapsed() < Duration::from_secs(20), "monitor --count 2 never stopped");
            n += 1;
            let _ = host.link_add(&Veth::new(format!("c{n}"), format!("d{n}")));
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines.iter().all(|l| l.contains("] [host] [LINK] ")), "{out}");
        assert!(child.wait().unwrap().success());
    }
}
