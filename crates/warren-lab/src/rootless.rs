//! Rootless labs: a non-root user runs the same labs, inside a user namespace of their own.
//!
//! The first `warren lab` command of a user starts a *keeper* (`warren __lab-keeper`, see
//! [`keeper_main`]): a small process in new user, mount and network namespaces, the user
//! mapped to root inside (a single mapping, no `newuidmap`), with a private tmpfs on `/run`
//! (so `/run/netns` and `/run/warren` are its own) and a network namespace that is the lab's
//! "host". Its PID and start time go to `$XDG_RUNTIME_DIR/warren/keeper.pid` (else
//! `~/.local/state/warren/keeper.pid`). Every `warren lab` command of that user then joins the
//! keeper's user, mount and network namespaces first thing ([`enter_if_needed`]) and runs as
//! root there; warren's state directory inside is `~/.local/state/warren`.
//!
//! The keeper exits once no lab is left — no named namespace in its `/run/netns`, no lab
//! runtime directory — and no command is using it (each holds a shared lock on
//! `/run/warren/keeper.lock` inside while it runs).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use warren_kernel::process::{is_alive, start_time};
use warren_kernel::userns::{self, HeldLock};

/// The lock every command inside the keeper holds (shared) while it runs.
pub const USERS_LOCK: &str = "/run/warren/keeper.lock";
/// Environment variable naming the state directory the keeper points warren at.
const ENV_KEEPER_STATE: &str = "WARREN_KEEPER_STATE";
/// How often the keeper looks for labs.
const KEEPER_POLL: Duration = Duration::from_millis(500);
/// The keeper never exits in its first seconds (its first user is still arriving).
const KEEPER_MIN_LIFE: Duration = Duration::from_secs(3);

/// What went wrong entering or running the keeper.
#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    /// A file of the keeper (pid file, its directory, the log).
    #[error("rootless labs: {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No place for the keeper's pid file.
    #[error("rootless labs: neither XDG_RUNTIME_DIR nor HOME is set")]
    NoHome,
    /// The keeper could not be started or did not come up.
    #[error(
        "rootless labs: the keeper did not start: {reason} (is user namespace creation allowed? see /proc/sys/user/max_user_namespaces)"
    )]
    KeeperFailed {
        /// What happened.
        reason: String,
    },
    /// Joining the keeper's namespaces failed.
    #[error("rootless labs: joining keeper {pid}: {source}")]
    Join {
        /// The keeper's PID.
        pid: i32,
        /// The cause.
        #[source]
        source: Box<warren_kernel::Error>,
    },
}

/// The keeper this process joined.
#[derive(Debug)]
pub struct KeeperInfo {
    /// Its PID (in the caller's PID namespace).
    pub pid: i32,
    /// True when this call started it.
    pub started: bool,
    /// Held while this process runs: the keeper does not exit under a running command.
    _users: Option<HeldLock>,
}

/// Where the keeper's pid file lives: `$XDG_RUNTIME_DIR/warren`, else
/// `~/.local/state/warren`.
pub fn keeper_dir() -> Result<PathBuf, RootlessError> {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("warren"));
    }
    state_dir()
}

