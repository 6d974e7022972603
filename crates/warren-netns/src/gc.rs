//! Garbage collection of `/run/netns`: remove what a crash or a dead process left behind,
//! never a live namespace.
//!
//! Stale entries are placeholder files with no namespace mounted on them (a crash between
//! creating the file and bind-mounting it) and symlinks whose target is gone (a link to
//! `/proc/PID/ns/net` of a dead process). A live bind mount, a symlink to a live namespace,
//! a directory, or any other mount point is kept.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use warren_kernel::NsId;
use warren_kernel::netns::{self, RUN_DIR};

use crate::error::{Error, Result};
use crate::scan::parse;
use crate::{named, procfs};

/// A placeholder younger than this may be an `ip netns add` between its two steps: look again
/// a moment later before calling it stale.
const YOUNG: Duration = Duration::from_secs(2);

/// Why an entry is stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Staleness {
    /// A file with no namespace mounted on it.
    Placeholder,
    /// A symlink whose target does not exist.
    DanglingSymlink {
        /// Where it points.
        target: String,
    },
}

/// One stale entry, removed (or, in a dry run, to be removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stale {
    /// The entry's path.
    pub path: PathBuf,
    /// Why it is stale.
    pub why: Staleness,
}

/// What the entry at `path` is: `None` when it is live or not ours to judge.
fn judge(path: &Path, mountinfo: &str) -> Option<Staleness> {
    let lmd = std::fs::symlink_metadata(path).ok()?;
    if lmd.file_type().is_symlink() {
        let target = std::fs::read_link(path).ok()?;
        return match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Some(Staleness::DanglingSymlink {
                    target: target.display().to_string(),
                })
            }
            _ => None,
        };
    }
    if !lmd.file_type().is_file() || netns::is_live_mount(path) {
        return None;
    }
    // Something mounted there, here or in another mount namespace (a namespace made with
    // private propagation, or a bind of another kind), is not ours: unlinking it would
    // unmount it there too.
    let p = path.to_str()?;
    if parse::is_mount_point(mountinfo, p) {
        return None;
    }
    Some(Staleness::Placeholder)
}

/// The mountinfo of this mount namespace followed by that of every other one a process lives
/// in.
fn all_mountinfo() -> Result<String> {
    let mut text = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| Error::Io {
        op: "read",
        path: "/proc/self/mountinfo".into(),
        source: e,
    })?;
    let mut seen: HashSet<NsId> = procfs::mnt_ns_of(std::process::id().try_into().unwrap_or(0))
        .into_iter()
        .collect();
    for pid in procfs::pids() {
        if let Some(mnt) = procfs::mnt_ns_of(pid)
            && seen.insert(mnt)
            && let Some(mi) = procfs::mountinfo(Some(pid))
        {
            text.push_str(&mi);
        }
    }
    Ok(text)
}

fn is_young(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .ok()
        .and_then(|m| {
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(m.ctime().try_into().ok()?))
        })
        .and_then(|ctime| SystemTime::now().duration_since(ctime).ok())
        .is_none_or(|age| age < YOUNG)
}

/// Find the stale entries of `/run/netns` and, unless `dry_run`, remove them. Holds the
/// directory's lock (which warren's own adds hold for their whole run) while it works.
pub fn gc(dry_run: bool) -> Result<Vec<Stale>> {
    let dir = match std::fs::File::open(RUN_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Io {
                op: "open",
                path: RUN_DIR.into(),
                source: e,
            });
        }
    };
    let _lock = Flock::lock(dir, FlockArg::LockExclusive).ok();
    let mountinfo = all_mountinfo()?;
    let mut out = Vec::new();
    let mut young = Vec::new();
    for name in named::names()? {
        let path = named::path(&name);
        if let Some(why) = judge(&path, &mountinfo) {
            if matches!(why, Staleness::Placeholder) && is_young(&path) {
                young.push(path);
            } else {
                out.push(Stale { path, why });
            }
        }
    }
    if !young.is_empty() {
        // ip releases its lock before creating the file: give a concurrent add time to mount.
        std::thread::sleep(Duration::from_millis(200));
        let mountinfo = all_mountinfo().unwrap_or_default();
        for path in young {
            if let Some(why) = judge(&path, &mountinfo) {
                out.push(Stale { path, why });
            }
        }
    }
    if !dry_run {
        for s in &out {
            std::fs::remove_file(&s.path).map_err(|e| Error::Io {
                op: "remove",
                path: s.path.clone(),
                source: e,
            })?;
        }
    }
    Ok(out)
}
