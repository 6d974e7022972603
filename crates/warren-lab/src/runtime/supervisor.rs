//! The supervisor: one process per [`start`] call that runs the nodes' commands, starts their
//! daemons, waits for readiness, then stays their parent — reaping them, recording how they
//! exited — and, as the child subreaper, the parent of whatever they leave behind, so
//! [`stop`] finds every process by walking the supervisor's descendants.
//!
//! Records live under `RUN/labs/LAB/`: `supervisors/PID.json` (pid and start time of each
//! supervisor), `daemons/NODE.DAEMON.json` (pid, start time, exit status once reaped).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use warren_kernel::process::{descendants, is_alive, signal_if_same, start_time};

use super::dirs::bad_component;
use super::spawn::{NodeCtx, shell_code, show};
use super::{Dirs, ENV_SUPERVISE, RuntimeError, levels, tail};
use crate::model::{Daemon, Lab, Node};

/// How long daemons get between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);
/// Readiness timeout used when a daemon's is 0.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two runs of a `ready` command.
const READY_INTERVAL: Duration = Duration::from_millis(100);

/// What [`start`] hands to the supervisor (a JSON file named in [`ENV_SUPERVISE`]).
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    lab: String,
    lab_file: PathBuf,
    nodes: Vec<String>,
    run: PathBuf,
    state: PathBuf,
    report: PathBuf,
}

/// What the supervisor answers once every command ran and every daemon is ready.
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SupervisorRecord {
    pid: i32,
    start_time: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DaemonRecord {
    node: String,
    daemon: String,
    pid: i32,
    start_time: u64,
    supervisor: i32,
    exit: Option<i32>,
    log: PathBuf,
}

/// How a daemon is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "status")]
pub enum DaemonState {
    /// Running.
    Running,
    /// Exited with this status (128 + signal when killed); daemons are not restarted.
    Exited(i32),
    /// Gone without its supervisor seeing it end (the supervisor was killed).
    Lost,
}

/// One daemon of a lab, as [`status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonStatus {
    /// Its node.
    pub node: String,
    /// Its name.
    pub daemon: String,
    /// Its PID (in warren's PID namespace).
    pub pid: i32,
    /// Running or how it ended.
    #[serde(flatten)]
    pub state: DaemonState,
    /// Its log file (stdout and stderr).
    pub log: PathBuf,
}

fn io_err(lab: &str, op: &'static str, path: &Path, source: std::io::Error) -> RuntimeError {
    RuntimeError::Io {
        lab: lab.to_owned(),
        op,
        path: path.to_owned(),
        source,
    }
}

