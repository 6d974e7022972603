//! Links: listing and looking up (this file), creating each kind (one file per kind), and
//! changing a link's properties (`set.rs`).

pub mod bridge;
pub mod ifb;
pub mod ipvlan;
pub mod macvlan;
pub mod port;
pub mod set;
pub mod tuntap;
pub mod veth;
pub mod vxlan;

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, Prop, State,
};

use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::netlink::{Request, RouteSocket};
use crate::netns::NetNs;

/// Linux's limit on an interface name, without the NUL (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// Check an interface name as the kernel's `dev_valid_name` does, before anything is sent.
pub fn validate_ifname(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > IFNAME_MAX {
        "longer than 15 bytes"
    } else if name == "." || name == ".." {
        "is '.' or '..'"
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        "contains '/', ':', a NUL or white space"
    } else {
        return Ok(());
    };
    Err(Error::invalid("interface name", name, reason))
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Kind from `IFLA_INFO_KIND` (`veth`, `bridge`, ...), if any.
    pub kind: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Operational state, lower-case as ip prints it (`up`, `down`, `unknown`, ...).
    pub operstate: String,
    /// MTU.
    pub mtu: u32,
    /// Hardware address, if any.
    pub mac: Option<[u8; 6]>,
    /// Index of the master (bridge) device.
    pub master: Option<u32>,
    /// `IFLA_LINK`: the peer's or parent's index (in `link_netnsid`'s namespace when set).
    pub link: Option<u32>,
    /// `IFLA_LINK_NETNSID`: the namespace (as seen from here) of `link`.
    pub link_netnsid: Option<i32>,
    /// Alternative names.
    pub altnames: Vec<String>,
    /// Interface flags as ip prints them (`BROADCAST`, `MULTICAST`, `UP`, `LOWER_UP`, ...).
    pub flags: Vec<String>,
    /// Transmit queue length.
    pub txqueuelen: Option<u32>,
    /// Alias (`IFLA_IFALIAS`), if any.
    pub alias: Option<String>,
}

impl Link {
    /// Decode a `RTM_NEWLINK` message.
    pub fn from_message(m: &LinkMessage) -> Link {
        let mut l = Link {
            index: m.header.index,
            name: String::new(),
            kind: None,
            up: m.header.flags.contains(LinkFlags::Up),
            operstate: "unknown".into(),
            mtu: 0,
            mac: None,
            master: None,
            link: None,
            link_netnsid: None,
            altnames: Vec::new(),
            flags: flag_names(m.header.flags),
            txqueuelen: None,
            alias: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n.clone(),
                LinkAttribute::Mtu(v) => l.mtu = *v,
                LinkAttribute::TxQueueLen(v) => l.txqueuelen = Some(*v),
                LinkAttribute::IfAlias(a) => l.alias = Some(a.clone()),
                LinkAttribute::Address(a) if a.len() == 6 => {
                    l.mac = a.as_slice().try_into().ok();
                }
                LinkAttribute::Controller(v) => l.master = Some(*v),
                LinkAttribute::Link(v) => l.link = Some(*v),
                LinkAttribute::LinkNetNsId(v) => l.link_netnsid = Some(*v),
                LinkAttribute::OperState(s) => l.operstate = operstate_name(s).into(),
                LinkAttribute::PropList(props) => {
                    for p in props {
                        if let Prop::AltIfName(n) = p {
                            l.altnames.push(n.clone());
                        }
                    }
                }
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Kind(k) = i {
                            l.kind = Some(kind_name(k));
                        }
                    }
                }
                _ => {}
            }
        }
        l
    }

    /// The MAC address as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> Option<String> {
        self.mac.map(|m| format_mac(&m))
    }
}

