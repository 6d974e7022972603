//! Bridges: creating them, their ports' flags (hairpin, learning, flooding, isolation), and
//! their forwarding database (`bridge fdb`).
//!
//! Port flags go as bridge-port data (`IFLA_INFO_SLAVE_DATA`) in an `RTM_NEWLINK` without
//! create flags, as `ip link set dev PORT type bridge_slave ...` sends them. The FDB is
//! `RTM_{NEW,DEL,GET}NEIGH` in family `AF_BRIDGE`.
//!
//! ```no_run
//! use warren_kernel::Handle;
//! use warren_kernel::link::bridge::{BridgePortOptions, FdbEntry, FdbState};
//!
//! let h = Handle::current()?;
//! let opts = BridgePortOptions { hairpin: Some(true), isolated: Some(true), ..Default::default() };
//! h.bridge_port_set("hv1", &opts)?;
//! let mut entry = FdbEntry::new([2, 0, 0, 0, 0, 1], h.link_index("hv1")?);
//! entry.state = FdbState::Static;
//! h.fdb_add(&entry)?;
//! # Ok::<(), warren_kernel::Error>(())
//! ```

use std::net::IpAddr;
use std::time::Duration;

use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::link::{
    BridgeStpState, InfoBridge, InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind,
    LinkAttribute, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Common, LinkSpec, create_request, named_message, validate_ifname};
use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::netlink::Request;

/// A bridge to create (`ip link add NAME type bridge ...`).
#[derive(Debug, Clone, Default)]
pub struct Bridge {
    name: String,
    stp: Option<bool>,
    forward_delay: Option<Duration>,
    ageing_time: Option<Duration>,
    vlan_filtering: Option<bool>,
    common: Common,
}

/// Seconds to the kernel's clock_t (USER_HZ = 100), which bridge timers use.
fn centiseconds(d: Duration) -> u32 {
    u32::try_from(d.as_millis() / 10).unwrap_or(u32::MAX)
}

impl Bridge {
    /// A bridge called `name` with the kernel's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        Bridge {
            name: name.into(),
            ..Bridge::default()
        }
    }

    /// Spanning tree on (kernel STP) or off.
    pub fn stp(mut self, on: bool) -> Self {
        self.stp = Some(on);
        self
    }

    /// STP forward delay (the kernel keeps centiseconds; it accepts 2–30 s with STP on).
    pub fn forward_delay(mut self, d: Duration) -> Self {
        self.forward_delay = Some(d);
        self
    }

    /// How long learned FDB entries live.
    pub fn ageing_time(mut self, d: Duration) -> Self {
        self.ageing_time = Some(d);
        self
    }

    /// VLAN filtering on or off.
    pub fn vlan_filtering(mut self, on: bool) -> Self {
        self.vlan_filtering = Some(on);
        self
    }

    /// MTU.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.common.mtu = Some(mtu);
        self
    }

    /// MAC address.
    pub fn mac(mut self, mac: [u8; 6]) -> Self {
        self.common.mac = Some(mac);
        self
    }

    /// Bring it up at creation.
    pub fn up(mut self) -> Self {
        self.common.up = true;
        self
    }
}

impl LinkSpec for Bridge {
    fn request(&self) -> Result<Request> {
        validate_ifname(&self.name)?;
        let mut data = Vec::new();
        if let Some(on) = self.stp {
            data.push(InfoBridge::StpState(if on {
                BridgeStpState::KernelStp
            } else {
                BridgeStpState::Disabled
            }));
        }
        if let Some(d) = self.forward_delay {
            data.push(InfoBridge::ForwardDelay(centiseconds(d)));
        }
        if let Some(d) = self.ageing_time {
            data.push(InfoBridge::AgeingTime(centiseconds(d)));
        }
        if let Some(on) = self.vlan_filtering {
            data.push(InfoBridge::VlanFiltering(on));
        }
        let mut info = vec![LinkInfo::Kind(InfoKind::Bridge)];
        if !data.is_empty() {
            info.push(LinkInfo::Data(InfoData::Bridge(data)));
        }
        let mut msg = named_message(&self.name);
        msg.attributes.push(LinkAttribute::LinkInfo(info));
        self.common.apply(&mut msg);
        Ok(create_request(msg, &self.name, "bridge"))
    }
}

