//! Packet capture: an `AF_PACKET` socket (`SOCK_RAW`, every protocol) bound to one interface
//! of a namespace, as tcpdump opens one.
//!
//! The socket is opened from a thread inside the namespace ([`NetNs::run`]) and stays bound to
//! it. It is created with protocol 0 (it receives nothing) and only then bound to the
//! interface with `ETH_P_ALL`, so no packet of another interface slips in between. It asks for
//! nanosecond timestamps (`SO_TIMESTAMPNS`) and `PACKET_AUXDATA` (the original length and a
//! VLAN tag the driver stripped, which is put back as libpcap does), and a large receive
//! buffer. Packets the namespace sends (`PACKET_OUTGOING`) are seen as well as the ones it
//! receives, unless a [`Direction`] says otherwise.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, setsockopt, socket, sockopt};

use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::netns::NetNs;

/// `ETH_P_ALL`: every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// `PACKET_OUTGOING`: a packet this host sent (`sll_pkttype`).
const PACKET_OUTGOING: u8 = 4;
/// `SOL_PACKET` options from `<linux/if_packet.h>`.
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// `tpacket_auxdata.tp_status` bits.
const TP_STATUS_VLAN_VALID: u32 = 0x10;
const TP_STATUS_VLAN_TPID_VALID: u32 = 0x40;
/// The 802.1Q TPID, when the kernel does not say which one.
const ETH_P_8021Q: u16 = 0x8100;

/// Which packets of an interface to capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Received and sent (what tcpdump shows by default).
    #[default]
    Both,
    /// Received only.
    In,
    /// Sent only.
    Out,
}

/// How to open a [`PacketSocket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketOptions {
    /// Keep at most this many bytes of each packet (tcpdump's `-s`); at least 64.
    pub snaplen: u32,
    /// Which packets.
    pub direction: Direction,
    /// Receive buffer size in bytes (`SO_RCVBUFFORCE` when allowed, else `SO_RCVBUF`).
    pub rcvbuf: usize,
}

impl Default for PacketOptions {
    fn default() -> Self {
        PacketOptions {
            snaplen: 262_144,
            direction: Direction::Both,
            rcvbuf: 8 << 20,
        }
    }
}

/// One captured packet; its bytes are in the buffer given to [`PacketSocket::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    /// Seconds since the epoch (kernel receive timestamp).
    pub ts_sec: i64,
    /// Nanoseconds within the second.
    pub ts_nsec: u32,
    /// The packet's length on the wire (at least the captured length).
    pub orig_len: u32,
    /// True when the namespace sent it.
    pub outgoing: bool,
}

/// Counters of a packet socket since the previous read (`PACKET_STATISTICS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketStats {
    /// Packets the socket received.
    pub packets: u32,
    /// Packets dropped because the receive buffer was full.
    pub drops: u32,
}

/// An `AF_PACKET` socket bound to one interface of one namespace. Non-blocking.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ns: String,
    ifname: String,
    ifindex: u32,
    options: PacketOptions,
}

impl PacketSocket {
    /// Open a capture socket on interface `ifname` (a name or altname) of namespace `ns`.
    /// Fails with [`Error::NotFound`] naming the interface and the namespace when it is not
    /// there.
    pub fn open(ns: &NetNs, ifname: &str, options: PacketOptions) -> Result<PacketSocket> {
        if options.snaplen < 64 {
            return Err(Error::invalid(
                "snaplen",
                options.snaplen.to_string(),
                "must be at least 64 bytes",
            ));
        }
        ns.run(|| {
            let ifindex = Handle::here(ns)?.link_index(ifname)?;
            let sys = |op, source| Error::Sys {
                op,
                ns: ns.label().to_owned(),
                source,
            };
            // Protocol 0: nothing arrives before the bind below names the interface.
            let fd = socket(
                AddressFamily::Packet,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                None,
            )
            .map_err(|e| sys("socket(AF_PACKET)", e))?;
            let rcvbuf = options.rcvbuf;
            if setsockopt(&fd, sockopt::RcvBufForce, &rcvbuf).is_err() {
                setsockopt(&fd, sockopt::RcvBuf, &rcvbuf)
                    .map_err(|e| sys("setsockopt(SO_RCVBUF)", e))?;
            }
            setsockopt(&fd, sockopt::ReceiveTimestampns, &true)
                .map_err(|e| sys("setsockopt(SO_TIMESTAMPNS)", e))?;
            set_int(&fd, PACKET_AUXDATA, 1).map_err(|e| sys("setsockopt(PACKET_AUXDATA)", e))?;
            if options.direction == Direction::In {
                // Kernels before 4.20 lack it; recv filters outgoing packets anyway.
                let _ = set_int(&fd, PACKET_IGNORE_OUTGOING, 1);
            }
            bind_all(&fd, ifindex).map_err(|e| sys("bind(AF_PACKET)", e))?;
            Ok(PacketSocket {
                fd,
                ns: ns.label().to_owned(),
                ifname: ifname.to_owned(),
                ifindex,
                options,
            })
        })
    }

