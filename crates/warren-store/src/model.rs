//! The rows warren keeps, as Rust values.

use std::net::IpAddr;

use serde::Serialize;
use warren_kernel::addr::IpNet;

use crate::ports::HostIp;

/// A subnet of a network, with its gateway and the range handed out from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subnet {
    /// The subnet (host bits zero).
    #[serde(serialize_with = "display")]
    pub net: IpNet,
    /// The gateway (the bridge's address), if any.
    pub gateway: Option<IpAddr>,
    /// Addresses are handed out from here (a part of `net`); all of `net` when `None`.
    #[serde(serialize_with = "display_opt")]
    pub range: Option<IpNet>,
}

/// A network as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    /// Row id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// `bridge` or `macvlan`.
    pub driver: String,
    /// The bridge's name (bridge driver) or the parent interface (macvlan).
    pub iface: String,
    /// macvlan mode.
    pub mode: Option<String>,
    /// MTU of its links.
    pub mtu: Option<u32>,
    /// No way out: no masquerade, no forwarding to other interfaces.
    pub internal: bool,
    /// Its subnets, IPv4 and/or IPv6.
    pub subnets: Vec<Subnet>,
    /// Seconds since the epoch.
    pub created: i64,
}

/// What `insert_network` needs.
#[derive(Debug, Clone)]
pub struct NewNetwork {
    /// The name.
    pub name: String,
    /// `bridge` or `macvlan`.
    pub driver: String,
    /// The bridge or parent interface name; for a bridge `None` means "name it from the row id"
    /// (`wbr<ID>`).
    pub iface: Option<String>,
    /// macvlan mode.
    pub mode: Option<String>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Internal network.
    pub internal: bool,
    /// Subnets (already validated and with gateways chosen).
    pub subnets: Vec<Subnet>,
}

/// Container or pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A process with its network.
    Container,
    /// A namespace that outlives its members.
    Pod,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Pod => "pod",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Kind> {
        match s {
            "container" => Some(Kind::Container),
            "pod" => Some(Kind::Pod),
            _ => None,
        }
    }
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    /// Its network is being set up by the owner process.
    Creating,
    /// Set up; its process (if any) runs.
    Running,
    /// Its process exited; the network is torn down.
    Exited,
}

impl ContainerState {
    /// The stored (and shown) word.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Creating => "creating",
            ContainerState::Running => "running",
            ContainerState::Exited => "exited",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<ContainerState> {
        match s {
            "creating" => Some(ContainerState::Creating),
            "running" => Some(ContainerState::Running),
            "exited" => Some(ContainerState::Exited),
            _ => None,
        }
    }
}

/// A container's attachment to a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Row id.
    pub id: i64,
    /// The network's name.
    pub network: String,
    /// The network's row id.
    pub network_id: i64,
    /// The interface inside (`eth0`, `eth1`, …).
    pub ifname: String,
    /// The host side (veth) name, if there is one.
    pub host_ifname: Option<String>,
    /// Addresses handed out, one per subnet of the network.
    pub addrs: Vec<IpAddr>,
    /// Extra DNS names on this network.
    pub aliases: Vec<String>,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Port {
    /// Host address it is published on.
    pub host_ip: HostIp,
    /// `tcp`, `udp` or `sctp`.
    pub proto: String,
    /// The host's port.
    pub host_port: u16,
    /// The container's port.
    pub port: u16,
}

/// A container or pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// 12 hex digits.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Container or pod.
    pub kind: Kind,
    /// The namespace file holding its network namespace, if it has its own.
    pub netns: Option<String>,
    /// `bridge`, `host`, `none`, `container:ID`, `pod:ID` (as given, resolved to ids).
    pub mode: String,
    /// The pod it belongs to.
    pub pod: Option<String>,
    /// Hostname inside.
    pub hostname: Option<String>,
    /// Life state.
    pub state: ContainerState,
    /// Main process.
    pub pid: Option<i32>,
    /// Its start time (clock ticks since boot).
    pub pid_start: Option<u64>,
    /// The process responsible for it (setting up, or supervising).
    pub owner_pid: Option<i32>,
    /// Its start time.
    pub owner_start: Option<u64>,
    /// Exit status once exited.
    pub exit_code: Option<i32>,
    /// The engine's own settings for it (command, DNS options, …), as JSON.
    pub spec: serde_json::Value,
    /// Seconds since the epoch.
    pub created: i64,
    /// Its endpoints, in interface order.
    pub endpoints: Vec<Endpoint>,
    /// Its published ports.
    pub ports: Vec<Port>,
}

/// An endpoint to add.
#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    /// Network name.
    pub network: String,
    /// Interface inside.
    pub ifname: String,
    /// Host side name.
    pub host_ifname: Option<String>,
    /// Static addresses wanted (one per family at most); the rest is allocated.
    pub static_ips: Vec<IpAddr>,
    /// Extra DNS names.
    pub aliases: Vec<String>,
}

/// A container or pod to insert, in state `creating`.
#[derive(Debug, Clone)]
pub struct NewContainer {
    /// 12 hex digits.
    pub id: String,
    /// Name (unique among containers and pods).
    pub name: String,
    /// Container or pod.
    pub kind: Kind,
    /// The namespace file it will have.
    pub netns: Option<String>,
    /// Mode.
    pub mode: String,
    /// Pod it joins.
    pub pod: Option<String>,
    /// Hostname.
    pub hostname: Option<String>,
    /// The process setting it up.
    pub owner_pid: i32,
    /// Its start time.
    pub owner_start: u64,
    /// Engine settings.
    pub spec: serde_json::Value,
    /// Endpoints, in order.
    pub endpoints: Vec<NewEndpoint>,
    /// Ports to publish.
    pub ports: Vec<Port>,
}

fn display<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn display_opt<S: serde::Serializer, T: std::fmt::Display>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}
