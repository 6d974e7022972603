//! A synchronous rtnetlink socket: requests are batched into one `sendmsg` and their
//! acknowledgements read back together; dumps are collected; kernel refusals keep errno and the
//! extended-ack text.
//!
//! A socket belongs to the network namespace of the thread that created it, for its whole life,
//! whichever thread uses it later.

use std::collections::HashMap;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::errno::Errno;

use crate::error::{Error, NetlinkError, Result};

/// Largest number of bytes put into one `sendmsg`; the rest of a batch goes in further ones.
const SEND_CHUNK: usize = 64 * 1024;
/// Receive buffer: the kernel's dump chunks are at most 32 KiB.
const RECV_BUF: usize = 64 * 1024;
/// `NLMSGERR_ATTR_MSG` in an extended ack.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// One request of a batch: the message, its flags, and how to name it in an error.
#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) msg: RouteNetlinkMessage,
    pub(crate) flags: u16,
    pub(crate) op: &'static str,
    pub(crate) object: String,
    /// Link, qdisc or classifier kind, when this request creates one: used to say "kernel
    /// lacks KIND".
    pub(crate) kind: Option<String>,
}

impl Request {
    /// A request that expects only an acknowledgement. `flags` are added to
    /// `NLM_F_REQUEST | NLM_F_ACK` (e.g. `NLM_F_CREATE | NLM_F_EXCL`).
    pub fn new(
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &'static str,
        object: impl Into<String>,
    ) -> Self {
        Request {
            msg,
            flags,
            op,
            object: object.into(),
            kind: None,
        }
    }

    pub(crate) fn creating_kind(mut self, kind: &str) -> Self {
        self.kind = Some(kind.to_owned());
        self
    }

    /// The message this request sends.
    pub fn message(&self) -> &RouteNetlinkMessage {
        &self.msg
    }

    /// The netlink flags this request is sent with (`NLM_F_REQUEST | NLM_F_ACK` included).
    pub fn flags(&self) -> u16 {
        self.flags | NLM_F_REQUEST | NLM_F_ACK
    }

    /// Serialize to bytes exactly as sent, with the given sequence number and port 0.
    pub fn to_bytes(&self, seq: u32) -> Vec<u8> {
        encode(&self.msg, self.flags(), seq)
    }
}

/// A synchronous `NETLINK_ROUTE` socket bound to one network namespace.
pub struct RouteSocket {
    sock: Socket,
    seq: u32,
    ns: String,
}

thread_local! {
    /// One receive buffer per thread, not per socket: a process holding thousands of handles
    /// (one per namespace) would otherwise pay a buffer for each.
    static RX: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for RouteSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteSocket")
            .field("ns", &self.ns)
            .finish_non_exhaustive()
    }
}

impl RouteSocket {
    /// Open a socket in the calling thread's current network namespace. `ns` is the label used
    /// in errors.
    pub fn open(ns: impl Into<String>) -> Result<Self> {
        let ns = ns.into();
        let io = |source| Error::Socket {
            ns: ns.clone(),
            source,
        };
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(io)?;
        sock.bind_auto().map_err(io)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        // Both are best effort: old kernels lack them, and we cope either way.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_rx_buf_sz(1 << 20);
        Ok(RouteSocket { sock, seq: 0, ns })
    }

    /// Turn strict checking of requests on or off (`NETLINK_GET_STRICT_CHK`, as iproute2 sets
    /// it). The kernel honours some dump filters only under it, e.g. `NETNSA_TARGET_NSID`.
    pub fn set_strict_check(&mut self, on: bool) -> Result<()> {
        self.sock
            .set_netlink_get_strict_chk(on)
            .map_err(|source| Error::Socket {
                ns: self.ns.clone(),
                source,
            })
    }

