//! Pure: from the facts read off `/run/netns` and `/proc` to one entry per namespace, with
//! what holds it and the paths that may open it. Tested without the kernel.

use std::collections::BTreeMap;
use std::path::PathBuf;

use warren_kernel::NsId;

use super::parse::NsfsMount;
use super::{FdRef, MountRef};

/// What `/proc` says about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcFacts {
    /// The process.
    pub pid: i32,
    /// Its (main thread's) network namespace, if we may see it.
    pub net: Option<NsId>,
    /// Each thread's network namespace, by thread ID (empty when single-threaded).
    pub threads: Vec<(i32, NsId)>,
    /// Its descriptors that are network namespaces: (fd, namespace inode).
    pub net_fds: Vec<(i32, u64)>,
    /// Its sockets that live in a namespace other than the process's own: (fd, namespace).
    pub socket_ns: Vec<(i32, NsId)>,
}

/// Everything the scan read, before grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The scanner's own namespace.
    pub current: NsId,
    /// The scanner's PID (its own descriptors are not holders).
    pub self_pid: i32,
    /// `/run/netns` entries and the namespace each is (followed through symlinks).
    pub named: Vec<(String, NsId)>,
    /// Namespace mounts in the scanner's mount namespace.
    pub own_mounts: Vec<NsfsMount>,
    /// Every process.
    pub procs: Vec<ProcFacts>,
    /// Namespace mounts of other mount namespaces, with a process living in each.
    pub foreign_mounts: Vec<(i32, Vec<NsfsMount>)>,
    /// Paths that open namespaces the scanner itself holds open (found through sockets).
    pub held: Vec<(NsId, PathBuf)>,
}

/// Everything known about one namespace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Acc {
    /// Names under `/run/netns`.
    pub names: Vec<String>,
    /// Bind mounts, here and in other mount namespaces.
    pub mounts: Vec<MountRef>,
    /// Processes living in it (or with a thread in it), unsorted.
    pub pids: Vec<i32>,
    /// Descriptors holding it.
    pub fds: Vec<FdRef>,
    /// Paths that open it, best first.
    pub openers: Vec<PathBuf>,
}

