//! `--probe`: a real packet — a TCP SYN (a connect with a timeout), a UDP datagram or an ICMP
//! echo — sent from a socket opened inside the source namespace, while a packet socket in
//! every namespace on the traced path watches for that very packet (its ports or echo id),
//! so the hop where it was last seen, and whether it left that hop, are known exactly.
//! Probes only go to addresses that a namespace on the traced path holds.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, LinkAddr, SockFlag, SockProtocol, SockType, recvfrom, socket,
};
use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::{Error, Result};
use crate::walk::{HopIfaces, Proto, Walked};
use crate::world::World;

/// How long a probe waits for an answer.
pub const WAIT: Duration = Duration::from_millis(1000);

/// `PACKET_OUTGOING`: a packet socket saw the packet being sent.
const PACKET_OUTGOING: u8 = 4;

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    /// What was sent.
    pub sent: String,
    /// What came back (`SYN-ACK`, `RST`, `echo reply`, `ICMP ...`, `nothing`).
    pub answer: String,
    /// Whether the destination got it.
    pub reached: bool,
    /// When it was lost: the last hop it was seen coming into (0: it never left the source).
    pub lost_at: Option<usize>,
}

/// What identifies the probe's packet on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sig {
    /// IP protocol number.
    proto: u8,
    /// TCP/UDP source port, or the ICMP echo identifier.
    id: u16,
}

/// Send the probe for a walk from namespace `src_ns`, refusing destinations outside the
/// traced namespaces.
pub fn probe(w: &World, src_ns: usize, walked: &Walked, proto: Proto) -> Result<ProbeResult> {
    let t = &walked.trace;
    let src_label = w.list[src_ns].label.clone();
    let refuse = |reason: &str| Error::Probe {
        ns: src_label.clone(),
        dst: t.dst.to_string(),
        reason: reason.into(),
    };
    if matches!(t.verdict, crate::Verdict::Leaves { .. }) {
        return Err(refuse(
            "the destination is outside the namespaces warren traces; a probe is only sent along a traced path",
        ));
    }
    if w.owners_of(t.dst).is_empty() {
        return Err(refuse("no namespace holds the destination address"));
    }
    let watchers = watch(w, &walked.ifaces)?;
    let (sent, answer, answered, sig) = send(w, src_ns, t.src, t.dst, walked.port, proto)?;
    std::thread::sleep(Duration::from_millis(20));
    let seen: Vec<(usize, u32, bool)> = watchers
        .iter()
        .flat_map(|(ns, fd)| {
            drain(fd, sig)
                .into_iter()
                .map(move |(i, out)| (*ns, i, out))
        })
        .collect();
    let passes: Vec<(bool, bool)> = walked
        .ifaces
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let on = |ifindex: Option<u32>, out: bool| {
                ifindex.is_some_and(|x| seen.contains(&(h.ns, x, out)))
            };
            (i == 0 || on(h.iif, false), on(h.oif, true))
        })
        .collect();
    let last = walked.ifaces.len() - 1;
    let reached_last = matches!(t.verdict, crate::Verdict::Reaches { .. }) && passes[last].0;
    // A UDP datagram to a listener gets no answer: arriving is reaching.
    let reached = answered || (proto == Proto::Udp && reached_last && answer == "nothing");
    // Last seen: the last hop it came into (the source always sent it).
    let lost_at = if reached {
        None
    } else {
        passes.iter().rposition(|p| p.0)
    };
    Ok(ProbeResult {
        sent,
        answer,
        reached,
        lost_at,
    })
}

/// One packet socket (all interfaces, both directions) per namespace on the path, opened
/// inside it, non-blocking.
fn watch(w: &World, hops: &[HopIfaces]) -> Result<Vec<(usize, OwnedFd)>> {
    let mut out: Vec<(usize, OwnedFd)> = Vec::new();
    for h in hops {
        if out.iter().any(|(ns, _)| *ns == h.ns) {
            continue;
        }
        let n = &w.list[h.ns];
        let fd =
            n.h.ns()
                .run(|| {
                    Ok(socket(
                        AddressFamily::Packet,
                        SockType::Datagram,
                        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                        SockProtocol::EthAll,
                    ))
                })
                .map_err(|e| Error::Kernel {
                    context: format!("enter {} to watch for the probe", n.label),
                    source: Box::new(e),
                })?
                .map_err(|e| Error::Probe {
                    ns: n.label.clone(),
                    dst: String::new(),
                    reason: format!("cannot open a packet socket to watch for the probe: {e}"),
                })?;
        out.push((h.ns, fd));
    }
    Ok(out)
}

