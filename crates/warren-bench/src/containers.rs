//! `containers`: warren's container networking side by side with netavark and the reference
//! CNI chain, in one run.
//!
//! 1. `wire`: one container with masquerade and 0, 1 and 10 published ports, setup and
//!    teardown timed separately, median of N runs (plus warren's DNS first use and steady
//!    state).
//! 2. `seq`: 100 containers in sequence with one port each: the first ten setups against the
//!    last ten.
//! 3. `connrate`: new connections per second to a published port with 1, 1,000 and 10,000
//!    ports published, against connecting to the container directly (no NAT).
//! 4. `dns`: warren-dns against aardvark-dns: query latency, queries per second, peak RSS.
//!
//! Every contender runs in its own sandbox (see `sandbox`), one after the other.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::wirers::{self, HOST_PORT_BASE};
use crate::{connrate, containers_report, dnsbench, rss, sandbox};

/// Usage of `warren-bench containers`.
pub const USAGE: &str = "usage: warren-bench containers [--n N] [--seq-n M] [--secs S] \
[--ports 0,1,10] [--levels 1,1000,10000] [--parts wire,seq,connrate,dns] \
[--contenders warren,warren-adopt,warren-dnscold,warren-lib,warren-lib-adopt,netavark,netavark-dns,netavark2,cni] [--warren PATH] \
[--netavark2 PATH] [--out FILE]";

/// The contenders of part 1, in the order they run.
pub const WIRE_CONTENDERS: &[&str] = &[
    "warren",
    "warren-adopt",
    "warren-dnscold",
    "warren-lib",
    "warren-lib-adopt",
    "netavark",
    "netavark-dns",
    "netavark2",
    "cni",
];
/// The contenders of part 2.
pub const SEQ_CONTENDERS: &[&str] = &["warren", "warren-lib", "netavark", "netavark2", "cni"];

/// Options of `warren-bench containers`.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Runs per figure in part 1.
    pub n: usize,
    /// Containers in part 2.
    pub seq_n: usize,
    /// Seconds per measurement in parts 3 and 4.
    pub secs: f64,
    /// Published port counts of part 1.
    pub ports: Vec<usize>,
    /// Published port counts of part 3.
    pub levels: Vec<usize>,
    /// Parts to run.
    pub parts: Vec<String>,
    /// Contenders to run (all if `None`).
    pub contenders: Option<Vec<String>>,
    /// The warren binary (warren-dns beside it).
    pub warren: String,
    /// A netavark 2.x binary, if any.
    pub netavark2: String,
    /// Where to write the JSON.
    pub out: Option<String>,
}

fn list<T: std::str::FromStr>(v: &str, what: &str) -> Result<Vec<T>, String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("{what}: bad value {s:?}")))
        .collect()
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        n: 20,
        seq_n: 100,
        secs: 3.0,
        ports: vec![0, 1, 10],
        levels: vec![1, 1000, 10_000],
        parts: ["wire", "seq", "connrate", "dns"]
            .map(String::from)
            .to_vec(),
        contenders: None,
        warren: "warren".into(),
        netavark2: String::new(),
        out: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || crate::option_value(&mut it, a, USAGE);
        match a.as_str() {
            "--n" => {
                o.n = list::<usize>(&val()?, a)?
                    .first()
                    .copied()
                    .unwrap_or(20)
                    .max(1)
            }
            "--seq-n" => o.seq_n = list::<usize>(&val()?, a)?.first().copied().unwrap_or(100),
            "--secs" => o.secs = list::<f64>(&val()?, a)?.first().copied().unwrap_or(3.0),
            "--ports" => o.ports = list(&val()?, a)?,
            "--levels" => o.levels = list(&val()?, a)?,
            "--parts" => o.parts = list(&val()?, a)?,
            "--contenders" => o.contenders = Some(list(&val()?, a)?),
            "--warren" => o.warren = val()?,
            "--netavark2" => o.netavark2 = val()?,
            "--out" => o.out = Some(val()?),
            _ => return Err(format!("unknown option {a}\n{USAGE}")),
        }
    }
    if o.seq_n < 20 {
        return Err("--seq-n must be at least 20 (first ten against last ten)".into());
    }
    if o.levels.iter().any(|&l| l == 0 || l > 30_000) {
        return Err("--levels: 1..=30000 ports".into());
    }
    if o.ports.iter().any(|&p| p > 100) {
        return Err("--ports: at most 100".into());
    }
    if !(0.2..=60.0).contains(&o.secs) {
        return Err("--secs: 0.2 to 60".into());
    }
    Ok(o)
}

/// Run one child in its own sandbox, then wait for the kernel to free its namespaces.
fn run_one(label: &str, args: Vec<String>) -> Value {
    let baseline = sandbox::netns_slab_active();
    let t = Instant::now();
    let r = sandbox::run_child(&args).unwrap_or_else(|e| json!({ "error": e }));
    let took = t.elapsed();
    let waited = sandbox::wait_netns_freed(baseline, Duration::from_secs(30));
    match r.get("error").and_then(Value::as_str) {
        Some(e) => eprintln!("[containers] {label}: FAILED: {e}"),
        None => eprintln!(
            "[containers] {label}: done in {:.1} s ({:.1} s waiting for the kernel to free \
             namespaces; CPU steal {}%)",
            took.as_secs_f64(),
            waited.as_secs_f64(),
            r.get("cpu_steal_pct")
                .map_or("?".into(), ToString::to_string)
        ),
    }
    r
}

