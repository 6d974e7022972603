//! The server's life: start, the state every listener reads (changed by what a reload read
//! anew, not rebuilt), and reloads on SIGHUP that never drop a query.
//!
//! Reload order: read the new config (a broken one keeps the old), bind the sockets of new
//! addresses (a failure keeps the old config), update the record set (in place under a short
//! lock, or a copy swapped in while a query holds the old), start the new listeners, then stop
//! the removed ones. A stopped listener only stops
//! *receiving*: queries it already took (a forward in flight, a TCP connection) finish.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};

use crate::config::{Config, Loader, write_file_atomic};
use crate::error::{Error, Result};
use crate::listener::{Listener, bind, start};
use crate::watch::{Changes, Watch};
use crate::zone::{Zone, network_key};

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

/// What every query reads: the record set and where to forward. A reload changes it by what
/// changed ([`State::follow`]); a query in flight keeps the state it started with.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub(crate) zone: Zone,
    /// Listen address → its network (as [`network_key`] makes it).
    networks: HashMap<IpAddr, String>,
    upstreams: Vec<SocketAddr>,
    client_upstreams: HashMap<IpAddr, Vec<SocketAddr>>,
}

impl State {
    /// Bring the state up to what `loader` has read: the names that changed since the last
    /// time (only those), then the listen addresses, upstreams and per-client upstreams
    /// (a few, taken whole).
    fn follow(&mut self, loader: &mut Loader) {
        for delta in loader.take_deltas() {
            self.zone.remove(&delta.old);
            self.zone.add(&delta.new);
        }
        let head = loader.head();
        self.networks = head
            .listen
            .iter()
            .map(|l| (l.addr.to_canonical(), network_key(&l.network)))
            .collect();
        self.upstreams.clone_from(&head.upstreams);
        self.client_upstreams = loader
            .client_upstreams()
            .into_iter()
            .map(|(ip, ups)| (ip.to_canonical(), ups))
            .collect();
    }

    /// The network of a listen address; none (empty) for one being removed by a reload.
    pub(crate) fn network_of(&self, local: IpAddr) -> &str {
        self.networks.get(&local).map_or("", String::as_str)
    }

    /// Where to forward `client`'s queries: its own upstreams if the config names any.
    pub(crate) fn upstreams_for(&self, client: IpAddr) -> &[SocketAddr] {
        self.client_upstreams
            .get(&client)
            .unwrap_or(&self.upstreams)
    }
}

/// Shared by every task.
pub(crate) struct Shared {
    current: RwLock<Arc<State>>,
    /// Forwards in flight.
    pub(crate) inflight: AtomicUsize,
    /// Open client TCP connections.
    pub(crate) connections: AtomicUsize,
}

impl Shared {
    /// The current state (a clone of the pointer, taken under the lock for an instant).
    pub(crate) fn state(&self) -> Arc<State> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Make the state follow `loader` ([`State::follow`]). In place when no query holds the
    /// state (the usual case: this runs on the thread that serves queries, between them);
    /// otherwise a copy is changed, outside the lock, and swapped in, the queries in flight
    /// keeping theirs.
    fn follow(&self, loader: &mut Loader) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(state) = Arc::get_mut(&mut current) {
            state.follow(loader);
            return;
        }
        let mut copy = State::clone(&current);
        drop(current);
        copy.follow(loader);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(copy);
    }
}

/// One unit of a counter in [`Shared`], given back when dropped.
pub(crate) struct Counted {
    shared: Arc<Shared>,
    counter: fn(&Shared) -> &AtomicUsize,
}