/// Every (interface, outgoing) where the socket saw the probe's packet.
fn drain(fd: &OwnedFd, sig: Sig) -> Vec<(u32, bool)> {
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    while let Ok((n, Some(addr))) =
        recvfrom::<LinkAddr>(std::os::fd::AsRawFd::as_raw_fd(fd), &mut buf)
    {
        if matches(&buf[..n.min(buf.len())], sig) {
            let ifindex = u32::try_from(addr.ifindex()).unwrap_or(0);
            out.push((ifindex, addr.pkttype() == PACKET_OUTGOING));
        }
    }
    out
}

/// Whether an IP packet is the probe: same protocol and source port (TCP SYN, UDP) or echo
/// request id (ICMP, ICMPv6).
fn matches(pkt: &[u8], sig: Sig) -> bool {
    let Some(first) = pkt.first() else {
        return false;
    };
    let (proto, l4) = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            (pkt.get(9).copied(), pkt.get(ihl..))
        }
        6 => (pkt.get(6).copied(), pkt.get(40..)),
        _ => return false,
    };
    let (Some(proto), Some(l4)) = (proto, l4) else {
        return false;
    };
    if proto != sig.proto || l4.len() < 8 {
        return false;
    }
    match proto {
        6 => {
            u16::from_be_bytes([l4[0], l4[1]]) == sig.id
                && l4.get(13).is_some_and(|f| f & 0x12 == 0x02)
        }
        17 => u16::from_be_bytes([l4[0], l4[1]]) == sig.id,
        1 => l4[0] == 8 && u16::from_be_bytes([l4[4], l4[5]]) == sig.id,
        58 => l4[0] == 128 && u16::from_be_bytes([l4[4], l4[5]]) == sig.id,
        _ => false,
    }
}

fn bind_addr(src: Option<IpAddr>, dst: IpAddr) -> SocketAddr {
    let any = if dst.is_ipv4() {
        IpAddr::from([0u8; 4])
    } else {
        IpAddr::from([0u16; 8])
    };
    SocketAddr::new(src.unwrap_or(any), 0)
}

/// What one send did: (sent, answer, reached, signature).
type Sent = (String, String, bool, Sig);

/// Send one probe from inside namespace `ns`.
fn send(
    w: &World,
    ns: usize,
    src: Option<IpAddr>,
    dst: IpAddr,
    port: Option<u16>,
    proto: Proto,
) -> Result<Sent> {
    let n = &w.list[ns];
    let io = |e: std::io::Error| Error::Probe {
        ns: n.label.clone(),
        dst: dst.to_string(),
        reason: e.to_string(),
    };
    let number = proto.number(dst.is_ipv6());
    let run = |f: &(dyn Fn() -> std::io::Result<(String, bool, u16)> + Sync)| {
        n.h.ns()
            .run(|| Ok(f()))
            .map_err(|e| Error::Kernel {
                context: format!("enter {} to send the probe", n.label),
                source: Box::new(e),
            })?
            .map_err(io)
    };
    let (sent, (answer, ok, id)) = match proto {
        Proto::Tcp | Proto::Udp => {
            let port = port.ok_or_else(|| Error::Probe {
                ns: n.label.clone(),
                dst: dst.to_string(),
                reason: "TCP and UDP probes need a port".into(),
            })?;
            let to = SocketAddr::new(dst, port);
            if proto == Proto::Tcp {
                (format!("TCP SYN to {to}"), run(&|| tcp(src, to))?)
            } else {
                (format!("UDP datagram to {to}"), run(&|| udp(src, to))?)
            }
        }
        Proto::Icmp => (format!("ICMP echo to {dst}"), run(&|| echo(src, dst))?),
    };
    Ok((sent, answer, ok, Sig { proto: number, id }))
}

