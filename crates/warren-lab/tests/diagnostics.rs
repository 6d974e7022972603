//! Every kind of diagnostic, with its exact file, line, column, field and message.

mod common;

/// Loads `input` as `lab.yaml` and compares its errors (one per line) with `expected`.
#[track_caller]
fn check(input: &str, expected: &[&str]) {
    let got = common::errors(input);
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got, expected, "input:\n{input}");
}

#[test]
fn unknown_fields_name_the_allowed_ones() {
    check(
        "name: a\nnodes: {h1: {}}\ncolour: red\n",
        &[
            "lab.yaml:3:1: colour: unknown field \"colour\" (allowed: name, pools, defaults, groups, nodes, links)",
        ],
    );
    check(
        "name: a\nnodes:\n  h1: { kidn: router }\n",
        &[
            "lab.yaml:3:9: nodes.h1.kidn: unknown field \"kidn\" (allowed: kind, group, loopback, gateway, interfaces, routes, sysctls, env, files, hosts, exec, daemons, after)",
        ],
    );
    check(
        "name: a\nnodes:\n  h1:\n    interfaces:\n      eth0: { address: [10.0.0.1/24] }\n  h2: {}\nlinks: [[h1:eth0, h2:eth0]]\n",
        &[
            "lab.yaml:5:15: nodes.h1.interfaces.eth0.address: unknown field \"address\" (allowed: addresses, mtu, mac)",
        ],
    );
}

#[test]
fn missing_fields_and_wrong_types() {
    check(
        "links: []\n",
        &[
            "lab.yaml:1:1: nodes: missing: a lab needs nodes",
            "lab.yaml:1:1: name: missing: every lab has a name",
        ],
    );
    check(
        "name: a\nnodes:\n  h1: { hosts: maybe, exec: 3, after: r1, interfaces: [eth0] }\n",
        &[
            "lab.yaml:3:16: nodes.h1.hosts: expected true or false",
            "lab.yaml:3:29: nodes.h1.exec: expected a list, found a scalar",
            "lab.yaml:3:39: nodes.h1.after: expected a list, found a scalar",
            "lab.yaml:3:55: nodes.h1.interfaces: expected a map, found a list",
        ],
    );
    check(
        "- just\n- a list\n",
        &["lab.yaml:1:1: (document): expected a map, found a list"],
    );
}

#[test]
fn kinds_and_names() {
    check(
        "name: a\nnodes:\n  h1: { kind: firewall }\n",
        &[
            "lab.yaml:3:15: nodes.h1.kind: unknown kind \"firewall\" (allowed: host, router, switch, nat)",
        ],
    );
    check(
        "name: My_Lab\nnodes: {h1: {}}\n",
        &[
            "lab.yaml:1:7: name: lab name \"My_Lab\" must match [a-z0-9][a-z0-9-]* and be at most 16 bytes",
        ],
    );
    check(
        "name: a\nnodes:\n  host: {}\n  \"a.b\": {}\n",
        &[
            "lab.yaml:3:3: nodes.host: \"host\" is reserved (it names the host or a macvlan in links)",
            "lab.yaml:4:3: nodes.a.b: name \"a.b\" must match [A-Za-z0-9][A-Za-z0-9_-]* and be at most 40 bytes",
        ],
    );
    check(
        "name: a\nnodes:\n  h1: {}\n  h1: {}\n",
        &["lab.yaml:4:3: nodes.h1: duplicate key (first at line 3, column 3)"],
    );
    check(
        "name: a\nnodes:\n  h1: { env: { A: \"1\", A: \"2\" } }\n",
        &["lab.yaml:3:24: nodes.h1.env.A: duplicate key (first at line 3, column 16)"],
    );
}