    /// The interface's name as given to [`PacketSocket::open`].
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The interface's index in its namespace.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The namespace's label.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// The snap length the socket was opened with.
    pub fn snaplen(&self) -> u32 {
        self.options.snaplen
    }

    /// Receive the next packet of the wanted direction into `buf` (resized to the captured
    /// length), or `None` when none is waiting (also while the interface is down).
    pub fn recv(&self, buf: &mut Vec<u8>) -> Result<Option<PacketMeta>> {
        loop {
            buf.resize(self.options.snaplen as usize, 0);
            let Some(raw) = self.recv_raw(buf)? else {
                return Ok(None);
            };
            let keep = match self.options.direction {
                Direction::Both => true,
                Direction::In => !raw.outgoing,
                Direction::Out => raw.outgoing,
            };
            if !keep {
                continue;
            }
            let caplen = (raw.len as usize).min(buf.len());
            buf.truncate(caplen);
            let mut orig_len = raw.aux.map_or(raw.len, |a| a.len.max(raw.len));
            if let Some(tag) = raw.aux.and_then(|a| a.vlan) {
                insert_vlan_tag(buf, tag, self.options.snaplen as usize);
                orig_len += 4;
            }
            let (ts_sec, ts_nsec) = raw.ts.unwrap_or_else(now);
            return Ok(Some(PacketMeta {
                ts_sec,
                ts_nsec,
                orig_len,
                outgoing: raw.outgoing,
            }));
        }
    }

    fn recv_raw(&self, buf: &mut [u8]) -> Result<Option<RawPacket>> {
        let mut addr = sockaddr_ll_zeroed();
        let mut control = [0u64; 32];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is a valid value (null pointers, zero lengths); every
        // pointer set below points into locals that outlive the recvmsg call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&raw mut addr).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: `msg` describes writable buffers of the stated sizes (`buf`, `addr`,
        // `control`), all alive for the call; MSG_TRUNC makes the kernel return the packet's
        // full length without writing past `buf`.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &raw mut msg, libc::MSG_TRUNC) };
        if n < 0 {
            return match Errno::last() {
                // ENETDOWN: the interface was down at bind or went down since; the error is
                // reported once, and the socket receives again when the link comes back
                // (a lab's link fault must not end a capture).
                Errno::EAGAIN | Errno::EINTR | Errno::ENETDOWN => Ok(None),
                e => Err(Error::Sys {
                    op: "recvmsg(AF_PACKET)",
                    ns: self.ns.clone(),
                    source: e,
                }),
            };
        }
        let clen = msg.msg_controllen.min(std::mem::size_of_val(&control));
        let control_bytes: Vec<u8> = control.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let cmsgs = parse_cmsgs(&control_bytes[..clen]);
        Ok(Some(RawPacket {
            len: u32::try_from(n).unwrap_or(u32::MAX),
            outgoing: addr.sll_pkttype == PACKET_OUTGOING,
            ts: cmsgs.ts,
            aux: cmsgs.aux,
        }))
    }

