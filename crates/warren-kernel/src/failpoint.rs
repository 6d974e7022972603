//! Named points of a run, for tests and measurement, shared by the engine and labs.
//!
//! - `WARREN_FAILPOINT=NAME`: the process kills itself with SIGKILL at point `NAME` ([`hit`]),
//!   as a crash would (tests prove that `warren gc` and `lab down` clean up after it).
//! - `WARREN_TIMING=1`: each point prints to stderr the time since the process's first point
//!   and the `CLOCK_MONOTONIC` time, which lines up with the caller's own clock (e.g. when it
//!   started the process): where a run spends its time.

use std::sync::OnceLock;
use std::time::Instant;

/// A point that is also a test hook: print its time ([`timing`]), and die here if
/// `WARREN_FAILPOINT` names it.
pub fn hit(name: &str) {
    timing(name);
    if std::env::var("WARREN_FAILPOINT").is_ok_and(|v| v == name) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// With `WARREN_TIMING` set, print `warren timing: NAME at T ms mono M` to stderr.
pub fn timing(name: &str) {
    static FIRST: OnceLock<Instant> = OnceLock::new();
    if std::env::var_os("WARREN_TIMING").is_none() {
        return;
    }
    let since = FIRST.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0;
    let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as f64 * 1000.0 + t.tv_nsec() as f64 / 1e6)
        .unwrap_or(0.0);
    eprintln!("warren timing: {name} at {since:.3} ms mono {mono:.3}");
}