/// Write `value` as JSON to `path` atomically (temporary file + rename).
fn write_json<T: Serialize>(lab: &str, path: &Path, value: &T) -> Result<(), RuntimeError> {
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_vec(value).map_err(|e| io_err(lab, "encode", path, e.into()))?;
    std::fs::write(&tmp, text).map_err(|e| io_err(lab, "write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(lab, "rename", path, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn records<T: for<'de> Deserialize<'de>>(dir: &Path) -> Vec<(PathBuf, T)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, T)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| read_json(&p).map(|r| (p, r)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Check every name that becomes a path component.
fn check_names(lab: &Lab, nodes: &[&Node]) -> Result<(), RuntimeError> {
    let invalid = |node: &str, what, value: &str, reason| RuntimeError::Invalid {
        lab: lab.name.clone(),
        node: node.to_owned(),
        what,
        value: value.to_owned(),
        reason,
    };
    if let Some(r) = bad_component(&lab.name) {
        return Err(invalid("-", "lab name", &lab.name, r));
    }
    for n in nodes {
        if let Some(r) = bad_component(&n.name) {
            return Err(invalid(&n.name, "node name", &n.name, r));
        }
        for d in &n.daemons {
            if let Some(r) = bad_component(&d.name) {
                return Err(invalid(&n.name, "daemon name", &d.name, r));
            }
            if d.command.argv.is_empty() {
                return Err(invalid(&n.name, "daemon command", &d.name, "is empty"));
            }
        }
        if n.exec.iter().any(|c| c.argv.is_empty()) {
            return Err(invalid(&n.name, "exec command", "", "is empty"));
        }
    }
    Ok(())
}

/// Run the `exec` commands and start the daemons of `nodes` (names of `lab`'s nodes), in
/// `after` order, the nodes of one level in parallel; returns once every command succeeded
/// and every daemon is ready. The nodes must be wired and their files prepared.
///
/// On failure (a command's non-zero exit, a daemon not ready in time or exiting first),
/// everything this call started is stopped again and the error names the node, the command
/// or daemon, its status and the tail of its output.
pub fn start(lab: &Lab, nodes: &[&str], dirs: &Dirs) -> Result<(), RuntimeError> {
    let mut selected = Vec::with_capacity(nodes.len());
    for name in nodes {
        selected.push(lab.node(name).ok_or_else(|| RuntimeError::NoSuchNode {
            lab: lab.name.clone(),
            node: (*name).to_owned(),
        })?);
    }
    check_names(lab, &selected)?;
    if selected
        .iter()
        .all(|n| n.exec.is_empty() && n.daemons.is_empty())
    {
        return Ok(());
    }
    let name = lab.name.as_str();
    let run = dirs.lab_run(name);
    let logs = dirs.lab_logs(name);
    for dir in [&run, &run.join("supervisors"), &run.join("daemons"), &logs] {
        std::fs::create_dir_all(dir).map_err(|e| io_err(name, "create directory", dir, e))?;
    }
    let lab_file = run.join("lab.json");
    write_json(name, &lab_file, lab)?;
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let request_file = run.join(format!("start-{nonce}.json"));
    let report = run.join(format!("report-{nonce}.json"));
    let request = Request {
        lab: lab.name.clone(),
        lab_file,
        nodes: selected.iter().map(|n| n.name.clone()).collect(),
        run: dirs.run.clone(),
        state: dirs.state.clone(),
        report: report.clone(),
    };
    write_json(name, &request_file, &request)?;
    let result = spawn_and_wait(name, dirs, &request_file, &report);
    let _ = std::fs::remove_file(&request_file);
    let _ = std::fs::remove_file(&report);
    result
}

/// Start a supervisor for the request and wait for its report.
fn spawn_and_wait(
    lab: &str,
    dirs: &Dirs,
    request_file: &Path,
    report: &Path,
) -> Result<(), RuntimeError> {
    let (program, args) = dirs
        .supervisor
        .split_first()
        .ok_or_else(|| RuntimeError::Start {
            lab: lab.to_owned(),
            reason: "no supervisor program configured".into(),
        })?;
    let log_path = dirs.lab_logs(lab).join("supervisor.log");
    let (log, log2) = log_pair(lab, &log_path)?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env(ENV_SUPERVISE, request_file)
        .env_remove("WARREN_TEST_SANDBOX")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: a terminal's Ctrl-C meant for the CLI does not reach it.
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| io_err(lab, "start supervisor", Path::new(program), e))?;
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let record = SupervisorRecord {
        pid,
        start_time: start_time(pid).unwrap_or(0),
    };
    let record_path = dirs
        .lab_run(lab)
        .join("supervisors")
        .join(format!("{pid}.json"));
    write_json(lab, &record_path, &record)?;
    let outcome = loop {
        if let Some(r) = read_json::<Report>(report) {
            break r.error;
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                break read_json::<Report>(report).map_or_else(
                    || {
                        Some(format!(
                            "supervisor exited with status {} before reporting (log: {})",
                            shell_code(status),
                            log_path.display()
                        ))
                    },
                    |r| r.error,
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Some(format!("cannot wait for the supervisor: {e}")),
        }
    };
    match outcome {
        None => Ok(()),
        Some(reason) => {
            // The supervisor stops what it started before reporting; make sure of it.
            let _ = stop_supervisor(lab, &record);
            let _ = child.try_wait();
            let _ = std::fs::remove_file(&record_path);
            for (path, rec) in records::<DaemonRecord>(&dirs.lab_run(lab).join("daemons")) {
                if rec.supervisor == pid {
                    let _ = std::fs::remove_file(path);
                }
            }
            Err(RuntimeError::Start {
                lab: lab.to_owned(),
                reason,
            })
        }
    }
}

/// The supervisor's body: `warren __lab-supervise` calls this first thing and exits with its
/// result. Reads the request named in [`ENV_SUPERVISE`], starts the nodes, reports, then reaps
/// its children until it is killed by [`stop`].
pub fn supervise_main() -> i32 {
    let Some(request_file) = std::env::var_os(ENV_SUPERVISE) else {
        eprintln!("warren: {ENV_SUPERVISE} is not set: this command is started by `warren lab up`");
        return 2;
    };
    let request: Option<Request> = read_json(Path::new(&request_file));
    let Some(request) = request else {
        eprintln!("warren: cannot read the supervisor request {request_file:?}");
        return 2;
    };
    let lab: Option<Lab> = read_json(&request.lab_file);
    let Some(lab) = lab else {
        eprintln!("warren: cannot read the lab {}", request.lab_file.display());
        return 2;
    };
    let dirs = Dirs {
        run: request.run.clone(),
        state: request.state.clone(),
        supervisor: Vec::new(),
    };
    let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    let started = warren_kernel::process::set_child_subreaper()
        .map_err(|source| RuntimeError::Kernel {
            lab: lab.name.clone(),
            node: "-".into(),
            source: Box::new(source),
        })
        .and_then(|()| run_start(&lab, &request.nodes, &dirs, me));
    let report = Report {
        error: started.as_ref().err().map(ToString::to_string),
    };
    if let Some(e) = &report.error {
        eprintln!("warren: {e}");
        kill_tree(&lab.name, me, STOP_GRACE);
    }
    if let Err(e) = write_json(&lab.name, &request.report, &report) {
        eprintln!("warren: {e}");
        return 1;
    }
    if report.error.is_some() {
        return 1;
    }
    reap_forever(&lab.name, &dirs)
}

/// Start every selected node, level by level.
fn run_start(lab: &Lab, nodes: &[String], dirs: &Dirs, me: i32) -> Result<(), RuntimeError> {
    let names: Vec<&str> = nodes.iter().map(String::as_str).collect();
    for level in levels(lab, &names) {
        let results: Vec<Result<(), RuntimeError>> = std::thread::scope(|s| {
            let handles: Vec<_> = level
                .iter()
                .filter_map(|name| lab.node(name))
                .map(|node| s.spawn(move || start_node(lab, node, dirs, me)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(RuntimeError::Start {
                            lab: lab.name.clone(),
                            reason: "a node's start panicked".into(),
                        })
                    })
                })
                .collect()
        });
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(e);
        }
    }
    Ok(())
}

