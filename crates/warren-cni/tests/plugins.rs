//! warren's CNI plugins driven like a runtime drives them (through `Runtime` or by running a
//! plugin directly), each test in its own sandbox; every claim is checked against real
//! kernel state (`ip -j`, `nft -j`, sockets inside namespaces) and warren's database.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use serde_json::{Value, json};
use warren_kernel::Handle;
use warren_testkit::net::{tcp_exchange, tcp_exchange_via};
use warren_testkit::sandbox_test;

const GW: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 89, 7, 1));
const UPLINK: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));

/// Podman's bridge + host-local + portmap chain at `version`: result shape, connectivity
/// (container to container, published ports from every kind of client, hairpin), CHECK, and
/// a DEL that leaves nothing behind.
fn bridge_chain(version: &str, dual: bool) {
    let rt = runtime();
    let host = host_ns();
    let fwd_before = host_sysctl("net.ipv4.ip_forward");
    let fwd6_before = host_sysctl("net.ipv6.conf.all.forwarding");
    let ranges = if dual { dual_ranges() } else { v4_ranges() };
    let l = podman_list(version, "podnet", "wtest0", ranges);
    let (ns1, p1) = netns("c1");
    let (ns2, p2) = netns("c2");
    let a1 = att_ports("c1", &p1, &[(8080, 80)]);
    let a2 = att_ports("c2", &p2, &[(8081, 80)]);
    let r1 = rt.add(&l, &a1).unwrap();
    let r2 = rt.add(&l, &a2).unwrap();

    // The result's shape for this version.
    for (r, p) in [(&r1, &p1), (&r2, &p2)] {
        assert_eq!(r["cniVersion"], version, "{r}");
        let ifs = r["interfaces"].as_array().unwrap();
        assert_eq!(ifs.len(), 3, "{r}");
        assert_eq!(ifs[0]["name"], "wtest0");
        assert!(ifs[0].get("sandbox").is_none_or(|s| s == ""), "{r}");
        assert!(ifs[1]["name"].as_str().unwrap().starts_with("wc"), "{r}");
        assert!(ifs[1].get("sandbox").is_none_or(|s| s == ""), "{r}");
        assert_eq!(ifs[2]["name"], "eth0");
        assert_eq!(ifs[2]["sandbox"], p.to_str().unwrap());
        let ips = r["ips"].as_array().unwrap();
        assert_eq!(ips.len(), if dual { 2 } else { 1 }, "{r}");
        for ip in ips {
            assert_eq!(ip["interface"], 2, "{r}");
            if version == "0.4.0" {
                let fam = if ip["address"].as_str().unwrap().contains(':') {
                    "6"
                } else {
                    "4"
                };
                assert_eq!(ip["version"], fam, "{r}");
            } else {
                assert!(
                    ip.get("version").is_none(),
                    "{version} has no ips[].version: {r}"
                );
            }
        }
        // The kernel agrees with the result.
        let have = addrs_in(p, "eth0");
        for ip in ips {
            assert!(
                have.contains(&ip["address"].as_str().unwrap().to_owned()),
                "{have:?} vs {r}"
            );
        }
        let host_if = ifs[1]["name"].as_str().unwrap();
        let l = warren_testkit::oracle::link_in("/proc/self/ns/net", host_if).unwrap();
        assert_eq!(l["master"], "wtest0", "{l}");
    }
    let ip1 = result_ip(&r1, true);
    let ip2 = result_ip(&r2, true);
    assert_ne!(ip1, ip2);
    assert_eq!(host_sysctl("net.ipv4.ip_forward"), "1");

    // Container to container by address; the server sees the client's own address.
    assert_eq!(tcp_exchange(&ns2, &ns1, sa(ip1, 80)).unwrap().ip(), ip2);
    // The published port from the host's 127.0.0.1.
    tcp_exchange_via(&host, &ns1, 80, sa(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080)).unwrap();
    // From the host's bridge address: the server sees that address.
    assert_eq!(
        tcp_exchange_via(&host, &ns1, 80, sa(GW, 8080))
            .unwrap()
            .ip(),
        GW
    );
    // From another container of the bridge through the host's address: like hairpin, the
    // reply would bypass the translation on the bridge, so the client is translated.
    assert_eq!(
        tcp_exchange_via(&ns2, &ns1, 80, sa(GW, 8080)).unwrap().ip(),
        GW
    );
    // From outside (routed through the host): the server sees the real client address.
    let outside = outside();
    assert_eq!(
        tcp_exchange_via(&outside, &ns1, 80, sa(UPLINK, 8080))
            .unwrap()
            .ip(),
        OUTSIDE
    );
    // Hairpin: the container reaches its own published port via the gateway.
    tcp_exchange_via(&ns1, &ns1, 80, sa(GW, 8080)).unwrap();
    if dual {
        tcp_exchange_via(&host, &ns2, 80, sa(IpAddr::V6(Ipv6Addr::LOCALHOST), 8081)).unwrap();
        let v6_1 = result_ip(&r1, false);
        let v6_2 = result_ip(&r2, false);
        assert_eq!(tcp_exchange(&ns2, &ns1, sa(v6_1, 80)).unwrap().ip(), v6_2);
    }

    // CHECK passes (IPv4-only too, unlike the reference portmap).
    if version != "0.3.1" {
        rt.check(&l, &a1).unwrap();
        rt.check(&l, &a2).unwrap();
    }

    // DEL of the first: its veth, leases, record and port elements go; the network's stay.
    let host_if1 = r1["interfaces"][1]["name"].as_str().unwrap().to_owned();
    let per = if dual { 2 } else { 1 };
    assert_eq!(leases("podnet"), 2 * per);
    assert!(
        !nft_elements_with(&ip1.to_string()).is_empty(),
        "{:?}",
        nft_elements()
    );
    rt.del(&l, &a1).unwrap();
    common::assert_out_of_service(&host_if1);
    assert!(!host_links().contains(&host_if1));
    assert_eq!(leases("podnet"), per);
    assert!(lease_ips("podnet").iter().all(|i| *i != ip1.to_string()));
    assert!(
        nft_elements_with(&ip1.to_string()).is_empty(),
        "{:?}",
        nft_elements()
    );
    assert!(nft_elements_with("8080").is_empty(), "{:?}", nft_elements());
    assert!(
        !nft_elements_with("10.89.7.0").is_empty(),
        "{:?}",
        nft_elements()
    );
    assert!(common::oracle_link_names(&p1).iter().all(|n| n != "eth0"));
    assert_eq!(host_sysctl("net.ipv4.ip_forward"), "1");
    // The second still works.
    tcp_exchange_via(&host, &ns2, 80, sa(IpAddr::V4(Ipv4Addr::LOCALHOST), 8081)).unwrap();

    // DEL of the last: nothing of the network is left; forwarding is as it was.
    rt.del(&l, &a2).unwrap();
    assert!(host_links_with("wc").is_empty(), "{:?}", host_links());
    assert_eq!(leases("podnet"), 0);
    assert_eq!(records("podnet"), 0);
    assert!(nft_elements().is_empty(), "{:?}", nft_elements());
    assert_eq!(host_sysctl("net.ipv4.ip_forward"), fwd_before);
    assert_eq!(host_sysctl("net.ipv6.conf.all.forwarding"), fwd6_before);
}