/// `warren-bench containers ...`: the orchestrating parent.
pub fn main(args: &[String]) -> Result<(), String> {
    let o = parse_opts(args)?;
    let started = Instant::now();
    let part = |p: &str| o.parts.iter().any(|x| x == p);
    let wanted = |c: &str| {
        o.contenders
            .as_ref()
            .is_none_or(|l| l.iter().any(|x| x == c))
    };
    let tagged = |mut v: Value, k: &[(&str, Value)]| {
        if let Some(obj) = v.as_object_mut() {
            for (key, val) in k {
                obj.entry(*key).or_insert(val.clone());
            }
        }
        v
    };

    let mut wire = Vec::new();
    if part("wire") {
        for &k in &o.ports {
            for c in WIRE_CONTENDERS.iter().filter(|c| wanted(c)) {
                eprintln!(
                    "[containers] wire: {c}, {k} port(s): {} setups and teardowns ...",
                    o.n
                );
                let args = vec![
                    "containers-wire".into(),
                    (*c).into(),
                    k.to_string(),
                    o.n.to_string(),
                    o.warren.clone(),
                    o.netavark2.clone(),
                ];
                let r = run_one(&format!("wire {c} {k} port(s)"), args);
                wire.push(tagged(r, &[("contender", json!(c)), ("ports", json!(k))]));
            }
        }
    }
    let mut seq = Vec::new();
    if part("seq") {
        for c in SEQ_CONTENDERS.iter().filter(|c| wanted(c)) {
            eprintln!(
                "[containers] seq: {c}: {} containers with one port each ...",
                o.seq_n
            );
            let args = vec![
                "containers-seq".into(),
                (*c).into(),
                o.seq_n.to_string(),
                o.warren.clone(),
                o.netavark2.clone(),
            ];
            let r = run_one(&format!("seq {c}"), args);
            seq.push(tagged(r, &[("contender", json!(c))]));
        }
    }
    let mut conn = Value::Null;
    if part("connrate") {
        eprintln!(
            "[containers] connrate: levels {:?}, {} s per measurement ...",
            o.levels, o.secs
        );
        let levels: Vec<String> = o.levels.iter().map(ToString::to_string).collect();
        let args = vec![
            "containers-connrate".into(),
            o.warren.clone(),
            o.secs.to_string(),
            levels.join(","),
        ];
        conn = run_one("connrate", args);
    }
    let mut dns = Vec::new();
    if part("dns") {
        eprintln!(
            "[containers] dns: {} in one sandbox, {} s of queries each ...",
            dnsbench::SERVERS.join(" and "),
            o.secs
        );
        let args = vec![
            "containers-dns".into(),
            o.warren.clone(),
            o.secs.to_string(),
        ];
        let r = run_one("dns", args);
        match r["servers"].as_array() {
            Some(v) => dns.clone_from(v),
            None => {
                for server in dnsbench::SERVERS {
                    let mut e = r.clone();
                    e["server"] = json!(server);
                    dns.push(e);
                }
            }
        }
    }
    let doc = containers_report::document(&o, wire, seq, conn, dns, started.elapsed());
    println!("{}", containers_report::table(&doc));
    if let Some(out) = &o.out {
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(out, text + "\n").map_err(|e| format!("writing {out}: {e}"))?;
        println!("results written to {out}");
    }
    Ok(())
}

/// Inside the sandbox: the child commands of this benchmark (`None` if `cmd` isn't one).
pub fn child(cmd: &str, args: &[String]) -> Option<Result<Value, String>> {
    Some(match cmd {
        "containers-wire" => child_wire(args),
        "containers-seq" => child_seq(args),
        "containers-connrate" => connrate::child(args),
        "containers-dns" => dnsbench::child(args),
        _ => return None,
    })
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map_or("", String::as_str)
}

fn median(v: &[f64]) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The sandbox's own network: `lo` up and forwarding on, as a container host has.
pub fn host_basics() -> Result<(), String> {
    wirers::sh(&["ip", "link", "set", "lo", "up"])?;
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").map_err(|e| format!("ip_forward: {e}"))?;
    std::fs::create_dir_all(wirers::WORK).map_err(|e| format!("mkdir {}: {e}", wirers::WORK))
}

