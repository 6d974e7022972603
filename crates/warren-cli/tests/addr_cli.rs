//! `warren addr` end to end: the binary adds, shows and deletes addresses inside a namespace;
//! `ip -j` reads them back; bad input gets one clear line and a non-zero exit.

use serde_json::Value;
use warren_testkit::{cli::Cli, oracle, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

fn ok(args: &[&str]) -> String {
    WARREN.ok(args)
}

fn fails(args: &[&str]) -> (i32, String) {
    WARREN.fails(args)
}

/// Namespace `red` (by `warren ns add`) with a veth pair v0/v1 inside, up. (The pair is made
/// with `ip`, so a failure here is about addresses alone.)
fn lab() {
    ok(&["ns", "add", "--lo-up", "red"]);
    warren_testkit::run(
        "ip",
        &[
            "-n", "red", "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ],
    );
    warren_testkit::run("ip", &["-n", "red", "link", "set", "v0", "up"]);
    warren_testkit::run("ip", &["-n", "red", "link", "set", "v1", "up"]);
}

fn ip_addrs(dev: &str) -> Vec<Value> {
    let v = oracle::ip_json_in("/run/netns/red", &["addr", "show", "dev", dev]);
    v[0]["addr_info"].as_array().cloned().unwrap_or_default()
}

sandbox_test! {
    fn add_show_and_delete_addresses() {
        lab();
        assert_eq!(ok(&["-n", "red", "addr", "add", "10.0.0.1/24", "dev", "v0"]), "");
        ok(&["-n", "red", "addr", "add", "fd00::1/64", "dev", "v0", "nodad"]);
        ok(&["-n", "red", "address", "add", "dev", "v1", "10.0.1.1/24"]);

        // JSON: ip's keys and values, entry for entry.
        let mine: Value = serde_json::from_str(&ok(&["-n", "red", "-j", "addr", "show", "dev", "v0"])).unwrap();
        assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
        let late_j = ok(&["-n", "red", "addr", "show", "dev", "v0", "-j"]);
        assert_eq!(serde_json::from_str::<Value>(&late_j).unwrap(), mine, "-j after the words too");
        assert_eq!(mine[0]["ifname"], "v0");
        let theirs = ip_addrs("v0");
        let info = mine[0]["addr_info"].as_array().unwrap();
        assert_eq!(info.len(), theirs.len(), "{info:?} vs {theirs:?}");
        for (m, t) in info.iter().zip(&theirs) {
            for key in ["family", "local", "prefixlen", "scope"] {
                assert_eq!(m[key], t[key], "{key}: {m} vs {t}");
            }
        }
        assert!(info.iter().any(|a| a["local"] == "10.0.0.1" && a["broadcast"] == "10.0.0.255"));
        assert!(theirs.iter().any(|a| a["local"] == "fd00::1" && a["nodad"] == true), "{theirs:?}");

        // Human: one line per interface.
        let table = ok(&["-n", "red", "addr", "show"]);
        let v0 = table.lines().find(|l| l.starts_with("v0 ")).unwrap_or_else(|| panic!("{table}"));
        assert!(v0.contains("10.0.0.1/24") && v0.contains("fd00::1/64"), "{v0}");
        assert!(table.lines().any(|l| l.starts_with("lo ") && l.contains("127.0.0.1/8")), "{table}");
        assert!(table.lines().any(|l| l.starts_with("v1 ") && l.contains("10.0.1.1/24")), "{table}");
        // Line for line `ip -br addr` (ip names a veth `v0@v1`; warren says `v0`).
        let ip_br = warren_testkit::run("ip", &["-n", "red", "-br", "addr"]);
        let norm = |t: &str| {
            t.lines()
                .map(|l| {
                    let mut f: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
                    f[0] = f[0].split('@').next().unwrap_or_default().to_owned();
                    f.join(" ")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(norm(&table), norm(&ip_br));
        for fam in ["-4", "-6"] {
            let mine = ok(&["-n", "red", "addr", "show", fam]);
            let theirs = warren_testkit::run("ip", &["-n", "red", "-br", fam, "addr"]);
            assert_eq!(norm(&mine), norm(&theirs), "{fam}");
        }
        let all: Value = serde_json::from_str(&ok(&["-n", "red", "-j", "addr"])).unwrap();
        assert_eq!(all.as_array().unwrap().len(), 3, "lo, v0, v1: {all}");

        ok(&["-n", "red", "addr", "del", "10.0.0.1/24", "dev", "v0"]);
        ok(&["-n", "red", "addr", "delete", "fd00::1/64", "dev", "v0"]);
        let left = ip_addrs("v0");
        assert!(left.iter().all(|a| a["local"] != "10.0.0.1" && a["local"] != "fd00::1"), "{left:?}");

        ok(&["-n", "red", "addr", "add", "10.0.1.2/24", "dev", "v1"]);
        ok(&["-n", "red", "addr", "flush", "dev", "v1", "-4"]);
        assert!(ip_addrs("v1").iter().all(|a| a["family"] != "inet"), "{:?}", ip_addrs("v1"));
    }
}

sandbox_test! {
    fn bad_input_gets_one_clear_line() {
        lab();
        ok(&["-n", "red", "addr", "add", "10.0.0.1/24", "dev", "v0"]);

        let (code, err) = fails(&["-n", "red", "addr", "add", "10.0.0.1/33", "dev", "v0"]);
        assert_eq!(code, 1);
        assert!(err.starts_with("warren: addr add: invalid prefix \"10.0.0.1/33\""), "{err}");
        let (code, err) = fails(&["-n", "red", "addr", "add", "10.0.0/24", "dev", "v0"]);
        assert_eq!(code, 1);
        assert!(err.contains("\"10.0.0\" is not an IPv4 or IPv6 address"), "{err}");
        let (code, err) = fails(&["-n", "red", "addr", "add", "10.0.0.2/24"]);
        assert_eq!(code, 1);
        assert!(err.contains("missing \"dev IF\""), "{err}");

        let (code, err) = fails(&["-n", "red", "addr", "add", "10.0.0.2/24", "dev", "nope0"]);
        assert_eq!(code, 1);
        assert!(err.contains("\"nope0\" not found (netns red)"), "{err}");

        let (code, err) = fails(&["-n", "red", "addr", "add", "10.0.0.1/24", "dev", "v0"]);
        assert_eq!(code, 2, "kernel refusal");
        assert_eq!(err, "warren: add address 10.0.0.1/24 dev v0 (netns red): ipv4: Address already assigned (File exists)\n");
        let (code, err) = fails(&["-n", "red", "addr", "del", "10.0.0.9/24", "dev", "v0"]);
        assert_eq!(code, 2);
        assert_eq!(err, "warren: delete address 10.0.0.9/24 dev v0 (netns red): ipv4: Address not found (Cannot assign requested address)\n");

        let v4: Vec<Value> = ip_addrs("v0").into_iter().filter(|a| a["family"] == "inet").collect();
        assert_eq!(v4.len(), 1, "nothing half-done: {v4:?}");
    }
}
