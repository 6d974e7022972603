//! `warren-bench inspect`: seeing the whole host at 1,000 namespaces. In one sandbox, N named
//! namespaces `wbI`, each with a veth whose host end `wvI` is a port of a bridge `wbrB` in the
//! sandbox's own namespace (the wiring benchmark's fast raw setup, untimed), then, side by side
//! in interleaved rounds, whole processes as a user runs them:
//!
//! - `warren ns list --all -j` (every namespace of the host, with nsids and interface counts),
//! - `warren veths -j` (every veth's peer, namespace, owner and bridge),
//! - `warren graph --host -f html` (the same as a self-contained HTML page),
//! - `ip -all netns exec ip -j link` (the peer: one `ip` per namespace, links only).
//!
//! Each call is timed from spawn to reap and its peak RSS read from `wait4`; every output is
//! verified (N namespaces listed; N host ends mapped to `eth0` in the right namespace and N
//! `eth0` mapped back to their host end on their bridge; N namespaces printed by ip).

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::plan::Plan;
use crate::{cni, report, sandbox, wiring};

/// Usage of `warren-bench inspect`.
pub const USAGE: &str =
    "usage: warren-bench inspect [--n N] [--repeat R] [--warren PATH] [--out FILE]";

/// The goal for each warren command at 1,000 namespaces.
const GOAL_S: f64 = 1.0;

/// The tools measured: (name, whether it is warren's).
const TOOLS: [(&str, bool); 4] = [
    ("warren ns list --all", true),
    ("warren veths", true),
    ("warren graph --host", true),
    ("ip -all netns exec ip -j link", false),
];

fn command(tool: &str, warren: &str) -> Command {
    let mut c;
    match tool {
        "warren ns list --all" => {
            c = Command::new(warren);
            c.args(["ns", "list", "--all", "-j"]);
        }
        "warren veths" => {
            c = Command::new(warren);
            c.args(["veths", "-j"]);
        }
        "warren graph --host" => {
            c = Command::new(warren);
            c.args(["graph", "--host", "-f", "html"]);
        }
        _ => {
            c = Command::new("ip");
            c.args(["-all", "netns", "exec", "ip", "-j", "link"]);
        }
    }
    c
}

