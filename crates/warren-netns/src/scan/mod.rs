//! Discovery of every network namespace on the host, however it is kept alive: named under
//! `/run/netns`, by processes (or one of their threads), by bind mounts anywhere (in this
//! mount namespace and in the others that processes live in, e.g. `/run/docker/netns/*`), or
//! only by open descriptors.
//!
//! One row per namespace (nsfs device and inode). The walk of `/proc` is sequential; opening
//! each namespace to read its nsid and count its links runs on a few threads, each entering
//! the namespaces in turn, so a thousand namespaces take a small fraction of a second.

pub mod hint;
pub mod parse;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use warren_kernel::{Handle, NetNs, NsId};

use crate::error::Result;
use crate::{named, procfs};
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

/// Everything known about one namespace while scanning.
#[derive(Default)]
struct Acc {
    names: Vec<String>,
    mounts: Vec<MountRef>,
    pids: Vec<i32>,
    fds: Vec<FdRef>,
    /// Paths that open it, best first.
    openers: Vec<PathBuf>,
}

/// Scan the host for every network namespace. Namespaces that exist only inside processes we
/// may not inspect are missing; rows that could not be entered have no interface count.
pub fn all() -> Result<Vec<NsRow>> {
    let current = named::id_of(Path::new("/proc/thread-self/ns/net"))?;
    let mut acc: BTreeMap<NsId, Acc> = BTreeMap::new();
    acc.entry(current)
        .or_default()
        .openers
        .push("/proc/thread-self/ns/net".into());
    collect_named(current, &mut acc);
    let own_mnt = procfs::mnt_ns_of(self_pid());
    if let Some(mi) = procfs::mountinfo(None) {
        for m in parse::nsfs_mounts(&mi) {
            let a = acc
                .entry(NsId {
                    dev: m.dev,
                    ino: m.ino,
                })
                .or_default();
            a.openers.push(PathBuf::from(&m.mount_point));
            a.mounts.push(MountRef {
                path: m.mount_point,
                mount_ns_pid: None,
            });
        }
    }
    let foreign = collect_processes(current.dev, own_mnt, &mut acc);
    collect_foreign_mounts(&foreign, &mut acc);
    let mut rows: Vec<(NsRow, Vec<PathBuf>)> = acc
        .into_iter()
        .map(|(id, a)| row(id, id == current, a))
        .collect();
    open_and_count(&mut rows);
    let mut out: Vec<NsRow> = rows.into_iter().map(|(r, _)| r).collect();
    out.sort_by_key(|r| (!r.current, r.names.is_empty(), r.ino));
    Ok(out)
}

fn self_pid() -> i32 {
    i32::try_from(std::process::id()).unwrap_or(i32::MAX)
}

fn collect_named(current: NsId, acc: &mut BTreeMap<NsId, Acc>) {
    for name in named::names().unwrap_or_default() {
        let path = named::path(&name);
        if let Ok(id) = named::id_of(&path)
            && id.dev == current.dev
        {
            let a = acc.entry(id).or_default();
            a.openers.push(path);
            a.names.push(name);
        }
    }
}

/// Walk `/proc`: which namespace each process is in, which descriptors hold namespaces, and
/// one process per mount namespace other than ours.
fn collect_processes(
    nsfs_dev: u64,
    own_mnt: Option<NsId>,
    acc: &mut BTreeMap<NsId, Acc>,
) -> Vec<i32> {
    let me = self_pid();
    let mut seen_mnt: HashSet<NsId> = own_mnt.into_iter().collect();
    let mut foreign = Vec::new();
    for pid in procfs::pids() {
        let main = procfs::net_ns_of(pid);
        if let Some(id) = main {
            acc.entry(id).or_default().pids.push(pid);
        }
        // A thread that entered another namespace (as warren's own workers do) makes its
        // process live there too.
        for (tid, id) in procfs::thread_net_ns(pid) {
            if Some(id) != main {
                let a = acc.entry(id).or_default();
                if !a.pids.contains(&pid) {
                    a.pids.push(pid);
                    a.openers
                        .push(PathBuf::from(format!("/proc/{pid}/task/{tid}/ns/net")));
                }
            }
        }
        if pid == me {
            continue;
        }
        for (path, ino) in procfs::net_fds(pid) {
            let fd = path
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.parse().ok())
                .unwrap_or(-1);
            let a = acc.entry(NsId { dev: nsfs_dev, ino }).or_default();
            a.openers.push(path);
            a.fds.push(FdRef { pid, fd });
        }
        if let Some(mnt) = procfs::mnt_ns_of(pid)
            && seen_mnt.insert(mnt)
        {
            foreign.push(pid);
        }
    }
    foreign
}

fn collect_foreign_mounts(foreign: &[i32], acc: &mut BTreeMap<NsId, Acc>) {
    for &pid in foreign {
        let Some(mi) = procfs::mountinfo(Some(pid)) else {
            continue;
        };
        for m in parse::nsfs_mounts(&mi) {
            let a = acc
                .entry(NsId {
                    dev: m.dev,
                    ino: m.ino,
                })
                .or_default();
            if a.mounts.iter().any(|r| r.path == m.mount_point) {
                continue;
            }
            a.openers
                .push(PathBuf::from(format!("/proc/{pid}/root{}", m.mount_point)));
            a.mounts.push(MountRef {
                path: m.mount_point,
                mount_ns_pid: Some(pid),
            });
        }
    }
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

/// Fill in each row's nsid and interface count, on a few threads.
fn open_and_count(rows: &mut [(NsRow, Vec<PathBuf>)]) {
    let next = AtomicUsize::new(0);
    let results: Vec<(usize, Option<i32>, Option<usize>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS.min(rows.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    let Ok(home) = Handle::current() else {
                        return out;
                    };
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((r, paths)) = rows.get(i) else { break };
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
                        let ifs = count_links(&ns);
                        out.push((i, nsid, ifs));
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
    for (i, nsid, ifs) in results {
        rows[i].0.nsid = nsid;
        rows[i].0.interfaces = ifs;
    }
}

fn open_first(paths: &[PathBuf], want: NsId) -> Option<NetNs> {
    paths
        .iter()
        .find_map(|p| NetNs::open_path(p).ok().filter(|ns| ns.id() == want))
}

/// Count the links of `ns` from the calling (worker) thread, which it enters for good.
fn count_links(ns: &NetNs) -> Option<usize> {
    ns.enter().ok()?;
    Handle::here(ns).ok()?.links().ok().map(|l| l.len())
}
