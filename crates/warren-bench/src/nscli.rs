//! `wiring`, part (b): the command-line tools alone. `warren ns add|delete` against
//! `ip netns add|delete`, once as one process per name and once as one call for all names.

use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The contenders of part (b), in the order they run.
pub const CONTENDERS: &[&str] = &["ip-each", "warren-each", "ip-batch", "warren-bulk"];

/// Names under `/run/netns` that are live namespace mounts (nsfs inodes).
pub fn live_named_namespaces() -> Result<Vec<String>, String> {
    let nsfs = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| format!("stat /proc/thread-self/ns/net: {e}"))?
        .dev();
    let dir = match std::fs::read_dir("/run/netns") {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("read /run/netns: {e}")),
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        if std::fs::metadata(e.path()).is_ok_and(|m| m.dev() == nsfs) {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(out)
}

/// Name of namespace `i` in part (b).
pub fn name(i: usize) -> String {
    format!("p{i}")
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let out = out.map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("{cmd:?}: {}: {}", out.status, err.trim()))
    }
}

fn run_batch(text: &str) -> Result<(), String> {
    let mut child = Command::new("ip")
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("ip -batch: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("ip -batch stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ip -batch: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip -batch: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A timed step: add or delete every name.
type Step<'a> = Box<dyn Fn() -> Result<(), String> + 'a>;

/// One timed run of a part (b) contender: (add time, delete time, description).
pub fn measure(
    contender: &str,
    n: usize,
    warren: &str,
) -> Result<(Duration, Duration, String), String> {
    let names: Vec<String> = (0..n).map(name).collect();
    let (add, delete, what): (Step<'_>, Step<'_>, String) = match contender {
        "ip-each" => (
            Box::new(|| {
                names
                    .iter()
                    .try_for_each(|nm| run(Command::new("ip").args(["netns", "add", nm])))
            }),
            Box::new(|| {
                names
                    .iter()
                    .try_for_each(|nm| run(Command::new("ip").args(["netns", "delete", nm])))
            }),
            format!("{n} processes `ip netns add NAME`, then {n} `ip netns delete NAME`"),
        ),
        "warren-each" => (
            Box::new(|| {
                names
                    .iter()
                    .try_for_each(|nm| run(Command::new(warren).args(["ns", "add", nm])))
            }),
            Box::new(|| {
                names
                    .iter()
                    .try_for_each(|nm| run(Command::new(warren).args(["ns", "delete", nm])))
            }),
            format!("{n} processes `warren ns add NAME`, then {n} `warren ns delete NAME`"),
        ),
        "ip-batch" => {
            let add_text: String = names.iter().map(|nm| format!("netns add {nm}\n")).collect();
            let del_text: String = names
                .iter()
                .map(|nm| format!("netns delete {nm}\n"))
                .collect();
            (
                Box::new(move || run_batch(&add_text)),
                Box::new(move || run_batch(&del_text)),
                format!(
                    "one `ip -batch -` of {n} `netns add NAME` lines, then one of {n} `netns delete NAME`"
                ),
            )
        }
        "warren-bulk" => {
            let count = n.to_string();
            (
                Box::new(move || {
                    run(Command::new(warren)
                        .args(["ns", "add", "--count", &count, "--prefix", "p"]))
                }),
                Box::new(|| run(Command::new(warren).args(["ns", "delete", "--all"]))),
                format!(
                    "one `warren ns add --count {n} --prefix p`, then one `warren ns delete --all`"
                ),
            )
        }
        other => return Err(format!("unknown ns contender {other:?}")),
    };
    let t = Instant::now();
    add()?;
    let up = t.elapsed();
    let live = live_named_namespaces()?;
    if live.len() != n {
        return Err(format!(
            "after add: {} live namespaces under /run/netns, expected {n}",
            live.len()
        ));
    }
    let t = Instant::now();
    delete()?;
    let down = t.elapsed();
    let left = live_named_namespaces()?;
    let files = std::fs::read_dir(Path::new("/run/netns"))
        .map(|d| d.count())
        .unwrap_or(0);
    if !left.is_empty() || files != 0 {
        return Err(format!(
            "after delete: {} live namespaces and {files} files left",
            left.len()
        ));
    }
    Ok((up, down, what))
}