/// The parent: run the child in a sandbox, print the table, write the JSON.
pub fn main(args: &[String]) -> Result<(), String> {
    let (mut n, mut repeat, mut warren, mut out) = (1000usize, 5usize, "warren".to_owned(), None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || crate::option_value(&mut it, a, USAGE);
        match a.as_str() {
            "--n" => {
                n = val()?
                    .parse()
                    .map_err(|_| format!("--n: not a number\n{USAGE}"))?
            }
            "--repeat" => {
                repeat = val()?
                    .parse::<usize>()
                    .map_err(|_| format!("--repeat: not a number\n{USAGE}"))?
                    .max(1);
            }
            "--warren" => warren = val()?,
            "--out" => out = Some(val()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => return Err(format!("unknown option {a}\n{USAGE}")),
        }
    }
    if n == 0 {
        return Err("--n must be at least 1".into());
    }
    let machine = report::machine();
    eprintln!("[inspect] {n} namespaces on bridges, then {repeat} rounds of each tool ...");
    let baseline = sandbox::netns_slab_active();
    let child = sandbox::run_child(&[
        "inspect".into(),
        n.to_string(),
        repeat.to_string(),
        warren.clone(),
    ])?;
    sandbox::wait_netns_freed(baseline, Duration::from_secs(60));
    if let Some(e) = child.get("error").and_then(Value::as_str) {
        return Err(format!("inspect: {e}"));
    }
    let doc = document(n, repeat, &warren, machine, child);
    println!("{}", table(&doc));
    if let Some(out) = out {
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(&out, text + "\n").map_err(|e| format!("writing {out}: {e}"))?;
        println!("results written to {out}");
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        l if l % 2 == 1 => v[l / 2],
        l => (v[l / 2 - 1] + v[l / 2]) / 2.0,
    }
}

fn document(n: usize, repeat: usize, warren: &str, machine: Value, child: Value) -> Value {
    let tools = child["tools"].clone();
    let peer = tools["ip -all netns exec ip -j link"]["median_s"].as_f64();
    let mut ratios = serde_json::Map::new();
    let mut goals = Vec::new();
    for (name, ours) in TOOLS {
        let Some(t) = tools[name]["median_s"].as_f64() else {
            continue;
        };
        if ours {
            if let Some(p) = peer {
                ratios.insert(format!("ip / {name}"), json!(p / t));
            }
            goals.push(json!({
                "goal": format!("{name} over {n} namespaces within {GOAL_S} s"),
                "figure_s": t,
                "met": t <= GOAL_S,
            }));
        }
    }
    json!({
        "benchmark": "inspect",
        "timestamp": report::timestamp(),
        "machine": machine,
        "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
            .split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "params": {"n": n, "repeat": repeat, "warren": warren},
        "setup_s": child["setup_s"],
        "tools": tools,
        "ratios": ratios,
        "goals": goals,
        "notes": [
            "warren graph --host renders the self-contained HTML page (-f html: the layout and the SVG inside)",
            "times are whole processes, spawn to reap (fork, exec, the work, exit), medians of the rounds",
            "peak RSS is ru_maxrss from wait4 of each call (ip: the largest of ip -all and the ip it forks per namespace)",
        ],
    })
}

fn table(doc: &Value) -> String {
    let n = doc["params"]["n"].as_u64().unwrap_or(0);
    let mut s = format!(
        "inspect: {n} namespaces (veth to a bridge each), {} rounds, load average {} at start, {} at end\n\n",
        doc["params"]["repeat"],
        doc["machine"]["loadavg_at_start"].as_str().unwrap_or("?"),
        doc["loadavg_at_end"].as_str().unwrap_or("?"),
    );
    s.push_str(&format!(
        "{:<32} {:>9} {:>9} {:>9} {:>11} {:>8}  verified\n",
        "tool", "median", "min", "max", "peak RSS", "ip / it"
    ));
    let peer = doc["tools"]["ip -all netns exec ip -j link"]["median_s"].as_f64();
    for (name, _) in TOOLS {
        let t = &doc["tools"][name];
        let ms = |k: &str| {
            t[k].as_f64()
                .map_or_else(|| "-".to_owned(), |v| format!("{:.1} ms", v * 1e3))
        };
        let ratio = match (peer, t["median_s"].as_f64()) {
            (Some(p), Some(m)) => format!("{:.1}x", p / m),
            _ => "-".into(),
        };
        s.push_str(&format!(
            "{:<32} {:>9} {:>9} {:>9} {:>8} KiB {:>8}  {}\n",
            name,
            ms("median_s"),
            ms("min_s"),
            ms("max_s"),
            t["peak_rss_kib"].as_u64().unwrap_or(0),
            ratio,
            t["verified"]
                .as_str()
                .or(t["error"].as_str())
                .unwrap_or("-"),
        ));
    }
    s.push_str("\ngoals (printed, not enforced):\n");
    for g in doc["goals"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "  {:<60} {:>8.1} ms  {}\n",
            g["goal"].as_str().unwrap_or(""),
            g["figure_s"].as_f64().unwrap_or(f64::NAN) * 1e3,
            if g["met"] == true { "met" } else { "NOT met" }
        ));
    }
    s
}

/// The child, inside the sandbox.
pub fn child(cmd: &str, args: &[String]) -> Option<Result<Value, String>> {
    (cmd == "inspect").then(|| child_inspect(args))
}