    /// The index of the interface called `name` in this socket's namespace, by
    /// `SIOCGIFINDEX` on the socket itself (the kernel answers device ioctls of any socket
    /// in the socket's namespace). The lookup runs under RCU: no RTNL, and unlike
    /// `RTM_GETLINK` it does not first run the link's pending link-watch work, which after a
    /// carrier change waits for an expedited RCU grace period. `ENODEV` when there is no
    /// such interface (also for a name that cannot be one: empty or over 15 bytes).
    pub fn index_of(&self, name: &str) -> std::result::Result<u32, Errno> {
        use std::os::fd::AsRawFd;
        let bytes = name.as_bytes();
        // SAFETY: `ifreq` is plain old data (arrays and a union of integers/pointers), for
        // which all-zero bytes are a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        if bytes.is_empty() || bytes.len() >= req.ifr_name.len() || bytes.contains(&0) {
            return Err(Errno::ENODEV);
        }
        for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        // SAFETY: the fd is this socket's, open for as long as `self`; SIOCGIFINDEX reads the
        // NUL-terminated name (zeroed above past `bytes`) from and writes the index into the
        // `ifreq` we own, which lives across the call.
        let rc = unsafe {
            libc::ioctl(
                self.sock.as_raw_fd(),
                libc::SIOCGIFINDEX as _,
                &mut req as *mut libc::ifreq,
            )
        };
        if rc < 0 {
            return Err(Errno::last());
        }
        // SAFETY: after a successful SIOCGIFINDEX the kernel has written `ifru_ifindex`.
        let index = unsafe { req.ifr_ifru.ifru_ifindex };
        u32::try_from(index).map_err(|_| Errno::EINVAL)
    }

    /// The label of this socket's namespace, as used in errors.
    pub fn ns_label(&self) -> &str {
        &self.ns
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    /// Send one request and wait for its acknowledgement.
    pub fn ack(&mut self, req: Request) -> Result<()> {
        self.execute(vec![req]).pop().unwrap_or(Ok(()))
    }

    /// Send all requests (in as few `sendmsg` calls as fit) and then read every
    /// acknowledgement. The kernel handles each message on its own: one failing does not stop
    /// the others. Results are in request order.
    pub fn execute(&mut self, reqs: Vec<Request>) -> Vec<Result<()>> {
        let mut results: Vec<Option<Result<()>>> = (0..reqs.len()).map(|_| None).collect();
        let mut pending: HashMap<u32, usize> = HashMap::with_capacity(reqs.len());
        let mut out = Vec::with_capacity(SEND_CHUNK);
        let mut i = 0;
        while i < reqs.len() {
            out.clear();
            let start = i;
            while i < reqs.len() {
                let seq = self.next_seq();
                let bytes = reqs[i].to_bytes(seq);
                if !out.is_empty() && out.len() + bytes.len() > SEND_CHUNK {
                    self.seq = self.seq.wrapping_sub(1);
                    break;
                }
                out.extend_from_slice(&bytes);
                pending.insert(seq, i);
                i += 1;
            }
            if let Err(e) = self.sock.send(&out, 0) {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                for (j, r) in results.iter_mut().enumerate().take(i).skip(start) {
                    *r = Some(Err(Error::Socket {
                        ns: self.ns.clone(),
                        source: std::io::Error::from_raw_os_error(errno),
                    }));
                    pending.retain(|_, v| *v != j);
                }
                continue;
            }
            // Read acks for this chunk before sending more, so the socket never overflows.
            while !pending.is_empty() {
                if let Err(e) = self.recv_acks(&reqs, &mut pending, &mut results) {
                    for idx in pending.drain().map(|(_, v)| v) {
                        results[idx] = Some(Err(Error::Socket {
                            ns: self.ns.clone(),
                            source: std::io::Error::other(e.to_string()),
                        }));
                    }
                }
            }
        }
        results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
    }

    /// Receive one datagram into this thread's buffer and hand it to `f`.
    fn with_datagram<T>(&self, f: impl FnOnce(&[u8]) -> T) -> std::io::Result<T> {
        RX.with_borrow_mut(|buf| {
            buf.clear();
            buf.reserve(RECV_BUF);
            let n = self.sock.recv(buf, 0)?;
            Ok(f(&buf[..n.min(buf.len())]))
        })
    }

    fn recv_acks(
        &mut self,
        reqs: &[Request],
        pending: &mut HashMap<u32, usize>,
        results: &mut [Option<Result<()>>],
    ) -> std::io::Result<()> {
        let outcomes = self.with_datagram(|data| {
            let mut found = Vec::new();
            for (seq, chunk) in messages(data) {
                if pending.contains_key(&seq)
                    && let Some(outcome) = ack_outcome(chunk)
                {
                    found.push((seq, outcome));
                }
            }
            found
        })?;
        for (seq, outcome) in outcomes {
            if let Some(idx) = pending.remove(&seq) {
                results[idx] = Some(outcome.map_err(|e| self.refusal(&reqs[idx], e)));
            }
        }
        Ok(())
    }

    fn refusal(&self, req: &Request, source: NetlinkError) -> Error {
        if let Some(kind) = &req.kind
            && kind_missing(&source)
        {
            return Error::KernelLacks {
                feature: kind.clone(),
                op: req.op,
                object: req.object.clone(),
                ns: self.ns.clone(),
                source,
            };
        }
        Error::Netlink {
            op: req.op,
            object: req.object.clone(),
            ns: self.ns.clone(),
            source,
        }
    }

    /// Send a request that the kernel answers with one message (e.g. a route lookup, or
    /// `RTM_GETNSID`), and return that message.
    pub fn get(&mut self, req: Request) -> Result<RouteNetlinkMessage> {
        let mut all = self.collect(req, NLM_F_REQUEST)?;
        all.pop().ok_or_else(|| Error::Decode {
            op: "get",
            ns: self.ns.clone(),
            reason: "no reply".into(),
        })
    }

    /// Send a dump request and collect every message of the reply.
    pub fn dump(&mut self, req: Request) -> Result<Vec<RouteNetlinkMessage>> {
        self.collect(req, NLM_F_REQUEST | NLM_F_DUMP)
    }

    fn collect(&mut self, req: Request, flags: u16) -> Result<Vec<RouteNetlinkMessage>> {
        let seq = self.next_seq();
        let bytes = encode(&req.msg, flags | req.flags, seq);
        let sock_err = |ns: &str, source| Error::Socket {
            ns: ns.to_owned(),
            source,
        };
        self.sock
            .send(&bytes, 0)
            .map_err(|e| sock_err(&self.ns, e))?;
        let dumping = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            let pieces = self
                .with_datagram(|data| {
                    messages(data)
                        .filter(|(mseq, _)| *mseq == seq)
                        .map(|(_, chunk)| Piece::of(chunk))
                        .collect::<Vec<_>>()
                })
                .map_err(|e| sock_err(&self.ns, e))?;
            let mut done = false;
            for piece in pieces {
                match piece {
                    Piece::Message(m) => {
                        out.push(m);
                        done |= !dumping;
                    }
                    Piece::Done => done = true,
                    Piece::Refused(e) => return Err(self.refusal(&req, e)),
                    // An attribute the crate cannot parse: skip that message, keep the dump.
                    Piece::Undecodable(_) if dumping => {}
                    Piece::Undecodable(reason) => {
                        return Err(Error::Decode {
                            op: req.op,
                            ns: self.ns.clone(),
                            reason,
                        });
                    }
                }
            }
            if done {
                return Ok(out);
            }
        }
    }
}

