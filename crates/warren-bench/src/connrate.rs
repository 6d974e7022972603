//! `containers`, part 3: new connections per second to a port published by warren, with 1,
//! 1,000 and 10,000 ports published, against connecting to the container's own address (no
//! NAT) over the same path.
//!
//! The sandbox's own namespace is the host. A server pod on network `cn` (10.77.0.0/16) runs a
//! TCP accept loop on the last published port (a thread of this process inside the pod's namespace); a client
//! namespace hangs off the host by a veth pair (192.168.250.2 → host 192.168.250.1) and
//! connects as fast as it can, one new connection each time (connect, then close with an RST
//! so no TIME_WAIT piles up), either to the host address's published port (DNAT) or to the
//! pod's address directly.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use serde_json::{Value, json};

use crate::nl::{self, Nl};
use crate::wirers::{self, Warren, sh, timed};

/// The host's address as the client sees it.
const HOST_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 250, 1);
/// First published host port.
const BASE: u16 = 20_000;

fn enter(path: &str) -> Result<(), String> {
    let f = File::open(path).map_err(|e| format!("open {path}: {e}"))?;
    nix::sched::setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {path}: {e}"))
}

/// The accept loop inside the server pod: counts accepted connections until told to stop.
struct Server {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    addr: Ipv4Addr,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    fn start(netns: &str, port: u16) -> Result<Server, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel::<Result<Ipv4Addr, String>>();
        let path = format!("/run/netns/{netns}");
        let (s2, a2) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            let setup = || -> Result<(TcpListener, Ipv4Addr), String> {
                enter(&path)?;
                let mut nl = Nl::open().map_err(|e| format!("netlink: {e}"))?;
                let addrs = nl
                    .collect(nl::dump(nl::RTM_GETADDR))
                    .map_err(|e| format!("dump addresses: {e}"))?;
                let addr = addrs
                    .iter()
                    .filter_map(|b| nl::parse_addr(b))
                    .map(|a| a.1)
                    .find(|a| !a.is_loopback())
                    .ok_or("the server pod has no IPv4 address")?;
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .map_err(|e| format!("socket: {e}"))?;
                s.set_reuse_address(true).map_err(|e| e.to_string())?;
                let bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
                s.bind(&bind.into())
                    .map_err(|e| format!("bind :{port}: {e}"))?;
                s.listen(4096).map_err(|e| format!("listen: {e}"))?;
                // accept() honours SO_RCVTIMEO: the loop wakes up to look at the stop flag.
                s.set_read_timeout(Some(Duration::from_millis(100)))
                    .map_err(|e| e.to_string())?;
                Ok((s.into(), addr))
            };
            let listener = match setup() {
                Ok((l, a)) => {
                    let _ = tx.send(Ok(a));
                    l
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            while !s2.load(Ordering::Relaxed) {
                if let Ok((c, _)) = listener.accept() {
                    a2.fetch_add(1, Ordering::Relaxed);
                    drop(c);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| "the server thread did not start".to_owned())??;
        Ok(Server {
            stop,
            accepted,
            addr,
            thread,
        })
    }

    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// What one target got over the rounds: connect latencies (µs), errors, seconds spent.
#[derive(Debug, Default)]
struct Tally {
    lat: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
    accepted: u64,
}

impl Tally {
    fn summary(mut self, target: SocketAddr) -> Value {
        self.lat.sort_unstable();
        let lat = &self.lat;
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
                .copied()
        };
        json!({
            "target": target.to_string(),
            "connections": lat.len(),
            "errors": self.errors,
            "first_error": self.first_error,
            "seconds": self.seconds,
            "conn_per_s": lat.len() as f64 / self.seconds.max(1e-9),
            "p50_us": pct(0.5),
            "p99_us": pct(0.99),
            "accepted_by_server": self.accepted,
        })
    }
}

/// Connect to `target` from the client namespace as fast as possible for `secs` (after
/// `warmup` untimed connections), adding to `tally`.
fn hammer(target: SocketAddr, secs: f64, warmup: usize, tally: &mut Tally) -> Result<(), String> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<(), String> {
            enter("/run/netns/client")?;
            let connect = || -> Result<Duration, std::io::Error> {
                let t = Instant::now();
                let c = TcpStream::connect_timeout(&target, Duration::from_secs(1))?;
                let took = t.elapsed();
                // Close with an RST: no TIME_WAIT, so the client's ports never run out.
                let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
                drop(c);
                Ok(took)
            };
            for _ in 0..warmup {
                connect().map_err(|e| format!("warm-up connect to {target}: {e}"))?;
            }
            let limit = Duration::from_secs_f64(secs);
            let t = Instant::now();
            while t.elapsed() < limit {
                match connect() {
                    Ok(d) => tally
                        .lat
                        .push(d.as_micros().min(u128::from(u32::MAX)) as u32),
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert(e.to_string());
                    }
                }
            }
            tally.seconds += t.elapsed().as_secs_f64();
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| Err("client thread panicked".into()))
    })
}

/// Rounds of NAT and direct measurement, alternating which goes first, so drift in the
/// machine's load and the conntrack table's growth hit both alike.
const ROUNDS: usize = 4;

