//! Containers: setting up a container's network (a transaction), recording its process,
//! tearing it down when the process exits, stop/rm, connect/disconnect.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use warren_kernel::netns::NsId;
use warren_kernel::{Handle, NetNs, process};
use warren_store::{
    Container, ContainerState, HostIp, Kind, Network, NewContainer, NewEndpoint, Port,
};

use crate::error::{Error, Result};
use crate::files::{self, Resolv};
use crate::paths::{netns_name, veth_name};
use crate::spec::{NetArg, NetMode, PortSpec, net_mode, validate_hostname, validate_name};
use crate::undo::Step;
use crate::{Engine, failpoint};

/// Everything `warren run` (or `pod create`) asks of the network.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    /// `--name`.
    pub name: Option<String>,
    /// `--net` words.
    pub nets: Vec<NetArg>,
    /// `-p` specs.
    pub ports: Vec<PortSpec>,
    /// `--ip` (one per family at most, on the network whose subnet holds it).
    pub ips: Vec<IpAddr>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--dns`: upstream servers for this container.
    pub dns: Vec<IpAddr>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--add-host NAME:IP`.
    pub add_hosts: Vec<(String, IpAddr)>,
    /// `--alias` (on every network).
    pub aliases: Vec<String>,
    /// The command.
    pub cmd: Vec<String>,
    /// `-d`.
    pub detached: bool,
    /// `--rm`: forget the container when it exits.
    pub rm: bool,
    /// `pod create --adopt-netns PATH`: wire this existing network namespace instead of making
    /// one. warren adds its links, addresses, routes and ports, and on `pod rm` takes those
    /// away again; the namespace itself stays its creator's.
    pub netns: Option<PathBuf>,
}

/// A namespace being adopted, opened and checked by [`Engine::adoptable`].
struct AdoptedNs {
    /// Its file, made absolute (what the store records).
    path: String,
    ns: NetNs,
    /// A handle inside it.
    inner: Handle,
}

/// The namespace a pod adopted (`pod create --adopt-netns`), by identity: warren wires it but never
/// deletes it, and tells it is still there by this identity, not by a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopted {
    /// Device of its nsfs inode.
    pub dev: u64,
    /// Its nsfs inode (`net:[INO]`).
    pub ino: u64,
}

impl Adopted {
    fn of(id: NsId) -> Adopted {
        Adopted {
            dev: id.dev,
            ino: id.ino,
        }
    }

    /// Whether the file `path` still is this namespace.
    pub fn is_at(&self, path: &str) -> bool {
        NsId::of_path(std::path::Path::new(path)).is_ok_and(|id| Adopted::of(id) == *self)
    }
}

/// The engine's own settings stored with a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    /// Command and arguments.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Upstream DNS servers (`--dns`).
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    /// `--dns-search`.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `--add-host`.
    #[serde(default)]
    pub add_hosts: Vec<(String, IpAddr)>,
    /// Detached.
    #[serde(default)]
    pub detached: bool,
    /// Forget on exit.
    #[serde(default)]
    pub rm: bool,
    /// The namespace is not warren's: adopted by `pod create --adopt-netns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted: Option<Adopted>,
}

