//! `warren monitor`: link, address, route, neighbour and nsid events from every namespace of
//! the host at once, plus namespaces appearing and going away.
//!
//! One thread polls one multicast rtnetlink socket per namespace (each opened by the scan's
//! worker inside its namespace) and an inotify watch on `/run/netns`. A change there, and
//! every `rescan` interval, triggers a scan of the host: namespaces not watched yet get a
//! socket and a `netns new` event; watched ones the scan no longer finds (our own socket is
//! then the only thing holding them, and the scan does not count our own descriptors) get a
//! `netns del` event and their socket is closed, so the monitor never keeps a deleted
//! namespace alive.

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use warren_kernel::events::{EventSocket, Notification, group};
use warren_kernel::netns::RUN_DIR;
use warren_netns::scan;

use crate::error::{Error, Result};
use crate::event::Event;
use crate::model;

/// When to stop, and how often to look for namespaces.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop after this many events.
    pub count: Option<usize>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// How often to scan the host for namespaces no name announces.
    pub rescan: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            count: None,
            duration: None,
            rescan: Duration::from_secs(1),
        }
    }
}

/// One watched namespace.
struct Watched {
    ino: u64,
    label: String,
    sock: EventSocket,
    names: HashMap<u32, String>,
}

/// What a scan's visitor brings back for a namespace not watched yet.
type Opened = Option<(EventSocket, HashMap<u32, String>)>;

/// Watch every namespace and hand each event to `sink` until the options say stop or `sink`
/// returns false. Events of the namespaces present at the start are not invented: only
/// changes are reported.
pub fn run(opts: &Options, mut sink: impl FnMut(&Event) -> bool) -> Result<()> {
    let start = Instant::now();
    let inotify = watch_run_dir()?;
    let mut watched: Vec<Watched> = Vec::new();
    let mut count = 0usize;
    let mut emit = |e: Event| -> bool {
        count += 1;
        sink(&e) && opts.count.is_none_or(|c| count < c)
    };
    // The first scan announces nothing: those namespaces were there before we started.
    rescan(&mut watched)?;
    let mut last_scan = Instant::now();
    loop {
        let now = Instant::now();
        let mut wait = opts.rescan.saturating_sub(now - last_scan);
        if let Some(d) = opts.duration {
            let left = d.saturating_sub(now - start);
            if left.is_zero() {
                return Ok(());
            }
            wait = wait.min(left);
        }
        let (run_dir_changed, ready) = wait_ready(&inotify, &watched, wait)?;
        let time = SystemTime::now();
        let mut dead = Vec::new();
        for i in ready {
            let w = &mut watched[i];
            match w.sock.drain() {
                Ok(notes) => {
                    for n in notes {
                        let e = Event::from_notification(time, &w.label, w.ino, &n, &w.names);
                        track_names(&mut w.names, &n);
                        if !emit(e) {
                            return Ok(());
                        }
                    }
                }
                Err(_) => dead.push(i),
            }
        }
        for i in dead.into_iter().rev() {
            let w = watched.remove(i);
            if !emit(Event::netns(time, &w.label, w.ino, false)) {
                return Ok(());
            }
        }
        if run_dir_changed || last_scan.elapsed() >= opts.rescan {
            for e in rescan(&mut watched)? {
                if !emit(e) {
                    return Ok(());
                }
            }
            last_scan = Instant::now();
        }
    }
}

/// Keep the index → name map of a namespace current from its link events.
fn track_names(names: &mut HashMap<u32, String>, n: &Notification) {
    match n {
        Notification::NewLink(l) => {
            names.insert(l.index, l.name.clone());
        }
        Notification::DelLink(l) => {
            names.remove(&l.index);
        }
        _ => {}
    }
}

/// An inotify watch on `/run/netns` (created if missing, as `ip netns monitor` does).
fn watch_run_dir() -> Result<Inotify> {
    let watch = |op| move |source| Error::Watch { op, source };
    match nix::unistd::mkdir(RUN_DIR, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(watch("mkdir")(e)),
    }
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(watch("inotify_init"))?;
    ino.add_watch(RUN_DIR, AddWatchFlags::IN_CREATE | AddWatchFlags::IN_DELETE)
        .map_err(watch("inotify_add_watch"))?;
    Ok(ino)
}

/// Poll the inotify watch and every socket for up to `wait`: whether `/run/netns` changed
/// (its events are consumed) and which sockets have something.
fn wait_ready(
    inotify: &Inotify,
    watched: &[Watched],
    wait: Duration,
) -> Result<(bool, Vec<usize>)> {
    let mut fds = Vec::with_capacity(watched.len() + 1);
    fds.push(PollFd::new(inotify.as_fd(), PollFlags::POLLIN));
    fds.extend(
        watched
            .iter()
            .map(|w| PollFd::new(w.sock.as_fd(), PollFlags::POLLIN)),
    );
    let ms = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(source) => return Err(Error::Poll { source }),
    }
    let has = |p: &PollFd| {
        p.revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLERR))
    };
    let changed = has(&fds[0]);
    if changed {
        // Drain it: what changed is found by the rescan.
        while inotify.read_events().is_ok_and(|e| !e.is_empty()) {}
    }
    let ready = fds[1..]
        .iter()
        .enumerate()
        .filter(|(_, p)| has(p))
        .map(|(i, _)| i)
        .collect();
    Ok((changed, ready))
}

/// Scan the host: watch namespaces not watched yet, drop those gone. The events to report.
fn rescan(watched: &mut Vec<Watched>) -> Result<Vec<Event>> {
    let known: HashSet<u64> = watched.iter().map(|w| w.ino).collect();
    let found = scan::visit(|row, h, links| -> Opened {
        if known.contains(&row.ino) {
            return None;
        }
        // This worker thread is inside the namespace: the socket is bound to it.
        let sock = EventSocket::open(h.ns().label(), &group::ALL).ok()?;
        Some((sock, links.into_iter().map(|l| (l.index, l.name)).collect()))
    })
    .map_err(|e| Error::Scan {
        source: Box::new(e),
    })?;
    let time = SystemTime::now();
    let mut events = Vec::new();
    let alive: HashSet<u64> = found.rows.iter().map(|r| r.ino).collect();
    watched.retain(|w| {
        let keep = alive.contains(&w.ino);
        if !keep {
            events.push(Event::netns(time, &w.label, w.ino, false));
        }
        keep
    });
    let scan::Scan { rows, visited, .. } = found;
    for (row, opened) in rows.into_iter().zip(visited) {
        let Some(Some((sock, names))) = opened else {
            continue;
        };
        let label = model::label(&row.names, row.current, row.ino);
        events.push(Event::netns(time, &label, row.ino, true));
        watched.push(Watched {
            ino: row.ino,
            label,
            sock,
            names,
        });
    }
    Ok(events)
}