    /// Counters since the previous call (the kernel resets them on read).
    pub fn stats(&self) -> Result<PacketStats> {
        let mut st = [0u32; 2];
        let mut len = std::mem::size_of_val(&st) as libc::socklen_t;
        // SAFETY: PACKET_STATISTICS writes a `struct tpacket_stats` (two u32) into `st`,
        // whose size is passed in `len`; both outlive the call.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                st.as_mut_ptr().cast(),
                &raw mut len,
            )
        };
        if r < 0 {
            return Err(Error::Sys {
                op: "getsockopt(PACKET_STATISTICS)",
                ns: self.ns.clone(),
                source: Errno::last(),
            });
        }
        Ok(PacketStats {
            packets: st[0],
            drops: st[1],
        })
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Wait until at least one of `fds` is readable, at most `timeout` (`None`: forever).
/// Returns which ones are (all false after a timeout or an interrupting signal).
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> Result<Vec<bool>> {
    let mut pfds: Vec<PollFd> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    let t = match timeout {
        None => PollTimeout::NONE,
        Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
    };
    match poll(&mut pfds, t) {
        Ok(_) => {}
        Err(Errno::EINTR) => return Ok(vec![false; fds.len()]),
        Err(e) => {
            return Err(Error::Sys {
                op: "poll",
                ns: "current".into(),
                source: e,
            });
        }
    }
    Ok(pfds
        .iter()
        .map(|p| {
            p.revents().is_some_and(|r| {
                r.intersects(PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP)
            })
        })
        .collect())
}

struct RawPacket {
    len: u32,
    outgoing: bool,
    ts: Option<(i64, u32)>,
    aux: Option<AuxData>,
}

/// What `PACKET_AUXDATA` says about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AuxData {
    /// Original length.
    len: u32,
    /// A VLAN tag the driver stripped: (TPID, TCI).
    vlan: Option<(u16, u16)>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Cmsgs {
    ts: Option<(i64, u32)>,
    aux: Option<AuxData>,
}

/// Walk a control buffer as `CMSG_FIRSTHDR`/`CMSG_NXTHDR` do, in safe code: each header is
/// `cmsg_len` (size_t), level and type (int), then data at `CMSG_ALIGN(sizeof(cmsghdr))`.
fn parse_cmsgs(buf: &[u8]) -> Cmsgs {
    const W: usize = std::mem::size_of::<usize>();
    let hdr = align(std::mem::size_of::<libc::cmsghdr>());
    let mut out = Cmsgs::default();
    let mut off = 0;
    while off + hdr <= buf.len() {
        let len = usize::from_ne_bytes(buf[off..off + W].try_into().unwrap_or([0; W]));
        let level = i32_at(buf, off + W);
        let kind = i32_at(buf, off + W + 4);
        if len < hdr || off + len > buf.len() {
            break;
        }
        let data = &buf[off + hdr..off + len];
        if level == libc::SOL_SOCKET && kind == libc::SCM_TIMESTAMPNS && data.len() >= 16 {
            let sec = i64::from_ne_bytes(data[0..8].try_into().unwrap_or([0; 8]));
            let nsec = i64::from_ne_bytes(data[8..16].try_into().unwrap_or([0; 8]));
            out.ts = Some((sec, u32::try_from(nsec).unwrap_or(0)));
        } else if level == libc::SOL_PACKET && kind == PACKET_AUXDATA && data.len() >= 20 {
            let u32_at = |i: usize| u32::from_ne_bytes(data[i..i + 4].try_into().unwrap_or([0; 4]));
            let u16_at = |i: usize| u16::from_ne_bytes(data[i..i + 2].try_into().unwrap_or([0; 2]));
            let status = u32_at(0);
            let tci = u16_at(16);
            let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 {
                u16_at(18)
            } else {
                ETH_P_8021Q
            };
            let vlan = (status & TP_STATUS_VLAN_VALID != 0 || tci != 0).then_some((tpid, tci));
            out.aux = Some(AuxData {
                len: u32_at(4),
                vlan,
            });
        }
        off += align(len);
    }
    out
}

fn i32_at(buf: &[u8], i: usize) -> i32 {
    i32::from_ne_bytes(buf[i..i + 4].try_into().unwrap_or([0; 4]))
}

fn align(n: usize) -> usize {
    let a = std::mem::size_of::<usize>();
    n.div_ceil(a) * a
}