fn measure(
    server: &Server,
    nat: SocketAddr,
    direct: SocketAddr,
    secs: f64,
) -> Result<(Value, Value), String> {
    let (mut tn, mut td) = (Tally::default(), Tally::default());
    let per = secs / ROUNDS as f64;
    for round in 0..ROUNDS {
        let warmup = if round == 0 { 200 } else { 20 };
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_nat in order {
            let (target, tally) = if is_nat {
                (nat, &mut tn)
            } else {
                (direct, &mut td)
            };
            let before = server.accepted();
            hammer(target, per, warmup, tally)?;
            // Let the accept loop drain its queue before reading its count.
            std::thread::sleep(Duration::from_millis(50));
            tally.accepted += (server.accepted() - before).saturating_sub(warmup as u64);
        }
    }
    Ok((tn.summary(nat), td.summary(direct)))
}

fn client_namespace() -> Result<(), String> {
    warren_kernel::netns::add_named("client", warren_kernel::netns::Source::New)
        .map_err(|e| format!("netns client: {e}"))?;
    let h = HOST_ADDR.to_string();
    for c in [
        vec![
            "ip", "link", "add", "cv0", "type", "veth", "peer", "name", "eth0", "netns", "client",
        ],
        vec!["ip", "addr", "add", &format!("{h}/30"), "dev", "cv0"],
        vec!["ip", "link", "set", "cv0", "up"],
        vec!["ip", "-n", "client", "link", "set", "lo", "up"],
        vec!["ip", "-n", "client", "link", "set", "eth0", "up"],
        vec![
            "ip",
            "-n",
            "client",
            "addr",
            "add",
            "192.168.250.2/30",
            "dev",
            "eth0",
        ],
        vec!["ip", "-n", "client", "route", "add", "default", "via", &h],
    ] {
        sh(&c)?;
    }
    Ok(())
}

fn one_level(warren: &str, level: usize, secs: f64) -> Result<Value, String> {
    let pod = format!("srv{level}");
    let (_, out) = timed(
        Warren::cmd(warren).args(["pod", "create", &pod, "--net", "cn"]),
        None,
    )?;
    let id = String::from_utf8_lossy(&out).trim().to_owned();
    let last = BASE as usize + level - 1;
    // Equal host and container ranges: warren (like Docker) reads a host range for a single
    // container port as "the first free port of the range", i.e. one port.
    let spec = if level == 1 {
        format!("{BASE}:{BASE}/tcp")
    } else {
        format!("{BASE}-{last}:{BASE}-{last}/tcp")
    };
    let (publish, _) = timed(
        Warren::cmd(warren).args(["pod", "publish", &pod, "-p", &spec]),
        None,
    )?;
    let server = Server::start(&format!("warren-{id}"), last as u16)?;
    let nat_target = SocketAddr::new(IpAddr::V4(HOST_ADDR), last as u16);
    let direct_target = SocketAddr::new(IpAddr::V4(server.addr), last as u16);
    let measured = measure(&server, nat_target, direct_target, secs);
    server.stop();
    let (rm, _) = timed(Warren::cmd(warren).args(["pod", "rm", &pod]), None)?;
    let (nat, direct) = measured?;
    let rate = |v: &Value| v["conn_per_s"].as_f64();
    Ok(json!({
        "ports": level,
        "publish_spec": spec,
        "publish_ms": publish.as_secs_f64() * 1e3,
        "pod_rm_ms": rm.as_secs_f64() * 1e3,
        "nat": nat,
        "direct": direct,
        "nat_over_direct_rate": rate(&nat).zip(rate(&direct)).map(|(a, b)| a / b),
    }))
}

/// In the sandbox: `containers-connrate WARREN SECS LEVELS`.
pub fn child(args: &[String]) -> Result<Value, String> {
    let warren = args.first().map_or("warren", String::as_str);
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).ok_or("bad secs")?;
    let levels: Vec<usize> = args
        .get(2)
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    crate::containers::host_basics()?;
    let fail = |stage: &str, e: String| -> Result<Value, String> {
        wirers::kill_leftovers();
        Ok(json!({"error": format!("{stage}: {e}")}))
    };
    if let Err(e) = timed(
        Warren::cmd(warren).args(["network", "create", "cn", "--subnet", "10.77.0.0/16"]),
        None,
    ) {
        return fail("network create", e);
    }
    if let Err(e) = client_namespace() {
        return fail("client namespace", e);
    }
    let mut out = Vec::new();
    for &l in &levels {
        eprintln!("[containers] connrate: {l} port(s) published ...");
        match one_level(warren, l, secs) {
            Ok(v) => out.push(v),
            Err(e) => out.push(json!({"ports": l, "error": e})),
        }
    }
    wirers::kill_leftovers();
    Ok(json!({
        "levels": out,
        "seconds_per_measurement": secs,
        "what": "server: a warren pod on network cn (10.77.0.0/16) with `warren pod publish POD -p \
                 20000[-LAST]:20000[-LAST]/tcp` (timed: one call; equal ranges, since warren reads \
                 a host range for one container port as one port, the first free one), an accept \
                 loop on :LAST in its namespace; \
                 client: a namespace behind a veth to the host (192.168.250.2 -> .1), one thread \
                 doing connect + close (SO_LINGER 0) in a loop; NAT = to 192.168.250.1:LAST (the \
                 last published port, DNAT by warren's rules), direct = to the pod's address :LAST \
                 over the same path (routed by the host, no DNAT); S seconds each, in 4 rounds alternating \
                 which goes first; 200 warm-up connections first (20 per later round), untimed; \
                 accepted_by_server counts the timed connections the server accepted",
    }))
}