/// Interface flags in the order and spelling of `ip link` (`NO-CARRIER` when up without
/// carrier).
pub fn flag_names(f: LinkFlags) -> Vec<String> {
    const ORDER: [(LinkFlags, &str); 17] = [
        (LinkFlags::Loopback, "LOOPBACK"),
        (LinkFlags::Broadcast, "BROADCAST"),
        (LinkFlags::Pointopoint, "POINTOPOINT"),
        (LinkFlags::Multicast, "MULTICAST"),
        (LinkFlags::Noarp, "NOARP"),
        (LinkFlags::Allmulti, "ALLMULTI"),
        (LinkFlags::Promisc, "PROMISC"),
        (LinkFlags::Notrailers, "NOTRAILERS"),
        (LinkFlags::Debug, "DEBUG"),
        (LinkFlags::Dynamic, "DYNAMIC"),
        (LinkFlags::Automedia, "AUTOMEDIA"),
        (LinkFlags::Portsel, "PORTSEL"),
        (LinkFlags::Controller, "MASTER"),
        (LinkFlags::Port, "SLAVE"),
        (LinkFlags::Up, "UP"),
        (LinkFlags::LowerUp, "LOWER_UP"),
        (LinkFlags::Dormant, "DORMANT"),
    ];
    let mut out = Vec::new();
    if f.contains(LinkFlags::Up) && !f.contains(LinkFlags::Running) {
        out.push("NO-CARRIER".to_owned());
    }
    out.extend(
        ORDER
            .iter()
            .filter(|(bit, _)| f.contains(*bit))
            .map(|(_, n)| (*n).to_owned()),
    );
    out
}

