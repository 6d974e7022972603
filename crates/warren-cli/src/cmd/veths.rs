//! `warren veths [-j]`: every veth, macvlan and macvtap of every namespace on the host with
//! its peer (or parent), the namespaces and owners of both ends, and their bridges.

use std::io::Write;
use std::process::ExitCode;

use crate::Global;
use crate::exit::{CliError, chain};

/// `warren veths`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// A topology error as the CLI prints it.
pub fn topology_error(e: &warren_topology::Error) -> CliError {
    CliError::fail(chain(e))
}

/// Run it.
pub fn run(_args: Args, global: &Global) -> Result<ExitCode, CliError> {
    let topo = warren_topology::host::scan().map_err(|e| topology_error(&e))?;
    let mut out = std::io::stdout().lock();
    if global.json {
        let rows = warren_topology::veths::rows(&topo);
        let s = serde_json::to_string(&rows).map_err(|e| CliError::fail(e.to_string()))?;
        writeln!(out, "{s}")?;
    } else {
        out.write_all(warren_topology::veths::table(&topo).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
