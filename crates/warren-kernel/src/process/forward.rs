//! Waiting for a child while forwarding this process's signals to it.
//!
//! Signal masks are per thread, so blocking signals in the waiting thread would not stop them
//! from reaching (and killing) a multithreaded process through another thread. Instead, while
//! at least one wait is in progress, the forwarded signals have a handler that writes the
//! signal number to a process-wide pipe; waiters poll that pipe together with a pidfd of their
//! child, and whoever reads a signal sends it to every child being waited for. When the last
//! wait ends, the previous handlers are put back and the pipe is drained.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Child;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};

use crate::error::{Error, Result};

/// The signals forwarded to the child.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The write end of the wake pipe, for the handler (which may read nothing else).
static WAKE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The wake pipe, created once and never closed (a handler may run at any time).
static WAKE: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();

/// The children being waited for, and the handlers to put back when there are none.
static WAITERS: Mutex<Waiters> = Mutex::new(Waiters {
    pidfds: Vec::new(),
    saved: None,
});

struct Waiters {
    pidfds: Vec<RawFd>,
    saved: Option<[SigAction; FORWARDED.len()]>,
}

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = WAKE_WRITE.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let saved = Errno::last_raw();
    let byte = u8::try_from(sig).unwrap_or(0);
    // SAFETY: write is async-signal-safe; `byte` is a live one-byte buffer and `fd` is the
    // never-closed, non-blocking wake pipe (a full pipe just drops this wake-up).
    unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    Errno::set_raw(saved);
}

/// Wait for `child`, forwarding SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and
/// SIGWINCH received by this process to it, until it exits. Returns its exit as a shell
/// would: the exit code, or 128 + the signal that killed it.
///
/// While it waits, those signals do not take their usual effect on this process (except those
/// it ignores, which stay ignored and are not forwarded); the previous
/// handlers (and this thread's signal mask, which is never touched) are back when it returns.
/// Several threads may wait for different children at once: each signal goes to all of them.
/// A signal that arrives before the call, or as the child is exiting, is not forwarded.
pub fn wait_forwarding(child: &mut Child) -> Result<i32> {
    if let Some(status) = child.try_wait().map_err(|e| wait_error(child, &e))? {
        return shell_code(child, status);
    }
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let pidfd = pidfd_open(pid)?;
    let wake = wake_pipe()?;
    {
        let registration = Registration::new(pidfd.as_raw_fd())?;
        wait_exit(&pidfd, wake)?;
        drop(registration);
    }
    let status = child.wait().map_err(|e| wait_error(child, &e))?;
    shell_code(child, status)
}

/// Poll the child's pidfd and the wake pipe until the child has exited.
fn wait_exit(pidfd: &OwnedFd, wake: &OwnedFd) -> Result<()> {
    loop {
        let mut fds = [
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a live array of two pollfd structs, and we pass its length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if rc < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(sys("poll", e)),
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            for sig in drain(wake) {
                forward(sig);
            }
        }
        if fds[0].revents != 0 {
            return Ok(());
        }
    }
}

/// Read every pending signal number from the wake pipe (non-blocking).
fn drain(wake: &OwnedFd) -> Vec<libc::c_int> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    while let Ok(n) = nix::unistd::read(wake.as_fd(), &mut buf) {
        if n == 0 {
            break;
        }
        out.extend(buf[..n].iter().map(|b| libc::c_int::from(*b)));
    }
    out
}

