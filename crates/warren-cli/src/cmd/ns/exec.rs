//! `warren ns exec`: as `ip netns exec`, this process switches namespaces and becomes the
//! command (no fork), so the command keeps warren's PID and its exit status is warren's.
//! `exec --all` runs the command once per named namespace, each in a child `warren ns exec`.

use std::ffi::CString;
use std::io::Write;
use std::process::{Command, ExitCode};

use warren_kernel::Error as K;
use warren_netns::named;

use crate::CliError;

/// ip's wording for a failed step of `netns_switch`; every one exits 255, as ip does.
fn switch_error(e: &K, spec: &str) -> CliError {
    let desc = e
        .errno()
        .map_or_else(|| e.to_string(), |n| n.desc().to_owned());
    let msg = match e {
        K::Sys { op: "setns", .. } => {
            format!("setting the network namespace \"{spec}\" failed: {desc}")
        }
        K::Sys {
            op: "unshare(CLONE_NEWNS)",
            ..
        } => format!("unshare failed: {desc}"),
        K::Os {
            op: "mount --make-rslave",
            ..
        } => format!("\"mount --make-rslave /\" failed: {desc}"),
        K::Os {
            op: "mount sysfs", ..
        } => format!("mount of /sys failed: {desc}"),
        other => crate::exit::chain(other),
    };
    CliError::with_code(255, msg)
}

/// Replace this process with `cmd` inside the namespace `spec` (name, path or `pid:N`).
pub fn exec(spec: &str, cmd: &[String]) -> Result<ExitCode, CliError> {
    let (ns, name) = named::open_spec(spec).map_err(|e| CliError::with_code(255, e.to_string()))?;
    let report = warren_kernel::netns::switch_for_exec(&ns, name.as_deref())
        .map_err(|e| switch_error(&e, spec))?;
    for w in report.warnings {
        eprintln!("{w}");
    }
    drop(ns);
    let args: Vec<CString> = cmd
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            CliError::fail(format!(
                "exec of \"{}\" failed: argument contains a NUL byte",
                cmd[0]
            ))
        })?;
    let _ = std::io::stdout().flush();
    let err = match nix::unistd::execvp(&args[0], &args) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    Err(CliError::fail(format!(
        "exec of \"{}\" failed: {}",
        cmd[0],
        err.desc()
    )))
}

/// `ip -all netns exec`: for each named namespace print `\nnetns: NAME\n` and run the command
/// there; failures are reported by the command and do not stop the loop; exit 0.
pub fn exec_all(cmd: &[String]) -> Result<ExitCode, CliError> {
    let me = std::env::current_exe()
        .map_err(|e| CliError::fail(format!("cannot find warren itself: {e}")))?;
    for name in named::names().map_err(super::ns_error)? {
        println!("\nnetns: {name}");
        std::io::stdout().flush()?;
        match Command::new(&me)
            .args(["ns", "exec", &name])
            .args(cmd)
            .status()
        {
            Ok(_) => {}
            Err(e) => eprintln!("warren: cannot run warren ns exec {name}: {e}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
