//! The address types shared by addresses and routes: [`Family`], [`Scope`] and [`IpNet`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use netlink_packet_route::AddressFamily;

use crate::error::{Error, Result};

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

    /// The `n`th address of the network (`0` is the network address itself), or `None` past
    /// its end: `10.0.0.0/24`.nth(1) is `10.0.0.1`, a usual gateway.
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        let host_bits = u32::from(self.family().max_prefix() - self.prefix);
        if host_bits < 128 && n >> host_bits != 0 {
            return None;
        }
        Some(match self.network().addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) | u32::try_from(n).ok()?)),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) | n)),
        })
    }

    /// The last address of the network (all host bits set).
    pub fn last(&self) -> IpAddr {
        match self.network().addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(
                u32::from(a) | u32::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0),
            )),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(
                u128::from(a) | u128::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0),
            )),
        }
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

/// Written and read as its text (`10.0.0.1/24`), as in warren's JSON and lab files.
impl serde::Serialize for IpNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for IpNet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
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
    fn scopes_round_trip() {
        for s in ["global", "site", "link", "host", "nowhere", "17"] {
            assert_eq!(s.parse::<Scope>().unwrap().to_string(), s);
        }
        assert!("galaxy".parse::<Scope>().is_err());
    }

    /// Every string of up to five characters from an alphabet of address pieces parses or
    /// fails cleanly, and whatever parses prints back to something that parses the same.
    #[test]
    fn no_short_string_panics_and_parses_round_trip() {
        let alphabet: Vec<char> = "0129./:af%x".chars().collect();
        let n = alphabet.len();
        for len in 0..=5u32 {
            for mut code in 0..n.pow(len) {
                let mut text = String::new();
                for _ in 0..len {
                    text.push(alphabet[code % n]);
                    code /= n;
                }
                if let Ok(net) = text.parse::<IpNet>() {
                    assert_eq!(net.to_string().parse::<IpNet>().unwrap(), net, "{text}");
                    assert!(net.prefix <= net.family().max_prefix());
                    assert!(net.contains(net.addr));
                }
            }
        }
    }

    #[test]
    fn nth_and_last_address() {
        let n: IpNet = "10.0.1.77/24".parse().unwrap();
        assert_eq!(n.nth(0), Some("10.0.1.0".parse().unwrap()));
        assert_eq!(n.nth(1), Some("10.0.1.1".parse().unwrap()));
        assert_eq!(n.nth(255), Some("10.0.1.255".parse().unwrap()));
        assert_eq!(n.nth(256), None);
        assert_eq!(n.last(), "10.0.1.255".parse::<IpAddr>().unwrap());
        let h: IpNet = "10.0.0.5/32".parse().unwrap();
        assert_eq!(
            (h.nth(0), h.nth(1)),
            (Some("10.0.0.5".parse().unwrap()), None)
        );
        let all4 = IpNet::default_route(Family::V4);
        assert_eq!(
            all4.nth(u128::from(u32::MAX)),
            Some("255.255.255.255".parse().unwrap())
        );
        assert_eq!(all4.nth(1 << 32), None);
        let all6 = IpNet::default_route(Family::V6);
        assert_eq!(
            all6.nth(u128::MAX),
            Some("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap())
        );
        let v6: IpNet = "fd00:1::9/64".parse().unwrap();
        assert_eq!(v6.nth(0x10), Some("fd00:1::10".parse().unwrap()));
        assert_eq!(
            v6.last(),
            "fd00:1::ffff:ffff:ffff:ffff".parse::<IpAddr>().unwrap()
        );
        assert_eq!(v6.nth(1 << 64), None);
    }
}