impl Counted {
    /// Take one unit unless `limit` are taken.
    pub(crate) fn take(
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

async fn serve(config_path: &Path, pid_file: Option<&Path>) -> Result<()> {
    // Handlers first: a SIGHUP sent as soon as the pid file appears must not kill us.
    let signals = |kind, what| signal(kind).map_err(|source| Error::Start { what, source });
    let mut hup = signals(SignalKind::hangup(), "the SIGHUP handler")?;
    let mut term = signals(SignalKind::terminate(), "the SIGTERM handler")?;
    let mut int = signals(SignalKind::interrupt(), "the SIGINT handler")?;

    let mut loader = Loader::new(config_path);
    loader.read_head()?;
    if loader.head().listen.is_empty() {
        return Ok(());
    }
    // Watch the fragments' directory before reading it, so no change falls in between.
    let mut watch = match Watch::new() {
        Ok(w) => Some(w),
        Err(e) => {
            log(&format!(
                "cannot watch for changed names ({e}): they are read again on each SIGHUP"
            ));
            None
        }
    };
    follow(&mut watch, loader.include_dir(), false);
    log_skipped(&loader.rescan()?);
    let mut bound = Vec::new();
    for addr in listen_addrs(loader.head()) {
        bound.push(bind(addr)?);
    }
    let mut state = State::default();
    state.follow(&mut loader);
    let shared = Arc::new(Shared {
        current: RwLock::new(Arc::new(state)),
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
                if !reload(&mut loader, &mut watch, &shared, &mut listeners) {
                    break;
                }
            }
            changes = changed(watch.as_mut()) => {
                match changes {
                    Ok(changes) => {
                        log_skipped(&apply(&mut loader, &mut watch, &changes));
                        shared.follow(&mut loader);
                    }
                    Err(e) => {
                        log(&format!(
                            "the watch for changed names failed ({e}): they are read again on each SIGHUP"
                        ));
                        watch = None;
                    }
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    // Stop receiving; then give the listeners a turn to answer what was queued, and the
    // forwards in flight time to finish.
    listeners.clear();
    let since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if shared.inflight.load(Ordering::Relaxed) == 0 || since.elapsed() >= DRAIN {
            break;
        }
    }
    if let Some(pid_file) = pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    Ok(())
}

/// Watch `dir`; without a watch (or when it cannot be had), fragments are read again on each
/// SIGHUP instead.
fn follow(watch: &mut Option<Watch>, dir: Option<&Path>, again: bool) {
    if let Some(w) = watch
        && let Err(e) = w.follow(dir, again)
    {
        log(&format!(
            "cannot watch {} ({e}): names are read again on each SIGHUP",
            dir.map_or_else(String::new, |d| d.display().to_string())
        ));
        *watch = None;
    }
}

/// Wait for the watch to report changes; forever without one.
async fn changed(watch: Option<&mut Watch>) -> std::io::Result<Changes> {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// Read the fragments `changes` names, or all of them again (watching the `include`
/// directory anew) when the watch lost track, the directory is another, or there is no
/// watch. The fragments left out, with the reason.
fn apply(loader: &mut Loader, watch: &mut Option<Watch>, changes: &Changes) -> Vec<Error> {
    if !changes.rescan {
        return loader.update(&changes.names);
    }
    let dir = loader.include_dir().map(Path::to_owned);
    follow(watch, dir.as_deref(), true);
    loader.rescan().unwrap_or_else(|e| vec![e])
}

/// SIGHUP: read the config file again, and the fragments that changed (all of them when the
/// `include` directory is another, or there is no watch). False: the config has no listen
/// addresses, so the server should exit.
fn reload(
    loader: &mut Loader,
    watch: &mut Option<Watch>,
    shared: &Arc<Shared>,
    listeners: &mut HashMap<SocketAddr, Listener>,
) -> bool {
    let since = Instant::now();
    let path = loader.path().to_owned();
    let head = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            log(&format!(
                "reload failed, still serving the previous config: {}",
                chain(&e)
            ));
            return true;
        }
    };
    if head.listen.is_empty() {
        log(&format!("{}: no listen addresses, exiting", path.display()));
        return false;
    }
    let wanted = listen_addrs(&head);
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
    let moved = loader.set_head(head);
    let changes = match watch {
        Some(w) if !moved => w.take().unwrap_or_else(|_| Changes::rescan()),
        _ => Changes::rescan(),
    };
    log_skipped(&apply(loader, watch, &changes));
    shared.follow(loader);
    for b in bound {
        listeners.insert(b.addr, start(b, shared));
    }
    listeners.retain(|addr, _| wanted.contains(addr));
    log(&format!(
        "reloaded {}: {} names, {} listen addresses, in {} µs",
        path.display(),
        shared.state().zone.len(),
        wanted.len(),
        since.elapsed().as_micros()
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

/// A line for each fragment file left out of a load.
fn log_skipped(skipped: &[Error]) {
    for e in skipped {
        log(&format!("left out: {}", chain(e)));
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
