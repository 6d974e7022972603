//! host-local's `ranges` entries: a subnet with the run of addresses handed out from it.

use std::net::IpAddr;

use warren_kernel::addr::IpNet;

use crate::error::{Error, Result};
use crate::ipam::runs_overlap;

/// One host-local style range: addresses `start..=end` of `subnet`, the gateway excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CniRange {
    /// The subnet: network address and prefix.
    pub subnet: IpNet,
    /// The first address handed out.
    pub start: IpAddr,
    /// The last address handed out.
    pub end: IpAddr,
    /// The gateway, never handed out.
    pub gateway: Option<IpAddr>,
}

/// A set of ranges one address is taken from (host-local's inner list).
pub type CniRangeSet = Vec<CniRange>;

pub(super) fn invalid(field: &'static str, value: impl ToString, problem: String) -> Error {
    Error::InvalidRange {
        field,
        value: value.to_string(),
        problem,
    }
}

impl CniRange {
    /// A range with host-local's defaults: `start` is the subnet's first host (network + 1),
    /// `end` its last (IPv4: the broadcast address − 1; IPv6: the last address), `gateway`
    /// network + 1 (skipped when allocating, so the first address handed out is usually .2).
    /// The subnet must have no host bits set and at least two host addresses (IPv4 /30,
    /// IPv6 /126 at most); start, end and gateway must lie inside it, and start ≤ end.
    pub fn new(
        subnet: IpNet,
        start: Option<IpAddr>,
        end: Option<IpAddr>,
        gateway: Option<IpAddr>,
    ) -> Result<CniRange> {
        let network = subnet.network();
        if network.addr != subnet.addr {
            return Err(invalid(
                "subnet",
                subnet,
                format!("has host bits set (the network is {network})"),
            ));
        }
        if subnet.prefix > subnet.family().max_prefix() - 2 {
            return Err(invalid(
                "subnet",
                subnet,
                "is too small to allocate from".into(),
            ));
        }
        let inside = |field: &'static str, ip: IpAddr| {
            if subnet.contains(ip) {
                Ok(ip)
            } else {
                Err(invalid(field, ip, format!("is outside subnet {subnet}")))
            }
        };
        let first = subnet.nth(1).unwrap_or(subnet.addr);
        let last = match subnet.broadcast() {
            Some(b) => crate::ipam::prev(IpAddr::V4(b)),
            None => subnet.last(),
        };
        let start = start.map_or(Ok(first), |ip| inside("rangeStart", ip))?;
        let end = end.map_or(Ok(last), |ip| inside("rangeEnd", ip))?;
        let gateway = Some(gateway.map_or(Ok(first), |ip| inside("gateway", ip))?);
        if start > end {
            return Err(invalid(
                "rangeStart",
                start,
                format!("is after rangeEnd {end}"),
            ));
        }
        Ok(CniRange {
            subnet,
            start,
            end,
            gateway,
        })
    }

    /// Whether `ip` is in `start..=end`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        runs_overlap((ip, ip), (self.start, self.end))
    }

    /// The addresses of the range never handed out: the gateway and, for IPv4, the subnet's
    /// network and broadcast addresses.
    pub fn reserved(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self.gateway.into_iter().collect();
        if let Some(b) = self.subnet.broadcast() {
            v.push(self.subnet.addr);
            v.push(IpAddr::V4(b));
        }
        v
    }
}
