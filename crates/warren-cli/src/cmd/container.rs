//! `warren ps`, `stop`, `rm`, `logs`: detached (and exited) containers.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use warren_engine::Engine;
use warren_store::{Container, ContainerState, Kind};

use crate::{CliError, Global};

/// `warren ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Also exited containers.
    #[arg(short, long)]
    all: bool,
}

/// `warren stop`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// Seconds to wait after SIGTERM before SIGKILL.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    time: u64,
    /// Containers.
    #[arg(required = true)]
    names: Vec<String>,
}

/// `warren rm`.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Stop running ones first.
    #[arg(short, long)]
    force: bool,
    /// Containers.
    #[arg(required = true)]
    names: Vec<String>,
}

/// `warren logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Container.
    name: String,
}

/// Ports as `host:port->port/proto, ...`.
pub fn ports(c: &Container) -> String {
    c.ports
        .iter()
        .map(|p| format!("{}:{}->{}/{}", p.host_ip, p.host_port, p.port, p.proto))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Networks with addresses: `front=10.88.0.2,fd00::2`.
pub fn networks(c: &Container) -> String {
    c.endpoints
        .iter()
        .map(|e| {
            let a: Vec<String> = e.addrs.iter().map(ToString::to_string).collect();
            format!("{}={}", e.network, a.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `warren ps`.
pub fn ps(a: PsArgs, g: &Global) -> Result<ExitCode, CliError> {
    let mut e = Engine::open()?;
    let list: Vec<Container> = e
        .containers()?
        .into_iter()
        .filter(|c| c.kind == Kind::Container)
        .filter(|c| a.all || c.state != ContainerState::Exited)
        .collect();
    let mut out = std::io::stdout().lock();
    if g.json {
        writeln!(out, "{}", serde_json::to_string(&list).unwrap_or_default())?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<12}  {:<20} {:<10} {:<8} {:<30} PORTS",
        "ID", "NAME", "STATE", "PID", "NETWORKS"
    )?;
    for c in &list {
        let state = match (c.state, c.exit_code) {
            (ContainerState::Exited, Some(code)) => format!("exited({code})"),
            (s, _) => s.as_str().to_owned(),
        };
        let net = if c.endpoints.is_empty() {
            c.mode.clone()
        } else {
            networks(c)
        };
        writeln!(
            out,
            "{:<12}  {:<20} {:<10} {:<8} {:<30} {}",
            c.id,
            c.name,
            state,
            c.pid.map(|p| p.to_string()).unwrap_or_default(),
            net,
            ports(c)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `warren stop`.
pub fn stop(a: StopArgs) -> Result<ExitCode, CliError> {
    let mut e = super::reap::Opened::open()?;
    for n in &a.names {
        e.stop(n, Duration::from_secs(a.time))?;
        println!("{n}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `warren rm`.
pub fn rm(a: RmArgs) -> Result<ExitCode, CliError> {
    let mut e = super::reap::Opened::open()?;
    for n in &a.names {
        e.remove(n, a.force)?;
        println!("{n}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `warren logs`.
pub fn logs(a: LogsArgs) -> Result<ExitCode, CliError> {
    let mut e = Engine::open()?;
    let c = e.container(&a.name)?;
    let path = e.paths().log_file(&c.id);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(CliError::fail(format!("read {}: {err}", path.display()))),
    };
    std::io::stdout().lock().write_all(&data)?;
    Ok(ExitCode::SUCCESS)
}
