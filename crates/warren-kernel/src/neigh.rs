//! Neighbours (ARP and NDP entries; `ip neigh add/replace/del/show`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};

use crate::addr::Family;
use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::link::format_mac;
use crate::netlink::Request;

/// A neighbour entry's state (`NUD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighState {
    /// Resolution in progress.
    Incomplete,
    /// Confirmed reachable.
    Reachable,
    /// Valid but unconfirmed.
    Stale,
    /// Waiting before probing.
    Delay,
    /// Probing.
    Probe,
    /// Resolution failed.
    Failed,
    /// No resolution needed.
    Noarp,
    /// Static: never expires.
    Permanent,
    /// No state.
    None,
    /// A combination or unknown value.
    Other(u16),
}

impl NeighState {
    fn to_netlink(self) -> NeighbourState {
        match self {
            NeighState::Incomplete => NeighbourState::Incomplete,
            NeighState::Reachable => NeighbourState::Reachable,
            NeighState::Stale => NeighbourState::Stale,
            NeighState::Delay => NeighbourState::Delay,
            NeighState::Probe => NeighbourState::Probe,
            NeighState::Failed => NeighbourState::Failed,
            NeighState::Noarp => NeighbourState::Noarp,
            NeighState::Permanent => NeighbourState::Permanent,
            NeighState::None => NeighbourState::None,
            NeighState::Other(n) => NeighbourState::Other(n),
        }
    }

    fn from_netlink(s: NeighbourState) -> NeighState {
        match s {
            NeighbourState::Incomplete => NeighState::Incomplete,
            NeighbourState::Reachable => NeighState::Reachable,
            NeighbourState::Stale => NeighState::Stale,
            NeighbourState::Delay => NeighState::Delay,
            NeighbourState::Probe => NeighState::Probe,
            NeighbourState::Failed => NeighState::Failed,
            NeighbourState::Noarp => NeighState::Noarp,
            NeighbourState::Permanent => NeighState::Permanent,
            NeighbourState::None => NeighState::None,
            other => NeighState::Other(other.into()),
        }
    }
}

impl fmt::Display for NeighState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            NeighState::Incomplete => "INCOMPLETE",
            NeighState::Reachable => "REACHABLE",
            NeighState::Stale => "STALE",
            NeighState::Delay => "DELAY",
            NeighState::Probe => "PROBE",
            NeighState::Failed => "FAILED",
            NeighState::Noarp => "NOARP",
            NeighState::Permanent => "PERMANENT",
            NeighState::None => "NONE",
            NeighState::Other(n) => return write!(f, "{n:#x}"),
        };
        f.write_str(s)
    }
}

impl FromStr for NeighState {
    type Err = Error;

    /// ip's `nud` words: `permanent`, `reachable`, `stale`, `noarp`, `delay`, `probe`, `failed`,
    /// `incomplete`, `none` (any case).
    fn from_str(s: &str) -> Result<NeighState> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "permanent" | "perm" => NeighState::Permanent,
            "reachable" => NeighState::Reachable,
            "stale" => NeighState::Stale,
            "noarp" => NeighState::Noarp,
            "delay" => NeighState::Delay,
            "probe" => NeighState::Probe,
            "failed" => NeighState::Failed,
            "incomplete" => NeighState::Incomplete,
            "none" => NeighState::None,
            _ => {
                return Err(Error::invalid(
                    "neighbour state",
                    s,
                    "expected permanent, reachable, stale, noarp, ...",
                ));
            }
        })
    }
}

/// A neighbour entry as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Interface index.
    pub index: u32,
    /// The neighbour's IP address.
    pub ip: IpAddr,
    /// Its link-layer address, if resolved.
    pub mac: Option<[u8; 6]>,
    /// State.
    pub state: NeighState,
    /// `NTF_ROUTER`: the neighbour is a router (IPv6).
    pub router: bool,
}

impl Neighbour {
    /// Decode a `RTM_NEWNEIGH` message; `None` for other families or entries without an IP.
    pub fn from_message(m: &NeighbourMessage) -> Option<Neighbour> {
        Family::from_netlink(m.header.family)?;
        let mut ip = None;
        let mut mac = None;
        for a in &m.attributes {
            match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                    ip = Some(IpAddr::V4(*v4))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                    ip = Some(IpAddr::V6(*v6))
                }
                NeighbourAttribute::LinkLayerAddress(l) => mac = l.as_slice().try_into().ok(),
                _ => {}
            }
        }
        Some(Neighbour {
            index: m.header.ifindex,
            ip: ip?,
            mac,
            state: NeighState::from_netlink(m.header.state),
            router: m.header.flags.contains(NeighbourFlags::Router),
        })
    }

    /// The MAC as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> Option<String> {
        self.mac.as_ref().map(format_mac)
    }
}

