//! ipvlan links (`ip link add NAME link PARENT type ipvlan mode l2|l3|l3s [bridge|private|vepa]`).
//!
//! Kernels built without ipvlan refuse the create with `EOPNOTSUPP` "Unknown device type",
//! which comes back as [`crate::Error::KernelLacks`] with feature `ipvlan`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoKind, IpVlanFlags, IpVlanMode as WireMode, LinkAttribute, LinkInfo,
};

use super::{Common, LinkSpec, create_request, named_message, validate_ifname};
use crate::error::{Error, Result};
use crate::netlink::Request;
use crate::netns::NetNs;

/// Where an ipvlan works: layer 2, layer 3, or layer 3 with netfilter hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVlanMode {
    /// `l2`.
    L2,
    /// `l3`.
    L3,
    /// `l3s`.
    L3s,
}

/// How slaves of one parent reach each other (`IFLA_IPVLAN_FLAGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpVlanFlag {
    /// Directly (the default, flags 0).
    #[default]
    Bridge,
    /// Not at all (`IPVLAN_F_PRIVATE`).
    Private,
    /// Through the external switch (`IPVLAN_F_VEPA`).
    Vepa,
}

impl IpVlanMode {
    /// Parse ip's spelling (`l2`, `l3`, `l3s`).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "l2" => IpVlanMode::L2,
            "l3" => IpVlanMode::L3,
            "l3s" => IpVlanMode::L3s,
            _ => return Err(Error::invalid("ipvlan mode", s, "expected l2, l3 or l3s")),
        })
    }
}

impl IpVlanFlag {
    /// Parse ip's spelling (`bridge`, `private`, `vepa`).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "bridge" => IpVlanFlag::Bridge,
            "private" => IpVlanFlag::Private,
            "vepa" => IpVlanFlag::Vepa,
            _ => {
                return Err(Error::invalid(
                    "ipvlan flag",
                    s,
                    "expected bridge, private or vepa",
                ));
            }
        })
    }
}

/// An ipvlan link to create on a parent.
#[derive(Debug, Clone)]
pub struct IpVlan<'ns> {
    name: String,
    parent: u32,
    mode: IpVlanMode,
    flag: IpVlanFlag,
    netns: Option<BorrowedFd<'ns>>,
    common: Common,
}

impl<'ns> IpVlan<'ns> {
    /// An ipvlan `name` on the link with index `parent`.
    pub fn new(name: impl Into<String>, parent: u32, mode: IpVlanMode) -> Self {
        IpVlan {
            name: name.into(),
            parent,
            mode,
            flag: IpVlanFlag::Bridge,
            netns: None,
            common: Common::default(),
        }
    }

    /// Bridge (default), private or vepa.
    pub fn flag(mut self, flag: IpVlanFlag) -> Self {
        self.flag = flag;
        self
    }

    /// Create it inside `ns` (the parent stays where it is).
    pub fn netns(mut self, ns: &'ns NetNs) -> Self {
        self.netns = Some(ns.as_fd());
        self
    }

    /// MTU.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.common.mtu = Some(mtu);
        self
    }

    /// Make it a port of the bridge with index `index` at creation.
    pub fn master(mut self, index: u32) -> Self {
        self.common.master = Some(index);
        self
    }

    /// Bring it up at creation.
    pub fn up(mut self) -> Self {
        self.common.up = true;
        self
    }
}

