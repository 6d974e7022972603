//! A link's place on a bridge: the STP state of a bridge port ([`PortState`],
//! `IFLA_BRPORT_STATE`), read from the link's `RTM_GETLINK` reply
//! ([`Handle::link_port_state`]) and set the way `bridge link set dev NAME state N` does
//! ([`Handle::link_set_port_state`]).

use netlink_packet_core::DefaultNla;
use netlink_packet_route::link::{
    BridgePortState, InfoBridgePort, InfoPortData, LinkAttribute, LinkInfo, LinkMessage,
    LinkProtoInfoBridge,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

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

    /// The kernel's number for the state (`BR_STATE_*`).
    pub fn code(self) -> u8 {
        match self {
            PortState::Disabled => 0,
            PortState::Listening => 1,
            PortState::Learning => 2,
            PortState::Forwarding => 3,
            PortState::Blocking => 4,
            PortState::Other(n) => n,
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

/// `IFLA_BRPORT_STATE`, inside `IFLA_PROTINFO`.
const IFLA_BRPORT_STATE: u16 = 1;

/// The request setting the bridge-port state of the port with index `index` (`name` is for
/// errors): `RTM_SETLINK` in the bridge family with `IFLA_PROTINFO { IFLA_BRPORT_STATE }`,
/// as `bridge link set dev NAME state N` sends it. The kernel refuses it (`EBUSY`) while the
/// bridge runs its own STP.
pub fn port_state_request(index: u32, name: &str, state: PortState) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.interface_family = AddressFamily::Bridge;
    msg.header.index = index;
    msg.attributes.push(LinkAttribute::ProtoInfoBridge(vec![
        LinkProtoInfoBridge::Other(DefaultNla::new(IFLA_BRPORT_STATE, vec![state.code()])),
    ]));
    Request::new(
        RouteNetlinkMessage::SetLink(msg),
        0,
        "set bridge port state",
        name,
    )
}

impl Handle {
    /// Set the bridge-port state of the port with index `index` (`name` is for errors).
    /// `Disabled` cuts the port off the bridge (nothing is forwarded to or from it) without
    /// setting the link down, which would wait for an RCU grace period.
    pub fn link_set_port_state(&self, index: u32, name: &str, state: PortState) -> Result<()> {
        self.ack(port_state_request(index, name, state))
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::tests_support::{attr, nlmsghdr};

    #[test]
    fn port_state_goes_as_bridge_protinfo() {
        let req = port_state_request(9, "hv0", PortState::Disabled);
        // struct ifinfomsg: AF_BRIDGE (7), pad, ARPHRD 0, index 9, flags 0, change 0; then
        // IFLA_PROTINFO (12) | NLA_F_NESTED { IFLA_BRPORT_STATE (1) u8 0 }.
        let mut body = vec![7u8, 0];
        body.extend(0u16.to_ne_bytes());
        body.extend(9u32.to_ne_bytes());
        body.extend(0u32.to_ne_bytes());
        body.extend(0u32.to_ne_bytes());
        body.extend(attr(12 | 0x8000, &attr(1, &[0])));
        // RTM_SETLINK = 19; NLM_F_REQUEST | NLM_F_ACK.
        let mut want = nlmsghdr(body.len(), 19, 0x5, 4);
        want.extend(body);
        assert_eq!(req.to_bytes(4), want);
    }

    #[test]
    fn state_codes_are_the_kernels() {
        let all = [
            PortState::Disabled,
            PortState::Listening,
            PortState::Learning,
            PortState::Forwarding,
            PortState::Blocking,
        ];
        for (i, s) in all.into_iter().enumerate() {
            assert_eq!(usize::from(s.code()), i);
            assert_eq!(PortState::from_netlink(BridgePortState::from(s.code())), s);
        }
        assert_eq!(PortState::Other(9).code(), 9);
    }
}