/// A container whose network is ready and whose process can start.
#[derive(Debug)]
pub struct Prepared {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The namespace to run in (`None`: the host's).
    pub netns: Option<NetNs>,
    /// Files to bind over `/etc` (source, target).
    pub files: Vec<(PathBuf, PathBuf)>,
    /// Hostname (`None`: the host's).
    pub hostname: Option<String>,
    /// The command.
    pub cmd: Vec<String>,
    /// Its record, as set up (state `creating` until [`Engine::started`]).
    pub record: Container,
}

/// A fresh 12-hex-digit id.
pub fn new_id() -> String {
    let mut b = [0u8; 6];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        b.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// This process's pid and start time (the owner of a setup).
pub fn me() -> (i32, u64) {
    let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    (pid, process::start_time(pid).unwrap_or(0))
}

/// Whether `pid` still is the process that started at `start` (and not a zombie); `None`s
/// are a process that was never recorded.
pub fn alive(pid: Option<i32>, start: Option<u64>) -> bool {
    matches!((pid, start), (Some(p), Some(s)) if process::is_alive(p, s))
}

/// Expand port specs into concrete ports, choosing free host ports where none was given.
pub(crate) fn expand_ports(
    tx: &rusqlite::Transaction<'_>,
    specs: &[PortSpec],
) -> Result<Vec<Port>> {
    let mut out: Vec<Port> = Vec::new();
    for s in specs {
        let host_ip = HostIp::from_spec(s.host_ip);
        for proto in &s.protos {
            let free = |port: u16, out: &[Port]| -> Result<bool> {
                let p = Port {
                    host_ip,
                    proto: proto.name().into(),
                    host_port: port,
                    port: 0,
                };
                let taken_here = out.iter().any(|o| {
                    o.proto == p.proto && o.host_port == port && o.host_ip.intersects(&host_ip)
                });
                Ok(!taken_here && warren_store::port_conflicts(tx, &[p])?.is_none())
            };
            let pairs: Vec<(u16, u16)> = match s.host {
                Some(h) if h.len() == s.container.len() => (0..h.len())
                    .map(|i| (h.start + i as u16, s.container.start + i as u16))
                    .collect(),
                // A host range for one container port: the first free port of the range.
                Some(h) => {
                    let mut pick = None;
                    for port in h.start..=h.end {
                        if free(port, &out)? {
                            pick = Some(port);
                            break;
                        }
                    }
                    let port = pick.ok_or_else(|| {
                        Error::invalid(
                            "port spec",
                            format!("{h}:{}", s.container),
                            "every host port of the range is taken",
                        )
                    })?;
                    vec![(port, s.container.start)]
                }
                // No host port: free ones from the ephemeral range, one per container port.
                None => {
                    let mut v = Vec::new();
                    let mut next = 32768u16;
                    for c in s.container.start..=s.container.end {
                        while next <= 60999 && !free(next, &out)? {
                            next += 1;
                        }
                        if next > 60999 {
                            return Err(Error::State(
                                "no free host port left in 32768-60999".into(),
                            ));
                        }
                        v.push((next, c));
                        next += 1;
                    }
                    v
                }
            };
            for (h, c) in pairs {
                out.push(Port {
                    host_ip,
                    proto: proto.name().into(),
                    host_port: h,
                    port: c,
                });
            }
        }
    }
    Ok(out)
}

impl Engine {
    /// Set up a container's network (or a pod's, with `kind` Pod): record it, then make its
    /// namespace, links, addresses, routes, published ports, files and DNS records. On any
    /// failure everything done is undone and nothing is left recorded.
    pub fn create(&mut self, spec: &RunSpec, kind: Kind) -> Result<Prepared> {
        match self.create_once(spec, kind) {
            // Addresses held by containers that died without cleanup are reclaimed, then
            // the request is tried again.
            Err(Error::Store(warren_store::Error::Exhausted { .. })) => {
                self.reclaim()?;
                self.create_once(spec, kind)
            }
            other => other,
        }
    }

    fn create_once(&mut self, spec: &RunSpec, kind: Kind) -> Result<Prepared> {
        let id = new_id();
        let name = spec.name.clone().unwrap_or_else(|| id.clone());
        validate_name(
            if kind == Kind::Pod {
                "pod name"
            } else {
                "container name"
            },
            &name,
        )?;
        for a in &spec.aliases {
            validate_name("alias", a)?;
        }
        if let Some(h) = &spec.hostname {
            validate_hostname(h)?;
        }
        for d in &spec.dns_search {
            validate_hostname(d)
                .map_err(|_| Error::invalid("--dns-search", d, "is not a domain name"))?;
        }
        let mode = net_mode(&spec.nets)?;
        let own_ns = matches!(mode, NetMode::None | NetMode::Networks(_));
        if kind == Kind::Pod && !own_ns {
            return Err(Error::invalid(
                "pod network",
                format!("{mode:?}"),
                "a pod has its own namespace: use networks or none",
            ));
        }
        if !spec.ports.is_empty() && !matches!(mode, NetMode::Networks(_)) {
            let why = match mode {
                NetMode::Pod(_) => {
                    "publish ports on the pod (warren pod create -p, or warren pod publish)"
                }
                _ => "ports can only be published for containers on networks",
            };
            return Err(Error::invalid(
                "port spec",
                spec.ports.len().to_string() + " -p given",
                why,
            ));
        }
        if !spec.ips.is_empty() && !matches!(mode, NetMode::Networks(_)) {
            return Err(Error::invalid(
                "--ip",
                spec.ips[0].to_string(),
                "needs a network",
            ));
        }
        if spec.hostname.is_some() && matches!(mode, NetMode::Host) {
            return Err(Error::invalid(
                "--hostname",
                spec.hostname.clone().unwrap_or_default(),
                "not with --net host",
            ));
        }
        let nets: Vec<Network> = match &mode {
            NetMode::Networks(names) => {
                let mut v = Vec::new();
                for n in names {
                    v.push(self.network_or_default(n)?);
                }
                v
            }
            _ => Vec::new(),
        };
        for ip in &spec.ips {
            if !nets
                .iter()
                .any(|n| n.subnets.iter().any(|s| s.net.contains(*ip)))
            {
                return Err(Error::invalid(
                    "--ip",
                    ip.to_string(),
                    "is in no subnet of the container's networks",
                ));
            }
        }
        let adopted = match &spec.netns {
            None => None,
            Some(p) if kind != Kind::Pod => {
                return Err(Error::invalid(
                    "--adopt-netns",
                    p.display().to_string(),
                    "only a pod adopts a namespace (warren pod create --adopt-netns)",
                ));
            }
            Some(p) => {
                let ifnames: Vec<String> = (0..nets.len()).map(|i| format!("eth{i}")).collect();
                Some(self.adoptable(p, &ifnames)?)
            }
        };
        // Joining another namespace: find it now.
        // `shared`: whose endpoints the container's files describe (its pod's, or those of
        // the container whose namespace it joins).
        let (joined, pod, shared): (Option<String>, Option<Container>, Option<Container>) =
            match &mode {
                NetMode::Container(target) => {
                    let t = self
                        .store
                        .read(|tx| warren_store::find_container(tx, target))?
                        .ok_or_else(|| {
                            Error::Store(warren_store::Error::NotFound {
                                what: "container",
                                name: target.clone(),
                            })
                        })?;
                    let path = self.netns_of(&t)?;
                    let shared = match &t.pod {
                        Some(p) => self.store.read(|tx| warren_store::find_container(tx, p))?,
                        None => Some(t),
                    };
                    (Some(path), None, shared)
                }
                NetMode::Pod(p) => {
                    let pc = self.pod(p)?;
                    let path = pc
                        .netns
                        .clone()
                        .ok_or_else(|| Error::State(format!("pod {p} has no namespace")))?;
                    (Some(path), Some(pc.clone()), Some(pc))
                }
                _ => (None, None, None),
            };
        let settings = Settings {
            cmd: spec.cmd.clone(),
            dns: spec.dns.clone(),
            dns_search: spec.dns_search.clone(),
            add_hosts: spec.add_hosts.clone(),
            detached: spec.detached,
            rm: spec.rm,
            adopted: adopted.as_ref().map(|a| Adopted::of(a.ns.id())),
        };
        let ns_name = netns_name(&id);
        let netns_path = if let Some(a) = &adopted {
            Some(a.path.clone())
        } else if own_ns {
            Some(
                warren_kernel::netns::named_path(&ns_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        } else {
            joined.clone()
        };
        let mode_word = match &mode {
            NetMode::Host => "host".to_owned(),
            NetMode::None => "none".to_owned(),
            NetMode::Container(t) => format!("container:{t}"),
            NetMode::Pod(p) => format!("pod:{p}"),
            NetMode::Networks(n) => n.join(","),
        };
        let (owner_pid, owner_start) = crate::container::me();
        let endpoints: Vec<NewEndpoint> = nets
            .iter()
            .enumerate()
            .map(|(i, n)| NewEndpoint {
                network: n.name.clone(),
                ifname: format!("eth{i}"),
                host_ifname: (n.driver == "bridge").then(|| veth_name(&id, i)),
                static_ips: spec
                    .ips
                    .iter()
                    .filter(|ip| n.subnets.iter().any(|s| s.net.contains(**ip)))
                    .copied()
                    .collect(),
                aliases: spec.aliases.clone(),
            })
            .collect();
        let ports_spec = spec.ports.clone();
        let new = NewContainer {
            id: id.clone(),
            name: name.clone(),
            kind,
            netns: netns_path.clone(),
            mode: mode_word,
            pod: pod.as_ref().map(|p| p.id.clone()),
            hostname: match &mode {
                NetMode::Host => None,
                NetMode::Pod(_) => spec
                    .hostname
                    .clone()
                    .or_else(|| pod.as_ref().and_then(|p| p.hostname.clone())),
                _ => Some(spec.hostname.clone().unwrap_or_else(|| name.clone())),
            },
            owner_pid,
            owner_start,
            spec: serde_json::to_value(&settings).unwrap_or_default(),
            endpoints,
            ports: Vec::new(),
        };
        failpoint("validated");
        let c = self.store.write(|tx| {
            let mut new = new;
            new.ports = expand_ports(tx, &ports_spec)?;
            Ok::<_, Error>(warren_store::insert_container(tx, &new)?)
        })?;
        failpoint("after-db");
        self.transaction(|e, undo| {
            undo.push(Step::Row(c.id.clone()));
            let netns = if own_ns {
                let (ns, inner) = match adopted {
                    Some(a) => {
                        a.inner
                            .link_set_up("lo")
                            .map_err(Error::kernel(format!("set lo up in {}", a.path)))?;
                        (a.ns, a.inner)
                    }
                    None => {
                        let made = crate::wire::create_netns(&ns_name)?;
                        undo.push(Step::Netns(ns_name.clone()));
                        made
                    }
                };
                failpoint("after-netns");
                for (i, ep) in c.endpoints.iter().enumerate() {
                    let net = nets.iter().find(|n| n.id == ep.network_id).ok_or_else(|| {
                        Error::State(format!("network of {} vanished", ep.ifname))
                    })?;
                    e.network_ensure(net)?;
                    failpoint("after-ensure");
                    e.attach(&inner, net, ep, i == 0, undo)?;
                }
                failpoint("after-links");
                if !c.ports.is_empty() {
                    let rules = crate::firewall::port_rules(&c, &nets)?;
                    e.fw_publish(&rules)?;
                    undo.push(Step::Ports(rules));
                }
                failpoint("after-ports");
                Some(ns)
            } else if let Some(path) = &joined {
                Some(
                    NetNs::open_path(std::path::Path::new(path))
                        .map_err(Error::kernel(format!("open namespace {path}")))?,
                )
            } else {
                None
            };
            let dir = e.paths.container_dir(&c.id);
            undo.push(Step::Dir(dir.clone()));
            let all_nets = e.networks()?;
            let files = e.write_files(&c, shared.as_ref(), &settings, &all_nets)?;
            failpoint("after-files");
            e.dns_update(&c)?;
            failpoint("after-dns");
            Ok(Prepared {
                id: c.id.clone(),
                name: c.name.clone(),
                netns,
                files,
                hostname: c.hostname.clone(),
                cmd: settings.cmd.clone(),
                record: c,
            })
        })
    }

    /// Check that the namespace file `path` can become a pod's (`pod create --adopt-netns`) and
    /// open it: a network namespace, not the one warren runs in, held by no live container
    /// or pod of warren's, and without links named like the endpoints to come (`ifnames`).
    fn adoptable(&mut self, path: &std::path::Path, ifnames: &[String]) -> Result<AdoptedNs> {
        let shown = path.display().to_string();
        let abs = std::path::absolute(path).map_err(Error::io("resolve", path))?;
        let ns = NetNs::open_path(&abs).map_err(Error::kernel(format!("adopt {shown}")))?;
        let id = ns.id();
        if id == self.host().ns().id() {
            return Err(Error::invalid(
                "--adopt-netns",
                shown,
                "is the namespace warren runs in (the host's): a pod needs one of its own",
            ));
        }
        let holders = self.store.read(warren_store::netns_holders)?;
        let mut seen: Vec<&str> = Vec::new();
        for h in &holders {
            if seen.contains(&h.netns.as_str()) {
                continue;
            }
            seen.push(&h.netns);
            let settings: Settings = serde_json::from_value(h.spec.clone()).unwrap_or_default();
            let same = match settings.adopted {
                Some(a) => a == Adopted::of(id),
                None => NsId::of_path(std::path::Path::new(&h.netns)).is_ok_and(|x| x == id),
            };
            if same {
                let whose = holders
                    .iter()
                    .find(|o| Some(&o.id) == h.pod.as_ref())
                    .map_or(h.name.as_str(), |o| o.name.as_str());
                return Err(Error::invalid(
                    "--adopt-netns",
                    shown,
                    format!(
                        "is already the namespace of {whose} (join it with --pod or --net container:)"
                    ),
                ));
            }
        }
        let inner = Handle::new(
            ns.try_clone()
                .map_err(Error::kernel(format!("adopt {shown}")))?,
        )
        .map_err(Error::kernel(format!("adopt {shown}")))?;
        // The inner side of a veth an earlier pod rm retired (its deleter has not run yet)
        // goes now.
        for n in ifnames {
            if crate::attach::is_retired_peer(self.host(), &inner, n) {
                match inner.link_del(n) {
                    Err(e) if !crate::wire::gone(&e) => {
                        return Err(Error::kernel(format!("delete retired {n} in {shown}"))(e));
                    }
                    _ => {}
                }
            }
        }
        if let Some(taken) = ifnames.iter().find(|n| inner.link_index(n).is_ok()) {
            return Err(Error::invalid(
                "--adopt-netns",
                shown,
                format!("already has a link named {taken}, the name of the pod's interface"),
            ));
        }
        Ok(AdoptedNs {
            path: abs.to_string_lossy().into_owned(),
            ns,
            inner,
        })
    }

    fn attach(
        &mut self,
        inner: &Handle,
        net: &Network,
        ep: &warren_store::Endpoint,
        default_route: bool,
        undo: &mut crate::undo::Undo,
    ) -> Result<()> {
        match net.driver.as_str() {
            "bridge" => {
                let r = crate::wire::attach_bridge(self.host(), inner, net, ep, default_route);
                if let Some(h) = &ep.host_ifname {
                    // Created or not, make sure it goes if the setup fails.
                    undo.push(Step::HostLink(h.clone()));
                }
                r
            }
            "macvlan" => {
                // Made inside: it goes with a namespace of warren's, not with an adopted one.
                undo.push(Step::InnerLink {
                    ns: inner
                        .ns()
                        .try_clone()
                        .map_err(Error::kernel("keep the namespace"))?,
                    ifname: ep.ifname.clone(),
                });
                crate::wire::attach_macvlan(self.host(), inner, net, ep, default_route)
            }
            other => Err(Error::State(format!(
                "network {} has unknown driver {other}",
                net.name
            ))),
        }
    }

    /// The namespace file a container runs in (its own, its pod's, or the one it joined).
    fn netns_of(&mut self, c: &Container) -> Result<String> {
        if c.state != ContainerState::Running {
            return Err(Error::State(format!("container {} is not running", c.name)));
        }
        c.netns
            .clone()
            .ok_or_else(|| Error::State(format!("container {} uses the host's namespace", c.name)))
    }

    fn write_files(
        &self,
        c: &Container,
        shared: Option<&Container>,
        s: &Settings,
        nets: &[Network],
    ) -> Result<Vec<(PathBuf, PathBuf)>> {
        let dir = self.paths.container_dir(&c.id);
        let host = files::host_resolv();
        // The embedded server answers on the first bridge network's gateway.
        let eps = shared.map_or(&c.endpoints, |p| &p.endpoints);
        let gw = eps.iter().find_map(|e| {
            let n = nets.iter().find(|n| n.id == e.network_id)?;
            if n.driver != "bridge" {
                return None;
            }
            n.subnets.iter().find_map(|s| s.gateway)
        });
        let resolv = Resolv {
            nameservers: match gw {
                Some(g) => vec![g],
                None if !s.dns.is_empty() => s.dns.clone(),
                None => host
                    .nameservers
                    .iter()
                    .filter(|n| !n.is_loopback())
                    .copied()
                    .collect(),
            },
            search: if s.dns_search.is_empty() {
                host.search.clone()
            } else {
                s.dns_search.clone()
            },
            options: host.options.clone(),
        };
        if c.mode == "host" {
            return Ok(Vec::new());
        }
        let own: Vec<IpAddr> = eps.iter().flat_map(|e| e.addrs.iter().copied()).collect();
        let mut names = Vec::new();
        if let Some(h) = &c.hostname {
            names.push(h.clone());
        }
        if !names.contains(&c.name) {
            names.push(c.name.clone());
        }
        let mut out = vec![
            ("resolv.conf", files::resolv_conf(&resolv)),
            ("hosts", files::hosts(&own, &names, &s.add_hosts)),
        ];
        if let Some(h) = &c.hostname {
            out.push(("hostname", format!("{h}\n")));
        }
        files::write_all(&dir, &out)
    }

    /// Record that the container's process runs: `pid` (with its start time), supervised by
    /// `owner` (who tears it down when it exits).
    pub fn started(&mut self, id: &str, pid: Option<i32>, owner: Option<i32>) -> Result<()> {
        let p = pid.map(|p| (p, process::start_time(p).unwrap_or(0)));
        let o = owner.map(|p| (p, process::start_time(p).unwrap_or(0)));
        self.store
            .write(|tx| warren_store::set_running(tx, id, p, o))?;
        failpoint("after-running");
        Ok(())
    }

    /// The container or pod `key` (name, id or id prefix).
    pub fn container(&mut self, key: &str) -> Result<Container> {
        Ok(self.store.read(|tx| warren_store::get_container(tx, key))?)
    }

    /// Every container and pod.
    pub fn containers(&mut self) -> Result<Vec<Container>> {
        Ok(self.store.read(warren_store::list_containers)?)
    }

    /// What a supervisor needs to start the process of a container set up earlier.
    pub fn prepared(&mut self, key: &str) -> Result<Prepared> {
        let c = self.container(key)?;
        let settings: Settings = serde_json::from_value(c.spec.clone()).unwrap_or_default();
        let netns = match &c.netns {
            Some(p) => Some(
                NetNs::open_path(std::path::Path::new(p))
                    .map_err(Error::kernel(format!("open namespace {p}")))?,
            ),
            None => None,
        };
        let dir = self.paths.container_dir(&c.id);
        let mut files = Vec::new();
        for f in ["resolv.conf", "hosts", "hostname"] {
            let p = dir.join(f);
            if p.exists() {
                files.push((p, PathBuf::from("/etc").join(f)));
            }
        }
        Ok(Prepared {
            id: c.id.clone(),
            name: c.name.clone(),
            netns,
            files,
            hostname: c.hostname.clone(),
            cmd: settings.cmd,
            record: c,
        })
    }

    /// The container's process exited with `code`: tear its network down (unless it lives in
    /// a pod's or another container's namespace) and mark it exited, or forget it (`--rm`).
    pub fn exited(&mut self, key: &str, code: Option<i32>) -> Result<()> {
        let c = self.container(key)?;
        let settings: Settings = serde_json::from_value(c.spec.clone()).unwrap_or_default();
        let mut errors = self.teardown(&c);
        let r = if settings.rm {
            self.store
                .write(|tx| warren_store::delete_container(tx, &c.id))
        } else {
            self.store
                .write(|tx| warren_store::set_exited(tx, &c.id, code))
        };
        if let Err(e) = r {
            errors.push(e.into());
        }
        if let Err(e) = self.dns_update(&c) {
            errors.push(e);
        }
        Error::teardown(format!("container {}", c.name), errors)
    }

    /// Undo a container's or pod's kernel side, going on past errors: published ports, its
    /// own namespace (with its links), its files. The store is left to the caller.
    pub(crate) fn teardown(&mut self, c: &Container) -> Vec<Error> {
        let mut errors = Vec::new();
        if !c.ports.is_empty() {
            match self
                .networks()
                .and_then(|nets| crate::firewall::port_rules(c, &nets))
            {
                Ok(rules) => {
                    if let Err(e) = self.fw_unpublish(&rules) {
                        errors.push(e);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        let own_ns = c.pod.is_none() && !c.mode.starts_with("container:") && c.mode != "host";
        let settings: Settings = serde_json::from_value(c.spec.clone()).unwrap_or_default();
        if let (true, Some(a), Some(path)) = (own_ns, settings.adopted, &c.netns) {
            // Not ours to delete: take our links out of it (a veth goes with its host side),
            // unless the file no longer is that namespace (then they went with it).
            // A veth is retired, not deleted (deleting one waits for RCU grace periods): the
            // process's detached child deletes it ([`Engine::hand_off`]).
            for ep in &c.endpoints {
                let r = match &ep.host_ifname {
                    Some(h) => crate::attach::retire_veth(self.host(), h).map(|r| {
                        self.retired.extend(r);
                    }),
                    None if a.is_at(path) => crate::wire::delete_inner_link(path, &ep.ifname),
                    None => Ok(()),
                };
                if let Err(e) = r {
                    errors.push(e);
                }
            }
        } else if own_ns {
            // Deleting a veth is synchronous and slow (tens of ms); the pair goes by itself
            // with the namespace. Setting the host side down first makes sure that, should
            // something still hold the namespace, its old addresses carry no traffic; gc
            // deletes such leftover veths.
            for ep in &c.endpoints {
                if let Some(h) = &ep.host_ifname
                    && let Err(e) = crate::wire::host_link_down(self.host(), h)
                {
                    errors.push(e);
                }
            }
            if let Err(e) = crate::wire::delete_netns(&netns_name(&c.id)) {
                errors.push(e);
            }
        }
        let dir = self.paths.container_dir(&c.id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(Error::io("remove", dir)(e)),
        }
        errors
    }

    /// Stop a container: SIGTERM, then SIGKILL after `timeout`; then wait for its supervisor
    /// to tear it down (or do it here if the supervisor is gone).
    pub fn stop(&mut self, key: &str, timeout: Duration) -> Result<()> {
        let c = self.container(key)?;
        if c.kind == Kind::Pod {
            return Err(Error::State(format!(
                "{} is a pod: use warren pod rm",
                c.name
            )));
        }
        if c.state == ContainerState::Exited {
            return Ok(());
        }
        // Only ever the process recorded, never one that reused its pid.
        let signal = |sig| {
            if let (Some(pid), Some(start)) = (c.pid, c.pid_start) {
                let _ = process::signal_if_same(pid, start, sig);
            }
        };
        signal(libc::SIGTERM);
        let deadline = Instant::now() + timeout;
        while alive(c.pid, c.pid_start) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        signal(libc::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self
                .store
                .read(|tx| warren_store::find_container(tx, &c.id))?;
            let Some(now) = now else { return Ok(()) };
            if now.state == ContainerState::Exited {
                return Ok(());
            }
            let supervised = alive(now.owner_pid, now.owner_start) && now.owner_pid != Some(me().0);
            if !supervised || Instant::now() > deadline {
                return self.exited(&c.id, None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Forget a container (and its log). A running one is refused unless `force`, which
    /// stops it first.
    pub fn remove(&mut self, key: &str, force: bool) -> Result<()> {
        let c = self.container(key)?;
        if c.kind == Kind::Pod {
            return Err(Error::State(format!(
                "{} is a pod: use warren pod rm",
                c.name
            )));
        }
        if c.state != ContainerState::Exited {
            if !force {
                return Err(Error::State(format!(
                    "container {} is running: stop it first, or use -f",
                    c.name
                )));
            }
            self.stop(&c.id, Duration::from_secs(0))?;
        }
        if self
            .store
            .read(|tx| warren_store::find_container(tx, &c.id))?
            .is_some()
        {
            self.store
                .write(|tx| warren_store::delete_container(tx, &c.id))?;
        }
        let _ = std::fs::remove_file(self.paths.log_file(&c.id));
        Ok(())
    }

    /// Attach a running container (or pod) to one more network.
    pub fn connect(
        &mut self,
        network: &str,
        key: &str,
        ips: &[IpAddr],
        aliases: &[String],
    ) -> Result<()> {
        let net = self.network(network)?;
        let c = self.container(key)?;
        for a in aliases {
            validate_name("alias", a)?;
        }
        if c.state != ContainerState::Running {
            return Err(Error::State(format!("container {} is not running", c.name)));
        }
        if c.pod.is_some() || c.mode == "host" || c.mode.starts_with("container:") {
            return Err(Error::State(format!(
                "{} shares another namespace: connect that one",
                c.name
            )));
        }
        let ns_path = c
            .netns
            .clone()
            .ok_or_else(|| Error::State(format!("{} has no namespace", c.name)))?;
        let i = (0..)
            .find(|i| !c.endpoints.iter().any(|e| e.ifname == format!("eth{i}")))
            .unwrap_or(0);
        let ep = NewEndpoint {
            network: net.name.clone(),
            ifname: format!("eth{i}"),
            host_ifname: (net.driver == "bridge").then(|| veth_name(&c.id, i)),
            static_ips: ips.to_vec(),
            aliases: aliases.to_vec(),
        };
        let id = c.id.clone();
        let ep = self
            .store
            .write(|tx| warren_store::add_endpoint(tx, &id, &ep))?;
        let first = c.endpoints.is_empty();
        let r = (|| -> Result<()> {
            let ns = NetNs::open_path(std::path::Path::new(&ns_path))
                .map_err(Error::kernel(format!("open namespace {ns_path}")))?;
            let inner =
                Handle::new(ns).map_err(Error::kernel(format!("open namespace {ns_path}")))?;
            self.network_ensure(&net)?;
            let mut undo = crate::undo::Undo::default();
            let r = self.attach(&inner, &net, &ep, first, &mut undo);
            if r.is_err() {
                let _ = self.undo(undo);
            } else {
                undo.commit();
            }
            r
        })();
        if let Err(e) = r {
            let _ = self
                .store
                .write(|tx| warren_store::remove_endpoint(tx, &id, &net.name));
            return Err(e);
        }
        self.dns_update(&c)
    }

    /// Detach a container (or pod) from a network.
    pub fn disconnect(&mut self, network: &str, key: &str) -> Result<()> {
        let net = self.network(network)?;
        let c = self.container(key)?;
        let ep = c
            .endpoints
            .iter()
            .find(|e| e.network_id == net.id)
            .ok_or_else(|| Error::State(format!("{} is not on network {}", c.name, net.name)))?
            .clone();
        let mut errors = Vec::new();
        let nets = self.networks()?;
        let old_rules = crate::firewall::port_rules(&c, &nets).unwrap_or_default();
        if let Some(h) = &ep.host_ifname {
            if let Err(e) = crate::wire::delete_host_link(self.host(), h) {
                errors.push(e);
            }
        } else if let Some(p) = &c.netns
            && let Err(e) = crate::wire::delete_inner_link(p, &ep.ifname)
        {
            errors.push(e);
        }
        self.store
            .write(|tx| warren_store::remove_endpoint(tx, &c.id, &net.name))?;
        // Ports follow the container's remaining addresses.
        if !c.ports.is_empty() {
            let after = self.container(&c.id)?;
            let new_rules = crate::firewall::port_rules(&after, &nets).unwrap_or_default();
            if new_rules != old_rules {
                if let Err(e) = self.fw_unpublish(&old_rules) {
                    errors.push(e);
                }
                if let Err(e) = self.fw_publish(&new_rules) {
                    errors.push(e);
                }
            }
        }
        if let Err(e) = self.dns_update(&c) {
            errors.push(e);
        }
        Error::teardown(format!("{} on network {}", c.name, net.name), errors)
    }
}
