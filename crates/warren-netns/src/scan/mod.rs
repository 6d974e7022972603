//! Discovery of every network namespace on the host, however it is kept alive: named under
//! `/run/netns`, by processes (or one of their threads), by bind mounts anywhere (in this
//! mount namespace and in the others that processes live in, e.g. `/run/docker/netns/*`), or
//! only by open descriptors.
//!
//! One row per namespace (nsfs device and inode). The walk of `/proc` is sequential; opening
//! each namespace to read its nsid and count its links runs on a few threads, each entering
//! the namespaces in turn, so a thousand namespaces take a small fraction of a second.

pub mod group;
pub mod hint;
pub mod parse;

use std::collections::HashSet;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use warren_kernel::link::Link;
use warren_kernel::sockns::ProcessFds;
use warren_kernel::{Handle, NetNs, NsId};

use crate::error::Result;
use crate::{named, procfs};
use group::{Acc, Facts, ProcFacts};
pub use hint::Hint;

/// Threads that open namespaces to count their links.
const WORKERS: usize = 4;

/// A bind mount of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountRef {
    /// The mount point, as seen in its mount namespace.
    pub path: String,
    /// For a mount in another mount namespace: a process living there (the path is then
    /// reachable as `/proc/PID/root/PATH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_ns_pid: Option<i32>,
}

/// A process's descriptor holding a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FdRef {
    /// The process.
    pub pid: i32,
    /// The descriptor number.
    pub fd: i32,
    /// The descriptor is a socket living in this namespace (not the namespace file itself).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub socket: bool,
}

/// The main (lowest-PID) process of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MainProcess {
    /// Its PID.
    pub pid: i32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// `/proc/PID/cmdline`, arguments joined by spaces.
    pub cmdline: String,
}

/// One network namespace of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NsRow {
    /// The namespace's inode (`net:[INO]`).
    pub ino: u64,
    /// The nsfs device.
    pub dev: u64,
    /// Whether this is the namespace the scan ran in.
    pub current: bool,
    /// Its names under `/run/netns` (bind mounts or symlinks there).
    pub names: Vec<String>,
    /// Every bind mount of it, in this and other mount namespaces.
    pub mounts: Vec<MountRef>,
    /// Its nsid as seen from the current namespace, if assigned.
    pub nsid: Option<i32>,
    /// How many processes live in it.
    pub processes: usize,
    /// The lowest-PID process living in it.
    pub main: Option<MainProcess>,
    /// The container or pod of the main process, from its cgroup.
    pub hint: Option<Hint>,
    /// Descriptors of processes (other than this one) that hold it open.
    pub fds: Vec<FdRef>,
    /// How many interfaces it has; `None` when it could not be entered.
    pub interfaces: Option<usize>,
}

/// Scan the host for every network namespace. Namespaces that exist only inside processes we
/// may not inspect are missing; rows that could not be entered have no interface count.
pub fn all() -> Result<Vec<NsRow>> {
    Ok(visit(|_, _, _| ())?.rows)
}

/// A finished scan: the rows (sorted as [`all`] sorts them), what a visitor returned for each
/// row it could enter, and the means to open a row's namespace again while the scan lives.
pub struct Scan<T> {
    /// One row per namespace.
    pub rows: Vec<NsRow>,
    /// The visitor's result per row (same order); `None` where the namespace could not be
    /// entered.
    pub visited: Vec<Option<T>>,
    openers: Vec<Vec<PathBuf>>,
    /// Namespaces found only through sockets, kept open so their `/proc/self/fd` paths work.
    _held: Vec<NetNs>,
}

impl<T> std::fmt::Debug for Scan<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<T> Scan<T> {
    /// Open row `i`'s namespace again (checked to still be the same namespace).
    pub fn open(&self, i: usize) -> Option<NetNs> {
        let r = self.rows.get(i)?;
        open_first(
            self.openers.get(i)?,
            NsId {
                dev: r.dev,
                ino: r.ino,
            },
        )
    }
}

/// Scan the host as [`all`] does and, for every namespace that can be entered, call `visit`
/// on a worker thread inside it with the row (its `nsid` and `interfaces` not yet filled in),
/// a handle whose socket lives in that namespace, and the namespace's links (one dump, the
/// one that also gives the row its interface count). The workers run in parallel.
pub fn visit<T, F>(visit: F) -> Result<Scan<T>>
where
    T: Send,
    F: Fn(&NsRow, &Handle, Vec<Link>) -> T + Sync,
{
    // `held` keeps namespaces found only through sockets open until they are visited.
    let (facts, held) = read_facts()?;
    let current = facts.current;
    let mut rows: Vec<(NsRow, Vec<PathBuf>)> = group::group(&facts)
        .into_iter()
        .map(|(id, a)| row(id, id == current, a))
        .collect();
    rows.sort_by_key(|(r, _)| (!r.current, r.names.is_empty(), r.ino));
    let visited = open_and_visit(&mut rows, &visit);
    let (rows, openers) = rows.into_iter().unzip();
    Ok(Scan {
        rows,
        visited,
        openers,
        _held: held,
    })
}

