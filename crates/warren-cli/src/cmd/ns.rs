//! `warren ns`: iproute2's `ip netns`, with the same files, propagation, messages' meaning and
//! exit codes, plus bulk add, `list --all` (every namespace of the host), and `gc`.
//!
//! Parsing is pure ([`parse`]); each subcommand then runs against the system here, in
//! [`exec`] (exec, which replaces this process) and in [`show`] (listings).

mod exec;
mod parse;
mod show;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use warren_netns::{Error as NsError, gc, monitor, named};

use crate::exit::chain;
use crate::{CliError, Global};
use parse::Cmd;

/// Arguments of `warren ns`.
#[derive(Debug, clap::Args)]
#[command(after_help = USAGE)]
pub struct Args {
    /// Subcommand and its arguments, in ip's syntax.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

const USAGE: &str = "\
Usage:	warren ns list [--all] [-j]
	warren ns add NAME... [--count N --prefix P] [--lo-up]
	warren ns attach NAME PID
	warren ns set NAME NETNSID
	warren ns delete NAME... | --all
	warren ns identify [PID | pid:N | PATH]
	warren ns pids NAME | PATH | pid:N
	warren ns exec NAME | PATH | pid:N cmd ...
	warren ns exec --all cmd ...
	warren ns monitor
	warren ns list-id [target-nsid POSITIVE-INT] [nsid POSITIVE-INT]
	warren ns gc [--dry-run]
NETNSID := auto | POSITIVE-INT";

/// Run `warren ns`.
pub fn run(args: Args, global: &Global) -> Result<ExitCode, CliError> {
    let parsed = parse::parse(&args.args, global.json)?;
    let json = parsed.json;
    match parsed.cmd {
        Cmd::List { all: false } => show::list(json),
        Cmd::List { all: true } => show::list_all(json),
        Cmd::ListId { target, nsid } => show::list_id(target, nsid, json),
        Cmd::Help => {
            eprintln!("{USAGE}");
            Ok(ExitCode::from(255))
        }
        Cmd::Add { names, lo_up } => add(&names, lo_up),
        Cmd::Attach { name, pid } => {
            named::attach(&name, pid).map_err(ns_error)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Set { name, nsid } => {
            named::set_nsid(&name, nsid).map_err(ns_error)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Delete { names } => delete(&names),
        Cmd::DeleteAll => {
            let (_, errors) = named::delete_all().map_err(ns_error)?;
            report_all(errors)
        }
        Cmd::Identify { target } => identify(target.as_deref()),
        Cmd::Pids { spec } => pids(&spec),
        Cmd::Exec { spec, cmd } => exec::exec(&spec, &cmd),
        Cmd::ExecAll { cmd } => exec::exec_all(&cmd),
        Cmd::Monitor => watch(),
        Cmd::Gc { dry_run } => show::gc(gc::gc(dry_run).map_err(ns_error)?, dry_run, json),
    }
}

/// warren-netns errors with ip's exit codes: 255 for an invalid name, 2 for a kernel refusal
/// over netlink (with ip's `Error: EXTACK.` wording), 1 otherwise.
pub fn ns_error(e: NsError) -> CliError {
    use warren_kernel::Error as K;
    match e {
        NsError::InvalidName { .. } => CliError::with_code(255, e.to_string()),
        NsError::Kernel(K::Netlink { source, .. } | K::KernelLacks { source, .. }) => {
            let msg = match &source.extack {
                Some(m) if m.ends_with('.') => format!("Error: {m}"),
                Some(m) => format!("Error: {m}."),
                None => format!("RTNETLINK answers: {}", source.errno.desc()),
            };
            CliError::with_code(2, msg)
        }
        NsError::Kernel(k) => CliError::fail(chain(&k)),
        other => CliError::fail(other.to_string()),
    }
}

/// Print every error but the last as `warren: ...`, and return the last (exit 1) if any.
fn report_all(errors: Vec<NsError>) -> Result<ExitCode, CliError> {
    let mut last = None;
    for e in errors {
        if let Some(prev) = last.replace(ns_error(e)) {
            eprintln!("warren: {prev}");
        }
    }
    match last {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn add(names: &[String], lo_up: bool) -> Result<ExitCode, CliError> {
    let results = named::add(names, named::AddOptions { lo_up }).map_err(ns_error)?;
    report_all(results.into_iter().filter_map(Result::err).collect())
}

fn delete(names: &[String]) -> Result<ExitCode, CliError> {
    report_all(
        named::delete_many(names)
            .into_iter()
            .filter_map(Result::err)
            .collect(),
    )
}

/// The namespace file to stat for `identify` and `pids`, in ip's terms.
fn ns_file(spec: &str, pid_only: bool) -> Result<String, CliError> {
    if let Some(pid) = warren_netns::procfs::parse_pid(spec).or_else(|| {
        spec.strip_prefix("pid:")
            .and_then(warren_netns::procfs::parse_pid)
    }) {
        return Ok(format!("/proc/{pid}/ns/net"));
    }
    if spec.contains('/') {
        return Ok(spec.to_owned());
    }
    let named = named::path(spec);
    if pid_only && !Path::new(&named).exists() {
        return Err(CliError::fail(format!(
            "Specified string '{spec}' is not a pid"
        )));
    }
    Ok(named.display().to_string())
}

fn open_error(e: NsError) -> CliError {
    let desc = e
        .errno()
        .map_or_else(|| e.to_string(), |n| n.desc().to_owned());
    CliError::fail(format!("Cannot open network namespace: {desc}"))
}

fn identify(target: Option<&str>) -> Result<ExitCode, CliError> {
    let file = match target {
        None => "/proc/self/ns/net".to_owned(),
        Some(t) => ns_file(t, true)?,
    };
    let id = named::id_of(Path::new(&file)).map_err(open_error)?;
    let names = named::identify(id).map_err(ns_error)?;
    // ip prints the last match in readdir order, or an empty line.
    println!("{}", names.last().map_or("", String::as_str));
    Ok(ExitCode::SUCCESS)
}

fn pids(spec: &str) -> Result<ExitCode, CliError> {
    let file = ns_file(spec, false)?;
    let id = named::id_of(Path::new(&file)).map_err(open_error)?;
    let mut out = std::io::stdout().lock();
    for pid in named::pids(id) {
        writeln!(out, "{pid}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn watch() -> Result<ExitCode, CliError> {
    let m = monitor::Monitor::new().map_err(ns_error)?;
    let mut out = std::io::stdout().lock();
    loop {
        for ev in m.next_events().map_err(ns_error)? {
            writeln!(out, "{ev}")?;
        }
        out.flush()?;
    }
}
