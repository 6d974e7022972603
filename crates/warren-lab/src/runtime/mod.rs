//! A lab's runtime: what runs inside the nodes once they are wired.
//!
//! - [`prepare_files`] writes a node's files (its `/etc/hosts` included) under warren's runtime
//!   directory; every process started in the node sees them at their `/etc` paths through a
//!   read-only overlay of that directory over the host's `/etc`, in a mount namespace of its own
//!   ([`warren_kernel::process::NodeSpawn`]), with `/sys` remounted for the node.
//! - [`start`] runs the nodes' `exec` commands and starts their daemons, in `after` order,
//!   nodes of one level in parallel, waiting for each daemon's readiness. It does so through a
//!   supervisor process (`warren __lab-supervise`, see [`supervise_main`]) that stays the
//!   parent of the daemons: it logs their output to `STATE/labs/LAB/NODE.DAEMON.log`, reaps
//!   them and records how they exited (no restarts), and is the reaper of whatever they fork.
//! - [`stop`] ends every daemon and everything they forked (TERM, then KILL after a grace), and
//!   the supervisors; [`status`] lists the daemons; [`exec`] runs a command in a node with
//!   the terminal, the exit status and signals passed through.

mod dirs;
mod files;
mod order;
mod spawn;
mod supervisor;

use std::path::PathBuf;

pub use dirs::Dirs;
pub use files::{apply_sysctls, prepare_files, prepare_files_with, remove_files, write_lab_hosts};
pub use order::levels;
pub use spawn::exec;
pub use supervisor::{
    DEFAULT_READY_TIMEOUT, DaemonState, DaemonStatus, STOP_GRACE, start, status, stop, stop_nodes,
    supervise_main,
};

/// The environment variable through which [`start`] hands its request to the supervisor.
pub const ENV_SUPERVISE: &str = "WARREN_LAB_SUPERVISE";

/// What can go wrong at runtime. Every variant names the lab and node (and command or
/// daemon) it is about.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A node name that the lab does not have.
    #[error("lab {lab}: no node {node}")]
    NoSuchNode {
        /// The lab.
        lab: String,
        /// The name asked for.
        node: String,
    },
    /// A name or path that cannot be used (as a file name, or under `/etc`).
    #[error("lab {lab}: node {node}: {what} {value:?} {reason}")]
    Invalid {
        /// The lab.
        lab: String,
        /// The node.
        node: String,
        /// What it is (`file path`, `daemon name`...).
        what: &'static str,
        /// The value.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A file system operation failed.
    #[error("lab {lab}: {op} {}: {source}", path.display())]
    Io {
        /// The lab.
        lab: String,
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A kernel operation for a node failed (entering it, starting a process in it).
    #[error("lab {lab}: node {node}: {source}")]
    Kernel {
        /// The lab.
        lab: String,
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: Box<warren_kernel::Error>,
    },
    /// A node's `exec` command exited with a non-zero status.
    #[error("lab {lab}: node {node}: command {command} exited with status {status}{}", tail_suffix(.output))]
    CommandFailed {
        /// The lab.
        lab: String,
        /// The node.
        node: String,
        /// The command, as a shell would show it.
        command: String,
        /// Its exit status (128 + signal when killed).
        status: i32,
        /// The last lines of its stderr (else of its stdout).
        output: String,
    },
    /// A daemon's `ready` command did not succeed in time.
    #[error("lab {lab}: node {node}: daemon {daemon} not ready after {timeout_ms} ms{}", tail_suffix(.output))]
    NotReady {
        /// The lab.
        lab: String,
        /// The node.
        node: String,
        /// The daemon.
        daemon: String,
        /// How long we waited.
        timeout_ms: u64,
        /// The last output of the `ready` command (or why it could not run).
        output: String,
    },
    /// A daemon exited while its readiness was awaited.
    #[error("lab {lab}: node {node}: daemon {daemon} exited with status {status} before it was ready (log {}){}", log.display(), tail_suffix(.output))]
    DaemonExited {
        /// The lab.
        lab: String,
        /// The node.
        node: String,
        /// The daemon.
        daemon: String,
        /// Its exit status.
        status: i32,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        output: String,
    },
    /// The supervisor reported a failure of the start it ran, or died before reporting.
    #[error("lab {lab}: {reason}")]
    Start {
        /// The lab.
        lab: String,
        /// The supervisor's own error message.
        reason: String,
    },
    /// A process survived `stop`.
    #[error("lab {lab}: process {pid} ({what}) still alive after SIGKILL")]
    Survivor {
        /// The lab.
        lab: String,
        /// Its PID.
        pid: i32,
        /// What it was.
        what: String,
    },
}

fn tail_suffix(output: &str) -> String {
    if output.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", output.trim())
    }
}

/// The last `lines` lines of `text`, at most 1 KiB, for error messages.
pub(crate) fn tail(text: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(text);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = all.len().saturating_sub(lines);
    let mut out = all[start..].join(" | ");
    if out.len() > 1024 {
        let mut cut = out.len() - 1024;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = format!("...{}", &out[cut..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_keep_the_last_lines() {
        for (text, n, want) in [
            ("a\nb\nc\n", 2, "b | c"),
            ("a\n\n\nb\n", 5, "a | b"),
            ("", 3, ""),
            ("only", 1, "only"),
        ] {
            assert_eq!(tail(text.as_bytes(), n), want, "{text:?}");
        }
        let long = "é".repeat(2000);
        let t = tail(long.as_bytes(), 1);
        assert!(t.starts_with("...") && t.len() <= 1024 + 5, "{}", t.len());
    }
}
