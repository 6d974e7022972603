//! `warren veths [-j]`: every veth, macvlan and macvtap of every namespace on the host with
//! its peer (or parent), the namespaces and owners of both ends, and their bridges; and
//! `warren graph --host`: the same host as a graph (DOT, Mermaid, SVG, HTML, or `-j`).

use std::io::Write;
use std::process::ExitCode;

use crate::Global;
use crate::exit::{CliError, chain};

/// `warren veths`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// `warren graph --host`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The whole host (every namespace, bridge and link); required, as labs are graphed by
    /// `warren lab graph`.
    #[arg(long, required = true)]
    pub host: bool,
    /// dot, mermaid, svg or html (default: from -o's extension, else dot).
    #[arg(short = 'f', long, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<warren_graph::Format>,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<String>,
}

fn parse_format(s: &str) -> Result<warren_graph::Format, String> {
    s.parse()
}

/// Run `warren graph --host`.
pub fn graph(a: GraphArgs, global: &Global) -> Result<ExitCode, CliError> {
    let topo = warren_topology::host::scan().map_err(|e| topology_error(&e))?;
    let g = warren_topology::graph::host_graph(&topo);
    crate::cmd::lab_see::write_graph(&g, a.format, a.output.as_deref(), global.json)?;
    Ok(ExitCode::SUCCESS)
}

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
