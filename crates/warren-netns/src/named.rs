//! Named namespaces under `/run/netns`, as `ip netns` sees them: add (in bulk), delete, list
//! with nsids, identify, pids, set and list-id.
//!
//! Everything here is iproute2-compatible on disk: a namespace added here is an `ip netns`
//! namespace and the other way round.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use serde::Serialize;
use warren_kernel::netns::{self, RUN_DIR, Source};
use warren_kernel::nsid::NsidEntry;
use warren_kernel::{Handle, NetNs, NsId};

use crate::error::{Error, Result};
use crate::procfs;

/// Check a name as iproute2's `invalid_name()` does.
pub fn validate(name: &str) -> Result<()> {
    netns::validate_name(name).map_err(|_| Error::InvalidName {
        name: name.to_owned(),
    })
}

/// Options of a bulk add.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddOptions {
    /// Bring `lo` up inside each new namespace (from the worker thread that created it).
    pub lo_up: bool,
}

/// The names `PREFIX0` .. `PREFIX{count-1}`.
pub fn numbered(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

/// Create named namespaces, all from one worker thread under one lock of `/run/netns`, as
/// `ip netns add` does for each. Every name is checked before anything is created. Results
/// are per name, in order; one failing does not stop the others.
pub fn add(names: &[String], opts: AddOptions) -> Result<Vec<Result<NetNs>>> {
    for n in names {
        validate(n)?;
    }
    let out = netns::add_named_many(names, Source::New, |ns| {
        if opts.lo_up {
            Handle::here(ns)?.link_set_up("lo")?;
        }
        Ok(())
    });
    let mut res: Vec<Result<NetNs>> = out
        .into_iter()
        .map(|r| {
            r.map(|(ns, ())| ns)
                .map_err(|e| Error::from_named(e, "/proc/self/ns/net"))
        })
        .collect();
    // A failure before the first name (e.g. /run/netns could not be prepared) comes back
    // alone: report it as the whole call's error.
    if res.len() == 1 && names.len() != 1 {
        return Err(res.remove(0).err().unwrap_or(Error::InvalidName {
            name: String::new(),
        }));
    }
    Ok(res)
}

/// Bind the namespace of process `pid` at `/run/netns/NAME` (`ip netns attach`).
pub fn attach(name: &str, pid: i32) -> Result<NetNs> {
    validate(name)?;
    netns::add_named(name, Source::Pid(pid))
        .map_err(|e| Error::from_named(e, &format!("/proc/{pid}/ns/net")))
}

/// Remove one named namespace: lazy unmount, then unlink (`ip netns delete`).
pub fn delete(name: &str) -> Result<()> {
    validate(name)?;
    netns::delete_named(name).map_err(|e| Error::from_named(e, ""))
}

/// Remove several named namespaces (as [`delete`] each), unmounted together: one result per
/// name, in order. Invalid names fail on their own without touching anything.
pub fn delete_many<N: AsRef<str> + Sync>(names: &[N]) -> Vec<Result<()>> {
    let mut out: Vec<Option<Result<()>>> = names
        .iter()
        .map(|n| validate(n.as_ref()).err().map(Err))
        .collect();
    let valid: Vec<&str> = names
        .iter()
        .zip(&out)
        .filter(|(_, r)| r.is_none())
        .map(|(n, _)| n.as_ref())
        .collect();
    let mut done = netns::delete_named_many(&valid).into_iter();
    for slot in out.iter_mut().filter(|r| r.is_none()) {
        *slot = done.next().map(|r| r.map_err(|e| Error::from_named(e, "")));
    }
    out.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
}

/// Every entry of `/run/netns`, in readdir order (as ip lists them). A missing directory is
/// empty.
pub fn names() -> Result<Vec<String>> {
    let dir = match std::fs::read_dir(RUN_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Io {
                op: "read directory",
                path: RUN_DIR.into(),
                source: e,
            });
        }
    };
    Ok(dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect())
}

/// One line of `ip netns list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// The entry's name.
    pub name: String,
    /// Its nsid as seen from the current namespace, when one is assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i32>,
}

/// `ip netns list`: every entry of `/run/netns` in readdir order, with its nsid when one is
/// assigned. Entries that are not namespaces (leftover placeholders) are listed without id.
pub fn list() -> Result<Vec<Listed>> {
    let names = names()?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let home = Handle::current()?;
    Ok(names
        .into_iter()
        .map(|name| {
            let id = NetNs::open_path(&netns::named_path(&name))
                .ok()
                .and_then(|ns| home.nsid_of(&ns).ok().flatten());
            Listed { name, id }
        })
        .collect())
}

