//! containerlab topology files: `kind: linux` nodes load as hosts, ignored fields warn.

use std::path::Path;

use warren_lab::model::{End, NodeKind};

const CLAB: &str = r#"name: srl01
prefix: ""
mgmt:
  network: clab
topology:
  defaults:
    kind: linux
    env: { A: "1" }
  kinds:
    linux:
      image: alpine:3
  nodes:
    client1:
      image: ghcr.io/hellt/network-multitool
      exec:
        - ip addr add 192.168.0.1/24 dev eth1
      env: { B: "2" }
      binds: [/tmp:/tmp]
    client2:
      kind: linux
      cmd: sleep infinity
      sysctls: { net.ipv4.ip_forward: "1" }
  links:
    - endpoints: ["client1:eth1", "client2:eth1"]
      mtu: 9000
    - endpoints:
        - { node: client2, interface: eth2 }
        - "macvlan:enp0s3"
"#;

fn warnings(l: &warren_lab::Loaded) -> Vec<String> {
    l.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn linux_nodes_load_as_hosts_and_ignored_fields_warn() {
    let l = warren_lab::load_str(CLAB, Path::new("c.clab.yml")).expect("loads");
    let lab = &l.lab;
    assert_eq!(lab.name, "srl01");
    assert_eq!(lab.nodes.len(), 2);
    assert!(lab.nodes.iter().all(|n| n.kind == NodeKind::Host));
    let c1 = lab.node("client1").expect("client1");
    assert_eq!(c1.exec[0].argv[2], "ip addr add 192.168.0.1/24 dev eth1");
    assert_eq!(c1.env.get("A").map(String::as_str), Some("1"));
    assert_eq!(c1.env.get("B").map(String::as_str), Some("2"));
    // No automatic addresses or routes: the lab's own commands address it.
    assert!(c1.interfaces[0].addresses.is_empty());
    assert!(c1.routes.is_empty());
    assert_eq!(c1.interfaces[0].mtu, Some(9000));
    let c2 = lab.node("client2").expect("client2");
    assert_eq!(
        c2.sysctls.get("net.ipv4.ip_forward").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        lab.links[1].ends[1],
        End::Macvlan {
            parent: "enp0s3".into(),
            mode: "bridge".into()
        }
    );
    assert_eq!(
        warnings(&l),
        [
            "c.clab.yml:2:1: prefix: ignored: warren runs containerlab nodes as namespaces",
            "c.clab.yml:3:1: mgmt: ignored: warren runs containerlab nodes as namespaces",
            "c.clab.yml:11:7: topology.kinds.linux.image: ignored: warren runs containerlab nodes as namespaces",
            "c.clab.yml:14:7: topology.nodes.client1.image: ignored: warren runs containerlab nodes as namespaces",
            "c.clab.yml:18:7: topology.nodes.client1.binds: ignored: warren runs containerlab nodes as namespaces",
            "c.clab.yml:21:7: topology.nodes.client2.cmd: ignored: warren runs containerlab nodes as namespaces",
        ]
    );
}

#[test]
fn other_kinds_and_host_links_are_errors() {
    let text = "name: x\ntopology:\n  nodes:\n    r1: { kind: nokia_srlinux }\n    h1: {}\n    h2: { kind: linux }\n  links:\n    - endpoints: [\"h2:eth1\", \"host:veth9\"]\n";
    let e = warren_lab::load_str(text, Path::new("x.yml")).expect_err("invalid");
    let lines: Vec<String> = e.to_string().lines().map(String::from).collect();
    assert_eq!(
        lines,
        [
            "x.yml:4:17: topology.nodes.r1.kind: kind \"nokia_srlinux\" does not run as a namespace (only kind: linux does)",
            "x.yml:5:9: topology.nodes.h1.kind: missing (only kind: linux runs)",
            "x.yml:8:30: topology.links[0].endpoints[1]: \"host:veth9\": containerlab's host and mgmt-net links are not supported (warren's host:BRIDGE joins an existing bridge)",
        ]
    );
}
