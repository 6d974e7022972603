//! `warren route` end to end: the binary adds, replaces, shows, looks up and deletes routes
//! inside a namespace; `ip -j route` reads them back key by key; bad input gets one clear line
//! and a non-zero exit.

use serde_json::Value;
use warren_testkit::{cli::Cli, oracle, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

fn ok(args: &[&str]) -> String {
    WARREN.ok(args)
}

fn fails(args: &[&str]) -> (i32, String) {
    WARREN.fails(args)
}

/// `warren -n red ARGS`.
fn red(args: &[&str]) -> String {
    let mut full = vec!["-n", "red"];
    full.extend_from_slice(args);
    ok(&full)
}

fn red_json(args: &[&str]) -> Value {
    let mut full = vec!["-n", "red", "-j"];
    full.extend_from_slice(args);
    serde_json::from_str(&ok(&full)).unwrap()
}

fn ip(args: &[&str]) -> Value {
    oracle::ip_json_in("/run/netns/red", args)
}

/// Namespace `red`: veth v0/v1 (both here, up), 10.0.0.1/24 + fd00::1/64 on v0, 10.0.1.1/24
/// on v1. (The pair is made with `ip`, so a failure here is about routes alone.)
fn lab() {
    ok(&["ns", "add", "--lo-up", "red"]);
    warren_testkit::run(
        "ip",
        &[
            "-n", "red", "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ],
    );
    red(&["addr", "add", "10.0.0.1/24", "dev", "v0"]);
    red(&["addr", "add", "fd00::1/64", "dev", "v0", "nodad"]);
    red(&["addr", "add", "10.0.1.1/24", "dev", "v1"]);
    warren_testkit::run("ip", &["-n", "red", "link", "set", "v0", "up"]);
    warren_testkit::run("ip", &["-n", "red", "link", "set", "v1", "up"]);
}

/// Our JSON route against ip's, key by key (ip leaves out defaults: boot, global, unicast).
fn assert_same(m: &Value, t: &Value) {
    for key in [
        "dst", "gateway", "dev", "metric", "prefsrc", "flags", "pref",
    ] {
        assert_eq!(m.get(key), t.get(key), "{key}: {m} vs {t}");
    }
    assert_eq!(
        m["protocol"],
        t.get("protocol").cloned().unwrap_or("boot".into()),
        "{m} vs {t}"
    );
    assert_eq!(
        m["scope"],
        t.get("scope").cloned().unwrap_or("global".into()),
        "{m} vs {t}"
    );
    assert_eq!(
        m["type"],
        t.get("type").cloned().unwrap_or("unicast".into()),
        "{m} vs {t}"
    );
    let (mn, tn) = (m["nexthops"].as_array(), t["nexthops"].as_array());
    assert_eq!(mn.map(Vec::len), tn.map(Vec::len), "{m} vs {t}");
    for (a, b) in mn.into_iter().flatten().zip(tn.into_iter().flatten()) {
        for key in ["gateway", "dev", "weight"] {
            assert_eq!(a.get(key), b.get(key), "nexthop {key}: {m} vs {t}");
        }
    }
}

fn assert_all_same(mine: &Value, theirs: &Value) {
    let (m, t) = (mine.as_array().unwrap(), theirs.as_array().unwrap());
    assert_eq!(m.len(), t.len(), "{mine}\nvs\n{theirs}");
    for (a, b) in m.iter().zip(t) {
        assert_same(a, b);
    }
}

sandbox_test! {
    fn routes_of_every_kind_read_back_like_ip() {
        lab();
        red(&["route", "add", "default", "via", "10.0.0.254"]);
        red(&["route", "add", "10.2.0.0/16", "dev", "v1"]);
        red(&["route", "add", "10.3.0.0/16", "via", "10.0.1.254", "metric", "50"]);
        red(&["route", "add", "10.7.0.9", "dev", "v0", "src", "10.0.0.1", "proto", "static"]);
        red(&["route", "add", "blackhole", "10.6.0.0/16"]);
        red(&["route", "add", "unreachable", "10.8.0.0/16"]);
        red(&["route", "add", "prohibit", "10.9.0.0/16"]);
        red(&["route", "add", "10.5.0.0/24", "nexthop", "via", "10.0.0.254", "dev", "v0", "weight", "1",
              "nexthop", "via", "10.0.1.254", "dev", "v1", "weight", "3"]);
        red(&["route", "add", "default", "via", "fd00::fe", "dev", "v0"]);
        red(&["route", "add", "10.4.0.0/16", "via", "10.0.0.254", "table", "100"]);
        red(&["route", "add", "10.60.0.0/16", "via", "169.254.1.1", "dev", "v0", "onlink"]);
        red(&["route", "add", "10.61.0.0/16", "via", "10.0.0.254", "mtu", "1450", "metric", "9"]);

        assert_all_same(&red_json(&["route", "show"]), &ip(&["route", "show"]));
        assert_all_same(&red_json(&["route"]), &ip(&["route", "show"]));
        let late_j: Value = serde_json::from_str(&red(&["route", "show", "-j"])).unwrap();
        assert_all_same(&late_j, &ip(&["route", "show"]));
        assert_all_same(&red_json(&["route", "show", "-6"]), &ip(&["-6", "route", "show"]));
        assert_all_same(&red_json(&["route", "show", "table", "100"]), &ip(&["route", "show", "table", "100"]));
        let all = red_json(&["route", "show", "table", "all"]);
        assert_all_same(&all, &ip(&["-4", "route", "show", "table", "all"]));
        assert!(all.as_array().unwrap().iter().any(|r| r["table"] == "100" && r["dst"] == "10.4.0.0/16"));

        // Human lines read like ip's.
        let text = red(&["route", "show"]);
        for line in [
            "default via 10.0.0.254 dev v0",
            "10.3.0.0/16 via 10.0.1.254 dev v1 metric 50",
            "blackhole 10.6.0.0/16",
            "10.7.0.9 dev v0 proto static scope link src 10.0.0.1",
            "\tnexthop via 10.0.1.254 dev v1 weight 3",
            "10.60.0.0/16 via 169.254.1.1 dev v0 onlink",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }

        // Selectors: an exact prefix, default, a device (ip leaves the selected keys out of its
        // JSON, so compare destinations).
        let dsts = |v: &Value| -> Vec<String> {
            v.as_array().unwrap().iter().map(|r| r["dst"].as_str().unwrap().to_owned()).collect()
        };
        for sel in [vec!["10.3.0.0/16"], vec!["default"], vec!["dev", "v1"], vec!["-6", "default"]] {
            let mut args = vec!["route", "show"];
            args.extend(&sel);
            let mut ip_args: Vec<&str> = if sel[0] == "-6" { vec!["-6"] } else { vec![] };
            ip_args.extend(["route", "show"]);
            ip_args.extend(sel.iter().filter(|w| **w != "-6"));
            let (m, t) = (dsts(&red_json(&args)), dsts(&ip(&ip_args)));
            assert!(!m.is_empty(), "{sel:?}");
            assert_eq!(m, t, "{sel:?}");
        }

        // Line for line what `ip route show` prints (but for trailing blanks).
        let ip_text = warren_testkit::run("ip", &["-n", "red", "route", "show"]);
        let trimmed = |t: &str| t.lines().map(|l| l.trim_end().to_owned()).collect::<Vec<_>>();
        assert_eq!(trimmed(&text), trimmed(&ip_text));
        red(&["route", "add", "fd09::/64", "dev", "v0", "pref", "high", "metric", "7"]);
        let text6 = red(&["route", "show", "-6"]);
        let ip_text6 = warren_testkit::run("ip", &["-n", "red", "-6", "route", "show"]);
        assert_eq!(trimmed(&text6), trimmed(&ip_text6));
        assert!(text6.lines().any(|l| l == "fd09::/64 dev v0 metric 7 pref high"), "{text6}");

        // replace, then delete.
        red(&["route", "replace", "10.3.0.0/16", "via", "10.0.0.254", "metric", "50"]);
        let r = ip(&["route", "show", "10.3.0.0/16"]);
        assert_eq!((r[0]["gateway"].as_str(), r.as_array().unwrap().len()), (Some("10.0.0.254"), 1));
        red(&["route", "del", "10.3.0.0/16"]);
        red(&["route", "del", "blackhole", "10.6.0.0/16"]);
        red(&["route", "del", "10.4.0.0/16", "table", "100"]);
        red(&["route", "del", "default", "via", "fd00::fe"]);
        for (args, dst) in [(vec!["route", "show"], "10.3.0.0/16"), (vec!["route", "show"], "10.6.0.0/16"),
                            (vec!["route", "show", "table", "100"], "10.4.0.0/16"), (vec!["-6", "route", "show"], "default")] {
            assert!(ip(&args).as_array().unwrap().iter().all(|r| r["dst"] != dst), "{dst} still there");
        }
    }
}

sandbox_test! {
    fn route_get_agrees_with_ip() {
        lab();
        red(&["route", "add", "default", "via", "10.0.0.254"]);
        red(&["route", "add", "10.2.0.0/16", "dev", "v1"]);
        for q in [
            vec!["8.8.8.8"],
            vec!["10.2.3.4"],
            vec!["10.0.1.7"],
            vec!["8.8.8.8", "from", "10.0.1.1"],
            vec!["10.0.1.9", "oif", "v0"],
        ] {
            let mut mine_args = vec!["route", "get"];
            mine_args.extend(&q);
            let mine = red_json(&mine_args);
            let theirs = ip(&mine_args);
            for key in ["dst", "gateway", "dev", "prefsrc"] {
                assert_eq!(mine[0].get(key), theirs[0].get(key), "{q:?} {key}: {mine} vs {theirs}");
            }
        }
        assert_eq!(red(&["route", "get", "8.8.8.8"]), "8.8.8.8 via 10.0.0.254 dev v0 src 10.0.0.1\n");
    }
}

sandbox_test! {
    fn bad_input_gets_one_clear_line_and_changes_nothing() {
        lab();
        let before = ip(&["route", "show", "table", "all"]);
        let cases: [(&[&str], i32, &str); 9] = [
            (&["route", "add", "10.1.0.0/24", "via", "10.99.0.254"], 2,
             "warren: add route 10.1.0.0/24 via 10.99.0.254 (netns red): Nexthop has invalid gateway (Network is unreachable)\n"),
            (&["route", "del", "10.77.0.0/16"], 2,
             "warren: delete route 10.77.0.0/16 (netns red): No such process\n"),
            (&["route", "add", "10.1.0.0/33", "dev", "v0"], 1,
             "warren: route add: invalid prefix \"10.1.0.0/33\": prefix length 33 is longer than 32\n"),
            (&["route", "add", "fd00::/129", "dev", "v0"], 1,
             "warren: route add: invalid prefix \"fd00::/129\": prefix length 129 is longer than 128\n"),
            (&["route", "add", "10.1.0.0/24", "dev", "nope0"], 1,
             "warren: link \"nope0\" not found (netns red)\n"),
            (&["route", "add", "default", "via", "10.0.0.254", "metric", "many"], 1,
             "warren: route add: invalid metric \"many\"\n"),
            (&["route", "add", "-6", "default", "via", "10.0.0.254"], 1,
             "warren: invalid route \"default (IPv6) via 10.0.0.254\": gateway 10.0.0.254 is IPv4 on an IPv6 route\n"),
            (&["route", "get", "10.0.0.1.1"], 1,
             "warren: route get: \"10.0.0.1.1\" is not an IPv4 or IPv6 address\n"),
            (&["route", "frob"], 1,
             "warren: route: unknown command \"frob\" (expected add, replace, del, show or get)\n"),
        ];
        for (args, code, want) in cases {
            let mut full = vec!["-n", "red"];
            full.extend_from_slice(args);
            let (got_code, err) = fails(&full);
            assert_eq!(err, want, "{args:?}");
            assert_eq!(got_code, code, "{args:?}: {err}");
        }
        assert_eq!(ip(&["route", "show", "table", "all"]), before, "nothing half-done");

        // No route at all: the kernel's errno, named.
        ok(&["ns", "add", "empty"]);
        let (code, err) = fails(&["-n", "empty", "route", "get", "192.0.2.1"]);
        assert_eq!(code, 2);
        assert_eq!(err, "warren: look up route to 192.0.2.1 (netns empty): Network is unreachable\n");
    }
}
