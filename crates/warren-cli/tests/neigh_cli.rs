//! `warren neigh` end to end: the binary adds, replaces, shows and deletes neighbour entries
//! inside a namespace; `ip -j neigh` reads them back and `ip neigh show` is matched line for
//! line; bad input gets one clear line, a non-zero exit and leaves nothing behind.

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
/// with `ip`, so a failure here is about neighbours alone.) No link-local addresses: without
/// them no MLD or DAD traffic comes and goes, so the kernel adds and drops no multicast
/// entries between two listings.
fn lab() {
    ok(&["ns", "add", "--lo-up", "red"]);
    warren_testkit::run(
        "ip",
        &[
            "-n", "red", "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ],
    );
    for dev in ["v0", "v1"] {
        warren_testkit::run(
            "ip",
            &["-n", "red", "link", "set", dev, "addrgenmode", "none"],
        );
        warren_testkit::run("ip", &["-n", "red", "link", "set", dev, "up"]);
    }
}

/// `ip -j neigh show ARGS` in red.
fn ip_neigh(args: &[&str]) -> Vec<Value> {
    let mut full = vec!["neigh", "show"];
    full.extend_from_slice(args);
    let v = oracle::ip_json_in("/run/netns/red", &full);
    v.as_array().cloned().unwrap_or_default()
}

fn find<'a>(all: &'a [Value], dst: &str) -> Option<&'a Value> {
    all.iter().find(|n| n["dst"] == dst)
}

/// warren's `-j` output for `neigh show ARGS`, parsed.
fn mine(args: &[&str]) -> Vec<Value> {
    let mut full = vec!["-n", "red", "-j", "neigh", "show"];
    full.extend_from_slice(args);
    let v: Value = serde_json::from_str(&ok(&full)).unwrap();
    v.as_array().cloned().unwrap()
}

/// `ip neigh show` lines without ip's trailing blank.
fn lines(t: &str) -> Vec<String> {
    t.lines().map(|l| l.trim_end().to_owned()).collect()
}

const M2: &str = "02:00:00:00:00:02";
const M3: &str = "02:00:00:00:00:03";
const M4: &str = "02:00:00:00:00:04";

