//! `warren network create|ls|inspect|rm|connect|disconnect`, in Docker's words.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use warren_engine::network::NetworkCreate;
use warren_kernel::addr::IpNet;
use warren_store::Network;

use crate::{CliError, Global};

/// `warren network`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Create a network (bridge by default; IPv4 /24 picked from a pool unless --subnet).
    Create {
        /// Its name.
        name: String,
        /// bridge or macvlan.
        #[arg(long, short = 'd', default_value = "bridge")]
        driver: String,
        /// Subnet (repeat for dual stack: --subnet 10.1.0.0/24 --subnet fd01::/64).
        #[arg(long)]
        subnet: Vec<IpNet>,
        /// Gateway, inside one of the subnets (default: its first address).
        #[arg(long)]
        gateway: Vec<IpAddr>,
        /// Allocate container addresses from this part of a subnet.
        #[arg(long = "ip-range")]
        ip_range: Vec<IpNet>,
        /// MTU of the bridge and the containers' links.
        #[arg(long)]
        mtu: Option<u32>,
        /// No way out of the network (no masquerade, no forwarding).
        #[arg(long)]
        internal: bool,
        /// Also pick an IPv6 /64 from the pool (when no --subnet is given).
        #[arg(long)]
        ipv6: bool,
        /// macvlan: the parent interface.
        #[arg(long)]
        parent: Option<String>,
        /// macvlan: private, vepa, bridge, passthru or source.
        #[arg(long)]
        mode: Option<String>,
    },
    /// List networks.
    #[command(visible_alias = "list")]
    Ls,
    /// Show networks in full (JSON).
    Inspect {
        /// Names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks (refused while in use, unless -f).
    #[command(visible_alias = "remove")]
    Rm {
        /// Disconnect containers and pods first.
        #[arg(short, long)]
        force: bool,
        /// Names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Attach a running container or pod to a network.
    Connect {
        /// Static address.
        #[arg(long)]
        ip: Vec<IpAddr>,
        /// Extra DNS name on this network.
        #[arg(long)]
        alias: Vec<String>,
        /// Network.
        network: String,
        /// Container or pod.
        container: String,
    },
    /// Detach a container or pod from a network.
    Disconnect {
        /// Network.
        network: String,
        /// Container or pod.
        container: String,
    },
}

/// Run `warren network`.
pub fn run(a: Args, g: &Global) -> Result<ExitCode, CliError> {
    let mut e = super::reap::Opened::open()?;
    let mut out = std::io::stdout().lock();
    match a.cmd {
        Cmd::Create {
            name,
            driver,
            subnet,
            gateway,
            ip_range,
            mtu,
            internal,
            ipv6,
            parent,
            mode,
        } => {
            let net = e.network_create(&NetworkCreate {
                name,
                driver: Some(driver),
                subnets: subnet,
                gateways: gateway,
                ip_ranges: ip_range,
                mtu,
                internal,
                ipv6,
                parent,
                mode,
            })?;
            if g.json {
                writeln!(out, "{}", serde_json::to_string(&net).unwrap_or_default())?;
            } else {
                writeln!(out, "{}", net.name)?;
            }
        }
        Cmd::Ls => {
            let nets = e.networks()?;
            if g.json {
                writeln!(out, "{}", serde_json::to_string(&nets).unwrap_or_default())?;
            } else {
                writeln!(
                    out,
                    "{:<20} {:<8} {:<10} {:<9} SUBNETS",
                    "NAME", "DRIVER", "INTERFACE", "INTERNAL"
                )?;
                for n in &nets {
                    writeln!(
                        out,
                        "{:<20} {:<8} {:<10} {:<9} {}",
                        n.name,
                        n.driver,
                        n.iface,
                        if n.internal { "yes" } else { "no" },
                        subnets(n)
                    )?;
                }
            }
        }
        Cmd::Inspect { names } => {
            let mut v = Vec::new();
            for n in names {
                let net = e.network(&n)?;
                let users = e.network_users(&n)?;
                let mut j = serde_json::to_value(&net).unwrap_or_default();
                j["containers"] = serde_json::json!(users);
                v.push(j);
            }
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            )?;
        }
        Cmd::Rm { force, names } => {
            for n in names {
                e.network_remove(&n, force)?;
                if !g.json {
                    writeln!(out, "{n}")?;
                }
            }
        }
        Cmd::Connect {
            ip,
            alias,
            network,
            container,
        } => e.connect(&network, &container, &ip, &alias)?,
        Cmd::Disconnect { network, container } => e.disconnect(&network, &container)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn subnets(n: &Network) -> String {
    n.subnets
        .iter()
        .map(|s| s.net.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
