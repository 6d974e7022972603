//! Listing routes ([`Handle::routes`]) and decoding what the kernel reports ([`Route`]).

use std::net::IpAddr;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteMetric, RouteVia,
};

use super::{ALL, MAIN, Nexthop, Protocol, RoutePref, RouteSpec, RouteType};
use crate::addr::{Family, IpNet, Scope};
use crate::error::Result;
use crate::handle::Handle;
use crate::netlink::Request;

/// Which routes [`Handle::routes`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteFilter {
    /// Table: `None` = main, `Some(ALL)` = every table.
    pub table: Option<u32>,
    /// Family: `None` = both.
    pub family: Option<Family>,
}

/// A route as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination (`0.0.0.0/0` or `::/0` for default).
    pub dst: IpNet,
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Metric (`RTA_PRIORITY`).
    pub metric: Option<u32>,
    /// Table.
    pub table: u32,
    /// Protocol.
    pub protocol: Protocol,
    /// Scope.
    pub scope: Scope,
    /// Type.
    pub kind: RouteType,
    /// Preferred source.
    pub prefsrc: Option<IpAddr>,
    /// Multipath nexthops (weights as ip shows them: hops + 1).
    pub nexthops: Vec<Nexthop>,
    /// `RTM_F_*` and `RTNH_F_*` flags of the header.
    pub flags: u32,
    /// IPv6 route preference.
    pub pref: Option<RoutePref>,
    /// Path MTU (`RTAX_MTU`), when the route sets one.
    pub mtu: Option<u32>,
}

impl Route {
    /// The family.
    pub fn family(&self) -> Family {
        self.dst.family()
    }

    /// The spec naming exactly this route: pass it to [`Handle::route_del`] to delete it, or
    /// change it and pass it to [`Handle::route_replace`].
    pub fn to_spec(&self) -> RouteSpec {
        let mut spec = RouteSpec::to(self.dst);
        spec.via = self.gateway;
        spec.dev = self.oif;
        spec.metric = self.metric;
        spec.table = Some(self.table);
        spec.src = self.prefsrc;
        spec.scope = Some(self.scope);
        spec.protocol = Some(self.protocol);
        spec.kind = Some(self.kind);
        spec.nexthops.clone_from(&self.nexthops);
        spec.onlink = self.onlink();
        spec.pref = self.pref;
        spec.mtu = self.mtu;
        spec
    }

    /// Whether the route is `onlink` (`RTNH_F_ONLINK`).
    pub fn onlink(&self) -> bool {
        self.flags & RouteFlags::Onlink.bits() != 0
    }

    /// Decode a `RTM_NEWROUTE` message; `None` for families other than IPv4 and IPv6.
    pub fn from_message(m: &RouteMessage) -> Option<Route> {
        let h = &m.header;
        let family = Family::from_netlink(h.address_family)?;
        let mut r = Route {
            dst: IpNet::default_route(family),
            gateway: None,
            oif: None,
            metric: None,
            table: u32::from(h.table),
            protocol: Protocol(h.protocol.into()),
            scope: Scope(h.scope.into()),
            kind: RouteType::from_u8(h.kind.into()),
            prefsrc: None,
            pref: None,
            mtu: None,
            nexthops: Vec::new(),
            flags: h.flags.bits(),
        };
        r.dst.prefix = h.destination_prefix_length;
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(d) => {
                    if let Some(ip) = route_ip(d) {
                        r.dst.addr = ip;
                    }
                }
                RouteAttribute::Gateway(g) => r.gateway = route_ip(g),
                RouteAttribute::Via(v) => r.gateway = via_ip(v),
                RouteAttribute::Oif(i) => r.oif = Some(*i),
                RouteAttribute::Priority(p) => r.metric = Some(*p),
                RouteAttribute::Table(t) => r.table = *t,
                RouteAttribute::PrefSource(s) => r.prefsrc = route_ip(s),
                RouteAttribute::Preference(p) => r.pref = RoutePref::from_netlink(*p),
                RouteAttribute::Metrics(ms) => {
                    r.mtu = ms.iter().find_map(|m| match m {
                        RouteMetric::Mtu(v) => Some(*v),
                        _ => None,
                    });
                }
                RouteAttribute::MultiPath(hops) => {
                    r.nexthops = hops
                        .iter()
                        .map(|nh| Nexthop {
                            via: nh.attributes.iter().find_map(|a| match a {
                                RouteAttribute::Gateway(g) => route_ip(g),
                                RouteAttribute::Via(v) => via_ip(v),
                                _ => None,
                            }),
                            dev: Some(nh.interface_index).filter(|i| *i != 0),
                            weight: nh.hops.saturating_add(1),
                        })
                        .collect();
                }
                _ => {}
            }
        }
        Some(r)
    }
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn via_ip(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteVia::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

impl Handle {
    /// The routes of one table (default main) or all, of one family or both. Cached clones
    /// (`RTM_F_CLONED`) are left out, as `ip route show` does.
    pub fn routes(&self, filter: RouteFilter) -> Result<Vec<Route>> {
        let mut m = RouteMessage::default();
        if let Some(f) = filter.family {
            m.header.address_family = f.to_netlink();
        }
        let req = Request::new(RouteNetlinkMessage::GetRoute(m), 0, "list routes", "*");
        let table = filter.table.unwrap_or(MAIN);
        Ok(self
            .dump(req)?
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Route::from_message(r),
                _ => None,
            })
            .filter(|r| r.flags & RouteFlags::Cloned.bits() == 0)
            .filter(|r| table == ALL || r.table == table)
            .filter(|r| filter.family.is_none_or(|f| r.family() == f))
            .collect())
    }
}
