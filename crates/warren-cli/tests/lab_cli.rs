//! `warren lab` end to end: validate, diff, up, status, inspect, a changed file, down; and a
//! crash (SIGKILL at a failpoint) in the middle of `up` that `down` cleans up completely.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use serde_json::Value;
use warren_testkit::{cli::Cli, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

fn write(path: &str, lab: &warren_lab::model::Lab) {
    std::fs::write(path, serde_json::to_string(lab).unwrap()).unwrap();
}

fn netns_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&WARREN.ok(args)).unwrap()
}

sandbox_test! {
    fn a_lab_goes_up_shows_its_state_follows_its_file_and_goes_down() {
        let f = "/run/tl.json";
        let mut lab = warren_lab::sample::two_lans("tl");
        write(f, &lab);
        assert!(WARREN.ok(&["lab", "validate", f]).contains("valid: lab tl (4 nodes, 3 links)"));
        assert!(WARREN.ok(&["lab", "diff", f]).contains("+ node r\n"));
        let out = WARREN.ok(&["lab", "up", f]);
        assert!(out.contains("lab tl: up in"), "{out}");
        assert_eq!(netns_names(), ["tl-h1", "tl-h2", "tl-r", "tl-sw1"]);
        let st = json(&["lab", "status", "-j"]);
        assert_eq!(st[0]["name"], "tl");
        assert_eq!(st[0]["state"], "up");
        assert_eq!(st[0]["nodes"], 4);
        assert_eq!(st[0]["file_state"], "in sync");
        let ins = json(&["lab", "inspect", "tl", "-j"]);
        assert_eq!(ins["nodes"][0]["netns"], "tl-r");
        assert_eq!(ins["nodes"][0]["present"], true);
        assert_eq!(ins["nodes"][0]["interfaces"][0]["addresses"][0], "10.0.1.1/24");
        assert!(WARREN.ok(&["lab", "up", f]).contains("up to date"));

        lab.nodes[0].interfaces[0].addresses = vec!["10.0.1.254/24".parse().unwrap()];
        write(f, &lab);
        assert_eq!(json(&["lab", "status", "tl", "-j"])[0]["file_state"], "file changed");
        let d = WARREN.ok(&["lab", "diff", f]);
        assert_eq!(d, "~ node r: address eth1 10.0.1.1/24 → 10.0.1.254/24\n");
        let dj = json(&["lab", "diff", f, "-j"]);
        assert_eq!(dj["change_nodes"][0]["changes"][0]["to"], "10.0.1.254/24");
        WARREN.ok(&["lab", "up", f]);
        assert!(WARREN.ok(&["lab", "diff", f]).contains("no changes"));

        let out = WARREN.ok(&["lab", "down", f]);
        assert!(out.contains("4 namespaces"), "{out}");
        assert!(netns_names().is_empty());
        assert_eq!(json(&["lab", "status", "-j"]), serde_json::json!([]));
        let (code, err) = WARREN.fails(&["lab", "down", "tl"]);
        assert_eq!((code, err.as_str()), (1, "warren: no lab \"tl\"\n"));
    }
}

sandbox_test! {
    fn an_invalid_file_is_reported_with_file_line_and_column() {
        std::fs::write("/run/bad.json", "{\"name\": \"x\",\n \"nodes\": 3}").unwrap();
        let (code, err) = WARREN.fails(&["lab", "validate", "/run/bad.json"]);
        assert_eq!(code, 1);
        assert!(err.starts_with("warren: /run/bad.json:2:"), "{err}");
        let out = WARREN.output(&["lab", "validate", "/run/bad.json", "-j"]);
        assert_eq!(out.status.code(), Some(1));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["valid"], false);
        let (_, err) = WARREN.fails(&["lab", "up", "/run/nosuch.json"]);
        assert!(err.contains("/run/nosuch.json"), "{err}");
    }
}

sandbox_test! {
    fn down_after_a_crash_in_the_middle_of_up_leaves_nothing() {
        let f = "/run/nat.json";
        write(f, &warren_lab::sample::nat("cr", "wl-cr-up0"));
        for point in ["lab-after-netns", "lab-after-links", "lab-after-host"] {
            let st = Command::new(env!("CARGO_BIN_EXE_warren"))
                .args(["lab", "up", f])
                .env("WARREN_FAILPOINT", point)
                .status()
                .unwrap();
            assert_eq!(st.signal(), Some(9), "{point}: killed at the failpoint");
            assert!(!netns_names().is_empty(), "{point}: the crash left namespaces");
            // A second up refuses until the lab is taken down.
            let (_, err) = WARREN.fails(&["lab", "up", f]);
            assert!(err.contains("interrupted"), "{point}: {err}");
            WARREN.ok(&["lab", "down", "cr"]);
            assert!(netns_names().is_empty(), "{point}: {:?}", netns_names());
            assert!(warren_testkit::oracle::ip_json(&["link", "show"]).to_string().find("wl-cr-up0").is_none(), "{point}");
            let tables = warren_testkit::run("nft", &["-j", "list", "tables"]);
            assert!(!tables.contains("warren-lab"), "{point}: {tables}");
        }
        // And a clean up/down after all that.
        WARREN.ok(&["lab", "up", f]);
        WARREN.ok(&["lab", "down", f]);
        assert!(netns_names().is_empty());
    }
}