sandbox_test! {
    fn bridge_chain_1_1_0_dual_stack() {
        bridge_chain("1.1.0", true);
    }
}

sandbox_test! {
    fn bridge_chain_1_0_0() {
        bridge_chain("1.0.0", false);
    }
}

sandbox_test! {
    fn bridge_chain_0_4_0() {
        bridge_chain("0.4.0", false);
    }
}

/// Nothing of network `net` is left: no warren veth on the host, no lease, no record, no
/// element in warren-cni's table.
fn assert_clean(net: &str) {
    assert!(
        host_links_with("wc").is_empty(),
        "veths left: {:?}",
        host_links()
    );
    assert_eq!(leases(net), 0, "leases left: {:?}", lease_ips(net));
    assert_eq!(records(net), 0, "records left");
    assert!(
        nft_elements().is_empty(),
        "elements left: {:?}",
        nft_elements()
    );
}

sandbox_test! {
    fn del_is_idempotent_and_complete() {
        let rt = runtime();
        let l = podman_list("1.1.0", "idem", "wtest2", v4_ranges());
        // DEL twice.
        let (_n1, p1) = netns("d1");
        let a1 = att_ports("d1", &p1, &[(8082, 80)]);
        rt.add(&l, &a1).unwrap();
        rt.del(&l, &a1).unwrap();
        rt.del(&l, &a1).unwrap();
        assert_clean("idem");
        assert!(oracle_link_names(&p1).iter().all(|n| n != "eth0"));
        // DEL with no prevResult (no cached result).
        let (_n2, p2) = netns("d2");
        let a2 = att_ports("d2", &p2, &[(8083, 80)]);
        rt.add(&l, &a2).unwrap();
        std::fs::remove_file(rt.cache_dir.join("idem-d2-eth0")).unwrap();
        rt.del(&l, &a2).unwrap();
        assert_clean("idem");
        // DEL after the namespace is gone (the reference bridge leaks masquerade here).
        let (n3, p3) = netns("d3");
        let a3 = att_ports("d3", &p3, &[(8084, 80)]);
        rt.add(&l, &a3).unwrap();
        assert!(!nft_elements().is_empty());
        drop(n3);
        warren_kernel::netns::delete_named("d3").unwrap();
        rt.del(&l, &a3).unwrap();
        assert_clean("idem");
        // DEL with an empty prevResult object, plugin by plugin in reverse order.
        let (_n5, p5) = netns("d5");
        let a5 = att_ports("d5", &p5, &[(8086, 80)]);
        rt.add(&l, &a5).unwrap();
        for p in l.plugins.iter().rev() {
            let mut req = p.clone();
            req.insert("cniVersion".into(), json!("1.1.0"));
            req.insert("name".into(), json!("idem"));
            req.insert("prevResult".into(), json!({}));
            let kind = p["type"].as_str().unwrap();
            rt.exec(kind, warren_cni::proto::Command::Del, Some(&a5), &Value::Object(req))
                .unwrap();
        }
        assert_clean("idem");
        // And without CNI_NETNS at all, twice.
        let (_n4, p4) = netns("d4");
        let a4 = att_ports("d4", &p4, &[(8085, 80)]);
        rt.add(&l, &a4).unwrap();
        let mut no_ns = a4.clone();
        no_ns.netns = None;
        rt.del(&l, &no_ns).unwrap();
        rt.del(&l, &no_ns).unwrap();
        assert_clean("idem");
    }
}