/// One message of a reply, decoded.
enum Piece {
    Message(RouteNetlinkMessage),
    Done,
    Refused(NetlinkError),
    Undecodable(String),
}

impl Piece {
    fn of(chunk: &[u8]) -> Piece {
        if let Some(outcome) = ack_outcome(chunk) {
            return match outcome {
                Ok(()) => Piece::Done,
                Err(e) => Piece::Refused(e),
            };
        }
        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(chunk) {
            Ok(msg) => match msg.payload {
                NetlinkPayload::InnerMessage(m) => Piece::Message(m),
                NetlinkPayload::Done(_) => Piece::Done,
                _ => Piece::Undecodable("unexpected netlink payload".into()),
            },
            Err(e) => Piece::Undecodable(e.to_string()),
        }
    }
}

/// Serialize a request with the given flags and sequence number (port 0: the kernel).
fn encode(msg: &RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut hdr = NetlinkHeader::default();
    hdr.flags = flags;
    hdr.sequence_number = seq;
    let mut nl = NetlinkMessage::new(hdr, NetlinkPayload::InnerMessage(msg.clone()));
    nl.finalize();
    let mut buf = vec![0; nl.buffer_len()];
    nl.serialize(&mut buf);
    buf
}

/// Split a datagram into its netlink messages: (sequence number, whole message).
pub(crate) fn messages(data: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    let mut off = 0;
    std::iter::from_fn(move || {
        let hdr = data.get(off..off + 16)?;
        let len = u32::from_ne_bytes(hdr[0..4].try_into().ok()?) as usize;
        let msg = data.get(off..off + len).filter(|_| len >= 16)?;
        let seq = u32::from_ne_bytes(hdr[8..12].try_into().ok()?);
        off += (len + 3) & !3;
        Some((seq, msg))
    })
}

/// If `msg` (one whole netlink message) is an ack or a refusal, its outcome.
pub(crate) fn ack_outcome(msg: &[u8]) -> Option<Result<(), NetlinkError>> {
    const NLMSG_ERROR: u16 = 2;
    let mtype = u16::from_ne_bytes(msg[4..6].try_into().ok()?);
    if mtype != NLMSG_ERROR || msg.len() < 20 {
        return None;
    }
    let flags = u16::from_ne_bytes(msg[6..8].try_into().ok()?);
    let code = i32::from_ne_bytes(msg[16..20].try_into().ok()?);
    if code == 0 {
        return Some(Ok(()));
    }
    let errno = Errno::from_raw(code.saturating_abs());
    let extack = if flags & NLM_F_ACK_TLVS != 0 {
        let orig = &msg[20..];
        let orig_len = if flags & NLM_F_CAPPED != 0 || orig.len() < 4 {
            16
        } else {
            u32::from_ne_bytes(orig[0..4].try_into().ok()?) as usize
        };
        parse_extack(orig.get((orig_len + 3) & !3..).unwrap_or_default())
    } else {
        None
    };
    Some(Err(NetlinkError { errno, extack }))
}

