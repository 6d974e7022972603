//! Test labs: a `model::Lab` built by hand and wired directly with warren-kernel (namespaces,
//! veth pairs with addresses), standing in for the builder.

#![allow(dead_code)]

use warren_kernel::Handle;
use warren_kernel::addr::IpNet;
use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_lab::model::{Command, Daemon, End, File, Interface, Lab, Link, Node, NodeKind};

/// A host node `name` of lab `lab`, without interfaces.
pub fn node(lab: &str, name: &str) -> Node {
    warren_lab::sample::node(lab, name, NodeKind::Host)
}

/// `sh -c SCRIPT`.
pub fn sh(script: &str) -> Command {
    Command {
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
    }
}

/// A file with mode 0644.
pub fn file(path: &str, content: &str) -> File {
    File {
        path: path.into(),
        content: content.into(),
        mode: 0o644,
        lab_hosts: false,
    }
}

/// A daemon.
pub fn daemon(name: &str, cmd: &str, ready: Option<&str>, timeout_ms: u64) -> Daemon {
    Daemon {
        name: name.into(),
        command: sh(cmd),
        ready: ready.map(sh),
        ready_timeout_ms: timeout_ms,
    }
}

/// A lab of `nodes` with point-to-point links `(a, a_if, a_addr, b, b_if, b_addr)`.
pub fn lab(
    name: &str,
    mut nodes: Vec<Node>,
    links: &[(&str, &str, &str, &str, &str, &str)],
) -> Lab {
    let mut out = Vec::new();
    for (i, (a, aif, aaddr, b, bif, baddr)) in links.iter().enumerate() {
        for (n, ifname, addr) in [(a, aif, aaddr), (b, bif, baddr)] {
            let node = nodes.iter_mut().find(|x| x.name == *n).expect("node");
            node.interfaces.push(Interface {
                name: (*ifname).into(),
                ifname: (*ifname).into(),
                altnames: vec![],
                addresses: vec![addr.parse::<IpNet>().unwrap()],
                mtu: None,
                mac: None,
                link: i,
            });
        }
        out.push(Link {
            ends: [
                End::Node {
                    node: (*a).into(),
                    interface: (*aif).into(),
                },
                End::Node {
                    node: (*b).into(),
                    interface: (*bif).into(),
                },
            ],
            mtu: None,
            shaping: None,
        });
    }
    Lab {
        name: name.into(),
        nodes,
        links: out,
    }
}

/// Wire `lab` in the kernel: a named namespace per node with `lo` up, a veth per link with
/// its addresses, both ends up.
pub fn wire(lab: &Lab) {
    for n in &lab.nodes {
        let h = Handle::new(netns::add_named(&n.netns, Source::New).unwrap()).unwrap();
        h.link_set_up("lo").unwrap();
    }
    for link in &lab.links {
        let [
            End::Node {
                node: a,
                interface: aif,
            },
            End::Node {
                node: b,
                interface: bif,
            },
        ] = &link.ends
        else {
            panic!("test labs have node-to-node links only");
        };
        let na = lab.node(a).unwrap();
        let nb = lab.node(b).unwrap();
        let ha = Handle::new(netns::NetNs::open_named(&na.netns).unwrap()).unwrap();
        let hb = Handle::new(netns::NetNs::open_named(&nb.netns).unwrap()).unwrap();
        let nsb = netns::NetNs::open_named(&nb.netns).unwrap();
        ha.link_add(
            &Veth::new(aif.as_str(), bif.as_str())
                .peer_netns(&nsb)
                .up()
                .peer_up(),
        )
        .unwrap();
        for (h, n, ifname) in [(&ha, na, aif), (&hb, nb, bif)] {
            let i = n.interfaces.iter().find(|i| &i.name == ifname).unwrap();
            let idx = h.link_index(ifname).unwrap();
            for a in &i.addresses {
                h.addr_add(idx, *a).unwrap();
            }
        }
    }
}

/// The first address of `node`'s interface `ifname`.
pub fn addr(lab: &Lab, node: &str, ifname: &str) -> std::net::IpAddr {
    lab.node(node)
        .unwrap()
        .interfaces
        .iter()
        .find(|i| i.name == ifname)
        .unwrap()
        .addresses[0]
        .addr
}

/// The named namespace of `node`.
pub fn ns(lab: &Lab, node: &str) -> netns::NetNs {
    netns::NetNs::open_named(&lab.node(node).unwrap().netns).unwrap()
}

/// Live processes of this sandbox other than this one (zombies excluded): what a test must
/// not leave behind.
pub fn other_processes() -> Vec<String> {
    let me = std::fs::read_link("/proc/self/ns/user").unwrap();
    let own = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == own || !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if std::fs::read_link(format!("/proc/{name}/ns/user")).is_ok_and(|u| u == me) {
            let stat = std::fs::read_to_string(format!("/proc/{name}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            if state != Some('Z') && !stat.is_empty() {
                out.push(stat.split(')').next().unwrap_or("").to_owned() + ")");
            }
        }
    }
    out
}