/// Put a stripped 802.1Q tag back after the MAC addresses, keeping at most `snaplen` bytes.
fn insert_vlan_tag(buf: &mut Vec<u8>, (tpid, tci): (u16, u16), snaplen: usize) {
    if buf.len() < 12 {
        return;
    }
    let mut tag = [0u8; 4];
    tag[..2].copy_from_slice(&tpid.to_be_bytes());
    tag[2..].copy_from_slice(&tci.to_be_bytes());
    buf.splice(12..12, tag);
    buf.truncate(snaplen);
}

fn set_int(fd: &OwnedFd, opt: libc::c_int, value: libc::c_int) -> std::result::Result<(), Errno> {
    // SAFETY: the option value is one int, passed by pointer with its size; it outlives the
    // call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

fn sockaddr_ll_zeroed() -> libc::sockaddr_ll {
    libc::sockaddr_ll {
        sll_family: 0,
        sll_protocol: 0,
        sll_ifindex: 0,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    }
}

fn bind_all(fd: &OwnedFd, ifindex: u32) -> std::result::Result<(), Errno> {
    let mut addr = sockaddr_ll_zeroed();
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ALL.to_be();
    addr.sll_ifindex = i32::try_from(ifindex).map_err(|_| Errno::ENODEV)?;
    // SAFETY: `addr` is a complete sockaddr_ll, passed with its size; it outlives the call.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        d.subsec_nanos(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let hdr = align(std::mem::size_of::<libc::cmsghdr>());
        let len = hdr + data.len();
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.resize(hdr, 0);
        v.extend_from_slice(data);
        v.resize(align(len), 0);
        v
    }

    #[test]
    fn control_messages_give_timestamp_and_auxdata() {
        let mut ts = Vec::new();
        ts.extend_from_slice(&1_700_000_000i64.to_ne_bytes());
        ts.extend_from_slice(&123_456_789i64.to_ne_bytes());
        let mut aux = Vec::new();
        aux.extend_from_slice(&(TP_STATUS_VLAN_VALID).to_ne_bytes()); // status
        aux.extend_from_slice(&1500u32.to_ne_bytes()); // len
        aux.extend_from_slice(&96u32.to_ne_bytes()); // snaplen
        aux.extend_from_slice(&0u16.to_ne_bytes()); // mac
        aux.extend_from_slice(&14u16.to_ne_bytes()); // net
        aux.extend_from_slice(&42u16.to_ne_bytes()); // tci
        aux.extend_from_slice(&0u16.to_ne_bytes()); // tpid
        let mut buf = cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &ts);
        buf.extend(cmsg(libc::SOL_PACKET, PACKET_AUXDATA, &aux));
        let c = parse_cmsgs(&buf);
        assert_eq!(c.ts, Some((1_700_000_000, 123_456_789)));
        assert_eq!(
            c.aux,
            Some(AuxData {
                len: 1500,
                vlan: Some((ETH_P_8021Q, 42))
            })
        );
        // Empty, truncated, or garbage buffers give nothing and never panic.
        assert_eq!(parse_cmsgs(&[]), Cmsgs::default());
        assert_eq!(parse_cmsgs(&buf[..10]), Cmsgs::default());
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for n in 0..2000 {
            let len = n % 97;
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed & 0xff) as u8
                })
                .collect();
            let _ = parse_cmsgs(&junk);
        }
    }

    #[test]
    fn vlan_tag_goes_back_after_the_macs() {
        let mut frame: Vec<u8> = (0u8..20).collect();
        insert_vlan_tag(&mut frame, (0x8100, 0x0064), 100);
        assert_eq!(&frame[12..16], &[0x81, 0x00, 0x00, 0x64]);
        assert_eq!(frame[16], 12);
        assert_eq!(frame.len(), 24);
        let mut short = vec![1u8; 5];
        insert_vlan_tag(&mut short, (0x8100, 1), 100);
        assert_eq!(short.len(), 5);
        let mut clipped: Vec<u8> = vec![0; 64];
        insert_vlan_tag(&mut clipped, (0x8100, 1), 64);
        assert_eq!(clipped.len(), 64);
    }
}