/// Format a MAC address the usual way.
pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parse `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || {
        Error::invalid(
            "MAC address",
            s,
            "expected six hex bytes like 02:00:00:00:00:01",
        )
    };
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// The kind's name as the kernel spells it (`veth`, `ipvlan`, ...).
pub fn kind_name(k: &InfoKind) -> String {
    k.to_string()
}

fn operstate_name(s: &State) -> &'static str {
    match s {
        State::Up => "up",
        State::Down => "down",
        State::LowerLayerDown => "lowerlayerdown",
        State::Dormant => "dormant",
        State::Testing => "testing",
        State::NotPresent => "notpresent",
        _ => "unknown",
    }
}

/// A `RTM_NEWLINK` create request (`NLM_F_CREATE | NLM_F_EXCL`) for a message built by a kind.
pub(crate) fn create_request(msg: LinkMessage, name: &str, kind: &str) -> Request {
    Request::new(
        RouteNetlinkMessage::NewLink(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        "create link",
        name,
    )
    .creating_kind(kind)
}

/// Something that can be created as a link: each kind (`Veth`, `Bridge`, `MacVlan`, ...)
/// builds its `RTM_NEWLINK` request, validating names first.
pub trait LinkSpec {
    /// The create request (`NLM_F_CREATE | NLM_F_EXCL`), ready to send or to batch.
    fn request(&self) -> Result<Request>;

    /// A request to send after the create succeeded, for settings the kernel cannot take in
    /// the create message (a veth peer's up state), and the namespace to send it in (`None`:
    /// the handle's own). Nothing by default.
    fn follow_up(&self) -> Option<FollowUp<'_>> {
        None
    }
}

/// A request that must follow a create, possibly in another namespace.
#[derive(Debug)]
pub struct FollowUp<'ns> {
    /// Where to send it; `None` is the creating handle's namespace.
    pub ns: Option<&'ns NetNs>,
    /// The request.
    pub request: Request,
    /// What removes the created link again if the follow-up fails (sent in the creating
    /// handle's namespace), so a failed add leaves nothing behind.
    pub undo: Option<Request>,
}

/// Requests tagged with the index of the spec they belong to.
type Batch = Vec<(usize, Request)>;

/// Send follow-ups: those for the handle's namespace in one batch on its socket, the others
/// in one batch per namespace from a thread inside it (a socket there is opened once).
fn send_follow_ups(h: &Handle, ups: Vec<(usize, FollowUp<'_>)>) -> Vec<(usize, Result<()>)> {
    let mut groups: Vec<(Option<&NetNs>, Batch)> = Vec::new();
    let mut undos: Batch = Vec::new();
    for (i, f) in ups {
        if let Some(u) = f.undo {
            undos.push((i, u));
        }
        let key = f.ns.map(NetNs::id);
        match groups.iter_mut().find(|(ns, _)| ns.map(NetNs::id) == key) {
            Some((_, v)) => v.push((i, f.request)),
            None => groups.push((f.ns, vec![(i, f.request)])),
        }
    }
    let mut out = Vec::new();
    for (ns, items) in groups {
        let (idx, reqs): (Vec<usize>, Vec<Request>) = items.into_iter().unzip();
        let results = match ns {
            None => h.execute(reqs),
            Some(ns) => {
                let n = reqs.len();
                match ns.run(|| Ok(RouteSocket::open(ns.label())?.execute(reqs))) {
                    Ok(r) => r,
                    Err(e) => {
                        let msg = e.to_string();
                        (0..n)
                            .map(|_| {
                                Err(Error::Socket {
                                    ns: ns.label().into(),
                                    source: std::io::Error::other(msg.clone()),
                                })
                            })
                            .collect()
                    }
                }
            }
        };
        out.extend(idx.into_iter().zip(results));
    }
    // Undo the creates whose follow-up failed. The follow-up's error is what the caller
    // sees; a failing undo (the link vanished meanwhile) changes nothing about that.
    let failed: Vec<Request> = undos
        .into_iter()
        .filter(|(i, _)| out.iter().any(|(j, r)| j == i && r.is_err()))
        .map(|(_, u)| u)
        .collect();
    if !failed.is_empty() {
        let _ = h.execute(failed);
    }
    out
}

impl Handle {
    /// Create a link (`ip link add ...`). If the kind needs a follow-up request (a veth
    /// peer brought up) and that fails, the link is deleted again and the error returned.
    pub fn link_add(&self, spec: &dyn LinkSpec) -> Result<()> {
        self.ack(spec.request()?).map_err(explain)?;
        match spec.follow_up() {
            None => Ok(()),
            Some(f) => send_follow_ups(self, vec![(0, f)])
                .pop()
                .map_or(Ok(()), |(_, r)| r),
        }
    }

    /// Create many links with one batch of create requests (one `sendmsg` per 64 KiB), then
    /// send the follow-ups of those that succeeded (e.g. veth peers up) batched per
    /// namespace. Results are in `specs` order; a spec that fails validation is reported
    /// without sending anything for it.
    pub fn link_add_all(&self, specs: &[&dyn LinkSpec]) -> Vec<Result<()>> {
        let mut results: Vec<Option<Result<()>>> = Vec::with_capacity(specs.len());
        let mut reqs = Vec::with_capacity(specs.len());
        let mut sent = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            match spec.request() {
                Ok(r) => {
                    reqs.push(r);
                    sent.push(i);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let mut ups = Vec::new();
        for (i, r) in sent.into_iter().zip(self.execute(reqs)) {
            if r.is_ok()
                && let Some(f) = specs[i].follow_up()
            {
                ups.push((i, f));
            }
            results[i] = Some(r.map_err(explain));
        }
        for (i, r) in send_follow_ups(self, ups) {
            results[i] = Some(r);
        }
        results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
    }

    /// Every link in this namespace.
    pub fn links(&self) -> Result<Vec<Link>> {
        let req = Request::new(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            0,
            "list links",
            "*",
        );
        Ok(self
            .dump(req)?
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })
            .collect())
    }

    /// The link called `name` (or having it as an altname).
    pub fn link_get(&self, name: &str) -> Result<Link> {
        validate_lookup_name(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(if name.len() > IFNAME_MAX {
            // IFLA_ALT_IFNAME (53): the kernel looks altnames up by this attribute alone.
            let mut value = name.as_bytes().to_vec();
            value.push(0);
            LinkAttribute::Other(netlink_packet_core::DefaultNla::new(53, value))
        } else {
            LinkAttribute::IfName(name.to_owned())
        });
        let req = Request::new(RouteNetlinkMessage::GetLink(msg), 0, "get link", name);
        match self.get(req) {
            Ok(RouteNetlinkMessage::NewLink(l)) => Ok(Link::from_message(&l)),
            Ok(_) => Err(Error::Decode {
                op: "get link",
                ns: self.ns().label().into(),
                reason: "unexpected reply".into(),
            }),
            Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => Err(Error::NotFound {
                what: "link",
                name: name.to_owned(),
                ns: self.ns().label().into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The link with index `index`.
    pub fn link_by_index(&self, index: u32) -> Result<Link> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let req = Request::new(
            RouteNetlinkMessage::GetLink(msg),
            0,
            "get link",
            format!("index {index}"),
        );
        match self.get(req) {
            Ok(RouteNetlinkMessage::NewLink(l)) => Ok(Link::from_message(&l)),
            Ok(_) => Err(Error::Decode {
                op: "get link",
                ns: self.ns().label().into(),
                reason: "unexpected reply".into(),
            }),
            Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => Err(Error::NotFound {
                what: "link",
                name: format!("index {index}"),
                ns: self.ns().label().into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The index of the link called `name`: a device ioctl on the handle's socket
    /// ([`RouteSocket::index_of`](crate::netlink::RouteSocket::index_of)), which neither takes
    /// RTNL nor waits for a grace period as an `RTM_GETLINK` of a link whose carrier just
    /// changed does.
    pub fn link_index(&self, name: &str) -> Result<u32> {
        if name.len() > IFNAME_MAX {
            // Only an altname can be this long, and an ifreq cannot carry it.
            return self.link_get(name).map(|l| l.index);
        }
        validate_lookup_name(name)?;
        match self.index_of(name) {
            Ok(index) => Ok(index),
            Err(nix::errno::Errno::ENODEV) => Err(Error::NotFound {
                what: "link",
                name: name.to_owned(),
                ns: self.ns().label().into(),
            }),
            Err(e) => Err(Error::Sys {
                op: "SIOCGIFINDEX",
                ns: self.ns().label().into(),
                source: e,
            }),
        }
    }

    /// Bring a link up (`ip link set NAME up`).
    pub fn link_set_up(&self, name: &str) -> Result<()> {
        let index = self.link_index(name)?;
        self.ack(up_request(index, true, name))
    }

    /// Bring a link down (`ip link set NAME down`).
    pub fn link_set_down(&self, name: &str) -> Result<()> {
        let index = self.link_index(name)?;
        self.ack(up_request(index, false, name))
    }
}

/// A request that keeps IPv6 from giving the link with index `index` addresses of its own
/// (`ip link set NAME addrgenmode none`): no link-local address, so no duplicate address
/// detection, router solicitations or MLD reports from it. Sent while the link is down: a
/// link brought up before gets its link-local at once. The kernel refuses it when creating a
/// link (EAFNOSUPPORT), so it is a change of its own.
///
/// For a bridge port and a container on an IPv4-only network: each new link's IPv6 chatter
/// is flooded to every port of the bridge, which at hundreds of ports costs every container's
/// creation milliseconds of CPU (and the RTNL lock) in every namespace.
pub fn no_ipv6_addresses_request(index: u32, name: &str) -> Request {
    use netlink_packet_route::link::{AfSpecInet6, AfSpecUnspec, In6AddrGenMode};
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
            vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
        )]));
    Request::new(
        RouteNetlinkMessage::SetLink(msg),
        0,
        "set addrgenmode none on",
        name,
    )
}

/// A request setting `IFF_UP` on or off for the link with index `index`.
pub fn up_request(index: u32, up: bool, name: &str) -> Request {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.header.change_mask = LinkFlags::Up;
    if up {
        msg.header.flags = LinkFlags::Up;
    }
    Request::new(
        RouteNetlinkMessage::SetLink(msg),
        0,
        if up { "set link up" } else { "set link down" },
        name,
    )
}

fn validate_lookup_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 127 || name.contains('\0') {
        return Err(Error::invalid(
            "interface name",
            name,
            "empty, too long, or contains NUL",
        ));
    }
    Ok(())
}

/// Whether an address is link-local (used by callers that print scopes).
pub fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifnames_are_checked_like_the_kernel() {
        for ok in ["eth0", "veth-a.1", "x", "abcdefghijklmno"] {
            assert!(validate_ifname(ok).is_ok(), "{ok}");
        }
        for bad in ["", "abcdefghijklmnop", "a/b", "a:b", "a b", ".", ".."] {
            assert!(validate_ifname(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn macs_round_trip() {
        let m = parse_mac("02:aB:00:00:0f:01").unwrap();
        assert_eq!(format_mac(&m), "02:ab:00:00:0f:01");
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:100",
            "zz:00:00:00:00:00",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }
}

/// A link message for a new link called `name`: `IFLA_IFNAME` first, as ip sends it.
pub(crate) fn named_message(name: &str) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
    msg
}

/// Options every kind shares at creation: MTU, MAC, master, up. Added after the kind's own
/// attributes so messages keep ip's attribute order where it matters to byte tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Common {
    pub(crate) mtu: Option<u32>,
    pub(crate) mac: Option<[u8; 6]>,
    pub(crate) master: Option<u32>,
    pub(crate) up: bool,
}

impl Common {
    pub(crate) fn apply(&self, msg: &mut LinkMessage) {
        if let Some(mtu) = self.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = self.mac {
            msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(master) = self.master {
            msg.attributes.push(LinkAttribute::Controller(master));
        }
        if self.up {
            msg.header.flags |= LinkFlags::Up;
            msg.header.change_mask |= LinkFlags::Up;
        }
    }
}

/// Add context to a refusal the kernel gives without text: a full bridge answers `EXFULL`.
/// (A missing link kind is recognised by the netlink layer from the kernel's own words.)
pub(crate) fn explain(e: Error) -> Error {
    use nix::errno::Errno;
    match e {
        Error::Netlink {
            op,
            object,
            ns,
            mut source,
        } if source.errno == Errno::EXFULL && source.extack.is_none() => {
            source.extack = Some(
                "the bridge has no free port number (a bridge takes at most 1023 ports)".into(),
            );
            Error::Netlink {
                op,
                object,
                ns,
                source,
            }
        }
        e => e,
    }
}

/// `EOPNOTSUPP` when making a link a port means the master is no bridge (or bond, ...).
pub(crate) fn explain_master(e: Error) -> Error {
    match explain(e) {
        Error::Netlink {
            op,
            object,
            ns,
            mut source,
        } if source.errno == nix::errno::Errno::EOPNOTSUPP && source.extack.is_none() => {
            source.extack = Some("the master cannot take ports (is it a bridge?)".into());
            Error::Netlink {
                op,
                object,
                ns,
                source,
            }
        }
        e => e,
    }
}

/// Hand-written uapi layouts for byte-for-byte tests of requests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// `struct nlmsghdr` for a message whose payload is `payload_len` bytes.
    pub(crate) fn nlmsghdr(payload_len: usize, ty: u16, flags: u16, seq: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(((16 + payload_len) as u32).to_ne_bytes());
        v.extend(ty.to_ne_bytes());
        v.extend(flags.to_ne_bytes());
        v.extend(seq.to_ne_bytes());
        v.extend(0u32.to_ne_bytes());
        v
    }

    /// `struct ifinfomsg`: AF_UNSPEC, ARPHRD 0, index, flags, change mask.
    pub(crate) fn ifinfomsg(index: u32, flags: u32, change: u32) -> Vec<u8> {
        let mut v = vec![0u8, 0];
        v.extend(0u16.to_ne_bytes());
        v.extend(index.to_ne_bytes());
        v.extend(flags.to_ne_bytes());
        v.extend(change.to_ne_bytes());
        v
    }

    /// One `struct rtattr` with its payload, padded to 4 bytes.
    pub(crate) fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(((4 + payload.len()) as u16).to_ne_bytes());
        v.extend(ty.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// A NUL-terminated string attribute.
    pub(crate) fn attr_str(ty: u16, s: &str) -> Vec<u8> {
        let mut p = s.as_bytes().to_vec();
        p.push(0);
        attr(ty, &p)
    }

    /// A nested attribute (`NLA_F_NESTED` is not set by ip nor by us).
    pub(crate) fn nested(ty: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        attr(ty, &parts.concat())
    }
}
