//! The kernel's own route lookup (`ip route get`): [`RouteQuery`] and [`Handle::route_get`].

use std::net::IpAddr;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage};

use super::Route;
use crate::addr::Family;
use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::netlink::Request;

/// The inputs of a route lookup beyond the destination (`ip route get ADDR from .. iif ..`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteQuery {
    /// Source address.
    pub from: Option<IpAddr>,
    /// Input interface index (as if the packet arrived there).
    pub iif: Option<u32>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Firewall mark.
    pub mark: Option<u32>,
}

/// The `RTM_GETROUTE` lookup request of `ip route get DST ...` (with `RTM_F_LOOKUP_TABLE`, so
/// the reply names the table the route came from).
pub fn route_get_request(dst: IpAddr, q: &RouteQuery) -> Result<Request> {
    let fam = Family::of(&dst);
    let mut m = RouteMessage::default();
    m.header.address_family = fam.to_netlink();
    m.header.destination_prefix_length = fam.max_prefix();
    m.header.flags = RouteFlags::LookupTable;
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(dst)));
    let mut object = dst.to_string();
    if let Some(src) = q.from {
        if Family::of(&src) != fam {
            return Err(Error::invalid(
                "route lookup",
                object,
                format!("from {src} is not of the same family"),
            ));
        }
        m.header.source_prefix_length = fam.max_prefix();
        m.attributes
            .push(RouteAttribute::Source(RouteAddress::from(src)));
        object.push_str(&format!(" from {src}"));
    }
    if let Some(i) = q.iif {
        m.attributes.push(RouteAttribute::Iif(i));
        object.push_str(&format!(" iif #{i}"));
    }
    if let Some(o) = q.oif {
        m.attributes.push(RouteAttribute::Oif(o));
        object.push_str(&format!(" oif #{o}"));
    }
    if let Some(mark) = q.mark {
        m.attributes.push(RouteAttribute::Mark(mark));
        object.push_str(&format!(" mark {mark}"));
    }
    Ok(Request::new(
        RouteNetlinkMessage::GetRoute(m),
        0,
        "look up route to",
        object,
    ))
}

impl Handle {
    /// Ask the kernel which route it would use for `dst` (`ip route get`). An unroutable
    /// destination is the kernel's errno (`ENETUNREACH`, `EHOSTUNREACH` for an unreachable
    /// route, `EINVAL` for a blackhole, `EACCES` for prohibit).
    pub fn route_get(&self, dst: IpAddr, q: RouteQuery) -> Result<Route> {
        let req = route_get_request(dst, &q)?;
        match self.get(req)? {
            RouteNetlinkMessage::NewRoute(m) => {
                Route::from_message(&m).ok_or_else(|| Error::Decode {
                    op: "look up route to",
                    ns: self.ns().label().into(),
                    reason: "reply of an unknown family".into(),
                })
            }
            _ => Err(Error::Decode {
                op: "look up route to",
                ns: self.ns().label().into(),
                reason: "unexpected reply".into(),
            }),
        }
    }
}