/// GC keeping `keep` sent the way a runtime does (both keys) or with only the old key.
fn gc_raw(
    rt: &warren_cni::runtime::Runtime,
    l: &warren_cni::runtime::ConfList,
    keep: &[&str],
    old_only: bool,
) {
    if !old_only {
        let valid: Vec<(String, String)> = keep
            .iter()
            .map(|c| ((*c).to_owned(), "eth0".to_owned()))
            .collect();
        let errs = rt.gc(l, &valid);
        assert!(errs.is_empty(), "{errs:?}");
        return;
    }
    let va: Vec<Value> = keep
        .iter()
        .map(|c| json!({"containerID": c, "ifname": "eth0"}))
        .collect();
    for p in &l.plugins {
        let mut req = p.clone();
        req.insert("cniVersion".into(), json!(l.cni_version));
        req.insert("name".into(), json!(l.name));
        req.insert("cni.dev/attachments".into(), json!(va));
        let kind = p["type"].as_str().unwrap();
        rt.exec(
            kind,
            warren_cni::proto::Command::Gc,
            None,
            &Value::Object(req),
        )
        .unwrap();
    }
}

fn gc_keeps_one(old_only: bool) {
    let rt = runtime();
    let host = host_ns();
    let l = podman_list("1.1.0", "gcnet", "wtest3", v4_ranges());
    let mut res = Vec::new();
    let mut nss = Vec::new();
    for (i, c) in ["g1", "g2", "g3"].into_iter().enumerate() {
        let (ns, p) = netns(c);
        let a = att_ports(c, &p, &[(9000 + i as u16, 80)]);
        res.push(rt.add(&l, &a).unwrap());
        nss.push(ns);
    }
    assert_eq!(leases("gcnet"), 3);
    gc_raw(&rt, &l, &["g2"], old_only);
    assert_eq!(
        lease_ips("gcnet"),
        vec![result_ip(&res[1], true).to_string()]
    );
    assert_eq!(records("gcnet"), 2, "bridge + portmap records of g2 only");
    for i in [0, 2] {
        let ip = result_ip(&res[i], true).to_string();
        assert!(nft_elements_with(&ip).is_empty(), "{:?}", nft_elements());
        assert!(
            nft_elements_with(&format!("{}", 9000 + i)).is_empty(),
            "{:?}",
            nft_elements()
        );
        let host_if = res[i]["interfaces"][1]["name"].as_str().unwrap();
        assert!(!host_links().iter().any(|n| n == host_if), "{host_if} left");
    }
    assert_eq!(host_links_with("wc").len(), 1);
    // The kept one still works, by address and through its published port.
    let ip2 = result_ip(&res[1], true);
    tcp_exchange(&host, &nss[1], sa(ip2, 80)).unwrap();
    tcp_exchange_via(
        &host,
        &nss[1],
        80,
        sa(IpAddr::V4(Ipv4Addr::LOCALHOST), 9001),
    )
    .unwrap();
}

sandbox_test! {
    fn gc_with_valid_attachments_keeps_only_those() {
        gc_keeps_one(false);
    }
}

sandbox_test! {
    fn gc_with_only_the_old_key() {
        gc_keeps_one(true);
    }
}

sandbox_test! {
    fn status_ready_and_store_unusable() {
        let rt = runtime();
        let l = podman_list("1.1.0", "st", "wtest4", v4_ranges());
        rt.status(&l).unwrap();
        // A state directory below a regular file cannot be created, even by root.
        std::fs::write("/run/not-a-dir", "x").unwrap();
        let conf = json!({"cniVersion": "1.1.0", "name": "st", "type": "warren-bridge",
            "bridge": "wtest4", "ipam": host_local(v4_ranges())});
        for plugin in ["bridge", "host-local", "portmap"] {
            let out = raw(
                plugin,
                &[
                    ("CNI_COMMAND", "STATUS"),
                    ("CNI_PATH", "/run/cni-bin"),
                    ("WARREN_STATE_DIR", "/run/not-a-dir/state"),
                ],
                &conf.to_string(),
            );
            out.fails(50, &[]);
        }
    }
}

const SUPPORTED: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

