//! Listings of `warren ns`: `list` (ip's format), `list --all` (every namespace of the host),
//! `list-id`, and what `gc` removed.

use std::io::Write;
use std::process::ExitCode;

use warren_netns::gc::{Stale, Staleness};
use warren_netns::named;
use warren_netns::scan::{self, NsRow};

use super::ns_error;
use crate::CliError;

fn print_json(v: &impl serde::Serialize) -> Result<ExitCode, CliError> {
    let s = serde_json::to_string(v).map_err(|e| CliError::fail(e.to_string()))?;
    writeln!(std::io::stdout().lock(), "{s}")?;
    Ok(ExitCode::SUCCESS)
}

/// `ip netns list`: `NAME` or `NAME (id: N)` per entry, in readdir order.
pub fn list(json: bool) -> Result<ExitCode, CliError> {
    let entries = named::list().map_err(ns_error)?;
    if json {
        return print_json(&entries);
    }
    let mut out = std::io::stdout().lock();
    for e in entries {
        match e.id {
            Some(id) => writeln!(out, "{} (id: {id})", e.name)?,
            None => writeln!(out, "{}", e.name)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ip netns list-id`: `nsid N [current-nsid M ](iproute2 netns name: NAME)` per id.
pub fn list_id(target: Option<i32>, nsid: Option<i32>, json: bool) -> Result<ExitCode, CliError> {
    let entries = named::list_ids(target, nsid).map_err(ns_error)?;
    if json {
        return print_json(&entries);
    }
    let mut out = std::io::stdout().lock();
    for e in entries {
        let mut line = format!("nsid {} ", e.nsid);
        if let Some(c) = e.current_nsid {
            line.push_str(&format!("current-nsid {c} "));
        }
        if let Some(n) = &e.name {
            line.push_str(&format!("(iproute2 netns name: {n})"));
        }
        writeln!(out, "{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What holds a namespace, for the table: names, other bind mounts, descriptors.
fn held_by(r: &NsRow) -> String {
    let mut parts: Vec<String> = Vec::new();
    if r.current {
        parts.push("(current)".into());
    }
    parts.extend(r.names.iter().cloned());
    for m in &r.mounts {
        if r.names
            .iter()
            .any(|n| named::path(n).to_str() == Some(m.path.as_str()))
        {
            continue;
        }
        match m.mount_ns_pid {
            Some(pid) => parts.push(format!("{} (mnt ns of {pid})", m.path)),
            None => parts.push(m.path.clone()),
        }
    }
    parts.extend(r.fds.iter().map(|f| {
        let what = if f.socket { "socket" } else { "fd" };
        format!("{what} {}/{}", f.pid, f.fd)
    }));
    parts.join(", ")
}

/// `warren ns list --all`: one row per network namespace of the host.
pub fn list_all(json: bool) -> Result<ExitCode, CliError> {
    let rows = scan::all().map_err(ns_error)?;
    if json {
        return print_json(&rows);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<11} {:>4} {:>5} {:>4}  {:<22} {:<24} HELD BY",
        "NETNS", "NSID", "PROCS", "IFS", "MAIN", "HINT"
    )?;
    for r in &rows {
        let nsid = r.nsid.map_or_else(|| "-".to_owned(), |n| n.to_string());
        let ifs = r
            .interfaces
            .map_or_else(|| "?".to_owned(), |n| n.to_string());
        let main = r
            .main
            .as_ref()
            .map_or_else(|| "-".to_owned(), |m| format!("{} {}", m.pid, m.comm));
        let hint = r
            .hint
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        writeln!(
            out,
            "{:<11} {nsid:>4} {:>5} {ifs:>4}  {main:<22} {hint:<24} {}",
            r.ino,
            r.processes,
            held_by(r)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What `warren ns gc` removed (or would remove).
pub fn gc(stale: Vec<Stale>, dry_run: bool, json: bool) -> Result<ExitCode, CliError> {
    if json {
        return print_json(&stale);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut out = std::io::stdout().lock();
    for s in stale {
        let why = match &s.why {
            Staleness::Placeholder => "placeholder with no namespace mounted".to_owned(),
            Staleness::DanglingSymlink { target } => format!("dangling symlink to {target}"),
        };
        writeln!(out, "{verb} {} ({why})", s.path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}