/// One node: its commands in order, then its daemons one by one, each ready before the next.
fn start_node(lab: &Lab, node: &Node, dirs: &Dirs, me: i32) -> Result<(), RuntimeError> {
    let ctx = NodeCtx::open(lab, node, dirs)?;
    let exec_log = dirs.exec_log(&lab.name, &node.name);
    for command in &node.exec {
        let (status, stdout, stderr) = ctx.run_captured(&command.argv)?;
        append_log(&exec_log, &command.argv, status, &stdout, &stderr);
        if status != 0 {
            let output = if stderr.iter().all(u8::is_ascii_whitespace) {
                tail(&stdout, 5)
            } else {
                tail(&stderr, 5)
            };
            return Err(RuntimeError::CommandFailed {
                lab: lab.name.clone(),
                node: node.name.clone(),
                command: show(&command.argv),
                status,
                output,
            });
        }
    }
    for daemon in &node.daemons {
        start_daemon(&ctx, daemon, dirs, me)?;
    }
    Ok(())
}

fn append_log(path: &Path, argv: &[String], status: i32, stdout: &[u8], stderr: &[u8]) {
    use std::io::Write;
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "$ {}", show(argv));
        let _ = f.write_all(stdout);
        let _ = f.write_all(stderr);
        let _ = writeln!(f, "[exit {status}]");
    }
}

/// The log at `path` opened for appending, twice: a child's stdout and stderr.
fn log_pair(lab: &str, path: &Path) -> Result<(std::fs::File, std::fs::File), RuntimeError> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_err(lab, "open", path, e))?;
    let log2 = log.try_clone().map_err(|e| io_err(lab, "dup", path, e))?;
    Ok((log, log2))
}