sandbox_test! {
    fn version_bare_and_with_podmans_env() {
        runtime();
        for env in [
            vec![("CNI_COMMAND", "VERSION")],
            vec![
                ("CNI_COMMAND", "VERSION"),
                ("CNI_CONTAINERID", ""),
                ("CNI_IFNAME", "dummy"),
                ("CNI_NETNS", "dummy"),
                ("CNI_PATH", "dummy"),
            ],
        ] {
            for p in ["bridge", "portmap", "host-local", "loopback"] {
                let out = raw(p, &env, r#"{"cniVersion":"1.0.0"}"#);
                assert!(out.ok, "{p} {env:?}: {out:?}");
                assert_eq!(out.json["cniVersion"], "1.0.0", "{}", out.json);
                let v: Vec<&str> = out.json["supportedVersions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                for s in SUPPORTED {
                    assert!(v.contains(&s), "{s} missing: {}", out.json);
                }
                assert_eq!(v.len(), 5, "{}", out.json);
            }
        }
    }
}

/// The environment of a direct ADD of container `bad1` as `eth0` in `/run/netns/bad`.
fn add_env<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "bad1"),
        ("CNI_NETNS", "/run/netns/bad"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/run/cni-bin"),
    ]
}

/// A bridge request (network `badnet`, bridge `wtest6`) with `patch` merged in.
fn bridge_req(patch: &Value) -> Value {
    let mut v = json!({"cniVersion": "1.1.0", "name": "badnet"});
    for (k, x) in bridge_plugin("wtest6", v4_ranges()) {
        v[k] = x;
    }
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// A bad-input case: what, environment, stdin, expected code, words the error must name.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String, u64, Vec<&'a str>);

/// `env` with `key` replaced (`None`: removed).
fn with<'a>(
    mut env: Vec<(&'a str, &'a str)>,
    key: &'a str,
    val: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    env.retain(|(k, _)| *k != key);
    if let Some(v) = val {
        env.push((key, v));
    }
    env
}

