//! Sockets of a namespace as `ss -tuwanp` shows them, over `NETLINK_SOCK_DIAG` (inet_diag:
//! TCP, UDP and raw, IPv4 and IPv6, every state), and the processes holding them, found by
//! their inode in `/proc/PID/fd` (a socket's owner may live in any namespace).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netlink_sys::{Socket, SocketAddr as NlAddr, protocols::NETLINK_SOCK_DIAG};
use nix::errno::Errno;
use serde::Serialize;

use crate::addr::Family;
use crate::error::{Error, Result};
use crate::netlink::{ack_outcome, messages};
use crate::netns::NetNs;

/// `SOCK_DIAG_BY_FAMILY`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
/// Size of `struct inet_diag_msg`.
const DIAG_MSG_LEN: usize = 72;

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// Raw IP.
    Raw,
}

impl Proto {
    /// `IPPROTO_*`.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Raw => 255,
        }
    }

    /// The name `ss` prints (`tcp`, `udp`, `raw`).
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Raw => "raw",
        }
    }
}

/// One socket as inet_diag reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InetSocket {
    /// Protocol.
    pub proto: Proto,
    /// `TCP_*` state number (UDP and raw use 7 for unconnected, 1 for connected).
    pub state: u8,
    /// Local address and port.
    pub local: SocketAddr,
    /// Peer address and port (unspecified when unconnected).
    pub peer: SocketAddr,
    /// Interface the socket is bound to (0 if none).
    pub ifindex: u32,
    /// Receive queue (bytes; for a listener, the accept backlog).
    pub rqueue: u32,
    /// Send queue (bytes; for a listener, the backlog limit).
    pub wqueue: u32,
    /// Owner uid.
    pub uid: u32,
    /// Inode of the socket (0 for sockets no file refers to, e.g. TIME-WAIT).
    pub inode: u64,
}

impl InetSocket {
    /// The state as `ss` names it (`LISTEN`, `ESTAB`, `UNCONN`, `TIME-WAIT`, ...).
    pub fn state_name(&self) -> &'static str {
        state_name(self.state)
    }

    /// The address family.
    pub fn family(&self) -> Family {
        Family::of(&self.local.ip())
    }
}

/// `ss`'s name of a `TCP_*` state.
pub fn state_name(s: u8) -> &'static str {
    match s {
        1 => "ESTAB",
        2 => "SYN-SENT",
        3 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "UNCONN",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW-SYN-RECV",
        _ => "UNKNOWN",
    }
}

/// The `inet_diag_req_v2` dump request for one family and protocol, every state.
pub fn request(family: Family, proto: Proto, seq: u32) -> Vec<u8> {
    let af = match family {
        Family::V4 => libc::AF_INET as u8,
        Family::V6 => libc::AF_INET6 as u8,
    };
    let mut body = vec![af, proto.number(), 0, 0];
    body.extend_from_slice(&u32::MAX.to_ne_bytes()); // idiag_states: all
    body.extend_from_slice(&[0u8; 48]); // inet_diag_sockid: match all
    if proto == Proto::Raw {
        // `sdiag_raw_protocol` (in place of the pad byte): IPPROTO_RAW matches every raw
        // socket.
        body[3] = 255;
    }
    let len = (16 + body.len()) as u32;
    let mut m = Vec::with_capacity(len as usize);
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend(body);
    m
}

fn addr(family: u8, b: &[u8], port: u16) -> Option<SocketAddr> {
    let ip = if i32::from(family) == libc::AF_INET {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b.get(..16)?).ok()?))
    };
    Some(SocketAddr::new(ip, port))
}

/// Decode one `inet_diag_msg` (a whole netlink message, header included).
pub fn decode(msg: &[u8], proto: Proto) -> Option<InetSocket> {
    let b = msg.get(16..16 + DIAG_MSG_LEN)?;
    let family = b[0];
    let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let sport = u16::from_be_bytes([b[4], b[5]]);
    let dport = u16::from_be_bytes([b[6], b[7]]);
    Some(InetSocket {
        proto,
        state: b[1],
        local: addr(family, &b[8..24], sport)?,
        peer: addr(family, &b[24..40], dport)?,
        ifindex: u32_at(40),
        rqueue: u32_at(56),
        wqueue: u32_at(60),
        uid: u32_at(64),
        inode: u64::from(u32_at(68)),
    })
}

fn dump(
    sock: &Socket,
    ns: &str,
    family: Family,
    proto: Proto,
    seq: u32,
) -> Result<Vec<InetSocket>> {
    let io = |source| Error::Socket {
        ns: ns.to_owned(),
        source,
    };
    sock.send(&request(family, proto, seq), 0).map_err(io)?;
    let mut out = Vec::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        buf.reserve(64 * 1024);
        let n = sock.recv(&mut buf, 0).map_err(io)?;
        for (s, m) in messages(&buf[..n.min(buf.len())]) {
            if s != seq {
                continue;
            }
            if let Some(outcome) = ack_outcome(m) {
                return match outcome {
                    Ok(()) => Ok(out),
                    Err(source) => Err(Error::Netlink {
                        op: "dump",
                        object: format!("{} {} sockets", proto.name(), family.name()),
                        ns: ns.to_owned(),
                        source,
                    }),
                };
            }
            if u16::from_ne_bytes([m[4], m[5]]) == NLMSG_DONE {
                return Ok(out);
            }
            out.extend(decode(m, proto));
        }
    }
}

