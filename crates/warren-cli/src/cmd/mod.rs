//! One module per command. Each parses its arguments in two stages (pure parsing, tested
//! without privileges; then resolution against the system) and prints tables or JSON.

pub mod addr;
pub mod container;
pub mod docs;
pub mod gc;
pub mod inspect;
pub mod lab;
pub mod lab_run;
pub mod lab_see;
pub mod link;
pub mod monitor;
pub mod neigh;
pub mod network;
pub mod ns;
pub mod pod;
pub mod reap;
pub mod route;
pub mod run;
pub mod sysctl;
pub mod trace;
pub mod veths;

use std::fmt;

use warren_kernel::Handle;

use crate::{CliError, Global};

/// `-n NS`: switch this (still single-threaded) process into the namespace before the command
/// runs, exactly as `ip -n` does (including the /sys remount and /etc/netns binds).
pub fn enter_netns(spec: &str) -> Result<(), CliError> {
    let (ns, etc_name) = open_ns_spec(spec)?;
    let report = warren_kernel::netns::switch_for_exec(&ns, etc_name.as_deref())?;
    for w in report.warnings {
        eprintln!("{w}");
    }
    Ok(())
}

/// Open a namespace given as a name under /run/netns, a path (contains '/'), or `pid:N`.
/// Returns the namespace and, for names, the name (for /etc/netns binds).
pub fn open_ns_spec(spec: &str) -> Result<(warren_kernel::NetNs, Option<String>), CliError> {
    if let Some(pid) = spec.strip_prefix("pid:") {
        let pid: i32 = pid
            .parse()
            .map_err(|_| CliError::fail(format!("invalid netns {spec:?}: pid:N needs a number")))?;
        return Ok((warren_kernel::NetNs::open_pid(pid)?, None));
    }
    if spec.contains('/') {
        return Ok((
            warren_kernel::NetNs::open_path(std::path::Path::new(spec))?,
            None,
        ));
    }
    Ok((
        warren_kernel::NetNs::open_named(spec)?,
        Some(spec.to_owned()),
    ))
}

/// Words that could not be understood, with the reason; exits 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ParseError> for CliError {
    fn from(e: ParseError) -> Self {
        CliError::fail(e.0)
    }
}

/// A parse error for command `cmd` (`"addr add"`).
pub(crate) fn perr(cmd: &str, msg: impl fmt::Display) -> ParseError {
    ParseError(format!("{cmd}: {msg}"))
}

/// The value after a keyword, or an error naming the keyword.
pub(crate) fn value<'a>(
    cmd: &str,
    it: &mut std::slice::Iter<'a, String>,
    key: &str,
) -> Result<&'a str, ParseError> {
    it.next()
        .map(String::as_str)
        .ok_or_else(|| perr(cmd, format!("{key:?} needs a value")))
}

/// Take `-j`/`-json`/`--json` out of the words wherever they stand (as `warren ns` does), and
/// say whether JSON was asked for there or globally.
pub(crate) fn take_json(args: &[String], global: &Global) -> (Vec<String>, bool) {
    let is_json = |w: &String| matches!(w.as_str(), "-j" | "-json" | "--json");
    let json = global.json || args.iter().any(is_json);
    (args.iter().filter(|w| !is_json(w)).cloned().collect(), json)
}

/// A handle on the namespace the command runs in (`-n NS` has already moved this process
/// there), labelled with the name given so errors say `(netns NS)`.
pub(crate) fn handle(global: &Global) -> Result<Handle, CliError> {
    match &global.netns {
        Some(spec) => {
            let (ns, _) = open_ns_spec(spec)?;
            Ok(Handle::here(&ns)?)
        }
        None => Ok(Handle::current()?),
    }
}

/// Take `-4`/`-6` out of the words wherever they stand; the last one given wins.
pub(crate) fn take_family(args: &[String]) -> (Vec<String>, Option<warren_kernel::addr::Family>) {
    use warren_kernel::addr::Family;
    let mut family = None;
    let rest = args
        .iter()
        .filter(|w| match w.as_str() {
            "-4" => {
                family = Some(Family::V4);
                false
            }
            "-6" => {
                family = Some(Family::V6);
                false
            }
            _ => true,
        })
        .cloned()
        .collect();
    (rest, family)
}
