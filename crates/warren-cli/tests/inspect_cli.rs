//! `warren inspect` through the CLI: a detached container running `sleep` (an image with no
//! tools at all would do the same: nothing runs inside) inspected by name, in text and JSON.

use serde_json::Value;
use warren_kernel::Handle;
use warren_testkit::cli::Cli;
use warren_testkit::sandbox_test;

const W: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

sandbox_test! {
    fn a_container_without_tools_is_inspected_by_name() {
        Handle::current().unwrap().link_set_up("lo").unwrap();
        W.ok(&["run", "-d", "--name", "quiet", "-p", "8080:80", "--", "sleep", "30"]);
        let v: Value = serde_json::from_str(&W.ok(&["inspect", "quiet", "-j"])).unwrap();
        assert_eq!(v["target"]["kind"], "container");
        assert_eq!(v["target"]["name"], "quiet");
        let links = v["links"].as_array().unwrap();
        let eth0 = links.iter().find(|l| l["name"] == "eth0").expect("eth0");
        assert_eq!(eth0["kind"], "veth");
        let peer = &eth0["peer"];
        assert!(peer["name"].as_str().unwrap().starts_with("wv"), "{peer}");
        assert!(peer["netns"].is_string(), "the host side's namespace is found: {peer}");
        let addrs = v["addrs"].as_array().unwrap();
        assert!(addrs.iter().any(|a| a["dev"] == "eth0"
            && a["local"].as_str().unwrap().starts_with("10.88.0.")), "{addrs:?}");
        let routes = v["routes"].as_array().unwrap();
        assert!(routes.iter().any(|r| r["dst"] == "default" && r["gateway"] == "10.88.0.1"));
        assert!(v["sockets"].is_array() && v["conntrack"].is_array() && v["sysctls"].is_array());

        // The host's side: warren's own table with the published port, in nft's syntax.
        let host: Value = serde_json::from_str(&W.ok(&["inspect", "-j", "--section", "nft,links"])).unwrap();
        let text = host["nft"]["text"].as_str().unwrap();
        assert!(text.contains("table inet warren {"), "{text}");
        assert!(text.contains("tcp . 8080 : 10.88.0."), "{text}");
        assert!(host["nft"]["tables"].as_array().unwrap().iter().any(|t| t["warren"] == true));
        assert!(host.get("routes").is_none());

        let out = W.ok(&["inspect", "quiet"]);
        assert!(out.starts_with("container quiet ("), "{out}");
        for title in ["== links ==", "== addresses ==", "== routes ==", "== sockets ==", "== nftables =="] {
            assert!(out.contains(title), "{title} in {out}");
        }
        let (code, err) = W.fails(&["inspect", "nosuch"]);
        assert_eq!(code, 1);
        assert!(err.contains("\"nosuch\""), "{err}");
        let (_, err) = W.fails(&["inspect", "quiet", "--section", "links,bogus"]);
        assert!(err.contains("\"bogus\""), "{err}");
        W.ok(&["rm", "-f", "quiet"]);
    }
}
