//! VXLAN links (`ip link add NAME type vxlan id VNI [local IP] [remote IP | group IP dev IF]
//! [dstport N] [nolearning] [ttl N] [srcport LO HI]`).
//!
//! Without a destination port the kernel uses its historical default 8472 (as ip would with
//! `dstport 0`); pass 4789 for the IANA port.

use std::net::IpAddr;

use netlink_packet_route::link::{InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkInfo};

use super::{Common, LinkSpec, create_request, named_message, validate_ifname};
use crate::error::{Error, Result};
use crate::netlink::Request;

/// Largest VNI (24 bits).
pub const VNI_MAX: u32 = (1 << 24) - 1;

/// The rules on a VXLAN's id and destination, before anything is sent: the VNI fits in 24
/// bits, `remote` and `group` are exclusive, a group is multicast and a remote is not.
/// [`Vxlan`] applies them when building its request; a command-line parser can apply them
/// while parsing.
pub fn check(vni: u32, remote: Option<IpAddr>, group: Option<IpAddr>) -> Result<()> {
    let bad = |what, value: String, reason: &str| Err(Error::invalid(what, value, reason));
    if vni > VNI_MAX {
        return bad("VNI", vni.to_string(), "above 16777215, the largest VNI");
    }
    if let (Some(r), Some(g)) = (remote, group) {
        return bad(
            "vxlan destination",
            format!("remote {r}, group {g}"),
            "remote and group are exclusive",
        );
    }
    if let Some(g) = group
        && !g.is_multicast()
    {
        return bad("vxlan group", g.to_string(), "must be a multicast address");
    }
    if let Some(r) = remote
        && r.is_multicast()
    {
        return bad(
            "vxlan remote",
            r.to_string(),
            "must be unicast (use group for multicast)",
        );
    }
    Ok(())
}

/// A VXLAN link to create.
#[derive(Debug, Clone)]
pub struct Vxlan {
    name: String,
    vni: u32,
    local: Option<IpAddr>,
    remote: Option<IpAddr>,
    group: Option<IpAddr>,
    dev: Option<u32>,
    dstport: Option<u16>,
    learning: Option<bool>,
    ttl: Option<u8>,
    port_range: Option<(u16, u16)>,
    common: Common,
}

impl Vxlan {
    /// A VXLAN link `name` for network identifier `vni`.
    pub fn new(name: impl Into<String>, vni: u32) -> Self {
        Vxlan {
            name: name.into(),
            vni,
            local: None,
            remote: None,
            group: None,
            dev: None,
            dstport: None,
            learning: None,
            ttl: None,
            port_range: None,
            common: Common::default(),
        }
    }

    /// Source address of the tunnel.
    pub fn local(mut self, ip: IpAddr) -> Self {
        self.local = Some(ip);
        self
    }

    /// Unicast remote endpoint (exclusive with [`group`](Self::group)).
    pub fn remote(mut self, ip: IpAddr) -> Self {
        self.remote = Some(ip);
        self
    }

    /// Multicast group to join (needs [`dev`](Self::dev)).
    pub fn group(mut self, ip: IpAddr) -> Self {
        self.group = Some(ip);
        self
    }

    /// The underlying device's index.
    pub fn dev(mut self, index: u32) -> Self {
        self.dev = Some(index);
        self
    }

    /// UDP destination port.
    pub fn dstport(mut self, port: u16) -> Self {
        self.dstport = Some(port);
        self
    }

    /// Learn remote MACs (on by default in the kernel).
    pub fn learning(mut self, on: bool) -> Self {
        self.learning = Some(on);
        self
    }

