//! Each contender runs in a private sandbox: this program re-executed in fresh user (root
//! inside), network and mount namespaces with a private tmpfs on `/run` (see
//! `warren_kernel::sandbox`). Nothing it does is visible from the host's namespaces.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run `warren-bench child ARGS...` in a fresh sandbox and return the one JSON document it
/// prints on stdout. Its stderr goes to ours.
///
/// The result gains `cpu_steal_pct`: the share of the machine's CPU time the hypervisor took
/// for other guests while the child ran (from `/proc/stat`). Figures measured under a high
/// steal are noisy, whichever contender they belong to.
pub fn run_child(args: &[String]) -> Result<serde_json::Value, String> {
    let before = (std::time::Instant::now(), steal_ticks());
    let mut r = run_child_inner(args)?;
    if let (Some(b), Some(a)) = (before.1, steal_ticks())
        && let Some(obj) = r.as_object_mut()
    {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        // USER_HZ is 100 on every Linux ABI.
        let possible = before.0.elapsed().as_secs_f64() * 100.0 * cpus;
        if possible > 0.0 {
            let pct = (a.saturating_sub(b)) as f64 / possible * 100.0;
            obj.insert(
                "cpu_steal_pct".into(),
                serde_json::json!((pct * 10.0).round() / 10.0),
            );
        }
    }
    Ok(r)
}

/// The machine's total steal time so far, in USER_HZ ticks (the 8th value of `cpu` in
/// `/proc/stat`).
pub fn steal_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().next()?.split_whitespace().nth(8)?.parse().ok()
}

fn run_child_inner(args: &[String]) -> Result<serde_json::Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("child")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    warren_kernel::sandbox::isolate(&mut cmd);
    let out = cmd
        .output()
        .map_err(|e| format!("spawning the sandbox: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    match serde_json::from_str::<serde_json::Value>(last) {
        Ok(v) => Ok(v),
        Err(_) => Err(format!(
            "sandboxed contender exited with {} and printed no result",
            out.status
        )),
    }
}

/// Called first thing in the sandboxed child.
pub fn enter_child() -> Result<(), String> {
    warren_kernel::sandbox::setup_mounts().map_err(|e| format!("sandbox mounts: {e}"))
}

/// Number of live network namespaces on the machine as the `net_namespace` slab cache counts
/// them (approximate: SLUB counts objects of per-CPU slabs as active). `None` if unreadable.
pub fn netns_slab_active() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/slabinfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("net_namespace "))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Wait until the kernel has finished destroying the namespaces of the previous contender
/// (their cleanup runs asynchronously and would slow the next one down): until the slab count
/// is back near `baseline`, or has stopped falling for 3 s (on 6.18 freed objects may sit in
/// per-CPU sheaves and still count as active; other work on the machine may hold namespaces
/// too), or `limit` passes. Returns how long it waited.
pub fn wait_netns_freed(baseline: Option<u64>, limit: Duration) -> Duration {
    let start = Instant::now();
    let Some(base) = baseline else {
        std::thread::sleep(Duration::from_secs(2));
        return start.elapsed();
    };
    let (mut last, mut since) = (u64::MAX, Instant::now());
    while start.elapsed() < limit {
        let Some(n) = netns_slab_active() else { break };
        if n <= base + 64 {
            break;
        }
        if n < last {
            (last, since) = (n, Instant::now());
        } else if since.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}
