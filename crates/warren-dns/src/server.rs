//! The server: a UDP and a TCP listener on every configured address, one record set shared by
//! all of them, and reloads on SIGHUP that never drop a query.
//!
//! Reload order: read the new config (a broken one keeps the old), bind the sockets of new
//! addresses (a failure keeps the old config), swap the record set (one pointer under a short
//! lock), start the new listeners, then stop the removed ones. A stopped listener only stops
//! *receiving*: queries it already took (a forward in flight, a TCP connection) finish.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::time::timeout;

use crate::answer::{Outcome, Transport, respond, servfail, truncated};
use crate::config::{Config, write_file_atomic};
use crate::error::{Error, Result};
use crate::forward::{self, Forwarded};
use crate::zone::{Zone, network_key};

/// Forwards in flight at most; past that a query gets SERVFAIL at once (bounds memory).
const MAX_INFLIGHT: usize = 512;
/// Open client TCP connections at most; past that new ones are closed.
const MAX_TCP_CONNECTIONS: usize = 128;
/// A client TCP connection idle this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// The longest query we read over UDP.
const UDP_QUERY_MAX: usize = 4096;
/// How long an exit waits for forwards in flight.
const DRAIN: Duration = Duration::from_millis(2500);

/// Serve the config at `config` until SIGTERM or SIGINT, or until a reload finds no listen
/// addresses; reload it on SIGHUP. Once every socket is bound, write this process's pid to
/// `pid_file` (atomically); remove it on the way out.
///
/// Blocks the calling thread on a current-thread tokio runtime of its own. A config with no
/// listen addresses at start returns at once.
pub fn run(config: &Path, pid_file: Option<&Path>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|source| Error::Start {
            what: "the tokio runtime",
            source,
        })?;
    runtime.block_on(serve(config, pid_file))
}

/// What every query reads: the record set and where to forward, swapped whole on reload.
struct State {
    zone: Zone,
    /// Listen address → its network (as [`network_key`] makes it).
    networks: HashMap<IpAddr, String>,
    upstreams: Vec<SocketAddr>,
    client_upstreams: HashMap<IpAddr, Vec<SocketAddr>>,
}

impl State {
    fn new(config: &Config) -> State {
        State {
            zone: Zone::new(&config.names),
            networks: config
                .listen
                .iter()
                .map(|l| (l.addr.to_canonical(), network_key(&l.network)))
                .collect(),
            upstreams: config.upstreams.clone(),
            client_upstreams: config
                .client_upstreams
                .iter()
                .map(|(ip, ups)| (ip.to_canonical(), ups.clone()))
                .collect(),
        }
    }

    /// The network of a listen address; none (empty) for one being removed by a reload.
    fn network_of(&self, local: IpAddr) -> &str {
        self.networks.get(&local).map_or("", String::as_str)
    }

    fn upstreams_for(&self, client: IpAddr) -> &[SocketAddr] {
        self.client_upstreams
            .get(&client)
            .unwrap_or(&self.upstreams)
    }
}

/// Shared by every task.
struct Shared {
    current: RwLock<Arc<State>>,
    inflight: AtomicUsize,
    connections: AtomicUsize,
}

impl Shared {
    fn state(&self) -> Arc<State> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn swap(&self, state: State) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(state);
    }
}

/// One unit of a counter in [`Shared`], given back when dropped.
struct Counted {
    shared: Arc<Shared>,
    counter: fn(&Shared) -> &AtomicUsize,
}

