//! The engine as a runtime embeds it (`examples/embed.rs`): one `Engine` kept open while pods
//! come and go, in the sandbox (its own namespace plays the host).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use warren_engine::Engine;
use warren_engine::container::RunSpec;
use warren_engine::network::NetworkCreate;
use warren_engine::spec::NetArg;
use warren_kernel::{Handle, NetNs};
use warren_testkit::net::tcp_exchange_via;
use warren_testkit::sandbox_test;

fn pod_spec(name: &str, port: u16) -> RunSpec {
    RunSpec {
        name: Some(name.into()),
        nets: vec![NetArg::Network("emb".into())],
        ports: vec![format!("{port}:80/tcp").parse().unwrap()],
        ..RunSpec::default()
    }
}

/// The sandbox's namespace (lo up) and an engine opened on it, with network `emb`
/// (10.77.0.0/24).
fn open_with_network() -> (Handle, Engine) {
    let dns = warren_testkit::bin("warren-dns");
    assert!(
        dns.exists(),
        "{} is needed (cargo test --workspace builds it)",
        dns.display()
    );
    let host = Handle::current().unwrap();
    host.link_set_up("lo").unwrap();
    let mut e = Engine::open().unwrap();
    e.network_create(&NetworkCreate {
        name: "emb".into(),
        subnets: vec!["10.77.0.0/24".parse().unwrap()],
        ..NetworkCreate::default()
    })
    .unwrap();
    (host, e)
}

/// Wire pod `name` with host port `port` to its port 80 and check that a client on the host's
/// loopback reaches it (masqueraded to the gateway, as loopback clients are).
fn wire_and_reach(e: &mut Engine, host: &Handle, name: &str, port: u16) -> String {
    let pod = e
        .pod_create(&pod_spec(name, port))
        .unwrap_or_else(|err| panic!("pod {name}: {err}"));
    let netns = pod.netns.clone().expect("a pod has a namespace");
    let ns = NetNs::open_path(Path::new(&netns)).unwrap();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let peer = tcp_exchange_via(host.ns(), &ns, 80, to)
        .unwrap_or_else(|err| panic!("{name} through {to}: {err}"));
    assert_eq!(peer.ip(), "10.77.0.1".parse::<IpAddr>().unwrap(), "{name}");
    netns
}

sandbox_test! {
    fn one_engine_kept_open_wires_pods_in_turn_and_notices_its_table_gone() {
        let (host, mut e) = open_with_network();

        // Pods come and go through the same engine; each is reached through its port.
        let a = wire_and_reach(&mut e, &host, "a", 18_000);
        let b = wire_and_reach(&mut e, &host, "b", 18_001);
        e.pod_remove("a", false).unwrap();
        assert!(!Path::new(&a).exists(), "a's namespace went with it");
        wire_and_reach(&mut e, &host, "c", 18_002);
        let to_b = SocketAddr::from(([127, 0, 0, 1], 18_001));
        let b_ns = NetNs::open_path(Path::new(&b)).unwrap();
        tcp_exchange_via(host.ns(), &b_ns, 80, to_b).expect("b is still reached");

        // warren's table goes (`nft flush ruleset`, another tool) while the engine stays open:
        // the next pod brings it back with the network's rules and its own port.
        warren_testkit::run("nft", &["delete", "table", "inet", "warren"]);
        wire_and_reach(&mut e, &host, "d", 18_003);

        for p in ["b", "c", "d"] {
            e.pod_remove(p, false).unwrap();
        }
        let left: Vec<String> = e.containers().unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(left, Vec::<String>::new());
        let names = std::fs::read_dir("/run/netns")
            .unwrap()
            .filter_map(|d| d.ok())
            .map(|d| d.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("warren-"))
            .count();
        assert_eq!(names, 0, "no pod namespace left");
    }
}

/// Links of `h` whose alias says warren retired them.
fn retired(h: &Handle) -> Vec<String> {
    h.links()
        .unwrap()
        .into_iter()
        .filter(|l| l.alias.as_deref() == Some(warren_engine::attach::RETIRED_ALIAS))
        .map(|l| l.name)
        .collect()
}

sandbox_test! {
    fn one_engine_kept_open_deletes_the_veths_it_retired_when_asked() {
        let (host, mut e) = open_with_network();
        // The runtime makes the namespace; warren wires it, then takes its links away again.
        let rt = warren_kernel::netns::add_named("rt1", warren_kernel::netns::Source::New).unwrap();
        let pod = e
            .pod_create(&RunSpec {
                netns: Some("/run/netns/rt1".into()),
                ..pod_spec("p", 18_010)
            })
            .unwrap();
        assert_eq!(pod.netns.as_deref(), Some("/run/netns/rt1"));
        let to = SocketAddr::from(([127, 0, 0, 1], 18_010));
        tcp_exchange_via(host.ns(), &rt, 80, to).expect("the adopted namespace is reached");
        e.pod_remove("p", false).unwrap();
        assert_eq!(retired(&host).len(), 1, "pod rm retired the host side of its veth");
        let errors: Vec<String> = e.delete_retired().iter().map(ToString::to_string).collect();
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(retired(&host), Vec::<String>::new(), "deleted");
        let inside = Handle::new(rt.try_clone().unwrap()).unwrap();
        let names: Vec<String> = inside.links().unwrap().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["lo"], "the namespace is the runtime's again, as it was");
        assert!(e.delete_retired().is_empty(), "nothing twice");
    }
}

sandbox_test! {
    fn engines_in_threads_of_one_process_never_share_an_address_or_a_port() {
        let (host, _e) = open_with_network();
        // Four threads of one runtime, each with its own engine, wiring five pods each at once.
        let made: Vec<(String, IpAddr, u16)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4u16)
                .map(|t| {
                    s.spawn(move || {
                        let mut e = Engine::open().unwrap();
                        (0..5u16)
                            .map(|i| {
                                let name = format!("t{t}p{i}");
                                let port = 18_100 + t * 10 + i;
                                let pod = e
                                    .pod_create(&pod_spec(&name, port))
                                    .unwrap_or_else(|err| panic!("{name}: {err}"));
                                let addr = pod.endpoints[0].addrs[0];
                                (pod.netns.unwrap(), addr, port)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(made.len(), 20);
        let mut addrs: Vec<IpAddr> = made.iter().map(|m| m.1).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 20, "every pod has its own address: {addrs:?}");
        for (netns, _, port) in &made {
            let ns = NetNs::open_path(Path::new(netns)).unwrap();
            let to = SocketAddr::from(([127, 0, 0, 1], *port));
            tcp_exchange_via(host.ns(), &ns, 80, to).unwrap_or_else(|err| panic!("{to}: {err}"));
        }
    }
}
