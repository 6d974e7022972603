//! `warren`: Linux network namespaces, wired. A thin binary over warren's libraries: parse the
//! command line, run the command, print its error once.

mod cmd;
mod exit;
mod lazy;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

pub use exit::CliError;
use lazy::Lazy;

/// Global options shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Run the command inside network namespace NS (a name under /run/netns, a path, or pid:N),
    /// as `ip -n NS` does.
    #[arg(short = 'n', long = "netns", global = true, value_name = "NS")]
    pub netns: Option<String>,
    /// Print JSON instead of tables.
    #[arg(short = 'j', long = "json", global = true)]
    pub json: bool,
}

/// Linux network namespaces, wired.
#[derive(Debug, Parser)]
#[command(name = "warren", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Network namespaces, as `ip netns` (add, delete, list, exec, identify, pids, set, list-id,
    /// monitor, attach) and more (list --all, gc, bulk add).
    #[command(visible_alias = "netns")]
    Ns(Lazy<cmd::ns::Args>),
    /// Links: veth, bridge, macvlan, ipvlan, vxlan, tun/tap; set up/down, mtu, address, master,
    /// netns, name, altnames.
    Link(Lazy<cmd::link::Args>),
    /// IPv4 and IPv6 addresses.
    #[command(visible_alias = "address")]
    Addr(Lazy<cmd::addr::Args>),
    /// Routes: add, delete, show, and look up the route the kernel would use.
    Route(Lazy<cmd::route::Args>),
    /// Neighbours (ARP and NDP entries): add, replace, delete, show.
    #[command(visible_alias = "neighbour")]
    Neigh(Lazy<cmd::neigh::Args>),
    /// Per-namespace sysctls: `warren -n NS sysctl net.ipv4.ip_forward=1`.
    Sysctl(Lazy<cmd::sysctl::Args>),
    /// Container networks: create, ls, inspect, rm, connect, disconnect.
    Network(Lazy<cmd::network::Args>),
    /// Run a command in a container's network (Docker's modes, ports, DNS).
    Run(Lazy<cmd::run::Args>),
    /// List containers.
    Ps(Lazy<cmd::container::PsArgs>),
    /// Stop containers (SIGTERM, then SIGKILL).
    Stop(Lazy<cmd::container::StopArgs>),
    /// Remove containers.
    Rm(Lazy<cmd::container::RmArgs>),
    /// Print a detached container's output.
    Logs(Lazy<cmd::container::LogsArgs>),
    /// Pods: namespaces that outlive their members.
    Pod(Lazy<cmd::pod::Args>),
    /// Everything about one namespace, container, pod or lab node: links with their peers,
    /// addresses, routes, rules, neighbours, FDB, sockets, conntrack, nftables, sysctls.
    Inspect(Lazy<cmd::inspect::Args>),
    /// Labs from topology files: up, down, diff, validate, status, inspect.
    Lab(Lazy<cmd::lab::Args>),
    /// Remove what crashed runs left behind (namespaces, veths, rules, addresses, records).
    Gc(Lazy<cmd::gc::Args>),
    /// Walk a packet's path from SRC to DST hop by hop and say where and why it stops.
    Trace(Lazy<cmd::trace::Args>),
    /// Every veth and macvlan on the host: peer, namespaces, owners, bridges.
    Veths(Lazy<cmd::veths::Args>),
    /// A graph of the whole host (`--host`): namespaces, bridges, veths, macvlans, owners.
    Graph(Lazy<cmd::veths::GraphArgs>),
    /// Link, address, route, neighbour and namespace events from every namespace.
    Monitor(Lazy<cmd::monitor::Args>),
    /// Re-create warren's bridges, nftables table and DNS config from its state.
    Reconcile,
    /// Print a shell completion script: `warren completion bash > /etc/bash_completion.d/warren`.
    Completion(Lazy<cmd::docs::CompletionArgs>),
    /// Write man pages, one per command: `warren man /usr/local/share/man/man1`.
    Man(Lazy<cmd::docs::ManArgs>),
    /// (internal) Supervise a detached container.
    #[command(name = "__supervise", hide = true)]
    Supervise {
        /// Container id.
        id: String,
    },
    /// (internal) Supervise a lab's commands and daemons.
    #[command(name = "__lab-supervise", hide = true)]
    LabSupervise,
    /// (internal) Hold a rootless user's lab namespaces.
    #[command(name = "__lab-keeper", hide = true)]
    LabKeeper,
    /// (internal) Delete retired veths and close an inherited nf_tables socket, detached.
    #[command(name = "__reap", hide = true)]
    Reap {
        /// INDEX:NAME of each retired veth.
        veths: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => e.report(),
    }
}

/// Help and version go to stdout as clap prints them; a usage error is one line on stderr,
/// like every other error, with clap's exit code (2).
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    CliError::with_code(u8::try_from(e.exit_code()).unwrap_or(2), first).report()
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    if let Some(ns) = &cli.global.netns {
        cmd::enter_netns(ns)?;
    }
    match cli.command {
        Command::Ns(Lazy(a)) => cmd::ns::run(a, &cli.global),
        Command::Link(Lazy(a)) => cmd::link::run(a, &cli.global),
        Command::Addr(Lazy(a)) => cmd::addr::run(a, &cli.global),
        Command::Route(Lazy(a)) => cmd::route::run(a, &cli.global),
        Command::Neigh(Lazy(a)) => cmd::neigh::run(a, &cli.global),
        Command::Sysctl(Lazy(a)) => cmd::sysctl::run(a, &cli.global),
        Command::Network(Lazy(a)) => cmd::network::run(a, &cli.global),
        Command::Run(Lazy(a)) => cmd::run::run(a, &cli.global),
        Command::Ps(Lazy(a)) => cmd::container::ps(a, &cli.global),
        Command::Stop(Lazy(a)) => cmd::container::stop(a),
        Command::Rm(Lazy(a)) => cmd::container::rm(a),
        Command::Logs(Lazy(a)) => cmd::container::logs(a),
        Command::Pod(Lazy(a)) => cmd::pod::run(a, &cli.global),
        Command::Lab(Lazy(a)) => {
            // A non-root user's labs live in the rootless keeper's namespaces: join them first,
            // while this process is still single-threaded (held until the command ends).
            let _keeper = if cmd::lab::needs_labs(&a) {
                warren_lab::rootless::enter_if_needed()
                    .map_err(|e| CliError::fail(exit::chain(&e)))?
            } else {
                None
            };
            cmd::lab::run(a, &cli.global)
        }
        Command::Gc(Lazy(a)) => cmd::gc::run(a, &cli.global),
        Command::Inspect(Lazy(a)) => cmd::inspect::run(a, &cli.global),
        Command::Trace(Lazy(a)) => cmd::trace::run(a, &cli.global),
        Command::Veths(Lazy(a)) => cmd::veths::run(a, &cli.global),
        Command::Monitor(Lazy(a)) => cmd::monitor::run(a, &cli.global),
        Command::Graph(Lazy(a)) => cmd::veths::graph(a, &cli.global),
        Command::Reconcile => cmd::gc::reconcile(),
        Command::Completion(Lazy(a)) => cmd::docs::completion(&a, Cli::command()),
        Command::Man(Lazy(a)) => cmd::docs::man(&a, Cli::command()),
        Command::Supervise { id } => cmd::run::supervise(&id),
        Command::LabSupervise => Ok(cmd::lab_run::supervise()),
        Command::LabKeeper => Ok(cmd::lab_run::keeper()),
        Command::Reap { veths } => Ok(cmd::reap::run(&veths)),
    }
}
