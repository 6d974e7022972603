//! `containers`: the contenders that wire one container (a namespace with a veth on a bridge,
//! an address, a default route, masquerade and published ports), each as its users run it: one
//! process per call. warren (`warren pod create` / `warren pod rm`), netavark (`netavark setup`
//! / `teardown` with the network options JSON on stdin) and the reference CNI chain (bridge +
//! host-local + portmap, each plugin run directly with the CNI environment and `prevResult`
//! chaining).

use std::fs::File;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use serde_json::{Value, json};

use crate::nl::{self, Nl};

/// Work directory inside the sandbox's private `/run`.
pub const WORK: &str = "/run/warren-bench";
/// warren's persistent state inside the sandbox (its private tmpfs).
pub const WARREN_STATE: &str = "/run/warren-state";
/// The CNI reference plugins.
pub const CNI_PATH: &str = "/usr/lib/cni";
/// Debian's netavark and aardvark-dns (not on `PATH`).
pub const NETAVARK_DEFAULT: &str = "/usr/lib/podman/netavark";
/// Debian's aardvark-dns.
pub const AARDVARK_DEFAULT: &str = "/usr/lib/podman/aardvark-dns";
/// First host port published by container `i`'s port `j` in the single-container runs.
pub const HOST_PORT_BASE: u16 = 30_000;

/// Run `cmd` (with `stdin` fed to it), timing it from spawn to exit. Returns the time and its
/// stdout; a non-zero exit is an error that quotes stderr.
pub fn timed(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<(Duration, Vec<u8>), String> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let t = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{cmd:?}: {e}"))?;
    if let (Some(data), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(data)
            .map_err(|e| format!("{cmd:?}: writing stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let took = t.elapsed();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let so = String::from_utf8_lossy(&out.stdout);
        let msg = if err.trim().is_empty() { so } else { err };
        let msg: String = msg.trim().chars().take(600).collect();
        return Err(format!("{cmd:?}: {}: {msg}", out.status));
    }
    Ok((took, out.stdout))
}

/// Run an untimed helper command (e.g. `ip`), failing with its stderr.
pub fn sh(args: &[&str]) -> Result<(), String> {
    timed(Command::new(args[0]).args(&args[1..]), None).map(|_| ())
}

/// The host ports and container ports of `k` published ports starting at host port `base`.
pub fn port_pairs(base: u16, k: usize) -> Vec<(u16, u16)> {
    (0..k).map(|j| (base + j as u16, 80 + j as u16)).collect()
}

/// One contender wiring containers `i` = 0, 1, ... one process (or chain) per call.
pub trait Wirer {
    /// Untimed: networks, bridges, an anchor container.
    fn prepare(&mut self) -> Result<(), String>;
    /// Untimed: what must exist before container `i` is wired (its namespace, for the peers).
    fn pre(&mut self, _i: usize) -> Result<(), String> {
        Ok(())
    }
    /// Timed: wire container `i` with masquerade and the published `ports` (host, container).
    fn setup(&mut self, i: usize, ports: &[(u16, u16)]) -> Result<(), String>;
    /// Timed: undo [`Wirer::setup`] of container `i`.
    fn teardown(&mut self, i: usize) -> Result<(), String>;
    /// Untimed: what [`Wirer::pre`] made.
    fn post(&mut self, _i: usize) -> Result<(), String> {
        Ok(())
    }
    /// The namespace (under `/run/netns`) and the gateway of container `i`, for verification.
    fn netns(&self, i: usize) -> Option<(String, Ipv4Addr)>;
    /// Stop what the contender left running (DNS servers); returns their peak RSS (KiB).
    fn finish(&mut self) -> Vec<(String, u64)> {
        Vec::new()
    }
    /// Time of the network's first container, where the contender made one beforehand
    /// (warren's anchor pod, which starts the DNS server).
    fn first_ms(&self) -> Option<f64> {
        None
    }
    /// Untimed: wait until a server the contender stops asynchronously is gone.
    fn settle(&mut self) {}
    /// What exactly one call does.
    fn describe(&self) -> String;
}

/// Make a contender. `netavark2` is the path of a netavark 2.x binary (may be empty).
pub fn wirer(name: &str, warren: &str, netavark2: &str) -> Result<Box<dyn Wirer>, String> {
    Ok(match name {
        "warren" => Box::new(Warren::new(warren, true)),
        "warren-adopt" => Box::new(Warren::new(warren, true).adopting()),
        "warren-dnscold" => Box::new(Warren::new(warren, false)),
        "warren-lib" => Box::new(WarrenLib::default()),
        "warren-lib-adopt" => Box::new(WarrenLib {
            adopt: true,
            ..WarrenLib::default()
        }),
        "netavark" => Box::new(Netavark::new(NETAVARK_DEFAULT, false)),
        "netavark-dns" => Box::new(Netavark::new(NETAVARK_DEFAULT, true)),
        "netavark2" => {
            if netavark2.is_empty() || !Path::new(netavark2).exists() {
                return Err("not installed (set NETAVARK2=/path/to/netavark-2.x)".into());
            }
            Box::new(Netavark::new(netavark2, false))
        }
        "cni" => Box::new(Cni::default()),
        other => return Err(format!("unknown contender {other:?}")),
    })
}

/// Kill every process in this sandbox's user namespace except this one (daemons the contenders
/// left: DNS servers). Returns how many were killed.
pub fn kill_leftovers() -> usize {
    let Ok(me) = std::fs::read_link("/proc/self/ns/user") else {
        return 0;
    };
    let self_pid = std::process::id() as i32;
    let mut killed = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == self_pid || is_zombie(pid) {
            continue;
        }
        if std::fs::read_link(format!("/proc/{pid}/ns/user")).is_ok_and(|u| u == me) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            killed += 1;
        }
    }
    killed
}

