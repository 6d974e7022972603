//! `warren gc [--dry-run]` and `warren reconcile`.

use std::io::Write;
use std::process::ExitCode;

use warren_engine::Engine;

use crate::{CliError, Global};

/// `warren gc`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only show what would be removed.
    #[arg(long)]
    dry_run: bool,
}

/// Run `warren gc`.
pub fn run(a: Args, g: &Global) -> Result<ExitCode, CliError> {
    let mut e = super::reap::Opened::open()?;
    let r = e.gc(a.dry_run)?;
    let mut out = std::io::stdout().lock();
    if g.json {
        writeln!(out, "{}", serde_json::to_string(&r).unwrap_or_default())?;
    } else {
        let verb = if a.dry_run { "would remove" } else { "removed" };
        for (what, list) in [
            ("container", &r.containers),
            ("namespace", &r.namespaces),
            ("link", &r.links),
            ("directory", &r.dirs),
        ] {
            for x in list {
                writeln!(out, "{verb} {what} {x}")?;
            }
        }
    }
    if r.errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError::fail(format!("gc: {}", r.errors.join("; "))))
    }
}

/// Run `warren reconcile`.
pub fn reconcile() -> Result<ExitCode, CliError> {
    Engine::open()?.reconcile()?;
    Ok(ExitCode::SUCCESS)
}
