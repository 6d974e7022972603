//! macvlan and macvtap links (`ip link add NAME link PARENT type macvlan mode MODE`).
//!
//! A macvlan can be created directly in another namespace ([`MacVlan::netns`]): the parent is
//! looked up in the handle's namespace, the new link appears in the other one.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoMacVtap, LinkAttribute, LinkInfo, MacVlanMacAddressMode,
    MacVlanMode as WireMode,
};

use super::{Common, LinkSpec, create_request, named_message, validate_ifname};
use crate::error::{Error, Result};
use crate::netlink::Request;
use crate::netns::NetNs;

/// How a macvlan forwards between itself, its siblings and the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacVlanMode {
    /// No traffic between siblings at all.
    Private,
    /// Everything goes out to the external switch (which must hairpin).
    Vepa,
    /// Siblings talk directly through the parent.
    Bridge,
    /// One macvlan takes over the parent (`passthru`).
    Passthru,
    /// Only frames from listed source MACs are received.
    Source,
}

impl MacVlanMode {
    /// The mode as ip spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MacVlanMode::Private => "private",
            MacVlanMode::Vepa => "vepa",
            MacVlanMode::Bridge => "bridge",
            MacVlanMode::Passthru => "passthru",
            MacVlanMode::Source => "source",
        }
    }

    /// Parse ip's spelling.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "private" => MacVlanMode::Private,
            "vepa" => MacVlanMode::Vepa,
            "bridge" => MacVlanMode::Bridge,
            "passthru" => MacVlanMode::Passthru,
            "source" => MacVlanMode::Source,
            _ => {
                return Err(Error::invalid(
                    "macvlan mode",
                    s,
                    "expected private, vepa, bridge, passthru or source",
                ));
            }
        })
    }

    fn wire(self) -> WireMode {
        match self {
            MacVlanMode::Private => WireMode::Private,
            MacVlanMode::Vepa => WireMode::Vepa,
            MacVlanMode::Bridge => WireMode::Bridge,
            MacVlanMode::Passthru => WireMode::Passthrough,
            MacVlanMode::Source => WireMode::Source,
        }
    }
}

/// A macvlan (or macvtap) link to create on a parent.
#[derive(Debug, Clone)]
pub struct MacVlan<'ns> {
    name: String,
    parent: u32,
    mode: MacVlanMode,
    tap: bool,
    source_macs: Vec<[u8; 6]>,
    netns: Option<BorrowedFd<'ns>>,
    common: Common,
}

impl<'ns> MacVlan<'ns> {
    /// A macvlan `name` on the link with index `parent`.
    pub fn new(name: impl Into<String>, parent: u32, mode: MacVlanMode) -> Self {
        MacVlan {
            name: name.into(),
            parent,
            mode,
            tap: false,
            source_macs: Vec::new(),
            netns: None,
            common: Common::default(),
        }
    }

    /// Make it a macvtap (a macvlan with a character device `/dev/tapN`).
    pub fn tap(mut self) -> Self {
        self.tap = true;
        self
    }

    /// The source MACs allowed in `source` mode.
    pub fn source_macs(mut self, macs: Vec<[u8; 6]>) -> Self {
        self.source_macs = macs;
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

    /// MAC address.
    pub fn mac(mut self, mac: [u8; 6]) -> Self {
        self.common.mac = Some(mac);
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

    fn data(&self) -> InfoData {
        let mut v = vec![InfoMacVlan::Mode(self.mode.wire())];
        if !self.source_macs.is_empty() {
            v.push(InfoMacVlan::MacAddrMode(MacVlanMacAddressMode::Set));
            v.push(InfoMacVlan::MacAddrData(
                self.source_macs
                    .iter()
                    .map(|m| InfoMacVlan::MacAddr(*m))
                    .collect(),
            ));
        }
        if !self.tap {
            return InfoData::MacVlan(v);
        }
        let mut t = vec![InfoMacVtap::Mode(self.mode.wire())];
        if !self.source_macs.is_empty() {
            t.push(InfoMacVtap::MacAddrMode(MacVlanMacAddressMode::Set));
            t.push(InfoMacVtap::MacAddrData(
                self.source_macs
                    .iter()
                    .map(|m| InfoMacVtap::MacAddr(*m))
                    .collect(),
            ));
        }
        InfoData::MacVtap(t)
    }
}

impl LinkSpec for MacVlan<'_> {
    fn request(&self) -> Result<Request> {
        validate_ifname(&self.name)?;
        if !self.source_macs.is_empty() && self.mode != MacVlanMode::Source {
            return Err(Error::invalid(
                "macvlan mode",
                self.mode.as_str(),
                "source MACs need mode source",
            ));
        }
        let (kind, name) = if self.tap {
            (InfoKind::MacVtap, "macvtap")
        } else {
            (InfoKind::MacVlan, "macvlan")
        };
        let mut msg = named_message(&self.name);
        msg.attributes.push(LinkAttribute::Link(self.parent));
        if let Some(fd) = self.netns {
            msg.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(kind),
            LinkInfo::Data(self.data()),
        ]));
        self.common.apply(&mut msg);
        Ok(create_request(
            msg,
            &format!("{} on link index {}", self.name, self.parent),
            name,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print_like_ip() {
        for m in ["private", "vepa", "bridge", "passthru", "source"] {
            assert_eq!(MacVlanMode::parse(m).unwrap().as_str(), m);
        }
        assert!(MacVlanMode::parse("l2").is_err());
    }

    #[test]
    fn source_macs_need_source_mode() {
        let spec =
            MacVlan::new("mv0", 2, MacVlanMode::Bridge).source_macs(vec![[2, 0, 0, 0, 0, 1]]);
        assert!(spec.request().is_err());
    }
}