/// Open a namespace given as a name under `/run/netns`, a path (anything with a `/`), or
/// `pid:N`. Returns it with the name, for names (used for `/etc/netns/NAME`).
pub fn open_spec(spec: &str) -> Result<(NetNs, Option<String>)> {
    if let Some(pid) = spec.strip_prefix("pid:") {
        let pid: i32 = pid.parse().map_err(|_| Error::Open {
            spec: spec.to_owned(),
            source: Errno::EINVAL,
        })?;
        return NetNs::open_pid(pid)
            .map(|ns| (ns, None))
            .map_err(|e| Error::from_open(e, spec));
    }
    if spec.contains('/') {
        return NetNs::open_path(Path::new(spec))
            .map(|ns| (ns, None))
            .map_err(|e| Error::from_open(e, spec));
    }
    NetNs::open_named(spec)
        .map(|ns| (ns, Some(spec.to_owned())))
        .map_err(|e| Error::from_open(e, spec))
}

/// The identity of the namespace that `/proc/PID/ns/net` (or any namespace file) is.
pub fn id_of(path: &Path) -> Result<NsId> {
    let md = std::fs::metadata(path).map_err(|e| Error::Open {
        spec: path.display().to_string(),
        source: e.raw_os_error().map_or(Errno::EIO, Errno::from_raw),
    })?;
    Ok(NsId {
        dev: md.dev(),
        ino: md.ino(),
    })
}

/// `ip netns identify`: the names under `/run/netns` that are the namespace `id`, in readdir
/// order (ip prints the last one).
pub fn identify(id: NsId) -> Result<Vec<String>> {
    Ok(names()?
        .into_iter()
        .filter(|n| {
            std::fs::metadata(netns::named_path(n))
                .is_ok_and(|md| md.dev() == id.dev && md.ino() == id.ino)
        })
        .collect())
}

/// `ip netns pids`: the processes (not threads) whose network namespace is `id`, in `/proc`
/// order.
pub fn pids(id: NsId) -> Vec<i32> {
    procfs::pids()
        .into_iter()
        .filter(|&pid| procfs::net_ns_of(pid) == Some(id))
        .collect()
}

/// `ip netns set NAME NSID|auto`: assign an nsid (seen from the current namespace) to a
/// named namespace. `None` lets the kernel choose. As upstream iproute2 (d6a1612b), a number
/// that names no namespace is taken as a PID.
pub fn set_nsid(spec: &str, nsid: Option<i32>) -> Result<()> {
    let ns = match open_spec(spec) {
        Ok((ns, _)) => ns,
        Err(
            e @ Error::Open {
                source: Errno::ENOENT,
                ..
            },
        ) => match procfs::parse_pid(spec) {
            Some(pid) => NetNs::open_pid(pid).map_err(|_| e)?,
            None => return Err(e),
        },
        Err(e) => return Err(e),
    };
    Handle::current()?.nsid_set(&ns, nsid)?;
    Ok(())
}

/// One line of `ip netns list-id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdEntry {
    /// The nsid.
    pub nsid: i32,
    /// The same peer's id as seen from the target namespace (with `target-nsid`).
    #[serde(rename = "current-nsid", skip_serializing_if = "Option::is_none")]
    pub current_nsid: Option<i32>,
    /// The name under `/run/netns` of the namespace with that nsid, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `ip netns list-id [target-nsid N] [nsid N]`: the nsids of the current namespace (or of the
/// target's), each with the `/run/netns` name of the peer, found by the id it has here.
pub fn list_ids(target_nsid: Option<i32>, nsid: Option<i32>) -> Result<Vec<IdEntry>> {
    let home = Handle::current()?;
    let entries: Vec<NsidEntry> = match nsid {
        Some(n) => vec![home.nsid_get(n)?],
        None => home.nsids(target_nsid)?,
    };
    let mut cache: Vec<(i32, String)> = Vec::new();
    for name in names()? {
        if let Ok(ns) = NetNs::open_path(&netns::named_path(&name))
            && let Ok(Some(id)) = home.nsid_of(&ns)
        {
            cache.push((id, name));
        }
    }
    Ok(entries
        .into_iter()
        .map(|e| {
            // The name of the peer with this id here (the current-nsid, with a target), as
            // ip finds it; ip drops a cache entry once printed, so a name shows once.
            let here = e.current_nsid.unwrap_or(e.nsid);
            let name = cache
                .iter()
                .position(|(id, _)| *id == here)
                .map(|i| cache.remove(i).1);
            IdEntry {
                nsid: e.nsid,
                current_nsid: e.current_nsid,
                name,
            }
        })
        .collect())
}

/// Remove every entry of `/run/netns` (`ip -all netns delete`). Goes on past failures and
/// returns the names removed and the errors.
pub fn delete_all() -> Result<(Vec<String>, Vec<Error>)> {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let names = names()?;
    for (name, r) in names.iter().zip(delete_many(&names)) {
        match r {
            Ok(()) => done.push(name.clone()),
            Err(e) => errors.push(e),
        }
    }
    Ok((done, errors))
}

/// The path of a named namespace.
pub fn path(name: &str) -> PathBuf {
    netns::named_path(name)
}