/// Flags of a bridge port; `None` leaves a flag as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgePortOptions {
    /// Send frames back out of the port they came in on (needed for hairpin NAT).
    pub hairpin: Option<bool>,
    /// Learn source MACs seen on this port.
    pub learning: Option<bool>,
    /// Flood unknown unicast to this port.
    pub flood: Option<bool>,
    /// Flood unknown multicast to this port.
    pub mcast_flood: Option<bool>,
    /// Flood broadcast to this port.
    pub bcast_flood: Option<bool>,
    /// Isolated ports cannot talk to each other, only to non-isolated ones.
    pub isolated: Option<bool>,
    /// Answer ARP for known hosts on behalf of the port.
    pub proxy_arp: Option<bool>,
    /// Suppress ARP/ND for hosts the bridge knows.
    pub neigh_suppress: Option<bool>,
    /// STP path cost.
    pub cost: Option<u32>,
    /// STP port priority.
    pub priority: Option<u16>,
}

/// How one on/off port flag becomes its attribute.
type PortFlag = fn(bool) -> InfoBridgePort;

impl BridgePortOptions {
    fn attributes(&self) -> Vec<InfoBridgePort> {
        let mut v = Vec::new();
        let flags: [(Option<bool>, PortFlag); 8] = [
            (self.hairpin, InfoBridgePort::HairpinMode),
            (self.learning, InfoBridgePort::Learning),
            (self.flood, InfoBridgePort::UnicastFlood),
            (self.mcast_flood, InfoBridgePort::MulticastFlood),
            (self.bcast_flood, InfoBridgePort::BroadcastFlood),
            (self.isolated, InfoBridgePort::Isolated),
            (self.proxy_arp, InfoBridgePort::ProxyARP),
            (self.neigh_suppress, InfoBridgePort::NeighSupress),
        ];
        for (value, make) in flags {
            if let Some(on) = value {
                v.push(make(on));
            }
        }
        if let Some(c) = self.cost {
            v.push(InfoBridgePort::Cost(c));
        }
        if let Some(p) = self.priority {
            v.push(InfoBridgePort::Priority(p));
        }
        v
    }
}

/// The request setting bridge-port flags on the port with index `index` (`name` is for errors).
pub fn port_set_request(index: u32, name: &str, opts: &BridgePortOptions) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::PortKind(InfoPortKind::Bridge),
        LinkInfo::PortData(InfoPortData::BridgePort(opts.attributes())),
    ]));
    Request::new(
        RouteNetlinkMessage::NewLink(msg),
        0,
        "set bridge port",
        name,
    )
}

/// Where an FDB entry lives: in the bridge's table (`master`) or the port device's own
/// (`self`, e.g. a vxlan device's remote table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FdbTarget {
    /// `NTF_MASTER`: the bridge's forwarding database.
    #[default]
    Master,
    /// `NTF_SELF`: the device's own table.
    SelfDev,
}

/// Lifetime of an FDB entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FdbState {
    /// `permanent`: local to the bridge, never ages (`NUD_PERMANENT`).
    #[default]
    Permanent,
    /// `static`: never ages, forwards out of the port (`NUD_NOARP`).
    Static,
    /// Learned or `dynamic`: ages out.
    Dynamic,
}

/// One bridge forwarding database entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbEntry {
    /// The MAC address.
    pub mac: [u8; 6],
    /// Index of the port device (`dev`).
    pub port: u32,
    /// Index of the bridge the port belongs to, as the kernel reports it (ignored when adding).
    pub master: Option<u32>,
    /// Bridge table or the device's own.
    pub target: FdbTarget,
    /// Lifetime.
    pub state: FdbState,
    /// VLAN.
    pub vlan: Option<u16>,
    /// Remote endpoint (vxlan).
    pub dst: Option<IpAddr>,
    /// VNI (vxlan).
    pub vni: Option<u32>,
}

impl FdbEntry {
    /// A permanent entry for `mac` on the port with index `port`, in the bridge's table.
    pub fn new(mac: [u8; 6], port: u32) -> Self {
        FdbEntry {
            mac,
            port,
            master: None,
            target: FdbTarget::Master,
            state: FdbState::Permanent,
            vlan: None,
            dst: None,
            vni: None,
        }
    }