impl Counted {
    /// Take one unit unless `limit` are taken.
    fn take(
        shared: &Arc<Shared>,
        counter: fn(&Shared) -> &AtomicUsize,
        limit: usize,
    ) -> Option<Counted> {
        let c = counter(shared);
        if c.fetch_add(1, Ordering::Relaxed) >= limit {
            c.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Counted {
            shared: Arc::clone(shared),
            counter,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        (self.counter)(&self.shared).fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running listener (UDP and TCP on one address); dropping it stops both from receiving.
struct Listener {
    _stop: watch::Sender<()>,
}

/// The two sockets of a listen address, bound but not yet served.
struct Bound {
    addr: SocketAddr,
    udp: UdpSocket,
    tcp: TcpListener,
}

async fn serve(config_path: &Path, pid_file: Option<&Path>) -> Result<()> {
    // Handlers first: a SIGHUP sent as soon as the pid file appears must not kill us.
    let signals = |kind, what| signal(kind).map_err(|source| Error::Start { what, source });
    let mut hup = signals(SignalKind::hangup(), "the SIGHUP handler")?;
    let mut term = signals(SignalKind::terminate(), "the SIGTERM handler")?;
    let mut int = signals(SignalKind::interrupt(), "the SIGINT handler")?;

    let config = Config::load(config_path)?;
    if config.listen.is_empty() {
        return Ok(());
    }
    let mut bound = Vec::new();
    for addr in listen_addrs(&config) {
        bound.push(bind(addr)?);
    }
    let shared = Arc::new(Shared {
        current: RwLock::new(Arc::new(State::new(&config))),
        inflight: AtomicUsize::new(0),
        connections: AtomicUsize::new(0),
    });
    let mut listeners: HashMap<SocketAddr, Listener> = bound
        .into_iter()
        .map(|b| (b.addr, start(b, &shared)))
        .collect();
    if let Some(pid_file) = pid_file {
        write_file_atomic(pid_file, format!("{}\n", std::process::id()).as_bytes())?;
    }
    loop {
        tokio::select! {
            _ = hup.recv() => {
                if !reload(config_path, &shared, &mut listeners) {
                    break;
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    listeners.clear();
    let since = Instant::now();
    while shared.inflight.load(Ordering::Relaxed) > 0 && since.elapsed() < DRAIN {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(pid_file) = pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    Ok(())
}

/// Apply the config at `path`. False: it has no listen addresses, so the server should exit.
fn reload(
    path: &Path,
    shared: &Arc<Shared>,
    listeners: &mut HashMap<SocketAddr, Listener>,
) -> bool {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            log(&format!(
                "reload failed, still serving the previous config: {}",
                chain(&e)
            ));
            return true;
        }
    };
    if config.listen.is_empty() {
        log(&format!("{}: no listen addresses, exiting", path.display()));
        return false;
    }
    let wanted = listen_addrs(&config);
    let mut bound = Vec::new();
    for &addr in wanted.iter().filter(|a| !listeners.contains_key(a)) {
        match bind(addr) {
            Ok(b) => bound.push(b),
            Err(e) => {
                log(&format!(
                    "reload failed, still serving the previous config: {}",
                    chain(&e)
                ));
                return true;
            }
        }
    }
    shared.swap(State::new(&config));
    for b in bound {
        listeners.insert(b.addr, start(b, shared));
    }
    listeners.retain(|addr, _| wanted.contains(addr));
    log(&format!(
        "reloaded {}: {} names, {} listen addresses",
        path.display(),
        config.names.len(),
        wanted.len()
    ));
    true
}

/// Every listen address with the config's port, each once.
fn listen_addrs(config: &Config) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for l in &config.listen {
        let a = SocketAddr::new(l.addr, config.port);
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    addrs
}

/// Open the UDP and TCP sockets of one listen address. `IP_FREEBIND`: an address that is not
/// (yet) usable on the host, such as an IPv6 address still in duplicate address detection,
/// can be bound and starts receiving as soon as it is.
fn bind(addr: SocketAddr) -> Result<Bound> {
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

fn start(bound: Bound, shared: &Arc<Shared>) -> Listener {
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
            _ = stop.changed() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(_) => continue,
            },
        };
        let state = shared.state();
        let client = peer.ip().to_canonical();
        let network = state.network_of(local);
        match respond(&buf[..n], &state.zone, network, client, Transport::Udp) {
            Outcome::Reply(reply) => send_udp(&sock, &reply, peer).await,
            Outcome::Drop => {}
            Outcome::Forward(query) => {
                let Some(slot) = Counted::take(&shared, |s| &s.inflight, MAX_INFLIGHT) else {
                    send_udp(&sock, &servfail(&query), peer).await;
                    continue;
                };
                let packet = buf[..n].to_vec();
                let sock = Arc::clone(&sock);
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

/// One line on stderr.
fn log(message: &str) {
    eprintln!("warren-dns: {message}");
}

/// An error and its causes on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
