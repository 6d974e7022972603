//! Changing a link: rename, MTU, MAC, master, namespace, queue length, up/down, altnames, and
//! deleting it. Several changes go in one `RTM_NEWLINK` as `ip link set` sends them; each also
//! has a function returning its [`Request`] so callers can batch.

use std::os::fd::AsRawFd;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, Prop};

use super::{explain, explain_master, validate_ifname};
use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::netlink::Request;
use crate::netns::NetNs;

/// Changes to make to one link at once; `None` leaves a property alone.
#[derive(Debug, Clone, Default)]
pub struct LinkChange<'ns> {
    /// Administrative state.
    pub up: Option<bool>,
    /// New name.
    pub name: Option<String>,
    /// MTU.
    pub mtu: Option<u32>,
    /// MAC address.
    pub mac: Option<[u8; 6]>,
    /// `Some(Some(i))`: make it a port of bridge `i`; `Some(None)`: detach (`nomaster`).
    pub master: Option<Option<u32>>,
    /// Move it into this namespace.
    pub netns: Option<&'ns NetNs>,
    /// Transmit queue length.
    pub txqueuelen: Option<u32>,
    /// Promiscuous mode.
    pub promisc: Option<bool>,
    /// Receive all multicast.
    pub allmulti: Option<bool>,
    /// Alias (`IFLA_IFALIAS`, `ip link set NAME alias TEXT`); an empty one clears it.
    pub alias: Option<String>,
}

impl<'ns> LinkChange<'ns> {
    /// Move the link into `ns`.
    pub fn netns(mut self, ns: &'ns NetNs) -> Self {
        self.netns = Some(ns);
        self
    }
}

/// The request making `change` to the link with index `index` (`label` names it in errors).
pub fn change_request(index: u32, label: &str, change: &LinkChange<'_>) -> Result<Request> {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    if let Some(ns) = change.netns {
        msg.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
    }
    if let Some(name) = &change.name {
        validate_ifname(name)?;
        msg.attributes.push(LinkAttribute::IfName(name.clone()));
    }
    if let Some(mtu) = change.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = change.mac {
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
    }
    if let Some(master) = change.master {
        msg.attributes
            .push(LinkAttribute::Controller(master.unwrap_or(0)));
    }
    if let Some(q) = change.txqueuelen {
        msg.attributes.push(LinkAttribute::TxQueueLen(q));
    }
    if let Some(alias) = &change.alias {
        // The kernel takes up to IFALIASZ - 1 bytes.
        if alias.len() > 255 || alias.contains('\0') {
            return Err(Error::invalid(
                "interface alias",
                alias,
                "longer than 255 bytes or contains NUL",
            ));
        }
        msg.attributes.push(LinkAttribute::IfAlias(alias.clone()));
    }
    for (want, flag) in [
        (change.up, LinkFlags::Up),
        (change.promisc, LinkFlags::Promisc),
        (change.allmulti, LinkFlags::Allmulti),
    ] {
        if let Some(on) = want {
            msg.header.change_mask |= flag;
            if on {
                msg.header.flags |= flag;
            }
        }
    }
    let op = if change.name.is_some() {
        "rename link"
    } else if change.netns.is_some() {
        "move link"
    } else if matches!(change.master, Some(Some(_))) {
        "set master of link"
    } else {
        "set link"
    };
    let object = match &change.name {
        Some(new) => format!("{label} to {new}"),
        None => label.to_owned(),
    };
    Ok(Request::new(
        RouteNetlinkMessage::SetLink(msg),
        0,
        op,
        object,
    ))
}

/// The request making link `index` a port of `master`, or detaching it with `None`.
pub fn master_request(index: u32, label: &str, master: Option<u32>) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::Controller(master.unwrap_or(0)));
    let op = if master.is_some() {
        "set master of link"
    } else {
        "remove master of link"
    };
    Request::new(RouteNetlinkMessage::SetLink(msg), 0, op, label)
}

/// The request adding (`add`) or deleting an alternative name of link `index`.
pub fn altname_request(index: u32, label: &str, altname: &str, add: bool) -> Result<Request> {
    if altname.is_empty() || altname.len() > 127 || altname.contains(['/', ':', '\0']) {
        return Err(Error::invalid(
            "alternative name",
            altname,
            "must be 1–127 bytes without '/', ':' or NUL",
        ));
    }
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::PropList(vec![Prop::AltIfName(
            altname.to_owned(),
        )]));
    let object = format!("{altname} of {label}");
    Ok(if add {
        Request::new(
            RouteNetlinkMessage::NewLinkProp(msg),
            netlink_packet_core::NLM_F_CREATE | netlink_packet_core::NLM_F_APPEND,
            "add altname",
            object,
        )
    } else {
        Request::new(
            RouteNetlinkMessage::DelLinkProp(msg),
            0,
            "delete altname",
            object,
        )
    })
}

/// The request deleting the link called `name` (looked up by the kernel, no round trip).
pub fn del_request(name: &str) -> Result<Request> {
    validate_ifname(name)?;
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
    Ok(Request::new(
        RouteNetlinkMessage::DelLink(msg),
        0,
        "delete link",
        name,
    ))
}

