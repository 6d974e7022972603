//! Peak memory: `VmHWM` of this process (reset through `/proc/self/clear_refs`) and the largest
//! `ru_maxrss` among the child processes it has waited for (`getrusage(RUSAGE_CHILDREN)`).

use nix::sys::resource::{UsageWho, getrusage};

/// Peak resident set size of this process so far, in KiB (`VmHWM`).
pub fn self_peak_kib() -> u64 {
    status_field("VmHWM:").unwrap_or(0)
}

/// Current resident set size of this process, in KiB (`VmRSS`).
pub fn self_rss_kib() -> u64 {
    status_field("VmRSS:").unwrap_or(0)
}

/// Reset `VmHWM` to the current RSS (writing `5` to `/proc/self/clear_refs`), so a later
/// [`self_peak_kib`] sees only what came after. Best effort.
pub fn reset_self_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The largest peak RSS of any terminated, waited-for descendant, in KiB.
pub fn children_peak_kib() -> u64 {
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0, |u| u.max_rss().max(0) as u64)
}

fn status_field(name: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(name))?;
    line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
