//! A link's place on a bridge: the STP state of a bridge port ([`PortState`],
//! `IFLA_BRPORT_STATE`), read from the link's `RTM_GETLINK` reply
//! ([`Handle::link_port_state`]).

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    BridgePortState, InfoBridgePort, InfoPortData, LinkAttribute, LinkInfo, LinkMessage,
};

use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::netlink::Request;

/// The STP state of a bridge port (`bridge link` prints it): only `Forwarding` passes frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortState {
    /// The port is down (its link is down or it was disabled).
    Disabled,
    /// STP listening.
    Listening,
    /// STP learning: MACs are learnt, nothing is forwarded.
    Learning,
    /// Forwarding: frames pass.
    Forwarding,
    /// STP blocking.
    Blocking,
    /// Another value.
    Other(u8),
}

impl PortState {
    /// The name `bridge link` prints (`disabled`, `forwarding`, ...).
    pub fn name(self) -> String {
        match self {
            PortState::Disabled => "disabled".into(),
            PortState::Listening => "listening".into(),
            PortState::Learning => "learning".into(),
            PortState::Forwarding => "forwarding".into(),
            PortState::Blocking => "blocking".into(),
            PortState::Other(n) => format!("state {n}"),
        }
    }

    fn from_netlink(s: BridgePortState) -> PortState {
        match s {
            BridgePortState::Disabled => PortState::Disabled,
            BridgePortState::Listening => PortState::Listening,
            BridgePortState::Learning => PortState::Learning,
            BridgePortState::Forwarding => PortState::Forwarding,
            BridgePortState::Blocking => PortState::Blocking,
            other => PortState::Other(other.into()),
        }
    }
}

impl Handle {
    fn link_message(&self, index: u32) -> Result<LinkMessage> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let req = Request::new(
            RouteNetlinkMessage::GetLink(msg),
            0,
            "get link",
            format!("index {index}"),
        );
        match self.get(req)? {
            RouteNetlinkMessage::NewLink(l) => Ok(l),
            _ => Err(Error::Decode {
                op: "get link",
                ns: self.ns().label().into(),
                reason: "unexpected reply".into(),
            }),
        }
    }

    /// The bridge-port state of the link with index `index`; `None` when it is no bridge port.
    pub fn link_port_state(&self, index: u32) -> Result<Option<PortState>> {
        let m = self.link_message(index)?;
        Ok(m.attributes.iter().find_map(|a| match a {
            LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                LinkInfo::PortData(InfoPortData::BridgePort(attrs)) => {
                    attrs.iter().find_map(|p| match p {
                        InfoBridgePort::State(s) => Some(PortState::from_netlink(*s)),
                        _ => None,
                    })
                }
                _ => None,
            }),
            _ => None,
        }))
    }
}
