//! `warren inspect` against the real kernel, in the sandbox: a namespace with a veth to
//! another one, addresses, routes in two tables, a policy rule, a bridge with FDB entries,
//! neighbours, sockets owned by this process, a conntrack entry, an nftables ruleset and
//! sysctls — each section read back and checked against what was made (and the nftables
//! text against `nft list ruleset`).

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use warren_inspect::{Section, SectionName, Target, resolve, snapshot};
use warren_kernel::{NetNs, sysctl};
use warren_testkit::{run, sandbox_test};

fn ip(args: &str) {
    run("ip", &args.split(' ').collect::<Vec<_>>());
}

fn have_nft() -> bool {
    if Command::new("nft").arg("--version").output().is_ok() {
        return true;
    }
    warren_testkit::skip("nft is not installed: no ruleset to make or compare");
    false
}

fn norm(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

fn ok<T: std::fmt::Debug>(s: &Section<T>) -> &T {
    match s {
        Section::Ok(t) => t,
        other => panic!("section not read: {other:?}"),
    }
}

sandbox_test! {
    fn a_namespace_is_inspected_section_by_section() {
        if !have_nft() {
            return;
        }
        ip("netns add red");
        ip("netns add blue");
        ip("-n red link set lo up");
        ip("-n red link add vr type veth peer name vb netns blue");
        ip("-n red addr add 10.7.0.1/24 dev vr");
        ip("-n red link set vr up");
        ip("-n blue link set vb up");
        ip("-n red route add 10.61.0.0/16 via 10.7.0.2");
        ip("-n red route add 10.60.0.0/16 via 10.7.0.2 table 100");
        ip("-n red rule add pref 500 from 10.7.0.0/24 lookup 100");
        ip("-n red link add br0 type bridge");
        ip("-n red link add p0 type veth peer name p1");
        ip("-n red link set p0 master br0");
        run("bridge", &["-n", "red", "fdb", "add", "02:00:00:00:00:aa", "dev", "p0", "master", "static"]);
        ip("-n red neigh add 10.7.0.9 lladdr 02:00:00:00:00:09 dev vr");
        let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../warren-kernel/tests/fixtures/typical.nft");
        run("ip", &["netns", "exec", "red", "nft", "-f", rules]);
        let red = NetNs::open_named("red").unwrap();
        sysctl::set(&red, "net.ipv4.ip_forward", "1").unwrap();
        sysctl::set(&red, "net.ipv4.conf.vr.rp_filter", "1").unwrap();
        // Sockets made by this process inside red: a listener, a connection, a UDP exchange
        // (which conntrack records, the ruleset using conntrack).
        let (listener, client, _server, udp) = red
            .run(|| {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
                let s = l.accept().unwrap().0;
                let srv = UdpSocket::bind("127.0.0.1:7777").unwrap();
                let cli = UdpSocket::bind("127.0.0.1:0").unwrap();
                cli.send_to(b"x", "127.0.0.1:7777").unwrap();
                srv.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                let mut b = [0u8; 4];
                let (_, from) = srv.recv_from(&mut b).unwrap();
                srv.send_to(b"y", from).unwrap();
                Ok((l, c, s, cli))
            })
            .unwrap();

        let r = resolve(&Target::parse(Some("red")).unwrap()).unwrap();
        let i = snapshot(&r, SectionName::ALL);

        let links = ok(&i.links);
        let vr = links.iter().find(|l| l.name == "vr").unwrap();
        let peer = vr.peer.as_ref().unwrap();
        assert_eq!(peer.name.as_deref(), Some("vb"), "{vr:?}");
        assert_eq!(peer.netns.as_deref(), Some("blue"), "{vr:?}");
        let p0 = links.iter().find(|l| l.name == "p0").unwrap();
        assert_eq!(p0.master.as_deref(), Some("br0"));
        assert_eq!(p0.peer.as_ref().and_then(|p| p.name.as_deref()), Some("p1"));

        assert!(ok(&i.addrs).iter().any(|a| a.dev == "vr" && a.local == "10.7.0.1/24"));
        let routes = ok(&i.routes);
        assert!(routes.iter().any(|r| r.table == "100" && r.dst == "10.60.0.0/16"
            && r.gateway == Some("10.7.0.2".parse().unwrap()) && r.dev.as_deref() == Some("vr")));
        assert!(routes.iter().any(|r| r.table == "main" && r.dst == "10.61.0.0/16"));
        assert!(routes.iter().any(|r| r.table == "local"));
        assert!(ok(&i.rules).iter().any(|r| r.priority == 500 && r.table == 100));
        assert!(ok(&i.neigh).iter().any(|n| n.dst.to_string() == "10.7.0.9"
            && n.lladdr.as_deref() == Some("02:00:00:00:00:09") && n.state == "PERMANENT"));
        let fdb = ok(&i.fdb);
        assert!(fdb.iter().any(|f| f.mac == "02:00:00:00:00:aa" && f.dev == "p0"
            && f.master.as_deref() == Some("br0") && f.state == "static"), "{fdb:?}");

        let me = std::process::id() as i32;
        let socks = ok(&i.sockets);
        let mine = |state: &str, local: std::net::SocketAddr| {
            socks.iter().any(|s| s.state == state && s.local == local
                && s.processes.iter().any(|p| p.pid == me))
        };
        assert!(mine("LISTEN", listener.local_addr().unwrap()), "{socks:?}");
        assert!(mine("ESTAB", client.local_addr().unwrap()), "{socks:?}");
        assert!(mine("UNCONN", udp.local_addr().unwrap()) || mine("ESTAB", udp.local_addr().unwrap()));

        let ct = ok(&i.conntrack);
        assert!(ct.iter().any(|c| c.entry.orig.dport == 7777 && c.entry.orig.proto == 17), "{ct:?}");

        let nft = ok(&i.nft);
        let oracle = run("ip", &["netns", "exec", "red", "nft", "list", "ruleset"]);
        assert_eq!(norm(&nft.text), norm(&oracle));
        assert_eq!(nft.tables.len(), 1);
        assert_eq!((nft.tables[0].family.as_str(), nft.tables[0].name.as_str()), ("inet", "filter"));

        let sysctls = ok(&i.sysctls);
        let get = |k: &str| sysctls.iter().find(|s| s.key == k).map(|s| s.value.as_str());
        assert_eq!(get("net.ipv4.ip_forward"), Some("1"));
        assert_eq!(get("net.ipv4.conf.vr.rp_filter"), Some("1"));

        // JSON: stable keys, the peer's namespace spelled out.
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["target"]["kind"], "namespace");
        assert_eq!(v["target"]["netns"], "red");
        let jl = v["links"].as_array().unwrap();
        let jvr = jl.iter().find(|l| l["name"] == "vr").unwrap();
        assert_eq!(jvr["peer"]["netns"], "blue");
        assert_eq!(jvr["peer"]["name"], "vb");
        assert!(v["sockets"][0]["processes"].is_array());

        // Only the sections asked for.
        let some = snapshot(&r, &[SectionName::Links]);
        assert!(some.routes.is_skipped() && some.nft.is_skipped());
        let v = serde_json::to_value(&some).unwrap();
        assert!(v.get("routes").is_none() && v.get("links").is_some());
    }
}

sandbox_test! {
    fn unknown_targets_are_named_in_the_error() {
        let e = resolve(&Target::parse(Some("nosuch")).unwrap()).unwrap_err();
        assert!(e.to_string().contains("\"nosuch\""), "{e}");
        let e = resolve(&Target::parse(Some("lab/r9")).unwrap()).unwrap_err();
        assert!(e.to_string().contains("lab-r9"), "{e}");
        ip("netns add lab-r1");
        let r = resolve(&Target::parse(Some("lab/r1")).unwrap()).unwrap();
        assert_eq!(r.netns.as_deref(), Some("lab-r1"));
        let r = resolve(&Target::parse(Some(&format!("pid:{}", std::process::id()))).unwrap()).unwrap();
        assert_eq!(r.ns.id(), NetNs::current().unwrap().id());
    }
}
