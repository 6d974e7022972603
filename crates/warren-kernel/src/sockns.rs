//! The network namespace of a socket that another process holds.
//!
//! An open socket pins its namespace even after every name and process of it is gone, so a
//! host-wide scan must look at sockets too. The socket is duplicated into this process with
//! `pidfd_getfd(2)` (ptrace access to the process is required: root, or the same user) and
//! asked for its namespace with the `SIOCGSKNS` ioctl.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::netns::NetNs;

/// `SIOCGSKNS` from `<linux/sockios.h>`: a socket's network namespace as a new descriptor.
const SIOCGSKNS: libc::c_ulong = 0x894C;

/// A handle on another process, for looking at the sockets it holds.
#[derive(Debug)]
pub struct ProcessFds {
    pid: i32,
    pidfd: OwnedFd,
}

impl ProcessFds {
    /// Open process `pid` (a pidfd).
    pub fn open(pid: i32) -> Result<ProcessFds> {
        let sys = |source| Error::Sys {
            op: "pidfd_open",
            ns: format!("pid:{pid}"),
            source,
        };
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; no
        // memory is passed.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if raw < 0 {
            return Err(sys(Errno::last()));
        }
        let raw = i32::try_from(raw).map_err(|_| sys(Errno::EBADF))?;
        // SAFETY: `raw` is a descriptor the kernel just gave us, owned by nobody else.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(ProcessFds { pid, pidfd })
    }

    /// The network namespace of the socket that is descriptor `fd` of the process.
    pub fn socket_netns(&self, fd: i32) -> Result<NetNs> {
        let label = format!("socket fd {fd} of pid:{}", self.pid);
        let sys = |op, source| Error::Sys {
            op,
            ns: label.clone(),
            source,
        };
        // SAFETY: pidfd_getfd takes our pidfd, a descriptor number in that process and flags,
        // and returns a new descriptor (a duplicate) or -1; no memory is passed.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.pidfd.as_raw_fd(), fd, 0) };
        if raw < 0 {
            return Err(sys("pidfd_getfd", Errno::last()));
        }
        let raw = i32::try_from(raw).map_err(|_| sys("pidfd_getfd", Errno::EBADF))?;
        // SAFETY: `raw` is a fresh duplicate that only we own.
        let sock = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: SIOCGSKNS takes no argument and returns a new namespace descriptor or -1.
        let ns_raw = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGSKNS as _) };
        if ns_raw < 0 {
            return Err(sys("ioctl(SIOCGSKNS)", Errno::last()));
        }
        // SAFETY: `ns_raw` is a fresh namespace descriptor that only we own.
        let ns = unsafe { OwnedFd::from_raw_fd(ns_raw) };
        NetNs::from_file(File::from(ns), label)
    }
}
