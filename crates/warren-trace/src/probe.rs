//! `--probe`: a real packet — a TCP SYN (a connect with a timeout), a UDP datagram or an ICMP
//! echo — sent from a socket opened inside the source namespace, with the packet counters of
//! every interface on the traced path read before and after, so the hop where it vanished
//! is known. Probes only go to addresses that a namespace on the traced path holds.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use warren_kernel::link::port::LinkStats;

use crate::error::{Error, Result};
use crate::walk::{HopIfaces, Proto, Walked};
use crate::world::World;

/// How long a probe waits for an answer.
pub const WAIT: Duration = Duration::from_millis(1000);

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    /// What was sent.
    pub sent: String,
    /// What came back (`SYN-ACK`, `RST`, `echo reply`, `ICMP ...`, `nothing`).
    pub answer: String,
    /// Whether the destination got it.
    pub reached: bool,
    /// The hop where it was last seen and that did not pass it on, when it was lost.
    pub lost_at: Option<usize>,
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
    let before = counters(w, &walked.ifaces);
    let (sent, answer, answered) = send(w, src_ns, t.src, t.dst, walked.port, proto)?;
    std::thread::sleep(Duration::from_millis(50));
    let after = counters(w, &walked.ifaces);
    let seen: Vec<(bool, bool)> = before
        .iter()
        .zip(&after)
        .enumerate()
        .map(|(i, (b, a))| {
            let came = i == 0 || a.0.rx_packets > b.0.rx_packets;
            let left = a.1.tx_packets > b.1.tx_packets;
            (came, left)
        })
        .collect();
    let last = walked.ifaces.len() - 1;
    let reached_last = matches!(t.verdict, crate::Verdict::Reaches { .. })
        && seen.get(last).is_some_and(|s| s.0)
        && (last == 0 || seen.iter().take(last).all(|s| s.1));
    let reached = answered || (proto == Proto::Udp && reached_last && answer == "nothing");
    let lost_at = if reached {
        None
    } else {
        walked
            .ifaces
            .iter()
            .enumerate()
            .find(|(i, h)| seen[*i].0 && (h.oif.is_none() || !seen[*i].1))
            .map(|(i, _)| i)
    };
    Ok(ProbeResult {
        sent,
        answer,
        reached,
        lost_at,
    })
}

/// (iif counters, oif counters) per hop; unreadable ones as zero.
fn counters(w: &World, hops: &[HopIfaces]) -> Vec<(LinkStats, LinkStats)> {
    let read = |ns: usize, i: Option<u32>| {
        i.and_then(|i| w.list[ns].h.link_stats(i).ok())
            .unwrap_or_default()
    };
    hops.iter()
        .map(|h| (read(h.ns, h.iif), read(h.ns, h.oif)))
        .collect()
}

fn bind_addr(src: Option<IpAddr>, dst: IpAddr) -> SocketAddr {
    let any = if dst.is_ipv4() {
        IpAddr::from([0u8; 4])
    } else {
        IpAddr::from([0u16; 8])
    };
    SocketAddr::new(src.unwrap_or(any), 0)
}

/// Send one probe from inside namespace `ns`: (what was sent, what came back, reached).
fn send(
    w: &World,
    ns: usize,
    src: Option<IpAddr>,
    dst: IpAddr,
    port: Option<u16>,
    proto: Proto,
) -> Result<(String, String, bool)> {
    let n = &w.list[ns];
    let domain = if dst.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let io = |e: std::io::Error| Error::Probe {
        ns: n.label.clone(),
        dst: dst.to_string(),
        reason: e.to_string(),
    };
    let run = |f: &(dyn Fn() -> std::io::Result<(String, bool)> + Sync)| {
        n.h.ns()
            .run(|| Ok(f()))
            .map_err(|e| Error::Kernel {
                context: format!("enter {} to send the probe", n.label),
                source: Box::new(e),
            })?
            .map_err(io)
    };
    match proto {
        Proto::Tcp | Proto::Udp => {
            let port = port.ok_or_else(|| Error::Probe {
                ns: n.label.clone(),
                dst: dst.to_string(),
                reason: "TCP and UDP probes need a port".into(),
            })?;
            let to = SocketAddr::new(dst, port);
            if proto == Proto::Tcp {
                let sent = format!("TCP SYN to {to}");
                let (answer, ok) = run(&|| {
                    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
                    s.bind(&bind_addr(src, dst).into())?;
                    Ok(match s.connect_timeout(&to.into(), WAIT) {
                        Ok(()) => ("SYN-ACK (connected)".into(), true),
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            ("RST (port closed)".into(), true)
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                            ("nothing".into(), false)
                        }
                        Err(e) => (format!("error: {e}"), false),
                    })
                })?;
                Ok((sent, answer, ok))
            } else {
                let sent = format!("UDP datagram to {to}");
                let (answer, ok) = run(&|| {
                    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
                    s.bind(&bind_addr(src, dst).into())?;
                    s.connect(&to.into())?;
                    s.set_read_timeout(Some(WAIT))?;
                    s.send(b"warren-trace probe")?;
                    let mut buf = [0u8; 64];
                    Ok(match (&s).read(&mut buf) {
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
                    })
                })?;
                Ok((sent, answer, ok))
            }
        }
        Proto::Icmp => {
            let sent = format!("ICMP echo to {dst}");
            let (answer, ok) = run(&|| echo(src, dst))?;
            Ok((sent, answer, ok))
        }
    }
}

/// One ICMP echo on a raw socket; (answer, reached).
fn echo(src: Option<IpAddr>, dst: IpAddr) -> std::io::Result<(String, bool)> {
    let (domain, proto, ty, reply) = match dst {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8, 0u8),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128, 129),
    };
    let s = Socket::new(domain, Type::RAW, Some(proto))?;
    if let Some(a) = src {
        s.bind(&SocketAddr::new(a, 0).into())?;
    }
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let ident = (std::process::id() as u16) ^ 0x7a11;
    let mut pkt = vec![ty, 0, 0, 0];
    pkt.extend_from_slice(&ident.to_be_bytes());
    pkt.extend_from_slice(&1u16.to_be_bytes());
    pkt.extend_from_slice(b"warren-trace");
    if dst.is_ipv4() {
        let sum = checksum(&pkt);
        pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    s.send_to(&pkt, &SockAddr::from(SocketAddr::new(dst, 0)))?;
    let deadline = std::time::Instant::now() + WAIT;
    let mut buf = [0u8; 1500];
    while std::time::Instant::now() < deadline {
        let Ok(n) = (&s).read(&mut buf) else { continue };
        let data = &buf[..n];
        let icmp = if dst.is_ipv4() {
            let ihl = usize::from(data.first().copied().unwrap_or(0x45) & 0x0f) * 4;
            data.get(ihl..).unwrap_or_default()
        } else {
            data
        };
        if icmp.len() >= 8 && icmp[0] == reply && icmp[4..6] == ident.to_be_bytes() {
            return Ok(("echo reply".into(), true));
        }
        // Destination unreachable quoting our echo.
        let unreachable = if dst.is_ipv4() { 3 } else { 1 };
        if icmp.len() > 8 && icmp[0] == unreachable {
            return Ok((format!("ICMP unreachable (code {})", icmp[1]), false));
        }
    }
    Ok(("nothing".into(), false))
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
