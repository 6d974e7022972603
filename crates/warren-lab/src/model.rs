//! A lab after resolution: every default, group and pool applied, every name, address,
//! gateway and route computed. This is the one value the parser produces and everything
//! else consumes (the builder, the planner of a re-apply, `down`, status, capture, graph):
//! nothing downstream looks at the YAML again.
//!
//! A `Lab` is plain data, serializable, so the builder can remember the lab it built (as
//! JSON in warren's store) and the planner can compare it with the next one.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use warren_kernel::addr::IpNet;
use warren_kernel::route::RouteSpec;

/// A resolved lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lab {
    /// The lab's name (`[a-z0-9][a-z0-9-]*`, at most 16 bytes).
    pub name: String,
    /// The nodes, in the order of the file.
    pub nodes: Vec<Node>,
    /// The links, in the order of the file, then one uplink per NAT node (in node order:
    /// its interface `uplink` to an [`End::HostUplink`]).
    pub links: Vec<Link>,
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// An end host: a default route via its LAN's router or NAT node.
    Host,
    /// IPv4 and IPv6 forwarding on, a loopback address.
    Router,
    /// A Linux bridge (chained bridges past 1,023 ports) in a namespace of its own.
    Switch,
    /// A router whose uplink to the host is masqueraded by the host.
    Nat,
}

/// One node: a network namespace named [`Node::netns`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The node's name in the file.
    pub name: String,
    /// What it is.
    pub kind: NodeKind,
    /// Its named namespace in `/run/netns`: `LAB-NODE`.
    pub netns: String,
    /// Addresses on `lo` (a router's loopback).
    pub loopback: Vec<IpNet>,
    /// The node's interfaces (switch ports are not listed here: see [`Switch`]).
    pub interfaces: Vec<Interface>,
    /// Static routes, the default route included (computed gateways end up here too).
    pub routes: Vec<Route>,
    /// Sysctls written inside the namespace (`net.ipv4.ip_forward` for routers included).
    pub sysctls: BTreeMap<String, String>,
    /// Environment of the node's commands and daemons.
    pub env: BTreeMap<String, String>,
    /// Files the node sees in its own `/etc` (the generated `/etc/hosts` included).
    pub files: Vec<File>,
    /// One-shot commands run in order after the node is wired.
    pub exec: Vec<Command>,
    /// Long-running commands, supervised, stopped on `down`.
    pub daemons: Vec<Daemon>,
    /// Nodes whose commands must have started (and be ready) before this node's start.
    pub after: Vec<String>,
    /// For a switch: its bridges and ports.
    pub switch: Option<Switch>,
}

/// An interface inside a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// The name the file gives it (`eth0`; may be longer than 15 bytes).
    pub name: String,
    /// The kernel's name: `name` when it fits in 15 bytes, else a deterministic short name
    /// (and `name` becomes an altname).
    pub ifname: String,
    /// Altnames to set: the long name if any, and `NODE:IFNAME`. The kernel refuses `:` and
    /// `/` in interface names, so the builder sets them with `.` instead (`NODE.IFNAME`, see
    /// [`crate::state::kernel_altname`]).
    pub altnames: Vec<String>,
    /// Addresses (prefix included).
    pub addresses: Vec<IpNet>,
    /// MTU, if set.
    pub mtu: Option<u32>,
    /// MAC address (`aa:bb:..`), if set.
    pub mac: Option<String>,
    /// Index into [`Lab::links`] of the link this interface is an end of.
    pub link: usize,
}

/// A switch: one bridge, or a chain of bridges when it has more than 1,023 ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Switch {
    /// Bridge names inside the switch's namespace, in chain order (`br0`, `br1`, ...);
    /// consecutive bridges are joined by a veth pair (`brN-up` / `brN+1-dn`).
    pub bridges: Vec<String>,
    /// The ports, in link order.
    pub ports: Vec<SwitchPort>,
}

/// A port of a switch: the switch's end of a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchPort {
    /// Kernel name inside the switch's namespace (at most 15 bytes, deterministic).
    pub ifname: String,
    /// Altnames: `NODE:IF` of the far end.
    pub altnames: Vec<String>,
    /// Index into [`Switch::bridges`] of the bridge it is a port of.
    pub bridge: usize,
    /// Index into [`Lab::links`].
    pub link: usize,
}

