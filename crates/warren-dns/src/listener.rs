//! Listeners: a UDP socket and a TCP listener on one address, each served by a task that
//! answers from the current [`State`] or forwards. Dropping a [`Listener`] stops it from
//! *receiving*; what it already took (a forward in flight, an open TCP connection) finishes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::time::timeout;

use crate::answer::{Outcome, Transport, respond, servfail, truncated};
use crate::error::{Error, Result};
use crate::forward::{self, Forwarded};
use crate::server::{Counted, Shared};

/// Forwards in flight at most; past that a query gets SERVFAIL at once (bounds memory).
const MAX_INFLIGHT: usize = 512;
/// Open client TCP connections at most; past that new ones are closed.
const MAX_TCP_CONNECTIONS: usize = 128;
/// A client TCP connection idle this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// The longest query we read over UDP.
const UDP_QUERY_MAX: usize = 4096;

/// A running listener (UDP and TCP on one address); dropping it stops both from receiving.
pub(crate) struct Listener {
    _stop: watch::Sender<()>,
}

/// The two sockets of a listen address, bound but not yet served.
pub(crate) struct Bound {
    pub(crate) addr: SocketAddr,
    udp: UdpSocket,
    tcp: TcpListener,
}

/// Open the UDP and TCP sockets of one listen address. `IP_FREEBIND`: an address that is not
/// (yet) usable on the host, such as an IPv6 address still in duplicate address detection,
/// can be bound and starts receiving as soon as it is.
pub(crate) fn bind(addr: SocketAddr) -> Result<Bound> {
    let open = |ty: Type, proto: Protocol| -> std::io::Result<Socket> {
        let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
        s.set_nonblocking(true)?;
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
            s.set_freebind_v6(true)?;
        } else {
            s.set_freebind_v4(true)?;
        }
        if ty == Type::STREAM {
            s.set_reuse_address(true)?;
        }
        s.bind(&addr.into())?;
        Ok(s)
    };
    let udp = open(Type::DGRAM, Protocol::UDP)
        .and_then(|s| UdpSocket::from_std(s.into()))
        .map_err(|source| Error::Bind {
            proto: "udp",
            addr,
            source,
        })?;
    let tcp = open(Type::STREAM, Protocol::TCP)
        .and_then(|s| {
            s.listen(1024)?;
            TcpListener::from_std(s.into())
        })
        .map_err(|source| Error::Bind {
            proto: "tcp",
            addr,
            source,
        })?;
    Ok(Bound { addr, udp, tcp })
}

/// Serve `bound` (UDP and TCP) until the returned [`Listener`] is dropped.
pub(crate) fn start(bound: Bound, shared: &Arc<Shared>) -> Listener {
    let (stop, stopped) = watch::channel(());
    let local = bound.addr.ip().to_canonical();
    tokio::spawn(serve_udp(
        Arc::new(bound.udp),
        local,
        Arc::clone(shared),
        stopped.clone(),
    ));
    tokio::spawn(serve_tcp(bound.tcp, local, Arc::clone(shared), stopped));
    Listener { _stop: stop }
}

async fn serve_udp(
    sock: Arc<UdpSocket>,
    local: IpAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<()>,
) {
    let mut buf = vec![0u8; UDP_QUERY_MAX];
    loop {
        let (n, peer) = tokio::select! {
            biased;
            _ = stop.changed() => break,
            r = sock.recv_from(&mut buf) => match r {
                Ok(r) => r,
                // Nothing a UDP receive reports here is about this socket for good.
                Err(_) => continue,
            },
        };
        handle_udp(&sock, &buf[..n], peer, local, &shared).await;
    }
    // Stopped: answer what the kernel had already queued for this socket, then close it.
    while let Ok((n, peer)) = sock.try_recv_from(&mut buf) {
        handle_udp(&sock, &buf[..n], peer, local, &shared).await;
    }
}

/// Answer one UDP query, or start forwarding it (the forward finishes on its own task).
async fn handle_udp(
    sock: &Arc<UdpSocket>,
    packet: &[u8],
    peer: SocketAddr,
    local: IpAddr,
    shared: &Arc<Shared>,
) {
    let state = shared.state();
    let client = peer.ip().to_canonical();
    let network = state.network_of(local);
    match respond(packet, &state.zone, network, client, Transport::Udp) {
        Outcome::Reply(reply) => send_udp(sock, &reply, peer).await,
        Outcome::Drop => {}
        Outcome::Forward(query) => {
            let Some(slot) = Counted::take(shared, |s| &s.inflight, MAX_INFLIGHT) else {
                send_udp(sock, &servfail(&query), peer).await;
                return;
            };
            let packet = packet.to_vec();
            let sock = Arc::clone(sock);
            tokio::spawn(async move {
                let _slot = slot;
                let reply = match forward::udp(&packet, state.upstreams_for(client)).await {
                    Forwarded::Answer(answer) => answer,
                    Forwarded::TooBig => truncated(&query),
                    Forwarded::Failed => servfail(&query),
                };
                send_udp(&sock, &reply, peer).await;
            });
        }
    }
}

async fn send_udp(sock: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if !reply.is_empty() {
        // A client that went away is not our error.
        let _ = sock.send_to(reply, peer).await;
    }
}

async fn serve_tcp(
    listener: TcpListener,
    local: IpAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<()>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = stop.changed() => return,
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(_) => {
                    // Out of file descriptors, typically: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = Counted::take(&shared, |s| &s.connections, MAX_TCP_CONNECTIONS) else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _slot = slot;
            serve_connection(stream, peer.ip().to_canonical(), local, &shared).await;
        });
    }
}

/// Queries on one client TCP connection, one after another, until it closes or idles.
async fn serve_connection(
    mut stream: TcpStream,
    client: IpAddr,
    local: IpAddr,
    shared: &Arc<Shared>,
) {
    let _ = stream.set_nodelay(true);
    loop {
        let mut len = [0u8; 2];
        if !matches!(
            timeout(TCP_IDLE, stream.read_exact(&mut len)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(
            timeout(TCP_IDLE, stream.read_exact(&mut packet)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let state = shared.state();
        let network = state.network_of(local);
        let reply = match respond(&packet, &state.zone, network, client, Transport::Tcp) {
            Outcome::Reply(reply) => reply,
            Outcome::Drop => continue,
            Outcome::Forward(query) => {
                let _slot = Counted::take(shared, |s| &s.inflight, usize::MAX);
                match forward::tcp(&packet, state.upstreams_for(client)).await {
                    Forwarded::Answer(answer) => answer,
                    Forwarded::TooBig | Forwarded::Failed => servfail(&query),
                }
            }
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