/// warren's state directory for a rootless user: `$XDG_STATE_HOME/warren`, else
/// `~/.local/state/warren`.
fn state_dir() -> Result<PathBuf, RootlessError> {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("warren"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(RootlessError::NoHome)?;
    Ok(PathBuf::from(home).join(".local/state/warren"))
}

/// For a non-root caller, join (starting it if needed) the user's keeper, so the rest of the
/// command runs as root in the keeper's namespaces; `None` for root (nothing to do).
///
/// Must be called first thing in `main`, while the process is single-threaded (the kernel
/// refuses to move a multithreaded process into a user namespace). The keeper is this
/// executable's `__lab-keeper`.
pub fn enter_if_needed() -> Result<Option<KeeperInfo>, RootlessError> {
    let exe = std::env::current_exe().map_err(|source| RootlessError::Io {
        op: "find",
        path: "/proc/self/exe".into(),
        source,
    })?;
    enter_with(&[exe.into_os_string(), "__lab-keeper".into()])
}

/// [`enter_if_needed`] with the keeper's command line given (program and arguments).
pub fn enter_with(keeper: &[std::ffi::OsString]) -> Result<Option<KeeperInfo>, RootlessError> {
    if userns::euid() == 0 {
        return Ok(None);
    }
    let dir = keeper_dir()?;
    let io = |op, path: &Path, source| RootlessError::Io {
        op,
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(|e| io("create directory", &dir, e))?;
    let pid_file = dir.join("keeper.pid");
    // One command at a time decides whether to start a keeper.
    let start_lock =
        userns::lock(&dir.join("keeper.start.lock"), true, true).map_err(|source| {
            RootlessError::Join {
                pid: 0,
                source: Box::new(source),
            }
        })?;
    let (pid, started) = match live_keeper(&pid_file) {
        Some(pid) => (pid, false),
        None => (spawn_keeper(keeper, &dir, &pid_file)?, true),
    };
    userns::join(pid).map_err(|source| RootlessError::Join {
        pid,
        source: Box::new(source),
    })?;
    drop(start_lock);
    let users =
        userns::lock(Path::new(USERS_LOCK), false, true).map_err(|source| RootlessError::Join {
            pid,
            source: Box::new(source),
        })?;
    Ok(Some(KeeperInfo {
        pid,
        started,
        _users: users,
    }))
}

/// The keeper named in the pid file, if it still runs.
fn live_keeper(pid_file: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pid_file).ok()?;
    let mut words = text.split_whitespace();
    let pid: i32 = words.next()?.parse().ok()?;
    let start: u64 = words.next()?.parse().ok()?;
    is_alive(pid, start).then_some(pid)
}

/// Start a keeper and wait for its `ready` line; record its pid.
fn spawn_keeper(
    keeper: &[std::ffi::OsString],
    dir: &Path,
    pid_file: &Path,
) -> Result<i32, RootlessError> {
    let failed = |reason: String| RootlessError::KeeperFailed { reason };
    let (program, args) = keeper
        .split_first()
        .ok_or_else(|| failed("no keeper program".into()))?;
    let log_path = dir.join("keeper.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| RootlessError::Io {
            op: "open",
            path: log_path.clone(),
            source,
        })?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env(ENV_KEEPER_STATE, state_dir()?)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .process_group(0);
    warren_kernel::sandbox::isolate(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(format!("{}: {e}", Path::new(program).display())))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if line.trim() != "ready" {
        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
        return Err(failed(format!(
            "it exited ({status}); see {}",
            log_path.display()
        )));
    }
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let start = start_time(pid).unwrap_or(0);
    let tmp = pid_file.with_extension("tmp");
    std::fs::write(&tmp, format!("{pid} {start}\n"))
        .and_then(|()| std::fs::rename(&tmp, pid_file))
        .map_err(|source| RootlessError::Io {
            op: "write",
            path: pid_file.to_owned(),
            source,
        })?;
    Ok(pid)
}

/// The keeper's body (`warren __lab-keeper`): it was started in new user, network and mount
/// namespaces; it makes `/run` its own, points warren's state at the user's directory, says
/// `ready` on stdout, then waits until no lab and no command is left, and exits.
pub fn keeper_main() -> i32 {
    if let Err(e) = warren_kernel::sandbox::setup_mounts() {
        eprintln!("warren: keeper: {e}");
        return 1;
    }
    if let Some(state) = std::env::var_os(ENV_KEEPER_STATE) {
        let _ = std::fs::create_dir_all(&state);
        let _ = std::fs::write(
            "/run/warren/state-dir",
            Path::new(&state).as_os_str().as_encoded_bytes(),
        );
    }
    if let Err(e) = warren_kernel::Handle::current().and_then(|h| h.link_set_up("lo")) {
        eprintln!("warren: keeper: lo up: {e}");
    }
    println!("ready");
    drop(std::io::Write::flush(&mut std::io::stdout()));
    // Nobody reads stdout any more: a later print must not kill us with SIGPIPE.
    let born = Instant::now();
    let mut idle_rounds = 0;
    loop {
        std::thread::sleep(KEEPER_POLL);
        if idle() {
            idle_rounds += 1;
        } else {
            idle_rounds = 0;
        }
        if idle_rounds >= 2 && born.elapsed() >= KEEPER_MIN_LIFE {
            return 0;
        }
    }
}

/// No named namespace, no lab runtime directory, no command holding the users' lock.
fn idle() -> bool {
    let empty = |dir: &str| std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
    empty("/run/netns")
        && empty("/run/warren/labs")
        && matches!(
            userns::lock(Path::new(USERS_LOCK), true, false),
            Ok(Some(_))
        )
}
