//! What an inspection holds: one [`Section`] per kind of state, each read on its own. These
//! types are the JSON output (`warren inspect -j`); their field names are stable keys.

use std::net::{IpAddr, SocketAddr};

use serde::{Serialize, Serializer};
use warren_kernel::conntrack::CtEntry;
use warren_kernel::rule::Rule;
use warren_kernel::sockdiag::Owner;

use crate::error::{Error, Result};
use crate::target::Kind;

/// The sections of an inspection, in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionName {
    /// Links with their peers.
    Links,
    /// Addresses.
    Addrs,
    /// Routes of every table.
    Routes,
    /// Policy routing rules.
    Rules,
    /// Neighbours (ARP/NDP).
    Neigh,
    /// Bridge forwarding databases.
    Fdb,
    /// Sockets with their processes.
    Sockets,
    /// Conntrack entries.
    Conntrack,
    /// The nftables ruleset.
    Nft,
    /// Forwarding and rp_filter sysctls.
    Sysctls,
}

impl SectionName {
    /// Every section, in output order.
    pub const ALL: &'static [SectionName] = &[
        SectionName::Links,
        SectionName::Addrs,
        SectionName::Routes,
        SectionName::Rules,
        SectionName::Neigh,
        SectionName::Fdb,
        SectionName::Sockets,
        SectionName::Conntrack,
        SectionName::Nft,
        SectionName::Sysctls,
    ];

    /// The word for it (`--section links,routes`).
    pub fn word(self) -> &'static str {
        match self {
            SectionName::Links => "links",
            SectionName::Addrs => "addrs",
            SectionName::Routes => "routes",
            SectionName::Rules => "rules",
            SectionName::Neigh => "neigh",
            SectionName::Fdb => "fdb",
            SectionName::Sockets => "sockets",
            SectionName::Conntrack => "conntrack",
            SectionName::Nft => "nft",
            SectionName::Sysctls => "sysctls",
        }
    }

    /// Parse a comma-separated list of section words (`links,addrs`); a few aliases are
    /// taken (`addr`, `route`, `rule`, `neighbours`, `sockets`/`ss`, `ct`, `nftables`).
    pub fn parse_list(s: &str) -> Result<Vec<SectionName>> {
        let mut out = Vec::new();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let n = match w {
                "links" | "link" => SectionName::Links,
                "addrs" | "addr" | "addresses" => SectionName::Addrs,
                "routes" | "route" => SectionName::Routes,
                "rules" | "rule" => SectionName::Rules,
                "neigh" | "neighbours" | "neighbors" => SectionName::Neigh,
                "fdb" => SectionName::Fdb,
                "sockets" | "ss" => SectionName::Sockets,
                "conntrack" | "ct" => SectionName::Conntrack,
                "nft" | "nftables" => SectionName::Nft,
                "sysctls" | "sysctl" => SectionName::Sysctls,
                _ => {
                    return Err(Error::UnknownSection {
                        name: w.to_owned(),
                        known: SectionName::ALL
                            .iter()
                            .map(|s| s.word())
                            .collect::<Vec<_>>()
                            .join(","),
                    });
                }
            };
            if !out.contains(&n) {
                out.push(n);
            }
        }
        if out.is_empty() {
            return Err(Error::UnknownSection {
                name: s.to_owned(),
                known: "at least one section".into(),
            });
        }
        Ok(out)
    }
}

/// One section: what was read, or why it could not be.
#[derive(Debug, Clone, PartialEq)]
pub enum Section<T> {
    /// Not asked for.
    Skipped,
    /// Read.
    Ok(T),
    /// Reading failed; the message names the object and the kernel's answer.
    Failed(String),
}

impl<T> Section<T> {
    /// Whether the section was not asked for (left out of JSON).
    pub fn is_skipped(&self) -> bool {
        matches!(self, Section::Skipped)
    }

    /// The data, if read.
    pub fn ok(&self) -> Option<&T> {
        match self {
            Section::Ok(t) => Some(t),
            _ => None,
        }
    }
}

impl<T: Serialize> Serialize for Section<T> {
    /// The data itself, or `{"error": "..."}`.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Failed<'a> {
            error: &'a str,
        }
        match self {
            Section::Ok(t) => t.serialize(s),
            Section::Failed(e) => Failed { error: e }.serialize(s),
            Section::Skipped => s.serialize_none(),
        }
    }
}

/// What was inspected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetInfo {
    /// Namespace, process, container, pod or lab node.
    pub kind: Kind,
    /// Its name as shown.
    pub name: String,
    /// Container or pod id.
    pub id: Option<String>,
    /// The namespace's name under `/run/netns`.
    pub netns: Option<String>,
    /// The namespace's inode (`net:[INODE]`).
    pub inode: u64,
}

/// The other end of a link: a veth's peer, or the parent of a macvlan/vxlan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkPeer {
    /// Its interface index (in its namespace).
    pub index: u32,
    /// Its name, when its namespace could be found and read.
    pub name: Option<String>,
    /// The nsid (as seen from the inspected namespace) of its namespace; `None` when it is
    /// in the inspected namespace itself.
    pub nsid: Option<i32>,
    /// Its namespace: a name under `/run/netns`, `host` for the namespace of PID 1, a
    /// container's name, or `pid:N`; `None` when unknown.
    pub netns: Option<String>,
}

/// A link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkRow {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Kind (`veth`, `bridge`, ...).
    pub kind: Option<String>,
    /// Flags as ip prints them.
    pub flags: Vec<String>,
    /// Operational state.
    pub operstate: String,
    /// MTU.
    pub mtu: u32,
    /// MAC address.
    pub mac: Option<String>,
    /// Master device's name.
    pub master: Option<String>,
    /// Peer or parent.
    pub peer: Option<LinkPeer>,
}