/// Every TCP, UDP and raw socket (IPv4 and IPv6, all states) of `ns`. Raw sockets are left
/// out when the kernel has no raw socket diagnostics.
pub fn sockets(ns: &NetNs) -> Result<Vec<InetSocket>> {
    let label = ns.label().to_owned();
    ns.run(move || {
        let io = |source| Error::Socket {
            ns: label.clone(),
            source,
        };
        let mut sock = Socket::new(NETLINK_SOCK_DIAG).map_err(io)?;
        sock.bind_auto().map_err(io)?;
        sock.connect(&NlAddr::new(0, 0)).map_err(io)?;
        let mut out = Vec::new();
        let mut seq = 0;
        for proto in [Proto::Tcp, Proto::Udp, Proto::Raw] {
            for family in [Family::V4, Family::V6] {
                seq += 1;
                match dump(&sock, &label, family, proto, seq) {
                    Ok(v) => out.extend(v),
                    Err(e)
                        if proto == Proto::Raw
                            && matches!(e.errno(), Some(Errno::ENOENT | Errno::EOPNOTSUPP)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    })
}

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// Process id.
    pub pid: i32,
    /// Its command name (`/proc/PID/comm`).
    pub comm: String,
    /// The file descriptor.
    pub fd: i32,
}

/// The inode of a `socket:[N]` fd link.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The processes holding each of `inodes`, by scanning `/proc/*/fd` (processes that exit
/// or deny access meanwhile are skipped).
pub fn owners(inodes: &HashSet<u64>) -> HashMap<u64, Vec<Owner>> {
    let mut out: HashMap<u64, Vec<Owner>> = HashMap::new();
    if inodes.is_empty() {
        return out;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let mut comm = None;
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = link.to_str().and_then(socket_inode) else {
                continue;
            };
            if !inodes.contains(&inode) {
                continue;
            }
            let comm = comm
                .get_or_insert_with(|| {
                    std::fs::read_to_string(p.path().join("comm"))
                        .map(|s| s.trim_end().to_owned())
                        .unwrap_or_default()
                })
                .clone();
            let fd = fd
                .file_name()
                .to_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(-1);
            out.entry(inode).or_default().push(Owner { pid, comm, fd });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag_msg(family: u8, state: u8, src: &[u8], sport: u16, inode: u32) -> Vec<u8> {
        let mut m = vec![0u8; 16];
        let mut b = vec![family, state, 0, 0];
        b.extend_from_slice(&sport.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        let mut s = src.to_vec();
        s.resize(16, 0);
        b.extend(s);
        b.extend([0u8; 16]);
        b.extend(3u32.to_ne_bytes()); // if
        b.extend([0u8; 8]); // cookie
        b.extend([0u8; 4]); // expires
        b.extend(0u32.to_ne_bytes());
        b.extend(128u32.to_ne_bytes());
        b.extend(1000u32.to_ne_bytes());
        b.extend(inode.to_ne_bytes());
        m.extend(b);
        m
    }

    #[test]
    fn decodes_inet_diag_messages() {
        let m = diag_msg(libc::AF_INET as u8, 10, &[127, 0, 0, 1], 8080, 4242);
        let s = decode(&m, Proto::Tcp).unwrap();
        assert_eq!(s.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.peer, "0.0.0.0:0".parse().unwrap());
        assert_eq!(s.state_name(), "LISTEN");
        assert_eq!((s.ifindex, s.wqueue, s.uid, s.inode), (3, 128, 1000, 4242));
        let v6 = diag_msg(
            libc::AF_INET6 as u8,
            1,
            &Ipv6Addr::LOCALHOST.octets(),
            53,
            1,
        );
        let s = decode(&v6, Proto::Udp).unwrap();
        assert_eq!(s.local, "[::1]:53".parse().unwrap());
        assert_eq!(s.state_name(), "ESTAB");
        assert!(decode(&m[..40], Proto::Tcp).is_none());
    }

    #[test]
    fn socket_links_name_their_inode() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        for bad in ["pipe:[1]", "socket:[x]", "socket:[1", "/dev/null"] {
            assert_eq!(socket_inode(bad), None, "{bad}");
        }
    }

    #[test]
    fn request_is_an_inet_diag_req_v2() {
        let r = request(Family::V6, Proto::Udp, 9);
        assert_eq!(r.len(), 16 + 56);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 72);
        assert_eq!(&r[16..20], &[libc::AF_INET6 as u8, 17, 0, 0]);
        assert_eq!(&r[20..24], &[0xff; 4]);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut s = 0x0fed_cba9_8765_4321u64;
        for _ in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let len = (s % 120) as usize;
            let b: Vec<u8> = (0..len).map(|i| (s >> (i % 61)) as u8).collect();
            let _ = decode(&b, Proto::Tcp);
        }
    }
}
