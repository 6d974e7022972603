//! Reading `/proc`: processes, the namespaces they are in, their descriptors, names and
//! cgroups. Every reader is best effort: a process that exits or that we may not inspect is
//! simply skipped.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use warren_kernel::NsId;

/// Every process ID in `/proc`, in directory order.
pub fn pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(parse_pid))
        .collect()
}

/// A strictly positive decimal PID, as ip's `is_pid()` accepts.
pub fn parse_pid(s: &str) -> Option<i32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&p| p > 0)
}

fn ns_of(pid: i32, kind: &str) -> Option<NsId> {
    let md = std::fs::metadata(format!("/proc/{pid}/ns/{kind}")).ok()?;
    Some(NsId {
        dev: md.dev(),
        ino: md.ino(),
    })
}

/// The network namespace of a process.
pub fn net_ns_of(pid: i32) -> Option<NsId> {
    ns_of(pid, "net")
}

/// The network namespaces of the threads of a multithreaded process, by thread ID (empty
/// for a single-threaded one).
pub fn thread_net_ns(pid: i32) -> Vec<(i32, NsId)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let tids: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(parse_pid))
        .collect();
    if tids.len() < 2 {
        return Vec::new();
    }
    tids.into_iter()
        .filter_map(|tid| {
            let md = std::fs::metadata(format!("/proc/{pid}/task/{tid}/ns/net")).ok()?;
            Some((
                tid,
                NsId {
                    dev: md.dev(),
                    ino: md.ino(),
                },
            ))
        })
        .collect()
}

/// The mount namespace of a process.
pub fn mnt_ns_of(pid: i32) -> Option<NsId> {
    ns_of(pid, "mnt")
}

/// `/proc/PID/comm` without the newline.
pub fn comm(pid: i32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(s.trim_end_matches('\n').to_owned())
}

/// `/proc/PID/cmdline` with its NUL separators turned into spaces.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(crate::scan::parse::cmdline(&raw))
}

/// `/proc/PID/cgroup`.
pub fn cgroup(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()
}

/// `/proc/PID/mountinfo`.
pub fn mountinfo(pid: Option<i32>) -> Option<String> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/mountinfo"),
        None => "/proc/self/mountinfo".to_owned(),
    };
    std::fs::read_to_string(path).ok()
}

/// The descriptors of a process that refer to a network namespace: (fd path, namespace inode).
pub fn net_fds(pid: i32) -> Vec<(PathBuf, u64)> {
    let dir = PathBuf::from(format!("/proc/{pid}/fd"));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            let ino = crate::scan::parse::net_link_ino(target.to_str()?)?;
            Some((e.path(), ino))
        })
        .collect()
}

/// The descriptor numbers of a process that are sockets (`socket:[INO]`).
pub fn socket_fds(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            if !target.to_str()?.starts_with("socket:[") {
                return None;
            }
            e.file_name().to_str()?.parse().ok()
        })
        .collect()
}

/// Whether `path` exists (without following a final symlink).
pub fn exists_nofollow(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_positive_decimals() {
        assert_eq!(parse_pid("1"), Some(1));
        assert_eq!(parse_pid("4194304"), Some(4_194_304));
        for bad in ["", "0", "-1", "abc", "12a", "self", " 1", "+3"] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn this_process_is_seen() {
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(pids().contains(&me));
        assert!(net_ns_of(me).is_some());
        assert!(cmdline(me).is_some_and(|c| !c.is_empty()));
    }
}