/// The request deleting the link with index `index`.
pub fn del_index_request(index: u32, label: &str) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    Request::new(RouteNetlinkMessage::DelLink(msg), 0, "delete link", label)
}

impl Handle {
    /// Make several changes to the link `name` in one request (`ip link set NAME ...`).
    pub fn link_set(&self, name: &str, change: &LinkChange<'_>) -> Result<()> {
        let index = self.link_index(name)?;
        let to_port = matches!(change.master, Some(Some(_)));
        self.ack(change_request(index, name, change)?)
            .map_err(if to_port { explain_master } else { explain })
    }

    /// Rename a link (most kinds must be down; the kernel answers EBUSY otherwise).
    pub fn link_rename(&self, name: &str, new: &str) -> Result<()> {
        validate_ifname(new)?;
        self.link_set(
            name,
            &LinkChange {
                name: Some(new.to_owned()),
                ..LinkChange::default()
            },
        )
    }

    /// Set the MTU.
    pub fn link_set_mtu(&self, name: &str, mtu: u32) -> Result<()> {
        self.link_set(
            name,
            &LinkChange {
                mtu: Some(mtu),
                ..LinkChange::default()
            },
        )
    }

    /// Set the MAC address.
    pub fn link_set_mac(&self, name: &str, mac: [u8; 6]) -> Result<()> {
        self.link_set(
            name,
            &LinkChange {
                mac: Some(mac),
                ..LinkChange::default()
            },
        )
    }

    /// Set the transmit queue length.
    pub fn link_set_txqueuelen(&self, name: &str, len: u32) -> Result<()> {
        self.link_set(
            name,
            &LinkChange {
                txqueuelen: Some(len),
                ..LinkChange::default()
            },
        )
    }

    /// Move the link into `ns` (`ip link set NAME netns NS`).
    pub fn link_set_netns(&self, name: &str, ns: &NetNs) -> Result<()> {
        self.link_set(name, &LinkChange::default().netns(ns))
    }

    /// Add an alternative name (`ip link property add dev NAME altname ALT`).
    pub fn link_altname_add(&self, name: &str, altname: &str) -> Result<()> {
        let index = self.link_index(name)?;
        self.ack(altname_request(index, name, altname, true)?)
    }

    /// Delete an alternative name.
    pub fn link_altname_del(&self, name: &str, altname: &str) -> Result<()> {
        let index = self.link_index(name)?;
        self.ack(altname_request(index, name, altname, false)?)
    }

    /// Delete the link called `name` (`ip link del NAME`); a veth takes its peer with it.
    pub fn link_del(&self, name: &str) -> Result<()> {
        match self.ack(del_request(name)?) {
            Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => Err(Error::NotFound {
                what: "link",
                name: name.to_owned(),
                ns: self.ns().label().into(),
            }),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_new_name_is_refused_before_sending() {
        let change = LinkChange {
            name: Some("x".repeat(16)),
            ..LinkChange::default()
        };
        assert!(change_request(1, "a", &change).is_err());
        assert!(altname_request(1, "a", "a/b", true).is_err());
        assert!(del_request("a:b").is_err());
        let change = LinkChange {
            alias: Some("a\0b".into()),
            ..LinkChange::default()
        };
        assert!(change_request(1, "a", &change).is_err());
    }

    #[test]
    fn altname_and_change_requests_match_the_uapi() {
        use crate::link::tests_support::{attr, attr_str, ifinfomsg, nested, nlmsghdr};
        // RTM_NEWLINKPROP (108), NLM_F_CREATE | NLM_F_APPEND | REQUEST | ACK:
        // ifinfomsg(index 5) + IFLA_PROP_LIST (52, flagged NLA_F_NESTED as ip sends it)
        // { IFLA_ALT_IFNAME (53) "long-name" }.
        let req = altname_request(5, "v0", "long-name", true).unwrap();
        let mut body = ifinfomsg(5, 0, 0);
        body.extend(nested(52 | 0x8000, &[attr_str(53, "long-name")]));
        let mut want = nlmsghdr(body.len(), 108, 0x0c05, 2);
        want.extend(body);
        assert_eq!(req.to_bytes(2), want);

        // RTM_SETLINK (19): down + IFLA_IFNAME + IFLA_MTU (4) + IFLA_MASTER (10) in one.
        let change = LinkChange {
            up: Some(false),
            name: Some("v9".into()),
            mtu: Some(1300),
            master: Some(Some(3)),
            alias: Some("retired".into()),
            ..LinkChange::default()
        };
        let req = change_request(5, "v0", &change).unwrap();
        let mut body = ifinfomsg(5, 0, 1);
        body.extend(attr_str(3, "v9"));
        body.extend(attr(4, &1300u32.to_ne_bytes()));
        body.extend(attr(10, &3u32.to_ne_bytes()));
        // IFLA_IFALIAS (20).
        body.extend(attr_str(20, "retired"));
        let mut want = nlmsghdr(body.len(), 19, 0x5, 4);
        want.extend(body);
        assert_eq!(req.to_bytes(4), want);
    }

    #[test]
    fn nomaster_is_master_zero() {
        let r = master_request(3, "p", None);
        let RouteNetlinkMessage::SetLink(m) = r.message() else {
            panic!()
        };
        assert_eq!(m.attributes, vec![LinkAttribute::Controller(0)]);
    }
}
