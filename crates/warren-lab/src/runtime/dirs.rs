//! Where a lab's runtime keeps things: node files and supervisor/daemon records under the
//! runtime directory (`/run/warren/labs/LAB/`, gone after a reboot, as the processes are),
//! daemon logs under the state directory (`STATE/labs/LAB/NODE.DAEMON.log`, kept after
//! `down` for a post-mortem).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// warren's runtime directory.
pub const RUN_DIR: &str = "/run/warren";
/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/warren";

/// The directories of a lab runtime, and how to start a supervisor.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// Runtime directory (`/run/warren`).
    pub run: PathBuf,
    /// Persistent state directory (logs go under `labs/`).
    pub state: PathBuf,
    /// The program and leading arguments that start a supervisor: `[warren,
    /// "__lab-supervise"]` by default (this executable). The request is passed in the
    /// environment ([`super::ENV_SUPERVISE`]).
    pub supervisor: Vec<OsString>,
}

impl Dirs {
    /// The directories as warren's engine finds them: `$WARREN_STATE_DIR`, else the directory
    /// named in `/run/warren/state-dir` (the test sandbox and the rootless keeper write it),
    /// else `/var/lib/warren`; the supervisor is this executable's `__lab-supervise`.
    pub fn discover() -> Dirs {
        let state = std::env::var_os("WARREN_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::fs::read_to_string(Path::new(RUN_DIR).join("state-dir"))
                    .ok()
                    .map(|s| PathBuf::from(s.trim()))
                    .filter(|p| p.is_absolute())
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        let exe = std::env::current_exe()
            .map(PathBuf::into_os_string)
            .unwrap_or_else(|_| "warren".into());
        Dirs {
            run: PathBuf::from(RUN_DIR),
            state,
            supervisor: vec![exe, "__lab-supervise".into()],
        }
    }

    /// `RUN/labs/LAB`: the lab's runtime files.
    pub fn lab_run(&self, lab: &str) -> PathBuf {
        self.run.join("labs").join(lab)
    }

    /// `RUN/labs/LAB/NODE/etc`: the node's files, laid over `/etc` inside the node.
    pub fn node_etc(&self, lab: &str, node: &str) -> PathBuf {
        self.lab_run(lab).join(node).join("etc")
    }

    /// `STATE/labs/LAB`: the lab's logs.
    pub fn lab_logs(&self, lab: &str) -> PathBuf {
        self.state.join("labs").join(lab)
    }

    /// `STATE/labs/LAB/NODE.DAEMON.log`: one daemon's stdout and stderr.
    pub fn daemon_log(&self, lab: &str, node: &str, daemon: &str) -> PathBuf {
        self.lab_logs(lab).join(format!("{node}.{daemon}.log"))
    }

    /// `STATE/labs/LAB/NODE.exec.log`: the output of a node's `exec` commands.
    pub fn exec_log(&self, lab: &str, node: &str) -> PathBuf {
        self.lab_logs(lab).join(format!("{node}.exec.log"))
    }
}

/// Why a name cannot be one component of a path, if it cannot.
pub(crate) fn bad_component(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name == "." || name == ".." {
        Some("is . or ..")
    } else if name.contains('/') || name.contains('\0') {
        Some("contains '/' or NUL")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_one_component() {
        for (name, ok) in [
            ("r1", true),
            ("bird", true),
            ("", false),
            ("..", false),
            ("a/b", false),
            ("a\0", false),
        ] {
            assert_eq!(bad_component(name).is_none(), ok, "{name:?}");
        }
    }

    #[test]
    fn paths_are_under_the_lab() {
        let d = Dirs {
            run: "/run/warren".into(),
            state: "/var/lib/warren".into(),
            supervisor: vec![],
        };
        assert_eq!(
            d.node_etc("lab", "r1"),
            PathBuf::from("/run/warren/labs/lab/r1/etc")
        );
        assert_eq!(
            d.daemon_log("lab", "r1", "bird"),
            PathBuf::from("/var/lib/warren/labs/lab/r1.bird.log")
        );
    }
}