#[test]
fn link_ends() {
    check(
        "name: a\nnodes: {h1: {}}\nlinks:\n  - [h1:eth0, h9:eth0]\n",
        &["lab.yaml:4:15: links[0][1]: unknown node \"h9\""],
    );
    check(
        "name: a\nnodes: {h1: {}, h2: {}}\nlinks:\n  - [h1, h2:eth0]\n",
        &["lab.yaml:4:6: links[0][0]: h1 is a host: name its interface (h1:eth1)"],
    );
    check(
        "name: a\nnodes: {h1: {}, h2: {}, h3: {}}\nlinks:\n  - [h1:eth0, h2:eth0]\n  - [h1:eth0, h3:eth0]\n",
        &["lab.yaml:5:6: links[1][0]: duplicate endpoint h1:eth0 (first at line 4, column 6)"],
    );
    check(
        "name: a\nnodes: {h1: {}, h2: {}, sw: {kind: switch}}\nlinks:\n  - { endpoints: [h1:eth0, h2:eth0], mode: bridge }\n  - [sw, sw]\n  - [host:br0, macvlan:eth0]\n  - [h1:eth1]\n",
        &[
            "lab.yaml:4:44: links[0].mode: `mode` applies to macvlan links only",
            "lab.yaml:5:5: links[1]: a switch linked to itself (a loop)",
            "lab.yaml:6:5: links[2]: a link needs a node at one end at least",
            "lab.yaml:6:5: links[2]: a macvlan goes into a host, router or NAT node, not a switch",
            "lab.yaml:7:5: links[3]: a link has two endpoints, not 1",
        ],
    );
    check(
        "name: a\nnodes:\n  h1: { interfaces: { eth3: { mtu: 9000 } } }\n",
        &["lab.yaml:3:23: nodes.h1.interfaces.eth3: interface \"eth3\" is an end of no link"],
    );
}

#[test]
fn addresses() {
    check(
        "name: a\nnodes:\n  h1: { interfaces: { eth0: { addresses: [192.168.1.1/24] } } }\n  h2: {}\nlinks: [[h1:eth0, h2:eth0]]\n",
        &[
            "lab.yaml:3:43: nodes.h1.interfaces.eth0.addresses[0]: address 192.168.1.1/24 is outside its pool 10.0.0.0/16 (pools.lan)",
        ],
    );
    check(
        "name: a\nnodes:\n  r1: { kind: router }\n  r2: { kind: router }\nlinks:\n  - endpoints: [r1:eth1, r2:eth1]\n    addresses: [10.255.9.0/31, 10.255.9.0/31]\n",
        &[
            "lab.yaml:7:32: links[0].addresses[1]: address 10.255.9.0 is already links[0].addresses[0]'s (line 7, column 17)",
        ],
    );
    check(
        "name: a\nnodes:\n  r1: { kind: router, loopback: 192.0.2.1 }\n",
        &[
            "lab.yaml:3:33: nodes.r1.loopback: address 192.0.2.1 is outside its pool 10.254.0.0/16 (pools.loopback)",
        ],
    );
    check(
        "name: a\npools: { lan: 10.0.0.1/16, p2p_prefix: 29, loopback: 10.0.0.0/24 }\nnodes: {h1: {}}\n",
        &[
            "lab.yaml:2:15: pools.lan: 10.0.0.1/16 has host bits set (the pool is 10.0.0.0/16)",
            "lab.yaml:2:40: pools.p2p_prefix: 29 is out of range (30 to 31)",
            "lab.yaml:2:54: pools.loopback: pool 10.0.0.0/24 overlaps pools.lan (10.0.0.0/16)",
        ],
    );
    check(
        "name: a\npools: { lan: 10.0.0.0/30, lan_prefix: 30 }\nnodes: {sw: {kind: switch}, h1: {}, h2: {}, h3: {}}\nlinks: [[h1:e, sw], [h2:e, sw], [h3:e, sw]]\n",
        &[
            "lab.yaml:4:33: links[2]: 3 interfaces on one segment: more than its subnet 10.0.0.0/30 holds",
        ],
    );
}

#[test]
fn name_clashes() {
    let long = "a-very-long-interface-name-1";
    let short = warren_lab::names::short(long, "h1");
    check(
        &format!(
            "name: a\nnodes: {{h1: {{}}, h2: {{}}, h3: {{}}}}\nlinks:\n  - [h1:{long}, h2:eth0]\n  - [h1:{short}, h3:eth0]\n"
        ),
        &[&format!(
            "lab.yaml:5:5: links[1]: interface \"{short}\" of h1 gets the kernel name \"{short}\", as \"{long}\" does: rename one"
        )],
    );
    check(
        "name: a\nnodes: {n: {kind: nat}, h: {}}\nlinks: [[n:uplink, h:eth0]]\n",
        &[
            "lab.yaml:3:9: links[0]: n is a NAT node: its interface \"uplink\" is its uplink to the host",
        ],
    );
    check(
        "name: a\nnodes:\n  n: { kind: nat, interfaces: { uplink: { addresses: [100.64.9.1/30] } } }\n",
        &[
            "lab.yaml:3:55: nodes.n.interfaces.uplink.addresses[0]: a NAT uplink's addresses come from pools.uplink",
        ],
    );
}