/// Part 1 in the sandbox: N times setup, verify, teardown of container 0 with `k` ports.
fn child_wire(args: &[String]) -> Result<Value, String> {
    let (name, k, n) = (arg(args, 0), arg(args, 1), arg(args, 2));
    let k: usize = k.parse().map_err(|_| "bad port count")?;
    let n: usize = n.parse().map_err(|_| "bad n")?;
    host_basics()?;
    let mut w = match wirers::wirer(name, arg(args, 3), arg(args, 4)) {
        Ok(w) => w,
        Err(e) => return Ok(json!({"contender": name, "ports": k, "skipped": e})),
    };
    let fail = |stage: &str, e: String| -> Result<Value, String> {
        wirers::kill_leftovers();
        Ok(
            json!({"contender": name, "ports": k, "error": format!("{stage}: {e}"),
                  "children_peak_rss_kib": rss::children_peak_kib()}),
        )
    };
    rss::reset_self_peak();
    if let Err(e) = w.prepare() {
        return fail("prepare", e);
    }
    let ports = wirers::port_pairs(HOST_PORT_BASE, k);
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let mut addr = None;
    for run in 0..n {
        // Container i = run: names and addresses differ from run to run as they would on a
        // host (and no contender can hit a cache of the previous identical call).
        let i = run;
        if let Err(e) = w.pre(i) {
            return fail("pre", e);
        }
        let t = Instant::now();
        if let Err(e) = w.setup(i, &ports) {
            return fail("setup", e);
        }
        up.push(ms(t.elapsed()));
        if let Some((ns, gw)) = w.netns(i) {
            match wirers::verify_netns(&ns, gw) {
                Ok(a) => addr = Some(a),
                Err(e) => return fail("verify", e),
            }
        }
        let t = Instant::now();
        if let Err(e) = w.teardown(i) {
            return fail("teardown", e);
        }
        down.push(ms(t.elapsed()));
        if let Err(e) = w.post(i) {
            return fail("post", e);
        }
        w.settle();
    }
    let servers = w.finish();
    let first = w.first_ms();
    let left = wirers::kill_leftovers();
    Ok(json!({
        "contender": name,
        "ports": k,
        "n": n,
        "setup_ms": median(&up),
        "teardown_ms": median(&down),
        "setup_runs_ms": up,
        "teardown_runs_ms": down,
        "first_container_ms": first,
        "children_peak_rss_kib": rss::children_peak_kib(),
        "self_peak_rss_kib": rss::self_peak_kib(),
        "dns_servers_peak_rss_kib": servers.into_iter().map(|(k, v)| (k, json!(v)))
            .collect::<serde_json::Map<_, _>>(),
        "leftover_processes_killed": left,
        "verified": format!("eth0 up with an address (last {}) and a default route via the \
                             gateway, after every setup", addr.map(|a| a.to_string())
                             .unwrap_or_default()),
        "what": w.describe(),
    }))
}

/// Part 2 in the sandbox: `seq_n` containers set up one after the other, one port each; then
/// all torn down.
fn child_seq(args: &[String]) -> Result<Value, String> {
    let name = arg(args, 0);
    let n: usize = arg(args, 1).parse().map_err(|_| "bad n")?;
    host_basics()?;
    let mut w = match wirers::wirer(name, arg(args, 2), arg(args, 3)) {
        Ok(w) => w,
        Err(e) => return Ok(json!({"contender": name, "skipped": e})),
    };
    let fail = |stage: &str, e: String| -> Result<Value, String> {
        wirers::kill_leftovers();
        Ok(json!({"contender": name, "error": format!("{stage}: {e}")}))
    };
    rss::reset_self_peak();
    if let Err(e) = w.prepare() {
        return fail("prepare", e);
    }
    let mut up = Vec::with_capacity(n);
    for i in 0..n {
        if let Err(e) = w.pre(i) {
            return fail("pre", e);
        }
        let ports = [(HOST_PORT_BASE + i as u16, 80)];
        let t = Instant::now();
        if let Err(e) = w.setup(i, &ports) {
            return fail(&format!("setup of container {i}"), e);
        }
        up.push(ms(t.elapsed()));
    }
    for i in [0, n / 2, n - 1] {
        if let Some((ns, gw)) = w.netns(i) {
            if let Err(e) = wirers::verify_netns(&ns, gw) {
                return fail("verify", e);
            }
        }
    }
    let mut down = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        if let Err(e) = w.teardown(i) {
            return fail(&format!("teardown of container {i}"), e);
        }
        down.push(ms(t.elapsed()));
        if let Err(e) = w.post(i) {
            return fail("post", e);
        }
    }
    w.finish();
    wirers::kill_leftovers();
    let first = median(&up[..10]);
    let last = median(&up[n - 10..]);
    Ok(json!({
        "contender": name,
        "n": n,
        "setup_first10_ms": first,
        "setup_last10_ms": last,
        "growth": first.zip(last).map(|(a, b)| b / a),
        "setup_median_ms": median(&up),
        "setup_total_s": up.iter().sum::<f64>() / 1e3,
        "teardown_median_ms": median(&down),
        "teardown_first10_ms": median(&down[..10]),
        "teardown_last10_ms": median(&down[n - 10..]),
        "setup_runs_ms": up,
        "teardown_runs_ms": down,
        "children_peak_rss_kib": rss::children_peak_kib(),
        "self_peak_rss_kib": rss::self_peak_kib(),
        "verified": "containers 0, n/2 and n-1: eth0 up with an address and a default route",
        "what": w.describe(),
    }))
}
