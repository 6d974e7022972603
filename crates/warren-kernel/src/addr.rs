//! Addresses (`ip addr add/del/show`): [`IpNet`] (an address with its prefix length), the
//! [`AddrSpec`] builder of `RTM_NEWADDR`/`RTM_DELADDR` requests, and [`Address`] as the kernel
//! reports it. Also the small types shared with routes: [`Family`] and [`Scope`].

mod net;

pub use net::{Family, IpNet, Scope};

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};

use crate::error::Result;
use crate::handle::Handle;
use crate::netlink::Request;

/// An address to add or delete, with ip's options (`nodad`, `scope`, `label`, `noprefixroute`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSpec {
    /// Interface index.
    pub index: u32,
    /// The address and prefix.
    pub net: IpNet,
    /// Scope; `None` lets ip's rule decide (host for 127/8, else global; the kernel picks for IPv6).
    pub scope: Option<Scope>,
    /// `IFA_F_*` flags to set (e.g. `IFA_F_NODAD`).
    pub flags: u32,
    /// IPv4 label (`eth0:1`).
    pub label: Option<String>,
    /// Name of the interface, only used to word errors.
    pub dev_name: Option<String>,
}

/// `IFA_F_NODAD`: skip duplicate address detection (IPv6).
pub const IFA_F_NODAD: u32 = 0x02;
/// `IFA_F_NOPREFIXROUTE`: do not add the prefix route.
pub const IFA_F_NOPREFIXROUTE: u32 = 0x200;

impl AddrSpec {
    /// `net` on the interface with index `index`.
    pub fn new(index: u32, net: IpNet) -> AddrSpec {
        AddrSpec {
            index,
            net,
            scope: None,
            flags: 0,
            label: None,
            dev_name: None,
        }
    }

    /// Skip duplicate address detection (the address is usable at once; IPv6).
    pub fn nodad(mut self) -> Self {
        self.flags |= IFA_F_NODAD;
        self
    }

    /// Do not create the prefix route.
    pub fn noprefixroute(mut self) -> Self {
        self.flags |= IFA_F_NOPREFIXROUTE;
        self
    }

    /// Set the scope.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Set the IPv4 label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Name the interface in errors (`10.0.0.1/24 dev eth0` rather than `dev #3`).
    pub fn dev_name(mut self, name: impl Into<String>) -> Self {
        self.dev_name = Some(name.into());
        self
    }

    fn object(&self) -> String {
        match &self.dev_name {
            Some(n) => format!("{} dev {n}", self.net),
            None => format!("{} dev #{}", self.net, self.index),
        }
    }

    fn message(&self, full: bool) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = self.net.family().to_netlink();
        m.header.prefix_len = self.net.prefix;
        m.header.index = self.index;
        let scope = self.scope.unwrap_or(match self.net.addr {
            IpAddr::V4(a) if a.is_loopback() => Scope::HOST,
            _ => Scope::UNIVERSE,
        });
        m.header.scope = scope.0.into();
        m.header.flags = AddressHeaderFlags::from_bits_retain((self.flags & 0xff) as u8);
        match self.net.addr {
            IpAddr::V4(_) => {
                m.attributes.push(AddressAttribute::Local(self.net.addr));
                m.attributes.push(AddressAttribute::Address(self.net.addr));
                if full {
                    if let Some(b) = self.net.broadcast() {
                        m.attributes.push(AddressAttribute::Broadcast(b));
                    }
                    if let Some(l) = &self.label {
                        m.attributes.push(AddressAttribute::Label(l.clone()));
                    }
                }
            }
            IpAddr::V6(_) => m.attributes.push(AddressAttribute::Address(self.net.addr)),
        }
        if full && self.flags != 0 {
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::from_bits_retain(
                    self.flags,
                )));
        }
        m
    }

    /// The `RTM_NEWADDR` request (`NLM_F_CREATE | NLM_F_EXCL`, as `ip addr add`).
    pub fn request_add(&self) -> Request {
        Request::new(
            RouteNetlinkMessage::NewAddress(self.message(true)),
            NLM_F_CREATE | NLM_F_EXCL,
            "add address",
            self.object(),
        )
    }

    /// The `RTM_NEWADDR` request with `NLM_F_REPLACE` (`ip addr replace`).
    pub fn request_replace(&self) -> Request {
        Request::new(
            RouteNetlinkMessage::NewAddress(self.message(true)),
            NLM_F_CREATE | NLM_F_REPLACE,
            "replace address",
            self.object(),
        )
    }

    /// The `RTM_DELADDR` request.
    pub fn request_del(&self) -> Request {
        Request::new(
            RouteNetlinkMessage::DelAddress(self.message(false)),
            0,
            "delete address",
            self.object(),
        )
    }
}

/// The request adding `net` to the interface with index `index` (`ip addr add NET dev IF`;
/// IPv4 gets the broadcast address of `brd +`).
pub fn addr_add_request(index: u32, net: IpNet) -> Request {
    AddrSpec::new(index, net).request_add()
}

