//! Container networks end to end, through the `warren` CLI, in the sandbox: the sandbox's own
//! namespace plays the host, and an "outside" namespace routed only to the host plays the
//! internet.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use warren_kernel::addr::AddrSpec;
use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::route::RouteSpec;
use warren_kernel::{Handle, NetNs};
use warren_testkit::cli::Cli;
use warren_testkit::net::{tcp_exchange_via, udp_exchange_via};
use warren_testkit::sandbox_test;

const W: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The host (this sandbox's namespace, `lo` up) and the outside namespace: host
/// 203.0.113.1 / 2001:db8::1 on `up0`, outside .2 / ::2 with its default routes via the host.
struct World {
    host: Handle,
    outside: NetNs,
}

fn world() -> World {
    let host = Handle::current().unwrap();
    host.link_set_up("lo").unwrap();
    let outside = netns::add_named("outside", Source::New).unwrap();
    let o = Handle::new(outside.try_clone().unwrap()).unwrap();
    o.link_set_up("lo").unwrap();
    host.link_add(&Veth::new("up0", "eth0").peer_netns(&outside).up().peer_up())
        .unwrap();
    for (h, dev, v4, v6) in [
        (&host, "up0", "203.0.113.1/24", "2001:db8::1/64"),
        (&o, "eth0", "203.0.113.2/24", "2001:db8::2/64"),
    ] {
        let idx = h.link_index(dev).unwrap();
        h.addr_add(idx, v4.parse().unwrap()).unwrap();
        h.addr_add_spec(&AddrSpec::new(idx, v6.parse().unwrap()).nodad())
            .unwrap();
    }
    o.route_add(&RouteSpec::default_v4().via(ip("203.0.113.1")))
        .unwrap();
    o.route_add(&RouteSpec::default_v6().via(ip("2001:db8::1")))
        .unwrap();
    World { host, outside }
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&W.ok(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// A container's or pod's record from `ps -a -j` / `pod ls -j`.
fn record(name: &str) -> Value {
    let mut all = json(&["-j", "ps", "-a"]).as_array().unwrap().clone();
    all.extend(json(&["-j", "pod", "ls"]).as_array().unwrap().clone());
    all.into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container or pod {name}"))
}

fn netns_of(name: &str) -> NetNs {
    let r = record(name);
    NetNs::open_path(Path::new(r["netns"].as_str().unwrap())).unwrap()
}

/// The addresses of `name` on its first network.
fn addrs_of(name: &str) -> Vec<IpAddr> {
    record(name)["endpoints"][0]["addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| ip(a.as_str().unwrap()))
        .collect()
}

fn warren_netns() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("warren-"))
        .collect()
}

/// Host links named `prefix*`, once those being torn down are gone: a container's veth is set
/// down at teardown and goes with its namespace, which the kernel frees asynchronously.
fn host_links(prefix: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v: Value =
            serde_json::from_str(&warren_testkit::run("ip", &["-j", "link", "show"])).unwrap();
        let dying = v.as_array().unwrap().iter().any(|l| {
            l["ifname"].as_str().is_some_and(|n| n.starts_with(prefix))
                && !l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "UP"))
        });
        if !dying || std::time::Instant::now() > deadline {
            return names_with_prefix(&v, prefix);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn names_with_prefix(v: &Value, prefix: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["ifname"].as_str())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// The elements of one of warren's port maps, as `nft -j` prints them.
fn port_map(name: &str) -> Vec<Value> {
    let out = Command::new("nft")
        .args(["-j", "list", "map", "inet", "warren", name])
        .output()
        .unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["map"]["elem"].as_array())
        .flatten()
        .cloned()
        .collect()
}

sandbox_test! {
    fn two_containers_resolve_each_other_by_name_and_talk_tcp() {
        let _w = world();
        W.ok(&["network", "create", "front"]);
        W.ok(&["run", "-d", "--name", "b", "--net", "front", "--alias", "bee", "--", "sleep", "30"]);
        let b = netns_of("b");
        let b_addr = addrs_of("b")[0];
        // A listener inside b's namespace; a connects to it by name from a shell inside a.
        let listener = warren_testkit::net::tcp_listen(&b, sa("0.0.0.0:80"));
        let accept = std::thread::spawn(move || listener.accept().map(|(_, peer)| peer));
        let out = W.ok(&[
            "run", "--rm", "--name", "a", "--net", "front", "--",
            "bash", "-c", "getent hosts b; getent hosts bee; echo hi >/dev/tcp/b/80",
        ]);
        assert!(out.contains(&format!("{b_addr} ")), "a resolves b and its alias: {out}");
        assert_eq!(out.lines().count(), 2, "{out}");
        let peer = accept.join().unwrap().unwrap();
        assert!(
            peer.ip().to_string().starts_with(b_addr.to_string().rsplit_once('.').unwrap().0),
            "a connected from its own address on front: {peer}"
        );
        // A name not on the asker's networks does not resolve.
        W.ok(&["network", "create", "back"]);
        W.ok(&["run", "-d", "--name", "c", "--net", "back", "--", "sleep", "30"]);
        let st = Command::new(W.0)
            .args(["run", "--rm", "--net", "front", "--", "getent", "hosts", "c"])
            .status()
            .unwrap();
        assert!(!st.success(), "c is on another network: no answer");
        W.ok(&["rm", "-f", "b", "c"]);
    }
}

/// The DNS server's fragment files (`/run/warren/dns/names`), one per container or pod with
/// names, and any file a writer left there.
fn dns_fragments() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/warren/dns/names")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The addresses `name` resolves to from a fresh container on `net`, or `None`.
fn resolve(net: &str, name: &str) -> Option<String> {
    let out = Command::new(W.0)
        .args([
            "run", "--rm", "--net", net, "--", "getent", "ahostsv4", name,
        ])
        .output()
        .unwrap();
    out.status.success().then(|| {
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        first.split_whitespace().next().unwrap_or("").to_owned()
    })
}

sandbox_test! {
    fn dns_names_follow_every_change_and_a_change_rewrites_only_its_own_fragment() {
        let _w = world();
        W.ok(&["network", "create", "front"]);
        W.ok(&["network", "create", "back"]);
        W.ok(&["run", "-d", "--name", "a", "--net", "front", "--alias", "aa", "--", "sleep", "60"]);
        W.ok(&["pod", "create", "p", "--net", "front"]);
        W.ok(&["run", "-d", "--pod", "p", "--name", "m", "--", "sleep", "60"]);
        let (a_id, p_id) = (record("a")["id"].as_str().unwrap().to_owned(), record("p")["id"].as_str().unwrap().to_owned());
        assert_eq!(dns_fragments(), { let mut v = vec![format!("{a_id}.json"), format!("{p_id}.json")]; v.sort(); v });
        let a_addr = addrs_of("a")[0].to_string();
        let p_addr = addrs_of("p")[0].to_string();
        assert_eq!(resolve("front", "a").as_deref(), Some(a_addr.as_str()));
        assert_eq!(resolve("front", "aa").as_deref(), Some(a_addr.as_str()));
        assert_eq!(resolve("front", "p").as_deref(), Some(p_addr.as_str()));
        assert_eq!(resolve("front", "m").as_deref(), Some(p_addr.as_str()), "a member has its pod's address");
        assert_eq!(resolve("back", "a"), None, "a is not on back");

        // Another container's arrival and departure leave a's fragment as it was.
        use std::os::unix::fs::MetadataExt;
        let ino = |id: &str| std::fs::metadata(format!("/run/warren/dns/names/{id}.json")).unwrap().ino();
        let a_ino = ino(&a_id);
        W.ok(&["run", "-d", "--name", "b", "--net", "front", "--", "sleep", "60"]);
        assert_eq!(resolve("front", "b").as_deref(), Some(addrs_of("b")[0].to_string().as_str()));
        W.ok(&["rm", "-f", "b"]);
        assert_eq!(resolve("front", "b"), None, "b is gone");
        assert_eq!(ino(&a_id), a_ino, "a's fragment was not rewritten");

        // A member that stops no longer resolves; its pod still does.
        W.ok(&["stop", "m"]);
        assert_eq!(resolve("front", "m"), None);
        assert_eq!(resolve("front", "p").as_deref(), Some(p_addr.as_str()));
        // Connected to back, a resolves there; disconnected from front, no longer on front.
        W.ok(&["network", "connect", "back", "a"]);
        assert!(resolve("back", "a").is_some());
        W.ok(&["network", "disconnect", "front", "a"]);
        assert_eq!(resolve("front", "a"), None);
        assert_eq!(resolve("front", "aa"), None);

        // When the last container leaves, no fragment is left and the server stops.
        W.ok(&["rm", "-f", "a", "m"]);
        W.ok(&["pod", "rm", "p"]);
        assert_eq!(dns_fragments(), Vec::<String>::new());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Path::new("/run/warren/dns/pid").exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!Path::new("/run/warren/dns/pid").exists(), "the server stopped");
        // gc removes what a crashed writer left: a fragment of a container that is gone and a
        // temporary file.
        std::fs::write("/run/warren/dns/names/0123456789ab.json", r#"{"names": []}"#).unwrap();
        std::fs::write("/run/warren/dns/names/.0123456789ab.json.99999", "{").unwrap();
        W.ok(&["gc"]);
        assert_eq!(dns_fragments(), Vec::<String>::new());
    }
}

sandbox_test! {
    fn a_published_port_is_reached_from_everywhere_with_real_sources() {
        let w = world();
        W.ok(&["network", "create", "front", "--subnet", "10.70.0.0/24", "--subnet", "fd70::/64"]);
        W.ok(&[
            "pod", "create", "web", "--net", "front", "-p", "8080:80", "-p", "8081:81/udp",
            "-p", "127.0.0.1:9090:90", "-p", "[::1]:9091:91",
        ]);
        let web = netns_of("web");
        let host = w.host.ns();
        let gw4 = ip("10.70.0.1");
        let gw6 = ip("fd70::1");
        // (to, who connects, source the server must see)
        let cases: Vec<(&str, &NetNs, IpAddr)> = vec![
            ("203.0.113.1:8080", &w.outside, ip("203.0.113.2")),
            ("[2001:db8::1]:8080", &w.outside, ip("2001:db8::2")),
            ("203.0.113.1:8080", host, ip("203.0.113.1")),
            ("[2001:db8::1]:8080", host, ip("2001:db8::1")),
            // Loopback clients cannot be answered from the bridge: masqueraded to the gateway.
            ("127.0.0.1:8080", host, gw4),
            ("[::1]:8080", host, gw6),
            // Hairpin: the container through the host's address (masqueraded too).
            ("203.0.113.1:8080", &web, gw4),
            ("[2001:db8::1]:8080", &web, gw6),
        ];
        for (to, from, want) in cases {
            let peer = tcp_exchange_via(from, &web, 80, sa(to)).unwrap_or_else(|e| panic!("{to}: {e}"));
            assert_eq!(peer.ip(), want, "{to}");
        }
        let peer = udp_exchange_via(&w.outside, &web, 81, sa("203.0.113.1:8081")).unwrap();
        assert_eq!(peer.ip(), ip("203.0.113.2"), "UDP keeps the source too");
        // Ports published on loopback addresses are only there.
        assert_eq!(tcp_exchange_via(host, &web, 90, sa("127.0.0.1:9090")).unwrap().ip(), gw4);
        assert_eq!(tcp_exchange_via(host, &web, 91, sa("[::1]:9091")).unwrap().ip(), gw6);
        assert!(tcp_exchange_via(&w.outside, &web, 90, sa("203.0.113.1:9090")).is_err(), "127.0.0.1 only");
        assert!(tcp_exchange_via(host, &web, 90, sa("203.0.113.1:9090")).is_err(), "127.0.0.1 only");
        // One element per port and family in the maps, none per rule.
        assert_eq!(port_map("ports4").len(), 2);
        assert_eq!(port_map("ports6").len(), 2);
        assert_eq!(port_map("ports4a").len(), 1);
        assert_eq!(port_map("ports6a").len(), 1);
        // Ports added to the live pod work at once; removing the pod removes every element.
        W.ok(&["pod", "publish", "web", "-p", "8082:82"]);
        assert_eq!(tcp_exchange_via(&w.outside, &web, 82, sa("203.0.113.1:8082")).unwrap().ip(), ip("203.0.113.2"));
        W.ok(&["pod", "rm", "web"]);
        for m in ["ports4", "ports6", "ports4a", "ports6a"] {
            assert!(port_map(m).is_empty(), "{m} emptied");
        }
        assert!(warren_netns().is_empty());
    }
}

sandbox_test! {
    fn networks_are_isolated_internal_has_no_way_out_and_masquerade_reaches_outside() {
        let w = world();
        W.ok(&["network", "create", "one"]);
        W.ok(&["network", "create", "two"]);
        W.ok(&["network", "create", "sealed", "--internal"]);
        W.ok(&["pod", "create", "a", "--net", "one"]);
        W.ok(&["pod", "create", "b", "--net", "two"]);
        W.ok(&["pod", "create", "s", "--net", "sealed"]);
        let (a, b, s) = (netns_of("a"), netns_of("b"), netns_of("s"));
        let b_addr = addrs_of("b")[0];
        let a_addr = addrs_of("a")[0];
        // (e) masquerade: the outside sees the host's address.
        let peer = tcp_exchange_via(&a, &w.outside, 7000, sa("203.0.113.2:7000")).unwrap();
        assert_eq!(peer.ip(), ip("203.0.113.1"), "masqueraded to the host's address");
        // (c) one and two are isolated, both ways.
        assert!(tcp_exchange_via(&a, &b, 7001, SocketAddr::new(b_addr, 7001)).is_err());
        assert!(tcp_exchange_via(&b, &a, 7002, SocketAddr::new(a_addr, 7002)).is_err());
        // (d) the internal network reaches neither the outside nor other networks.
        assert!(tcp_exchange_via(&s, &w.outside, 7003, sa("203.0.113.2:7003")).is_err());
        assert!(tcp_exchange_via(&s, &a, 7004, SocketAddr::new(a_addr, 7004)).is_err());
        // A container on both networks reaches both.
        W.ok(&["network", "connect", "two", "a"]);
        let b_peer = tcp_exchange_via(&a, &b, 7005, SocketAddr::new(b_addr, 7005)).unwrap();
        let a_on_two = record("a")["endpoints"][1]["addrs"][0].as_str().unwrap().to_owned();
        assert_eq!(b_peer.ip(), ip(&a_on_two), "from its address on two");
        W.ok(&["network", "disconnect", "two", "a"]);
        assert!(tcp_exchange_via(&a, &b, 7006, SocketAddr::new(b_addr, 7006)).is_err());
        // rm refuses while in use, -f disconnects.
        let err = W.fails_with(&["network", "rm", "two"], 1);
        assert!(err.contains("in use by b"), "{err}");
        W.ok(&["network", "rm", "-f", "two"]);
        assert!(host_links("wv").len() == 2, "a and s keep theirs: {:?}", host_links("wv"));
    }
}

sandbox_test! {
    fn host_none_and_container_modes() {
        let _w = world();
        let me = std::fs::read_link("/proc/self/ns/net").unwrap();
        let out = W.ok(&["run", "--rm", "--net", "host", "--", "readlink", "/proc/self/ns/net"]);
        assert_eq!(out.trim(), me.to_str().unwrap(), "host mode shares the host's namespace");
        let out = W.ok(&["run", "--rm", "--net", "none", "--", "cat", "/proc/net/dev"]);
        let ifs: Vec<&str> = out.lines().skip(2).map(|l| l.split(':').next().unwrap().trim()).collect();
        assert_eq!(ifs, ["lo"], "none: only lo");
        W.ok(&["run", "-d", "--name", "t", "--", "sleep", "30"]);
        let inside = W.ok(&["run", "--rm", "--net", "container:t", "--", "readlink", "/proc/self/ns/net"]);
        // It resolves through t's network: the embedded server on t's gateway.
        let resolv = W.ok(&["run", "--rm", "--net", "container:t", "--", "cat", "/etc/resolv.conf"]);
        assert!(resolv.contains("nameserver 10.88.0.1"), "{resolv}");
        let t_pid = record("t")["pid"].as_i64().unwrap();
        let t_link = std::fs::read_link(format!("/proc/{t_pid}/ns/net")).unwrap();
        assert_eq!(inside.trim(), t_link.to_str().unwrap(), "container: joins t's namespace");
        // The default network came into being on first use, and its own hostname and files.
        let hn = W.ok(&["run", "--rm", "--name", "named", "--hostname", "box", "--", "cat", "/etc/hostname", "/etc/hosts"]);
        assert!(hn.starts_with("box\n"), "{hn}");
        assert!(hn.contains("\tbox named"), "{hn}");
        let bridge = &json(&["network", "inspect", "bridge"])[0];
        assert_eq!(bridge["iface"], "warren0");
        // The host's own files are untouched.
        assert!(!std::fs::read_to_string("/etc/hosts").unwrap_or_default().contains("Generated by warren"));
        W.ok(&["rm", "-f", "t"]);
    }
}

sandbox_test! {
    fn a_pod_member_restarts_and_keeps_address_and_ports() {
        let w = world();
        W.ok(&["network", "create", "front"]);
        W.ok(&["pod", "create", "p", "--net", "front", "-p", "8080:80"]);
        let before = addrs_of("p");
        let pod_ns = netns_of("p");
        for round in 0..2 {
            let out = W.ok(&["run", "--rm", "--pod", "p", "--name", "m", "--", "readlink", "/proc/self/ns/net"]);
            assert_eq!(out.trim(), format!("net:[{}]", pod_ns.id().ino), "round {round}: the member is in the pod");
            assert_eq!(addrs_of("p"), before, "the pod keeps its address");
            let peer = tcp_exchange_via(&w.outside, &pod_ns, 80, sa("203.0.113.1:8080")).unwrap();
            assert_eq!(peer.ip(), ip("203.0.113.2"), "round {round}: the port stays published");
        }
        // Members cannot publish their own ports; pod rm refuses with running members.
        let err = W.fails_with(&["run", "--pod", "p", "-p", "9:9", "--", "true"], 1);
        assert!(err.contains("publish ports on the pod"), "{err}");
        W.ok(&["run", "-d", "--pod", "p", "--name", "m2", "--", "sleep", "30"]);
        let err = W.fails_with(&["pod", "rm", "p"], 1);
        assert!(err.contains("running members: m2"), "{err}");
        W.ok(&["pod", "rm", "-f", "p"]);
        assert!(warren_netns().is_empty());
        assert!(port_map("ports4").is_empty());
    }
}

sandbox_test! {
    fn sixty_four_concurrent_runs_get_distinct_addresses() {
        let _w = world();
        W.ok(&["network", "create", "front", "--subnet", "10.80.0.0/24"]);
        // 64 processes at once.
        let procs: Vec<_> = (0..64)
            .map(|i| {
                Command::new(W.0)
                    .args(["run", "-d", "--name", &format!("c{i}"), "--net", "front", "--", "sleep", "60"])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut p in procs {
            assert!(p.wait().unwrap().success());
        }
        let all = json(&["-j", "ps"]);
        let mut addrs: Vec<String> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["endpoints"][0]["addrs"][0].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(addrs.len(), 64);
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 64, "no address handed out twice");
        // And the kernel agrees: each namespace has the address the store says.
        for c in all.as_array().unwrap().iter().step_by(8) {
            let ns = c["netns"].as_str().unwrap();
            let got = warren_testkit::oracle::ip_json_in(ns, &["addr", "show", "dev", "eth0"]);
            let want = c["endpoints"][0]["addrs"][0].as_str().unwrap();
            assert!(got.to_string().contains(want), "{ns}: {got}");
        }
    }
}

/// Everything warren could leave behind, for "nothing left" checks.
fn leftovers() -> (Vec<String>, Vec<String>, usize, Vec<String>) {
    let dirs: Vec<String> = std::fs::read_dir("/run/warren/containers")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let ports = ["ports4", "ports6", "ports4a", "ports6a"]
        .iter()
        .map(|m| port_map(m).len())
        .sum();
    (warren_netns(), host_links("wv"), ports, dirs)
}

sandbox_test! {
    fn kill_nine_at_every_step_of_setup_then_gc_leaves_nothing() {
        let _w = world();
        W.ok(&["network", "create", "front", "--subnet", "10.90.0.0/29"]);
        for point in ["after-db", "after-netns", "after-links", "after-ports", "after-dns"] {
            let out = Command::new(W.0)
                .args(["run", "--name", "victim", "--net", "front", "-p", "8080:80", "--", "sleep", "30"])
                .env("WARREN_FAILPOINT", point)
                .output()
                .unwrap();
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(9), "{point}: killed");
            let dry = W.ok(&["gc", "--dry-run"]);
            assert!(dry.contains("would remove container victim"), "{point}: {dry}");
            W.ok(&["gc"]);
            let (ns, links, ports, dirs) = leftovers();
            assert!(ns.is_empty() && links.is_empty() && ports == 0 && dirs.is_empty(),
                "{point}: left {ns:?} {links:?} {ports} ports {dirs:?}");
            assert!(json(&["-j", "ps", "-a"]).as_array().unwrap().is_empty(), "{point}: no record left");
            assert_eq!(dns_fragments(), Vec::<String>::new(), "{point}: no DNS names left");
        }
        // Killed after the process started: the process still uses its network, so gc keeps
        // it, until the process is gone too.
        let mut child = Command::new(W.0)
            .args(["run", "--name", "orphan", "--net", "front", "-p", "8080:80", "--", "sleep", "30"])
            .env("WARREN_FAILPOINT", "after-running")
            .spawn()
            .unwrap();
        let _ = child.wait();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while record("orphan")["pid"].is_null() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        W.ok(&["gc"]);
        assert_eq!(record("orphan")["state"], "running", "its process lives on");
        let pid = record("orphan")["pid"].as_i64().unwrap() as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        W.ok(&["gc"]);
        let (ns, links, ports, dirs) = leftovers();
        assert!(ns.is_empty() && links.is_empty() && ports == 0 && dirs.is_empty(), "left {ns:?} {links:?} {ports} {dirs:?}");
        assert_eq!(record("orphan")["state"], "exited");
        // Addresses came back: the whole /29 (five hosts) is usable again.
        for i in 0..5 {
            W.ok(&["pod", "create", &format!("p{i}"), "--net", "front"]);
        }
    }
}

fn ruleset_except_warren() -> String {
    let out = warren_testkit::run("nft", &["list", "ruleset"]);
    // Cut warren's own table out; everything else must stay byte-identical.
    let mut keep = String::new();
    let mut skipping = false;
    for line in out.lines() {
        if line.starts_with("table inet warren") {
            skipping = true;
        } else if skipping && line == "}" {
            skipping = false;
            continue;
        }
        if !skipping {
            keep.push_str(line);
            keep.push('\n');
        }
    }
    keep
}

sandbox_test! {
    fn the_hosts_own_rules_are_untouched_and_reconcile_restores_warrens() {
        let w = world();
        let setup = "table ip filter {\n chain FORWARD { type filter hook forward priority filter; policy accept; ip saddr 192.0.2.7 counter drop; }\n chain INPUT { type filter hook input priority filter; policy accept; tcp dport 22 counter accept; }\n}\ntable inet host {\n set allowed { type ipv4_addr; elements = { 198.51.100.1 }; }\n chain c { type filter hook output priority 10; policy accept; ip daddr @allowed counter accept; }\n}\n";
        let f = std::env::temp_dir().join(format!("rules-{}.nft", std::process::id()));
        std::fs::write(&f, setup).unwrap();
        warren_testkit::run("nft", &["-f", f.to_str().unwrap()]);
        if Command::new("iptables-nft").arg("--version").output().is_ok() {
            warren_testkit::run("iptables-nft", &["-A", "FORWARD", "-s", "192.0.2.9", "-j", "ACCEPT"]);
        }
        let before = ruleset_except_warren();
        W.ok(&["network", "create", "front", "--subnet", "fd71::/64", "--subnet", "10.71.0.0/24"]);
        W.ok(&["pod", "create", "web", "--net", "front", "-p", "8080:80"]);
        let web = netns_of("web");
        // Someone flushes everything: warren's rules are gone, reconcile brings them back.
        warren_testkit::run("nft", &["flush", "ruleset"]);
        assert!(tcp_exchange_via(&w.outside, &web, 80, sa("203.0.113.1:8080")).is_err());
        W.ok(&["reconcile"]);
        assert_eq!(tcp_exchange_via(&w.outside, &web, 80, sa("203.0.113.1:8080")).unwrap().ip(), ip("203.0.113.2"));
        warren_testkit::run("nft", &["-f", f.to_str().unwrap()]);
        if Command::new("iptables-nft").arg("--version").output().is_ok() {
            warren_testkit::run("iptables-nft", &["-A", "FORWARD", "-s", "192.0.2.9", "-j", "ACCEPT"]);
        }
        let before = { let _ = before; ruleset_except_warren() };
        W.ok(&["run", "--rm", "--net", "front", "-p", "8081:81", "--", "true"]);
        W.ok(&["pod", "publish", "web", "-p", "8082:82"]);
        W.ok(&["pod", "rm", "web"]);
        W.ok(&["network", "rm", "front"]);
        W.ok(&["gc"]);
        assert_eq!(ruleset_except_warren(), before, "other tables byte-identical after a full cycle");
        let _ = std::fs::remove_file(f);
    }
}

sandbox_test! {
    fn bad_input_gets_a_clear_error_and_leaves_nothing() {
        let _w = world();
        W.ok(&["network", "create", "front", "--subnet", "10.60.0.0/24"]);
        W.ok(&["pod", "create", "web", "--net", "front", "-p", "8080:80"]);
        let snapshot = || {
            (
                W.ok(&["-j", "network", "ls"]),
                W.ok(&["-j", "ps", "-a"]),
                W.ok(&["-j", "pod", "ls"]),
                leftovers(),
                host_links("wbr"),
            )
        };
        let before = snapshot();
        for (args, want) in [
            (vec!["run", "-p", "80:99999", "--net", "front", "--", "true"], "out of range"),
            (vec!["run", "-p", "8000-8010:90-91", "--net", "front", "--", "true"], "differ in length"),
            (vec!["run", "-p", "80/icmp", "--", "true"], "unknown protocol"),
            (vec!["network", "create", "other", "--subnet", "10.60.0.128/25"], "overlaps 10.60.0.0/24 of network \"front\""),
            (vec!["network", "create", "front"], "network \"front\" already exists"),
            (vec!["network", "create", "bad/name"], "network name"),
            (vec!["network", "create", "x", "--subnet", "10.61.0.1/24"], "host bits"),
            (vec!["run", "--net", "nowhere", "--", "true"], "no such network: \"nowhere\""),
            (vec!["pod", "create", "web", "--net", "front"], "\"web\" already exists"),
            (vec!["run", "--net", "front", "-p", "8080:80", "--", "true"], "port *:8080/tcp is already published by \"web\""),
            (vec!["run", "--net", "front", "-p", "127.0.0.1:8080:80", "--", "true"], "already published"),
            (vec!["run", "--net", "front", "--ip", "10.60.0.1", "--", "true"], "reserved"),
            (vec!["run", "--net", "front", "--ip", "10.99.0.1", "--", "true"], "no subnet"),
            (vec!["run", "--net", "host", "-p", "1:1", "--", "true"], "only be published"),
            (vec!["run", "--net", "host", "--net", "front", "--", "true"], "cannot be combined"),
            (vec!["run", "--net", "container:ghost", "--", "true"], "no such container"),
            (vec!["run", "--net", "front", "--", "/nonexistent/cmd"], "cannot run"),
        ] {
            let out = W.output(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} should fail");
            assert!(err.contains(want), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
            assert_eq!(snapshot(), before, "{args:?} left something");
        }
    }
}

sandbox_test! {
    fn detached_lifecycle_logs_stop_rm_and_foreground_status() {
        let _w = world();
        assert_eq!(warren_testkit::run("sysctl", &["-n", "net.ipv4.ip_forward"]).trim(), "0");
        // Foreground: the exit status comes through, and the network is gone afterwards.
        let out = W.output(&["run", "--rm", "--net", "bridge", "--", "sh", "-c", "exit 7"]);
        assert_eq!(out.status.code(), Some(7));
        let out = W.output(&["run", "--rm", "--", "sh", "-c", "kill -TERM $$"]);
        assert_eq!(out.status.code(), Some(143), "death by signal as a shell reports it");
        assert!(warren_netns().is_empty() && host_links("wv").is_empty());
        assert_eq!(warren_testkit::run("sysctl", &["-n", "net.ipv4.ip_forward"]).trim(), "1", "on while a network needs it");
        // Detached: the id is printed, output goes to the log, stop ends it, rm forgets it.
        let id = W.ok(&["run", "-d", "--name", "d", "--", "sh", "-c", "echo hello; echo oops >&2; exec sleep 30"]);
        assert_eq!(id.trim().len(), 12, "{id}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !W.ok(&["logs", "d"]).contains("oops") && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(W.ok(&["logs", "d"]), "hello\noops\n");
        assert!(W.ok(&["ps"]).contains(" d "), "listed while running");
        let err = W.fails_with(&["rm", "d"], 1);
        assert!(err.contains("is running"), "{err}");
        W.ok(&["stop", "-t", "5", "d"]);
        assert_eq!(record("d")["state"], "exited");
        assert_eq!(record("d")["exit_code"], 143);
        assert!(!W.ok(&["ps"]).contains(" d "), "ps shows running ones");
        assert!(W.ok(&["ps", "-a"]).contains("exited(143)"));
        assert!(warren_netns().is_empty() && host_links("wv").is_empty(), "network torn down on exit");
        W.ok(&["rm", "d"]);
        assert!(json(&["-j", "ps", "-a"]).as_array().unwrap().is_empty());
        // A detached container whose process exits by itself is torn down by its supervisor.
        W.ok(&["run", "-d", "--name", "short", "--", "true"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while record("short")["state"] != "exited" && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(record("short")["exit_code"], 0);
        assert!(warren_netns().is_empty());
        // Removing the last network puts forwarding back as it was.
        W.ok(&["rm", "short"]);
        W.ok(&["network", "rm", "bridge"]);
        assert_eq!(warren_testkit::run("sysctl", &["-n", "net.ipv4.ip_forward"]).trim(), "0", "restored");
        assert!(host_links("warren0").is_empty());
    }
}

sandbox_test! {
    fn udp_conntrack_is_flushed_when_a_port_moves() {
        let w = world();
        W.ok(&["network", "create", "front"]);
        W.ok(&["pod", "create", "a", "--net", "front", "-p", "9000:9000/udp"]);
        let a = netns_of("a");
        let client = w
            .outside
            .run(|| Ok(std::net::UdpSocket::bind("203.0.113.2:40000")))
            .unwrap()
            .unwrap();
        client.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let serve = |ns: &NetNs| {
            let s = ns.run(|| Ok(std::net::UdpSocket::bind("0.0.0.0:9000"))).unwrap().unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
            s
        };
        let sa_ = serve(&a);
        client.send_to(b"one", "203.0.113.1:9000").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(sa_.recv_from(&mut buf).unwrap().0, 3);
        // The port moves to another pod; the same client flow must follow it at once.
        W.ok(&["pod", "rm", "a"]);
        W.ok(&["pod", "create", "b", "--net", "front", "-p", "9000:9000/udp"]);
        let sb = serve(&netns_of("b"));
        client.send_to(b"two", "203.0.113.1:9000").unwrap();
        let (n, peer) = sb.recv_from(&mut buf).expect("the new pod gets the flow (stale conntrack entry flushed)");
        assert_eq!(&buf[..n], b"two");
        assert_eq!(peer.ip(), ip("203.0.113.2"));
    }
}

sandbox_test! {
    fn subnets_are_picked_around_the_hosts_routes_and_macvlan_joins_the_parents_lan() {
        let w = world();
        // The host already routes 10.88.0.0/24: the pool skips it.
        let up0 = w.host.link_index("up0").unwrap();
        w.host
            .route_add(&RouteSpec::to("10.88.0.0/24".parse().unwrap()).dev(up0))
            .unwrap();
        W.ok(&["network", "create", "auto", "--ipv6"]);
        let n = &json(&["network", "inspect", "auto"])[0];
        assert_eq!(n["subnets"][0]["net"], "10.88.1.0/24", "{n}");
        assert_eq!(n["subnets"][0]["gateway"], "10.88.1.1");
        assert!(n["subnets"][1]["net"].as_str().unwrap().ends_with("::/64"), "{n}");
        W.ok(&["network", "create", "auto2"]);
        assert_eq!(json(&["network", "inspect", "auto2"])[0]["subnets"][0]["net"], "10.88.2.0/24");
        // macvlan on up0: the container is on the outside LAN itself, no NAT.
        W.ok(&[
            "network", "create", "lan", "--driver", "macvlan", "--parent", "up0", "--mode", "bridge",
            "--subnet", "203.0.113.0/24", "--gateway", "203.0.113.2", "--ip-range", "203.0.113.128/25",
        ]);
        W.ok(&["pod", "create", "m", "--net", "lan"]);
        let m_addr = addrs_of("m")[0];
        assert_eq!(m_addr, ip("203.0.113.128"), "from the range");
        let m = netns_of("m");
        let peer = tcp_exchange_via(&m, &w.outside, 7100, sa("203.0.113.2:7100")).unwrap();
        assert_eq!(peer.ip(), m_addr, "straight onto the LAN, no masquerade");
        let link = warren_testkit::oracle::link_in(record("m")["netns"].as_str().unwrap(), "eth0").unwrap();
        assert_eq!(link["linkinfo"]["info_kind"], "macvlan", "{link}");
        // Bad macvlan input.
        let err = W.fails_with(&["network", "create", "x", "--driver", "macvlan", "--parent", "nope0", "--subnet", "10.9.0.0/24"], 1);
        assert!(err.contains("nope0"), "{err}");
        let err = W.fails_with(&["network", "create", "x", "--driver", "macvlan", "--parent", "up0"], 1);
        assert!(err.contains("needs --subnet"), "{err}");
        W.ok(&["pod", "rm", "m"]);
        W.ok(&["network", "rm", "lan"]);
    }
}

/// A one-shot DNS responder in `ns` on `addr`: answers every A query with `answer`.
fn fake_upstream(ns: &NetNs, addr: &str, answer: [u8; 4]) -> std::thread::JoinHandle<usize> {
    let sock = ns
        .run(|| Ok(std::net::UdpSocket::bind(addr)))
        .unwrap()
        .unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    std::thread::spawn(move || {
        let mut served = 0;
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            // Header: same id, QR + RD + RA, one question, one answer.
            let mut r = buf[..n].to_vec();
            r[2] = 0x81;
            r[3] = 0x80;
            r[6] = 0;
            r[7] = 1;
            r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(&answer);
            let qtype = &buf[n - 4..n - 2];
            if qtype != [0, 1] {
                r[7] = 0;
                r.truncate(n);
            }
            let _ = sock.send_to(&r, peer);
            served += 1;
        }
        served
    })
}

sandbox_test! {
    fn names_outside_warren_are_forwarded_to_the_hosts_resolvers() {
        let w = world();
        let upstream = fake_upstream(&w.outside, "203.0.113.2:53", [192, 0, 2, 99]);
        let conf = std::env::temp_dir().join(format!("resolv-{}.conf", std::process::id()));
        std::fs::write(&conf, "nameserver 203.0.113.2\nsearch corp.example\n").unwrap();
        W.ok(&["network", "create", "front"]);
        let out = Command::new(W.0)
            .args([
                "run", "--rm", "--net", "front", "--add-host", "db:10.1.2.3", "--dns-search", "lab.example", "--",
                "sh", "-c", "getent ahostsv4 www.far.example | head -1; cat /etc/resolv.conf; getent hosts db",
            ])
            .env("WARREN_RESOLV_CONF", &conf)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
        assert!(text.starts_with("192.0.2.99 "), "forwarded to the host's upstream: {text}");
        assert!(text.contains("nameserver 10.88.0.1\n"), "the embedded server is the container's resolver: {text}");
        assert!(text.contains("search lab.example\n"), "{text}");
        assert!(text.contains("10.1.2.3        db"), "{text}");
        drop(upstream);
        let _ = std::fs::remove_file(conf);
    }
}

sandbox_test! {
    fn addresses_of_vanished_namespaces_are_reclaimed_and_failed_setups_leave_nothing() {
        let w = world();
        W.ok(&["network", "create", "tiny", "--subnet", "10.91.0.0/29"]);
        for i in 0..5 {
            W.ok(&["pod", "create", &format!("p{i}"), "--net", "tiny"]);
        }
        let err = W.fails_with(&["pod", "create", "p5", "--net", "tiny"], 1);
        assert!(err.contains("no free address left in 10.91.0.0/29"), "{err}");
        // As after a reboot: one pod's namespace is gone. Its address comes back on demand.
        let gone = record("p2")["netns"].as_str().unwrap().to_owned();
        nix::mount::umount2(gone.as_str(), nix::mount::MntFlags::MNT_DETACH).unwrap();
        std::fs::remove_file(&gone).unwrap();
        W.ok(&["pod", "create", "p5", "--net", "tiny"]);
        assert!(W.output(&["pod", "inspect", "p2"]).status.code() == Some(1), "p2 was reclaimed");
        // A setup that fails half way (the macvlan parent vanished after the network was made)
        // undoes everything, the failing step included.
        w.host.link_add(&Veth::new("par0", "par0p")).unwrap();
        W.ok(&["network", "create", "mv", "--driver", "macvlan", "--parent", "par0", "--subnet", "10.92.0.0/24"]);
        w.host.link_del("par0").unwrap();
        let before = leftovers();
        let err = W.fails_with(&["run", "--name", "half", "--net", "mv", "--", "true"], 1);
        assert!(err.contains("par0"), "{err}");
        assert_eq!(leftovers(), before, "nothing left of the failed setup");
        assert!(W.output(&["logs", "half"]).status.code() == Some(1), "no record of it");
    }
}

sandbox_test! {
    fn signals_reach_the_container_and_pod_names_resolve() {
        let _w = world();
        W.ok(&["network", "create", "front"]);
        // SIGTERM to warren run is forwarded; the command's own exit status comes back.
        let mut child = Command::new(W.0)
            .args(["run", "--rm", "--net", "front", "--", "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.05; done"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(42));
        assert!(warren_netns().is_empty(), "torn down after the forwarded signal");
        // A pod's name and its members' names resolve to the pod's address.
        W.ok(&["pod", "create", "pod1", "--net", "front", "--alias", "svc"]);
        W.ok(&["run", "-d", "--pod", "pod1", "--name", "member", "--", "sleep", "30"]);
        let addr = addrs_of("pod1")[0].to_string();
        let out = W.ok(&["run", "--rm", "--net", "front", "--", "sh", "-c", "getent ahostsv4 pod1 | head -1; getent ahostsv4 member | head -1; getent ahostsv4 svc | head -1"]);
        assert_eq!(out.lines().filter(|l| l.starts_with(&format!("{addr} "))).count(), 3, "{out}");
        W.ok(&["pod", "rm", "-f", "pod1"]);
    }
}

sandbox_test! {
    fn a_pod_adopts_an_existing_namespace_and_leaves_it_in_place() {
        let w = world();
        W.ok(&["network", "create", "front", "--subnet", "10.91.0.0/24"]);
        let theirs = netns::add_named("theirs", Source::New).unwrap();
        W.ok(&["pod", "create", "p", "--net", "front", "-p", "8080:80", "--adopt-netns", "/run/netns/theirs"]);
        assert_eq!(record("p")["netns"], "/run/netns/theirs");
        assert!(warren_netns().is_empty(), "no namespace of warren's made");
        // Wired as a pod of warren's own would be: lo up, eth0 with the stored address, the
        // default route via the gateway; reached through its published port.
        let links = warren_testkit::oracle::ip_json_in("/run/netns/theirs", &["link", "show"]);
        for dev in ["lo", "eth0"] {
            let l = links.as_array().unwrap().iter().find(|l| l["ifname"] == dev).unwrap();
            assert!(l["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{dev} up: {l}");
        }
        let want = addrs_of("p")[0].to_string();
        let got = warren_testkit::oracle::ip_json_in("/run/netns/theirs", &["addr", "show", "dev", "eth0"]);
        assert!(got.to_string().contains(&want), "{got}");
        let routes = warren_testkit::oracle::ip_json_in("/run/netns/theirs", &["route", "show", "default"]);
        assert_eq!(routes[0]["gateway"], "10.91.0.1", "{routes}");
        let peer = tcp_exchange_via(&w.outside, &theirs, 80, sa("203.0.113.1:8080")).unwrap();
        assert_eq!(peer.ip(), ip("203.0.113.2"), "the client's real address");
        let out = W.ok(&["run", "--rm", "--pod", "p", "--", "readlink", "/proc/self/ns/net"]);
        assert_eq!(out.trim(), format!("net:[{}]", theirs.id().ino), "a member joins the adopted namespace");

        // Refused, each naming the reason, and leaving nothing: the same namespace again, the
        // host's own, a file that is no namespace, a missing one, one whose eth0 is taken.
        let busy = netns::add_named("busy", Source::New).unwrap();
        Handle::new(busy.try_clone().unwrap())
            .unwrap()
            .link_add(&Veth::new("eth0", "other0"))
            .unwrap();
        let veths = host_links("wv");
        for (args, why) in [
            (vec!["pod", "create", "q", "--net", "front", "--adopt-netns", "/run/netns/theirs"], "already the namespace of p"),
            (vec!["pod", "create", "q", "--net", "front", "--adopt-netns", "/proc/self/ns/net"], "the host's"),
            (vec!["pod", "create", "q", "--net", "front", "--adopt-netns", "/etc/hostname"], "not a network namespace"),
            (vec!["pod", "create", "q", "--net", "front", "--adopt-netns", "/run/netns/nope"], "/run/netns/nope"),
            (vec!["pod", "create", "q", "--net", "front", "--adopt-netns", "/run/netns/busy"], "already has a link named eth0"),
        ] {
            let err = W.fails_with(&args, 1);
            assert!(err.contains(why), "{args:?}: {err}");
            assert!(json(&["-j", "pod", "ls"]).as_array().unwrap().len() == 1, "{args:?}: no pod q");
            assert_eq!(host_links("wv"), veths, "{args:?}: no veth left");
        }

        // pod rm takes warren's links and ports out and leaves the namespace to its owner.
        // The veth goes with a detached deleter the command leaves behind, moments later.
        W.ok(&["pod", "rm", "p"]);
        assert!(Path::new("/run/netns/theirs").exists());
        let inside = || -> Vec<String> {
            let links = warren_testkit::oracle::ip_json_in("/run/netns/theirs", &["link", "show"]);
            links.as_array().unwrap().iter().filter_map(|l| l["ifname"].as_str().map(str::to_owned)).collect()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while inside() != ["lo"] && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(inside(), ["lo"], "only lo is left in the namespace");
        let (ns, links, ports, dirs) = leftovers();
        assert!(ns.is_empty() && links.is_empty() && ports == 0 && dirs.is_empty(), "left {ns:?} {links:?} {ports} {dirs:?}");

        // Killed before its deleter started: the retired veth stays, until adopting the
        // namespace again takes it out, or gc does.
        let killed_rm = |name: &str| {
            use std::os::unix::process::ExitStatusExt;
            let st = Command::new(W.0).args(["pod", "rm", name]).env("WARREN_FAILPOINT", "pod-removed").status().unwrap();
            assert_eq!(st.signal(), Some(9), "killed at pod-removed");
            assert_eq!(inside(), ["lo", "eth0"], "the retired pair is still there");
        };
        W.ok(&["pod", "create", "q", "--net", "front", "--adopt-netns", "/run/netns/theirs"]);
        killed_rm("q");
        W.ok(&["pod", "create", "q", "--net", "front", "--adopt-netns", "/run/netns/theirs"]);
        killed_rm("q");
        let gc = W.ok(&["gc"]);
        assert!(gc.contains("removed link wv"), "{gc}");
        assert_eq!(inside(), ["lo"]);
        let (ns, links, ports, dirs) = leftovers();
        assert!(ns.is_empty() && links.is_empty() && ports == 0 && dirs.is_empty(), "left {ns:?} {links:?} {ports} {dirs:?}");

        // Adopted again; then its owner deletes it: gc forgets the pod and frees its port.
        W.ok(&["pod", "create", "p2", "--net", "front", "-p", "8080:80", "--adopt-netns", "/run/netns/theirs"]);
        drop(theirs);
        W.ok(&["gc"]);
        assert_eq!(record("p2")["state"], "running", "gc keeps a pod whose namespace lives");
        netns::delete_named("theirs").unwrap();
        let dry = W.ok(&["gc", "--dry-run"]);
        assert!(dry.contains("p2"), "{dry}");
        W.ok(&["gc"]);
        assert!(json(&["-j", "pod", "ls"]).as_array().unwrap().is_empty());
        let (ns, links, ports, dirs) = leftovers();
        assert!(ns.is_empty() && links.is_empty() && ports == 0 && dirs.is_empty(), "left {ns:?} {links:?} {ports} {dirs:?}");
        W.ok(&["pod", "create", "p3", "--net", "front", "-p", "8080:80"]);
    }
}

/// The IPv6 addresses (`ip -j -6 addr`) of `dev` in the namespace at `ns` (`None`: the host).
fn ipv6_addrs(ns: Option<&str>, dev: &str) -> Vec<String> {
    let args = ["-6", "addr", "show", "dev", dev];
    let v = match ns {
        Some(ns) => warren_testkit::oracle::ip_json_in(ns, &args),
        None => warren_testkit::oracle::ip_json(&args),
    };
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().map(str::to_owned))
        .collect()
}

sandbox_test! {
    fn a_container_has_ipv6_addresses_only_on_a_network_with_ipv6_and_a_bridge_port_never() {
        let w = world();
        W.ok(&["network", "create", "four", "--subnet", "10.72.0.0/24"]);
        W.ok(&["network", "create", "both", "--subnet", "10.73.0.0/24", "--subnet", "fd73::/64"]);
        W.ok(&["network", "create", "lan", "--driver", "macvlan", "--parent", "up0", "--subnet", "203.0.113.0/24"]);
        for (pod, net) in [("a", "four"), ("a2", "four"), ("b", "both"), ("m", "lan")] {
            W.ok(&["pod", "create", pod, "--net", net]);
        }
        let ns = |pod: &str| record(pod)["netns"].as_str().unwrap().to_owned();
        // IPv4-only networks: no IPv6 address at all on eth0, so no link-local chatter.
        for pod in ["a", "a2", "m"] {
            assert_eq!(ipv6_addrs(Some(&ns(pod)), "eth0"), Vec::<String>::new(), "{pod}");
            let link = warren_testkit::oracle::link_in(&ns(pod), "eth0").unwrap();
            assert_eq!(link["inet6_addr_gen_mode"], "none", "{pod}: {link}");
        }
        // Dual stack: its IPv6 address and its link-local.
        let b6 = ipv6_addrs(Some(&ns("b")), "eth0");
        assert!(b6.iter().any(|a| a.starts_with("fd73::")), "{b6:?}");
        assert!(b6.iter().any(|a| a.starts_with("fe80::")), "{b6:?}");
        // Host sides are bridge ports: never an address, up, hairpin on.
        for pod in ["a", "b"] {
            let host_if = record(pod)["endpoints"][0]["host_ifname"].as_str().unwrap().to_owned();
            assert_eq!(ipv6_addrs(None, &host_if), Vec::<String>::new(), "{host_if}");
            let link = &warren_testkit::oracle::ip_json(&["-d", "link", "show", &host_if])[0];
            assert_eq!(link["inet6_addr_gen_mode"], "none", "{link}");
            assert!(link["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{link}");
            assert_eq!(link["linkinfo"]["info_slave_data"]["hairpin"], true, "{link}");
        }
        // IPv4 works as before: a2 reaches a over the bridge, b over IPv6 reaches the host.
        let a_addr = addrs_of("a")[0];
        let peer = tcp_exchange_via(&netns_of("a2"), &netns_of("a"), 7200, SocketAddr::new(a_addr, 7200)).unwrap();
        assert_eq!(peer.ip(), addrs_of("a2")[0]);
        let peer = tcp_exchange_via(&netns_of("b"), &w.outside, 7201, sa("[2001:db8::2]:7201")).unwrap();
        assert!(peer.ip().is_ipv6(), "{peer}");
    }
}
