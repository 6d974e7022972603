//! Addresses (`ip addr add/del/show`): [`IpNet`] (an address with its prefix length), the
//! [`AddrSpec`] builder of `RTM_NEWADDR`/`RTM_DELADDR` requests, and [`Address`] as the kernel
//! reports it. Also the small types shared with routes: [`Family`] and [`Scope`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::netlink::Request;

/// An IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 (`AF_INET`).
    V4,
    /// IPv6 (`AF_INET6`).
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    /// The longest prefix of this family (32 or 128).
    pub fn max_prefix(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// `inet` or `inet6`, as ip prints it.
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "inet",
            Family::V6 => "inet6",
        }
    }

    pub(crate) fn to_netlink(self) -> AddressFamily {
        match self {
            Family::V4 => AddressFamily::Inet,
            Family::V6 => AddressFamily::Inet6,
        }
    }

    pub(crate) fn from_netlink(f: AddressFamily) -> Option<Family> {
        match f {
            AddressFamily::Inet => Some(Family::V4),
            AddressFamily::Inet6 => Some(Family::V6),
            _ => None,
        }
    }
}

/// An address scope (`RT_SCOPE_*`), shared by addresses and routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scope(pub u8);

impl Scope {
    /// `global` (0).
    pub const UNIVERSE: Scope = Scope(0);
    /// `site` (200).
    pub const SITE: Scope = Scope(200);
    /// `link` (253).
    pub const LINK: Scope = Scope(253);
    /// `host` (254).
    pub const HOST: Scope = Scope(254);
    /// `nowhere` (255).
    pub const NOWHERE: Scope = Scope(255);
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("global"),
            200 => f.write_str("site"),
            253 => f.write_str("link"),
            254 => f.write_str("host"),
            255 => f.write_str("nowhere"),
            n => write!(f, "{n}"),
        }
    }
}

impl FromStr for Scope {
    type Err = Error;

    /// `global`/`universe`, `site`, `link`, `host`, `nowhere`, or a number.
    fn from_str(s: &str) -> Result<Scope> {
        Ok(match s {
            "global" | "universe" => Scope::UNIVERSE,
            "site" => Scope::SITE,
            "link" => Scope::LINK,
            "host" => Scope::HOST,
            "nowhere" => Scope::NOWHERE,
            _ => Scope(s.parse().map_err(|_| {
                Error::invalid(
                    "scope",
                    s,
                    "expected global, site, link, host, nowhere or 0-255",
                )
            })?),
        })
    }
}

/// An IP address with a prefix length: `10.0.0.1/24`, `fd00::1/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    /// The address (host bits kept: `10.0.0.1/24` is not `10.0.0.0/24`).
    pub addr: IpAddr,
    /// The prefix length, at most 32 (IPv4) or 128 (IPv6).
    pub prefix: u8,
}

impl IpNet {
    /// `addr/prefix`, checking that the prefix fits the family.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet> {
        let max = Family::of(&addr).max_prefix();
        if prefix > max {
            return Err(Error::invalid(
                "prefix",
                format!("{addr}/{prefix}"),
                format!("prefix length {prefix} is longer than {max}"),
            ));
        }
        Ok(IpNet { addr, prefix })
    }

    /// A host prefix: `/32` or `/128`.
    pub fn host(addr: IpAddr) -> IpNet {
        IpNet {
            addr,
            prefix: Family::of(&addr).max_prefix(),
        }
    }

    /// `0.0.0.0/0` or `::/0`.
    pub fn default_route(family: Family) -> IpNet {
        let addr = match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        IpNet { addr, prefix: 0 }
    }

    /// The family.
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    /// Whether this is a `/0`.
    pub fn is_default(&self) -> bool {
        self.prefix == 0
    }

    /// The network: host bits cleared (`10.0.0.1/24` → `10.0.0.0/24`).
    pub fn network(&self) -> IpNet {
        IpNet {
            addr: mask(self.addr, self.prefix),
            prefix: self.prefix,
        }
    }

    /// Whether `ip` is inside this network (always false across families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        Family::of(&ip) == self.family() && mask(ip, self.prefix) == self.network().addr
    }

    /// The IPv4 broadcast address as `ip addr add ... brd +` computes it (host bits set), for
    /// prefixes up to /30; `None` for /31, /32 and IPv6.
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        match self.addr {
            IpAddr::V4(a) if self.prefix <= 30 => {
                let host = u32::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                Some(Ipv4Addr::from(u32::from(a) | host))
            }
            _ => None,
        }
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = Error;

    /// `ADDR/PLEN`, or a bare address meaning /32 or /128.
    fn from_str(s: &str) -> Result<IpNet> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| {
            Error::invalid("prefix", s, format!("{a:?} is not an IPv4 or IPv6 address"))
        })?;
        let Some(p) = p else {
            return Ok(IpNet::host(addr));
        };
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
            return Err(Error::invalid(
                "prefix",
                s,
                format!("prefix length {p:?} is not a number"),
            ));
        }
        let prefix: u16 = p.parse().unwrap_or(u16::MAX);
        let max = Family::of(&addr).max_prefix();
        if prefix > u16::from(max) {
            return Err(Error::invalid(
                "prefix",
                s,
                format!("prefix length {prefix} is longer than {max}"),
            ));
        }
        IpNet::new(addr, prefix as u8)
    }
}

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
    fn prefixes_parse_and_print() {
        for (text, shown, net) in [
            ("10.0.0.1/24", "10.0.0.1/24", "10.0.0.0/24"),
            ("10.0.0.1", "10.0.0.1/32", "10.0.0.1/32"),
            ("0.0.0.0/0", "0.0.0.0/0", "0.0.0.0/0"),
            ("fd00::1/64", "fd00::1/64", "fd00::/64"),
            ("fd00::1", "fd00::1/128", "fd00::1/128"),
            ("192.168.7.200/28", "192.168.7.200/28", "192.168.7.192/28"),
        ] {
            let n: IpNet = text.parse().unwrap();
            assert_eq!(n.to_string(), shown);
            assert_eq!(n.network().to_string(), net);
        }
    }

    #[test]
    fn bad_prefixes_name_the_text() {
        for bad in [
            "10.0.0.1/33",
            "fd00::/129",
            "10.0.0/24",
            "10.0.0.1/",
            "10.0.0.1/x",
            "",
            "/24",
            "10.0.0.1/-1",
            "10.0.0.1/0024",
        ] {
            let e = bad.parse::<IpNet>().unwrap_err();
            assert!(matches!(e, Error::Invalid { .. }), "{bad}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn contains_and_broadcast() {
        let n: IpNet = "10.0.1.7/24".parse().unwrap();
        assert!(n.contains("10.0.1.255".parse().unwrap()));
        assert!(!n.contains("10.0.2.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert_eq!(n.broadcast(), Some(Ipv4Addr::new(10, 0, 1, 255)));
        assert_eq!("10.0.0.0/31".parse::<IpNet>().unwrap().broadcast(), None);
        assert_eq!(
            "10.0.0.0/0".parse::<IpNet>().unwrap().broadcast(),
            Some(Ipv4Addr::BROADCAST)
        );
        let d = IpNet::default_route(Family::V6);
        assert!(d.contains("2001:db8::1".parse().unwrap()));
    }

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

    #[test]
    fn scopes_round_trip() {
        for s in ["global", "site", "link", "host", "nowhere", "17"] {
            assert_eq!(s.parse::<Scope>().unwrap().to_string(), s);
        }
        assert!("galaxy".parse::<Scope>().is_err());
    }
}