    fn message(&self) -> NeighbourMessage {
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Bridge;
        m.header.ifindex = self.port;
        m.header.state = match self.state {
            FdbState::Permanent => NeighbourState::Permanent,
            FdbState::Static => NeighbourState::Noarp,
            FdbState::Dynamic => NeighbourState::Reachable,
        };
        m.header.flags = match self.target {
            FdbTarget::Master => NeighbourFlags::Controller,
            FdbTarget::SelfDev => NeighbourFlags::Own,
        };
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(self.mac.to_vec()));
        if let Some(vlan) = self.vlan {
            m.attributes.push(NeighbourAttribute::Vlan(vlan));
        }
        if let Some(dst) = self.dst {
            m.attributes
                .push(NeighbourAttribute::Destination(match dst {
                    IpAddr::V4(a) => NeighbourAddress::Inet(a),
                    IpAddr::V6(a) => NeighbourAddress::Inet6(a),
                }));
        }
        if let Some(vni) = self.vni {
            m.attributes.push(NeighbourAttribute::Vni(vni));
        }
        m
    }

    fn label(&self) -> String {
        format!(
            "{} on port index {}",
            super::format_mac(&self.mac),
            self.port
        )
    }

    fn from_message(m: &NeighbourMessage) -> Option<FdbEntry> {
        let mut e = FdbEntry::new([0; 6], m.header.ifindex);
        e.state = if m.header.state == NeighbourState::Permanent {
            FdbState::Permanent
        } else if m.header.state == NeighbourState::Noarp {
            FdbState::Static
        } else {
            FdbState::Dynamic
        };
        e.target = if m.header.flags.contains(NeighbourFlags::Own) {
            FdbTarget::SelfDev
        } else {
            FdbTarget::Master
        };
        let mut has_mac = false;
        for a in &m.attributes {
            match a {
                NeighbourAttribute::LinkLayerAddress(mac) if mac.len() == 6 => {
                    e.mac.copy_from_slice(mac);
                    has_mac = true;
                }
                NeighbourAttribute::Vlan(v) => e.vlan = Some(*v),
                NeighbourAttribute::Controller(v) => e.master = Some(*v),
                NeighbourAttribute::Vni(v) => e.vni = Some(*v),
                NeighbourAttribute::Destination(d) => e.dst = ip_of(d),
                _ => {}
            }
        }
        has_mac.then_some(e)
    }
}

fn ip_of(d: &NeighbourAddress) -> Option<IpAddr> {
    match d {
        NeighbourAddress::Inet(a) => Some(IpAddr::V4(*a)),
        NeighbourAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        // In family AF_BRIDGE the crate cannot tell the address family: decide by length.
        NeighbourAddress::Other(b) => match b.len() {
            4 => <[u8; 4]>::try_from(b.as_slice()).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(IpAddr::from),
            _ => None,
        },
        _ => None,
    }
}

/// How an FDB add treats an existing entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdbAdd {
    /// Fail if it exists (`bridge fdb add`).
    Exclusive,
    /// Replace it (`bridge fdb replace`).
    Replace,
    /// Add another destination for the same MAC (`bridge fdb append`, vxlan flooding lists).
    Append,
}

/// The request adding `entry`.
pub fn fdb_add_request(entry: &FdbEntry, how: FdbAdd) -> Request {
    let flags = match how {
        FdbAdd::Exclusive => NLM_F_CREATE | NLM_F_EXCL,
        FdbAdd::Replace => NLM_F_CREATE | NLM_F_REPLACE,
        FdbAdd::Append => NLM_F_CREATE | NLM_F_APPEND,
    };
    Request::new(
        RouteNetlinkMessage::NewNeighbour(entry.message()),
        flags,
        "add fdb entry",
        entry.label(),
    )
}

/// The request deleting `entry`.
pub fn fdb_del_request(entry: &FdbEntry) -> Request {
    Request::new(
        RouteNetlinkMessage::DelNeighbour(entry.message()),
        0,
        "delete fdb entry",
        entry.label(),
    )
}

impl Handle {
    /// Make the link `port` a port of the bridge with index `master` (`ip link set PORT master
    /// BR`), or detach it with `None` (`nomaster`).
    pub fn link_set_master(&self, port: &str, master: Option<u32>) -> Result<()> {
        let index = self.link_index(port)?;
        self.ack(super::set::master_request(index, port, master))
            .map_err(super::explain_master)
    }

    /// Set bridge-port flags on `port` (`ip link set PORT type bridge_slave ...`).
    pub fn bridge_port_set(&self, port: &str, opts: &BridgePortOptions) -> Result<()> {
        let index = self.link_index(port)?;
        if opts.attributes().is_empty() {
            return Ok(());
        }
        self.ack(port_set_request(index, port, opts))
    }