/// A static route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Destination (`0.0.0.0/0` or `::/0` for a default route).
    pub to: IpNet,
    /// Next hop.
    pub via: Option<IpAddr>,
    /// Output interface (its file name, see [`Interface::name`]).
    pub dev: Option<String>,
}

/// A file in a node's `/etc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct File {
    /// Absolute path, under `/etc`.
    pub path: String,
    /// Its content (empty for the lab's `/etc/hosts`: see `lab_hosts`).
    pub content: String,
    /// Permission bits.
    pub mode: u32,
    /// The lab's generated `/etc/hosts` ([`Lab::hosts_file`]), the same for every node: not
    /// copied into each node (a thousand nodes would hold a thousand copies of a
    /// thousand-line file) but made from the lab when written ([`Lab::file_content`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub lab_hosts: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A command: `sh -c STRING` when the file gives a string, else an argv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// The argv (`["/bin/sh", "-c", "..."]` for a string).
    pub argv: Vec<String>,
}

/// A supervised long-running command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Daemon {
    /// Its name, unique within the node (`bird`); names its log file.
    pub name: String,
    /// What to run.
    pub command: Command,
    /// Retried until it exits 0: the daemon is then ready.
    pub ready: Option<Command>,
    /// How long to wait for readiness, in milliseconds.
    pub ready_timeout_ms: u64,
}

/// A link between two endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Its ends.
    pub ends: [End; 2],
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// Shaping applied to the egress of both node ends.
    pub shaping: Option<Shaping>,
}

/// One end of a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum End {
    /// An interface of a host, router or NAT node (index into [`Node::interfaces`]).
    Node {
        /// Node name.
        node: String,
        /// Interface name as the file gives it.
        interface: String,
    },
    /// A port of a switch node (index into [`Switch::ports`]).
    Switch {
        /// Switch node name.
        node: String,
        /// Port index.
        port: usize,
    },
    /// A veth whose host end becomes a port of an existing bridge of the host.
    HostBridge {
        /// The host's bridge.
        bridge: String,
        /// The host end's kernel name (deterministic, at most 15 bytes, marked with an
        /// altname `warren-lab.LAB.NODE.IF` so only warren ever removes it).
        ifname: String,
    },
    /// The other end is a macvlan on a host interface, moved into the node.
    Macvlan {
        /// The host interface.
        parent: String,
        /// bridge, private, vepa, passthru or source.
        mode: String,
    },
    /// The host end of a NAT node's uplink (host-side veth, masqueraded).
    HostUplink {
        /// Kernel name in the host namespace (marked as for `HostBridge`).
        ifname: String,
        /// The host end's address.
        address: IpNet,
    },
}

/// Traffic shaping of a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shaping {
    /// Rate in bits per second (tbf).
    pub rate_bps: Option<u64>,
    /// Delay in microseconds (netem; refused as "kernel lacks netem" where it is missing).
    pub delay_us: Option<u64>,
    /// Loss in percent (netem).
    pub loss_percent: Option<f64>,
}

impl Lab {
    /// The lab's `/etc/hosts`: every node by name (a router by its loopback), every interface
    /// address as `NODE-IF`.
    pub fn hosts_file(&self) -> String {
        crate::finish::hosts_file(&self.name, &self.nodes)
    }

    /// The content of `f`, a file of one of this lab's nodes.
    pub fn file_content<'a>(&self, f: &'a File) -> std::borrow::Cow<'a, str> {
        if f.lab_hosts {
            std::borrow::Cow::Owned(self.hosts_file())
        } else {
            std::borrow::Cow::Borrowed(&f.content)
        }
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

impl Node {
    /// The kernel route for `route` of this node: its `via`, and its `dev` named by the
    /// interface's kernel name (or as written when it names no interface of the node), with the
    /// index `index_of` finds for that name. Used by the build and by `lab link set … up`,
    /// which puts back the routes the kernel dropped with the link.
    pub fn route_spec<E>(
        &self,
        route: &Route,
        index_of: impl FnOnce(&str) -> std::result::Result<u32, E>,
    ) -> std::result::Result<RouteSpec, E> {
        let mut spec = RouteSpec::to(route.to);
        if let Some(v) = route.via {
            spec = spec.via(v);
        }
        if let Some(d) = &route.dev {
            let ifname = self
                .interfaces
                .iter()
                .find(|i| &i.name == d)
                .map_or(d.as_str(), |i| i.ifname.as_str());
            spec = spec.dev_name(index_of(ifname)?, ifname);
        }
        Ok(spec)
    }
}
