//! Routes (`ip route add/replace/del/show/get`): the [`RouteSpec`] builder of `RTM_NEWROUTE`/
//! `RTM_DELROUTE` requests (gateways, devices, metrics, tables, multipath, blackhole/unreachable/
//! prohibit), [`Route`] as the kernel reports it, and the kernel's own lookup
//! ([`Handle::route_get`]).

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteMetric, RouteNextHop,
    RouteNextHopFlags, RouteVia,
};

use crate::addr::{Family, IpNet, Scope};
use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::netlink::Request;

/// Table id meaning every table, for [`RouteFilter::table`] (`ip route show table all`).
pub const ALL: u32 = 0;
/// The main table (254).
pub const MAIN: u32 = 254;
/// The local table (255).
pub const LOCAL: u32 = 255;

mod listing;
mod lookup;
mod types;

pub use listing::{Route, RouteFilter};
pub use lookup::{RouteQuery, route_get_request};
pub use types::{Nexthop, Protocol, RoutePref, RouteType};

/// A route to add, replace or delete, built the way `ip route` reads its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination.
    pub dst: IpNet,
    /// Gateway (`via`).
    pub via: Option<IpAddr>,
    /// Output interface index (`dev`).
    pub dev: Option<u32>,
    /// Metric (`RTA_PRIORITY`).
    pub metric: Option<u32>,
    /// Table; `None` = main.
    pub table: Option<u32>,
    /// Preferred source (`src`).
    pub src: Option<IpAddr>,
    /// Scope; `None` lets ip's rule decide (link without gateway, else global).
    pub scope: Option<Scope>,
    /// Protocol; `None` = `boot` on add (as ip), any on delete.
    pub protocol: Option<Protocol>,
    /// Type; `None` = unicast on add, any on delete.
    pub kind: Option<RouteType>,
    /// Multipath nexthops.
    pub nexthops: Vec<Nexthop>,
    /// Interface names, only used to word errors: (index, name).
    pub dev_names: Vec<(u32, String)>,
    /// `onlink`: take the gateway as directly reachable on `dev` even if no connected
    /// network covers it (e.g. `default via 169.254.1.1 dev eth0 onlink`).
    pub onlink: bool,
    /// IPv6 route preference (`pref low|medium|high`).
    pub pref: Option<RoutePref>,
    /// Path MTU for this route (`mtu N`, `RTAX_MTU`), e.g. below a tunnel's overhead.
    pub mtu: Option<u32>,
}

impl RouteSpec {
    /// A route to `dst`'s network: host bits are cleared (`10.0.0.1/24` → `10.0.0.0/24`),
    /// so an interface address can be passed as it is.
    pub fn to(dst: IpNet) -> RouteSpec {
        RouteSpec {
            dst: dst.network(),
            via: None,
            dev: None,
            metric: None,
            table: None,
            src: None,
            scope: None,
            protocol: None,
            kind: None,
            nexthops: Vec::new(),
            dev_names: Vec::new(),
            onlink: false,
            pref: None,
            mtu: None,
        }
    }

    /// The IPv4 default route `0.0.0.0/0`.
    pub fn default_v4() -> RouteSpec {
        RouteSpec::to(IpNet::default_route(Family::V4))
    }

    /// The IPv6 default route `::/0`.
    pub fn default_v6() -> RouteSpec {
        RouteSpec::to(IpNet::default_route(Family::V6))
    }

    /// Through gateway `gw`.
    pub fn via(mut self, gw: IpAddr) -> Self {
        self.via = Some(gw);
        self
    }

    /// Out of the interface with index `index`.
    pub fn dev(mut self, index: u32) -> Self {
        self.dev = Some(index);
        self
    }

    /// With metric `metric`.
    pub fn metric(mut self, metric: u32) -> Self {
        self.metric = Some(metric);
        self
    }

    /// In table `table`.
    pub fn table(mut self, table: u32) -> Self {
        self.table = Some(table);
        self
    }

    /// With preferred source address `src`.
    pub fn src(mut self, src: IpAddr) -> Self {
        self.src = Some(src);
        self
    }