#[test]
fn cycles() {
    check(
        "name: a\nnodes:\n  h1: { after: [h2] }\n  h2: { after: [h3] }\n  h3: { after: [h1] }\n",
        &["lab.yaml:3:16: nodes.h1.after: cycle in startup order: h1 after h2 after h3 after h1"],
    );
    check(
        "name: a\nnodes:\n  h1: { after: [h1] }\n",
        &["lab.yaml:3:17: nodes.h1.after[0]: a node cannot start after itself"],
    );
    check(
        "name: a\ngroups:\n  g1: { group: g2 }\n  g2: { group: g1 }\nnodes:\n  h1: { group: g1 }\n",
        &["lab.yaml:3:16: groups.g1.group: cycle in group inheritance: g1 → g2 → g1"],
    );
    check(
        "name: a\nnodes:\n  h1: { group: nope, after: [ghost] }\n",
        &[
            "lab.yaml:3:16: nodes.h1.group: unknown group \"nope\"",
            "lab.yaml:3:30: nodes.h1.after[0]: unknown node \"ghost\"",
        ],
    );
}

#[test]
fn values() {
    check(
        "name: a\nnodes: {r1: {kind: router}, r2: {kind: router}}\nlinks:\n  - endpoints: [r1:eth1, r2:eth1]\n    bandwidth: fast\n    delay: 5 parsecs\n    loss: 120%\n    mtu: 20\n",
        &[
            "lab.yaml:5:16: links[0].bandwidth: \"fast\" is not a rate (a number with bit, kbit, mbit, gbit, tbit, or bps, kbps, mbps, gbps for bytes)",
            "lab.yaml:6:12: links[0].delay: \"5 parsecs\" is not a duration (a number with us, ms, s or m)",
            "lab.yaml:7:11: links[0].loss: \"120%\" is not a percentage from 0 to 100",
            "lab.yaml:8:10: links[0].mtu: 20 is out of range (68 to 65535)",
        ],
    );
    check(
        "name: a\nnodes:\n  h1:\n    routes: [\"10.9.0.0/16 via nowhere\", \"10.8.0.0/16 dev eth7\"]\n    gateway: 192.168.0.1\n  h2: {}\nlinks: [[h1:eth0, h2:eth0]]\n",
        &[
            "lab.yaml:4:14: nodes.h1.routes[0]: \"nowhere\" is not an IP address",
            "lab.yaml:4:41: nodes.h1.routes[1]: h1 has no interface \"eth7\"",
            "lab.yaml:5:14: nodes.h1.gateway: gateway 192.168.0.1 is on none of h1's subnets",
        ],
    );
    check(
        "name: a\nnodes:\n  h1:\n    daemons:\n      - { name: d, cmd: \"sleep 1\" }\n      - { name: d, cmd: \"sleep 2\" }\n      - { cmd: [] }\n",
        &[
            "lab.yaml:6:17: nodes.h1.daemons[1].name: duplicate daemon name \"d\" (first at line 5, column 17)",
            "lab.yaml:7:9: nodes.h1.daemons[2].name: missing",
            "lab.yaml:7:16: nodes.h1.daemons[2].cmd: an empty command",
        ],
    );
    check(
        "name: a\nnodes:\n  h1: { files: { /tmp/x: \"hi\", /etc/../root/x: \"hi\" } }\n",
        &[
            "lab.yaml:3:18: nodes.h1.files./tmp/x: \"/tmp/x\" is not a file path under /etc (files go into the node's own /etc)",
            "lab.yaml:3:32: nodes.h1.files./etc/../root/x: \"/etc/../root/x\" is not a file path under /etc (files go into the node's own /etc)",
        ],
    );
}

