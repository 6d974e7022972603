//! Multicast rtnetlink: the kernel's notifications of link, address, route, neighbour and
//! nsid changes in one namespace (what `ip monitor` listens to).
//!
//! An [`EventSocket`] is opened in the calling thread's namespace and stays bound to it; it
//! never blocks (`MSG_DONTWAIT`), so one thread can poll the sockets of many namespaces.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, protocols::NETLINK_ROUTE};

use crate::addr::Address;
use crate::error::{Error, Result};
use crate::link::Link;
use crate::neigh::Neighbour;
use crate::netlink::messages;
use crate::nsid::NsidEntry;
use crate::route::Route;

/// rtnetlink multicast groups (`RTNLGRP_*`), as `NETLINK_ADD_MEMBERSHIP` takes them.
pub mod group {
    /// Links.
    pub const LINK: u32 = 1;
    /// Neighbours.
    pub const NEIGH: u32 = 3;
    /// IPv4 addresses.
    pub const IPV4_IFADDR: u32 = 5;
    /// IPv4 routes.
    pub const IPV4_ROUTE: u32 = 7;
    /// IPv6 addresses.
    pub const IPV6_IFADDR: u32 = 9;
    /// IPv6 routes.
    pub const IPV6_ROUTE: u32 = 11;
    /// Namespace ids.
    pub const NSID: u32 = 28;
    /// All of the above.
    pub const ALL: [u32; 7] = [
        LINK,
        NEIGH,
        IPV4_IFADDR,
        IPV4_ROUTE,
        IPV6_IFADDR,
        IPV6_ROUTE,
        NSID,
    ];
}

/// One notification, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `RTM_NEWLINK` (a link appeared or changed).
    NewLink(Link),
    /// `RTM_DELLINK`.
    DelLink(Link),
    /// `RTM_NEWADDR`.
    NewAddr(Address),
    /// `RTM_DELADDR`.
    DelAddr(Address),
    /// `RTM_NEWROUTE`.
    NewRoute(Route),
    /// `RTM_DELROUTE`.
    DelRoute(Route),
    /// `RTM_NEWNEIGH`.
    NewNeigh(Neighbour),
    /// `RTM_DELNEIGH`.
    DelNeigh(Neighbour),
    /// `RTM_NEWNSID`: a namespace was given an id here.
    NewNsid(NsidEntry),
    /// `RTM_DELNSID`: an id went away (its namespace died).
    DelNsid(NsidEntry),
    /// The socket's buffer overflowed (`ENOBUFS`): notifications were lost.
    Overrun,
}

impl Notification {
    /// Decode one message; `None` for anything that is not a notification we know.
    pub fn from_message(m: &RouteNetlinkMessage) -> Option<Notification> {
        use RouteNetlinkMessage as M;
        Some(match m {
            M::NewLink(l) => Notification::NewLink(Link::from_message(l)),
            M::DelLink(l) => Notification::DelLink(Link::from_message(l)),
            M::NewAddress(a) => Notification::NewAddr(Address::from_message(a)?),
            M::DelAddress(a) => Notification::DelAddr(Address::from_message(a)?),
            M::NewRoute(r) => Notification::NewRoute(Route::from_message(r)?),
            M::DelRoute(r) => Notification::DelRoute(Route::from_message(r)?),
            M::NewNeighbour(n) => Notification::NewNeigh(Neighbour::from_message(n)?),
            M::DelNeighbour(n) => Notification::DelNeigh(Neighbour::from_message(n)?),
            M::NewNsId(n) => Notification::NewNsid(NsidEntry::from_message(n)?),
            M::DelNsId(n) => Notification::DelNsid(NsidEntry::from_message(n)?),
            _ => return None,
        })
    }
}

/// Decode every notification of one datagram (messages that do not parse are skipped).
pub fn decode_datagram(data: &[u8]) -> Vec<Notification> {
    messages(data)
        .filter_map(|(_, chunk)| NetlinkMessage::<RouteNetlinkMessage>::deserialize(chunk).ok())
        .filter_map(|m| match m.payload {
            NetlinkPayload::InnerMessage(m) => Notification::from_message(&m),
            _ => None,
        })
        .collect()
}

thread_local! {
    /// One receive buffer per thread, shared by all of its event sockets.
    static RX: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A netlink socket subscribed to rtnetlink multicast groups in one namespace.
pub struct EventSocket {
    sock: Socket,
    ns: String,
}

impl std::fmt::Debug for EventSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSocket")
            .field("ns", &self.ns)
            .finish_non_exhaustive()
    }
}

impl EventSocket {
    /// Open a socket in the calling thread's namespace, subscribed to `groups` (see
    /// [`group`]). `ns` labels it in errors.
    pub fn open(ns: impl Into<String>, groups: &[u32]) -> Result<EventSocket> {
        let ns = ns.into();
        let io = |source| Error::Socket {
            ns: ns.clone(),
            source,
        };
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(io)?;
        sock.bind_auto().map_err(io)?;
        let _ = sock.set_rx_buf_sz(1 << 20);
        for g in groups {
            sock.add_membership(*g).map_err(io)?;
        }
        Ok(EventSocket { sock, ns })
    }

    /// The label of its namespace.
    pub fn ns_label(&self) -> &str {
        &self.ns
    }

    /// Every notification waiting now, without blocking (empty when none is).
    pub fn drain(&self) -> Result<Vec<Notification>> {
        let mut out = Vec::new();
        loop {
            let got = RX.with_borrow_mut(|buf| {
                buf.clear();
                buf.reserve(64 * 1024);
                match self.sock.recv(buf, libc::MSG_DONTWAIT) {
                    Ok(n) => Ok(Some(decode_datagram(&buf[..n.min(buf.len())]))),
                    Err(e) => Err(e),
                }
            });
            match got {
                Ok(Some(n)) => out.extend(n),
                Ok(None) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    out.push(Notification::Overrun);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Socket {
                        ns: self.ns.clone(),
                        source,
                    });
                }
            }
        }
    }
}

impl AsFd for EventSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor is owned by `self.sock` and stays open as long as `self`,
        // which the returned borrow cannot outlive.
        unsafe { BorrowedFd::borrow_raw(self.sock.as_raw_fd()) }
    }
}

impl AsRawFd for EventSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_datagrams_never_panic() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..2000usize {
            let mut data = Vec::with_capacity(len % 300);
            for _ in 0..len % 300 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                data.push(seed as u8);
            }
            // Make some of them look like messages of the right length and types.
            if data.len() >= 16 {
                let l = u32::try_from(data.len()).unwrap();
                data[0..4].copy_from_slice(&l.to_ne_bytes());
                data[4] = [16u8, 17, 20, 21, 24, 25, 28, 29, 88, 89][len % 10];
                data[5] = 0;
            }
            let _ = decode_datagram(&data);
        }
    }

    #[test]
    fn unknown_messages_are_not_notifications() {
        assert_eq!(decode_datagram(&[]), vec![]);
        let m = RouteNetlinkMessage::GetLink(Default::default());
        assert_eq!(Notification::from_message(&m), None);
    }
}