    /// Add an FDB entry; fails if it exists (`bridge fdb add`).
    pub fn fdb_add(&self, entry: &FdbEntry) -> Result<()> {
        entry.validate()?;
        self.ack(fdb_add_request(entry, FdbAdd::Exclusive))
    }

    /// Add an FDB entry, choosing how an existing one is treated.
    pub fn fdb_add_with(&self, entry: &FdbEntry, how: FdbAdd) -> Result<()> {
        entry.validate()?;
        self.ack(fdb_add_request(entry, how))
    }

    /// Delete an FDB entry (MAC, port, target and VLAN identify it).
    pub fn fdb_del(&self, entry: &FdbEntry) -> Result<()> {
        entry.validate()?;
        self.ack(fdb_del_request(entry))
    }

    /// The FDB entries of this namespace; with `bridge_or_port`, only those of that bridge
    /// (its ports' entries and its own) or of that port.
    pub fn fdb_list(&self, bridge_or_port: Option<u32>) -> Result<Vec<FdbEntry>> {
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Bridge;
        let req = Request::new(RouteNetlinkMessage::GetNeighbour(m), 0, "list fdb", "*");
        let all = self.dump(req)?;
        let entries = all.iter().filter_map(|m| match m {
            RouteNetlinkMessage::NewNeighbour(n) if n.header.family == AddressFamily::Bridge => {
                FdbEntry::from_message(n)
            }
            _ => None,
        });
        Ok(match bridge_or_port {
            None => entries.collect(),
            Some(i) => entries
                .filter(|e| e.port == i || e.master == Some(i))
                .collect(),
        })
    }
}

impl FdbEntry {
    /// Check the entry makes sense before sending it.
    pub fn validate(&self) -> Result<()> {
        if self.vlan.is_some_and(|v| v == 0 || v >= 4095) {
            return Err(Error::invalid(
                "VLAN id",
                self.vlan.unwrap_or(0).to_string(),
                "must be 1–4094",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::tests_support::{attr, attr_str, ifinfomsg, nested, nlmsghdr};

    #[test]
    fn port_flags_go_as_bridge_slave_data() {
        let opts = BridgePortOptions {
            hairpin: Some(true),
            learning: Some(false),
            isolated: Some(true),
            ..BridgePortOptions::default()
        };
        let req = port_set_request(7, "hv0", &opts);
        // IFLA_LINKINFO { IFLA_INFO_SLAVE_KIND (4) "bridge", IFLA_INFO_SLAVE_DATA (5) {
        //   IFLA_BRPORT_MODE (4) 1, IFLA_BRPORT_LEARNING (8) 0, IFLA_BRPORT_ISOLATED (33) 1 } }
        let data = nested(5, &[attr(4, &[1]), attr(8, &[0]), attr(33, &[1])]);
        let info = nested(18, &[attr_str(4, "bridge"), data]);
        let mut body = ifinfomsg(7, 0, 0);
        body.extend(info);
        // RTM_NEWLINK without create flags: NLM_F_REQUEST | NLM_F_ACK.
        let mut want = nlmsghdr(body.len(), 16, 0x5, 3);
        want.extend(body);
        assert_eq!(req.to_bytes(3), want);
    }

    #[test]
    fn fdb_entry_is_an_af_bridge_neighbour() {
        let mut e = FdbEntry::new([2, 0, 0, 0, 0, 1], 4);
        e.state = FdbState::Static;
        e.dst = Some(IpAddr::from([192, 0, 2, 9]));
        let req = fdb_add_request(&e, FdbAdd::Exclusive);
        // struct ndmsg: AF_BRIDGE (7), pad, ifindex 4, state NUD_NOARP (0x40), NTF_MASTER (4),
        // type 0; then NDA_LLADDR (2) and NDA_DST (1).
        let mut body = vec![7u8, 0, 0, 0];
        body.extend(4u32.to_ne_bytes());
        body.extend(0x40u16.to_ne_bytes());
        body.extend([4u8, 0]);
        body.extend(attr(2, &[2, 0, 0, 0, 0, 1]));
        body.extend(attr(1, &[192, 0, 2, 9]));
        // RTM_NEWNEIGH = 28; NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE.
        let mut want = nlmsghdr(body.len(), 28, 0x605, 1);
        want.extend(body);
        assert_eq!(req.to_bytes(1), want);
    }

    #[test]
    fn bad_vlan_is_refused() {
        let mut e = FdbEntry::new([2, 0, 0, 0, 0, 1], 4);
        e.vlan = Some(4095);
        assert!(e.validate().is_err());
    }
}
