//! A container's process: start it inside its network namespace (with its own hostname and
//! bind-mounted `/etc` files), wait for it while forwarding this process's signals to it, and
//! signal or probe a process by PID without hitting a reused PID.
//!
//! The caller builds the [`Command`] (program, arguments, environment, stdio, directory);
//! [`ContainerSpawn::spawn`] adds the namespace steps, which the forked child performs just
//! before `exec`. Everything the child needs (paths, hostname, descriptors) is checked and
//! prepared in the parent, so the child only makes system calls and allocates nothing.

mod forward;
mod node;
mod stat;
mod step;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use nix::errno::Errno;
use nix::sys::statvfs::{FsFlags, statvfs};

use crate::error::{Error, Result};
use crate::netns::{NetNs, io_errno};
use step::Step;

pub use forward::wait_forwarding;
pub use node::NodeSpawn;
pub use stat::{descendants, is_alive, signal_if_same, start_time};

/// The longest hostname the kernel accepts (`HOST_NAME_MAX`).
pub const HOSTNAME_MAX: usize = 64;

/// How to start a container's process.
#[derive(Debug)]
pub struct ContainerSpawn<'a> {
    /// The network namespace the child joins (`setns(CLONE_NEWNET)`).
    pub netns: &'a NetNs,
    /// `Some` gives the child a new UTS namespace with this hostname.
    pub hostname: Option<&'a str>,
    /// `(source, target)` single files bound read-only over `target`, e.g. a generated
    /// `resolv.conf` over `/etc/resolv.conf`. Non-empty gives the child a new mount namespace
    /// whose `/` is a slave of the host's, so nothing propagates back. A symlinked target is
    /// resolved and the file it points to is covered.
    pub files: Vec<(PathBuf, PathBuf)>,
}

impl ContainerSpawn<'_> {
    /// Configure `cmd` so that the child joins the namespace, sets the hostname and binds the
    /// files between fork and exec, then spawn it.
    ///
    /// Targets and sources are checked before the fork: a missing one is an [`Error::Os`]
    /// naming it, and no child is started. A step that fails in the child is reported as the
    /// step and object it was about, with its errno; the child is reaped by then.
    ///
    /// `cmd` keeps the added steps: spawn it through this function once.
    pub fn spawn(&self, cmd: &mut Command) -> Result<Child> {
        let hostname = self.hostname.map(checked_hostname).transpose()?;
        let binds = self
            .files
            .iter()
            .map(|(source, target)| Bind::resolve(source, target))
            .collect::<Result<Vec<_>>>()?;
        // The hook owns a duplicate, so it stays valid for as long as `cmd` keeps the hook.
        let netns = self
            .netns
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::Sys {
                op: "dup",
                ns: self.netns.label().to_owned(),
                source: io_errno(&e),
            })?;
        let (report, reporter) = step::pipe(self.netns.label())?;
        let targets: Vec<PathBuf> = binds.iter().map(|b| b.target_path.clone()).collect();
        let child = ChildSteps {
            netns,
            hostname,
            binds,
            report: reporter,
        };
        let hook = move || child.run();
        // SAFETY: the hook runs between fork and exec. It only makes async-signal-safe system
        // calls (sigprocmask, setns, unshare, sethostname, mount, write) on data prepared above
        // and owned by the hook, and allocates nothing.
        unsafe {
            cmd.pre_exec(hook);
        }
        cmd.spawn()
            .map_err(|e| self.spawn_error(cmd.get_program(), &targets, &report, &e))
    }

    /// Name what failed: the step the child reported, or the spawn itself (e.g. no program).
    fn spawn_error(
        &self,
        program: &std::ffi::OsStr,
        targets: &[PathBuf],
        report: &step::Report,
        e: &io::Error,
    ) -> Error {
        let errno = io_errno(e);
        let Some((step, index)) = report.read() else {
            return Error::os("spawn", program, errno);
        };
        let target = || targets.get(index).cloned().unwrap_or_default();
        match step {
            Step::Bind | Step::Remount => Error::os(step.op(), target(), errno),
            _ => Error::Sys {
                op: step.op(),
                ns: self.netns.label().to_owned(),
                source: errno,
            },
        }
    }
}

fn checked_hostname(name: &str) -> Result<Vec<u8>> {
    let reason = if name.len() > HOSTNAME_MAX {
        "longer than 64 bytes"
    } else if name.contains('\0') {
        "contains a NUL byte"
    } else {
        return Ok(name.as_bytes().to_vec());
    };
    Err(Error::invalid("hostname", name, reason))
}

/// One file to bind, with paths resolved in the parent.
struct Bind {
    source: CString,
    target: CString,
    target_path: PathBuf,
    /// Flags for the read-only remount: the locked per-mount flags of the source's mount,
    /// which a remount inside a user namespace must keep.
    remount: libc::c_ulong,
}

impl Bind {
    fn resolve(source: &Path, target: &Path) -> Result<Bind> {
        // The child has already changed to the command's directory: give it absolute paths.
        let source_path = canonical("resolve bind source", source)?;
        let target_path = canonical("resolve bind target", target)?;
        for (what, path) in [("bind source", &source_path), ("bind target", &target_path)] {
            if path.is_dir() {
                return Err(Error::invalid(
                    what,
                    path.display().to_string(),
                    "is a directory; only single files are bound",
                ));
            }
        }
        let st = statvfs(&source_path).map_err(|e| Error::os("statvfs", &source_path, e))?;
        let mut remount = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY;
        for (st_flag, ms_flag) in [
            (FsFlags::ST_NOSUID, libc::MS_NOSUID),
            (FsFlags::ST_NODEV, libc::MS_NODEV),
            (FsFlags::ST_NOEXEC, libc::MS_NOEXEC),
        ] {
            if st.flags().contains(st_flag) {
                remount |= ms_flag;
            }
        }
        Ok(Bind {
            source: c_path(&source_path)?,
            target: c_path(&target_path)?,
            target_path,
            remount,
        })
    }
}