sandbox_test! {
    fn add_replace_show_and_delete_neighbours() {
        lab();
        assert_eq!(ok(&["-n", "red", "neigh", "add", "10.0.0.2", "lladdr", M2, "dev", "v0"]), "");
        ok(&["-n", "red", "neigh", "add", "10.0.0.3", "lladdr", M3, "dev", "v0", "nud", "stale", "router"]);
        ok(&["-n", "red", "neighbour", "add", "fd00::2", "lladdr", M4, "dev", "v1", "router"]);
        ok(&["-n", "red", "neigh", "add", "dev", "v1", "lladdr", M2, "10.0.1.9", "nud", "noarp"]);

        // ip reads back what was added: default state PERMANENT, router flag, NOARP.
        let theirs = ip_neigh(&["nud", "all"]);
        let e = find(&theirs, "10.0.0.2").unwrap_or_else(|| panic!("{theirs:?}"));
        assert_eq!((&e["dev"], &e["lladdr"], &e["state"][0]), (&"v0".into(), &M2.into(), &"PERMANENT".into()), "{e}");
        assert!(e.get("router").is_none(), "{e}");
        let e = find(&theirs, "10.0.0.3").unwrap();
        assert_eq!((&e["lladdr"], &e["state"][0], &e["router"]), (&M3.into(), &"STALE".into(), &Value::Null), "{e}");
        assert!(e.get("router").is_some(), "{e}");
        let e = find(&theirs, "fd00::2").unwrap();
        assert_eq!((&e["dev"], &e["state"][0]), (&"v1".into(), &"PERMANENT".into()), "{e}");
        assert!(e.get("router").is_some(), "{e}");
        assert_eq!(find(&theirs, "10.0.1.9").unwrap()["state"][0], "NOARP");

        // JSON: exactly ip's entries, keys and values (dev left out under `dev IF`, as ip).
        for args in [&[][..], &["dev", "v0"], &["dev", "v1"], &["-4"], &["-6"], &["nud", "all"], &["nud", "noarp"], &["nud", "stale"]] {
            let mut ip_args: Vec<&str> = args.to_vec();
            // ip takes -4/-6 before the command; warren also after it.
            let fam: Vec<&str> = ip_args.iter().copied().filter(|a| a.starts_with('-')).collect();
            ip_args.retain(|a| !a.starts_with('-'));
            let mut full = fam.clone();
            full.extend(["neigh", "show"]);
            full.extend(ip_args.iter().copied());
            let theirs = oracle::ip_json_in("/run/netns/red", &full);
            assert_eq!(Value::Array(mine(args)), theirs, "neigh show {args:?}");
        }
        let mine_all = mine(&[]);
        assert_eq!(mine_all.len(), 3, "NOARP hidden by default: {mine_all:?}");
        let late_j = ok(&["-n", "red", "neigh", "show", "dev", "v0", "-j"]);
        assert_eq!(serde_json::from_str::<Value>(&late_j).unwrap(), Value::Array(mine(&["dev", "v0"])), "-j after the words too");
        let e = find(&mine_all, "10.0.0.3").unwrap();
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "dst, dev, lladdr, router, state: {e}");
        for k in ["dst", "dev", "lladdr", "router", "state"] {
            assert!(e.get(k).is_some(), "{k}: {e}");
        }
        assert!(e["state"].is_array(), "{e}");

        // Human: line for line `ip neigh show`.
        let table = ok(&["-n", "red", "neigh", "show"]);
        assert!(table.lines().any(|l| l == format!("10.0.0.2 dev v0 lladdr {M2} PERMANENT")), "{table}");
        assert!(table.lines().any(|l| l == format!("10.0.0.3 dev v0 lladdr {M3} router STALE")), "{table}");
        assert!(table.lines().any(|l| l == format!("fd00::2 dev v1 lladdr {M4} router PERMANENT")), "{table}");
        for (w, i) in [
            (vec!["neigh"], vec!["neigh"]),
            (vec!["neigh", "show"], vec!["neigh", "show"]),
            (vec!["neigh", "show", "dev", "v0"], vec!["neigh", "show", "dev", "v0"]),
            (vec!["neigh", "show", "-6"], vec!["-6", "neigh", "show"]),
            (vec!["neigh", "show", "-4", "dev", "v1"], vec!["-4", "neigh", "show", "dev", "v1"]),
            (vec!["neigh", "list", "nud", "all"], vec!["neigh", "show", "nud", "all"]),
        ] {
            let mut wa = vec!["-n", "red"];
            wa.extend(w.iter().copied());
            let mut ia = vec!["-n", "red"];
            ia.extend(i.iter().copied());
            let mine = ok(&wa);
            assert_eq!(lines(&mine), lines(&warren_testkit::run("ip", &ia)), "{w:?}");
            assert!(mine.lines().all(|l| l == l.trim_end()), "no trailing blanks: {mine:?}");
        }

        // Replace changes the MAC and state; add again is refused.
        ok(&["-n", "red", "neigh", "replace", "10.0.0.2", "lladdr", M4, "dev", "v0", "nud", "reachable"]);
        let e = find(&ip_neigh(&["dev", "v0"]), "10.0.0.2").cloned().unwrap();
        assert_eq!(e["lladdr"], M4, "{e}");
        assert!(matches!(e["state"][0].as_str(), Some("REACHABLE" | "STALE")), "{e}");
        ok(&["-n", "red", "neigh", "replace", "10.0.1.7", "lladdr", M2, "dev", "v1"]);
        assert_eq!(find(&ip_neigh(&[]), "10.0.1.7").unwrap()["state"][0], "PERMANENT");

        // Delete: gone for ip.
        ok(&["-n", "red", "neigh", "del", "10.0.0.2", "dev", "v0"]);
        ok(&["-n", "red", "neigh", "delete", "fd00::2", "dev", "v1"]);
        ok(&["-n", "red", "neigh", "del", "10.0.1.9", "dev", "v1"]);
        let left = ip_neigh(&["nud", "all"]);
        for gone in ["10.0.0.2", "fd00::2", "10.0.1.9"] {
            assert!(find(&left, gone).is_none(), "{gone}: {left:?}");
        }
        assert!(find(&left, "10.0.0.3").is_some(), "{left:?}");
    }
}