/// `VmHWM` of process `pid`, in KiB.
pub fn pid_peak_kib(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line["VmHWM:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Whether `pid` is gone or a zombie (exited, not yet reaped by whoever inherited it).
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    })
}

/// A pid from a pid file, if that process is alive (not a zombie).
pub fn live_pid(file: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    (!is_zombie(pid)).then_some(pid)
}

/// Check inside namespace `ns`: `eth0` up with an IPv4 address and a default route via `gw`.
pub fn verify_netns(ns: &str, gw: Ipv4Addr) -> Result<Ipv4Addr, String> {
    let path = Path::new("/run/netns").join(ns);
    std::thread::scope(|s| {
        s.spawn(|| -> Result<Ipv4Addr, String> {
            let f = File::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
            nix::sched::setns(&f, CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("setns {ns}: {e}"))?;
            let mut s = Nl::open().map_err(|e| format!("netlink: {e}"))?;
            let links = s
                .collect(nl::dump(nl::RTM_GETLINK))
                .map_err(|e| format!("dump links: {e}"))?;
            let eth0 = links
                .iter()
                .filter_map(|b| nl::parse_link(b))
                .find(|l| l.name == "eth0")
                .ok_or(format!("{ns}: no eth0"))?;
            if !eth0.up {
                return Err(format!("{ns}: eth0 is down"));
            }
            let addrs = s
                .collect(nl::dump(nl::RTM_GETADDR))
                .map_err(|e| format!("dump addresses: {e}"))?;
            let addr = addrs
                .iter()
                .filter_map(|b| nl::parse_addr(b))
                .find(|a| a.0 == eth0.index)
                .map(|a| a.1)
                .ok_or(format!("{ns}: eth0 has no IPv4 address"))?;
            let routes = s
                .collect(nl::dump(nl::RTM_GETROUTE))
                .map_err(|e| format!("dump routes: {e}"))?;
            if !routes
                .iter()
                .filter_map(|b| nl::parse_default_gw(b))
                .any(|g| g == gw)
            {
                return Err(format!("{ns}: no default route via {gw}"));
            }
            Ok(addr)
        })
        .join()
        .unwrap_or_else(|_| Err("verifier panicked".into()))
    })
}

// ---------------------------------------------------------------------------------------------
// warren

/// `warren pod create cI --net bn -p H:C ...` / `warren pod rm cI`, one process per call.
#[derive(Debug)]
pub struct Warren {
    bin: String,
    /// Keep an anchor pod on the network so the DNS server runs (steady state); without it
    /// every create is the DNS server's first use.
    anchor: bool,
    /// Wire a namespace made beforehand (untimed, as for netavark and CNI) with `pod create
    /// --adopt-netns`, instead of letting warren make it.
    adopt: bool,
    ids: Vec<Option<String>>,
    /// Time of the anchor's creation: the network's first container, which starts the DNS
    /// server.
    first_ms: Option<f64>,
}

