//! `warren link` end to end: the binary runs inside each test's sandbox and the result is read
//! back with `ip -j -d link` and `bridge -j fdb`; bad input must fail with one clear line, a
//! non-zero exit and nothing left behind.

use serde_json::Value;
use warren_kernel::netns::{self, Source};
use warren_testkit::{cli::Cli, oracle, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn warren(args: &[&str]) -> Out {
    let out = WARREN.output(args);
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run `warren link ARGS` (split on white space) and require success.
fn ok(line: &str) -> String {
    let mut args = vec!["link"];
    args.extend(line.split_whitespace());
    let o = warren(&args);
    assert_eq!(o.code, 0, "warren link {line}: {}", o.stderr);
    o.stdout
}

/// Run `warren link ARGS` and require failure with `code`; returns stderr.
fn fails(line: &str, code: i32) -> String {
    let mut args = vec!["link"];
    args.extend(line.split_whitespace());
    let o = warren(&args);
    assert_eq!(
        o.code, code,
        "warren link {line}: stdout {} stderr {}",
        o.stdout, o.stderr
    );
    assert_eq!(o.stderr.lines().count(), 1, "one line: {}", o.stderr);
    assert!(o.stderr.starts_with("warren: "), "{}", o.stderr);
    o.stderr
}

fn link_here(name: &str) -> Option<Value> {
    oracle::link_in("/proc/self/ns/net", name)
}

fn names_here() -> Vec<String> {
    oracle::link_names_in("/proc/self/ns/net")
}

sandbox_test! {
    fn veth_into_a_named_namespace_as_a_bridge_port() {
        netns::add_named("red", Source::New).unwrap();
        ok("add br0 up type bridge stp_state 0");
        ok("add v0 mtu 1400 address 02:00:00:00:00:01 master br0 up type veth peer name p0 netns red address 02:00:00:00:00:02");
        let v0 = link_here("v0").expect("v0");
        assert_eq!(v0["mtu"], 1400);
        assert_eq!(v0["address"], "02:00:00:00:00:01");
        assert_eq!(v0["master"], "br0");
        assert!(v0["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
        assert!(link_here("p0").is_none());
        let p0 = oracle::link_in("/run/netns/red", "p0").expect("p0 in red");
        assert_eq!(p0["address"], "02:00:00:00:00:02");
        assert_eq!(p0["mtu"], 1400);
    }
}

sandbox_test! {
    fn every_kind_is_created_and_shown() {
        ok("add par up type veth peer parp");
        ok("add mv0 type macvlan link par mode private");
        ok("add lone type veth");
        let lone = link_here("lone").expect("lone");
        let peer = oracle::ip_json_in("/proc/self/ns/net", &["link", "show"])
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifindex"] == lone["link_index"] || l["ifname"] == lone["link"])
            .cloned();
        assert!(
            peer.as_ref().is_some_and(|p| p["ifname"].as_str().unwrap().starts_with("veth")),
            "kernel-named peer: {lone} {peer:?}"
        );
        ok("add mvt0 link par type macvtap mode bridge");
        ok("add vx0 type vxlan id 42 remote 192.0.2.2 dev par dstport 4789 nolearning");
        ok("add tap0 mtu 1300 up type tap multi_queue");
        ok("add tun0 type tun user 0");
        let data = |n: &str| link_here(n).unwrap()["linkinfo"]["info_data"].clone();
        assert_eq!(data("mv0")["mode"], "private");
        assert_eq!(data("mvt0")["mode"], "bridge");
        assert_eq!(data("vx0")["id"], 42);
        assert_eq!(data("vx0")["remote"], "192.0.2.2");
        assert_eq!(data("vx0")["port"], 4789);
        assert_eq!(data("vx0")["learning"], false);
        assert_eq!(data("tap0")["type"], "tap");
        assert_eq!(data("tap0")["multi_queue"], true);
        assert_eq!(link_here("tap0").unwrap()["mtu"], 1300);
        assert_eq!(data("tun0")["type"], "tun");

        let table = ok("show");
        let head = table.lines().next().unwrap();
        assert!(head.starts_with("INDEX") && head.contains("MASTER"), "{table}");
        assert!(table.lines().any(|l| l.contains("par@parp") && l.contains("veth")), "{table}");
        assert!(table.lines().any(|l| l.contains("mv0@par") && l.contains("macvlan")), "{table}");

        let o = warren(&["-j", "link", "show", "mv0"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let v: Value = serde_json::from_str(&o.stdout).unwrap();
        let mv = &v[0];
        assert_eq!(mv["ifname"], "mv0");
        assert_eq!(mv["info_kind"], "macvlan");
        assert_eq!(mv["link"], "par");
        let ip_mv = link_here("mv0").unwrap();
        assert_eq!(mv["ifindex"], ip_mv["ifindex"]);
        assert_eq!(mv["address"], ip_mv["address"]);
        assert_eq!(mv["flags"], ip_mv["flags"]);

        ok("del tap0");
        ok("del tun0");
        ok("del vx0");
        assert!(link_here("tap0").is_none() && link_here("tun0").is_none() && link_here("vx0").is_none());
    }
}

sandbox_test! {
    fn set_changes_read_back() {
        netns::add_named("blue", Source::New).unwrap();
        ok("add a type veth peer b");
        ok("add br0 type bridge");
        ok("set a mtu 1280 address 02:00:00:00:00:42 name a2 txqueuelen 77");
        let a = link_here("a2").expect("renamed");
        assert_eq!(a["mtu"], 1280);
        assert_eq!(a["address"], "02:00:00:00:00:42");
        assert_eq!(a["txqlen"], 77);
        ok("set a2 up master br0 altname add the-first-veth-end");
        let a = link_here("a2").unwrap();
        assert_eq!(a["master"], "br0");
        assert_eq!(a["altnames"][0], "the-first-veth-end");
        let o = warren(&["-j", "link", "show", "the-first-veth-end"]);
        let v: Value = serde_json::from_str(&o.stdout).unwrap();
        assert_eq!(v[0]["ifname"], "a2");
        assert_eq!(v[0]["altnames"][0], "the-first-veth-end");

        ok("set a2 type bridge_slave hairpin on learning off isolated on");
        let s = &link_here("a2").unwrap()["linkinfo"]["info_slave_data"];
        assert_eq!((s["hairpin"].clone(), s["learning"].clone(), s["isolated"].clone()), (Value::Bool(true), Value::Bool(false), Value::Bool(true)));

        ok("set a2 nomaster altname del the-first-veth-end");
        let a = link_here("a2").unwrap();
        assert!(a["master"].is_null() && a["altnames"].is_null(), "{a}");

        ok("set b netns blue");
        assert!(link_here("b").is_none());
        assert!(oracle::link_in("/run/netns/blue", "b").is_some());
        // -n NS runs the command inside the namespace.
        let o = warren(&["-n", "blue", "link", "set", "b", "mtu", "1234"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(oracle::link_in("/run/netns/blue", "b").unwrap()["mtu"], 1234);
    }
}

fn fdb() -> Vec<Value> {
    let out = warren_testkit::run("bridge", &["-j", "fdb", "show", "br", "br0"]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

sandbox_test! {
    fn fdb_add_show_del() {
        ok("add br0 up type bridge");
        ok("add hv0 master br0 up type veth peer p0");
        ok("fdb add 02:00:00:00:aa:01 dev hv0 master static");
        let e = fdb().into_iter().find(|e| e["mac"] == "02:00:00:00:aa:01").expect("added");
        assert_eq!(e["ifname"], "hv0");
        assert_eq!(e["state"], "static");
        let shown = ok("fdb show dev br0");
        assert!(shown.lines().any(|l| l == "02:00:00:00:aa:01 dev hv0 master br0 static"), "{shown}");
        let o = warren(&["-j", "link", "fdb", "show", "dev", "hv0"]);
        let v: Value = serde_json::from_str(&o.stdout).unwrap();
        assert!(v.as_array().unwrap().iter().any(|e| e["mac"] == "02:00:00:00:aa:01" && e["master"] == "br0"));
        let err = fails("fdb add 02:00:00:00:aa:01 dev hv0 static", 2);
        assert!(err.contains("02:00:00:00:aa:01") && err.contains("File exists"), "{err}");
        ok("fdb del 02:00:00:00:aa:01 dev hv0");
        assert!(!fdb().iter().any(|e| e["mac"] == "02:00:00:00:aa:01"));
    }
}

sandbox_test! {
    fn bad_input_fails_clearly_and_leaves_nothing() {
        let before = names_here();
        let err = fails("add a-name-of-16-byt type veth peer p", 1);
        assert!(err.contains("a-name-of-16-byt") && err.contains("15 bytes"), "{err}");
        let err = fails("add v0 type veth peer name p0 netns nowhere", 1);
        assert!(err.contains("nowhere"), "{err}");
        let err = fails("add mv0 type macvlan link nosuch mode bridge", 1);
        assert!(err.contains("nosuch") && err.contains("not found"), "{err}");
        let err = fails("add v0 master nosuch type veth peer p0", 1);
        assert!(err.contains("nosuch"), "{err}");
        let err = fails("add v0 type wireguard", 1);
        assert!(err.contains("wireguard"), "{err}");
        let err = fails("set nosuch up", 1);
        assert!(err.contains("nosuch"), "{err}");
        let err = fails("del nosuch", 1);
        assert!(err.contains("nosuch"), "{err}");
        assert_eq!(names_here(), before, "nothing left behind");

        ok("add br0 type bridge");
        let err = fails("add br0 type bridge", 2);
        assert!(err.contains("br0") && err.contains("File exists"), "{err}");
        let err = fails("add v1 type veth peer br0", 2);
        assert!(err.contains("File exists"), "{err}");
        // A tap whose follow-up step fails is removed again.
        let err = fails("add tap0 master br0 mtu 99999 type tap", 2);
        assert!(err.contains("tap0"), "{err}");
        assert!(link_here("tap0").is_none(), "tap0 left behind");
        ok("add par type veth peer parp");
        let o = warren(&["link", "add", "ipv0", "type", "ipvlan", "link", "par", "mode", "l2"]);
        if o.code == 0 {
            assert!(link_here("ipv0").is_some());
        } else {
            assert_eq!(o.code, 2, "{}", o.stderr);
            assert!(o.stderr.contains("kernel lacks ipvlan"), "{}", o.stderr);
            assert!(link_here("ipv0").is_none());
        }
        let mut after = names_here();
        after.retain(|n| !["br0", "par", "parp", "ipv0"].contains(&n.as_str()));
        assert_eq!(after, before, "nothing left behind");
    }
}

sandbox_test! {
    fn peer_netns_by_path_and_pid_and_show_inside() {
        netns::add_named("green", Source::New).unwrap();
        ok("add g0 type veth peer g1 netns /run/netns/green");
        assert!(oracle::link_in("/run/netns/green", "g1").is_some());
        let pid = std::process::id().to_string();
        ok(&format!("add h0 type veth peer h1 netns pid:{pid}"));
        assert!(link_here("h1").is_some(), "pid:N of this process is this namespace");
        let o = warren(&["-n", "green", "-j", "link", "show"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let v: Value = serde_json::from_str(&o.stdout).unwrap();
        let g1 = v.as_array().unwrap().iter().find(|l| l["ifname"] == "g1").expect("g1 listed");
        assert!(g1["link_netnsid"].is_number(), "{g1}");
        assert_eq!(g1["info_kind"], "veth");
        let err = fails("add k0 type veth peer k1 netns pid:notanumber", 1);
        assert!(err.contains("pid:notanumber"), "{err}");
        assert!(link_here("k0").is_none());
    }
}

sandbox_test! {
    fn macvlan_created_inside_a_named_namespace() {
        netns::add_named("red", Source::New).unwrap();
        ok("add par up type veth peer parp");
        ok("add mv0 link par netns red up type macvlan mode bridge");
        assert!(link_here("mv0").is_none());
        let mv = oracle::link_in("/run/netns/red", "mv0").expect("mv0 in red");
        assert_eq!(mv["linkinfo"]["info_data"]["mode"], "bridge");
        assert!(mv["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{mv}");
        let err = fails("add br9 netns red type bridge", 1);
        assert!(err.contains("netns NS applies to macvlan"), "{err}");
    }
}