fn start_daemon(ctx: &NodeCtx, daemon: &Daemon, dirs: &Dirs, me: i32) -> Result<(), RuntimeError> {
    let lab = &ctx.lab.name;
    let node = &ctx.node.name;
    let log_path = dirs.daemon_log(lab, node, &daemon.name);
    let (log, log2) = log_pair(lab, &log_path)?;
    let mut cmd = ctx.command(&daemon.command.argv);
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
    let mut child = ctx.spawn(&mut cmd, true)?;
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let record = DaemonRecord {
        node: node.clone(),
        daemon: daemon.name.clone(),
        pid,
        start_time: start_time(pid).unwrap_or(0),
        supervisor: me,
        exit: None,
        log: log_path.clone(),
    };
    let record_path = daemon_record_path(dirs, lab, node, &daemon.name);
    write_json(lab, &record_path, &record)?;
    let Some(ready) = &daemon.ready else {
        return Ok(());
    };
    let timeout = match daemon.ready_timeout_ms {
        0 => DEFAULT_READY_TIMEOUT,
        ms => Duration::from_millis(ms),
    };
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let status = shell_code(status);
            let mut done = record.clone();
            done.exit = Some(status);
            let _ = write_json(lab, &record_path, &done);
            return Err(RuntimeError::DaemonExited {
                lab: lab.clone(),
                node: node.clone(),
                daemon: daemon.name.clone(),
                status,
                output: tail(&std::fs::read(&log_path).unwrap_or_default(), 5),
                log: log_path,
            });
        }
        let last = match ctx.run_captured_until(&ready.argv, deadline) {
            Ok((Some(0), _, _)) => return Ok(()),
            Ok((None, _, _)) => format!("{} still running at the timeout", show(&ready.argv)),
            Ok((Some(status), stdout, stderr)) => {
                let mut both = stdout;
                both.extend_from_slice(&stderr);
                let said = tail(&both, 3);
                let head = format!("{} exited with status {status}", show(&ready.argv));
                if said.is_empty() {
                    head
                } else {
                    format!("{head}: {said}")
                }
            }
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(RuntimeError::NotReady {
                lab: lab.clone(),
                node: node.clone(),
                daemon: daemon.name.clone(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                output: last,
            });
        }
        std::thread::sleep(READY_INTERVAL);
    }
}

fn daemon_record_path(dirs: &Dirs, lab: &str, node: &str, daemon: &str) -> PathBuf {
    dirs.lab_run(lab)
        .join("daemons")
        .join(format!("{node}.{daemon}.json"))
}