/// warren's test network.
pub const WARREN_GW: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 1);

impl Warren {
    /// A warren contender.
    pub fn new(bin: &str, anchor: bool) -> Warren {
        Warren {
            bin: bin.into(),
            anchor,
            adopt: false,
            ids: Vec::new(),
            first_ms: None,
        }
    }

    /// The same contender, given a namespace made beforehand (the peers' work).
    pub fn adopting(mut self) -> Warren {
        self.adopt = true;
        self
    }

    fn ns(i: usize) -> String {
        format!("a{i}")
    }

    /// `warren ARGS`, in the sandbox's state directory.
    pub fn cmd(bin: &str) -> Command {
        let mut c = Command::new(bin);
        c.env("WARREN_STATE_DIR", WARREN_STATE);
        c
    }

    fn dns_pid() -> Option<i32> {
        live_pid("/run/warren/dns/pid")
    }

    /// With `adopt`, make container `i`'s namespace beforehand (untimed, as for the peers).
    fn pre_adopt(adopt: bool, i: usize) -> Result<(), String> {
        if !adopt {
            return Ok(());
        }
        warren_kernel::netns::add_named(&Warren::ns(i), warren_kernel::netns::Source::New)
            .map(drop)
            .map_err(|e| format!("netns {}: {e}", Warren::ns(i)))
    }

    /// With `adopt`, delete the namespace [`Warren::pre_adopt`] made.
    fn post_adopt(adopt: bool, i: usize) -> Result<(), String> {
        if !adopt {
            return Ok(());
        }
        warren_kernel::netns::delete_named(&Warren::ns(i)).map_err(|e| e.to_string())
    }

    /// Remember container `i`'s pod id.
    fn record(ids: &mut Vec<Option<String>>, i: usize, id: String) {
        if ids.len() <= i {
            ids.resize(i + 1, None);
        }
        ids[i] = Some(id);
    }

    /// Container `i`'s namespace: the adopted one, or the pod's own `warren-ID`.
    fn netns_of(adopt: bool, ids: &[Option<String>], i: usize) -> Option<(String, Ipv4Addr)> {
        if adopt {
            return Some((Warren::ns(i), WARREN_GW));
        }
        let id = ids.get(i)?.as_ref()?;
        Some((format!("warren-{id}"), WARREN_GW))
    }

    /// The DNS server's peak RSS, if it runs.
    fn dns_peak() -> Vec<(String, u64)> {
        Warren::dns_pid()
            .and_then(pid_peak_kib)
            .map(|k| vec![("warren-dns".to_owned(), k)])
            .unwrap_or_default()
    }
}

impl Wirer for Warren {
    fn prepare(&mut self) -> Result<(), String> {
        timed(
            Warren::cmd(&self.bin).args(["network", "create", "bn", "--subnet", "10.88.0.0/16"]),
            None,
        )?;
        if self.anchor {
            let (t, _) = timed(
                Warren::cmd(&self.bin).args(["pod", "create", "anchor", "--net", "bn"]),
                None,
            )?;
            self.first_ms = Some(t.as_secs_f64() * 1e3);
            if Warren::dns_pid().is_none() {
                return Err(
                    "no DNS server running after the first pod on a bridge network \
                            (/run/warren/dns/pid)"
                        .into(),
                );
            }
        }
        Ok(())
    }

    fn pre(&mut self, i: usize) -> Result<(), String> {
        Warren::pre_adopt(self.adopt, i)
    }

    fn setup(&mut self, i: usize, ports: &[(u16, u16)]) -> Result<(), String> {
        let mut c = Warren::cmd(&self.bin);
        let name = format!("c{i}");
        c.args(["pod", "create", &name, "--net", "bn"]);
        if self.adopt {
            c.arg("--adopt-netns")
                .arg(format!("/run/netns/{}", Warren::ns(i)));
        }
        for (h, p) in ports {
            c.arg("-p").arg(format!("{h}:{p}/tcp"));
        }
        let (_, out) = timed(&mut c, None)?;
        let id = String::from_utf8_lossy(&out).trim().to_owned();
        Warren::record(&mut self.ids, i, id);
        Ok(())
    }