/// Group the facts by namespace. Only entries on the nsfs device count as namespaces.
pub fn group(f: &Facts) -> BTreeMap<NsId, Acc> {
    let nsfs = f.current.dev;
    let mut acc: BTreeMap<NsId, Acc> = BTreeMap::new();
    acc.entry(f.current)
        .or_default()
        .openers
        .push("/proc/thread-self/ns/net".into());
    for (name, id) in f.named.iter().filter(|(_, id)| id.dev == nsfs) {
        let a = acc.entry(*id).or_default();
        a.openers.push(PathBuf::from("/run/netns").join(name));
        a.names.push(name.clone());
    }
    for m in &f.own_mounts {
        let a = acc
            .entry(NsId {
                dev: m.dev,
                ino: m.ino,
            })
            .or_default();
        a.openers.push(PathBuf::from(&m.mount_point));
        a.mounts.push(MountRef {
            path: m.mount_point.clone(),
            mount_ns_pid: None,
        });
    }
    for p in &f.procs {
        if let Some(id) = p.net {
            acc.entry(id).or_default().pids.push(p.pid);
        }
        // A thread that entered another namespace (as warren's own workers do) makes its
        // process live there too.
        for (tid, id) in &p.threads {
            let a = acc.entry(*id).or_default();
            if !a.pids.contains(&p.pid) {
                a.pids.push(p.pid);
                a.openers
                    .push(PathBuf::from(format!("/proc/{}/task/{tid}/ns/net", p.pid)));
            }
        }
        if p.pid == f.self_pid {
            continue;
        }
        for &(fd, ino) in &p.net_fds {
            let a = acc.entry(NsId { dev: nsfs, ino }).or_default();
            a.openers
                .push(PathBuf::from(format!("/proc/{}/fd/{fd}", p.pid)));
            a.fds.push(FdRef {
                pid: p.pid,
                fd,
                socket: false,
            });
        }
        for &(fd, id) in &p.socket_ns {
            acc.entry(id).or_default().fds.push(FdRef {
                pid: p.pid,
                fd,
                socket: true,
            });
        }
    }
    for (id, path) in &f.held {
        if let Some(a) = acc.get_mut(id) {
            a.openers.push(path.clone());
        }
    }
    for (pid, mounts) in &f.foreign_mounts {
        for m in mounts {
            let a = acc
                .entry(NsId {
                    dev: m.dev,
                    ino: m.ino,
                })
                .or_default();
            // The same path in several mount namespaces is one mount propagated: list it once.
            if a.mounts.iter().any(|r| r.path == m.mount_point) {
                continue;
            }
            a.openers
                .push(PathBuf::from(format!("/proc/{pid}/root{}", m.mount_point)));
            a.mounts.push(MountRef {
                path: m.mount_point.clone(),
                mount_ns_pid: Some(*pid),
            });
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: u64 = 4;

    fn id(ino: u64) -> NsId {
        NsId { dev: DEV, ino }
    }

    fn mount(ino: u64, path: &str) -> NsfsMount {
        NsfsMount {
            dev: DEV,
            ino,
            mount_point: path.into(),
            optional: vec![],
        }
    }

    fn proc_in(pid: i32, ino: u64) -> ProcFacts {
        ProcFacts {
            pid,
            net: Some(id(ino)),
            threads: vec![],
            net_fds: vec![],
            socket_ns: vec![],
        }
    }

    #[test]
    fn every_kind_of_holder_lands_on_its_namespace() {
        let facts = Facts {
            current: id(1),
            self_pid: 100,
            named: vec![
                ("red".into(), id(2)),
                ("alias".into(), id(2)),
                ("ghost".into(), NsId { dev: 99, ino: 7 }),
            ],
            own_mounts: vec![mount(2, "/run/netns/red"), mount(3, "/run/docker/netns/x")],
            procs: vec![
                proc_in(1, 1),
                proc_in(100, 1),
                ProcFacts {
                    pid: 10,
                    net: Some(id(4)),
                    threads: vec![(11, id(5))],
                    net_fds: vec![],
                    socket_ns: vec![],
                },
                ProcFacts {
                    pid: 20,
                    net: Some(id(1)),
                    threads: vec![],
                    net_fds: vec![(5, 6), (7, 6)],
                    // A socket held open in namespace 10, which nothing else holds.
                    socket_ns: vec![(9, id(10))],
                },
                // The scanner's own descriptors do not count.
                ProcFacts {
                    pid: 100,
                    net: None,
                    threads: vec![],
                    net_fds: vec![(3, 8)],
                    socket_ns: vec![],
                },
            ],
            foreign_mounts: vec![(
                30,
                vec![mount(2, "/run/netns/red"), mount(9, "/run/hidden/y")],
            )],
            held: vec![(id(10), PathBuf::from("/proc/self/fd/42"))],
        };
        let g = group(&facts);
        assert_eq!(
            g.keys().map(|k| k.ino).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 9, 10],
            "ghost is no namespace"
        );
        assert_eq!(
            g[&id(10)].fds,
            [FdRef {
                pid: 20,
                fd: 9,
                socket: true
            }]
        );
        assert_eq!(g[&id(10)].openers, [PathBuf::from("/proc/self/fd/42")]);
        assert_eq!(g[&id(1)].pids, [1, 100, 20]);
        assert_eq!(g[&id(2)].names, ["red", "alias"]);
        assert_eq!(
            g[&id(2)].mounts,
            [MountRef {
                path: "/run/netns/red".into(),
                mount_ns_pid: None
            }]
        );
        assert_eq!(g[&id(2)].openers[0], PathBuf::from("/run/netns/red"));
        assert_eq!(g[&id(3)].mounts[0].path, "/run/docker/netns/x");
        assert_eq!(g[&id(4)].pids, [10]);
        assert_eq!(
            g[&id(5)].pids,
            [10],
            "a thread's namespace counts its process"
        );
        assert_eq!(
            g[&id(5)].openers,
            [PathBuf::from("/proc/10/task/11/ns/net")]
        );
        assert_eq!(
            g[&id(6)].fds,
            [
                FdRef {
                    pid: 20,
                    fd: 5,
                    socket: false
                },
                FdRef {
                    pid: 20,
                    fd: 7,
                    socket: false
                }
            ]
        );
        assert!(g[&id(6)].pids.is_empty());
        assert_eq!(
            g[&id(9)].mounts,
            [MountRef {
                path: "/run/hidden/y".into(),
                mount_ns_pid: Some(30)
            }]
        );
        assert_eq!(
            g[&id(9)].openers,
            [PathBuf::from("/proc/30/root/run/hidden/y")]
        );
    }
}