sandbox_test! {
    fn bad_input_gets_one_clear_line_and_leaves_nothing() {
        lab();
        ok(&["-n", "red", "neigh", "add", "10.0.0.2", "lladdr", M2, "dev", "v0"]);
        let before = ip_neigh(&[]);

        let (code, err) = fails(&["-n", "red", "neigh", "add", "10.0.0.256", "lladdr", M3, "dev", "v0"]);
        assert_eq!(code, 1);
        assert_eq!(err, "warren: neigh add: invalid address \"10.0.0.256\": not an IPv4 or IPv6 address\n");
        let (code, err) = fails(&["-n", "red", "neigh", "add", "10.0.0.3", "lladdr", "02:00:00:00:00:zz", "dev", "v0"]);
        assert_eq!(code, 1);
        assert!(err.starts_with("warren: neigh add: invalid MAC address \"02:00:00:00:00:zz\""), "{err}");
        let (code, err) = fails(&["-n", "red", "neigh", "add", "10.0.0.3", "dev", "v0"]);
        assert_eq!(code, 1);
        assert_eq!(err, "warren: neigh add: 10.0.0.3 dev v0: missing \"lladdr MAC\"\n");
        let (code, err) = fails(&["-n", "red", "neigh", "add", "10.0.0.3", "lladdr", M3]);
        assert_eq!(code, 1);
        assert!(err.contains("10.0.0.3: missing \"dev IF\""), "{err}");
        let (code, err) = fails(&["-n", "red", "neigh", "add", "10.0.0.3", "lladdr", M3, "dev", "v0", "nud", "sleepy"]);
        assert_eq!(code, 1);
        assert!(err.contains("invalid neighbour state \"sleepy\""), "{err}");
        let (code, err) = fails(&["-n", "red", "neigh", "frob"]);
        assert_eq!(code, 1);
        assert!(err.contains("neigh: unknown command \"frob\""), "{err}");

        let (code, err) = fails(&["-n", "red", "neigh", "add", "10.0.0.3", "lladdr", M3, "dev", "nope0"]);
        assert_eq!(code, 1);
        assert!(err.contains("\"nope0\" not found (netns red)"), "{err}");
        let (code, err) = fails(&["-n", "red", "neigh", "show", "dev", "nope0"]);
        assert_eq!(code, 1);
        assert!(err.contains("\"nope0\" not found (netns red)"), "{err}");

        // Kernel refusals name the object and the namespace.
        let (code, err) = fails(&["-n", "red", "neigh", "add", "10.0.0.2", "lladdr", M3, "dev", "v0"]);
        assert_eq!(code, 2, "kernel refusal");
        assert!(err.starts_with(&format!("warren: add neighbour 10.0.0.2 lladdr {M3} dev v0 (netns red): ")), "{err}");
        assert!(err.contains("File exists"), "{err}");
        let (code, err) = fails(&["-n", "red", "neigh", "del", "10.0.0.9", "dev", "v0"]);
        assert_eq!(code, 2);
        assert_eq!(err, "warren: delete neighbour 10.0.0.9 dev v0 (netns red): No such file or directory\n");

        assert_eq!(ip_neigh(&[]), before, "nothing half-done");
        let all = ip_neigh(&["nud", "all"]);
        assert!(find(&all, "10.0.0.3").is_none() && find(&all, "10.0.0.9").is_none(), "{all:?}");
        assert_eq!(find(&before, "10.0.0.2").unwrap()["lladdr"], M2);
    }
}
