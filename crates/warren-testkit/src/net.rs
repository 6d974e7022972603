//! Connectivity checks with real sockets opened inside namespaces: TCP, UDP and ICMP echo.
//!
//! A socket belongs to the namespace of the thread that creates it, so each check creates its
//! sockets on a thread inside the right namespace.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use warren_kernel::NetNs;

const TIMEOUT: Duration = Duration::from_secs(3);

/// A TCP listener opened inside `ns` on `addr` (port 0 picks one).
pub fn tcp_listen(ns: &NetNs, addr: SocketAddr) -> TcpListener {
    ns.run(|| Ok(TcpListener::bind(addr).unwrap_or_else(|e| panic!("listen {addr}: {e}"))))
        .expect("enter namespace")
}

/// Connect from `from` to `to` over TCP while `server` accepts, exchange a line both ways, and
/// return the peer address the server saw. Errors are returned, not panicked, so tests can
/// assert unreachability too.
pub fn tcp_exchange(from: &NetNs, server: &NetNs, to: SocketAddr) -> std::io::Result<SocketAddr> {
    tcp_exchange_via(from, server, to.port(), to)
}

/// Like [`tcp_exchange`], with the server listening on `listen_port` (on every address of
/// both families) while the client connects to `to`: for published ports, where the host's
/// port is NATed to the container's.
pub fn tcp_exchange_via(
    from: &NetNs,
    server: &NetNs,
    listen_port: u16,
    to: SocketAddr,
) -> std::io::Result<SocketAddr> {
    let listener = tcp_listen(
        server,
        SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), listen_port),
    );
    listener.set_nonblocking(false)?;
    let acceptor = std::thread::spawn(move || -> std::io::Result<SocketAddr> {
        let (mut s, peer) = listener.accept()?;
        s.set_read_timeout(Some(TIMEOUT))?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf)?;
        s.write_all(b"pong\n")?;
        Ok(peer)
    });
    let client = from
        .run(|| Ok(TcpStream::connect_timeout(&to, TIMEOUT)))
        .expect("enter namespace");
    let mut c = match client {
        Ok(c) => c,
        Err(e) => {
            // Unblock the acceptor by connecting from the server's own namespace.
            let local = SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), listen_port);
            let _ = server.run(|| Ok(TcpStream::connect_timeout(&local, TIMEOUT)));
            let _ = acceptor.join();
            return Err(e);
        }
    };
    c.set_read_timeout(Some(TIMEOUT))?;
    c.write_all(b"ping\n")?;
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf)?;
    assert_eq!(&buf, b"pong\n");
    acceptor.join().expect("acceptor thread").map(canonical)
}

/// An IPv4-mapped IPv6 peer (from a dual-stack listener) as the IPv4 address it is.
fn canonical(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => a,
        },
        IpAddr::V4(_) => a,
    }
}

/// Send a UDP datagram from `from` to `to` (served in `server`) and wait for the echo.
pub fn udp_exchange(from: &NetNs, server: &NetNs, to: SocketAddr) -> std::io::Result<SocketAddr> {
    udp_exchange_via(from, server, to.port(), to)
}

/// Like [`udp_exchange`], with the server on `listen_port` (both families) and the client
/// sending to `to`.
pub fn udp_exchange_via(
    from: &NetNs,
    server: &NetNs,
    listen_port: u16,
    to: SocketAddr,
) -> std::io::Result<SocketAddr> {
    let srv = server
        .run(|| {
            Ok(UdpSocket::bind(SocketAddr::new(
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                listen_port,
            )))
        })
        .expect("enter namespace")?;
    srv.set_read_timeout(Some(TIMEOUT))?;
    let cli = from
        .run(|| Ok(UdpSocket::bind(SocketAddr::new(unspecified(to.ip()), 0))))
        .expect("enter namespace")?;
    cli.set_read_timeout(Some(TIMEOUT))?;
    cli.send_to(b"ping", to)?;
    let mut buf = [0u8; 16];
    let (n, peer) = srv.recv_from(&mut buf)?;
    srv.send_to(&buf[..n], peer)?;
    let (m, _) = cli.recv_from(&mut buf)?;
    assert_eq!(&buf[..m], b"ping");
    Ok(canonical(peer))
}

/// ICMP echo from `from` to `to` with a raw socket; Ok when a matching reply arrives.
pub fn ping(from: &NetNs, to: IpAddr) -> std::io::Result<()> {
    from.run(|| Ok(ping_here(to))).expect("enter namespace")
}

fn ping_here(to: IpAddr) -> std::io::Result<()> {
    let (domain, proto, ty) = match to {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128u8),
    };
    let sock = Socket::new(domain, Type::RAW, Some(proto))?;
    sock.set_read_timeout(Some(Duration::from_millis(300)))?;
    let ident: u16 = (std::process::id() as u16) ^ 0x5a5a;
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut seq: u16 = 0;
    while std::time::Instant::now() < deadline {
        seq = seq.wrapping_add(1);
        let mut pkt = vec![ty, 0, 0, 0];
        pkt.extend_from_slice(&ident.to_be_bytes());
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(b"warren-ping");
        if to.is_ipv4() {
            let sum = checksum(&pkt);
            pkt[2..4].copy_from_slice(&sum.to_be_bytes());
        } // ICMPv6 checksums are filled in by the kernel for raw ICMPv6 sockets.
        sock.send_to(&pkt, &SocketAddr::new(to, 0).into())?;
        let mut buf = [0u8; 1500];
        while let Ok(n) = (&sock).read(&mut buf) {
            let data = &buf[..n];
            // Raw ICMPv4 sockets deliver the IP header too; ICMPv6 ones do not.
            let icmp = if to.is_ipv4() {
                let ihl = usize::from(data.first().copied().unwrap_or(0x45) & 0x0f) * 4;
                data.get(ihl..).unwrap_or_default()
            } else {
                data
            };
            let reply = if to.is_ipv4() { 0 } else { 129 };
            if icmp.len() >= 8 && icmp[0] == reply && icmp[4..6] == ident.to_be_bytes() {
                return Ok(());
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no echo reply from {to}"),
    ))
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum = sum.wrapping_add(u32::from(word));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}