/// After startup: reap every child (daemons and orphans handed to us), recording daemons'
/// exits. Runs until the process is killed.
fn reap_forever(lab: &str, dirs: &Dirs) -> i32 {
    let me = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    let mine: HashMap<i32, PathBuf> = records::<DaemonRecord>(&dirs.lab_run(lab).join("daemons"))
        .into_iter()
        .filter(|(_, r)| r.supervisor == me)
        .map(|(p, r)| (r.pid, p))
        .collect();
    loop {
        match warren_kernel::process::wait_any() {
            Ok(Some((pid, code))) => {
                if let Some(path) = mine.get(&pid)
                    && let Some(mut r) = read_json::<DaemonRecord>(path)
                {
                    r.exit = Some(code);
                    let _ = write_json(lab, path, &r);
                }
            }
            // No children left: none can appear any more; wait to be stopped.
            Ok(None) => std::thread::sleep(Duration::from_secs(3600)),
            Err(e) => {
                eprintln!("warren: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Signal every descendant of `root` with SIGTERM, then SIGKILL those left after `grace`,
/// until none is left. Returns the processes that survived SIGKILL for 2 more seconds.
fn kill_tree(lab: &str, root: i32, grace: Duration) -> Vec<RuntimeError> {
    kill_all(
        lab,
        &format!("descendant of supervisor {root}"),
        grace,
        || descendants(root),
    )
}

/// A daemon and its descendants.
fn kill_daemon(lab: &str, rec: &DaemonRecord, grace: Duration) -> Vec<RuntimeError> {
    let what = format!("daemon {} of node {} or its child", rec.daemon, rec.node);
    kill_all(lab, &what, grace, || {
        let mut procs = descendants(rec.pid);
        if is_alive(rec.pid, rec.start_time) {
            procs.insert(0, (rec.pid, rec.start_time));
        }
        procs
    })
}

/// SIGTERM every process `list` gives (asked again each round, so late forks are caught),
/// SIGKILL after `grace`, until the list is empty; what survives 2 more seconds is returned.
fn kill_all(
    lab: &str,
    what: &str,
    grace: Duration,
    list: impl Fn() -> Vec<(i32, u64)>,
) -> Vec<RuntimeError> {
    let start = Instant::now();
    let mut termed: Vec<(i32, u64)> = Vec::new();
    loop {
        let procs = list();
        if procs.is_empty() {
            return Vec::new();
        }
        let elapsed = start.elapsed();
        if elapsed > grace + Duration::from_secs(2) {
            return procs
                .into_iter()
                .map(|(pid, _)| RuntimeError::Survivor {
                    lab: lab.to_owned(),
                    pid,
                    what: what.to_owned(),
                })
                .collect();
        }
        for p in procs {
            if elapsed >= grace {
                let _ = signal_if_same(p.0, p.1, libc_sig::KILL);
            } else if !termed.contains(&p) {
                let _ = signal_if_same(p.0, p.1, libc_sig::TERM);
                termed.push(p);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Signal numbers (warren-lab has no libc of its own).
mod libc_sig {
    pub const TERM: i32 = 15;
    pub const KILL: i32 = 9;
}

/// Stop one supervisor: its descendants first, then itself.
fn stop_supervisor(lab: &str, rec: &SupervisorRecord) -> Vec<RuntimeError> {
    if !is_alive(rec.pid, rec.start_time) {
        return Vec::new();
    }
    let mut errors = kill_tree(lab, rec.pid, STOP_GRACE);
    let _ = signal_if_same(rec.pid, rec.start_time, libc_sig::KILL);
    let deadline = Instant::now() + Duration::from_secs(2);
    while is_alive(rec.pid, rec.start_time) {
        if Instant::now() > deadline {
            errors.push(RuntimeError::Survivor {
                lab: lab.to_owned(),
                pid: rec.pid,
                what: "supervisor".into(),
            });
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    errors
}

/// Stop every daemon of the lab and everything they forked (SIGTERM, SIGKILL after
/// [`STOP_GRACE`]), then the supervisors. Goes on past errors and returns them all; a lab with
/// nothing running is fine. Records are removed; logs are kept.
pub fn stop(lab_name: &str, dirs: &Dirs) -> Result<(), Vec<RuntimeError>> {
    if bad_component(lab_name).is_some() {
        return Ok(());
    }
    let run = dirs.lab_run(lab_name);
    let mut errors = Vec::new();
    for (path, rec) in records::<SupervisorRecord>(&run.join("supervisors")) {
        errors.extend(stop_supervisor(lab_name, &rec));
        let _ = std::fs::remove_file(path);
    }
    // A daemon whose supervisor was killed before us is no one's child: end it directly.
    for (path, rec) in records::<DaemonRecord>(&run.join("daemons")) {
        if rec.exit.is_none() {
            errors.extend(kill_daemon(lab_name, &rec, STOP_GRACE));
        }
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(run.join("lab.json"));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Stop the daemons of `nodes` only (before a re-apply starts those nodes again): each daemon
/// and what it forked (TERM, KILL after [`STOP_GRACE`]); their records go. Processes a daemon
/// left behind earlier (handed to the supervisor as orphans) are only ended by [`stop`].
pub fn stop_nodes(lab_name: &str, nodes: &[&str], dirs: &Dirs) -> Result<(), Vec<RuntimeError>> {
    if bad_component(lab_name).is_some() {
        return Ok(());
    }
    let mut errors = Vec::new();
    for (path, rec) in records::<DaemonRecord>(&dirs.lab_run(lab_name).join("daemons")) {
        if !nodes.contains(&rec.node.as_str()) {
            continue;
        }
        if rec.exit.is_none() {
            errors.extend(kill_daemon(lab_name, &rec, STOP_GRACE));
        }
        let _ = std::fs::remove_file(path);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The lab's daemons (of every start), in node and name order.
pub fn status(lab_name: &str, dirs: &Dirs) -> Vec<DaemonStatus> {
    if bad_component(lab_name).is_some() {
        return Vec::new();
    }
    records::<DaemonRecord>(&dirs.lab_run(lab_name).join("daemons"))
        .into_iter()
        .map(|(_, r)| DaemonStatus {
            state: match r.exit {
                Some(code) => DaemonState::Exited(code),
                None if is_alive(r.pid, r.start_time) => DaemonState::Running,
                None => DaemonState::Lost,
            },
            node: r.node,
            daemon: r.daemon,
            pid: r.pid,
            log: r.log,
        })
        .collect()
}
