//! veth pairs (`ip link add NAME type veth peer name PEER ...`).
//!
//! Everything about a pair goes into one `RTM_NEWLINK`: the peer's namespace (the peer is
//! created directly inside it), its index and MAC, and this end's bridge master and up state.
//! On a full bridge the whole create fails and nothing is left behind.
//!
//! Each end is made with one transmit and one receive queue unless [`Veth::queues`] says
//! otherwise. Left to itself the kernel allocates one queue per possible CPU, then trims the
//! queues in use back to one (`veth_init_queues`), and each trim waits for an expedited RCU
//! grace period while holding RTNL: two per pair, 15-35% of the cost of creating one here.
//! Asking for the count up front skips both (as `ip link add … numtxqueues 1 numrxqueues 1`).
//!
//! The peer's up state cannot go in: the kernel opens the peer before the two ends are linked
//! and refuses with `ENOTCONN`. [`Veth::peer_up`] therefore adds a follow-up request, sent in
//! the peer's namespace after the create ([`Veth::peer_up_request`] for callers that batch).
//!
//! ```no_run
//! use warren_kernel::link::{bridge::Bridge, veth::Veth};
//! use warren_kernel::{Handle, NetNs};
//!
//! let host = Handle::current()?;
//! host.link_add(&Bridge::new("br0").up())?;
//! let br = host.link_index("br0")?;
//! let c1 = NetNs::new_anonymous("c1")?;
//! // Host end `hv1` on br0 and up; peer `eth0` created inside c1 and brought up there.
//! host.link_add(&Veth::new("hv1", "eth0").peer_netns(&c1).master(br).up().peer_up())?;
//! # Ok::<(), warren_kernel::Error>(())
//! ```

use std::os::fd::AsRawFd;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};

use super::{Common, FollowUp, LinkSpec, create_request, named_message, validate_ifname};
use crate::error::{Error, Result};
use crate::netlink::Request;
use crate::netns::NetNs;

/// A veth pair to create: `NAME` here and `PEER` here or in another namespace.
#[derive(Debug, Clone)]
pub struct Veth<'ns> {
    name: String,
    peer: String,
    peer_ns: Option<&'ns NetNs>,
    index: Option<u32>,
    peer_index: Option<u32>,
    peer_mac: Option<[u8; 6]>,
    peer_up: bool,
    queues: u32,
    common: Common,
}

impl<'ns> Veth<'ns> {
    /// A pair `name` / `peer`, both in the handle's namespace unless
    /// [`peer_netns`](Self::peer_netns) says otherwise. An empty `peer` lets the kernel name
    /// it (`vethN`), as `ip link add NAME type veth` does.
    pub fn new(name: impl Into<String>, peer: impl Into<String>) -> Self {
        Veth {
            name: name.into(),
            peer: peer.into(),
            peer_ns: None,
            index: None,
            peer_index: None,
            peer_mac: None,
            peer_up: false,
            queues: 1,
            common: Common::default(),
        }
    }

    /// Create the peer directly inside `ns` (`IFLA_NET_NS_FD` in the peer's message).
    pub fn peer_netns(mut self, ns: &'ns NetNs) -> Self {
        self.peer_ns = Some(ns);
        self
    }

    /// Choose this end's interface index (0 or unset lets the kernel pick).
    pub fn index(mut self, index: u32) -> Self {
        self.index = Some(index);
        self
    }

    /// Choose the peer's interface index. The kernel honours it only when this end's index
    /// is chosen too ([`index`](Self::index)); the request is refused otherwise.
    pub fn peer_index(mut self, index: u32) -> Self {
        self.peer_index = Some(index);
        self
    }

    /// Make this end a port of the bridge with index `index` at creation.
    pub fn master(mut self, index: u32) -> Self {
        self.common.master = Some(index);
        self
    }

    /// Bring this end up at creation.
    pub fn up(mut self) -> Self {
        self.common.up = true;
        self
    }

    /// Bring the peer up once created. The kernel cannot open a veth end before the pair is
    /// linked, so this is a second request (see [`peer_up_request`](Self::peer_up_request)),
    /// sent by [`Handle::link_add`](crate::Handle::link_add) (and batched per namespace by
    /// [`Handle::link_add_all`](crate::Handle::link_add_all)) from inside the peer's namespace.
    pub fn peer_up(mut self) -> Self {
        self.peer_up = true;
        self
    }

    /// Transmit and receive queues of each end (`numtxqueues` / `numrxqueues`; 1 unless set,
    /// see the module's notes). More than one lets XDP or `ethtool -L` spread a busy pair's
    /// work over CPUs.
    pub fn queues(mut self, n: u32) -> Self {
        self.queues = n;
        self
    }

