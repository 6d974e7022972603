//! `warren lab` end to end: validate, diff, up, status, inspect, a changed file, down; and a
//! crash (SIGKILL at a failpoint) in the middle of `up` that `down` cleans up completely.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use serde_json::Value;
use warren_testkit::{cli::Cli, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

const TWO_LANS: &str = "name: tl
nodes:
  r:
    kind: router
    interfaces:
      eth1: { addresses: [10.0.1.1/24] }
  sw1: { kind: switch }
  h1: {}
  h2: {}
links:
  - [r:eth1, sw1]
  - [h1:eth0, sw1]
  - [r:eth2, h2:eth0]
";

const NAT: &str = "name: cr
nodes:
  out: { kind: nat }
  h: {}
links:
  - [h:eth0, out:eth1]
";

fn host_links() -> Vec<String> {
    let v = warren_testkit::oracle::ip_json(&["link", "show"]);
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
        .collect()
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
        let f = "/run/tl.yaml";
        std::fs::write(f, TWO_LANS).unwrap();
        assert!(WARREN.ok(&["lab", "validate", f]).contains("valid: lab tl (4 nodes, 3 links)"));
        assert!(WARREN.ok(&["lab", "diff", f]).contains("+ node r\n"));
        let out = WARREN.ok(&["lab", "up", f]);
        assert!(out.contains("lab tl: up in"), "{out}");
        assert_eq!(netns_names(), ["tl-h1", "tl-h2", "tl-r", "tl-sw1"]);
        // The lab's /etc/hosts is one file, linked into each node that has it.
        use std::os::unix::fs::MetadataExt;
        let hosts = |n: &str| std::fs::metadata(format!("/run/warren/labs/tl/{n}/etc/hosts")).unwrap();
        assert_eq!(hosts("h1").ino(), hosts("h2").ino());
        assert_eq!(hosts("h1").ino(), hosts("r").ino());
        let text = std::fs::read_to_string("/run/warren/labs/tl/h1/etc/hosts").unwrap();
        assert!(text.contains("\th2 h2-eth0\n") && text.contains("\tr\n"), "{text}");
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

        std::fs::write(f, TWO_LANS.replace("10.0.1.1/24", "10.0.1.254/24")).unwrap();
        assert_eq!(json(&["lab", "status", "tl", "-j"])[0]["file_state"], "file changed");
        let d = WARREN.ok(&["lab", "diff", f]);
        // r's new address, and what follows from it: h1's automatic address and gateway,
        // the generated /etc/hosts files.
        assert!(d.starts_with("~ node r: address eth1 10.0.1.1/24 → 10.0.1.254/24\n"), "{d}");
        assert!(d.contains("~ node h1: route (none) → 0.0.0.0/0 via 10.0.1.254\n"), "{d}");
        assert!(d.lines().all(|l| l.starts_with("~ ")), "only changes in place: {d}");
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
        std::fs::write("/run/bad.yaml", "name: x\nnodes:\n  a: { kind: rooter }\n").unwrap();
        let (code, err) = WARREN.fails(&["lab", "validate", "/run/bad.yaml"]);
        assert_eq!(code, 1);
        assert!(err.starts_with("warren: /run/bad.yaml:3:"), "{err}");
        let out = WARREN.output(&["lab", "validate", "/run/bad.yaml", "-j"]);
        assert_eq!(out.status.code(), Some(1));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["valid"], false);
        let (_, err) = WARREN.fails(&["lab", "up", "/run/nosuch.yaml"]);
        assert!(err.contains("/run/nosuch.yaml"), "{err}");
    }
}

sandbox_test! {
    fn down_after_a_crash_in_the_middle_of_up_leaves_nothing() {
        let f = "/run/nat.yaml";
        std::fs::write(f, NAT).unwrap();
        let before = host_links();
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
            assert_eq!(host_links(), before, "{point}");
            let tables = warren_testkit::run("nft", &["-j", "list", "tables"]);
            assert!(!tables.contains("warren-lab"), "{point}: {tables}");
        }
        // And a clean up/down after all that.
        WARREN.ok(&["lab", "up", f]);
        assert_eq!(host_links().len(), before.len() + 1, "the uplink's host end");
        WARREN.ok(&["lab", "down", f]);
        assert!(netns_names().is_empty());
        assert_eq!(host_links(), before);
    }
}

sandbox_test! {
    fn a_nat_lab_keeps_the_hosts_forwarding_when_the_last_network_goes() {
        let fwd = || std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap().trim().to_owned();
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").unwrap();
        let f = "/run/cr.yaml";
        std::fs::write(f, NAT).unwrap();
        WARREN.ok(&["lab", "up", f]);
        assert_eq!(fwd(), "1", "the NAT lab turned forwarding on");
        WARREN.ok(&["network", "create", "front"]);
        WARREN.ok(&["pod", "create", "p", "--net", "front"]);
        WARREN.ok(&["pod", "rm", "p"]);
        WARREN.ok(&["network", "rm", "front"]);
        assert_eq!(fwd(), "1", "the lab still needs it");
        WARREN.ok(&["lab", "down", "cr"]);
        assert_eq!(fwd(), "0", "the value from before, once nothing needs forwarding");
    }
}