/// Find `NLMSGERR_ATTR_MSG` among the TLVs of an extended ack.
fn parse_extack(mut tlvs: &[u8]) -> Option<String> {
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let ty = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if ty == NLMSGERR_ATTR_MSG {
            let s = &tlvs[4..len];
            let s = s.split(|&b| b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(s).into_owned());
        }
        tlvs = tlvs.get((len + 3) & !3..).unwrap_or_default();
    }
    None
}

/// Whether a refusal of a create means the kernel has no such kind (no module to load). Only
/// the kernel's own words count: EOPNOTSUPP alone also means "this kind cannot do that" (e.g. a
/// master that is not a bridge), and ENOENT alone also means "no such parent", both ordinary
/// refusals.
/// - RTM_NEWLINK: EOPNOTSUPP "Unknown device type".
/// - RTM_NEWQDISC: ENOENT "Specified qdisc kind is unknown".
/// - RTM_NEWTFILTER: ENOENT "TC classifier not found", or "Failed to load TC action module".
fn kind_missing(e: &NetlinkError) -> bool {
    const LACKING: &[(Errno, &str)] = &[
        (Errno::EOPNOTSUPP, "Unknown device type"),
        (Errno::ENOENT, "Specified qdisc kind is unknown"),
        (Errno::ENOENT, "TC classifier not found"),
        (Errno::ENOENT, "Failed to load TC action module"),
    ];
    let text = e.extack.as_deref().unwrap_or_default();
    LACKING
        .iter()
        .any(|(errno, words)| e.errno == *errno && text.contains(words))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_msg(code: i32, flags: u16, tlvs: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        let total = 16 + 4 + 16 + tlvs.len();
        m.extend_from_slice(&(total as u32).to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&code.to_ne_bytes());
        // The echoed (capped) request header.
        m.extend_from_slice(&[16, 0, 0, 0, 16, 0, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(tlvs);
        m
    }

    #[test]
    fn ack_is_ok() {
        assert_eq!(ack_outcome(&error_msg(0, NLM_F_CAPPED, &[])), Some(Ok(())));
    }

    #[test]
    fn refusal_keeps_errno_and_extack() {
        let text = b"Unknown device type\0";
        let mut tlv = Vec::new();
        tlv.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        tlv.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        tlv.extend_from_slice(text);
        while tlv.len() % 4 != 0 {
            tlv.push(0);
        }
        let got = ack_outcome(&error_msg(-95, NLM_F_CAPPED | NLM_F_ACK_TLVS, &tlv));
        let e = got.unwrap().unwrap_err();
        assert_eq!(e.errno, Errno::EOPNOTSUPP);
        assert_eq!(e.extack.as_deref(), Some("Unknown device type"));
        assert!(kind_missing(&e));
        assert_eq!(
            e.to_string(),
            "Unknown device type (Operation not supported on transport endpoint)"
        );
        let plain = NetlinkError {
            errno: Errno::EOPNOTSUPP,
            extack: None,
        };
        assert!(
            !kind_missing(&plain),
            "EOPNOTSUPP without the kernel's words is not a missing kind"
        );
    }

    #[test]
    fn missing_tc_kinds_are_recognised_only_from_the_kernels_words() {
        let e = |errno, text: Option<&str>| NetlinkError {
            errno,
            extack: text.map(str::to_owned),
        };
        assert!(kind_missing(&e(
            Errno::ENOENT,
            Some("Specified qdisc kind is unknown")
        )));
        assert!(kind_missing(&e(
            Errno::ENOENT,
            Some("TC classifier not found")
        )));
        assert!(
            !kind_missing(&e(Errno::ENOENT, None)),
            "ENOENT alone is also a missing parent or link"
        );
        assert!(!kind_missing(&e(
            Errno::EINVAL,
            Some("Specified qdisc kind is unknown")
        )));
    }

    #[test]
    fn non_error_message_is_not_an_ack() {
        let mut m = error_msg(0, 0, &[]);
        m[4] = 16; // RTM_NEWLINK
        assert_eq!(ack_outcome(&m), None);
    }
}
