//! Namespace ids (nsid): the numbers by which one network namespace refers to another, as
//! `ip netns set`, `ip netns list-id` and the `(id: N)` of `ip netns list` use them.
//!
//! Every request goes to the handle's namespace: an nsid is always "as seen from" there.

use std::os::fd::AsRawFd;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};

use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::netlink::{Request, RouteSocket};
use crate::netns::NetNs;

/// The kernel's `NETNSA_NSID_NOT_ASSIGNED`.
pub const NOT_ASSIGNED: i32 = -1;

/// One entry of an nsid dump (`ip netns list-id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsidEntry {
    /// The id, in the handle's namespace, of some peer namespace.
    pub nsid: i32,
    /// With a target nsid: the id of that same peer as seen from the target namespace
    /// (`NETNSA_CURRENT_NSID`), when the kernel sent one.
    pub current_nsid: Option<i32>,
}

impl NsidEntry {
    /// Decode an `RTM_NEWNSID` (or `RTM_DELNSID`) message; `None` without `NETNSA_NSID`.
    pub fn from_message(m: &NsidMessage) -> Option<NsidEntry> {
        let mut nsid = None;
        let mut current_nsid = None;
        for a in &m.attributes {
            match a {
                NsidAttribute::Id(v) => nsid = Some(*v),
                NsidAttribute::CurrentNsid(v) => current_nsid = Some(*v),
                _ => {}
            }
        }
        Some(NsidEntry {
            nsid: nsid?,
            current_nsid,
        })
    }
}

fn message(attributes: Vec<NsidAttribute>) -> NsidMessage {
    let mut m = NsidMessage::default();
    m.attributes = attributes;
    m
}

fn fd_attr(ns: &NetNs) -> NsidAttribute {
    // A descriptor number is never negative, so the cast keeps its value.
    NsidAttribute::Fd(ns.as_raw_fd().unsigned_abs())
}

fn reply_entry(reply: RouteNetlinkMessage, op: &'static str, ns: &str) -> Result<NsidEntry> {
    match reply {
        RouteNetlinkMessage::NewNsId(m) => {
            NsidEntry::from_message(&m).ok_or_else(|| Error::Decode {
                op,
                ns: ns.to_owned(),
                reason: "reply without NETNSA_NSID".into(),
            })
        }
        other => Err(Error::Decode {
            op,
            ns: ns.to_owned(),
            reason: format!("unexpected reply type {}", other.message_type()),
        }),
    }
}

impl Handle {
    /// The nsid that this handle's namespace has assigned to `peer`, if one is assigned
    /// (`RTM_GETNSID` with `NETNSA_FD`; only ids ≥ 0 count, as `ip netns list` prints them).
    pub fn nsid_of(&self, peer: &NetNs) -> Result<Option<i32>> {
        let req = Request::new(
            RouteNetlinkMessage::GetNsId(message(vec![fd_attr(peer)])),
            0,
            "get nsid of",
            peer.label(),
        );
        let entry = reply_entry(self.get(req)?, "get nsid", self.ns().label())?;
        Ok((entry.nsid >= 0).then_some(entry.nsid))
    }

    /// Assign `nsid` to `peer` in this handle's namespace (`RTM_NEWNSID`, as
    /// `ip netns set NAME NSID`); `None` lets the kernel pick (`auto`). The kernel refuses
    /// with EEXIST when the peer already has one.
    pub fn nsid_set(&self, peer: &NetNs, nsid: Option<i32>) -> Result<()> {
        let id = nsid.unwrap_or(NOT_ASSIGNED);
        if id < NOT_ASSIGNED {
            return Err(Error::invalid("nsid", id.to_string(), "must be >= 0"));
        }
        let req = Request::new(
            RouteNetlinkMessage::NewNsId(message(vec![fd_attr(peer), NsidAttribute::Id(id)])),
            0,
            "set nsid of",
            peer.label(),
        );
        self.ack(req)
    }

    /// Every nsid assigned in this handle's namespace (a dump of `RTM_GETNSID`, as
    /// `ip netns list-id`). With `target_nsid`, each entry also carries the peer's id as seen
    /// from that target namespace.
    pub fn nsids(&self, target_nsid: Option<i32>) -> Result<Vec<NsidEntry>> {
        let attrs = target_nsid
            .map(NsidAttribute::TargetNsid)
            .into_iter()
            .collect();
        let req = Request::new(
            RouteNetlinkMessage::GetNsId(message(attrs)),
            0,
            "dump nsids",
            "",
        );
        let replies = match target_nsid {
            None => self.dump(req)?,
            // The kernel reads NETNSA_TARGET_NSID of a dump only on a strict socket: use a
            // strict one, opened inside this handle's namespace, for this dump alone.
            Some(_) => {
                let label = self.ns().label().to_owned();
                let mut sock = self.ns().run(|| RouteSocket::open(label))?;
                sock.set_strict_check(true)?;
                sock.dump(req)?
            }
        };
        let mut out = Vec::new();
        for m in replies {
            if let RouteNetlinkMessage::NewNsId(m) = m
                && let Some(e) = NsidEntry::from_message(&m)
            {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Look up one nsid (`ip netns list-id nsid N`). The kernel answers ENOENT ("Peer netns
    /// reference is invalid.") for an unknown id.
    pub fn nsid_get(&self, nsid: i32) -> Result<NsidEntry> {
        let req = Request::new(
            RouteNetlinkMessage::GetNsId(message(vec![NsidAttribute::Id(nsid)])),
            0,
            "get nsid",
            nsid.to_string(),
        );
        reply_entry(self.get(req)?, "get nsid", self.ns().label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_need_an_nsid() {
        let m = message(vec![NsidAttribute::Id(5), NsidAttribute::CurrentNsid(2)]);
        assert_eq!(
            NsidEntry::from_message(&m),
            Some(NsidEntry {
                nsid: 5,
                current_nsid: Some(2)
            })
        );
        assert_eq!(
            NsidEntry::from_message(&message(vec![NsidAttribute::CurrentNsid(1)])),
            None
        );
    }

    #[test]
    fn set_request_carries_fd_and_id() {
        let m = message(vec![NsidAttribute::Fd(6), NsidAttribute::Id(NOT_ASSIGNED)]);
        let req = Request::new(RouteNetlinkMessage::NewNsId(m), 0, "set nsid of", "x");
        let bytes = req.to_bytes(1);
        // nlmsghdr (16) + rtgenmsg (4) + two 8-byte attributes.
        assert_eq!(bytes.len(), 36);
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 88, "RTM_NEWNSID");
        assert_eq!(&bytes[20..28], &[8, 0, 3, 0, 6, 0, 0, 0], "NETNSA_FD 6");
        assert_eq!(
            &bytes[28..36],
            &[8, 0, 1, 0, 0xff, 0xff, 0xff, 0xff],
            "NETNSA_NSID -1"
        );
    }
}
