//! The steps a spawned child takes between fork and exec, and the pipe through which it tells
//! the parent which one failed (and on which object, e.g. the n-th bind mount).
//!
//! The child side only writes 8 bytes to a descriptor it owns: no allocation, async-signal
//! safe. The parent reads them after a failed spawn (std reaps the child and returns its
//! errno) and names the step in its error.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;

use crate::error::{Error, Result};

/// What the child was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    SignalMask = 1,
    SetNs,
    UnshareUts,
    SetHostname,
    UnshareMount,
    MakeSlave,
    /// Bind mount number `index` of a container's files.
    Bind,
    /// Read-only remount of bind number `index`.
    Remount,
    MountSys,
    MountEtc,
    SetPgid,
}

impl Step {
    const ALL: [Step; 11] = [
        Step::SignalMask,
        Step::SetNs,
        Step::UnshareUts,
        Step::SetHostname,
        Step::UnshareMount,
        Step::MakeSlave,
        Step::Bind,
        Step::Remount,
        Step::MountSys,
        Step::MountEtc,
        Step::SetPgid,
    ];

    /// The operation, for errors (with the namespace and errno beside it).
    pub(super) fn op(self) -> &'static str {
        match self {
            Step::SignalMask => "reset signal mask in child",
            Step::SetNs => "setns(CLONE_NEWNET) in child",
            Step::UnshareUts => "unshare(CLONE_NEWUTS) in child",
            Step::SetHostname => "sethostname in child",
            Step::UnshareMount => "unshare(CLONE_NEWNS) in child",
            Step::MakeSlave => "mount --make-rslave / in child",
            Step::Bind => "bind mount in child over",
            Step::Remount => "remount read-only in child",
            Step::MountSys => "mount sysfs on /sys in child",
            Step::MountEtc => "mount overlay on /etc in child",
            Step::SetPgid => "setpgid in child",
        }
    }

    fn encode(self, index: usize) -> [u8; 8] {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&(self as u32).to_ne_bytes());
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        buf[4..].copy_from_slice(&index.to_ne_bytes());
        buf
    }

    fn decode(buf: [u8; 8]) -> (Option<Step>, usize) {
        let [a, b, c, d, e, f, g, h] = buf;
        let code = u32::from_ne_bytes([a, b, c, d]);
        let index = u32::from_ne_bytes([e, f, g, h]);
        let step = Step::ALL.into_iter().find(|s| *s as u32 == code);
        (step, usize::try_from(index).unwrap_or(usize::MAX))
    }
}

/// The child's end of the report pipe.
#[derive(Debug)]
pub(super) struct Reporter(OwnedFd);

/// The parent's end: what the child reported, if it did.
#[derive(Debug)]
pub(super) struct Report(OwnedFd);

/// A report pipe (close-on-exec, so a successful exec closes the child's end; non-blocking, so
/// reading it after a spawn that failed before any step returns at once). `ns` labels the error.
pub(super) fn pipe(ns: &str) -> Result<(Report, Reporter)> {
    let (read, write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(|e| Error::Sys {
            op: "pipe2 for the child's report",
            ns: ns.to_owned(),
            source: e,
        })?;
    Ok((Report(read), Reporter(write)))
}

impl Reporter {
    /// In the child: turn a failed system call (`rc < 0`) into its errno, telling the parent
    /// which step (and which object of it) it was first.
    pub(super) fn check(&self, step: Step, index: usize, rc: libc::c_int) -> io::Result<()> {
        if rc >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        let buf = step.encode(index);
        // SAFETY: `buf` is a live 8-byte buffer; the pipe end is ours. A short or failed write
        // only loses the detail, not the error.
        unsafe { libc::write(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        Err(err)
    }
}

impl Report {
    /// In the parent, after a failed spawn: the step the child reported and its index, or
    /// `None` when it reported nothing (e.g. the program was not found).
    pub(super) fn read(&self) -> Option<(Step, usize)> {
        let mut buf = [0u8; 8];
        let whole = nix::unistd::read(&self.0, &mut buf).is_ok_and(|n| n == buf.len());
        match Step::decode(buf) {
            (Some(step), index) if whole => Some((step, index)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_survive_the_pipe() {
        for step in Step::ALL {
            for index in [0, 1, 41] {
                assert_eq!(Step::decode(step.encode(index)), (Some(step), index));
            }
        }
        assert_eq!(Step::decode([0; 8]).0, None);
    }

    #[test]
    fn a_failed_step_reaches_the_parent_and_a_success_sends_nothing() {
        let (report, reporter) = pipe("test").unwrap();
        assert!(reporter.check(Step::SetNs, 0, 0).is_ok());
        assert_eq!(report.read(), None);
        // SAFETY: close(-1) only fails with EBADF, which sets errno for the check below.
        let rc = unsafe { libc::close(-1) };
        let err = reporter.check(Step::Bind, 3, rc).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(report.read(), Some((Step::Bind, 3)));
    }
}