fn neigh_message(
    index: u32,
    ip: IpAddr,
    mac: Option<[u8; 6]>,
    state: NeighState,
) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = Family::of(&ip).to_netlink();
    m.header.ifindex = index;
    m.header.state = state.to_netlink();
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::from(ip)));
    if let Some(mac) = mac {
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    }
    m
}

fn object(index: u32, ip: IpAddr, mac: Option<[u8; 6]>) -> String {
    match mac {
        Some(m) => format!("{ip} lladdr {} dev #{index}", format_mac(&m)),
        None => format!("{ip} dev #{index}"),
    }
}

/// The `RTM_NEWNEIGH` request of `ip neigh add IP lladdr MAC dev IF nud STATE`.
pub fn neigh_add_request(index: u32, ip: IpAddr, mac: [u8; 6], state: NeighState) -> Request {
    Request::new(
        RouteNetlinkMessage::NewNeighbour(neigh_message(index, ip, Some(mac), state)),
        NLM_F_CREATE | NLM_F_EXCL,
        "add neighbour",
        object(index, ip, Some(mac)),
    )
}

/// The `RTM_NEWNEIGH` request of `ip neigh replace ...`.
pub fn neigh_replace_request(index: u32, ip: IpAddr, mac: [u8; 6], state: NeighState) -> Request {
    Request::new(
        RouteNetlinkMessage::NewNeighbour(neigh_message(index, ip, Some(mac), state)),
        NLM_F_CREATE | NLM_F_REPLACE,
        "replace neighbour",
        object(index, ip, Some(mac)),
    )
}

/// The `RTM_DELNEIGH` request of `ip neigh del IP dev IF`.
pub fn neigh_del_request(index: u32, ip: IpAddr) -> Request {
    Request::new(
        RouteNetlinkMessage::DelNeighbour(neigh_message(index, ip, None, NeighState::None)),
        0,
        "delete neighbour",
        object(index, ip, None),
    )
}

/// A neighbour entry to add, replace or delete, with what the plain functions above cannot say:
/// the `router` flag and the interface's name for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighSpec {
    /// Interface index.
    pub index: u32,
    /// The neighbour's IP address.
    pub ip: IpAddr,
    /// Its link-layer address (`lladdr`); add and replace need it.
    pub mac: Option<[u8; 6]>,
    /// State (`nud`); [`NeighState::Permanent`] unless set, as ip.
    pub state: NeighState,
    /// `NTF_ROUTER`: the neighbour is a router.
    pub router: bool,
    /// Name of the interface, only used to word errors.
    pub dev_name: Option<String>,
}

impl NeighSpec {
    /// `ip` on the interface with index `index`, permanent, no MAC yet.
    pub fn new(index: u32, ip: IpAddr) -> NeighSpec {
        NeighSpec {
            index,
            ip,
            mac: None,
            state: NeighState::Permanent,
            router: false,
            dev_name: None,
        }
    }

    /// Set the link-layer address.
    pub fn lladdr(mut self, mac: [u8; 6]) -> Self {
        self.mac = Some(mac);
        self
    }

    /// Set the state.
    pub fn state(mut self, state: NeighState) -> Self {
        self.state = state;
        self
    }

    /// Mark the neighbour as a router (`NTF_ROUTER`).
    pub fn router(mut self) -> Self {
        self.router = true;
        self
    }

    /// Name the interface in errors (`10.0.0.2 dev eth0` rather than `dev #3`).
    pub fn dev_name(mut self, name: impl Into<String>) -> Self {
        self.dev_name = Some(name.into());
        self
    }

    fn object(&self, with_mac: bool) -> String {
        let mut s = self.ip.to_string();
        if let (true, Some(m)) = (with_mac, &self.mac) {
            s += &format!(" lladdr {}", format_mac(m));
        }
        match &self.dev_name {
            Some(n) => s + &format!(" dev {n}"),
            None => s + &format!(" dev #{}", self.index),
        }
    }

    fn new_message(&self) -> NeighbourMessage {
        let mut m = neigh_message(self.index, self.ip, self.mac, self.state);
        if self.router {
            m.header.flags |= NeighbourFlags::Router;
        }
        m
    }

