//! `warren pod create|ls|inspect|rm|publish`: namespaces that outlive their members.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use warren_engine::container::RunSpec;
use warren_engine::spec::{NetArg, PortSpec};
use warren_store::{ContainerState, Kind};

use super::container::{networks, ports};
use crate::{CliError, Global};

/// `warren pod`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Create a pod: its namespace, addresses and ports, held without a process.
    Create {
        /// Networks (default: bridge), or none.
        #[arg(long = "net", visible_alias = "network")]
        net: Vec<NetArg>,
        /// Publish ports (as warren run -p).
        #[arg(short = 'p', long = "publish")]
        publish: Vec<PortSpec>,
        /// Static address.
        #[arg(long)]
        ip: Vec<IpAddr>,
        /// Hostname of its members.
        #[arg(long)]
        hostname: Option<String>,
        /// Upstream DNS server.
        #[arg(long)]
        dns: Vec<IpAddr>,
        /// Extra DNS name.
        #[arg(long)]
        alias: Vec<String>,
        /// Wire this existing network namespace file (e.g. /run/netns/NAME, or one a
        /// runtime made) instead of creating one; `pod rm` leaves it in place.
        #[arg(long = "adopt-netns", value_name = "PATH")]
        adopt_netns: Option<std::path::PathBuf>,
        /// Name.
        name: String,
    },
    /// List pods.
    #[command(visible_alias = "list")]
    Ls,
    /// Show a pod with its members (JSON).
    Inspect {
        /// Name.
        name: String,
    },
    /// Remove a pod (refused with running members, unless -f).
    Rm {
        /// Stop the members first.
        #[arg(short, long)]
        force: bool,
        /// Names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Publish more ports on a live pod.
    Publish {
        /// Name.
        name: String,
        /// Ports.
        #[arg(short = 'p', long = "publish", required = true)]
        publish: Vec<PortSpec>,
    },
}

/// Run `warren pod`.
pub fn run(a: Args, g: &Global) -> Result<ExitCode, CliError> {
    let mut e = super::reap::Opened::open()?;
    let mut out = std::io::stdout().lock();
    match a.cmd {
        Cmd::Create {
            net,
            publish,
            ip,
            hostname,
            dns,
            alias,
            adopt_netns,
            name,
        } => {
            let p = e.pod_create(&RunSpec {
                name: Some(name),
                nets: net,
                ports: publish,
                ips: ip,
                hostname,
                dns,
                aliases: alias,
                netns: adopt_netns,
                ..Default::default()
            })?;
            writeln!(out, "{}", p.id)?;
        }
        Cmd::Ls => {
            let pods: Vec<_> = e
                .containers()?
                .into_iter()
                .filter(|c| c.kind == Kind::Pod)
                .collect();
            if g.json {
                writeln!(out, "{}", serde_json::to_string(&pods).unwrap_or_default())?;
            } else {
                writeln!(
                    out,
                    "{:<12}  {:<20} {:<8} {:<30} PORTS",
                    "ID", "NAME", "MEMBERS", "NETWORKS"
                )?;
                let all = e.containers()?;
                for p in &pods {
                    let members = all
                        .iter()
                        .filter(|m| {
                            m.pod.as_deref() == Some(&p.id) && m.state != ContainerState::Exited
                        })
                        .count();
                    writeln!(
                        out,
                        "{:<12}  {:<20} {:<8} {:<30} {}",
                        p.id,
                        p.name,
                        members,
                        networks(p),
                        ports(p)
                    )?;
                }
            }
        }
        Cmd::Inspect { name } => {
            let p = e.pod(&name)?;
            let members = e.pod_members(&name)?;
            let mut j = serde_json::to_value(&p).unwrap_or_default();
            j["members"] = serde_json::to_value(&members).unwrap_or_default();
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&j).unwrap_or_default()
            )?;
        }
        Cmd::Rm { force, names } => {
            for n in names {
                e.pod_remove(&n, force)?;
                writeln!(out, "{n}")?;
            }
        }
        Cmd::Publish { name, publish } => {
            let p = e.pod_publish(&name, &publish)?;
            writeln!(out, "{}", ports(&p))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