sandbox_test! {
    fn bad_input_is_refused_with_the_right_code_and_leaves_nothing() {
        runtime();
        let (_ns, path) = netns("bad");
        let env = add_env();
        let ok = bridge_req(&json!({})).to_string();
        let clean = || {
            assert_clean("badnet");
            assert!(oracle_link_names(&path).iter().all(|n| n != "eth0"));
        };
        let cases: Vec<Case> = vec![
            ("bad JSON", env.clone(), "{\"cniVersion\":".into(), 6, vec![]),
            ("unknown version", env.clone(),
                bridge_req(&json!({"cniVersion": "9.9.9"})).to_string(), 1, vec!["9.9.9"]),
            ("bad CIDR", env.clone(),
                bridge_req(&json!({"ipam": host_local(json!([[{"subnet": "10.89.7.0/33"}]]))})).to_string(),
                7, vec!["ipam.ranges[0][0].subnet"]),
            ("rangeStart outside", env.clone(),
                bridge_req(&json!({"ipam": host_local(json!([[{"subnet": "10.89.7.0/24", "rangeStart": "10.1.1.5"}]]))})).to_string(),
                7, vec!["rangeStart"]),
            ("no CNI_CONTAINERID", with(env.clone(), "CNI_CONTAINERID", None), ok.clone(), 4, vec!["CNI_CONTAINERID"]),
            ("no CNI_IFNAME", with(env.clone(), "CNI_IFNAME", None), ok.clone(), 4, vec!["CNI_IFNAME"]),
            ("no CNI_PATH", with(env.clone(), "CNI_PATH", None), ok.clone(), 4, vec!["CNI_PATH"]),
            ("long ifname", with(env.clone(), "CNI_IFNAME", Some("abcdefghijklmnop")), ok.clone(), 4, vec!["abcdefghijklmnop"]),
            ("ifname exists", with(env.clone(), "CNI_IFNAME", Some("lo")), ok.clone(), 4, vec!["lo"]),
            ("bad container id", with(env.clone(), "CNI_CONTAINERID", Some("bad/id!")), ok.clone(), 4, vec!["CNI_CONTAINERID"]),
            ("unknown command", with(env.clone(), "CNI_COMMAND", Some("FROB")), ok.clone(), 4, vec!["FROB"]),
            ("CHECK at 0.3.1", with(env.clone(), "CNI_COMMAND", Some("CHECK")),
                bridge_req(&json!({"cniVersion": "0.3.1"})).to_string(), 1, vec!["0.3.1"]),
            ("vlan", env.clone(), bridge_req(&json!({"vlan": 100})).to_string(), 2, vec!["vlan", "100"]),
            ("hairpin and promisc", env.clone(), bridge_req(&json!({"promiscMode": true})).to_string(),
                7, vec!["hairpinMode", "promiscMode"]),
        ];
        for (what, env, stdin, code, words) in cases {
            let out = raw("bridge", &env, &stdin);
            eprintln!("{what}: {}", out.json);
            assert!(!out.ok, "{what}: succeeded");
            out.fails(code, &words);
            clean();
        }

        // portmap without prevResult; with a bad portMappings entry.
        let pm = json!({"cniVersion": "1.1.0", "name": "badnet", "type": "warren-portmap",
            "capabilities": {"portMappings": true},
            "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}});
        raw("portmap", &env, &pm.to_string()).fails(7, &["prevResult"]);
        let mut bad = pm.clone();
        bad["prevResult"] = json!({"cniVersion": "1.1.0",
            "interfaces": [{"name": "eth0", "sandbox": "/run/netns/bad"}],
            "ips": [{"address": "10.89.7.5/24", "interface": 0}]});
        bad["runtimeConfig"]["portMappings"][0]["hostPort"] = json!(0);
        raw("portmap", &env, &bad.to_string()).fails(7, &["hostPort"]);
        clean();

        // Tolerated: `capabilities` in the request; unknown CNI_ARGS with IgnoreUnknown.
        for (stdin, env) in [
            (bridge_req(&json!({"capabilities": {"portMappings": true, "ips": true}})).to_string(), env.clone()),
            (ok.clone(), with(env.clone(), "CNI_ARGS", Some("IgnoreUnknown=1;FOO=bar;K8S_POD_NAME=x"))),
        ] {
            let out = raw("bridge", &env, &stdin);
            assert!(out.ok, "{out:?}");
            assert_eq!(addrs_in(&path, "eth0").len(), 1);
            let del = raw("bridge", &with(env, "CNI_COMMAND", Some("DEL")), &stdin);
            assert!(del.ok, "{del:?}");
            clean();
        }
    }
}

sandbox_test! {
    fn ipam_64_concurrent_adds_get_distinct_addresses() {
        let rt = runtime();
        let l = list_of("1.1.0", "many", json!([bridge_plugin("wtest5", v4_ranges())]));
        let got: Vec<(String, std::path::PathBuf)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..64)
                .map(|i| {
                    let (rt, l) = (&rt, &l);
                    s.spawn(move || {
                        let name = format!("m{i}");
                        let (_ns, p) = netns(&name);
                        let r = rt.add(l, &att(&name, &p)).unwrap();
                        (r["ips"][0]["address"].as_str().unwrap().to_owned(), p)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut addrs: Vec<&String> = got.iter().map(|(a, _)| a).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 64, "{addrs:?}");
        for (a, p) in &got {
            assert_eq!(&addrs_in(p, "eth0"), &vec![a.clone()], "{}", p.display());
        }
        assert_eq!(leases("many"), 64);
    }
}

sandbox_test! {
    fn ipam_exhaustion_requested_ips_and_gc_of_killed_adds() {
        let rt = runtime();
        // A /30: one address besides the gateway.
        let small = list_of("1.1.0", "small", json!([bridge_plugin("wtest7",
            json!([[{"subnet": "10.89.9.0/30", "gateway": "10.89.9.1"}]]))]));
        let (_a, pa) = netns("x1");
        let (_b, pb) = netns("x2");
        rt.add(&small, &att("x1", &pa)).unwrap();
        let e = rt.add(&small, &att("x2", &pb)).unwrap_err();
        assert_eq!(e.error.code, 999, "{e}");
        assert!(e.to_string().contains("10.89.9."), "error names the range: {e}");
        assert_eq!(leases("small"), 1);
        assert_eq!(records("small"), 1);
        assert_eq!(host_links_with("wc").len(), 1);
        assert!(oracle_link_names(&pb).iter().all(|n| n != "eth0"));

        // A requested address: CNI_ARGS IP=, and runtimeConfig.ips (capability `ips`).
        let mut bp = bridge_plugin("wtest8", v4_ranges());
        bp.insert("capabilities".into(), json!({"ips": true}));
        let l = list_of("1.1.0", "req", json!([bp]));
        let (_c, pc) = netns("r1");
        let mut a = att("r1", &pc);
        a.args = Some("IgnoreUnknown=1;IP=10.89.7.77".into());
        let r = rt.add(&l, &a).unwrap();
        assert_eq!(r["ips"][0]["address"], "10.89.7.77/24", "{r}");
        assert_eq!(addrs_in(&pc, "eth0"), vec!["10.89.7.77/24".to_owned()]);
        let (_d, pd) = netns("r2");
        let mut a2 = att("r2", &pd);
        a2.capabilities.insert("ips".into(), json!(["10.89.7.78/24"]));
        let r2 = rt.add(&l, &a2).unwrap();
        assert_eq!(r2["ips"][0]["address"], "10.89.7.78/24", "{r2}");
        assert_eq!(addrs_in(&pd, "eth0"), vec!["10.89.7.78/24".to_owned()]);

        // A "killed" ADD: the namespace went away without DEL. GC releases it, and the
        // address can be had again.
        let (k, pk) = netns("k1");
        let mut ak = att("k1", &pk);
        ak.args = Some("IP=10.89.7.99".into());
        rt.add(&l, &ak).unwrap();
        drop(k);
        warren_kernel::netns::delete_named("k1").unwrap();
        let errs = rt.gc(&l, &[("r1".into(), "eth0".into()), ("r2".into(), "eth0".into())]);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(lease_ips("req"), vec!["10.89.7.77".to_owned(), "10.89.7.78".to_owned()]);
        let (_e, pe) = netns("k2");
        let mut ae = att("k2", &pe);
        ae.args = Some("IP=10.89.7.99".into());
        rt.add(&l, &ae).unwrap();
        assert_eq!(addrs_in(&pe, "eth0"), vec!["10.89.7.99/24".to_owned()]);

        // A crash between taking the address and recording the attachment: a bare lease.
        rusqlite::Connection::open(DB)
            .unwrap()
            .execute(
                "INSERT INTO cni_leases (network, ip, prefix, gateway, range_set, container_id, ifname)
                 VALUES ('req', '10.89.7.100', 24, '10.89.7.1', 0, 'ghost', 'eth0')",
                [],
            )
            .unwrap();
        let keep: Vec<(String, String)> =
            ["r1", "r2", "k2"].iter().map(|c| ((*c).to_owned(), "eth0".to_owned())).collect();
        assert!(rt.gc(&l, &keep).is_empty());
        assert!(!lease_ips("req").contains(&"10.89.7.100".to_owned()), "{:?}", lease_ips("req"));
        assert_eq!(leases("req"), 3);
    }
}

/// host-local over one IPv4 subnet.
fn hl(subnet: &str) -> Value {
    host_local(json!([[{"subnet": subnet}]]))
}

sandbox_test! {
    fn ptp_containers_reach_each_other_and_the_host_and_del_cleans_routes() {
        let rt = runtime();
        let host = host_ns();
        // A route via a next hop of the subnet other than the gateway: on the link (the
        // container has no connected route to the subnet).
        let mut ipam = hl("10.89.10.0/24");
        ipam["routes"] = json!([{"dst": "192.0.2.0/24", "gw": "10.89.10.254"}]);
        let l = list_of("1.1.0", "ptpnet",
            json!([{"type": "warren-ptp", "ipMasq": true, "ipam": ipam}]));
        let (n1, p1) = netns("p1");
        let (n2, p2) = netns("p2");
        let r1 = rt.add(&l, &att("p1", &p1)).unwrap();
        let r2 = rt.add(&l, &att("p2", &p2)).unwrap();
        let (ip1, ip2) = (result_ip(&r1, true), result_ip(&r2, true));
        assert_eq!(addrs_in(&p1, "eth0"), vec![r1["ips"][0]["address"].as_str().unwrap().to_owned()]);
        let inside = warren_testkit::oracle::ip_json_in(p1.to_str().unwrap(), &["route", "show"]);
        let r = inside
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dst"] == "192.0.2.0/24")
            .unwrap_or_else(|| panic!("no 192.0.2.0/24 route: {inside}"));
        assert_eq!(r["gateway"], "10.89.10.254", "{r}");
        assert!(r["flags"].to_string().contains("onlink"), "{r}");
        // Routed through the host, yet not masqueraded between two containers of the
        // subnet (as the reference plugin exempts its own subnet): the server sees the peer.
        assert_eq!(tcp_exchange(&n1, &n2, sa(ip2, 80)).unwrap().ip(), ip1);
        assert!(!nft_elements_with("10.89.10.0").is_empty(), "{:?}", nft_elements());
        tcp_exchange(&host, &n1, sa(ip1, 81)).unwrap();
        let routes = || warren_testkit::oracle::ip_json(&["route", "show"]).to_string();
        assert!(routes().contains(&ip1.to_string()), "{}", routes());
        rt.check(&l, &att("p1", &p1)).unwrap();
        rt.del(&l, &att("p1", &p1)).unwrap();
        rt.del(&l, &att("p2", &p2)).unwrap();
        assert!(host_links_with("wp").is_empty(), "{:?}", host_links());
        assert!(!routes().contains("10.89.10."), "{}", routes());
        assert_eq!(leases("ptpnet"), 0);
        assert_eq!(records("ptpnet"), 0);
        assert!(nft_elements().is_empty(), "{:?}", nft_elements());
    }
}

sandbox_test! {
    fn loopback_brings_lo_up() {
        let rt = runtime();
        let ns = warren_kernel::netns::add_named("lb", warren_kernel::netns::Source::New).unwrap();
        let path = warren_kernel::netns::named_path("lb");
        let up = || {
            warren_testkit::oracle::link_in(path.to_str().unwrap(), "lo").unwrap()["flags"]
                .as_array()
                .unwrap()
                .contains(&json!("UP"))
        };
        assert!(!up());
        let l = list_of("1.1.0", "lonet", json!([{"type": "warren-loopback"}]));
        let mut a = att("lb", &path);
        a.ifname = "lo".into();
        let r = rt.add(&l, &a).unwrap();
        assert_eq!(r["cniVersion"], "1.1.0", "{r}");
        assert_eq!(r["interfaces"][0]["name"], "lo", "{r}");
        assert!(up());
        // Something listens and connects over it.
        tcp_exchange(&ns, &ns, sa(IpAddr::V4(Ipv4Addr::LOCALHOST), 82)).unwrap();
        rt.del(&l, &a).unwrap();
    }
}

sandbox_test! {
    fn tuning_applies_sysctl_and_mtu_and_restores_them() {
        let rt = runtime();
        let l = list_of("1.1.0", "tunet", json!([
            bridge_plugin("wtest9", v4_ranges()),
            {"type": "warren-tuning", "mtu": 1400,
             "sysctl": {"net.ipv4.conf.IFNAME.rp_filter": "2"}},
        ]));
        let (ns, p) = netns("t1");
        let a = att("t1", &p);
        rt.add(&l, &a).unwrap();
        let rp = || warren_kernel::sysctl::get(&ns, "net.ipv4.conf.eth0.rp_filter").unwrap();
        let mtu = || warren_testkit::oracle::link_in(p.to_str().unwrap(), "eth0").unwrap()["mtu"].clone();
        assert_eq!(rp(), "2");
        assert_eq!(mtu(), 1400);
        // tuning's own DEL restores what it changed.
        let mut req = l.plugins[1].clone();
        req.insert("cniVersion".into(), json!("1.1.0"));
        req.insert("name".into(), json!("tunet"));
        req.insert("prevResult".into(), rt.cached(&l, &a).unwrap());
        rt.exec("warren-tuning", warren_cni::proto::Command::Del, Some(&a), &Value::Object(req))
            .unwrap();
        let default = warren_kernel::sysctl::get(&ns, "net.ipv4.conf.default.rp_filter").unwrap();
        assert_eq!(rp(), default);
        assert_eq!(mtu(), 1500);
        rt.del(&l, &a).unwrap();
        assert_clean("tunet");
    }
}

/// A "parent" for macvlan/ipvlan in the host: a veth pair `par0`/`par1`, both up.
fn parent() {
    use warren_kernel::link::veth::Veth;
    Handle::current()
        .unwrap()
        .link_add(&Veth::new("par0", "par1").up().peer_up())
        .unwrap();
}

sandbox_test! {
    fn macvlan_containers_on_one_parent_reach_each_other() {
        let rt = runtime();
        parent();
        let l = list_of("1.1.0", "mvnet", json!([
            {"type": "warren-macvlan", "master": "par0", "mode": "bridge", "ipam": hl("10.89.11.0/24")}
        ]));
        let (n1, p1) = netns("v1");
        let (n2, p2) = netns("v2");
        let r1 = rt.add(&l, &att("v1", &p1)).unwrap();
        let r2 = rt.add(&l, &att("v2", &p2)).unwrap();
        let (ip1, ip2) = (result_ip(&r1, true), result_ip(&r2, true));
        let link = warren_testkit::oracle::link_in(p1.to_str().unwrap(), "eth0").unwrap();
        assert_eq!(link["linkinfo"]["info_kind"], "macvlan", "{link}");
        assert_eq!(addrs_in(&p1, "eth0"), vec![r1["ips"][0]["address"].as_str().unwrap().to_owned()]);
        assert_eq!(tcp_exchange(&n1, &n2, sa(ip2, 80)).unwrap().ip(), ip1);
        rt.check(&l, &att("v1", &p1)).unwrap();
        rt.del(&l, &att("v1", &p1)).unwrap();
        rt.del(&l, &att("v2", &p2)).unwrap();
        assert!(oracle_link_names(&p1).iter().all(|n| n != "eth0"));
        assert_eq!(leases("mvnet"), 0);
        assert_eq!(records("mvnet"), 0);
    }
}

sandbox_test! {
    fn ipvlan_works_or_says_the_kernel_lacks_it() {
        let rt = runtime();
        parent();
        let l = list_of("1.1.0", "ipvnet", json!([
            {"type": "warren-ipvlan", "master": "par0", "ipam": hl("10.89.12.0/24")}
        ]));
        let (n1, p1) = netns("i1");
        match rt.add(&l, &att("i1", &p1)) {
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("kernel lacks") && msg.contains("ipvlan"), "{msg}");
                assert_eq!(leases("ipvnet"), 0, "a lease is left");
                assert_eq!(records("ipvnet"), 0, "a record is left");
                assert!(oracle_link_names(&p1).iter().all(|n| n != "eth0"));
                warren_testkit::skip("kernel lacks ipvlan: only the clean failure was checked");
            }
            Ok(r1) => {
                let (n2, p2) = netns("i2");
                let r2 = rt.add(&l, &att("i2", &p2)).unwrap();
                let (ip1, ip2) = (result_ip(&r1, true), result_ip(&r2, true));
                assert_eq!(tcp_exchange(&n1, &n2, sa(ip2, 80)).unwrap().ip(), ip1);
                rt.del(&l, &att("i1", &p1)).unwrap();
                rt.del(&l, &att("i2", &p2)).unwrap();
                assert_eq!(leases("ipvnet"), 0);
                assert_eq!(records("ipvnet"), 0);
            }
        }
    }
}

sandbox_test! {
    fn a_retired_veth_in_the_way_is_cleared_and_ls_lists_attachments() {
        let rt = runtime();
        let a = podman_list("1.1.0", "reta", "wret0", json!([[{"subnet": "10.89.11.0/24"}]]));
        let b = podman_list("1.1.0", "retb", "wret1", json!([[{"subnet": "10.89.12.0/24"}]]));
        let (_n, p) = netns("r1");
        let r = rt.add(&a, &att("r1", &p)).unwrap();
        // `warren-cni ls -j` lists the attachment with its address and plugins.
        let ls = || -> Value {
            let out = std::process::Command::new(BIN).args(["ls", "-j"]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice(&out.stdout).unwrap()
        };
        let listed = ls();
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed[0]["network"], "reta", "{listed}");
        assert_eq!(listed[0]["containerID"], "r1", "{listed}");
        assert_eq!(listed[0]["ips"][0], r["ips"][0]["address"], "{listed}");
        assert!(listed[0]["plugins"].to_string().contains("warren-bridge"), "{listed}");
        // A DEL whose deleter has not run yet: the host side retired, eth0 still inside.
        let host_if = r["interfaces"][1]["name"].as_str().unwrap();
        let doomed = warren_engine::attach::retire_veth(&Handle::current().unwrap(), host_if)
            .unwrap()
            .unwrap();
        assert!(oracle_link_names(&p).iter().any(|n| n == "eth0"));
        // Another network's ADD of eth0 in that namespace clears it and succeeds.
        let r2 = rt.add(&b, &att("r1", &p)).unwrap();
        assert_eq!(
            addrs_in(&p, "eth0"),
            vec![r2["ips"][0]["address"].as_str().unwrap().to_owned()]
        );
        assert!(
            !host_links().contains(&doomed.name),
            "retired {} still there: {:?}",
            doomed.name,
            host_links()
        );
        assert_eq!(ls().as_array().unwrap().len(), 2);
        // Anything else named eth0 stays an error (code 4).
        let err = rt.add(&b, &att("r2", &p)).unwrap_err();
        assert_eq!(err.error.code, 4, "{err}");
        assert!(err.error.msg.contains("CNI_IFNAME eth0"), "{err}");
    }
}

sandbox_test! {
    fn a_retired_bridge_port_is_cut_off_and_its_name_can_be_taken_again() {
        use warren_engine::attach::{self, VethSpec};
        use warren_kernel::link::bridge::Bridge;
        let host = Handle::current().unwrap();
        host.link_add(&Bridge::new("wret9").up()).unwrap();
        let (n1, p1) = netns("o1");
        let (n2, p2) = netns("o2");
        let spec = VethSpec {
            host_if: "wcretired0001".into(),
            ifname: "eth0".into(),
            bridge: Some("wret9".into()),
            ..VethSpec::default()
        };
        let inner1 = Handle::new(n1).unwrap();
        attach::add_veth(&host, &inner1, &spec).unwrap();
        // Retired: still there under its name, up, but marked and cut off the bridge.
        let r = attach::retire_veth(&host, "wcretired0001").unwrap().unwrap();
        assert_eq!(r.name, "wcretired0001");
        assert!(host.link_get("wcretired0001").unwrap().up);
        common::assert_out_of_service("wcretired0001");
        assert!(is_retired_on_host("wcretired0001"));
        assert!(attach::is_retired_peer(&host, &inner1, "eth0"));
        // The same host-side name for a new attachment: the retired pair is deleted first.
        let inner2 = Handle::new(n2).unwrap();
        attach::add_veth(&host, &inner2, &spec).unwrap();
        let now = host.link_get("wcretired0001").unwrap();
        assert_ne!(now.index, r.index);
        assert_eq!(now.alias, None);
        assert!(oracle_link_names(&p1).iter().all(|n| n != "eth0"), "old pair gone");
        assert!(oracle_link_names(&p2).iter().any(|n| n == "eth0"));
        // The old deleter, late, finds another link under the name: it deletes nothing.
        attach::delete_retired(&host, &r).unwrap();
        assert_eq!(host.link_get("wcretired0001").unwrap().index, now.index);
        // Nor does it delete a link that is not retired, even at the right index.
        let live = attach::Retired {
            index: now.index,
            name: now.name.clone(),
        };
        attach::delete_retired(&host, &live).unwrap();
        assert!(host.link_get("wcretired0001").is_ok());
        // Its own link it deletes, by index.
        let r2 = attach::retire_veth(&host, "wcretired0001").unwrap().unwrap();
        attach::delete_retired(&host, &r2).unwrap();
        assert!(host.link_get("wcretired0001").is_err());
        assert_eq!(attach::Retired::from_arg(&r2.to_arg()), Some(r2));
        assert_eq!(attach::Retired::from_arg("0:x"), None);
        assert_eq!(attach::Retired::from_arg("wz1"), None);
    }
}

/// Whether `name` is on the host and retired (its alias says so).
fn is_retired_on_host(name: &str) -> bool {
    let v = warren_testkit::oracle::ip_json(&["link", "show", "dev", name]);
    v[0]["ifalias"].as_str() == Some(warren_engine::attach::RETIRED_ALIAS)
}
