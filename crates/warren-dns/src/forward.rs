//! Forwarding a query to the upstream servers, in order, over the transport the client used.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// How long one upstream gets to answer before the next one is tried.
pub(crate) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest UDP answer we relay; a longer one is answered "truncated" so the client retries
/// over TCP.
pub(crate) const UDP_MAX: usize = 4096;

/// What an upstream exchange gave.
#[derive(Debug)]
pub(crate) enum Forwarded {
    /// An answer from an upstream, with the query's ID.
    Answer(Vec<u8>),
    /// An upstream answered over UDP with more than [`UDP_MAX`] bytes.
    TooBig,
    /// No upstream answered (or there are none).
    Failed,
}

/// Send `query` (the client's packet, ID unchanged) to each upstream over UDP until one answers.
pub(crate) async fn udp(query: &[u8], upstreams: &[SocketAddr]) -> Forwarded {
    for &server in upstreams {
        match timeout(UPSTREAM_TIMEOUT, udp_exchange(query, server)).await {
            Ok(Ok(Some(answer))) => return Forwarded::Answer(answer),
            Ok(Ok(None)) => return Forwarded::TooBig,
            // Refused (nothing listens), unreachable, or silent: the next one.
            Ok(Err(_)) | Err(_) => {}
        }
    }
    Forwarded::Failed
}

/// Send `query` to each upstream over TCP (one connection per query) until one answers.
pub(crate) async fn tcp(query: &[u8], upstreams: &[SocketAddr]) -> Forwarded {
    for &server in upstreams {
        if let Ok(Ok(answer)) = timeout(UPSTREAM_TIMEOUT, tcp_exchange(query, server)).await {
            return Forwarded::Answer(answer);
        }
    }
    Forwarded::Failed
}

/// One UDP exchange from a fresh socket (a random source port per query), connected to the
/// server so only its datagrams arrive. Datagrams that are not the answer to this query (wrong
/// ID, not a response) are ignored. `None`: the answer was too big for our buffer.
async fn udp_exchange(query: &[u8], server: SocketAddr) -> std::io::Result<Option<Vec<u8>>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(server).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; UDP_MAX + 1];
    loop {
        let n = sock.recv(&mut buf).await?;
        if is_answer_to(&buf[..n], query) {
            if n > UDP_MAX {
                return Ok(None);
            }
            buf.truncate(n);
            return Ok(Some(buf));
        }
    }
}

/// One TCP exchange: connect, send the length-prefixed query, read one length-prefixed answer.
async fn tcp_exchange(query: &[u8], server: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await?;
    stream.set_nodelay(true)?;
    let len = u16::try_from(query.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut answer).await?;
        if is_answer_to(&answer, query) {
            return Ok(answer);
        }
    }
}

/// Whether `packet` is a response carrying the ID of `query`.
fn is_answer_to(packet: &[u8], query: &[u8]) -> bool {
    packet.len() >= 12 && query.len() >= 2 && packet[..2] == query[..2] && packet[2] & 0x80 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_responses_with_the_id_are_answers() {
        let query = [0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        let mut resp = query;
        resp[2] |= 0x80;
        assert!(is_answer_to(&resp, &query));
        assert!(!is_answer_to(&query, &query), "a query is not an answer");
        let mut other = resp;
        other[1] = 0;
        assert!(!is_answer_to(&other, &query), "another ID");
        assert!(!is_answer_to(&resp[..11], &query), "shorter than a header");
    }
}
