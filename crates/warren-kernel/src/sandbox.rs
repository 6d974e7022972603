//! Sandboxes for tests and rootless use: a child process started in new user, network and mount
//! namespaces, mapped to root inside, with private tmpfs over `/run` (so `/run/netns` and
//! warren's runtime state are its own) and `/sys` remounted for its network namespace.
//!
//! The user namespace must be created by a single-threaded process, so it is made in the forked
//! child just before `exec` (the parent, e.g. a test harness, may be multithreaded).

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;

use crate::error::{Error, Result};

/// Directories created inside the sandbox's private `/run`.
pub const RUN_SUBDIRS: &[&str] = &["/run/netns", "/run/warren", "/run/warren-state"];

/// Arrange for `cmd` to start in fresh user (root inside, mapped to the caller's uid and gid),
/// network and mount namespaces. Call [`setup_mounts`] first thing in the child.
pub fn isolate(cmd: &mut Command) {
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    // Everything the child needs is prepared here, before fork: it then only makes syscalls.
    let uid_map = CString::new(format!("0 {uid} 1")).unwrap_or_default();
    let gid_map = CString::new(format!("0 {gid} 1")).unwrap_or_default();
    let setgroups = c"/proc/self/setgroups";
    let uid_path = c"/proc/self/uid_map";
    let gid_path = c"/proc/self/gid_map";
    let hook = move || -> std::io::Result<()> {
        let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::CLONE_NEWNS;
        // SAFETY: unshare takes only flags; the child is single-threaded after fork, as a new
        // user namespace requires.
        if unsafe { libc::unshare(flags) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        write_proc(setgroups, c"deny")?;
        write_proc(uid_path, &uid_map)?;
        write_proc(gid_path, &gid_map)?;
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec; it only calls async-signal-safe syscalls
    // (unshare, open, write, close) on data prepared before the fork, and allocates nothing.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Write a small proc file from a forked child: raw syscalls, no allocation.
fn write_proc(path: &std::ffi::CStr, data: &std::ffi::CStr) -> std::io::Result<()> {
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let bytes = data.to_bytes();
    // SAFETY: `bytes` is a valid buffer of `bytes.len()` bytes; `fd` was just opened by us.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    let err = std::io::Error::last_os_error();
    // SAFETY: `fd` is ours and closed exactly once.
    unsafe { libc::close(fd) };
    if n < 0 {
        return Err(err);
    }
    Ok(())
}

/// Inside the sandbox: stop mount propagation to the host, put a private tmpfs over `/run` with
/// warren's directories in it, and mount a sysfs that shows this network namespace.
pub fn setup_mounts() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Error::os("mount --make-rprivate", "/", e))?;
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755"),
    )
    .map_err(|e| Error::os("mount tmpfs", "/run", e))?;
    for dir in RUN_SUBDIRS {
        match nix::unistd::mkdir(*dir, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::os("mkdir", *dir, e)),
        }
    }
    // A fresh sysfs so /sys/class/net lists this namespace's links (as `ip netns exec` does).
    mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| Error::os("mount sysfs", "/sys", e))?;
    Ok(())
}