/// An address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddrRow {
    /// Interface name.
    pub dev: String,
    /// `inet` or `inet6`.
    pub family: String,
    /// Address with prefix.
    pub local: String,
    /// Scope name.
    pub scope: String,
}

/// A route, of any table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteRow {
    /// Table name or number (`main`, `local`, `100`).
    pub table: String,
    /// Type (`unicast`, `local`, `blackhole`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Destination (`default` for the default route).
    pub dst: String,
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// Output interface name.
    pub dev: Option<String>,
    /// Protocol.
    pub protocol: String,
    /// Scope.
    pub scope: String,
    /// Metric.
    pub metric: Option<u32>,
    /// Preferred source.
    pub prefsrc: Option<IpAddr>,
    /// Multipath next hops as `via GW dev DEV weight N`.
    pub nexthops: Vec<String>,
}

/// A neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeighRow {
    /// IP address.
    pub dst: IpAddr,
    /// Interface name.
    pub dev: String,
    /// Link-layer address.
    pub lladdr: Option<String>,
    /// State (`REACHABLE`, `PERMANENT`, ...).
    pub state: String,
    /// `router` flag.
    pub router: bool,
}

/// A bridge FDB entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FdbRow {
    /// MAC address.
    pub mac: String,
    /// Port device.
    pub dev: String,
    /// Bridge.
    pub master: Option<String>,
    /// VLAN.
    pub vlan: Option<u16>,
    /// `permanent`, `static` or `dynamic`.
    pub state: String,
    /// `self` for the device's own table, else the bridge's.
    #[serde(rename = "self")]
    pub self_dev: bool,
    /// vxlan remote.
    pub dst: Option<IpAddr>,
}

/// A socket with the processes holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketRow {
    /// `tcp`, `udp` or `raw`.
    pub proto: String,
    /// State as ss names it.
    pub state: String,
    /// Local address.
    pub local: SocketAddr,
    /// Peer address.
    pub peer: SocketAddr,
    /// Receive queue.
    pub recv_q: u32,
    /// Send queue.
    pub send_q: u32,
    /// Socket inode.
    pub inode: u64,
    /// Processes holding it.
    pub processes: Vec<Owner>,
}

/// A conntrack entry, with its `conntrack -L` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtRow {
    /// The decoded entry.
    #[serde(flatten)]
    pub entry: CtEntry,
    /// As `conntrack -L` prints it.
    pub text: String,
}

/// The nftables ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NftSection {
    /// Tables: family, name and how much is in them.
    pub tables: Vec<NftTableRow>,
    /// The whole ruleset as `nft list ruleset` prints it.
    pub text: String,
}

/// A table summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NftTableRow {
    /// Family (`inet`, `ip`, ...).
    pub family: String,
    /// Name.
    pub name: String,
    /// Number of chains.
    pub chains: usize,
    /// Number of named sets and maps.
    pub sets: usize,
    /// Number of rules.
    pub rules: usize,
    /// Whether it is one of warren's own tables (`warren`, `warren-cni`).
    pub warren: bool,
}

/// A sysctl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysctlRow {
    /// Dotted key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// Everything read about one namespace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    /// What was inspected.
    pub target: TargetInfo,
    /// Links.
    #[serde(skip_serializing_if = "Section::is_skipped")]
    pub links: Section<Vec<LinkRow>>,
    /// Addresses.
    #[serde(skip_serializing_if = "Section::is_skipped")]
    pub addrs: Section<Vec<AddrRow>>,
    /// Routes.
    #[serde(skip_serializing_if = "Section::is_skipped")]
    pub routes: Section<Vec<RouteRow>>,
    /// Policy rules, as `ip rule` shows them.
    #[serde(skip_serializing_if = "Section::is_skipped")]
    pub rules: Section<Vec<Rule>>,
    /// Neighbours.
    #[serde(skip_serializing_if = "Section::is_skipped")]
    pub neigh: Section<Vec<NeighRow>>,
    /// Bridge FDB.
    #[serde(skip_serializing_if = "Section::is_skipped")]
    pub fdb: Section<Vec<FdbRow>>,
    /// Sockets.
    #[serde(skip_serializing_if = "Section::is_skipped")]
    pub sockets: Section<Vec<SocketRow>>,
    /// Conntrack entries.
    #[serde(skip_serializing_if = "Section::is_skipped")]
    pub conntrack: Section<Vec<CtRow>>,
    /// nftables.
    #[serde(skip_serializing_if = "Section::is_skipped")]
    pub nft: Section<NftSection>,
    /// Sysctls.
    #[serde(skip_serializing_if = "Section::is_skipped")]
    pub sysctls: Section<Vec<SysctlRow>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_lists_parse() {
        assert_eq!(
            SectionName::parse_list("links,route,ct").unwrap(),
            [
                SectionName::Links,
                SectionName::Routes,
                SectionName::Conntrack
            ]
        );
        assert_eq!(
            SectionName::parse_list("nft, nft").unwrap(),
            [SectionName::Nft]
        );
        for bad in ["", ",", "linkz", "links,bogus"] {
            assert!(SectionName::parse_list(bad).is_err(), "{bad}");
        }
        for s in SectionName::ALL {
            assert_eq!(SectionName::parse_list(s.word()).unwrap(), [*s]);
        }
    }

    #[test]
    fn failed_sections_serialize_as_their_error() {
        let f: Section<Vec<u8>> = Section::Failed("dump: Operation not permitted".into());
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"error":"dump: Operation not permitted"}"#
        );
        assert_eq!(
            serde_json::to_string(&Section::Ok(vec![1u8])).unwrap(),
            "[1]"
        );
    }
}