fn canonical(op: &'static str, path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|e| Error::os(op, path, io_errno(&e)))
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::invalid("path", path.display().to_string(), "contains a NUL byte"))
}

/// Everything the child needs, owned by the `pre_exec` hook.
struct ChildSteps {
    netns: OwnedFd,
    hostname: Option<Vec<u8>>,
    binds: Vec<Bind>,
    report: step::Reporter,
}

impl ChildSteps {
    /// Runs in the forked child: system calls only, no allocation.
    fn run(&self) -> io::Result<()> {
        self.report
            .check(Step::SignalMask, 0, reset_signal_mask())?;
        // SAFETY: setns takes a descriptor we own (open until the hook is dropped) and flags.
        let rc = unsafe { libc::setns(self.netns.as_raw_fd(), libc::CLONE_NEWNET) };
        self.report.check(Step::SetNs, 0, rc)?;
        if let Some(name) = &self.hostname {
            // SAFETY: unshare takes only flags.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWUTS) };
            self.report.check(Step::UnshareUts, 0, rc)?;
            // SAFETY: `name` is a live buffer of `name.len()` bytes (at most HOSTNAME_MAX).
            let rc = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
            self.report.check(Step::SetHostname, 0, rc)?;
        }
        if !self.binds.is_empty() {
            // SAFETY: unshare takes only flags.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
            self.report.check(Step::UnshareMount, 0, rc)?;
            self.report.check(Step::MakeSlave, 0, make_root_slave())?;
            for (i, bind) in self.binds.iter().enumerate() {
                let rc = mount(Some(&bind.source), &bind.target, libc::MS_BIND);
                self.report.check(Step::Bind, i, rc)?;
                let rc = mount(None, &bind.target, bind.remount);
                self.report.check(Step::Remount, i, rc)?;
            }
        }
        Ok(())
    }
}

/// Unblock every signal (std does too; this keeps the promise whatever spawns us).
fn reset_signal_mask() -> libc::c_int {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given.
    let rc = unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    if rc != 0 {
        return rc;
    }
    // SAFETY: `set` was initialised by sigemptyset just above.
    let rc =
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, set.as_ptr(), std::ptr::null_mut()) };
    if rc != 0 {
        Errno::set_raw(rc);
        return -1;
    }
    0
}

/// `mount --make-rslave /`, or `--make-rprivate` where `/` is not shared (EINVAL).
fn make_root_slave() -> libc::c_int {
    let root = c"/";
    let rc = mount(None, root, libc::MS_REC | libc::MS_SLAVE);
    if rc == 0 || Errno::last() != Errno::EINVAL {
        return rc;
    }
    mount(None, root, libc::MS_REC | libc::MS_PRIVATE)
}

/// mount(2) without a filesystem type or data, as binds and propagation changes are made.
fn mount(source: Option<&CString>, target: &std::ffi::CStr, flags: libc::c_ulong) -> libc::c_int {
    let source = source.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: source is null or a live C string; target is a live C string; no type, no data.
    unsafe {
        libc::mount(
            source,
            target.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    }
}

/// Make this process the reaper of its orphaned descendants (`PR_SET_CHILD_SUBREAPER`): a
/// supervisor then keeps every process its children leave behind as its own child, so it can
/// find them (see [`descendants`]) and reap them.
pub fn set_child_subreaper() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| Error::Sys {
        op: "prctl(PR_SET_CHILD_SUBREAPER)",
        ns: "current".into(),
        source: e,
    })
}

/// Wait for any child of this process to exit: `Some((pid, code))` with the code as a shell
/// reports it (the exit code, or 128 + the killing signal), `None` when there are no children
/// left. Retries on `EINTR`.
pub fn wait_any() -> Result<Option<(i32, i32)>> {
    use nix::sys::wait::{WaitStatus, waitpid};
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) => return Ok(Some((pid.as_raw(), code))),
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                return Ok(Some((pid.as_raw(), 128 + sig as i32)));
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(Errno::ECHILD) => return Ok(None),
            Err(e) => {
                return Err(Error::Sys {
                    op: "waitpid",
                    ns: "current".into(),
                    source: e,
                });
            }
        }
    }
}

/// Reap the exited (or exiting) child `pid` with `wait4`, returning its exit status and its
/// `ru_maxrss` in KiB: the largest resident set of the child itself and of the descendants it
/// waited for (Linux reports `RUSAGE_BOTH` here). The [`Child`] of `pid` must not be waited
/// for afterwards (it is gone). Retries on `EINTR`.
pub fn wait_maxrss(pid: u32) -> io::Result<(std::process::ExitStatus, u64)> {
    use std::os::unix::process::ExitStatusExt;
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 writes only into the two locals, which outlive the call.
        let r = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
    let kib = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok((std::process::ExitStatus::from_raw(status), kib))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_checked() {
        assert!(checked_hostname("web-1").is_ok());
        assert!(checked_hostname(&"h".repeat(64)).is_ok());
        assert!(checked_hostname(&"h".repeat(65)).is_err());
        assert!(checked_hostname("a\0b").is_err());
    }
}
