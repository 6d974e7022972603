//! `wiring`, part (a): N namespaces, each with a veth whose host end is a bridge port and whose
//! other end is `eth0` inside the namespace, up, with an address and a default route via the
//! bridge; then teardown. Four contenders do exactly this work, each in its own sandbox.

use std::fmt::Write as _;
use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;

use crate::nl::{self, Msg, Nl};
use crate::plan::{PEER, PREFIX, Plan};

/// The contenders of part (a), in the order they run.
pub const CONTENDERS: &[&str] = &["raw", "raw-phased", "warren", "ip-batch", "ip-script"];

/// A contender: prepare (untimed), bring everything up, tear everything down.
pub trait Contender {
    /// Untimed preparation (writing script files).
    fn prepare(&mut self, _plan: &Plan) -> Result<(), String> {
        Ok(())
    }
    /// Create everything.
    fn up(&mut self, plan: &Plan) -> Result<(), String>;
    /// Remove every namespace (which removes each veth pair).
    fn down(&mut self, plan: &Plan) -> Result<(), String>;
    /// Remove the bridges (after the kernel has finished with the namespaces).
    fn down_bridges(&mut self, plan: &Plan) -> Result<(), String>;
    /// Where the time of `up` went, for in-process contenders: (phase, seconds).
    fn phases(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// Whether the work runs in this process (peak RSS = our own) or in child processes.
    fn in_process(&self) -> bool;
    /// What exactly this contender does, for the report.
    fn describe(&self, plan: &Plan) -> String;
}

/// Make a contender by name.
pub fn contender(name: &str) -> Result<Box<dyn Contender>, String> {
    Ok(match name {
        "raw" => Box::new(Raw::default()),
        "raw-phased" => Box::new(RawPhased::default()),
        "warren" => Box::new(Warren::default()),
        "ip-script" => Box::new(IpScript),
        "ip-batch" => Box::new(IpBatch::default()),
        other => return Err(format!("unknown wiring contender {other:?}")),
    })
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

// ---------------------------------------------------------------------------------------------
// raw netlink

/// Hand-built netlink messages on plain sockets from one thread: the kernel's own cost.
#[derive(Debug, Default)]
pub struct Raw {
    bridges: Vec<u32>,
    phases: Vec<(&'static str, f64)>,
}

/// Host-side interface index chosen for namespace `i`'s veth: choosing both ends' indexes lets
/// the raw loop address `eth0` without looking it up (the kernel honours the peer's index only
/// when this end's index is given too).
fn raw_host_index(i: usize) -> i32 {
    100_000 + i as i32
}
/// `eth0`'s index inside its fresh namespace (`lo` is 1).
const RAW_PEER_INDEX: i32 = 2;

/// `/run/netns` as iproute2 prepares it: a shared mount in a peer group of its own.
fn prepare_run_netns() -> Result<(), String> {
    match nix::unistd::mkdir("/run/netns", Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(format!("mkdir /run/netns: {e}")),
    }
    let shared = || {
        mount(
            None::<&str>,
            "/run/netns",
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            mount(
                Some("/run/netns"),
                "/run/netns",
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| format!("bind /run/netns: {e}"))?;
            shared().map_err(|e| format!("make /run/netns shared: {e}"))
        }
        Err(e) => Err(format!("make /run/netns shared: {e}")),
    }
}

impl Contender for Raw {
    fn up(&mut self, plan: &Plan) -> Result<(), String> {
        let t = Instant::now();
        prepare_run_netns()?;
        let mut host = Nl::open().map_err(io_err("netlink socket"))?;
        self.bridges = raw_bridges(&mut host, plan)?;
        self.phases.push(("bridges", t.elapsed().as_secs_f64()));
        let bridges = &self.bridges;
        // One worker thread moves from namespace to namespace (unshare per namespace, as ip).
        let (ns_t, veth_t, inside_t) = std::thread::scope(|s| {
            s.spawn(move || -> Result<(Duration, Duration, Duration), String> {
                let (mut ns_t, mut veth_t, mut inside_t) = Default::default();
                for i in 0..plan.n {
                    let t0 = Instant::now();
                    let path = format!("/run/netns/{}", plan.ns(i));
                    let nsfd = raw_named_netns(&path)?;
                    let mut inside = Nl::open().map_err(io_err("netlink socket in namespace"))?;
                    let t1 = Instant::now();
                    ns_t += t1 - t0;
                    let b = plan.bridge_of(i);
                    let veth = nl::veth_create(
                        &plan.host_veth(i),
                        raw_host_index(i),
                        bridges[b],
                        PEER,
                        RAW_PEER_INDEX,
                        nsfd.as_raw_fd(),
                    );
                    host.request(veth).map_err(io_err("create veth"))?;
                    let t2 = Instant::now();
                    veth_t += t2 - t1;
                    let eth0 = RAW_PEER_INDEX as u32;
                    let mut msgs = [
                        Msg::new(
                            nl::RTM_NEWLINK,
                            0,
                            &nl::ifinfomsg(RAW_PEER_INDEX, nl::IFF_UP),
                        ),
                        nl::addr_add(eth0, plan.addr(i), PREFIX),
                        nl::default_route_add(plan.gw(b)),
                    ];
                    inside
                        .batch(&mut msgs)
                        .map_err(io_err("eth0 up, address, route"))?;
                    inside_t += t2.elapsed();
                }
                Ok((ns_t, veth_t, inside_t))
            })
            .join()
            .unwrap_or_else(|_| Err("raw worker panicked".into()))
        })?;
        self.phases
            .push(("namespaces (+ socket inside)", ns_t.as_secs_f64()));
        self.phases.push(("veth creates", veth_t.as_secs_f64()));
        self.phases
            .push(("eth0 up + address + route", inside_t.as_secs_f64()));
        Ok(())
    }

    fn phases(&self) -> Vec<(&'static str, f64)> {
        self.phases.clone()
    }

    fn down(&mut self, plan: &Plan) -> Result<(), String> {
        raw_down(plan)
    }

    fn down_bridges(&mut self, _plan: &Plan) -> Result<(), String> {
        raw_down_bridges(&self.bridges)
    }

    fn in_process(&self) -> bool {
        true
    }

    fn describe(&self, _plan: &Plan) -> String {
        "one thread: per namespace open(O_CREAT|O_EXCL) + unshare(CLONE_NEWNET) + bind mount under \
         /run/netns (as ip), then one RTM_NEWLINK creating the veth with master, up, peer eth0 \
         created in the namespace by fd (both ifindexes chosen, so no lookup), then one batch of \
         eth0 up + RTM_NEWADDR + RTM_NEWROUTE on a socket opened inside the namespace; teardown: \
         umount + unlink per name (then, once settled, delete the bridges in one batch)"
            .into()
    }
}

/// Create the plan's bridges (up, with their gateway address) on `host`; their indexes.
fn raw_bridges(host: &mut Nl, plan: &Plan) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for b in 0..plan.bridges() {
        let name = plan.bridge(b);
        host.request(nl::bridge_create(&name))
            .map_err(io_err("create bridge"))?;
        let idx = host.link_index(&name).map_err(io_err("bridge index"))?;
        host.request(nl::addr_add(idx, plan.gw(b), PREFIX))
            .map_err(io_err("bridge address"))?;
        out.push(idx);
    }
    Ok(out)
}

/// Unmount and unlink every name.
fn raw_down(plan: &Plan) -> Result<(), String> {
    for i in 0..plan.n {
        let path = format!("/run/netns/{}", plan.ns(i));
        let _ = umount2(path.as_str(), MntFlags::MNT_DETACH);
        std::fs::remove_file(&path).map_err(io_err("remove namespace file"))?;
    }
    Ok(())
}

/// Delete the bridges in one batch.
fn raw_down_bridges(bridges: &[u32]) -> Result<(), String> {
    let mut host = Nl::open().map_err(io_err("netlink socket"))?;
    let mut dels: Vec<Msg> = bridges.iter().map(|&i| nl::link_delete(i)).collect();
    host.batch(&mut dels).map_err(io_err("delete bridges"))
}

/// The same minimal messages as [`Raw`], in warren's order: all namespaces first (one thread,
/// a socket and an fd kept for each), then every veth in batches on the host socket, then one
/// batch inside each namespace. The order matters: with the per-namespace loop, each `eth0`
/// comes up while the rest is still being built, and the IPv6 link-local traffic of the early
/// ones (DAD, router and MLD solicitations, flooded by the bridge to every port) competes with
/// the later setup work.
#[derive(Debug, Default)]
pub struct RawPhased {
    bridges: Vec<u32>,
    phases: Vec<(&'static str, f64)>,
}

/// Messages per `sendmsg` when batching on one socket (acks must fit the receive buffer).
const RAW_CHUNK: usize = 200;

/// The raw floor's namespace creation, as iproute2 does it: placeholder file, `unshare` of this
/// (worker) thread into a new namespace, bind mount of it; returns the namespace's fd.
fn raw_named_netns(path: &str) -> Result<File, String> {
    let fd = open(
        path,
        OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_EXCL,
        Mode::empty(),
    )
    .map_err(|e| format!("create {path}: {e}"))?;
    drop(fd);
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare: {e}"))?;
    mount(
        Some("/proc/thread-self/ns/net"),
        path,
        Some("none"),
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| format!("bind mount {path}: {e}"))?;
    File::open("/proc/thread-self/ns/net").map_err(io_err("open netns"))
}

impl Contender for RawPhased {
    fn up(&mut self, plan: &Plan) -> Result<(), String> {
        let t = Instant::now();
        prepare_run_netns()?;
        let mut host = Nl::open().map_err(io_err("netlink socket"))?;
        self.bridges = raw_bridges(&mut host, plan)?;
        self.phases.push(("bridges", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let made = std::thread::scope(|s| {
            s.spawn(move || -> Result<Vec<(File, Nl)>, String> {
                let mut out = Vec::with_capacity(plan.n);
                for i in 0..plan.n {
                    let path = format!("/run/netns/{}", plan.ns(i));
                    let nsfd = raw_named_netns(&path)?;
                    let inside = Nl::open().map_err(io_err("netlink socket in namespace"))?;
                    out.push((nsfd, inside));
                }
                Ok(out)
            })
            .join()
            .unwrap_or_else(|_| Err("raw worker panicked".into()))
        })?;
        self.phases
            .push(("namespaces (+ socket inside)", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let mut veths: Vec<Msg> = made
            .iter()
            .enumerate()
            .map(|(i, (nsfd, _))| {
                nl::veth_create(
                    &plan.host_veth(i),
                    raw_host_index(i),
                    self.bridges[plan.bridge_of(i)],
                    PEER,
                    RAW_PEER_INDEX,
                    nsfd.as_raw_fd(),
                )
            })
            .collect();
        for chunk in veths.chunks_mut(RAW_CHUNK) {
            host.batch(chunk).map_err(io_err("create veth"))?;
        }
        self.phases
            .push(("veth creates", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        for (i, (_, mut inside)) in made.into_iter().enumerate() {
            let mut msgs = [
                Msg::new(
                    nl::RTM_NEWLINK,
                    0,
                    &nl::ifinfomsg(RAW_PEER_INDEX, nl::IFF_UP),
                ),
                nl::addr_add(RAW_PEER_INDEX as u32, plan.addr(i), PREFIX),
                nl::default_route_add(plan.gw(plan.bridge_of(i))),
            ];
            inside
                .batch(&mut msgs)
                .map_err(io_err("eth0 up, address, route"))?;
        }
        self.phases
            .push(("eth0 up + address + route", t.elapsed().as_secs_f64()));
        Ok(())
    }

    fn down(&mut self, plan: &Plan) -> Result<(), String> {
        raw_down(plan)
    }

    fn down_bridges(&mut self, _plan: &Plan) -> Result<(), String> {
        raw_down_bridges(&self.bridges)
    }

    fn phases(&self) -> Vec<(&'static str, f64)> {
        self.phases.clone()
    }

    fn in_process(&self) -> bool {
        true
    }

    fn describe(&self, _plan: &Plan) -> String {
        "the raw loop's messages in warren's order: one thread creates every namespace (open \
         O_CREAT|O_EXCL + unshare + bind mount, an fd and a socket inside kept for each), then \
         all veth creates (master, up, peer eth0 in the namespace by fd, chosen ifindexes) in \
         batches of 200 per sendmsg on the host socket, then per namespace one batch of eth0 up \
         + RTM_NEWADDR + RTM_NEWROUTE on its socket (closed right after); teardown as raw"
            .into()
    }
}

// ---------------------------------------------------------------------------------------------
// warren (the library, in one process)

/// warren's library API in this process.
#[derive(Debug, Default)]
pub struct Warren {
    handles: Vec<warren_kernel::Handle>,
    bridges: Vec<u32>,
    phases: Vec<(&'static str, f64)>,
}

fn werr(what: &str) -> impl Fn(warren_kernel::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Contender for Warren {
    fn up(&mut self, plan: &Plan) -> Result<(), String> {
        use warren_kernel::addr::{IpNet, addr_add_request};
        use warren_kernel::link::LinkSpec;
        use warren_kernel::link::bridge::Bridge;
        use warren_kernel::link::veth::Veth;
        use warren_kernel::netns::{self, Source};
        use warren_kernel::route::RouteSpec;

        let t = Instant::now();
        let host = warren_kernel::Handle::current().map_err(werr("host handle"))?;
        for b in 0..plan.bridges() {
            let name = plan.bridge(b);
            host.link_add(&Bridge::new(&name).up())
                .map_err(werr("create bridge"))?;
            let idx = host.link_index(&name).map_err(werr("bridge index"))?;
            let net = IpNet::new(IpAddr::V4(plan.gw(b)), PREFIX).map_err(werr("gateway"))?;
            host.addr_add(idx, net).map_err(werr("bridge address"))?;
            self.bridges.push(idx);
        }
        self.phases.push(("bridges", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let names: Vec<String> = (0..plan.n).map(|i| plan.ns(i)).collect();
        // Every namespace made by one worker thread, a netlink socket opened inside each.
        let made = netns::add_named_many(&names, Source::New, warren_kernel::Handle::here);
        for r in made {
            let (_ns, h) = r.map_err(werr("create namespace"))?;
            self.handles.push(h);
        }
        self.phases
            .push(("namespaces (+ socket inside)", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        // All veth pairs in one batch on the host socket. Both ends' indexes are chosen (as in
        // the raw loop), so eth0 needs no lookup afterwards.
        let veths: Vec<Veth<'_>> = self
            .handles
            .iter()
            .enumerate()
            .map(|(i, h)| {
                Veth::new(plan.host_veth(i), PEER)
                    .index(raw_host_index(i) as u32)
                    .peer_index(RAW_PEER_INDEX as u32)
                    .peer_netns(h.ns())
                    .master(self.bridges[plan.bridge_of(i)])
                    .up()
                    .peer_up()
            })
            .collect();
        let reqs = veths
            .iter()
            .map(|v| v.request().map_err(werr("veth request")));
        host.execute_all(reqs.collect::<Result<_, _>>()?)
            .map_err(werr("create veth"))?;
        self.phases
            .push(("veth creates", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        // In each namespace: eth0 up (the kernel cannot open a veth end before the pair is
        // linked, so it is a second request), address and default route in one batch.
        let eth0 = RAW_PEER_INDEX as u32;
        for (i, (h, veth)) in self.handles.iter().zip(&veths).enumerate() {
            let net = IpNet::new(IpAddr::V4(plan.addr(i)), PREFIX).map_err(werr("address"))?;
            let gw = IpAddr::V4(plan.gw(plan.bridge_of(i)));
            h.execute_all(vec![
                veth.peer_up_request(),
                addr_add_request(eth0, net),
                RouteSpec::default_v4().via(gw).request_add(),
            ])
            .map_err(werr("eth0 up, address, route"))?;
        }
        self.phases
            .push(("eth0 up + address + route", t.elapsed().as_secs_f64()));
        Ok(())
    }

    fn phases(&self) -> Vec<(&'static str, f64)> {
        self.phases.clone()
    }

    fn down(&mut self, plan: &Plan) -> Result<(), String> {
        // Handles hold a socket and an fd in each namespace: they must go first.
        let t = Instant::now();
        self.handles.clear();
        self.phases
            .push(("down: drop handles", t.elapsed().as_secs_f64()));
        let t = Instant::now();
        for i in 0..plan.n {
            warren_kernel::netns::delete_named(&plan.ns(i)).map_err(werr("delete namespace"))?;
        }
        self.phases
            .push(("down: delete_named", t.elapsed().as_secs_f64()));
        Ok(())
    }

    fn down_bridges(&mut self, _plan: &Plan) -> Result<(), String> {
        let host = warren_kernel::Handle::current().map_err(werr("host handle"))?;
        let reqs = self
            .bridges
            .iter()
            .map(|&i| warren_kernel::link::set::del_index_request(i, "bridge"))
            .collect();
        host.execute_all(reqs).map_err(werr("delete bridges"))
    }

    fn in_process(&self) -> bool {
        true
    }

    fn describe(&self, _plan: &Plan) -> String {
        "warren_kernel in this process: Bridge::new().up() + addr_add per bridge; \
         netns::add_named_many (one worker thread, Handle::here opens a socket in each); all \
         Veth::new(host, eth0).index(i).peer_index(2).peer_netns(ns).master(br).up().peer_up() \
         in one Handle::execute batch on the host socket; per namespace one Handle::execute of \
         Veth::peer_up_request + addr_add_request + RouteSpec::default_v4().via(gw).request_add \
         on the handle's socket; teardown: drop the handles, netns::delete_named per name \
         (then, once settled, the bridges in one batch)"
            .into()
    }
}

// ---------------------------------------------------------------------------------------------
// ip: a shell script with one `ip` per step, and `ip -batch`

const WORK: &str = "/run/warren-bench";

fn write(path: &str, text: &str) -> Result<(), String> {
    std::fs::create_dir_all(WORK).map_err(io_err("mkdir /run/warren-bench"))?;
    std::fs::write(path, text).map_err(io_err(path))
}

fn run_sh(script: &str) -> Result<(), String> {
    let st = Command::new("sh")
        .arg("-e")
        .arg(script)
        .status()
        .map_err(io_err("sh"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{script} failed: {st}"))
    }
}

fn ip_batch_file(file: &str) -> Result<(), String> {
    let st = Command::new("ip")
        .args(["-batch", file])
        .status()
        .map_err(io_err("ip"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("ip -batch {file} failed: {st}"))
    }
}

fn bridge_lines(plan: &Plan, prefix: &str, out: &mut String) {
    for b in 0..plan.bridges() {
        let br = plan.bridge(b);
        let _ = writeln!(out, "{prefix}link add {br} type bridge");
        let _ = writeln!(out, "{prefix}addr add {}/{PREFIX} dev {br}", plan.gw(b));
        let _ = writeln!(out, "{prefix}link set {br} up");
    }
}

/// `sh -e` running one `ip` command per step.
#[derive(Debug)]
pub struct IpScript;

impl Contender for IpScript {
    fn prepare(&mut self, plan: &Plan) -> Result<(), String> {
        let mut up = String::new();
        bridge_lines(plan, "ip ", &mut up);
        for i in 0..plan.n {
            let (ns, v) = (plan.ns(i), plan.host_veth(i));
            let b = plan.bridge_of(i);
            let _ = writeln!(up, "ip netns add {ns}");
            let _ = writeln!(up, "ip link add {v} type veth peer name {PEER} netns {ns}");
            let _ = writeln!(up, "ip link set {v} master {} up", plan.bridge(b));
            let _ = writeln!(up, "ip -n {ns} link set {PEER} up");
            let _ = writeln!(
                up,
                "ip -n {ns} addr add {}/{PREFIX} dev {PEER}",
                plan.addr(i)
            );
            let _ = writeln!(up, "ip -n {ns} route add default via {}", plan.gw(b));
        }
        let mut down = String::new();
        for i in 0..plan.n {
            let _ = writeln!(down, "ip netns delete {}", plan.ns(i));
        }
        let mut bridges = String::new();
        for b in 0..plan.bridges() {
            let _ = writeln!(bridges, "ip link delete {}", plan.bridge(b));
        }
        write(&format!("{WORK}/up.sh"), &up)?;
        write(&format!("{WORK}/bridges-down.sh"), &bridges)?;
        write(&format!("{WORK}/down.sh"), &down)
    }

    fn up(&mut self, _plan: &Plan) -> Result<(), String> {
        run_sh(&format!("{WORK}/up.sh"))
    }

    fn down(&mut self, _plan: &Plan) -> Result<(), String> {
        run_sh(&format!("{WORK}/down.sh"))
    }

    fn down_bridges(&mut self, _plan: &Plan) -> Result<(), String> {
        run_sh(&format!("{WORK}/bridges-down.sh"))
    }

    fn in_process(&self) -> bool {
        false
    }

    fn describe(&self, plan: &Plan) -> String {
        format!(
            "sh -e of one ip call per step: per bridge `ip link add BR type bridge`, `ip addr add`, \
             `ip link set BR up`; per namespace 6 calls: `ip netns add NS`, `ip link add VETH type \
             veth peer name eth0 netns NS`, `ip link set VETH master BR up`, `ip -n NS link set \
             eth0 up`, `ip -n NS addr add A/16 dev eth0`, `ip -n NS route add default via GW` \
             ({} ip processes); teardown: `ip netns delete NS` per name (then, once settled, `ip link delete BR`)",
            plan.n * 6 + plan.bridges() * 3
        )
    }
}

/// `ip -batch` in the host for the bridges, namespaces and veths, then one `ip -n NS -batch`
/// per namespace for what must happen inside it.
#[derive(Debug, Default)]
pub struct IpBatch {
    phases: Vec<(&'static str, f64)>,
}

impl Contender for IpBatch {
    fn prepare(&mut self, plan: &Plan) -> Result<(), String> {
        let mut host = String::new();
        bridge_lines(plan, "", &mut host);
        for i in 0..plan.n {
            let _ = writeln!(host, "netns add {}", plan.ns(i));
        }
        for i in 0..plan.n {
            let b = plan.bridge(plan.bridge_of(i));
            let _ = writeln!(
                host,
                "link add {} master {b} up type veth peer name {PEER} netns {}",
                plan.host_veth(i),
                plan.ns(i)
            );
        }
        write(&format!("{WORK}/host.batch"), &host)?;
        let mut up = String::new();
        for i in 0..plan.n {
            let ns = plan.ns(i);
            let file = format!("{WORK}/{ns}.batch");
            let text = format!(
                "link set {PEER} up\naddr add {}/{PREFIX} dev {PEER}\nroute add default via {}\n",
                plan.addr(i),
                plan.gw(plan.bridge_of(i))
            );
            write(&file, &text)?;
            let _ = writeln!(up, "ip -n {ns} -batch {file}");
        }
        write(&format!("{WORK}/up-batch.sh"), &up)?;
        let mut down = String::new();
        for i in 0..plan.n {
            let _ = writeln!(down, "netns delete {}", plan.ns(i));
        }
        let mut bridges = String::new();
        for b in 0..plan.bridges() {
            let _ = writeln!(bridges, "link delete {}", plan.bridge(b));
        }
        write(&format!("{WORK}/bridges-down.batch"), &bridges)?;
        write(&format!("{WORK}/down.batch"), &down)
    }

    fn up(&mut self, _plan: &Plan) -> Result<(), String> {
        let t = Instant::now();
        ip_batch_file(&format!("{WORK}/host.batch"))?;
        self.phases.push((
            "host ip -batch (bridges, netns add, veth add)",
            t.elapsed().as_secs_f64(),
        ));
        let t = Instant::now();
        run_sh(&format!("{WORK}/up-batch.sh"))?;
        self.phases
            .push(("ip -n NS -batch per namespace", t.elapsed().as_secs_f64()));
        Ok(())
    }

    fn phases(&self) -> Vec<(&'static str, f64)> {
        self.phases.clone()
    }

    fn down(&mut self, _plan: &Plan) -> Result<(), String> {
        ip_batch_file(&format!("{WORK}/down.batch"))
    }

    fn down_bridges(&mut self, _plan: &Plan) -> Result<(), String> {
        ip_batch_file(&format!("{WORK}/bridges-down.batch"))
    }

    fn in_process(&self) -> bool {
        false
    }

    fn describe(&self, plan: &Plan) -> String {
        format!(
            "one `ip -batch` in the host: bridges (link add, addr add, link set up), {n} `netns add`, \
             {n} `link add VETH master BR up type veth peer name eth0 netns NS` (ip cannot put a \
             per-line -n in a batch, and a peer `up` at creation fails with ENOTCONN on this kernel); \
             then per namespace one `ip -n NS -batch FILE` of `link set eth0 up`, `addr add`, \
             `route add default` ({} ip processes, run by sh); teardown: one `ip -batch` of {n} \
             `netns delete` (then, once settled, one `ip -batch` of `link delete BR`)",
            1 + plan.n,
            n = plan.n
        )
    }
}

/// Check what a contender built, independently of it (hand-rolled netlink dumps): every name
/// under `/run/netns` is a live namespace, every bridge is up with its ports, and inside every
/// namespace `eth0` is up with its address and the default route goes via the gateway.
pub fn verify(plan: &Plan) -> Result<String, String> {
    let live = crate::nscli::live_named_namespaces()?;
    if live.len() != plan.n {
        return Err(format!(
            "{} namespaces under /run/netns, expected {}",
            live.len(),
            plan.n
        ));
    }
    let mut host = Nl::open().map_err(io_err("netlink socket"))?;
    let links: Vec<nl::LinkInfo> = host
        .collect(nl::dump(nl::RTM_GETLINK))
        .map_err(io_err("dump links"))?
        .iter()
        .filter_map(|b| nl::parse_link(b))
        .collect();
    let mut ports = 0;
    for b in 0..plan.bridges() {
        let name = plan.bridge(b);
        let br = links
            .iter()
            .find(|l| l.name == name)
            .ok_or(format!("bridge {name} missing"))?;
        if !br.up {
            return Err(format!("bridge {name} is down"));
        }
        let n = links
            .iter()
            .filter(|l| l.master == Some(br.index) && l.up)
            .count();
        let want = (0..plan.n).filter(|&i| plan.bridge_of(i) == b).count();
        if n != want {
            return Err(format!("bridge {name} has {n} ports up, expected {want}"));
        }
        ports += n;
    }
    // Inside every namespace, from a thread that enters each in turn.
    let checked = std::thread::scope(|s| {
        s.spawn(|| -> Result<usize, String> {
            for i in 0..plan.n {
                let ns = plan.ns(i);
                let f =
                    File::open(Path::new("/run/netns").join(&ns)).map_err(io_err("open netns"))?;
                nix::sched::setns(&f, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("setns {ns}: {e}"))?;
                let mut s = Nl::open().map_err(io_err("netlink socket"))?;
                let links = s
                    .collect(nl::dump(nl::RTM_GETLINK))
                    .map_err(io_err("dump links"))?;
                let eth0 = links
                    .iter()
                    .filter_map(|b| nl::parse_link(b))
                    .find(|l| l.name == PEER)
                    .ok_or(format!("{ns}: no {PEER}"))?;
                if !eth0.up {
                    return Err(format!("{ns}: {PEER} is down"));
                }
                let addrs = s
                    .collect(nl::dump(nl::RTM_GETADDR))
                    .map_err(io_err("dump addresses"))?;
                let want = (eth0.index, plan.addr(i), PREFIX);
                if !addrs
                    .iter()
                    .filter_map(|b| nl::parse_addr(b))
                    .any(|a| a == want)
                {
                    return Err(format!("{ns}: {PEER} lacks {}/{PREFIX}", plan.addr(i)));
                }
                let routes = s
                    .collect(nl::dump(nl::RTM_GETROUTE))
                    .map_err(io_err("dump routes"))?;
                let gw = plan.gw(plan.bridge_of(i));
                if !routes
                    .iter()
                    .filter_map(|b| nl::parse_default_gw(b))
                    .any(|g| g == gw)
                {
                    return Err(format!("{ns}: no default route via {gw}"));
                }
            }
            Ok(plan.n)
        })
        .join()
        .unwrap_or_else(|_| Err("verifier panicked".into()))
    })?;
    Ok(format!(
        "{} namespaces live; {ports} veths up as ports of {} bridges; eth0 up with its address \
         and default route checked in all {checked}",
        live.len(),
        plan.bridges()
    ))
}

/// Number of links in the calling thread's namespace.
pub fn link_count() -> Result<usize, String> {
    let mut host = Nl::open().map_err(io_err("netlink socket"))?;
    Ok(host
        .collect(nl::dump(nl::RTM_GETLINK))
        .map_err(io_err("dump links"))?
        .len())
}