    /// With scope `scope`.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// With protocol `protocol`.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Of type `kind`.
    pub fn kind(mut self, kind: RouteType) -> Self {
        self.kind = Some(kind);
        self
    }

    /// A blackhole route (drop silently).
    pub fn blackhole(self) -> Self {
        self.kind(RouteType::Blackhole)
    }

    /// An unreachable route (drop, ICMP host unreachable).
    pub fn unreachable(self) -> Self {
        self.kind(RouteType::Unreachable)
    }

    /// A prohibit route (drop, ICMP administratively prohibited).
    pub fn prohibit(self) -> Self {
        self.kind(RouteType::Prohibit)
    }

    /// With path MTU `mtu`.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// With IPv6 route preference `pref`.
    pub fn pref(mut self, pref: RoutePref) -> Self {
        self.pref = Some(pref);
        self
    }

    /// Treat the gateway (of the route or of every nexthop) as on-link.
    pub fn onlink(mut self) -> Self {
        self.onlink = true;
        self
    }

    /// Add a multipath nexthop (call once per path).
    pub fn nexthop(mut self, nh: Nexthop) -> Self {
        self.nexthops.push(nh);
        self
    }

    /// Name interface `index` as `name` in errors.
    pub fn dev_name(mut self, index: u32, name: impl Into<String>) -> Self {
        self.dev_names.push((index, name.into()));
        self
    }

    fn dev_label(&self, index: u32) -> String {
        match self.dev_names.iter().find(|(i, _)| *i == index) {
            Some((_, n)) => n.clone(),
            None => format!("#{index}"),
        }
    }

