//! A lab node's process: started inside the node's network namespace, in a mount namespace of
//! its own where `/sys` shows that network namespace (as `ip netns exec` does) and the node's
//! own `/etc` files are layered over the host's `/etc`.
//!
//! The node's files are one directory laid over `/etc` as the upper of two read-only overlayfs
//! lower layers (`lowerdir=NODE_ETC:/etc`): a file of the node hides the host's file of the
//! same path, every other host file stays visible, and a path whose directory the host lacks
//! (`/etc/bird/bird.conf` on a host without BIRD) appears too — which a bind mount cannot do
//! without creating the directory on the host. A read-only overlay needs no upper or work
//! directory and is allowed inside a user namespace, so rootless labs get the same view.
//!
//! As for [`super::ContainerSpawn`], everything is checked and allocated before the fork: the
//! child only makes system calls.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

use nix::sys::statvfs::{FsFlags, statvfs};

use super::step::{self, Step};
use super::{HOSTNAME_MAX, c_path, make_root_slave, reset_signal_mask};
use crate::error::{Error, Result};
use crate::netns::{NetNs, io_errno};

/// How to start a process inside a lab node.
#[derive(Debug)]
pub struct NodeSpawn<'a> {
    /// The node's network namespace.
    pub netns: &'a NetNs,
    /// A directory laid over `/etc` (read-only overlay, the node's files winning); `None`
    /// leaves `/etc` as it is.
    pub etc: Option<&'a Path>,
    /// `Some` gives the child a UTS namespace with this hostname (the node's name).
    pub hostname: Option<&'a str>,
    /// Start the child in a process group of its own, so that the group can be signalled
    /// (a daemon and the helpers it forks) and a terminal's Ctrl-C does not reach it.
    pub own_group: bool,
}

/// Characters overlayfs treats specially in `lowerdir=` (separators and escapes).
fn overlay_safe(path: &Path) -> bool {
    !path
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .any(|b| matches!(b, b':' | b',' | b'\\' | 0))
}

impl NodeSpawn<'_> {
    /// Configure `cmd` to enter the node between fork and exec, then spawn it.
    ///
    /// The `/etc` directory must exist and be absolute, without `:`, `,` or `\` (overlayfs
    /// separators): otherwise an [`Error::Invalid`] and no child. A step that fails in the
    /// child comes back as an [`Error::Sys`] naming the step and the namespace.
    pub fn spawn(&self, cmd: &mut Command) -> Result<Child> {
        let label = self.netns.label().to_owned();
        let hostname = match self.hostname {
            Some(h) if h.len() > HOSTNAME_MAX || h.contains('\0') => {
                return Err(Error::invalid(
                    "hostname",
                    h,
                    "longer than 64 bytes or has NUL",
                ));
            }
            Some(h) => Some(h.as_bytes().to_vec()),
            None => None,
        };
        let etc_options = match self.etc {
            Some(dir) => {
                if !dir.is_absolute() || !overlay_safe(dir) {
                    return Err(Error::invalid(
                        "node /etc directory",
                        dir.display().to_string(),
                        "must be an absolute path without ':', ',' or '\\'",
                    ));
                }
                if !dir.is_dir() {
                    return Err(Error::os(
                        "open node /etc directory",
                        dir,
                        nix::errno::Errno::ENOENT,
                    ));
                }
                let opts = format!("lowerdir={}:/etc", dir.display());
                Some(CString::new(opts).map_err(|_| {
                    Error::invalid("path", dir.display().to_string(), "contains a NUL byte")
                })?)
            }
            None => None,
        };
        // /sys keeps its read-only flag, as `ip netns exec` keeps it.
        let sys_flags = match statvfs("/sys") {
            Ok(st) if st.flags().contains(FsFlags::ST_RDONLY) => libc::MS_RDONLY,
            _ => 0,
        };
        let netns = self
            .netns
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::Sys {
                op: "dup",
                ns: label.clone(),
                source: io_errno(&e),
            })?;
        let (report, reporter) = step::pipe(&label)?;
        let steps = ChildSteps {
            netns,
            hostname,
            etc_options,
            sys_flags,
            own_group: self.own_group,
            sys: c_path(Path::new("/sys"))?,
            etc: c_path(Path::new("/etc"))?,
            report: reporter,
        };
        let hook = move || steps.run();
        // SAFETY: the hook runs between fork and exec and only makes async-signal-safe system
        // calls (sigprocmask, setns, unshare, sethostname, umount2, mount, setpgid, write) on
        // data prepared above and owned by the hook; it allocates nothing.
        unsafe {
            cmd.pre_exec(hook);
        }
        cmd.spawn().map_err(|e| {
            let errno = io_errno(&e);
            match report.read() {
                Some((step, _)) => Error::Sys {
                    op: step.op(),
                    ns: label.clone(),
                    source: errno,
                },
                None => Error::os("spawn", cmd.get_program(), errno),
            }
        })
    }
}

/// Everything the child needs, owned by the `pre_exec` hook.
struct ChildSteps {
    netns: OwnedFd,
    hostname: Option<Vec<u8>>,
    etc_options: Option<CString>,
    sys_flags: libc::c_ulong,
    own_group: bool,
    sys: CString,
    etc: CString,
    report: step::Reporter,
}

impl ChildSteps {
    /// Runs in the forked child: system calls only, no allocation.
    fn run(&self) -> io::Result<()> {
        self.report
            .check(Step::SignalMask, 0, reset_signal_mask())?;
        // SAFETY: setns takes a descriptor we own (open while the hook lives) and flags.
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
        // SAFETY: unshare takes only flags.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
        self.report.check(Step::UnshareMount, 0, rc)?;
        self.report.check(Step::MakeSlave, 0, make_root_slave())?;
        // SAFETY: umount2 takes a live C string and flags; failure (nothing mounted) is fine.
        unsafe { libc::umount2(self.sys.as_ptr(), libc::MNT_DETACH) };
        let rc = mount_fs(c"sysfs", &self.sys, c"sysfs", self.sys_flags, None);
        self.report.check(Step::MountSys, 0, rc)?;
        if let Some(options) = &self.etc_options {
            let rc = mount_fs(
                c"overlay",
                &self.etc,
                c"overlay",
                libc::MS_RDONLY,
                Some(options),
            );
            self.report.check(Step::MountEtc, 0, rc)?;
        }
        if self.own_group {
            // SAFETY: setpgid takes two PIDs; 0, 0 makes this process a group leader.
            let rc = unsafe { libc::setpgid(0, 0) };
            self.report.check(Step::SetPgid, 0, rc)?;
        }
        Ok(())
    }
}

/// mount(2) of a filesystem type with optional data.
fn mount_fs(
    source: &std::ffi::CStr,
    target: &std::ffi::CStr,
    fstype: &std::ffi::CStr,
    flags: libc::c_ulong,
    data: Option<&CString>,
) -> libc::c_int {
    let data = data.map_or(std::ptr::null(), |d| d.as_ptr().cast::<libc::c_void>());
    // SAFETY: source, target and fstype are live C strings; data is null or a live C string.
    unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_separators_are_refused() {
        for (path, ok) in [
            ("/run/warren/labs/a/b/etc", true),
            ("/tmp/a:b", false),
            ("/tmp/a,b", false),
            ("/tmp/a\\b", false),
        ] {
            assert_eq!(overlay_safe(Path::new(path)), ok, "{path}");
        }
    }
}
