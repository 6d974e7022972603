//! `warren run`: a command in its own network (plus mount and UTS) namespace, wired to
//! networks as Docker's modes; foreground (exit status passed, signals forwarded) or
//! detached under a supervisor (`-d`), whose process tears the network down when the
//! command exits.

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::process::{Command, ExitCode, Stdio};

use warren_engine::Engine;
use warren_engine::container::{Prepared, RunSpec};
use warren_engine::spec::{NetArg, PortSpec, parse_add_host};
use warren_kernel::NetNs;
use warren_kernel::process::{ContainerSpawn, wait_forwarding};
use warren_store::Kind;

use crate::exit::chain;
use crate::{CliError, Global};

/// `warren run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detach: run under a supervisor and print the container's id.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Forget the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Name (unique).
    #[arg(long)]
    name: Option<String>,
    /// bridge (default), host, none, container:NAME, pod:NAME or a network; repeat for
    /// several networks.
    #[arg(long = "net", visible_alias = "network")]
    net: Vec<NetArg>,
    /// Join this pod (same as --net pod:NAME).
    #[arg(long)]
    pod: Option<String>,
    /// Publish: `[HOSTIP:][HOSTPORT[-END]:]PORT[-END][/tcp|udp|sctp[,...]]`.
    #[arg(short = 'p', long = "publish")]
    publish: Vec<PortSpec>,
    /// Static address (one per family).
    #[arg(long)]
    ip: Vec<IpAddr>,
    /// Hostname inside.
    #[arg(long)]
    hostname: Option<String>,
    /// Upstream DNS server for this container.
    #[arg(long)]
    dns: Vec<IpAddr>,
    /// DNS search domain.
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// Extra /etc/hosts entry NAME:IP.
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Extra DNS name on the container's networks.
    #[arg(long)]
    alias: Vec<String>,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

fn spec(a: &Args) -> Result<RunSpec, CliError> {
    let mut nets = a.net.clone();
    if let Some(p) = &a.pod {
        if !nets.is_empty() {
            return Err(CliError::fail("--pod cannot be combined with --net"));
        }
        nets.push(NetArg::Pod(p.clone()));
    }
    let add_hosts = a
        .add_host
        .iter()
        .map(|h| parse_add_host(h))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RunSpec {
        name: a.name.clone(),
        nets,
        ports: a.publish.clone(),
        ips: a.ip.clone(),
        hostname: a.hostname.clone(),
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        add_hosts,
        aliases: a.alias.clone(),
        cmd: a.cmd.clone(),
        detached: a.detach,
        rm: a.rm,
        netns: None,
    })
}

/// Spawn the prepared container's process with `stdio` set by `setup`.
fn spawn(p: &Prepared, setup: impl FnOnce(&mut Command)) -> Result<std::process::Child, CliError> {
    let host;
    let ns = match &p.netns {
        Some(ns) => ns,
        None => {
            host = NetNs::current()?;
            &host
        }
    };
    let mut cmd = Command::new(&p.cmd[0]);
    cmd.args(&p.cmd[1..]);
    setup(&mut cmd);
    let spawn = ContainerSpawn {
        netns: ns,
        hostname: p.hostname.as_deref(),
        files: p.files.clone(),
    };
    spawn.spawn(&mut cmd).map_err(|e| {
        let code = if e.errno() == Some(nix::errno::Errno::ENOENT) {
            127
        } else {
            126
        };
        CliError::with_code(
            code,
            format!(
                "cannot run {:?} in container {}: {}",
                p.cmd[0],
                p.name,
                chain(&e)
            ),
        )
    })
}

/// Run `warren run`.
pub fn run(a: Args, _g: &Global) -> Result<ExitCode, CliError> {
    let spec = spec(&a)?;
    let mut e = super::reap::Opened::open()?;
    let p = e.create(&spec, Kind::Container)?;
    if a.detach {
        return detach(&mut e, &p);
    }
    let mut child = match spawn(&p, |_| {}) {
        Ok(c) => c,
        Err(err) => {
            let _ = e.exited(&p.id, None);
            let _ = e.remove(&p.id, true);
            return Err(err);
        }
    };
    let me = i32::try_from(std::process::id()).ok();
    let started = e.started(&p.id, i32::try_from(child.id()).ok(), me);
    let code = wait_forwarding(&mut child);
    let down = e.exited(&p.id, code.as_ref().ok().copied());
    started?;
    let code = code?;
    if let Err(err) = down {
        eprintln!("warren: {}", chain(&err));
    }
    Ok(ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)))
}

/// Start the supervisor and wait for it to say the process runs.
fn detach(e: &mut Engine, p: &Prepared) -> Result<ExitCode, CliError> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("__supervise")
        .arg(&p.id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut sup = match cmd.spawn() {
        Ok(s) => s,
        Err(err) => {
            let _ = e.exited(&p.id, None);
            let _ = e.remove(&p.id, true);
            return Err(CliError::fail(format!(
                "cannot start the supervisor: {err}"
            )));
        }
    };
    let mut line = String::new();
    if let Some(out) = sup.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    match line.trim().split_once(' ') {
        Some(("started", _)) => {
            println!("{}", p.id);
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            let _ = sup.wait();
            let msg = line
                .trim()
                .strip_prefix("error ")
                .unwrap_or("the supervisor died")
                .to_owned();
            Err(CliError::with_code(125, msg))
        }
    }
}

/// `warren __supervise ID`: start the container's process with its output to the log, tell
/// the parent, wait (forwarding signals), then tear the network down.
pub fn supervise(id: &str) -> Result<ExitCode, CliError> {
    let mut e = Engine::open()?;
    let report = |msg: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{msg}");
        let _ = out.flush();
    };
    let p = match e.prepared(id) {
        Ok(p) => p,
        Err(err) => {
            report(&format!("error {}", chain(&err)));
            return Ok(ExitCode::from(1));
        }
    };
    let log_path = e.paths().log_file(&p.id);
    let log = log_path
        .parent()
        .map(std::fs::create_dir_all)
        .transpose()
        .and_then(|_| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
        });
    let log = match log {
        Ok(l) => l,
        Err(err) => {
            report(&format!("error open {}: {err}", log_path.display()));
            let _ = e.exited(&p.id, None);
            let _ = e.remove(&p.id, true);
            return Ok(ExitCode::from(1));
        }
    };
    let child = log.try_clone().and_then(|l2| Ok((l2, log.try_clone()?)));
    let mut child = match child.map_err(CliError::from).and_then(|(o, er)| {
        spawn(&p, |c| {
            c.stdin(Stdio::null()).stdout(o).stderr(er);
        })
    }) {
        Ok(c) => c,
        Err(err) => {
            report(&format!("error {}", err.message));
            let _ = e.exited(&p.id, None);
            let _ = e.remove(&p.id, true);
            return Ok(ExitCode::from(1));
        }
    };
    let me = i32::try_from(std::process::id()).ok();
    if let Err(err) = e.started(&p.id, i32::try_from(child.id()).ok(), me) {
        report(&format!("error {}", chain(&err)));
        let _ = child.kill();
        let _ = child.wait();
        let _ = e.exited(&p.id, None);
        return Ok(ExitCode::from(1));
    }
    report(&format!("started {}", child.id()));
    let code = wait_forwarding(&mut child).ok();
    if let Err(err) = e.exited(&p.id, code) {
        let mut l = log;
        let _ = writeln!(l, "warren: {}", chain(&err));
    }
    Ok(ExitCode::SUCCESS)
}
