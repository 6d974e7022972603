//! The small value types of routes: [`Protocol`], [`RouteType`] and [`Nexthop`].

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use netlink_packet_route::route::RoutePreference;

use crate::error::{Error, Result};

/// A route's origin (`RTPROT_*`): `kernel`, `boot` (what `ip route add` uses), `static`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Protocol(pub u8);

impl Protocol {
    /// Unspecified (0): on delete, matches any.
    pub const UNSPEC: Protocol = Protocol(0);
    /// Added by the kernel (prefix routes of addresses).
    pub const KERNEL: Protocol = Protocol(2);
    /// Added by an administrator (`ip route add` default).
    pub const BOOT: Protocol = Protocol(3);
    /// Static.
    pub const STATIC: Protocol = Protocol(4);

    const NAMES: [(u8, &'static str); 13] = [
        (0, "unspec"),
        (1, "redirect"),
        (2, "kernel"),
        (3, "boot"),
        (4, "static"),
        (9, "ra"),
        (11, "zebra"),
        (12, "bird"),
        (16, "dhcp"),
        (186, "bgp"),
        (187, "isis"),
        (188, "ospf"),
        (189, "rip"),
    ];
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Protocol::NAMES.iter().find(|(n, _)| *n == self.0) {
            Some((_, name)) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl FromStr for Protocol {
    type Err = Error;

    /// A name from iproute2's `rt_protos` (`kernel`, `boot`, `static`, `bird`, ...) or 0-255.
    fn from_str(s: &str) -> Result<Protocol> {
        if let Some((n, _)) = Protocol::NAMES.iter().find(|(_, name)| *name == s) {
            return Ok(Protocol(*n));
        }
        s.parse().map(Protocol).map_err(|_| {
            Error::invalid(
                "route protocol",
                s,
                "expected a name like static or a number 0-255",
            )
        })
    }
}

/// A route's type (`RTN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RouteType {
    /// A gateway or direct route.
    #[default]
    Unicast,
    /// Local delivery.
    Local,
    /// Broadcast.
    Broadcast,
    /// Anycast.
    Anycast,
    /// Multicast.
    Multicast,
    /// Silently discard.
    Blackhole,
    /// Discard with ICMP host unreachable.
    Unreachable,
    /// Discard with ICMP administratively prohibited.
    Prohibit,
    /// Continue the lookup in the next rule.
    Throw,
    /// Another type, by number.
    Other(u8),
}

impl RouteType {
    /// The `RTN_*` number.
    pub fn to_u8(self) -> u8 {
        match self {
            RouteType::Unicast => 1,
            RouteType::Local => 2,
            RouteType::Broadcast => 3,
            RouteType::Anycast => 4,
            RouteType::Multicast => 5,
            RouteType::Blackhole => 6,
            RouteType::Unreachable => 7,
            RouteType::Prohibit => 8,
            RouteType::Throw => 9,
            RouteType::Other(n) => n,
        }
    }

    /// The type with `RTN_*` number `n`.
    pub fn from_u8(n: u8) -> RouteType {
        match n {
            1 => RouteType::Unicast,
            2 => RouteType::Local,
            3 => RouteType::Broadcast,
            4 => RouteType::Anycast,
            5 => RouteType::Multicast,
            6 => RouteType::Blackhole,
            7 => RouteType::Unreachable,
            8 => RouteType::Prohibit,
            9 => RouteType::Throw,
            n => RouteType::Other(n),
        }
    }
}

impl fmt::Display for RouteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            RouteType::Unicast => "unicast",
            RouteType::Local => "local",
            RouteType::Broadcast => "broadcast",
            RouteType::Anycast => "anycast",
            RouteType::Multicast => "multicast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
            RouteType::Throw => "throw",
            RouteType::Other(n) => return write!(f, "{n}"),
        };
        f.write_str(s)
    }
}

/// One path of a multipath route (`nexthop via GW dev IF weight N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Nexthop {
    /// Gateway.
    pub via: Option<IpAddr>,
    /// Interface index.
    pub dev: Option<u32>,
    /// Weight, 1-255 (0 is taken as 1).
    pub weight: u8,
}

impl Nexthop {
    /// A path through gateway `via` with weight 1.
    pub fn via(via: IpAddr) -> Nexthop {
        Nexthop {
            via: Some(via),
            dev: None,
            weight: 1,
        }
    }

    /// Set the interface.
    pub fn dev(mut self, index: u32) -> Nexthop {
        self.dev = Some(index);
        self
    }

    /// Set the weight.
    pub fn weight(mut self, weight: u8) -> Nexthop {
        self.weight = weight;
        self
    }
}

/// An IPv6 route's preference (`RTA_PREF`, RFC 4191): `low`, `medium`, `high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoutePref {
    /// Low.
    Low,
    /// Medium (the kernel's default for IPv6 routes).
    Medium,
    /// High.
    High,
}

impl RoutePref {
    pub(crate) fn to_netlink(self) -> RoutePreference {
        match self {
            RoutePref::Low => RoutePreference::Low,
            RoutePref::Medium => RoutePreference::Medium,
            RoutePref::High => RoutePreference::High,
        }
    }

    pub(crate) fn from_netlink(p: RoutePreference) -> Option<RoutePref> {
        match p {
            RoutePreference::Low => Some(RoutePref::Low),
            RoutePreference::Medium => Some(RoutePref::Medium),
            RoutePreference::High => Some(RoutePref::High),
            _ => None,
        }
    }
}

impl fmt::Display for RoutePref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RoutePref::Low => "low",
            RoutePref::Medium => "medium",
            RoutePref::High => "high",
        })
    }
}

impl FromStr for RoutePref {
    type Err = Error;

    /// `low`, `medium` or `high`.
    fn from_str(s: &str) -> Result<RoutePref> {
        match s {
            "low" => Ok(RoutePref::Low),
            "medium" => Ok(RoutePref::Medium),
            "high" => Ok(RoutePref::High),
            _ => Err(Error::invalid(
                "route preference",
                s,
                "expected low, medium or high",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip() {
        for p in ["kernel", "boot", "static", "bird", "77"] {
            assert_eq!(p.parse::<Protocol>().unwrap().to_string(), p);
        }
        assert!("nope".parse::<Protocol>().is_err());
    }
}
