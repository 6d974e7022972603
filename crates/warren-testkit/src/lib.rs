//! Hermetic kernel tests for warren.
//!
//! Every test body runs in a sandbox of its own: the test binary re-executes itself for just
//! that test, in fresh user (root inside), network and mount namespaces, with a private tmpfs
//! over `/run` (so `/run/netns`, `/run/warren` and the state directory are its own) and a sysfs
//! for its namespace. Tests therefore run in parallel, leave nothing on the host, and run as a
//! non-root user where unprivileged user namespaces are allowed.
//!
//! ```no_run
//! warren_testkit::sandbox_test! {
//!     fn loopback_is_there() {
//!         let h = warren_kernel::Handle::current().unwrap();
//!         let _ = h;
//!     }
//! }
//! ```
//!
//! Skips print their reason. With `WARREN_STRICT_SKIPS=1` (set by CI) every skip whose reason
//! is not "kernel lacks …" fails the test instead.

pub mod cli;
pub mod net;
pub mod oracle;

use std::io::Write;
use std::process::{Command, Stdio};

/// Environment variable naming the test that a re-executed binary should run sandboxed.
pub const ENV_SANDBOX: &str = "WARREN_TEST_SANDBOX";
/// Environment variable that turns skips (other than "kernel lacks") into failures.
pub const ENV_STRICT: &str = "WARREN_STRICT_SKIPS";
/// Where warren keeps persistent state inside a sandbox.
pub const STATE_DIR: &str = "/run/warren-state";

/// Define a `#[test]` whose body runs in its own sandbox.
#[macro_export]
macro_rules! sandbox_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            $crate::run_sandboxed(module_path!(), stringify!($name), || $body);
        }
    };
}

/// Run `body` in a sandbox: in the re-executed child, run it; in the parent, re-execute this
/// test alone in a sandbox and fail if it failed. `module` is `module_path!()`.
pub fn run_sandboxed(module: &str, name: &str, body: impl FnOnce()) {
    let test = match module.split_once("::") {
        Some((_, rest)) => format!("{rest}::{name}"),
        None => name.to_owned(),
    };
    if std::env::var(ENV_SANDBOX).as_deref() == Ok(test.as_str()) {
        if let Err(e) = warren_kernel::sandbox::setup_mounts() {
            panic!("sandbox setup failed: {e}");
        }
        // SAFETY-free and per-process: point warren's state into the sandbox's tmpfs.
        set_sandbox_env();
        let _reaper = Reaper;
        body();
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV_SANDBOX, &test)
        .stdin(Stdio::null());
    warren_kernel::sandbox::isolate(&mut cmd);
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e)
            if e.kind() == std::io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(22) =>
        {
            let reason = format!(
                "cannot create a user namespace here ({e}): unprivileged user namespaces are not allowed"
            );
            skip(&reason);
            let _ = writeln!(std::io::stderr().lock(), "{test}: SKIP: {reason}");
            return;
        }
        Err(e) => panic!("cannot start the sandbox for {test}: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Relay what the child printed, minus libtest's own chatter.
    for line in stdout.lines().chain(stderr.lines()) {
        if line.starts_with("running ")
            || line.starts_with("test result:")
            || line.trim().is_empty()
        {
            continue;
        }
        if line.starts_with("test ") && (line.ends_with(" ... ok") || line.ends_with("... ")) {
            continue;
        }
        if line.starts_with("SKIP:") {
            // Skips must be seen even when the test passes: write past libtest's capture.
            let _ = writeln!(std::io::stderr().lock(), "{test}: {line}");
        } else {
            eprintln!("{line}");
        }
    }
    if !stdout.contains("1 passed") || !out.status.success() {
        panic!("sandboxed test {test} failed ({})", out.status);
    }
}

/// Kills, when dropped (also while a test panics), every other process of the sandbox's
/// user namespace: detached containers, their supervisors, the DNS server. Nothing a test
/// started outlives it.
struct Reaper;

impl Drop for Reaper {
    fn drop(&mut self) {
        reap_sandbox();
    }
}

/// Kill every process in this process's user namespace except itself (the sandbox's own
/// namespace: nothing outside the test is in it). Returns how many were signalled.
pub fn reap_sandbox() -> usize {
    let Ok(me) = std::fs::read_link("/proc/self/ns/user") else {
        return 0;
    };
    let own = std::process::id();
    let mut n = 0;
    // Twice: a supervisor killed in the first round may have started nothing new, but a
    // process forked meanwhile is caught by the second.
    for _ in 0..2 {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return n;
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid as u32 == own {
                continue;
            }
            if std::fs::read_link(format!("/proc/{pid}/ns/user")).is_ok_and(|u| u == me) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                n += 1;
            }
        }
    }
    n
}

fn set_sandbox_env() {
    // The sandbox's child is a fresh process: setting its environment once, before any thread
    // of the test body runs, is sound. `set_var` is unsafe in edition 2024, so we avoid it and
    // let warren read the state dir from a file instead.
    let _ = std::fs::write("/run/warren/state-dir", STATE_DIR);
}

/// Skip the rest of a test, saying why. Under `WARREN_STRICT_SKIPS=1` only "kernel lacks …"
/// reasons are allowed; any other skip fails.
pub fn skip(reason: &str) {
    let strict = std::env::var(ENV_STRICT).is_ok_and(|v| v == "1" || v == "true");
    if strict && !reason.starts_with("kernel lacks") {
        panic!("skip not allowed under {ENV_STRICT}=1: {reason}");
    }
    eprintln!("SKIP: {reason}");
}

/// Run a program (an oracle such as `ip -j`), returning stdout; panic with its stderr if it
/// fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Path to a binary built by this workspace (e.g. `warren`), next to the test binary's
/// directory (`target/debug/warren`).
pub fn bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    dir.join(name)
}