    /// TTL of outer packets (0 inherits).
    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// UDP source port range.
    pub fn port_range(mut self, low: u16, high: u16) -> Self {
        self.port_range = Some((low, high));
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

    fn validate(&self) -> Result<()> {
        validate_ifname(&self.name)?;
        check(self.vni, self.remote, self.group)?;
        let bad = |what, value: String, reason: &str| Err(Error::invalid(what, value, reason));
        let dst = self.remote.or(self.group);
        if let (Some(l), Some(d)) = (self.local, dst)
            && l.is_ipv4() != d.is_ipv4()
        {
            return bad(
                "vxlan local",
                l.to_string(),
                "must be the same address family as remote/group",
            );
        }
        if let Some((lo, hi)) = self.port_range
            && lo > hi
        {
            return bad(
                "vxlan port range",
                format!("{lo}-{hi}"),
                "low is above high",
            );
        }
        Ok(())
    }

    fn data(&self) -> Vec<InfoVxlan> {
        let mut v = vec![InfoVxlan::Id(self.vni)];
        if let Some(dst) = self.remote.or(self.group) {
            v.push(match dst {
                IpAddr::V4(a) => InfoVxlan::Group(a),
                IpAddr::V6(a) => InfoVxlan::Group6(a),
            });
        }
        if let Some(l) = self.local {
            v.push(match l {
                IpAddr::V4(a) => InfoVxlan::Local(a),
                IpAddr::V6(a) => InfoVxlan::Local6(a),
            });
        }
        if let Some(dev) = self.dev {
            v.push(InfoVxlan::Link(dev));
        }
        if let Some(ttl) = self.ttl {
            v.push(InfoVxlan::Ttl(ttl));
        }
        if let Some(on) = self.learning {
            v.push(InfoVxlan::Learning(on));
        }
        if let Some(range) = self.port_range {
            v.push(InfoVxlan::PortRange(range));
        }
        if let Some(p) = self.dstport {
            v.push(InfoVxlan::Port(p));
        }
        v
    }
}

impl LinkSpec for Vxlan {
    fn request(&self) -> Result<Request> {
        self.validate()?;
        let mut msg = named_message(&self.name);
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(self.data())),
        ]));
        self.common.apply(&mut msg);
        Ok(create_request(msg, &self.name, "vxlan"))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::link::tests_support::{attr, attr_str, ifinfomsg, nested, nlmsghdr};

    #[test]
    fn vxlan_message_matches_the_uapi_layout() {
        let req = Vxlan::new("vx0", 42)
            .remote(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)))
            .local(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
            .dev(3)
            .ttl(64)
            .learning(false)
            .dstport(4789)
            .request()
            .unwrap();
        let data = nested(
            2,
            &[
                attr(1, &42u32.to_ne_bytes()),    // IFLA_VXLAN_ID
                attr(2, &[192, 0, 2, 2]),         // IFLA_VXLAN_GROUP (remote)
                attr(4, &[192, 0, 2, 1]),         // IFLA_VXLAN_LOCAL
                attr(3, &3u32.to_ne_bytes()),     // IFLA_VXLAN_LINK
                attr(5, &[64]),                   // IFLA_VXLAN_TTL
                attr(7, &[0]),                    // IFLA_VXLAN_LEARNING
                attr(15, &4789u16.to_be_bytes()), // IFLA_VXLAN_PORT, network order
            ],
        );
        let info = nested(18, &[attr_str(1, "vxlan"), data]);
        let mut body = ifinfomsg(0, 0, 0);
        body.extend(attr_str(3, "vx0"));
        body.extend(info);
        let mut want = nlmsghdr(body.len(), 16, 0x605, 5);
        want.extend(body);
        assert_eq!(req.to_bytes(5), want);
    }

    #[test]
    fn contradictions_are_refused_before_sending() {
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert!(Vxlan::new("vx0", 1 << 24).request().is_err());
        assert!(
            Vxlan::new("vx0", 1)
                .remote(v4(10, 0, 0, 1))
                .group(v4(239, 1, 1, 1))
                .request()
                .is_err()
        );
        assert!(
            Vxlan::new("vx0", 1)
                .group(v4(10, 0, 0, 1))
                .request()
                .is_err()
        );
        assert!(
            Vxlan::new("vx0", 1)
                .remote(v4(239, 0, 0, 1))
                .request()
                .is_err()
        );
        assert!(
            Vxlan::new("vx0", 1)
                .remote("::1".parse().unwrap())
                .local(v4(10, 0, 0, 1))
                .request()
                .is_err()
        );
        assert!(Vxlan::new("vx0", 1).port_range(10, 5).request().is_err());
    }
}
