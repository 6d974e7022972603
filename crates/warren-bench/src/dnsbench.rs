//! `containers`, part 4: warren-dns against aardvark-dns. Each server answers one known name
//! (`web` → 10.0.0.2) on 127.0.0.1 in the sandbox; one client sends A queries one at a time
//! for a few seconds: latency percentiles, queries per second, and the server's peak RSS
//! (`VmHWM` read from /proc before it is stopped).

use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::wirers::{AARDVARK_DEFAULT, WORK, live_pid, pid_peak_kib};

/// The servers, in the order they run.
pub const SERVERS: &[&str] = &["warren-dns", "aardvark-dns"];

const PORT: u16 = 5300;
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

fn start(server: &str, warren: &str) -> Result<Running, String> {
    let dir = format!("{WORK}/dns");
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    match server {
        "warren-dns" => {
            let bin = std::path::Path::new(warren).with_file_name("warren-dns");
            let cfg = format!("{dir}/config.json");
            let pid_file = format!("{dir}/warren-dns.pid");
            let conf = json!({
                "listen": [{"network": "n", "addr": "127.0.0.1"}],
                "port": PORT,
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
                .args(["--config", &cfg, "-p", &PORT.to_string(), "run"])
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

/// In the sandbox: `containers-dns SERVER WARREN SECS`.
pub fn child(args: &[String]) -> Result<Value, String> {
    let server = args.first().map_or("", String::as_str);
    let warren = args.get(1).map_or("warren", String::as_str);
    let secs: f64 = args.get(2).and_then(|s| s.parse().ok()).ok_or("bad secs")?;
    crate::wirers::sh(&["ip", "link", "set", "lo", "up"])?;
    let mut r = start(server, warren)?;
    let result = measure(secs);
    let peak = pid_peak_kib(r.pid);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(r.pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    if let Some(c) = r.child.as_mut() {
        let _ = c.wait();
    }
    crate::wirers::kill_leftovers();
    let mut v = match result {
        Ok(v) => v,
        Err(e) => json!({"error": e}),
    };
    v["server"] = json!(server);
    v["peak_rss_kib"] = json!(peak);
    v["what"] = json!(r.what);
    Ok(v)
}

fn measure(secs: f64) -> Result<Value, String> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    sock.connect(("127.0.0.1", PORT))
        .map_err(|e| format!("connect: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1500];
    let mut id: u16 = 0;
    let mut ask = |id: u16| -> Result<Duration, String> {
        let q = query(id);
        let t = Instant::now();
        sock.send(&q).map_err(|e| format!("send: {e}"))?;
        loop {
            let n = sock.recv(&mut buf).map_err(|e| format!("recv: {e}"))?;
            // A late reply to an earlier (timed-out) query is skipped.
            if n >= 2 && buf[..2] == id.to_be_bytes() {
                check(&buf[..n], id)?;
                return Ok(t.elapsed());
            }
        }
    };
    // Wait for the server to answer (it may still be binding), then warm up.
    let t = Instant::now();
    loop {
        id = id.wrapping_add(1);
        match ask(id) {
            Ok(_) => break,
            Err(e) if t.elapsed() > Duration::from_secs(5) => {
                return Err(format!("no valid answer within 5 s: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    for _ in 0..200 {
        id = id.wrapping_add(1);
        ask(id)?;
    }
    let mut lat: Vec<u32> = Vec::with_capacity(200_000);
    let mut errors = 0u64;
    let mut first_error = None;
    let limit = Duration::from_secs_f64(secs);
    let t = Instant::now();
    while t.elapsed() < limit {
        id = id.wrapping_add(1);
        match ask(id) {
            Ok(d) => lat.push(d.as_micros().min(u128::from(u32::MAX)) as u32),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let wall = t.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    Ok(json!({
        "queries": lat.len(),
        "errors": errors,
        "first_error": first_error,
        "seconds": wall,
        "queries_per_s": lat.len() as f64 / wall,
        "p50_us": pct(0.5),
        "p99_us": pct(0.99),
        "verified": "every counted reply: matching id, NOERROR, an A record 10.0.0.2",
    }))
}
