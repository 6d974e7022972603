//! Joining the namespaces another process holds: a rootless lab's keeper holds a user
//! namespace (the calling user mapped to root), a mount namespace with its own `/run`, and the
//! network namespace that is the lab's "host"; every later command joins all three.

use std::fs::File;
use std::os::fd::AsFd;

use nix::sched::{CloneFlags, setns};

use crate::error::{Error, Result};

/// Move the *calling process* into the user, mount and network namespaces of `pid`, keeping
/// its working directory. The process must be single-threaded (the kernel refuses `setns`
/// into a user namespace otherwise): call it first thing in `main`.
pub fn join(pid: i32) -> Result<()> {
    let open = |kind: &str| {
        let path = format!("/proc/{pid}/ns/{kind}");
        File::open(&path).map_err(|e| Error::os("open", path, crate::netns::io_errno(&e)))
    };
    let user = open("user")?;
    let mnt = open("mnt")?;
    let net = open("net")?;
    // setns(CLONE_NEWNS) resets the working directory to the new root: come back to it by fd,
    // as nsenter --wd does.
    let cwd = File::open(".").ok();
    let label = format!("keeper {pid}");
    for (file, flag, op) in [
        (&user, CloneFlags::CLONE_NEWUSER, "setns(CLONE_NEWUSER)"),
        (&mnt, CloneFlags::CLONE_NEWNS, "setns(CLONE_NEWNS)"),
        (&net, CloneFlags::CLONE_NEWNET, "setns(CLONE_NEWNET)"),
    ] {
        setns(file.as_fd(), flag).map_err(|e| Error::Sys {
            op,
            ns: label.clone(),
            source: e,
        })?;
    }
    if let Some(dir) = cwd {
        // A directory the keeper's namespaces cannot reach just leaves us at `/`.
        let _ = nix::unistd::fchdir(dir.as_fd());
    }
    Ok(())
}

/// Whether `pid`'s user namespace differs from ours (it is a keeper we have not joined yet).
pub fn is_other_userns(pid: i32) -> bool {
    let ours = std::fs::read_link("/proc/self/ns/user").ok();
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/user")).ok();
    theirs.is_some() && ours != theirs
}

/// This process's effective user id.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// An advisory lock (`flock`) on a file, held until dropped.
#[derive(Debug)]
pub struct HeldLock {
    _lock: nix::fcntl::Flock<File>,
}

fn lock_file(path: &std::path::Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::os("open lock file", path, crate::netns::io_errno(&e)))
}

/// Take a lock on `path` (created if missing): shared or exclusive; waits when `wait`, else
/// returns `None` if someone else holds a conflicting lock.
pub fn lock(path: &std::path::Path, exclusive: bool, wait: bool) -> Result<Option<HeldLock>> {
    use nix::fcntl::{Flock, FlockArg};
    let arg = match (exclusive, wait) {
        (true, true) => FlockArg::LockExclusive,
        (true, false) => FlockArg::LockExclusiveNonblock,
        (false, true) => FlockArg::LockShared,
        (false, false) => FlockArg::LockSharedNonblock,
    };
    match Flock::lock(lock_file(path)?, arg) {
        Ok(lock) => Ok(Some(HeldLock { _lock: lock })),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) if !wait => Ok(None),
        Err((_, e)) => Err(Error::os("flock", path, e)),
    }
}