/// Send `sig` to every child being waited for. Holding the lock keeps their pidfds open.
fn forward(sig: libc::c_int) {
    let waiters = WAITERS.lock().unwrap_or_else(PoisonError::into_inner);
    for pidfd in &waiters.pidfds {
        // SAFETY: pidfd_send_signal takes a pidfd (registered, so still open), a signal number,
        // no siginfo and no flags. A child that has just exited gives ESRCH, which is fine.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                *pidfd,
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
}

/// One wait in progress: the first installs the handlers, the last puts the old ones back.
struct Registration {
    pidfd: RawFd,
}

impl Registration {
    fn new(pidfd: RawFd) -> Result<Registration> {
        let mut waiters = WAITERS.lock().unwrap_or_else(PoisonError::into_inner);
        if waiters.saved.is_none() {
            waiters.saved = Some(install()?);
        }
        waiters.pidfds.push(pidfd);
        Ok(Registration { pidfd })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut waiters = WAITERS.lock().unwrap_or_else(PoisonError::into_inner);
        waiters.pidfds.retain(|fd| *fd != self.pidfd);
        if waiters.pidfds.is_empty()
            && let Some(saved) = waiters.saved.take()
        {
            restore(&saved);
            // Signals caught after the last forward belong to no one now.
            if let Some((read, _)) = WAKE.get() {
                drain(read);
            }
        }
    }
}

/// Install the forwarding handler for every forwarded signal; returns the previous actions.
/// On failure, whatever was installed is undone.
fn install() -> Result<[SigAction; FORWARDED.len()]> {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let mut saved = [action; FORWARDED.len()];
    for (i, sig) in FORWARDED.iter().enumerate() {
        // SAFETY: the handler only loads an atomic, calls write(2) and saves/restores errno,
        // all async-signal-safe.
        match unsafe { nix::sys::signal::sigaction(*sig, &action) } {
            // An ignored signal stays ignored (e.g. SIGHUP under nohup): not forwarded.
            Ok(old) if matches!(old.handler(), SigHandler::SigIgn) => {
                saved[i] = old;
                // SAFETY: `old` is the action the kernel just returned for this signal.
                if let Err(e) = unsafe { nix::sys::signal::sigaction(*sig, &old) } {
                    restore(&saved[..=i]);
                    return Err(sys("sigaction", e));
                }
            }
            Ok(old) => saved[i] = old,
            Err(e) => {
                restore(&saved[..i]);
                return Err(sys("sigaction", e));
            }
        }
    }
    Ok(saved)
}

/// Put back the actions saved by [`install`] (as many as were saved).
fn restore(saved: &[SigAction]) {
    for (sig, old) in FORWARDED.iter().zip(saved) {
        // SAFETY: `old` is the action that was installed before ours, returned by the kernel.
        let _ = unsafe { nix::sys::signal::sigaction(*sig, old) };
    }
}

/// The wake pipe's read end, creating the pipe on first use.
fn wake_pipe() -> Result<&'static OwnedFd> {
    if let Some((read, _)) = WAKE.get() {
        return Ok(read);
    }
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .map_err(|e| sys("pipe2 for signal forwarding", e))?;
    // Another thread may have won the race: then ours is dropped and theirs is used.
    let (read, write) = WAKE.get_or_init(|| (read, write));
    WAKE_WRITE.store(write.as_raw_fd(), Ordering::Relaxed);
    Ok(read)
}

/// A pidfd for `pid` (non-blocking, close-on-exec); ESRCH when there is no such process.
pub(super) fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a PID and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, libc::PIDFD_NONBLOCK) };
    if fd < 0 {
        return Err(Error::os(
            "pidfd_open",
            format!("/proc/{pid}"),
            Errno::last(),
        ));
    }
    let fd = RawFd::try_from(fd).unwrap_or(-1);
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The exit as a shell reports it: the code, or 128 + the killing signal.
fn shell_code(child: &Child, status: std::process::ExitStatus) -> Result<i32> {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ok(code),
        (None, Some(sig)) => Ok(128 + sig),
        _ => Err(Error::os(
            "wait (neither exited nor killed)",
            format!("/proc/{}", child.id()),
            Errno::EINVAL,
        )),
    }
}

fn wait_error(child: &Child, e: &std::io::Error) -> Error {
    Error::os(
        "wait for child",
        format!("/proc/{}", child.id()),
        crate::netns::io_errno(e),
    )
}

fn sys(op: &'static str, source: Errno) -> Error {
    Error::Sys {
        op,
        ns: "current".into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_forwarded_signal_fits_the_pipe_byte() {
        for sig in FORWARDED {
            assert!(u8::try_from(sig as libc::c_int).is_ok(), "{sig}");
        }
    }
}