/// Read everything the grouping needs from `/run/netns` and `/proc`.
fn read_facts() -> Result<(Facts, Vec<NetNs>)> {
    let current = named::id_of(Path::new("/proc/thread-self/ns/net"))?;
    let self_pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    let named = named::names()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| named::id_of(&named::path(&n)).ok().map(|id| (n, id)))
        .collect();
    let own_mounts = procfs::mountinfo(None)
        .map(|mi| parse::nsfs_mounts(&mi))
        .unwrap_or_default();
    let mut seen_mnt: HashSet<NsId> = procfs::mnt_ns_of(self_pid).into_iter().collect();
    let mut foreign = Vec::new();
    let mut procs = Vec::new();
    let mut held: Vec<NetNs> = Vec::new();
    for pid in procfs::pids() {
        let net_fds = if pid == self_pid {
            Vec::new()
        } else {
            procfs::net_fds(pid)
                .into_iter()
                .filter_map(|(path, ino)| Some((path.file_name()?.to_str()?.parse().ok()?, ino)))
                .collect()
        };
        let net = procfs::net_ns_of(pid);
        let threads = procfs::thread_net_ns(pid);
        let socket_ns = if pid == self_pid {
            Vec::new()
        } else {
            sockets_elsewhere(pid, net, &threads, &mut held)
        };
        procs.push(ProcFacts {
            pid,
            net,
            threads,
            net_fds,
            socket_ns,
        });
        if let Some(mnt) = procfs::mnt_ns_of(pid)
            && seen_mnt.insert(mnt)
            && let Some(mi) = procfs::mountinfo(Some(pid))
        {
            foreign.push((pid, parse::nsfs_mounts(&mi)));
        }
    }
    let held_paths = held
        .iter()
        .map(|ns| {
            (
                ns.id(),
                PathBuf::from(format!("/proc/self/fd/{}", ns.as_raw_fd())),
            )
        })
        .collect();
    let facts = Facts {
        current,
        self_pid,
        named,
        own_mounts,
        procs,
        foreign_mounts: foreign,
        held: held_paths,
    };
    Ok((facts, held))
}

/// The sockets of `pid` that live in a namespace other than the process's (or its threads')
/// own: such a socket alone keeps its namespace alive. Namespaces seen for the first time are
/// kept open in `held` so they can be counted. Best effort: a process we may not inspect
/// (no ptrace access) contributes nothing.
fn sockets_elsewhere(
    pid: i32,
    net: Option<NsId>,
    threads: &[(i32, NsId)],
    held: &mut Vec<NetNs>,
) -> Vec<(i32, NsId)> {
    let fds = procfs::socket_fds(pid);
    if fds.is_empty() {
        return Vec::new();
    }
    let Ok(proc_fds) = ProcessFds::open(pid) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for fd in fds {
        let Ok(ns) = proc_fds.socket_netns(fd) else {
            continue;
        };
        let id = ns.id();
        if Some(id) == net || threads.iter().any(|(_, t)| *t == id) {
            continue;
        }
        if !held.iter().any(|h| h.id() == id) {
            held.push(ns);
        }
        out.push((fd, id));
    }
    out
}

/// The row of one namespace, and the paths that may open it (best first).
fn row(id: NsId, current: bool, mut a: Acc) -> (NsRow, Vec<PathBuf>) {
    a.pids.sort_unstable();
    let main = a.pids.first().map(|&pid| MainProcess {
        pid,
        comm: procfs::comm(pid).unwrap_or_default(),
        cmdline: procfs::cmdline(pid).unwrap_or_default(),
    });
    let hint = main
        .as_ref()
        .and_then(|m| procfs::cgroup(m.pid))
        .and_then(|c| hint::from_cgroup(&c));
    // Processes are the last resort for opening: their namespace may change under us.
    let mut openers = std::mem::take(&mut a.openers);
    openers.extend(
        a.pids
            .iter()
            .take(3)
            .map(|p| PathBuf::from(format!("/proc/{p}/ns/net"))),
    );
    let row = NsRow {
        ino: id.ino,
        dev: id.dev,
        current,
        names: a.names,
        mounts: a.mounts,
        nsid: None,
        processes: a.pids.len(),
        main,
        hint,
        fds: a.fds,
        interfaces: None,
    };
    (row, openers)
}

/// What a worker learnt of row `.0`: its nsid, its interface count, the visitor's result.
type Opened<T> = (usize, Option<i32>, Option<usize>, Option<T>);

/// Fill in each row's nsid and interface count and visit it, on a few threads.
fn open_and_visit<T, F>(rows: &mut [(NsRow, Vec<PathBuf>)], visit: &F) -> Vec<Option<T>>
where
    T: Send,
    F: Fn(&NsRow, &Handle, Vec<Link>) -> T + Sync,
{
    let next = AtomicUsize::new(0);
    let shared: &[(NsRow, Vec<PathBuf>)] = rows;
    let results: Vec<Opened<T>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS.min(shared.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    let Ok(home) = Handle::current() else {
                        return out;
                    };
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((r, paths)) = shared.get(i) else {
                            break;
                        };
                        let Some(ns) = open_first(
                            paths,
                            NsId {
                                dev: r.dev,
                                ino: r.ino,
                            },
                        ) else {
                            continue;
                        };
                        let nsid = home.nsid_of(&ns).ok().flatten();
                        let (count, seen) = match enter_and_list(&ns) {
                            Some((h, links)) => (Some(links.len()), Some(visit(r, &h, links))),
                            None => (None, None),
                        };
                        out.push((i, nsid, count, seen));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut visited: Vec<Option<T>> = std::iter::repeat_with(|| None).take(rows.len()).collect();
    for (i, nsid, ifs, seen) in results {
        rows[i].0.nsid = nsid;
        rows[i].0.interfaces = ifs;
        visited[i] = seen;
    }
    visited
}

fn open_first(paths: &[PathBuf], want: NsId) -> Option<NetNs> {
    paths
        .iter()
        .find_map(|p| NetNs::open_path(p).ok().filter(|ns| ns.id() == want))
}

/// Enter `ns` from the calling (worker) thread, for good, and list its links through a
/// socket opened there.
fn enter_and_list(ns: &NetNs) -> Option<(Handle, Vec<Link>)> {
    ns.enter().ok()?;
    let h = Handle::here(ns).ok()?;
    let links = h.links().ok()?;
    Some((h, links))
}