/// The request deleting `net` from the interface with index `index`.
pub fn addr_del_request(index: u32, net: IpNet) -> Request {
    AddrSpec::new(index, net).request_del()
}

/// An address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Interface index.
    pub index: u32,
    /// Family.
    pub family: Family,
    /// The address (`IFA_LOCAL` for IPv4, `IFA_ADDRESS` for IPv6).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// Scope.
    pub scope: Scope,
    /// `IFA_F_*` flags (`IFA_FLAGS` when present, else the header's 8 bits).
    pub flags: u32,
    /// IPv4 label.
    pub label: Option<String>,
    /// IPv4 broadcast address.
    pub broadcast: Option<Ipv4Addr>,
}

impl Address {
    /// The address with its prefix.
    pub fn net(&self) -> IpNet {
        IpNet {
            addr: self.addr,
            prefix: self.prefix,
        }
    }

    /// Whether duplicate address detection is still running (`IFA_F_TENTATIVE`).
    pub fn tentative(&self) -> bool {
        self.flags & 0x40 != 0
    }

    /// Decode a `RTM_NEWADDR` message; `None` for families other than IPv4 and IPv6.
    pub fn from_message(m: &AddressMessage) -> Option<Address> {
        let family = Family::from_netlink(m.header.family)?;
        let mut local = None;
        let mut address = None;
        let mut a = Address {
            index: m.header.index,
            family,
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            prefix: m.header.prefix_len,
            scope: Scope(m.header.scope.into()),
            flags: u32::from(m.header.flags.bits()),
            label: None,
            broadcast: None,
        };
        for attr in &m.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Label(l) => a.label = Some(l.clone()),
                AddressAttribute::Broadcast(b) => a.broadcast = Some(*b),
                AddressAttribute::Flags(f) => a.flags = f.bits(),
                _ => {}
            }
        }
        a.addr = local.or(address)?;
        Some(a)
    }
}

impl Handle {
    /// Add `net` to the interface with index `index` (`ip addr add NET dev IF`).
    pub fn addr_add(&self, index: u32, net: IpNet) -> Result<()> {
        self.ack(addr_add_request(index, net))
    }

    /// Add an address with options (`nodad`, scope, label).
    pub fn addr_add_spec(&self, spec: &AddrSpec) -> Result<()> {
        self.ack(spec.request_add())
    }

    /// Delete `net` from the interface with index `index` (`ip addr del NET dev IF`).
    pub fn addr_del(&self, index: u32, net: IpNet) -> Result<()> {
        self.ack(addr_del_request(index, net))
    }

    /// Delete every address of the interface with index `index` (of one family, or both), as
    /// `ip addr flush dev IF`: all deletions go in one batch; an address already gone (an IPv4
    /// secondary removed with its primary) is not an error; otherwise the first failure is
    /// returned after every deletion was tried. Returns how many addresses were deleted.
    pub fn addr_flush(&self, index: u32, family: Option<Family>) -> Result<usize> {
        let reqs: Vec<Request> = self
            .addrs(Some(index))?
            .iter()
            .filter(|a| family.is_none_or(|f| a.family == f))
            .map(|a| addr_del_request(index, a.net()))
            .collect();
        let mut deleted = 0;
        let mut first_err = None;
        for r in self.execute(reqs) {
            match r {
                Ok(()) => deleted += 1,
                Err(e) if e.errno() == Some(nix::errno::Errno::EADDRNOTAVAIL) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(deleted), Err)
    }

    /// Every IPv4 and IPv6 address, or those of one interface.
    pub fn addrs(&self, index: Option<u32>) -> Result<Vec<Address>> {
        let req = Request::new(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            0,
            "list addresses",
            "*",
        );
        Ok(self
            .dump(req)?
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Address::from_message(a),
                _ => None,
            })
            .filter(|a| index.is_none_or(|i| a.index == i))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_request_has_local_address_and_broadcast() {
        let spec = AddrSpec::new(3, "10.0.0.1/24".parse().unwrap());
        let RouteNetlinkMessage::NewAddress(m) = spec.request_add().message().clone() else {
            panic!()
        };
        assert_eq!(m.header.index, 3);
        assert_eq!(m.header.prefix_len, 24);
        assert!(
            m.attributes
                .contains(&AddressAttribute::Local("10.0.0.1".parse().unwrap()))
        );
        assert!(
            m.attributes
                .contains(&AddressAttribute::Broadcast(Ipv4Addr::new(10, 0, 0, 255)))
        );
        let v6 = AddrSpec::new(3, "fd00::1/64".parse().unwrap()).nodad();
        let RouteNetlinkMessage::NewAddress(m) = v6.request_add().message().clone() else {
            panic!()
        };
        assert!(
            m.attributes
                .contains(&AddressAttribute::Flags(AddressFlags::Nodad))
        );
        assert!(m.header.flags.contains(AddressHeaderFlags::Nodad));
    }
}