    /// The route in ip's words, as used in errors (`10.1.0.0/24 via 10.0.0.254 dev eth0`).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(k) = self.kind.filter(|k| *k != RouteType::Unicast) {
            s.push_str(&format!("{k} "));
        }
        if self.dst.is_default() {
            s.push_str("default");
            if self.dst.family() == Family::V6 {
                s.push_str(" (IPv6)");
            }
        } else {
            s.push_str(&self.dst.to_string());
        }
        if let Some(gw) = self.via {
            s.push_str(&format!(" via {gw}"));
        }
        if let Some(d) = self.dev {
            s.push_str(&format!(" dev {}", self.dev_label(d)));
        }
        for nh in &self.nexthops {
            s.push_str(" nexthop");
            if let Some(gw) = nh.via {
                s.push_str(&format!(" via {gw}"));
            }
            if let Some(d) = nh.dev {
                s.push_str(&format!(" dev {}", self.dev_label(d)));
            }
        }
        if self.onlink {
            s.push_str(" onlink");
        }
        if let Some(t) = self.table {
            s.push_str(&format!(" table {t}"));
        }
        if let Some(m) = self.metric {
            s.push_str(&format!(" metric {m}"));
        }
        if let Some(m) = self.mtu {
            s.push_str(&format!(" mtu {m}"));
        }
        s
    }

    /// Check what the kernel would refuse less clearly (mixed families, a gateway on a
    /// blackhole, via together with nexthops, table 0). [`Handle::route_add`] and
    /// [`Handle::route_replace`] call it; callers batching [`request_add`](Self::request_add)
    /// themselves may call it first.
    pub fn validate(&self) -> Result<()> {
        let fam = self.dst.family();
        let bad = |reason: String| Err(Error::invalid("route", self.describe(), reason));
        if let Some(src) = self.src
            && Family::of(&src) != fam
        {
            return bad(format!("source {src} is not of the destination's family"));
        }
        if self.via.is_some() && !self.nexthops.is_empty() {
            return bad("give either via or nexthops, not both".into());
        }
        if self.pref.is_some() && fam == Family::V4 {
            return bad("pref is for IPv6 routes".into());
        }
        if self.table == Some(ALL) {
            return bad("table 0 is not a table".into());
        }
        if self.via.is_some() && self.kind.is_some_and(|k| k != RouteType::Unicast) {
            return bad("a blackhole, unreachable or prohibit route has no gateway".into());
        }
        for nh in &self.nexthops {
            if nh.via.is_none() && nh.dev.is_none() {
                return bad("a nexthop needs via or dev".into());
            }
            if let Some(gw) = nh.via
                && fam == Family::V6
                && Family::of(&gw) == Family::V4
            {
                return bad(format!("nexthop {gw} is IPv4 on an IPv6 route"));
            }
        }
        if let Some(gw) = self.via
            && fam == Family::V6
            && Family::of(&gw) == Family::V4
        {
            return bad(format!("gateway {gw} is IPv4 on an IPv6 route"));
        }
        Ok(())
    }

    fn message(&self, delete: bool) -> RouteMessage {
        let fam = self.dst.family();
        let mut m = RouteMessage::default();
        let h = &mut m.header;
        h.address_family = fam.to_netlink();
        h.destination_prefix_length = self.dst.prefix;
        let table = self.table.unwrap_or(MAIN);
        h.table = u8::try_from(table).unwrap_or(0);
        let kind = match (self.kind, delete) {
            (Some(k), _) => Some(k),
            (None, false) => Some(RouteType::Unicast),
            (None, true) => None,
        };
        h.kind = kind.map_or(0, RouteType::to_u8).into();
        h.protocol = match (self.protocol, delete) {
            (Some(p), _) => p.0,
            (None, false) => Protocol::BOOT.0,
            (None, true) => 0,
        }
        .into();
        let scope = self.scope.unwrap_or(if delete {
            Scope::NOWHERE
        } else if fam == Family::V6 {
            Scope::UNIVERSE
        } else if kind == Some(RouteType::Unicast) && self.via.is_none() && self.nexthops.is_empty()
        {
            Scope::LINK
        } else {
            Scope::UNIVERSE
        });
        h.scope = scope.0.into();
        if self.onlink && self.nexthops.is_empty() {
            h.flags = RouteFlags::Onlink;
        }
        let a = &mut m.attributes;
        a.push(RouteAttribute::Table(table));
        if !self.dst.is_default() {
            a.push(RouteAttribute::Destination(RouteAddress::from(
                self.dst.addr,
            )));
        }
        if let Some(gw) = self.via {
            a.push(gateway_attr(fam, gw));
        }
        if let Some(d) = self.dev {
            a.push(RouteAttribute::Oif(d));
        }
        if let Some(mt) = self.metric {
            a.push(RouteAttribute::Priority(mt));
        }
        if let Some(p) = self.pref {
            a.push(RouteAttribute::Preference(p.to_netlink()));
        }
        if let Some(mtu) = self.mtu {
            a.push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
        }
        if let Some(src) = self.src {
            a.push(RouteAttribute::PrefSource(RouteAddress::from(src)));
        }
        if !self.nexthops.is_empty() {
            let hops = self
                .nexthops
                .iter()
                .map(|nh| {
                    let mut h = RouteNextHop::default();
                    if self.onlink {
                        h.flags = RouteNextHopFlags::Onlink;
                    }
                    h.interface_index = nh.dev.unwrap_or(0);
                    h.hops = nh.weight.max(1) - 1;
                    if let Some(gw) = nh.via {
                        h.attributes.push(gateway_attr(fam, gw));
                    }
                    h
                })
                .collect();
            a.push(RouteAttribute::MultiPath(hops));
        }
        m
    }

    /// The `RTM_NEWROUTE` request of `ip route add` (`NLM_F_CREATE | NLM_F_EXCL`).
    pub fn request_add(&self) -> Request {
        self.request(
            RouteNetlinkMessage::NewRoute(self.message(false)),
            NLM_F_CREATE | NLM_F_EXCL,
            "add route",
        )
    }

    /// The `RTM_NEWROUTE` request of `ip route replace` (`NLM_F_CREATE | NLM_F_REPLACE`).
    pub fn request_replace(&self) -> Request {
        self.request(
            RouteNetlinkMessage::NewRoute(self.message(false)),
            NLM_F_CREATE | NLM_F_REPLACE,
            "replace route",
        )
    }

    /// The `RTM_DELROUTE` request of `ip route del`.
    pub fn request_del(&self) -> Request {
        self.request(
            RouteNetlinkMessage::DelRoute(self.message(true)),
            0,
            "delete route",
        )
    }

    fn request(&self, msg: RouteNetlinkMessage, flags: u16, op: &'static str) -> Request {
        Request::new(msg, flags, op, self.describe())
    }
}

