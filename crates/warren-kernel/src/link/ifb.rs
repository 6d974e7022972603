//! ifb links (`ip link add NAME type ifb`): the Intermediate Functional Block, a device whose
//! only job is to take traffic redirected to it (by a tc `mirred` action) and pass it through
//! its own egress qdisc, so ingress traffic can be shaped.

use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo};

use super::{Common, LinkSpec, create_request, named_message, validate_ifname};
use crate::error::Result;
use crate::netlink::Request;

/// An ifb link to create.
#[derive(Debug, Clone)]
pub struct Ifb {
    name: String,
    common: Common,
}

impl Ifb {
    /// An ifb link named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Ifb {
            name: name.into(),
            common: Common::default(),
        }
    }

    /// MTU.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.common.mtu = Some(mtu);
        self
    }

    /// Bring it up at creation.
    pub fn up(mut self) -> Self {
        self.common.up = true;
        self
    }
}

impl LinkSpec for Ifb {
    fn request(&self) -> Result<Request> {
        validate_ifname(&self.name)?;
        let mut msg = named_message(&self.name);
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Ifb)]));
        self.common.apply(&mut msg);
        Ok(create_request(msg, &self.name, "ifb"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::tests_support::{attr_str, ifinfomsg, nested, nlmsghdr};

    #[test]
    fn ifb_message_matches_the_uapi_layout_byte_for_byte() {
        let mut body = ifinfomsg(0, 0, 0);
        body.extend(attr_str(3, "ifb0")); // IFLA_IFNAME
        body.extend(nested(18, &[attr_str(1, "ifb")])); // IFLA_LINKINFO { IFLA_INFO_KIND }
        let mut want = nlmsghdr(body.len(), 16, 0x0605, 3);
        want.extend(body);
        assert_eq!(Ifb::new("ifb0").request().unwrap().to_bytes(3), want);
        assert!(Ifb::new("x".repeat(16)).request().is_err());
    }
}
