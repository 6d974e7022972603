//! `warren trace` from the command line: the router example wired with `warren` commands,
//! traced in text and JSON, with exit status 0 when the packet reaches and 3 when it stops,
//! and one-line errors for bad words.
//!
//! ```text
//! lan-a eth0 10.0.1.2 -- to-a | router 10.0.1.1 / 10.0.2.1 | to-b -- eth0 10.0.2.2 lan-b
//! ```

use warren_testkit::{cli::Cli, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

fn ok(args: &[&str]) -> String {
    WARREN.ok(args)
}

fn wire() {
    ok(&["ns", "add", "--lo-up", "lan-a", "router", "lan-b"]);
    for (name, peer) in [("to-a", "lan-a"), ("to-b", "lan-b")] {
        ok(&[
            "-n", "router", "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns",
            peer,
        ]);
        ok(&["-n", "router", "link", "set", name, "up"]);
        ok(&["-n", peer, "link", "set", "eth0", "up"]);
    }
    ok(&["-n", "router", "addr", "add", "10.0.1.1/24", "dev", "to-a"]);
    ok(&["-n", "router", "addr", "add", "10.0.2.1/24", "dev", "to-b"]);
    ok(&["-n", "router", "sysctl", "net.ipv4.ip_forward=1"]);
    for (ns, net) in [("lan-a", "10.0.1"), ("lan-b", "10.0.2")] {
        let addr = format!("{net}.2/24");
        let gw = format!("{net}.1");
        ok(&["-n", ns, "addr", "add", &addr, "dev", "eth0"]);
        ok(&["-n", ns, "route", "add", "default", "via", &gw]);
    }
}

sandbox_test! {
    fn trace_prints_hops_and_verdict_and_exits_by_it() {
        wire();
        let text = ok(&["trace", "lan-a", "lan-b:80", "--probe"]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "trace lan-a (10.0.1.2) -> 10.0.2.2:80 tcp, 1500 bytes DF", "{text}");
        assert!(lines[1].starts_with(" 1  lan-a   - -> eth0  [10.0.2.2 via 10.0.1.1 dev eth0 src 10.0.1.2]"), "{text}");
        assert!(lines.iter().any(|l| l.starts_with(" 2  router  to-a -> to-b")), "{text}");
        assert!(lines.iter().any(|l| l.starts_with(" 3  lan-b   eth0 -> -")), "{text}");
        assert!(text.contains("\nreaches lan-b\n"), "{text}");
        assert!(text.ends_with("probe: reached (TCP SYN to 10.0.2.2:80: RST (port closed))\n"), "{text}");

        let json: serde_json::Value = serde_json::from_str(&ok(&["-j", "trace", "lan-b", "10.0.1.2"])).unwrap();
        assert_eq!(json["verdict"]["verdict"], "reaches");
        assert_eq!(json["hops"][1]["ns"], "router");
        assert_eq!(json["hops"][1]["iif"], "to-b");

        ok(&["-n", "router", "sysctl", "net.ipv4.ip_forward=0"]);
        let out = WARREN.output(&["trace", "lan-a", "lan-b"]);
        assert_eq!(out.status.code(), Some(3));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("stops at hop 2: forwarding is off on to-a (net.ipv4.conf.to-a.forwarding=0)"),
            "{text}"
        );

        let (code, err) = WARREN.fails(&["trace", "lan-a", "lan-b:http"]);
        assert_eq!(code, 1);
        assert_eq!(err, "warren: invalid DST 'lan-b:http': the port must be 1-65535\n");
        let (_, err) = WARREN.fails(&["trace", "nowhere", "lan-b"]);
        assert!(err.starts_with("warren: SRC 'nowhere' not found"), "{err}");
    }
}

sandbox_test! {
    fn pods_by_name_through_the_host_bridge_and_warrens_isolation() {
        ok(&["network", "create", "one"]);
        ok(&["network", "create", "two"]);
        ok(&["pod", "create", "a", "--net", "one"]);
        ok(&["pod", "create", "a2", "--net", "one"]);
        ok(&["pod", "create", "b", "--net", "two"]);
        let json: serde_json::Value =
            serde_json::from_str(&ok(&["-j", "trace", "a", "a2:80", "--probe"])).unwrap();
        assert_eq!(json["verdict"]["verdict"], "reaches", "{json:#}");
        assert_eq!(json["probe"]["reached"], true, "{json:#}");
        let a_label = json["src_ns"].as_str().unwrap();
        assert!(a_label.starts_with("a (warren-"), "{a_label}");
        // Same network: bridged in the host, no routed hop.
        assert_eq!(json["hops"].as_array().unwrap().len(), 2, "{json:#}");
        let l2 = json["hops"][0]["link"].to_string();
        assert!(l2.contains("bridge wbr") && l2.contains(" in host: port "), "{json:#}");
        // Networks are isolated by warren's own forward chain: the rule is named.
        let out = WARREN.output(&["trace", "a", "b:80", "--probe"]);
        assert_eq!(out.status.code(), Some(3));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("stops at hop 2: firewall drop by rule: table inet warren chain forward handle ")
                && text.contains(": iifname @bridges oifname @bridges drop"),
            "{text}"
        );
        assert!(text.contains("probe: lost: last seen at hop 2 (host)"), "{text}");
    }
}