#[test]
fn switches() {
    check(
        "name: a\nnodes:\n  sw: { kind: switch, interfaces: { eth0: {} } }\n",
        &[
            "lab.yaml:3:37: nodes.sw.interfaces.eth0: sw is a switch: it has ports, not interfaces, addresses or routes",
        ],
    );
    // One port past what 64 chained bridges hold.
    let ports = warren_lab::MAX_BRIDGES * (warren_lab::BRIDGE_PORTS - 2) + 3;
    let mut text = String::from(
        "name: a\npools: { lan: 11.0.0.0/8, lan_prefix: 8 }\nnodes:\n  sw: { kind: switch }\n  h1: {}\nlinks:\n",
    );
    for i in 0..ports {
        text.push_str(&format!("  - [h1:e{i}, sw]\n"));
    }
    check(
        &text,
        &[&format!(
            "lab.yaml:4:3: nodes.sw: switch sw has {ports} ports, past the {} that 64 chained bridges hold",
            ports - 1
        )],
    );
}

#[test]
fn syntax_errors() {
    check(
        "name: a\nnodes: [\n",
        &["lab.yaml:3:1: (document): while parsing a node, did not find expected node content"],
    );
    check(
        "name: a\n---\nname: b\n",
        &["lab.yaml:2:1: (document): a lab file holds one YAML document"],
    );
}

#[test]
fn diagnostics_serialize_for_json_output() {
    let Err(warren_lab::LoadError::Invalid(diags)) = warren_lab::load_str(
        "name: a\nnodes: {h1: {x: 1}}\n",
        std::path::Path::new("l.yaml"),
    ) else {
        panic!("expected errors")
    };
    assert_eq!(
        serde_json::to_string(&diags).expect("json"),
        r#"[{"file":"l.yaml","line":2,"column":14,"field":"nodes.h1.x","message":"unknown field \"x\" (allowed: kind, group, loopback, gateway, interfaces, routes, sysctls, env, files, hosts, exec, daemons, after)"}]"#
    );
}

#[test]
fn ipv6_pools() {
    check(
        "name: a\npools:\n  lan: fd00::/48\n  lan6: 10.0.0.0/16\n  p2p6: fd00:1::/72\n  loopback6: fd00:2::1/64\nnodes: {h1: {}}\n",
        &[
            "lab.yaml:3:8: pools.lan: this pool is IPv4 (IPv6 pools are lan6, p2p6 and loopback6)",
            "lab.yaml:4:9: pools.lan6: this pool is IPv6",
            "lab.yaml:6:14: pools.loopback6: fd00:2::1/64 has host bits set (the pool is fd00:2::/64)",
        ],
    );
    check(
        "name: a\npools:\n  lan6: fd00:1::/72\n  p2p6: fd00::/16\n  loopback6: fd00:fe::/64\nnodes: {h1: {}}\n",
        &[
            "lab.yaml:3:9: pools.lan6: fd00:1::/72 is smaller than one /64 it gives",
            "lab.yaml:5:14: pools.loopback6: pool fd00:fe::/64 overlaps pools.p2p6 (fd00::/16)",
        ],
    );
    check(
        "name: a\npools:\n  lan6: fd00::/48\nnodes:\n  h1: { interfaces: { eth0: { addresses: [fd01::5/64] } } }\n  h2: {}\nlinks: [[h1:eth0, h2:eth0]]\n",
        &[
            "lab.yaml:5:43: nodes.h1.interfaces.eth0.addresses[0]: address fd01::5/64 is outside its pool fd00::/48 (pools.lan6)",
        ],
    );
}

#[test]
fn exhausted_pools_are_reported_once_each() {
    check(
        "name: ex\npools:\n  lan: 10.0.0.0/24\n  loopback: 10.254.0.0/31\n  uplink: 100.64.0.0/30\n  loopback6: fd00:fe::/127\nnodes:\n  r1: { kind: router }\n  r2: { kind: router }\n  n1: { kind: nat }\n  n2: { kind: nat }\n  h1: {}\n  h2: {}\n  h3: {}\nlinks:\n  - [h1:eth0, r1:eth1]\n  - [h2:eth0, r2:eth1]\n  - [h3:eth0, n1:eth1]\n",
        &[
            "lab.yaml:3:8: pools.lan: pool 10.0.0.0/24 has no /24 left for the lab's segments",
            "lab.yaml:4:13: pools.loopback: pool 10.254.0.0/31 has no address left for the routers' loopbacks",
            "lab.yaml:5:11: pools.uplink: pool 100.64.0.0/30 has no /30 left for the NAT uplinks",
            "lab.yaml:6:14: pools.loopback6: pool fd00:fe::/127 has no address left for the routers' loopbacks",
        ],
    );
}