    /// The `RTM_NEWNEIGH` request of `ip neigh add` (fails if the entry exists).
    pub fn request_add(&self) -> Request {
        Request::new(
            RouteNetlinkMessage::NewNeighbour(self.new_message()),
            NLM_F_CREATE | NLM_F_EXCL,
            "add neighbour",
            self.object(true),
        )
    }

    /// The `RTM_NEWNEIGH` request of `ip neigh replace` (adds or replaces).
    pub fn request_replace(&self) -> Request {
        Request::new(
            RouteNetlinkMessage::NewNeighbour(self.new_message()),
            NLM_F_CREATE | NLM_F_REPLACE,
            "replace neighbour",
            self.object(true),
        )
    }

    /// The `RTM_DELNEIGH` request of `ip neigh del` (only the IP and interface count).
    pub fn request_del(&self) -> Request {
        Request::new(
            RouteNetlinkMessage::DelNeighbour(neigh_message(
                self.index,
                self.ip,
                None,
                NeighState::None,
            )),
            0,
            "delete neighbour",
            self.object(false),
        )
    }
}

impl Handle {
    /// Add a neighbour entry (fails if one exists).
    pub fn neigh_add(&self, index: u32, ip: IpAddr, mac: [u8; 6], state: NeighState) -> Result<()> {
        self.ack(neigh_add_request(index, ip, mac, state))
    }

    /// Add or replace a neighbour entry.
    pub fn neigh_replace(
        &self,
        index: u32,
        ip: IpAddr,
        mac: [u8; 6],
        state: NeighState,
    ) -> Result<()> {
        self.ack(neigh_replace_request(index, ip, mac, state))
    }

    /// Delete a neighbour entry.
    pub fn neigh_del(&self, index: u32, ip: IpAddr) -> Result<()> {
        self.ack(neigh_del_request(index, ip))
    }

    /// IPv4 and IPv6 neighbour entries, of every interface or of one.
    pub fn neighs(&self, index: Option<u32>) -> Result<Vec<Neighbour>> {
        let req = Request::new(
            RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
            0,
            "list neighbours",
            "*",
        );
        Ok(self
            .dump(req)?
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewNeighbour(n) => Neighbour::from_message(n),
                _ => None,
            })
            .filter(|n| index.is_none_or(|i| n.index == i))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_request_round_trips_through_the_decoder() {
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let mac = [2, 0, 0, 0, 0, 9];
        let req = neigh_add_request(5, ip, mac, NeighState::Permanent);
        let RouteNetlinkMessage::NewNeighbour(m) = req.message() else {
            panic!()
        };
        let n = Neighbour::from_message(m).unwrap();
        assert_eq!(
            n,
            Neighbour {
                index: 5,
                ip,
                mac: Some(mac),
                state: NeighState::Permanent,
                router: false
            }
        );
        assert_eq!(req.object, "10.0.0.9 lladdr 02:00:00:00:00:09 dev #5");
    }

    #[test]
    fn spec_carries_router_and_names_the_device() {
        let ip: IpAddr = "fd00::2".parse().unwrap();
        let mac = [2, 0, 0, 0, 0, 2];
        let spec = NeighSpec::new(3, ip)
            .lladdr(mac)
            .state(NeighState::Stale)
            .router()
            .dev_name("eth0");
        let req = spec.request_replace();
        let RouteNetlinkMessage::NewNeighbour(m) = req.message() else {
            panic!()
        };
        let n = Neighbour::from_message(m).unwrap();
        assert_eq!(
            (n.index, n.ip, n.mac, n.state, n.router),
            (3, ip, Some(mac), NeighState::Stale, true)
        );
        assert_eq!(req.object, "fd00::2 lladdr 02:00:00:00:00:02 dev eth0");
        assert_eq!(req.flags() & NLM_F_REPLACE, NLM_F_REPLACE);
        let add = NeighSpec::new(3, ip).lladdr(mac).request_add();
        let RouteNetlinkMessage::NewNeighbour(m) = add.message() else {
            panic!()
        };
        let n = Neighbour::from_message(m).unwrap();
        assert_eq!((n.state, n.router), (NeighState::Permanent, false));
        assert_eq!(add.object, "fd00::2 lladdr 02:00:00:00:00:02 dev #3");
        assert_eq!(
            spec.request_del().object,
            "fd00::2 dev eth0",
            "del names no MAC"
        );
    }

    #[test]
    fn states_parse_like_ip() {
        assert_eq!(
            "PERMANENT".parse::<NeighState>().unwrap(),
            NeighState::Permanent
        );
        assert_eq!("stale".parse::<NeighState>().unwrap().to_string(), "STALE");
        assert!("sleepy".parse::<NeighState>().is_err());
    }
}