    fn teardown(&mut self, i: usize) -> Result<(), String> {
        timed(
            Warren::cmd(&self.bin).args(["pod", "rm", &format!("c{i}")]),
            None,
        )
        .map(|_| ())
    }

    fn post(&mut self, i: usize) -> Result<(), String> {
        Warren::post_adopt(self.adopt, i)
    }

    fn netns(&self, i: usize) -> Option<(String, Ipv4Addr)> {
        Warren::netns_of(self.adopt, &self.ids, i)
    }

    fn first_ms(&self) -> Option<f64> {
        self.first_ms
    }

    fn settle(&mut self) {
        // Without the anchor the DNS server exits by itself once the last pod is gone; wait for
        // that, so the next create is a first use again rather than a race with its exit.
        if !self.anchor {
            let t = Instant::now();
            while Warren::dns_pid().is_some() && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    fn finish(&mut self) -> Vec<(String, u64)> {
        Warren::dns_peak()
    }

    fn describe(&self) -> String {
        let (made, rm) = if self.adopt {
            (
                " --adopt-netns /run/netns/aI` (the namespace created beforehand and deleted \
                 after, untimed, as for netavark and CNI; lo set up",
                "warren's links taken out of the namespace",
            )
        } else {
            ("` (namespace created by warren", "namespace deleted too")
        };
        format!(
            "one process `warren pod create cI --net bn -p H:C/tcp ...{made}, veth on the \
             network's bridge, address, default route, ports and masquerade in warren's \
             nftables table, DNS config rewritten and the server {}), then `warren pod rm cI` \
             ({rm}); network bn 10.88.0.0/16 made beforehand",
            if self.anchor {
                "reloaded: an anchor pod keeps it running (steady state)"
            } else {
                "started: no other pod on the network, so each create is the DNS server's first \
                 use and each rm lets it exit"
            }
        )
    }
}

// ---------------------------------------------------------------------------------------------
// warren's engine embedded

/// warren's engine as a runtime embeds it: one [`warren_engine::Engine`] opened once in this
/// process (untimed, like a runtime's start), then `pod_create` / `pod_remove` per container,
/// the same work `warren pod create` / `pod rm` do, without a process per call.
#[derive(Debug, Default)]
pub struct WarrenLib {
    /// Wire a namespace made beforehand (untimed, as for the peers), given as
    /// `RunSpec::netns`; its retired veth is deleted after the teardown, untimed (what a
    /// runtime does when it can wait: `Engine::delete_retired`).
    adopt: bool,
    engine: Option<warren_engine::Engine>,
    ids: Vec<Option<String>>,
    first_ms: Option<f64>,
}

impl WarrenLib {
    fn engine(&mut self) -> Result<&mut warren_engine::Engine, String> {
        self.engine
            .as_mut()
            .ok_or_else(|| "the engine is not open".to_owned())
    }

    fn spec(name: &str, ports: &[(u16, u16)]) -> Result<warren_engine::container::RunSpec, String> {
        let ports = ports
            .iter()
            .map(|(h, c)| format!("{h}:{c}/tcp").parse().map_err(|e| format!("{e}")))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(warren_engine::container::RunSpec {
            name: Some(name.to_owned()),
            nets: vec![warren_engine::spec::NetArg::Network("bn".into())],
            ports,
            ..Default::default()
        })
    }
}

impl Wirer for WarrenLib {
    fn prepare(&mut self) -> Result<(), String> {
        // The engine starts the `warren-dns` beside the running program (warren-bench, built
        // next to warren and warren-dns).
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let dns = exe.with_file_name("warren-dns");
        if !dns.exists() {
            return Err(format!("{} not found (build warren-dns)", dns.display()));
        }
        let paths = warren_engine::Paths {
            state: WARREN_STATE.into(),
            run: warren_engine::paths::RUN_DIR.into(),
        };
        let mut e = warren_engine::Engine::open_at(paths).map_err(|e| e.to_string())?;
        e.network_create(&warren_engine::network::NetworkCreate {
            name: "bn".into(),
            subnets: vec!["10.88.0.0/16".parse().map_err(|e| format!("{e}"))?],
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        let t = Instant::now();
        e.pod_create(&WarrenLib::spec("anchor", &[])?)
            .map_err(|e| e.to_string())?;
        self.first_ms = Some(t.elapsed().as_secs_f64() * 1e3);
        self.engine = Some(e);
        if Warren::dns_pid().is_none() {
            return Err("no DNS server running after the first pod (/run/warren/dns/pid)".into());
        }
        Ok(())
    }

    fn pre(&mut self, i: usize) -> Result<(), String> {
        Warren::pre_adopt(self.adopt, i)
    }

    fn setup(&mut self, i: usize, ports: &[(u16, u16)]) -> Result<(), String> {
        let mut spec = WarrenLib::spec(&format!("c{i}"), ports)?;
        if self.adopt {
            spec.netns = Some(format!("/run/netns/{}", Warren::ns(i)).into());
        }
        let pod = self
            .engine()?
            .pod_create(&spec)
            .map_err(|e| e.to_string())?;
        Warren::record(&mut self.ids, i, pod.id);
        Ok(())
    }

    fn teardown(&mut self, i: usize) -> Result<(), String> {
        self.engine()?
            .pod_remove(&format!("c{i}"), false)
            .map_err(|e| e.to_string())
    }

    fn post(&mut self, i: usize) -> Result<(), String> {
        if !self.adopt {
            return Ok(());
        }
        let errors = self.engine()?.delete_retired();
        if let Some(e) = errors.first() {
            return Err(e.to_string());
        }
        Warren::post_adopt(true, i)
    }

    fn netns(&self, i: usize) -> Option<(String, Ipv4Addr)> {
        Warren::netns_of(self.adopt, &self.ids, i)
    }

    fn first_ms(&self) -> Option<f64> {
        self.first_ms
    }

    fn finish(&mut self) -> Vec<(String, u64)> {
        self.engine = None;
        Warren::dns_peak()
    }

    fn describe(&self) -> String {
        let (made, rm) = if self.adopt {
            (
                "the namespace /run/netns/aI made beforehand and deleted after, untimed, as for \
                 netavark and CNI, given as RunSpec::netns",
                "warren's links taken out of it; the retired veth deleted after, untimed, by \
                 Engine::delete_retired",
            )
        } else {
            ("namespace made", "namespace deleted")
        };
        format!(
            "warren's engine embedded in the calling process, as a runtime linking the library \
             would use it: `warren_engine::Engine` opened once (untimed), then per container \
             `pod_create` ({made}, veth on the network's bridge, address, default route, ports \
             and masquerade in warren's nftables table, DNS config rewritten and the server \
             reloaded; an anchor pod keeps it running) and `pod_remove` ({rm}): the work of \
             `warren pod create` / `pod rm` without a process per call"
        )
    }
}

// ---------------------------------------------------------------------------------------------
// netavark

/// `netavark --config DIR setup /run/netns/nI` with the network options on stdin.
#[derive(Debug)]
pub struct Netavark {
    bin: String,
    dns: bool,
    opts: Vec<Option<Vec<u8>>>,
}

/// netavark's test network.
pub const NETAVARK_GW: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 1);
const NV_CONFIG: &str = "/run/warren-bench/netavark";

impl Netavark {
    fn new(bin: &str, dns: bool) -> Netavark {
        Netavark {
            bin: bin.into(),
            dns,
            opts: Vec::new(),
        }
    }

    fn ns(i: usize) -> String {
        format!("n{i}")
    }

    /// The network options of container `i` (an anchor is `usize::MAX`).
    fn options(&self, i: usize, ports: &[(u16, u16)]) -> Vec<u8> {
        let k = if i == usize::MAX { 0 } else { i + 1 };
        let ip = Ipv4Addr::new(10, 89, (k / 250) as u8 + 1, (k % 250) as u8 + 2);
        let pm: Vec<Value> = ports
            .iter()
            .map(|(h, c)| {
                json!({"host_ip": "", "container_port": c, "host_port": h, "range": 1,
                       "protocol": "tcp"})
            })
            .collect();
        let name = if i == usize::MAX {
            "anchor".to_owned()
        } else {
            format!("c{i}")
        };
        json!({
            "container_id": format!("{k:064x}"),
            "container_name": name,
            "networks": {"bn": {"interface_name": "eth0", "static_ips": [ip.to_string()]}},
            "network_info": {"bn": {
                "dns_enabled": self.dns,
                "driver": "bridge",
                "id": "b".repeat(64),
                "internal": false,
                "ipv6_enabled": false,
                "name": "bn",
                "network_interface": "nv0",
                "subnets": [{"subnet": "10.89.0.0/16", "gateway": NETAVARK_GW.to_string()}],
            }},
            "port_mappings": pm,
        })
        .to_string()
        .into_bytes()
    }

    fn run(&self, op: &str, ns: &str, opts: &[u8]) -> Result<(), String> {
        let mut c = Command::new(&self.bin);
        c.args(["--config", NV_CONFIG]);
        if self.dns {
            c.args(["--aardvark-binary", AARDVARK_DEFAULT]);
        }
        c.arg(op).arg(format!("/run/netns/{ns}"));
        timed(&mut c, Some(opts)).map(|_| ())
    }
}

impl Wirer for Netavark {
    fn prepare(&mut self) -> Result<(), String> {
        std::fs::create_dir_all(NV_CONFIG).map_err(|e| format!("mkdir {NV_CONFIG}: {e}"))?;
        if self.dns {
            warren_kernel::netns::add_named("anchor", warren_kernel::netns::Source::New)
                .map_err(|e| format!("netns anchor: {e}"))?;
            let o = self.options(usize::MAX, &[]);
            self.run("setup", "anchor", &o)?;
        }
        Ok(())
    }

    fn pre(&mut self, i: usize) -> Result<(), String> {
        warren_kernel::netns::add_named(&Netavark::ns(i), warren_kernel::netns::Source::New)
            .map(drop)
            .map_err(|e| format!("netns {}: {e}", Netavark::ns(i)))
    }

    fn setup(&mut self, i: usize, ports: &[(u16, u16)]) -> Result<(), String> {
        let o = self.options(i, ports);
        self.run("setup", &Netavark::ns(i), &o)?;
        if self.opts.len() <= i {
            self.opts.resize(i + 1, None);
        }
        self.opts[i] = Some(o);
        Ok(())
    }

    fn teardown(&mut self, i: usize) -> Result<(), String> {
        let o = self
            .opts
            .get_mut(i)
            .and_then(Option::take)
            .ok_or("teardown before setup")?;
        self.run("teardown", &Netavark::ns(i), &o)
    }

    fn post(&mut self, i: usize) -> Result<(), String> {
        warren_kernel::netns::delete_named(&Netavark::ns(i)).map_err(|e| e.to_string())
    }

    fn netns(&self, i: usize) -> Option<(String, Ipv4Addr)> {
        Some((Netavark::ns(i), NETAVARK_GW))
    }

    fn finish(&mut self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        if let Some(pid) = live_pid(&format!("{NV_CONFIG}/aardvark-dns/aardvark.pid")) {
            if let Some(k) = pid_peak_kib(pid) {
                out.push(("aardvark-dns".to_owned(), k));
            }
        }
        out
    }

    fn describe(&self) -> String {
        format!(
            "one process `{} --config DIR{} setup /run/netns/nI` with the network options JSON on \
             stdin (bridge nv0 10.89.0.0/16, static IP, masquerade, port_mappings of range 1, \
             dns_enabled {}; firewall: {}), then `teardown`; the namespace is created before \
             and deleted after, untimed{}",
            self.bin,
            if self.dns {
                " --aardvark-binary aardvark-dns"
            } else {
                ""
            },
            self.dns,
            if self.bin == NETAVARK_DEFAULT {
                "iptables (Debian's 1.4 build)"
            } else {
                "the binary's default driver (nftables for 2.x: one table `inet netavark`)"
            },
            if self.dns {
                "; an anchor container keeps aardvark-dns running (steady state)"
            } else {
                ""
            }
        )
    }
}

// ---------------------------------------------------------------------------------------------
// CNI reference plugins

/// The chain bridge (+ host-local IPAM) + portmap, each plugin run directly.
#[derive(Debug, Default)]
pub struct Cni {
    /// Per container: the plugin configs used at ADD and the final result.
    state: Vec<Option<(Vec<Value>, Value)>>,
}

/// The CNI network's gateway.
pub const CNI_GW: Ipv4Addr = Ipv4Addr::new(10, 90, 0, 1);

impl Cni {
    fn ns(i: usize) -> String {
        format!("k{i}")
    }

    /// The conflist's plugins for a container with `ports` (portmap only when there are ports).
    fn plugins(ports: &[(u16, u16)]) -> Vec<Value> {
        let mut v = vec![json!({
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": true,
            "ipMasq": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "10.90.0.0/16", "gateway": CNI_GW.to_string()}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": format!("{WORK}/cni-ipam"),
            },
        })];
        if !ports.is_empty() {
            let pm: Vec<Value> = ports
                .iter()
                .map(|(h, c)| json!({"hostPort": h, "containerPort": c, "protocol": "tcp"}))
                .collect();
            v.push(json!({
                "type": "portmap",
                "snat": true,
                "capabilities": {"portMappings": true},
                "runtimeConfig": {"portMappings": pm},
            }));
        }
        v
    }

    fn call(
        cmd: &str,
        i: usize,
        plugin: &Value,
        prev: Option<&Value>,
    ) -> Result<Option<Value>, String> {
        let ty = plugin["type"].as_str().unwrap_or("?");
        let mut conf = plugin.clone();
        conf["cniVersion"] = json!("1.0.0");
        conf["name"] = json!("cb");
        if let Some(p) = prev {
            conf["prevResult"] = p.clone();
        }
        let mut c = Command::new(Path::new(CNI_PATH).join(ty));
        c.env("CNI_COMMAND", cmd)
            .env("CNI_CONTAINERID", format!("cni{i}"))
            .env("CNI_NETNS", format!("/run/netns/{}", Cni::ns(i)))
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", CNI_PATH);
        let (_, out) = timed(&mut c, Some(conf.to_string().as_bytes()))
            .map_err(|e| format!("CNI {cmd} {ty}: {e}"))?;
        if cmd == "DEL" || out.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let v: Value =
            serde_json::from_slice(&out).map_err(|e| format!("CNI {cmd} {ty}: bad result: {e}"))?;
        if v.get("code").is_some() {
            return Err(format!("CNI {cmd} {ty}: {v}"));
        }
        Ok(Some(v))
    }
}

impl Wirer for Cni {
    fn prepare(&mut self) -> Result<(), String> {
        std::fs::create_dir_all(format!("{WORK}/cni-ipam")).map_err(|e| format!("mkdir: {e}"))
    }

