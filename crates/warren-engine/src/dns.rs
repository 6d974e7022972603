//! DNS records for the embedded server (`warren-dns`): the engine writes the server's
//! config from the store after every change (atomically: a temporary file renamed over the
//! old one) and tells the server to reload with SIGHUP; it starts the server when a network
//! first needs it, and the server exits by itself when its config lists no address to listen
//! on.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use warren_store::{DnsEndpoint, Kind, Network};

use crate::Engine;
use crate::error::{Error, Result};

/// The server's config file (see the `warren-dns` crate for its meaning).
#[derive(Debug, Serialize)]
pub struct Config<'a> {
    /// Gateways to listen on, per network.
    pub listen: Vec<Listen<'a>>,
    /// Port.
    pub port: u16,
    /// Default upstreams, `ip:53`.
    pub upstreams: Vec<String>,
    /// Names.
    pub names: Vec<Name<'a>>,
    /// Per-client upstreams (`--dns`).
    pub client_upstreams: BTreeMap<String, Vec<String>>,
}

/// One listen address.
#[derive(Debug, Serialize)]
pub struct Listen<'a> {
    /// Network name.
    pub network: &'a str,
    /// Gateway address.
    pub addr: IpAddr,
}

/// One name on one network.
#[derive(Debug, Serialize)]
pub struct Name<'a> {
    /// The name.
    pub name: &'a str,
    /// Network name.
    pub network: &'a str,
    /// Its addresses there.
    pub addrs: &'a [IpAddr],
}

/// The server's config from the live endpoints and pod members
/// ([`warren_store::dns_view`]).
pub fn config<'a>(
    nets: &'a [Network],
    endpoints: &'a [DnsEndpoint],
    members: &'a [(String, String)],
    upstreams: &[IpAddr],
) -> Config<'a> {
    let mut used_nets = Vec::new();
    let mut names = Vec::new();
    let mut clients = BTreeMap::new();
    for e in endpoints {
        let Some(n) = nets.iter().find(|n| n.id == e.network_id) else {
            continue;
        };
        if n.driver != "bridge" || e.addrs.is_empty() {
            continue;
        }
        if !used_nets.contains(&n.id) {
            used_nets.push(n.id);
        }
        // Names that resolve to this container's (or pod's) addresses: its own, its aliases,
        // and a pod's members'.
        let pod_members = members
            .iter()
            .filter(|(pod, _)| e.kind == Kind::Pod && *pod == e.id)
            .map(|(_, m)| m);
        for name in std::iter::once(&e.name)
            .chain(pod_members)
            .chain(e.aliases.iter())
        {
            names.push(Name {
                name,
                network: &n.name,
                addrs: &e.addrs,
            });
        }
        if !e.dns.is_empty() {
            let dns: Vec<String> = e.dns.iter().map(|d| with_port(d)).collect();
            for a in &e.addrs {
                clients.insert(a.to_string(), dns.clone());
            }
        }
    }
    let mut listen = Vec::new();
    for n in nets.iter().filter(|n| used_nets.contains(&n.id)) {
        for s in &n.subnets {
            if let Some(gw) = s.gateway {
                listen.push(Listen {
                    network: &n.name,
                    addr: gw,
                });
            }
        }
    }
    Config {
        listen,
        port: dns_port(),
        upstreams: upstreams
            .iter()
            .map(|u| with_port(&u.to_string()))
            .collect(),
        names,
        client_upstreams: clients,
    }
}

fn with_port(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) => format!("[{a}]:53"),
        Ok(IpAddr::V4(a)) => format!("{a}:53"),
        Err(_) => ip.to_owned(),
    }
}

/// The port the server listens on: 53, or `$WARREN_DNS_PORT`.
pub fn dns_port() -> u16 {
    std::env::var("WARREN_DNS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(53)
}

/// The `warren-dns` binary: `$WARREN_DNS_BIN`, else beside the running executable, else
/// found on `PATH`.
pub fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("WARREN_DNS_BIN") {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for cand in [dir.join("warren-dns"), dir.join("../warren-dns")] {
            if cand.exists() {
                return cand;
            }
        }
    }
    PathBuf::from("warren-dns")
}

fn read_pid(path: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    (!zombie && String::from_utf8_lossy(&cmdline).contains("warren-dns")).then_some(pid)
}

impl Engine {
    /// The DNS server's pid, if it runs.
    pub fn dns_pid(&self) -> Option<i32> {
        read_pid(&self.paths.dns_dir().join("pid"))
    }

    /// Rewrite the DNS server's config from the store and make the server follow it: reload
    /// it, start it if some network now needs it (it stops itself when none does).
    pub fn dns_refresh(&mut self) -> Result<()> {
        // One refresh at a time: the config written last is from the newest state, and two
        // processes never both start a server.
        let dir = self.paths.dns_dir();
        std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        let lock_path = dir.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Error::io("open", &lock_path))?;
        let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io("lock", &lock_path)(std::io::Error::from(e)))?;
        crate::failpoint("dns-locked");
        let (nets, (endpoints, members)) = self.store.read(|tx| {
            Ok::<_, Error>((
                warren_store::list_networks(tx)?,
                warren_store::dns_view(tx)?,
            ))
        })?;
        crate::failpoint("dns-read");
        let cfg = config(
            &nets,
            &endpoints,
            &members,
            &crate::files::host_resolv().nameservers,
        );
        crate::failpoint("dns-config");
        let pid_file = dir.join("pid");
        let running = read_pid(&pid_file);
        let wanted = !cfg.listen.is_empty();
        if running.is_none() && !wanted {
            return Ok(());
        }
        let path = dir.join("config.json");
        let tmp = dir.join(format!(".config.json.{}", std::process::id()));
        let text =
            serde_json::to_vec(&cfg).map_err(|e| Error::State(format!("DNS config: {e}")))?;
        std::fs::write(&tmp, text).map_err(Error::io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(Error::io("rename into place", &path))?;
        crate::failpoint("dns-written");
        match running {
            Some(pid) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGHUP,
                );
                Ok(())
            }
            None => self.dns_start(&path, &pid_file),
        }
    }

    fn dns_start(&self, config: &Path, pid_file: &Path) -> Result<()> {
        let _ = std::fs::remove_file(pid_file);
        let log = self.paths.dns_dir().join("log");
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(Error::io("open", &log))?;
        let bin = server_binary();
        let mut cmd = Command::new(&bin);
        cmd.arg("--config")
            .arg(config)
            .arg("--pid-file")
            .arg(pid_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .spawn()
            .map_err(Error::io("start the DNS server", &bin))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if read_pid(pid_file).is_some() {
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let last = tail.lines().last().unwrap_or("").to_owned();
                return Err(Error::State(format!(
                    "DNS server {} exited at start ({status}): {last}",
                    bin.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Err(Error::State(format!(
            "DNS server {} did not start within 5 s",
            bin.display()
        )))
    }
}