impl LinkSpec for IpVlan<'_> {
    fn request(&self) -> Result<Request> {
        validate_ifname(&self.name)?;
        let mode = match self.mode {
            IpVlanMode::L2 => WireMode::L2,
            IpVlanMode::L3 => WireMode::L3,
            IpVlanMode::L3s => WireMode::L3S,
        };
        let flags = match self.flag {
            IpVlanFlag::Bridge => IpVlanFlags::empty(),
            IpVlanFlag::Private => IpVlanFlags::Private,
            IpVlanFlag::Vepa => IpVlanFlags::Vepa,
        };
        let mut msg = named_message(&self.name);
        msg.attributes.push(LinkAttribute::Link(self.parent));
        if let Some(fd) = self.netns {
            msg.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::IpVlan),
            LinkInfo::Data(InfoData::IpVlan(vec![
                InfoIpVlan::Mode(mode),
                InfoIpVlan::Flags(flags),
            ])),
        ]));
        self.common.apply(&mut msg);
        Ok(create_request(
            msg,
            &format!("{} on link index {}", self.name, self.parent),
            "ipvlan",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::tests_support::{attr, attr_str, ifinfomsg, nested, nlmsghdr};

    fn expected(name: &str, parent: u32, mode: u16, flags: u16, seq: u32) -> Vec<u8> {
        // IFLA_INFO_DATA { IFLA_IPVLAN_MODE u16, IFLA_IPVLAN_FLAGS u16 }
        let data = nested(
            2,
            &[attr(1, &mode.to_ne_bytes()), attr(2, &flags.to_ne_bytes())],
        );
        // IFLA_LINKINFO { IFLA_INFO_KIND "ipvlan", IFLA_INFO_DATA }
        let info = nested(18, &[attr_str(1, "ipvlan"), data]);
        let mut body = ifinfomsg(0, 0, 0);
        body.extend(attr_str(3, name)); // IFLA_IFNAME
        body.extend(attr(5, &parent.to_ne_bytes())); // IFLA_LINK
        body.extend(info);
        // RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
        let mut msg = nlmsghdr(body.len(), 16, 0x0605, seq);
        msg.extend(body);
        msg
    }

    #[test]
    fn ipvlan_message_matches_the_uapi_layout_byte_for_byte() {
        let cases = [
            (IpVlanMode::L2, IpVlanFlag::Bridge, 0u16, 0u16),
            (IpVlanMode::L3, IpVlanFlag::Private, 1, 1),
            (IpVlanMode::L3s, IpVlanFlag::Vepa, 2, 2),
        ];
        for (mode, flag, m, f) in cases {
            let req = IpVlan::new("ipv0", 4, mode).flag(flag).request().unwrap();
            assert_eq!(
                req.to_bytes(42),
                expected("ipv0", 4, m, f, 42),
                "{mode:?} {flag:?}"
            );
        }
    }

    #[test]
    fn the_whole_l2_message_spelled_out() {
        // The same bytes written out in full, so the helpers themselves are checked once.
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[88u8, 0, 0, 0][..], &16u16.to_ne_bytes(), &0x605u16.to_ne_bytes(), &1u32.to_ne_bytes(), &[0, 0, 0, 0],
            &[0, 0, 0, 0], &[0, 0, 0, 0], &[0, 0, 0, 0], &[0, 0, 0, 0],  // ifinfomsg
            &[9, 0, 3, 0], b"ipv0\0", &[0, 0, 0],                            // IFLA_IFNAME
            &[8, 0, 5, 0], &7u32.to_ne_bytes(),                              // IFLA_LINK 7
            &[36, 0, 18, 0],                                                 // IFLA_LINKINFO
            &[11, 0, 1, 0], b"ipvlan\0", &[0],                               // IFLA_INFO_KIND
            &[20, 0, 2, 0],                                                  // IFLA_INFO_DATA
            &[6, 0, 1, 0], &1u16.to_ne_bytes(), &[0, 0],                     // MODE l3
            &[6, 0, 2, 0], &0u16.to_ne_bytes(), &[0, 0],                     // FLAGS bridge
        ]
        .concat();
        let req = IpVlan::new("ipv0", 7, IpVlanMode::L3).request().unwrap();
        assert_eq!(req.to_bytes(1), want);
    }

    #[test]
    fn names_and_modes_are_checked() {
        assert!(
            IpVlan::new("x".repeat(16), 1, IpVlanMode::L2)
                .request()
                .is_err()
        );
        assert!(IpVlanMode::parse("l4").is_err());
        assert!(IpVlanFlag::parse("vepa").is_ok());
    }
}