    /// MTU of both ends.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.common.mtu = Some(mtu);
        self
    }

    /// MAC address of this end.
    pub fn mac(mut self, mac: [u8; 6]) -> Self {
        self.common.mac = Some(mac);
        self
    }

    /// MAC address of the peer.
    pub fn peer_mac(mut self, mac: [u8; 6]) -> Self {
        self.peer_mac = Some(mac);
        self
    }

    /// This end's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The peer's name.
    pub fn peer_name(&self) -> &str {
        &self.peer
    }

    fn peer_message(&self) -> LinkMessage {
        let mut peer = if self.peer.is_empty() {
            LinkMessage::default()
        } else {
            named_message(&self.peer)
        };
        if let Some(index) = self.peer_index {
            peer.header.index = index;
        }
        if let Some(ns) = self.peer_ns {
            peer.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        }
        if let Some(mtu) = self.common.mtu {
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = self.peer_mac {
            peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        peer.attributes.extend(self.queue_attrs());
        peer
    }

    /// `IFLA_NUM_TX_QUEUES` and `IFLA_NUM_RX_QUEUES`, the same for both ends.
    fn queue_attrs(&self) -> [LinkAttribute; 2] {
        [
            LinkAttribute::NumTxQueues(self.queues),
            LinkAttribute::NumRxQueues(self.queues),
        ]
    }

    /// The request bringing the peer up, to send in the peer's namespace after the create.
    /// The peer is looked up by name, so when both ends are in one namespace it can follow
    /// the create in the same batch.
    pub fn peer_up_request(&self) -> Request {
        let mut msg = named_message(&self.peer);
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        Request::new(
            RouteNetlinkMessage::SetLink(msg),
            0,
            "set link up",
            self.peer.clone(),
        )
    }
}

impl LinkSpec for Veth<'_> {
    fn request(&self) -> Result<Request> {
        validate_ifname(&self.name)?;
        if self.peer.is_empty() {
            if self.peer_up {
                return Err(Error::invalid(
                    "veth peer name",
                    "",
                    "a peer named by the kernel cannot be brought up by name",
                ));
            }
        } else {
            validate_ifname(&self.peer)?;
        }
        if self.peer_index.is_some() && self.index.is_none() {
            return Err(Error::invalid(
                "veth peer index",
                self.peer.clone(),
                "the kernel uses a chosen peer index only when this end's index is chosen too",
            ));
        }
        if self.queues == 0 {
            return Err(Error::invalid(
                "veth queues",
                self.name.clone(),
                "a veth needs at least one queue",
            ));
        }
        let mut msg = named_message(&self.name);
        if let Some(index) = self.index {
            msg.header.index = index;
        }
        msg.attributes.extend(self.queue_attrs());
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(self.peer_message()))),
        ]));
        self.common.apply(&mut msg);
        let object = format!("{} (peer {})", self.name, self.peer);
        Ok(create_request(msg, &object, "veth"))
    }

    fn follow_up(&self) -> Option<FollowUp<'_>> {
        self.peer_up.then(|| FollowUp {
            ns: self.peer_ns,
            request: self.peer_up_request(),
            undo: super::set::del_request(&self.name).ok(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::tests_support::{attr, attr_str, ifinfomsg, nlmsghdr};

    #[test]
    fn veth_with_peer_netns_is_encoded_like_the_uapi() {
        let ns = NetNs::current().unwrap();
        let fd = ns.as_raw_fd();
        let req = Veth::new("v0", "p0")
            .peer_netns(&ns)
            .index(6)
            .peer_index(7)
            .peer_up()
            .up()
            .request()
            .unwrap();

        // One queue each way, on both ends: IFLA_NUM_TX_QUEUES (31), IFLA_NUM_RX_QUEUES (32).
        let queues = [attr(31, &1u32.to_ne_bytes()), attr(32, &1u32.to_ne_bytes())].concat();
        // Peer: ifinfomsg (index 7) + IFLA_IFNAME "p0" + IFLA_NET_NS_FD fd + queues.
        let mut peer = ifinfomsg(7, 0, 0);
        peer.extend(attr_str(3, "p0"));
        peer.extend(attr(28, &fd.to_ne_bytes()));
        peer.extend(&queues);
        // VETH_INFO_PEER = 1 inside IFLA_INFO_DATA (2), with IFLA_INFO_KIND (1) "veth" first.
        let data = attr(2, &attr(1, &peer));
        let mut info = attr_str(1, "veth");
        info.extend(data);
        let mut body = ifinfomsg(6, 1, 1);
        body.extend(attr_str(3, "v0"));
        body.extend(&queues);
        body.extend(attr(18, &info)); // IFLA_LINKINFO
        // RTM_NEWLINK = 16; NLM_F_REQUEST|NLM_F_ACK|NLM_F_EXCL|NLM_F_CREATE = 0x605.
        let mut want = nlmsghdr(body.len(), 16, 0x605, 9);
        want.extend(body);
        assert_eq!(req.to_bytes(9), want);
    }

    #[test]
    fn names_are_validated_first() {
        assert!(Veth::new("abcdefghijklmnopq", "p").request().is_err());
        assert!(Veth::new("a", "b/c").request().is_err());
        assert!(Veth::new("a", "").peer_up().request().is_err());
        let RouteNetlinkMessage::NewLink(m) = Veth::new("a", "").request().unwrap().msg else {
            panic!()
        };
        let peer_named = format!("{m:?}").matches("IfName").count();
        assert_eq!(peer_named, 1, "only this end is named");
        let e = Veth::new("a", "b").queues(0).request().unwrap_err();
        assert!(e.to_string().contains("at least one queue"), "{e}");
    }

    #[test]
    fn queues_can_be_asked_for() {
        let RouteNetlinkMessage::NewLink(m) = Veth::new("a", "b").queues(4).request().unwrap().msg
        else {
            panic!()
        };
        let text = format!("{m:?}");
        assert_eq!(text.matches("NumTxQueues(4)").count(), 2, "{text}");
        assert_eq!(text.matches("NumRxQueues(4)").count(), 2, "{text}");
    }
}