fn child_inspect(args: &[String]) -> Result<Value, String> {
    let get = |i: usize| args.get(i).cloned().ok_or("missing child argument");
    let n: usize = get(0)?.parse().map_err(|_| "bad n")?;
    let repeat: usize = get(1)?.parse().map_err(|_| "bad repeat")?;
    let warren = get(2)?;
    let plan = Plan { n, per_bridge: 500 };
    plan.validate()?;
    let mut setup = wiring::contender("raw-phased")?;
    setup.prepare(&plan)?;
    let t = std::time::Instant::now();
    setup.up(&plan)?;
    let setup_s = t.elapsed().as_secs_f64();
    wiring::verify(&plan)?;

    let mut tools = serde_json::Map::new();
    let mut runs: Vec<Vec<(f64, u64)>> = vec![Vec::new(); TOOLS.len()];
    let mut verified: Vec<Result<String, String>> = Vec::new();
    // One untimed call each first (page cache, lazy kernel state), verified.
    for (name, _) in TOOLS {
        verified.push(
            cni::exec(&mut command(name, &warren), b"")
                .and_then(|(_, out, _)| verify(name, &plan, &out)),
        );
    }
    for _ in 0..repeat {
        for (k, (name, _)) in TOOLS.iter().enumerate() {
            let (took, _, kib) = cni::exec(&mut command(name, &warren), b"")?;
            runs[k].push((took.as_secs_f64(), kib));
        }
    }
    for (k, (name, _)) in TOOLS.iter().enumerate() {
        let mut secs: Vec<f64> = runs[k].iter().map(|r| r.0).collect();
        let peak = runs[k].iter().map(|r| r.1).max().unwrap_or(0);
        let min = secs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = secs.iter().copied().fold(0.0, f64::max);
        let mut entry = json!({
            "median_s": median(&mut secs),
            "min_s": min,
            "max_s": max,
            "runs_s": runs[k].iter().map(|r| r.0).collect::<Vec<_>>(),
            "peak_rss_kib": peak,
        });
        match &verified[k] {
            Ok(v) => entry["verified"] = json!(v),
            Err(e) => entry["error"] = json!(format!("output wrong: {e}")),
        }
        tools.insert((*name).to_owned(), entry);
    }
    Ok(json!({ "setup_s": setup_s, "tools": tools }))
}

/// Check one tool's output against the setup.
fn verify(tool: &str, plan: &Plan, out: &[u8]) -> Result<String, String> {
    let n = plan.n;
    let text = String::from_utf8_lossy(out);
    match tool {
        "ip -all netns exec ip -j link" => {
            let seen = text.lines().filter(|l| l.starts_with("netns: wb")).count();
            let eth0 = text.matches("\"ifname\":\"eth0\"").count();
            if seen != n || eth0 != n {
                return Err(format!(
                    "{seen} namespaces and {eth0} eth0 printed, expected {n}"
                ));
            }
            Ok(format!("{n} namespaces with eth0"))
        }
        "warren graph --host" => {
            let nodes = (0..n)
                .filter(|i| text.contains(&format!(">{}<", plan.ns(*i))))
                .count();
            let bridges = (0..plan.bridges())
                .filter(|b| text.contains(&plan.bridge(*b)))
                .count();
            if !text.contains("<svg") || nodes != n || bridges != plan.bridges() {
                return Err(format!(
                    "{nodes} namespaces and {bridges} bridges drawn, expected {n} and {}",
                    plan.bridges()
                ));
            }
            Ok(format!(
                "an HTML page drawing {n} namespaces and their bridges"
            ))
        }
        "warren ns list --all" => {
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("bad JSON: {e}"))?;
            let rows = v.as_array().ok_or("not an array")?;
            let named = rows
                .iter()
                .filter(|r| r["names"][0].as_str().is_some_and(|s| s.starts_with("wb")))
                .filter(|r| r["interfaces"] == 2)
                .count();
            if named != n {
                return Err(format!(
                    "{named} namespaces wbI with 2 interfaces, expected {n}"
                ));
            }
            Ok(format!("{n} namespaces, 2 interfaces each"))
        }
        _ => {
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("bad JSON: {e}"))?;
            let rows = v.as_array().ok_or("not an array")?;
            let mut host_ends = 0;
            let mut inside = 0;
            for r in rows {
                let ifname = r["ifname"].as_str().unwrap_or("");
                let netns = r["netns"].as_str().unwrap_or("");
                if let Some(i) = ifname.strip_prefix("wv") {
                    let bridge = plan.bridge(plan.bridge_of(i.parse().unwrap_or(0)));
                    if netns == "host"
                        && r["peer_ifname"] == "eth0"
                        && r["peer_netns"] == format!("wb{i}")
                        && r["bridge"] == bridge.as_str()
                    {
                        host_ends += 1;
                    }
                } else if ifname == "eth0"
                    && let Some(i) = netns.strip_prefix("wb")
                {
                    let bridge = plan.bridge(plan.bridge_of(i.parse().unwrap_or(0)));
                    if r["peer_netns"] == "host"
                        && r["peer_ifname"] == format!("wv{i}")
                        && r["peer_bridge"] == bridge.as_str()
                    {
                        inside += 1;
                    }
                }
            }
            if host_ends != n || inside != n {
                return Err(format!(
                    "{host_ends} host ends and {inside} eth0 mapped right, expected {n} each"
                ));
            }
            Ok(format!(
                "{n} host ends and {n} eth0 mapped to peer, namespace and bridge"
            ))
        }
    }
}
