//! `warren-bench`: the measured work behind `bench/run NAME`.
//!
//! ```text
//! warren-bench wiring [--n N] [--per-bridge P] [--script-n M] [--warren PATH] [--out FILE]
//!                     [--parts a,b] [--repeat R] [--contenders LIST]
//! warren-bench labs [--n 10,100,200,1000] [--linear K] [--contenders LIST] [--repeat R] ...
//! warren-bench inspect [--n N] [--repeat R] [--warren PATH] [--out FILE]
//! warren-bench containers [--n N] [--seq-n M] [--secs S] [--parts wire,seq,connrate,dns] ...
//! ```
//!
//! The parent process only orchestrates: every contender runs in a fresh sandbox (this program
//! re-executed as `warren-bench child ...` in new user, network and mount namespaces with a
//! private `/run`), one after the other, and the parent waits for the kernel to finish freeing
//! one contender's namespaces before starting the next. The figures are printed as a table and
//! written as JSON.

mod cni;
mod cni_report;
mod connrate;
mod containers;
mod containers_report;
mod dnsbench;
mod fmt;
mod inspect;
mod labs;
mod labs_report;
mod nl;
mod nscli;
mod plan;
mod report;
mod rss;
mod sandbox;
mod wirers;
mod wiring;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::plan::Plan;

const USAGE: &str = "usage: warren-bench wiring [--n N] [--per-bridge P] [--script-n M] \
[--warren PATH] [--out FILE] [--parts a,b] [--repeat R] [--contenders raw,warren,ip-batch,ip-script,ip-each,\
warren-each,warren-bulk]\n       warren-bench containers --help\n       warren-bench cni --help\n       warren-bench labs --help\n       warren-bench list";

/// Benchmarks this program knows, with a one-line description.
const BENCHMARKS: &[(&str, &str)] = &[
    (
        "wiring",
        "1,000 namespaces on bridges (veth, address, default route) up and down: warren library \
         vs raw netlink vs ip script vs ip -batch; warren ns vs ip netns, one process per name \
         and bulk",
    ),
    (
        "cni",
        "the CNI chain bridge + host-local + portmap (one port): ADD and DEL of one container \
         and of 100 in sequence, peak RSS per plugin call: warren's plugins vs the reference \
         plugins vs netavark; podman run with either plugin set",
    ),
    (
        "labs",
        "one switch with 10/100/200/1,000 hosts and a chain of 100 switches, up and down: \
         warren lab vs Mininet 2.3 (Linux bridge, no controller) vs an ip script vs ip -batch",
    ),
    (
        "inspect",
        "seeing the host at 1,000 namespaces: warren ns list --all and warren veths vs ip -all \
         netns exec ip -j link, whole processes, peak RSS",
    ),
    (
        "containers",
        "one container with masquerade and 0/1/10 ports, 100 in sequence, new connections to \
         10,000 published ports, DNS: warren vs netavark, the CNI chain and aardvark-dns",
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("wiring") => wiring_main(&args[1..]),
        Some("containers") if args.get(1).is_some_and(|a| a == "-h" || a == "--help") => {
            println!("{}", containers::USAGE);
            Ok(())
        }
        Some("containers") => containers::main(&args[1..]),
        Some("cni") if args.get(1).is_some_and(|a| a == "-h" || a == "--help") => {
            println!("{}", cni::USAGE);
            Ok(())
        }
        Some("cni") => cni::main(&args[1..]),
        Some("labs") if args.get(1).is_some_and(|a| a == "-h" || a == "--help") => {
            println!("{}", labs::USAGE);
            Ok(())
        }
        Some("labs") => labs::main(&args[1..]),
        Some("inspect") => inspect::main(&args[1..]),
        Some("child") => return child_main(&args[1..]),
        Some("list") => {
            for (name, what) in BENCHMARKS {
                println!("{name}\t{what}");
            }
            Ok(())
        }
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warren-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Options of `warren-bench wiring`.
#[derive(Debug, Clone)]
struct Opts {
    n: usize,
    per_bridge: usize,
    script_n: usize,
    warren: String,
    out: Option<String>,
    parts: Vec<String>,
    contenders: Option<Vec<String>>,
    repeat: usize,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        n: 1000,
        per_bridge: 500,
        script_n: 0,
        warren: "warren".into(),
        out: None,
        parts: vec!["a".into(), "b".into()],
        contenders: None,
        repeat: 1,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || crate::option_value(&mut it, a, USAGE);
        let num = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{a}: not a number: {v}"))
        };
        match a.as_str() {
            "--n" => o.n = num(val()?)?,
            "--per-bridge" => o.per_bridge = num(val()?)?,
            "--script-n" => o.script_n = num(val()?)?,
            "--repeat" => o.repeat = num(val()?)?.max(1),
            "--warren" => o.warren = val()?,
            "--out" => o.out = Some(val()?),
            "--parts" => o.parts = val()?.split(',').map(str::to_owned).collect(),
            "--contenders" => o.contenders = Some(val()?.split(',').map(str::to_owned).collect()),
            _ => return Err(format!("unknown option {a}\n{USAGE}")),
        }
    }
    if o.n == 0 {
        return Err("--n must be at least 1".into());
    }
    if o.script_n == 0 || o.script_n > o.n {
        o.script_n = o.n;
    }
    Plan {
        n: o.n,
        per_bridge: o.per_bridge,
    }
    .validate()?;
    Ok(o)
}

