//! The nf_tables ruleset read back over netlink and printed in nft's syntax, compared with
//! `nft list ruleset` (the oracle) for a table of typical rules written with `nft`, rules
//! written with `iptables-nft`, and warren's own firewall table. Whitespace is normalised.

use std::process::Command;

use warren_kernel::NetNs;
use warren_kernel::nft::dump::Ruleset;
use warren_kernel::nft::print::{ruleset_text, table_text};
use warren_kernel::nft::{Firewall, NetworkRules, Nft, PortRule, Proto};
use warren_testkit::sandbox_test;

fn have(tool: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok() {
        return true;
    }
    warren_testkit::skip(&format!("{tool} is not installed: no oracle"));
    false
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Whitespace collapsed, so nft's line wrapping of long element lists does not matter.
fn norm(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

fn ruleset() -> Ruleset {
    Nft::new(&NetNs::current().unwrap())
        .unwrap()
        .ruleset()
        .unwrap()
}

fn assert_same(ours: &str, oracle: &str) {
    let (a, b) = (norm(ours), norm(oracle));
    if let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) {
        let at = |v: &[&str]| v[i.saturating_sub(8)..(i + 8).min(v.len())].join(" ");
        panic!(
            "differ at word {i}: ours `{}` / nft `{}`\n--- ours\n{ours}\n--- nft\n{oracle}",
            at(&a),
            at(&b)
        );
    }
}

sandbox_test! {
    fn typical_rules_print_as_nft_lists_them() {
        if !have("nft") {
            return;
        }
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/typical.nft");
        run("nft", &["-f", file]);
        let rs = ruleset();
        assert_eq!(rs.tables.len(), 1);
        assert_same(&ruleset_text(&rs), &run("nft", &["list", "ruleset"]));
    }
}

sandbox_test! {
    fn more_rules_print_as_nft_lists_them() {
        if !have("nft") {
            return;
        }
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/more.nft");
        run("nft", &["-f", file]);
        let rs = ruleset();
        assert_eq!(rs.tables.len(), 3);
        assert_same(&ruleset_text(&rs), &run("nft", &["list", "ruleset"]));
    }
}

sandbox_test! {
    fn iptables_nft_rules_print_as_nft_lists_them() {
        if !have("nft") || !have("iptables-nft") {
            return;
        }
        // Rules iptables-nft writes as native expressions (no xtables match or target).
        for args in [
            "-t nat -N DOCKER",
            "-t nat -A DOCKER -i docker0 -j RETURN",
            "-t nat -A DOCKER ! -i docker0 -p tcp --dport 8080 -j ACCEPT",
            "-A FORWARD -o docker0 -s 172.17.0.0/16 -j ACCEPT",
            "-A FORWARD -i docker0 ! -o docker0 -j ACCEPT",
            "-A FORWARD -p udp --dport 53 -d 10.0.0.0/8 -j DROP",
            "-A INPUT -i lo -j ACCEPT",
            "-P INPUT DROP",
        ] {
            run("iptables-nft", &args.split(' ').collect::<Vec<_>>());
        }
        let rs = ruleset();
        assert_same(&ruleset_text(&rs), &run("nft", &["list", "ruleset"]));
    }
}

sandbox_test! {
    fn warrens_firewall_prints_as_nft_lists_it() {
        if !have("nft") {
            return;
        }
        let nft = Nft::new(&NetNs::current().unwrap()).unwrap();
        let fw = Firewall::new("warren");
        let net = NetworkRules {
            bridge: "wbr0".into(),
            subnets: vec!["10.88.0.0/24".parse().unwrap(), "fd00:88::/64".parse().unwrap()],
            internal: false,
            masquerade: true,
        };
        let ports = [
            PortRule {
                host_ip: None,
                proto: Proto::Tcp,
                host_port: 8080,
                addr: "10.88.0.2".parse().unwrap(),
                port: 80,
            },
            PortRule {
                host_ip: Some("127.0.0.1".parse().unwrap()),
                proto: Proto::Udp,
                host_port: 5353,
                addr: "10.88.0.3".parse().unwrap(),
                port: 53,
            },
        ];
        nft.apply(&fw.rebuild(&[net], &ports).unwrap()).unwrap();
        let t = nft.table(fw.table()).unwrap().expect("table inet warren");
        assert_same(
            &table_text(&t),
            &run("nft", &["list", "table", "inet", "warren"]),
        );
    }
}
