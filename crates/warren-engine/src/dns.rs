//! DNS records for the embedded server (`warren-dns`).
//!
//! The server's config is split in two, so that one container's change costs the same with a
//! hundred containers as with one:
//! - `config.json`, the head: where to listen (the gateway of every bridge network in which
//!   a live container or pod has an address), the port, the host's upstreams, and
//!   `"include": "names"`;
//! - `names/ID.json`, one fragment per container or pod that has addresses: every name that
//!   resolves to them (its own, its aliases, a pod's members') and its own upstreams (`--dns`).
//!
//! A change to one container rewrites that container's fragment (a pod member's change, its
//! pod's) and the head, each atomically (a temporary file renamed over the old one), then
//! tells the server with SIGHUP; the server parses only the files that changed.
//! [`Engine::dns_refresh`] rewrites everything from the store (gc, reconcile, removing a
//! network, and whenever the server has to be started). The engine starts the server when a
//! network first needs it; the server exits by itself when the head lists no address to
//! listen on.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use warren_store::{Container, DnsEndpoint, Kind, Network};

use crate::Engine;
use crate::error::{Error, Result};

/// The directory of fragments, relative to the head's.
pub const FRAGMENTS: &str = "names";

/// The server's head config (see the `warren-dns` crate for its meaning).
#[derive(Debug, Serialize)]
pub struct Head<'a> {
    /// Gateways to listen on, per network.
    pub listen: Vec<Listen<'a>>,
    /// Port.
    pub port: u16,
    /// Default upstreams, `ip:53`.
    pub upstreams: Vec<String>,
    /// The fragments' directory ([`FRAGMENTS`]).
    pub include: &'static str,
}

/// One listen address.
#[derive(Debug, Serialize)]
pub struct Listen<'a> {
    /// Network name.
    pub network: &'a str,
    /// Gateway address.
    pub addr: IpAddr,
}

/// The names and upstreams of one container or pod.
#[derive(Debug, Default, Serialize)]
pub struct Fragment<'a> {
    /// Names.
    pub names: Vec<Name<'a>>,
    /// Per-client upstreams (`--dns`).
    pub client_upstreams: BTreeMap<String, Vec<String>>,
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

/// The head: listen on the gateways of the bridge networks in `used` (those in which a live
/// container or pod has an address).
pub fn head<'a>(nets: &'a [Network], used: &[i64], upstreams: &[IpAddr]) -> Head<'a> {
    let mut listen = Vec::new();
    for n in nets
        .iter()
        .filter(|n| n.driver == "bridge" && used.contains(&n.id))
    {
        for s in &n.subnets {
            if let Some(gw) = s.gateway {
                listen.push(Listen {
                    network: &n.name,
                    addr: gw,
                });
            }
        }
    }
    Head {
        listen,
        port: dns_port(),
        upstreams: upstreams
            .iter()
            .map(|u| with_port(&u.to_string()))
            .collect(),
        include: FRAGMENTS,
    }
}

/// The fragments of the live endpoints and pod members ([`warren_store::dns_view`], or
/// [`warren_store::dns_view_of`] for one container or pod), by container or pod id. Only
/// endpoints with addresses on bridge networks have names.
pub fn fragments<'a>(
    nets: &'a [Network],
    endpoints: &'a [DnsEndpoint],
    members: &'a [(String, String)],
) -> BTreeMap<&'a str, Fragment<'a>> {
    let mut out: BTreeMap<&str, Fragment<'_>> = BTreeMap::new();
    for e in endpoints {
        let Some(n) = nets.iter().find(|n| n.id == e.network_id) else {
            continue;
        };
        if n.driver != "bridge" || e.addrs.is_empty() {
            continue;
        }
        let f = out.entry(&e.id).or_default();
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
            f.names.push(Name {
                name,
                network: &n.name,
                addrs: &e.addrs,
            });
        }
        if !e.dns.is_empty() {
            let dns: Vec<String> = e.dns.iter().map(|d| with_port(d)).collect();
            for a in &e.addrs {
                f.client_upstreams.insert(a.to_string(), dns.clone());
            }
        }
    }
    out
}

/// The container or pod whose fragment holds `c`'s names: its pod's for a pod member, else
/// its own.
pub fn owner(c: &Container) -> &str {
    c.pod.as_deref().unwrap_or(&c.id)
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

/// Write `value` as JSON to `path` atomically: a temporary file renamed over it.
fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_vec(value).map_err(|e| Error::State(format!("DNS config: {e}")))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("rename into place", path)(e)
    })
}

fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Remove every fragment in `dir` whose container or pod is not in `keep`, and the temporary
/// files of writers that crashed (under the lock, no writer is at work).
fn remove_stale(dir: &Path, keep: &BTreeSet<&str>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(Error::io("list", dir))?;
    for entry in entries {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let fragment = name.strip_suffix(".json").filter(|id| !id.starts_with('.'));
        if fragment.is_none_or(|id| !keep.contains(id)) {
            remove_file(&entry.path())?;
        }
    }
    Ok(())
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

    /// Rewrite the DNS server's head and every fragment from the store (removing fragments of
    /// containers that are gone), and make the server follow: reload it, or start it if some
    /// network now needs it (it stops itself when none does).
    pub fn dns_refresh(&mut self) -> Result<()> {
        self.dns_sync(None)
    }

    /// Follow a change to `c`'s names (created, exited, connected, disconnected, removed):
    /// rewrite only the fragment that holds them ([`owner`]) and the head. Falls back to
    /// [`Engine::dns_refresh`] when the server has to be started.
    pub fn dns_update(&mut self, c: &Container) -> Result<()> {
        self.dns_sync(Some(owner(c)))
    }

    fn dns_sync(&mut self, only: Option<&str>) -> Result<()> {
        // One refresh at a time: the files written last are from the newest state, and two
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
        let pid_file = dir.join("pid");
        let running = read_pid(&pid_file);
        // A server that is not running starts from a full set of files: fragments left from
        // an earlier server may be stale.
        let only = only.filter(|_| running.is_some());
        let (nets, used, (endpoints, members)) = self.store.read(|tx| {
            Ok::<_, Error>((
                warren_store::list_networks(tx)?,
                warren_store::networks_with_live_addresses(tx)?,
                match only {
                    Some(id) => warren_store::dns_view_of(tx, id)?,
                    None => warren_store::dns_view(tx)?,
                },
            ))
        })?;
        crate::failpoint("dns-read");
        let head = head(&nets, &used, &crate::files::host_resolv().nameservers);
        let frags = fragments(&nets, &endpoints, &members);
        crate::failpoint("dns-config");
        let wanted = !head.listen.is_empty();
        let names = dir.join(FRAGMENTS);
        if running.is_none() && !wanted {
            // Nothing to serve: leave no fragment behind (a crash may have left some).
            if names.exists() {
                remove_stale(&names, &BTreeSet::new())?;
            }
            return Ok(());
        }
        std::fs::create_dir_all(&names).map_err(Error::io("create", &names))?;
        match only {
            Some(id) => {
                let path = names.join(format!("{id}.json"));
                match frags.get(id) {
                    Some(f) => write_json(&path, f)?,
                    None => remove_file(&path)?,
                }
            }
            None => {
                for (id, f) in &frags {
                    write_json(&names.join(format!("{id}.json")), f)?;
                }
                remove_stale(&names, &frags.keys().copied().collect())?;
            }
        }
        let path = dir.join("config.json");
        write_json(&path, &head)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use warren_store::Subnet;

    fn net(id: i64, name: &str, driver: &str, gw: &str) -> Network {
        let gateway: IpAddr = gw.parse().unwrap();
        Network {
            id,
            name: name.into(),
            driver: driver.into(),
            iface: format!("wb{id}"),
            mode: None,
            mtu: None,
            internal: false,
            subnets: vec![Subnet {
                net: warren_kernel::addr::IpNet::new(gateway, 24).unwrap(),
                gateway: Some(gateway),
                range: None,
            }],
            created: 0,
        }
    }

    fn ep(id: &str, kind: Kind, network_id: i64, addrs: &[&str], aliases: &[&str]) -> DnsEndpoint {
        DnsEndpoint {
            id: id.into(),
            name: format!("{id}-name"),
            kind,
            network_id,
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            dns: Vec::new(),
        }
    }

    #[test]
    fn each_container_or_pod_has_one_fragment_with_every_name_of_its_addresses() {
        let nets = [
            net(1, "front", "bridge", "10.1.0.1"),
            net(2, "back", "bridge", "10.2.0.1"),
            net(3, "lan", "macvlan", "10.3.0.1"),
        ];
        let mut c = ep("c1", Kind::Container, 1, &["10.1.0.2"], &["web"]);
        c.dns = vec!["192.0.2.53".into()];
        let endpoints = [
            c,
            ep("c1", Kind::Container, 2, &["10.2.0.2"], &[]),
            ep("p1", Kind::Pod, 1, &["10.1.0.3", "fd01::3"], &[]),
            // No names on a macvlan network, nor for an endpoint without addresses.
            ep("c2", Kind::Container, 3, &["10.3.0.2"], &[]),
            ep("c3", Kind::Container, 1, &[], &[]),
        ];
        let members = [("p1".to_owned(), "m1".to_owned())];
        let frags = fragments(&nets, &endpoints, &members);
        assert_eq!(frags.keys().copied().collect::<Vec<_>>(), ["c1", "p1"]);
        let names = |id: &str| -> Vec<(String, String)> {
            frags[id]
                .names
                .iter()
                .map(|n| (n.name.to_owned(), n.network.to_owned()))
                .collect()
        };
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            names("c1"),
            [
                pair("c1-name", "front"),
                pair("web", "front"),
                pair("c1-name", "back")
            ]
        );
        assert_eq!(names("p1"), [pair("p1-name", "front"), pair("m1", "front")]);
        assert_eq!(
            frags["p1"].names[1].addrs.len(),
            2,
            "a member has the pod's addresses"
        );
        assert_eq!(
            frags["c1"].client_upstreams["10.1.0.2"],
            ["192.0.2.53:53"],
            "--dns, for each of the container's addresses"
        );
        assert!(frags["p1"].client_upstreams.is_empty());
        // The head listens on the bridges in use, never on a macvlan network.
        let h = head(&nets, &[1, 3], &["192.0.2.1".parse().unwrap()]);
        let listen: Vec<(&str, String)> = h
            .listen
            .iter()
            .map(|l| (l.network, l.addr.to_string()))
            .collect();
        assert_eq!(listen, [("front", "10.1.0.1".to_owned())]);
        assert_eq!(h.upstreams, ["192.0.2.1:53"]);
        assert_eq!(h.include, FRAGMENTS);
    }
}
