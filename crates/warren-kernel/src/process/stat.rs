//! Identifying a process across PID reuse: its start time from `/proc/PID/stat`.

use std::os::fd::AsRawFd;

use nix::errno::Errno;

use crate::error::{Error, Result};

/// The fields of `/proc/PID/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// Field 3: `R`, `S`, `Z`, ...
    state: u8,
    /// Field 22: clock ticks since boot when the process started.
    start_time: u64,
}

/// Parse `/proc/PID/stat`. The command name (field 2) is in parentheses and may itself contain
/// spaces and parentheses, so the fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    // After the state (field 3), field 22 is the 19th further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_time })
}

fn read_stat(pid: i32) -> Option<Stat> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Start time (clock ticks since boot, `/proc/PID/stat` field 22) of `pid`, `None` if there is
/// no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    read_stat(pid).map(|s| s.start_time)
}

/// Every live descendant of `pid` (children, their children, ...), each with its start time,
/// parents before children. Zombies are left out (they have exited). Read from `/proc`: a
/// process forked while the scan runs may be missed, so callers that must leave nothing loop
/// until the list is empty.
pub fn descendants(pid: i32) -> Vec<(i32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut procs: Vec<(i32, i32, u64)> = Vec::new();
    for entry in dir.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        if let (Some(st), Some(ppid)) = (parse_stat(&text), parse_ppid(&text))
            && !is_dead(st.state)
        {
            procs.push((p, ppid, st.start_time));
        }
    }
    let mut out: Vec<(i32, u64)> = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (p, ppid, start) in &procs {
            if *ppid == parent && !out.iter().any(|(q, _)| q == p) {
                out.push((*p, *start));
                frontier.push(*p);
            }
        }
    }
    out
}

/// Field 4 of `/proc/PID/stat`: the parent's PID.
fn parse_ppid(text: &str) -> Option<i32> {
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// True if `pid` exists, started at `start_time`, and has not exited (is not a zombie).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    read_stat(pid).is_some_and(|s| s.start_time == start_time && !is_dead(s.state))
}

fn is_dead(state: u8) -> bool {
    matches!(state, b'Z' | b'X' | b'x')
}

/// Send `sig` (e.g. `libc::SIGTERM`) to `pid` if it is still the process that started at
/// `start_time`. `Ok(false)` if it no longer exists, has exited (a zombie), or is another
/// process that reuses the PID.
///
/// Free of races with PID reuse: a pidfd is opened first, the start time checked after, and
/// the signal sent through the pidfd, which cannot reach a later process with that PID.
pub fn signal_if_same(pid: i32, start_time: u64, sig: i32) -> Result<bool> {
    if pid <= 0 {
        return Err(Error::invalid(
            "PID",
            pid.to_string(),
            "must be a positive number",
        ));
    }
    let pidfd = match super::forward::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) if e.errno() == Some(Errno::ESRCH) => return Ok(false),
        Err(e) => return Err(e),
    };
    if !is_alive(pid, start_time) {
        return Ok(false);
    }
    // SAFETY: pidfd_send_signal takes our open pidfd, a signal number, no siginfo, no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        return match Errno::last() {
            Errno::ESRCH => Ok(false),
            e => Err(Error::os("pidfd_send_signal", format!("/proc/{pid}"), e)),
        };
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(comm: &str, state: char, start: u64) -> String {
        let mut fields: Vec<String> = (4..=52).map(|i| i.to_string()).collect();
        fields[22 - 4] = start.to_string();
        format!("1234 ({comm}) {state} {}\n", fields.join(" "))
    }

    #[test]
    fn stat_fields_are_counted_from_the_last_paren() {
        for comm in ["sh", "a b", "x) (y", ")", "(("] {
            let text = line(comm, 'S', 987_654);
            assert_eq!(
                parse_stat(&text),
                Some(Stat {
                    state: b'S',
                    start_time: 987_654
                }),
                "{text}"
            );
        }
        assert_eq!(parse_stat(&line("z", 'Z', 5)).map(|s| s.state), Some(b'Z'));
        assert_eq!(parse_ppid(&line("x) (y", 'S', 5)), Some(4));
        assert_eq!(parse_ppid("1 (x) S"), None);
        for bad in [
            "",
            "1 (x",
            "1 (x) S 1 2",
            "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 y",
        ] {
            assert_eq!(parse_stat(bad), None, "{bad}");
        }
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = i32::try_from(std::process::id()).unwrap();
        let start = start_time(me).unwrap();
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
        assert_eq!(start_time(0), None);
        assert_eq!(start_time(-1), None);
    }
}
