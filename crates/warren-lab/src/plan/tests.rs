//! Table-driven tests of the planner.

use super::*;
use crate::model::{NodeKind, Shaping};
use crate::sample;

fn lines(p: &Plan) -> Vec<String> {
    p.to_string().lines().map(str::to_owned).collect()
}

type Edit = fn(&mut Lab);

#[test]
fn diffs_read_as_plans() {
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        ("nothing changes", |_| {}, vec![]),
        (
            "a host added on the switch",
            |l| {
                l.nodes.push(sample::node("t", "h9", NodeKind::Host));
                sample::attach(l, "h9", "eth0", &["10.0.1.9/24"], "sw1");
            },
            vec!["+ node h9", "+ link h9:eth0 -- sw1:p2"],
        ),
        (
            "a host removed takes its link along",
            |l| {
                l.nodes.retain(|n| n.name != "h2");
                l.links.pop();
                l.nodes[0].interfaces.pop();
            },
            vec!["- node h2", "- link h2:eth0 -- r:eth2"],
        ),
        (
            "an address changed in place",
            |l| l.nodes[0].interfaces[0].addresses = vec!["10.0.1.254/24".parse().unwrap()],
            vec!["~ node r: address eth1 10.0.1.1/24 → 10.0.1.254/24"],
        ),
        (
            "a route and a sysctl",
            |l| {
                l.nodes[2].routes.clear();
                l.nodes[0]
                    .sysctls
                    .insert("net.ipv4.conf.all.rp_filter".into(), "0".into());
            },
            vec![
                "~ node r: sysctl net.ipv4.conf.all.rp_filter (none) → 0",
                "~ node h1: route 0.0.0.0/0 via 10.0.1.1 → (none)",
            ],
        ),
        (
            "shaping and mtu of a link",
            |l| {
                l.links[2].mtu = Some(9000);
                l.links[2].shaping = Some(Shaping {
                    rate_bps: Some(1_000_000),
                    delay_us: None,
                    loss_percent: None,
                });
            },
            vec![
                "~ link h2:eth0 -- r:eth2: mtu (none) → 9000",
                "~ link h2:eth0 -- r:eth2: shaping (none) → rate 1000000bit",
            ],
        ),
        (
            "a kind change re-creates the node and its links",
            |l| l.nodes[3].kind = NodeKind::Router,
            vec![
                "- link h2:eth0 -- r:eth2",
                "± node h2 (re-created: kind host → router)",
                "+ link h2:eth0 -- r:eth2",
            ],
        ),
        (
            "a kernel name change re-creates the link only",
            |l| l.nodes[3].interfaces[0].ifname = "e0".into(),
            vec!["- link h2:eth0 -- r:eth2", "+ link h2:eth0 -- r:eth2"],
        ),
    ];
    let old = sample::two_lans("t");
    for (what, edit, want) in cases {
        let mut new = old.clone();
        edit(&mut new);
        let p = diff(&old, &new);
        assert_eq!(lines(&p), want, "{what}");
        assert_eq!(p.is_empty(), want.is_empty(), "{what}");
    }
}

#[test]
fn a_build_plan_adds_everything_and_links_are_keyed_by_both_ends() {
    let lab = sample::two_lans("t");
    let p = Plan::build(&lab);
    assert_eq!(p.add_nodes, ["r", "sw1", "h1", "h2"]);
    assert_eq!(p.add_links.len(), 3);
    assert!(p.remove_links.is_empty() && p.change_nodes.is_empty());
    // The same link written the other way round is the same link.
    let mut flipped = lab.clone();
    flipped.links[2].ends.swap(0, 1);
    assert!(diff(&lab, &flipped).is_empty());
    let j = serde_json::to_value(&p).unwrap();
    assert_eq!(j["add_nodes"][0], "r");
}

#[test]
fn the_labs_hosts_file_changes_the_nodes_that_have_it_when_its_text_changes() {
    let with_hosts = |l: &mut Lab| {
        for n in l.nodes.iter_mut().filter(|n| n.name != "sw1") {
            n.files.push(crate::model::File {
                path: "/etc/hosts".into(),
                content: String::new(),
                mode: 0o644,
                lab_hosts: true,
            });
        }
    };
    let mut old = sample::two_lans("t");
    with_hosts(&mut old);
    // A sysctl changes one node only: the hosts text is the same.
    let mut new = old.clone();
    new.nodes[1]
        .sysctls
        .insert("net.ipv4.ip_default_ttl".into(), "9".into());
    let p = diff(&old, &new);
    assert_eq!(p.change_nodes.len(), 1, "{p}");
    assert!(!p.to_string().contains("files"), "{p}");
    // An address changes the text: every node with the file sees it change.
    let mut new = old.clone();
    new.nodes[0].interfaces[0].addresses = vec!["10.0.1.254/24".parse().unwrap()];
    let p = diff(&old, &new);
    let files: Vec<&str> = p
        .change_nodes
        .iter()
        .filter(|c| c.changes.iter().any(|x| x.what == "files"))
        .map(|c| c.name.as_str())
        .collect();
    let mut want: Vec<&str> = old
        .nodes
        .iter()
        .filter(|n| n.name != "sw1")
        .map(|n| n.name.as_str())
        .collect();
    want.sort_unstable();
    let mut files = files;
    files.sort_unstable();
    assert_eq!(files, want, "{p}");
    // The text is made from the lab, once, not stored in each node.
    assert!(
        new.hosts_file().contains("10.0.1.254\tr"),
        "{}",
        new.hosts_file()
    );
}