fn wanted(o: &Opts, name: &str) -> bool {
    o.contenders
        .as_ref()
        .is_none_or(|c| c.iter().any(|x| x == name))
}

/// Run one contender in its own sandbox, then wait for the kernel to free its namespaces.
fn run_one(part: &str, args: Vec<String>) -> Value {
    let (name, n) = (args[1].clone(), args[2].clone());
    // Other work on the machine may hold namespaces too: compare with the count just before.
    let baseline = sandbox::netns_slab_active();
    let r = sandbox::run_child(&args)
        .unwrap_or_else(|e| json!({"contender": name, "n": n.parse::<u64>().ok(), "error": e}));
    let waited = sandbox::wait_netns_freed(baseline, Duration::from_secs(60));
    match r.get("error").and_then(Value::as_str) {
        Some(e) => eprintln!("[wiring {part}] {name}: FAILED: {e}"),
        None => eprintln!(
            "[wiring {part}] {name}: done ({:.1} s waiting for the kernel to free namespaces)",
            waited.as_secs_f64()
        ),
    }
    r
}

fn wiring_main(args: &[String]) -> Result<(), String> {
    let o = parse_opts(args)?;
    let started = Instant::now();
    // The contenders of a part that was asked for (and that --contenders lets through).
    let select = |part: &str, all: &[&'static str]| -> Vec<&'static str> {
        if o.parts.iter().any(|p| p == part) {
            all.iter().copied().filter(|c| wanted(&o, c)).collect()
        } else {
            Vec::new()
        }
    };
    let a = select("a", wiring::CONTENDERS);
    let b = select("b", nscli::CONTENDERS);
    let mut runs_a: Vec<Vec<Value>> = vec![Vec::new(); a.len()];
    let mut runs_b: Vec<Vec<Value>> = vec![Vec::new(); b.len()];
    // Rounds interleave the contenders, so drift in the machine's load hits all of them alike.
    for round in 1..=o.repeat {
        for (k, name) in a.iter().enumerate() {
            let n = if *name == "ip-script" {
                o.script_n
            } else {
                o.n
            };
            eprintln!(
                "[wiring a] round {round}/{}: {name}: {n} namespaces up, verify, down ...",
                o.repeat
            );
            let args = vec![
                "wiring-a".into(),
                (*name).into(),
                n.to_string(),
                o.per_bridge.to_string(),
            ];
            runs_a[k].push(run_one("a", args));
        }
        for (k, name) in b.iter().enumerate() {
            eprintln!(
                "[wiring b] round {round}/{}: {name}: {} names add, delete ...",
                o.repeat, o.n
            );
            let args = vec![
                "ns".into(),
                (*name).into(),
                o.n.to_string(),
                o.warren.clone(),
            ];
            runs_b[k].push(run_one("b", args));
        }
    }
    let part_a = runs_a.into_iter().map(report::aggregate).collect();
    let part_b = runs_b.into_iter().map(report::aggregate).collect();
    let doc = report::wiring_document(
        o.n,
        o.per_bridge,
        o.script_n,
        &o.warren,
        o.repeat,
        part_a,
        part_b,
        started.elapsed(),
    );
    println!("{}", report::wiring_table(&doc));
    if let Some(out) = &o.out {
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(out, text + "\n").map_err(|e| format!("writing {out}: {e}"))?;
        println!("results written to {out}");
    }
    Ok(())
}

/// Inside the sandbox: run one contender, print one JSON line.
fn child_main(args: &[String]) -> ExitCode {
    let result = sandbox::enter_child().and_then(|()| match args.first().map(String::as_str) {
        Some("wiring-a") => child_wiring(&args[1..]),
        Some("ns") => child_ns(&args[1..]),
        Some(cmd) => containers::child(cmd, &args[1..])
            .or_else(|| cni::child(cmd, &args[1..]))
            .or_else(|| labs::child(cmd, &args[1..]))
            .or_else(|| inspect::child(cmd, &args[1..]))
            .unwrap_or_else(|| Err("unknown child command".into())),
        None => Err("unknown child command".into()),
    });
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}", json!({ "error": e }));
            ExitCode::FAILURE
        }
    }
}