fn domain(dst: IpAddr) -> Domain {
    if dst.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

fn local_port(s: &Socket) -> u16 {
    s.local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map_or(0, |a| a.port())
}

fn tcp(src: Option<IpAddr>, to: SocketAddr) -> std::io::Result<(String, bool, u16)> {
    let s = Socket::new(domain(to.ip()), Type::STREAM, Some(Protocol::TCP))?;
    s.bind(&bind_addr(src, to.ip()).into())?;
    let id = local_port(&s);
    let (answer, ok) = match s.connect_timeout(&to.into(), WAIT) {
        Ok(()) => ("SYN-ACK (connected)".into(), true),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            ("RST (port closed)".into(), true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => ("nothing".into(), false),
        Err(e) => (format!("error: {e}"), false),
    };
    Ok((answer, ok, id))
}

fn udp(src: Option<IpAddr>, to: SocketAddr) -> std::io::Result<(String, bool, u16)> {
    let s = Socket::new(domain(to.ip()), Type::DGRAM, Some(Protocol::UDP))?;
    s.bind(&bind_addr(src, to.ip()).into())?;
    let id = local_port(&s);
    s.set_read_timeout(Some(WAIT))?;
    if let Err(e) = s
        .connect(&to.into())
        .and_then(|()| s.send(b"warren-trace probe"))
    {
        return Ok((format!("error: {e}"), false, id));
    }
    let mut buf = [0u8; 64];
    let (answer, ok) = match (&s).read(&mut buf) {
        Ok(_) => ("an answer".into(), true),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            ("ICMP port unreachable (from the destination)".into(), true)
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            ("nothing".into(), false)
        }
        Err(e) => (format!("error: {e}"), false),
    };
    Ok((answer, ok, id))
}

/// An echo identifier of its own for every probe, so no conntrack entry of an earlier one
/// (which may carry a NAT binding) applies to it.
fn fresh_ident() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos >> 4) as u16 ^ (std::process::id() as u16)
}

/// One ICMP echo on a raw socket.
fn echo(src: Option<IpAddr>, dst: IpAddr) -> std::io::Result<(String, bool, u16)> {
    let (proto, ty, reply, unreachable) = match dst {
        IpAddr::V4(_) => (Protocol::ICMPV4, 8u8, 0u8, 3u8),
        IpAddr::V6(_) => (Protocol::ICMPV6, 128, 129, 1),
    };
    let s = Socket::new(domain(dst), Type::RAW, Some(proto))?;
    if let Some(a) = src {
        s.bind(&SocketAddr::new(a, 0).into())?;
    }
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let ident = fresh_ident();
    let mut pkt = vec![ty, 0, 0, 0];
    pkt.extend_from_slice(&ident.to_be_bytes());
    pkt.extend_from_slice(&1u16.to_be_bytes());
    pkt.extend_from_slice(b"warren-trace");
    if dst.is_ipv4() {
        let sum = checksum(&pkt);
        pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    if let Err(e) = s.send_to(&pkt, &SockAddr::from(SocketAddr::new(dst, 0))) {
        return Ok((format!("not sent: {e}"), false, ident));
    }
    let deadline = std::time::Instant::now() + WAIT;
    let mut buf = [0u8; 1500];
    while std::time::Instant::now() < deadline {
        let Ok(n) = (&s).read(&mut buf) else { continue };
        let data = &buf[..n];
        // Raw ICMPv4 sockets deliver the IP header too; ICMPv6 ones do not.
        let icmp = if dst.is_ipv4() {
            let ihl = usize::from(data.first().copied().unwrap_or(0x45) & 0x0f) * 4;
            data.get(ihl..).unwrap_or_default()
        } else {
            data
        };
        if icmp.len() >= 8 && icmp[0] == reply && icmp[4..6] == ident.to_be_bytes() {
            return Ok(("echo reply".into(), true, ident));
        }
        if icmp.len() > 8 && icmp[0] == unreachable {
            return Ok((format!("ICMP unreachable (code {})", icmp[1]), false, ident));
        }
    }
    Ok(("nothing".into(), false, ident))
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
        ])));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_recognised_and_nothing_else() {
        let mut v4 = vec![
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 1, 2, 10, 0, 2, 2,
        ];
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[13] = 0x02; // SYN
        v4.extend_from_slice(&tcp);
        let sig = Sig {
            proto: 6,
            id: 40000,
        };
        assert!(matches(&v4, sig));
        assert!(!matches(
            &v4,
            Sig {
                proto: 6,
                id: 40001
            }
        ));
        assert!(!matches(
            &v4,
            Sig {
                proto: 17,
                id: 40000
            }
        ));
        let mut synack = v4.clone();
        synack[20 + 13] = 0x12;
        assert!(
            !matches(&synack, sig),
            "a SYN-ACK is the answer, not the probe"
        );
        let mut echo6 = vec![0x60, 0, 0, 0, 0, 16, 58, 64];
        echo6.extend_from_slice(&[0u8; 32]);
        echo6.extend_from_slice(&[128, 0, 0, 0, 0x12, 0x34, 0, 1]);
        assert!(matches(
            &echo6,
            Sig {
                proto: 58,
                id: 0x1234
            }
        ));
        for junk in [&[][..], &[0x45][..], &[0x60, 0, 0][..], &v4[..21]] {
            assert!(!matches(junk, sig));
        }
    }
}