/// `RTA_GATEWAY` for a gateway of the route's family, `RTA_VIA` for an IPv6 gateway of an IPv4
/// route.
fn gateway_attr(fam: Family, gw: IpAddr) -> RouteAttribute {
    match (fam, gw) {
        (Family::V4, IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
        _ => RouteAttribute::Gateway(RouteAddress::from(gw)),
    }
}

impl Handle {
    /// Add a route (`ip route add ...`).
    pub fn route_add(&self, spec: &RouteSpec) -> Result<()> {
        spec.validate()?;
        self.ack(spec.request_add())
    }

    /// Add or replace a route (`ip route replace ...`).
    pub fn route_replace(&self, spec: &RouteSpec) -> Result<()> {
        spec.validate()?;
        self.ack(spec.request_replace())
    }

    /// Delete a route (`ip route del ...`): unset fields match any route.
    pub fn route_del(&self, spec: &RouteSpec) -> Result<()> {
        self.ack(spec.request_del())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: &Request) -> RouteMessage {
        match r.message() {
            RouteNetlinkMessage::NewRoute(m) | RouteNetlinkMessage::DelRoute(m) => m.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn default_via_is_boot_universe_unicast_in_main() {
        let spec = RouteSpec::default_v4().via("10.0.0.1".parse().unwrap());
        let m = msg(&spec.request_add());
        assert_eq!(m.header.table, 254);
        assert_eq!(u8::from(m.header.protocol), 3);
        assert_eq!(u8::from(m.header.scope), 0);
        assert_eq!(u8::from(m.header.kind), 1);
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Destination(_)))
        );
        assert_eq!(spec.describe(), "default via 10.0.0.1");
    }

    #[test]
    fn dev_only_route_is_link_scope_and_delete_matches_any() {
        let spec = RouteSpec::to("10.9.0.7/16".parse().unwrap())
            .dev(4)
            .dev_name(4, "eth0");
        assert_eq!(spec.dst.to_string(), "10.9.0.0/16");
        let m = msg(&spec.request_add());
        assert_eq!(u8::from(m.header.scope), 253);
        let d = msg(&spec.request_del());
        assert_eq!(u8::from(d.header.scope), 255);
        assert_eq!(u8::from(d.header.protocol), 0);
        assert_eq!(u8::from(d.header.kind), 0);
        assert_eq!(spec.request_del().object, "10.9.0.0/16 dev eth0");
    }

    #[test]
    fn big_tables_go_in_the_attribute() {
        let m = msg(&RouteSpec::default_v6().dev(2).table(1000).request_add());
        assert_eq!(m.header.table, 0);
        assert!(m.attributes.contains(&RouteAttribute::Table(1000)));
    }

    #[test]
    fn multipath_weights_are_hops_plus_one() {
        let spec = RouteSpec::to("10.5.0.0/24".parse().unwrap())
            .nexthop(Nexthop::via("10.0.0.1".parse().unwrap()).dev(2).weight(3))
            .nexthop(Nexthop::via("10.0.1.1".parse().unwrap()).dev(3));
        let m = msg(&spec.request_add());
        let hops = m
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::MultiPath(h) => Some(h.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(hops.len(), 2);
        assert_eq!((hops[0].hops, hops[0].interface_index), (2, 2));
        assert_eq!(hops[1].hops, 0);
        let back = Route::from_message(&m).unwrap();
        assert_eq!(back.nexthops, spec.nexthops);
    }

    #[test]
    fn invalid_combinations_are_refused_before_sending() {
        let v6 = RouteSpec::default_v6().via("10.0.0.1".parse().unwrap());
        assert!(
            v6.validate()
                .unwrap_err()
                .to_string()
                .contains("IPv4 on an IPv6 route")
        );
        let bh = RouteSpec::to("10.0.0.0/8".parse().unwrap())
            .blackhole()
            .via("10.0.0.1".parse().unwrap());
        assert!(bh.validate().is_err());
        let src = RouteSpec::default_v4().src("fd00::1".parse().unwrap());
        assert!(src.validate().is_err());
    }
}