fn arg(args: &[String], i: usize) -> Result<&str, String> {
    args.get(i)
        .map(String::as_str)
        .ok_or_else(|| "missing child argument".to_owned())
}

fn child_wiring(args: &[String]) -> Result<Value, String> {
    let name = arg(args, 0)?;
    let n: usize = arg(args, 1)?.parse().map_err(|_| "bad n")?;
    let per_bridge: usize = arg(args, 2)?.parse().map_err(|_| "bad per-bridge")?;
    let plan = Plan { n, per_bridge };
    let mut c = wiring::contender(name)?;
    c.prepare(&plan)?;
    let base_rss = rss::self_rss_kib();
    let fail = |stage: &str, e: String| json!({"contender": name, "n": n, "error": format!("{stage}: {e}")});

    rss::reset_self_peak();
    let t = Instant::now();
    if let Err(e) = c.up(&plan) {
        return Ok(fail("up", e));
    }
    let up = t.elapsed();
    let peak_up = rss::self_peak_kib();
    let verified = match wiring::verify(&plan) {
        Ok(v) => v,
        Err(e) => return Ok(fail("verify", e)),
    };
    rss::reset_self_peak();
    let t = Instant::now();
    if let Err(e) = c.down(&plan) {
        return Ok(fail("down", e));
    }
    let down = t.elapsed();
    let peak_down = rss::self_peak_kib();
    // The kernel destroys namespaces asynchronously; their host veth ends go when it has.
    let keep = 1 + plan.bridges();
    let mut settled = None;
    while t.elapsed() < Duration::from_secs(120) {
        if wiring::link_count()? <= keep {
            settled = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let left = nscli::live_named_namespaces()?.len();
    if left != 0 {
        return Ok(fail(
            "after down",
            format!("{left} namespaces left under /run/netns"),
        ));
    }
    let t = Instant::now();
    if let Err(e) = c.down_bridges(&plan) {
        return Ok(fail("bridges down", e));
    }
    let bridges_down = t.elapsed();
    let links = wiring::link_count()?;
    if links != 1 {
        return Ok(fail(
            "after down",
            format!("{links} links left, expected only lo"),
        ));
    }
    Ok(json!({
        "contender": name,
        "n": n,
        "up_s": up.as_secs_f64(),
        "down_s": down.as_secs_f64(),
        "settled_s": settled.map(|d| d.as_secs_f64()),
        "bridges_down_s": bridges_down.as_secs_f64(),
        "in_process": c.in_process(),
        "self_base_rss_kib": base_rss,
        "self_peak_rss_kib": peak_up.max(peak_down),
        "children_peak_rss_kib": rss::children_peak_kib(),
        "verified": verified,
        "phases_s": c.phases().into_iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "what": c.describe(&plan),
    }))
}

fn child_ns(args: &[String]) -> Result<Value, String> {
    let name = arg(args, 0)?;
    let n: usize = arg(args, 1)?.parse().map_err(|_| "bad n")?;
    let warren = arg(args, 2)?;
    match nscli::measure(name, n, warren) {
        Ok((up, down, what)) => Ok(json!({
            "contender": name,
            "n": n,
            "add_s": up.as_secs_f64(),
            "delete_s": down.as_secs_f64(),
            "children_peak_rss_kib": rss::children_peak_kib(),
            "verified": format!("{n} live namespaces after add, none left after delete"),
            "what": what,
        })),
        Err(e) => Ok(
            json!({"contender": name, "n": n, "error": e, "children_peak_rss_kib": rss::children_peak_kib()}),
        ),
    }
}

/// The value after option `flag` in a benchmark's arguments, or an error that names the option
/// and shows the benchmark's `usage`.
pub(crate) fn option_value(
    it: &mut std::slice::Iter<'_, String>,
    flag: &str,
    usage: &str,
) -> Result<String, String> {
    it.next()
        .cloned()
        .ok_or(format!("{flag} needs a value\n{usage}"))
}