    fn pre(&mut self, i: usize) -> Result<(), String> {
        warren_kernel::netns::add_named(&Cni::ns(i), warren_kernel::netns::Source::New)
            .map(drop)
            .map_err(|e| format!("netns {}: {e}", Cni::ns(i)))
    }

    fn setup(&mut self, i: usize, ports: &[(u16, u16)]) -> Result<(), String> {
        let plugins = Cni::plugins(ports);
        let mut prev: Option<Value> = None;
        for p in &plugins {
            if let Some(r) = Cni::call("ADD", i, p, prev.as_ref())? {
                prev = Some(r);
            }
        }
        let result = prev.ok_or("the chain returned no result")?;
        if self.state.len() <= i {
            self.state.resize(i + 1, None);
        }
        self.state[i] = Some((plugins, result));
        Ok(())
    }

    fn teardown(&mut self, i: usize) -> Result<(), String> {
        let (plugins, result) = self
            .state
            .get_mut(i)
            .and_then(Option::take)
            .ok_or("teardown before setup")?;
        // DEL runs the chain in reverse, each plugin with the ADD result as prevResult, and
        // keeps going past errors.
        let mut errors = Vec::new();
        for p in plugins.iter().rev() {
            if let Err(e) = Cni::call("DEL", i, p, Some(&result)) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn post(&mut self, i: usize) -> Result<(), String> {
        warren_kernel::netns::delete_named(&Cni::ns(i)).map_err(|e| e.to_string())
    }

    fn netns(&self, i: usize) -> Option<(String, Ipv4Addr)> {
        Some((Cni::ns(i), CNI_GW))
    }

    fn describe(&self) -> String {
        format!(
            "the reference plugins in {CNI_PATH} run directly, one process each: ADD bridge \
             (cni0, isGateway, ipMasq, host-local IPAM 10.90.0.0/16 with its dataDir in the \
             sandbox) then portmap (snat, runtimeConfig.portMappings, prevResult = bridge's \
             result; left out with 0 ports); DEL in reverse with the ADD result as prevResult; \
             the namespace is created before and deleted after, untimed"
        )
    }
}
