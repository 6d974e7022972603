//! `containers`, part 4: warren-dns against aardvark-dns. Both servers run in one sandbox, each
//! answering one known name (`web` → 10.0.0.2) on 127.0.0.1 (ports 5300 and 5301); one client
//! sends A queries one at a time, to one server then the other in alternating rounds (so drift
//! in the machine's load hits both alike): latency percentiles, queries per second, and each
//! server's own peak RSS (`VmHWM` read from /proc before it is stopped).

use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::wirers::{AARDVARK_DEFAULT, WORK, live_pid, pid_peak_kib};

/// The servers, in the order they run.
pub const SERVERS: &[&str] = &["warren-dns", "aardvark-dns"];

const PORT: u16 = 5300;
/// Rounds per server, alternating which goes first.
const ROUNDS: usize = 4;
const ANSWER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// An A query for `web.` with id `id` (recursion desired).
fn query(id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(32);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(b"\x03web\x00");
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

/// Check a reply to query `id`: NOERROR, at least one answer, and the first A record is
/// 10.0.0.2 (the answer's RDATA is the last 4 bytes of a reply with one A answer).
fn check(reply: &[u8], id: u16) -> Result<(), String> {
    if reply.len() < 12 || reply[..2] != id.to_be_bytes() {
        return Err("reply with a wrong id or too short".into());
    }
    let rcode = reply[3] & 0x0f;
    let ancount = u16::from_be_bytes([reply[6], reply[7]]);
    if rcode != 0 || ancount == 0 {
        return Err(format!("rcode {rcode}, {ancount} answers"));
    }
    if !reply.windows(6).any(|w| w == [0, 4, 10, 0, 0, 2]) {
        return Err(format!("no A record {ANSWER} in the reply"));
    }
    Ok(())
}

struct Running {
    pid: i32,
    child: Option<Child>,
    what: String,
}

fn start(server: &str, warren: &str, port: u16) -> Result<Running, String> {
    let dir = format!("{WORK}/dns");
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    match server {
        "warren-dns" => {
            let bin = std::path::Path::new(warren).with_file_name("warren-dns");
            let cfg = format!("{dir}/config.json");
            let pid_file = format!("{dir}/warren-dns.pid");
            let conf = json!({
                "listen": [{"network": "n", "addr": "127.0.0.1"}],
                "port": port,
                "upstreams": [],
                "names": [{"name": "web", "network": "n", "addrs": [ANSWER.to_string()]}],
            });
            std::fs::write(&cfg, conf.to_string()).map_err(|e| format!("{cfg}: {e}"))?;
            let child = Command::new(&bin)
                .args(["--config", &cfg, "--pid-file", &pid_file])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("{}: {e}", bin.display()))?;
            Ok(Running {
                pid: child.id() as i32,
                child: Some(child),
                what: format!(
                    "{} --config FILE --pid-file FILE, config {conf}",
                    bin.display()
                ),
            })
        }
        "aardvark-dns" => {
            let cfg = format!("{dir}/aardvark");
            std::fs::create_dir_all(&cfg).map_err(|e| format!("mkdir {cfg}: {e}"))?;
            // One file per network: the listen address(es), then ID IPv4 IPv6 NAMES per line.
            let net = format!("127.0.0.1\n{} {ANSWER}  web\n", "c".repeat(64));
            std::fs::write(format!("{cfg}/n"), &net).map_err(|e| format!("{cfg}/n: {e}"))?;
            // `run` daemonizes: the started process exits, the server's pid is in the dir.
            let st = Command::new(AARDVARK_DEFAULT)
                .args(["--config", &cfg, "-p", &port.to_string(), "run"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| format!("{AARDVARK_DEFAULT}: {e}"))?;
            if !st.success() {
                return Err(format!("{AARDVARK_DEFAULT} run: {st}"));
            }
            let pid_file = format!("{cfg}/aardvark.pid");
            let t = Instant::now();
            loop {
                if let Some(pid) = live_pid(&pid_file) {
                    return Ok(Running {
                        pid,
                        child: None,
                        what: format!(
                            "{AARDVARK_DEFAULT} --config DIR -p {PORT} run (it daemonizes), \
                             DIR/n = {net:?}"
                        ),
                    });
                }
                if t.elapsed() > Duration::from_secs(5) {
                    return Err(format!("no live pid in {pid_file} after 5 s"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        other => Err(format!("unknown DNS server {other:?}")),
    }
}

/// Latencies (µs) and errors of one server over the rounds.
#[derive(Debug, Default)]
struct Tally {
    lat: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
}

/// In the sandbox: `containers-dns WARREN SECS`: both servers, alternating rounds.
pub fn child(args: &[String]) -> Result<Value, String> {
    let warren = args.first().map_or("warren", String::as_str);
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).ok_or("bad secs")?;
    crate::wirers::sh(&["ip", "link", "set", "lo", "up"])?;
    let mut running = Vec::new();
    let mut clients = Vec::new();
    for (k, server) in SERVERS.iter().enumerate() {
        let port = PORT + k as u16;
        let r = start(server, warren, port).and_then(|r| Client::new(port).map(|c| (r, c)));
        match r {
            Ok((r, c)) => {
                running.push(Some(r));
                clients.push(Some(c));
            }
            Err(e) => {
                running.push(None);
                clients.push(None);
                eprintln!("[containers] dns: {server}: {e}");
            }
        }
    }
    let mut tallies: Vec<Tally> = SERVERS.iter().map(|_| Tally::default()).collect();
    let mut failed: Vec<Option<String>> = SERVERS.iter().map(|_| None).collect();
    for (k, c) in clients.iter_mut().enumerate() {
        match c {
            Some(c) => {
                if let Err(e) = c.ready() {
                    failed[k] = Some(e);
                }
            }
            None => failed[k] = Some("the server did not start".into()),
        }
    }
    let per = secs / ROUNDS as f64;
    for round in 0..ROUNDS {
        let mut order: Vec<usize> = (0..SERVERS.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for k in order {
            if failed[k].is_some() {
                continue;
            }
            if let Some(c) = clients[k].as_mut() {
                c.run(per, &mut tallies[k]);
            }
        }
    }
    let mut out = Vec::new();
    for (k, server) in SERVERS.iter().enumerate() {
        let (peak, what) = match running[k].as_mut() {
            Some(r) => {
                let peak = pid_peak_kib(r.pid);
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(r.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                if let Some(c) = r.child.as_mut() {
                    let _ = c.wait();
                }
                (peak, Some(r.what.clone()))
            }
            None => (None, None),
        };
        let mut v = match failed[k].take() {
            Some(e) => json!({ "error": e }),
            None => summary(std::mem::take(&mut tallies[k])),
        };
        v["server"] = json!(server);
        v["port"] = json!(PORT + k as u16);
        v["peak_rss_kib"] = json!(peak);
        v["what"] = json!(what);
        out.push(v);
    }
    crate::wirers::kill_leftovers();
    Ok(json!({ "servers": out, "rounds": ROUNDS }))
}

fn summary(mut t: Tally) -> Value {
    t.lat.sort_unstable();
    let lat = &t.lat;
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    json!({
        "queries": lat.len(),
        "errors": t.errors,
        "first_error": t.first_error,
        "seconds": t.seconds,
        "queries_per_s": lat.len() as f64 / t.seconds.max(1e-9),
        "p50_us": pct(0.5),
        "p99_us": pct(0.99),
        "verified": "every counted reply: matching id, NOERROR, an A record 10.0.0.2",
    })
}

/// One UDP client of one server.
struct Client {
    sock: UdpSocket,
    id: u16,
    buf: [u8; 1500],
}

impl Client {
    fn new(port: u16) -> Result<Client, String> {
        let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        sock.connect(("127.0.0.1", port))
            .map_err(|e| format!("connect: {e}"))?;
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .map_err(|e| e.to_string())?;
        Ok(Client {
            sock,
            id: 0,
            buf: [0; 1500],
        })
    }

    /// One query, its reply checked: the round-trip time.
    fn ask(&mut self) -> Result<Duration, String> {
        self.id = self.id.wrapping_add(1);
        let id = self.id;
        let q = query(id);
        let t = Instant::now();
        self.sock.send(&q).map_err(|e| format!("send: {e}"))?;
        loop {
            let n = self
                .sock
                .recv(&mut self.buf)
                .map_err(|e| format!("recv: {e}"))?;
            // A late reply to an earlier (timed-out) query is skipped.
            if n >= 2 && self.buf[..2] == id.to_be_bytes() {
                check(&self.buf[..n], id)?;
                return Ok(t.elapsed());
            }
        }
    }

    /// Wait for the server to answer (it may still be binding), then warm up.
    fn ready(&mut self) -> Result<(), String> {
        let t = Instant::now();
        loop {
            match self.ask() {
                Ok(_) => break,
                Err(e) if t.elapsed() > Duration::from_secs(5) => {
                    return Err(format!("no valid answer within 5 s: {e}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        for _ in 0..200 {
            self.ask()?;
        }
        Ok(())
    }

    /// Queries one at a time for `secs`.
    fn run(&mut self, secs: f64, tally: &mut Tally) {
        let limit = Duration::from_secs_f64(secs);
        let t = Instant::now();
        while t.elapsed() < limit {
            match self.ask() {
                Ok(d) => tally
                    .lat
                    .push(d.as_micros().min(u128::from(u32::MAX)) as u32),
                Err(e) => {
                    tally.errors += 1;
                    tally.first_error.get_or_insert(e);
                }
            }
        }
        tally.seconds += t.elapsed().as_secs_f64();
    }
}
