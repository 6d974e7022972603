//! The host's topology as values: namespaces with their owners and interfaces, each interface
//! with its resolved peer (a veth's other end, a macvlan's parent) and its bridge.

use serde::Serialize;

/// Who a namespace belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// `warren-container`, `warren-pod`, `lab-node`, `docker`, `podman`, `containerd`, `cri-o`,
    /// `kubernetes`, `lxc`, `nspawn` or `process`.
    pub kind: String,
    /// How to name it: a container's name, a short container id, or a process's `comm`.
    pub name: String,
    /// The full id (container id, pod UID or PID), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// How an interface relates to the one it points at (`IFLA_LINK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// The other end of a veth pair.
    Peer,
    /// The lower device of a macvlan or macvtap.
    Parent,
}

/// The interface at the other end: where it lives and which it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerRef {
    /// Peer or parent.
    pub relation: Relation,
    /// Index of the namespace (in [`Topology::namespaces`]) it lives in; `None` when the kernel
    /// named a namespace (an nsid) that the scan could not identify.
    pub ns: Option<usize>,
    /// Its interface index (in its own namespace).
    pub index: u32,
    /// Its name, when its namespace was read.
    pub name: Option<String>,
}

/// One interface of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Iface {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Kind (`veth`, `bridge`, `macvlan`, ...); `None` for devices without one (`lo`, physical).
    pub kind: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// Operational state as ip prints it.
    pub operstate: String,
    /// MAC address.
    pub mac: Option<String>,
    /// The bridge (or other master) it is a port of, by name.
    pub master: Option<String>,
    /// `IFLA_LINK` as the kernel gave it, and `IFLA_LINK_NETNSID`.
    #[serde(skip)]
    pub raw_link: Option<(u32, Option<i32>)>,
    /// The veth peer or macvlan parent, resolved.
    pub peer: Option<PeerRef>,
}

impl Iface {
    /// Whether this is a veth, macvlan or macvtap: the kinds `warren veths` lists.
    pub fn is_pairable(&self) -> bool {
        matches!(self.kind.as_deref(), Some("veth" | "macvlan" | "macvtap"))
    }

    /// The relation its `IFLA_LINK` means, for the kinds that have one we resolve.
    pub fn relation(&self) -> Option<Relation> {
        match self.kind.as_deref() {
            Some("veth") => Some(Relation::Peer),
            Some("macvlan" | "macvtap") => Some(Relation::Parent),
            _ => None,
        }
    }
}

/// One network namespace of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Namespace {
    /// Its inode (`net:[INO]`): the identity.
    pub ino: u64,
    /// A short label: its first name under `/run/netns`, else `host` for the namespace the
    /// scan ran in, else `net:[INO]`.
    pub label: String,
    /// Its names under `/run/netns`.
    pub names: Vec<String>,
    /// Whether this is the namespace the scan ran in (the host, usually).
    pub current: bool,
    /// Its nsid as seen from the current namespace.
    pub nsid: Option<i32>,
    /// Its main process.
    pub pid: Option<i32>,
    /// Who owns it.
    pub owner: Option<Owner>,
    /// Its interfaces; empty when it could not be entered (see `readable`).
    pub interfaces: Vec<Iface>,
    /// Whether its interfaces could be read.
    pub readable: bool,
}

impl Namespace {
    /// The label with the owner, as tables print it: `red`, `net:[4026532290] (docker 3f2a…)`.
    pub fn display(&self) -> String {
        match &self.owner {
            Some(o) if !self.names.contains(&o.name) => {
                format!("{} ({o})", self.label)
            }
            _ => self.label.clone(),
        }
    }
}

/// Every namespace of the host with its interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// The namespaces: the current one first, then named ones, then the rest by inode.
    pub namespaces: Vec<Namespace>,
}

impl Topology {
    /// The interface a peer reference points at, if its namespace was read.
    pub fn iface(&self, p: &PeerRef) -> Option<&Iface> {
        self.namespaces
            .get(p.ns?)?
            .interfaces
            .iter()
            .find(|i| i.index == p.index)
    }

    /// The index of the namespace with inode `ino`.
    pub fn by_ino(&self, ino: u64) -> Option<usize> {
        self.namespaces.iter().position(|n| n.ino == ino)
    }
}

/// The label of a namespace from its names and whether it is the current one.
pub fn label(names: &[String], current: bool, ino: u64) -> String {
    match names.first() {
        Some(n) => n.clone(),
        None if current => "host".to_owned(),
        None => format!("net:[{ino}]"),
    }
}

/// An up interface of `kind`, for the tests of the modules that read a [`Topology`].
#[cfg(test)]
pub(crate) fn test_iface(
    index: u32,
    name: &str,
    kind: &str,
    master: Option<&str>,
    peer: Option<PeerRef>,
) -> Iface {
    Iface {
        index,
        name: name.into(),
        kind: Some(kind.into()),
        up: true,
        operstate: "up".into(),
        mac: None,
        master: master.map(Into::into),
        raw_link: None,
        peer,
    }
}
