//! The results of `labs`: the JSON document (figures per topology and contender, ratios peer /
//! warren, goals) and the table printed from it.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fmt::{div, f, mib, ok, ratio, secs};
use crate::labs::{Opts, Topo};
use crate::report::{aggregate, machine, timestamp};

/// Goals of the issue (printed, never enforced).
const GOAL_UP_1000_S: f64 = 3.0;
const GOAL_DOWN_1000_S: f64 = 2.0;
const GOAL_OVER_MININET: f64 = 10.0;
const GOAL_OVER_IP_BATCH: f64 = 3.0;

fn mininet_version() -> Option<String> {
    let out = std::process::Command::new("mn")
        .arg("--version")
        .output()
        .ok()?;
    // `mn --version` prints on stdout or stderr depending on the release.
    let s = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    s.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
}

/// Build the results document: per topology, each contender's figures (medians over the
/// rounds, every run kept) and the ratios peer / warren (above 1: warren is faster).
pub fn document(
    o: &Opts,
    topos: &[Topo],
    contenders: &[&str],
    results: Vec<Vec<Vec<Value>>>,
    elapsed: Duration,
) -> Value {
    let mut out_topos = Vec::new();
    for (topo, runs) in topos.iter().zip(results) {
        let mut rows: Vec<Value> = runs.into_iter().map(aggregate).collect();
        for r in &mut rows {
            if ok(r) {
                let per = div(f(r, "up_s").map(|s| s * 1e3), Some(topo.hosts() as f64));
                r["per_host_up_ms"] = json!(per);
            }
        }
        let get = |name: &str, k: &str| {
            rows.iter()
                .find(|r| r["contender"] == name && ok(r))
                .and_then(|r| f(r, k))
        };
        let mut ratios = serde_json::Map::new();
        for peer in ["mininet", "ip-batch", "ip-script"] {
            for k in ["up", "down"] {
                let key = format!("{}_over_warren_{k}", peer.replace('-', "_"));
                let v = div(
                    get(peer, &format!("{k}_s")),
                    get("warren", &format!("{k}_s")),
                );
                ratios.insert(key, json!(v));
            }
        }
        out_topos.push(json!({
            "topology": topo.arg(),
            "label": topo.label(),
            "hosts": topo.hosts(),
            "switches": topo.switches(),
            "contenders": rows,
            "ratios": ratios,
        }));
    }
    let goals = goals(&out_topos);
    json!({
        "benchmark": "labs",
        "timestamp": timestamp(),
        "machine": {
            "base": machine(),
            "mininet": mininet_version(),
            "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
                .split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        },
        "params": {
            "n": o.ns,
            "linear": o.linear,
            "contenders": contenders,
            "repeat": o.repeat,
            "ip_script_max": o.ip_script_max,
            "warren_binary": o.warren,
        },
        "wall_s": elapsed.as_secs_f64(),
        "topologies": out_topos,
        "goals": goals,
        "notes": [
            "Each contender runs alone in a fresh sandbox (user, net and mount namespaces, private /run); \
             the next starts only after the kernel has freed the previous one's namespaces.",
            "up and down are wall times of whole processes as a user runs them (warren, ip), except \
             Mininet's, timed inside Python around net.build()+net.start() and net.stop() \
             (up_wall_s adds the interpreter's start and `import mininet`).",
            "Every contender's result is verified from outside after up (untimed): each host's \
             interface up with its address, each switch's bridge up with all its ports up, a UDP \
             request/reply between the first and the last host; after down nothing is left.",
            "Peak RSS: the largest ru_maxrss among the contender's processes (RUSAGE_CHILDREN); \
             held: the sum of the proportional set sizes (Pss) of the processes a contender keeps while its lab is up.",
            "The ip script is measured only up to --ip-script-max hosts; nothing is extrapolated.",
            "A shared 2-core machine: compare ratios within one run, not absolute times across runs.",
        ],
    })
}

fn goals(topos: &[Value]) -> Vec<Value> {
    let goal = |name: &str,
                target: &str,
                measured: Option<f64>,
                met: Option<bool>,
                note: String| {
        json!({"goal": name, "target": target, "measured": measured, "met": met, "note": note})
    };
    let warren = |t: &Value, k: &str| {
        t["contenders"]
            .as_array()
            .and_then(|c| c.iter().find(|r| r["contender"] == "warren" && ok(r)))
            .and_then(|r| f(r, k))
    };
    let t1000 = topos.iter().find(|t| t["topology"] == "single:1000");
    let up = t1000.and_then(|t| warren(t, "up_s"));
    let down = t1000.and_then(|t| warren(t, "down_s"));
    let why = |v: Option<f64>| {
        if t1000.is_none() {
            "single:1000 not in this run".to_owned()
        } else if v.is_none() {
            "warren not measured on single:1000".to_owned()
        } else {
            String::new()
        }
    };
    // The smallest ratio over every topology (up and down): the goal holds if it holds there.
    let worst = |peer: &str| -> (Option<f64>, String) {
        let mut min: Option<(f64, String)> = None;
        for t in topos {
            for k in ["up", "down"] {
                let key = format!("{}_over_warren_{k}", peer.replace('-', "_"));
                if let Some(r) = t["ratios"][&key].as_f64()
                    && min.as_ref().is_none_or(|(m, _)| r < *m)
                {
                    min = Some((r, format!("{} {k}", t["topology"].as_str().unwrap_or(""))));
                }
            }
        }
        match min {
            Some((r, at)) => (Some(r), format!("smallest ratio, at {at}")),
            None => (
                None,
                format!("no topology with both warren and {peer} measured"),
            ),
        }
    };
    let (mn, mn_at) = worst("mininet");
    let (ib, ib_at) = worst("ip-batch");
    vec![
        goal(
            "1,000 hosts on one switch up in at most 3 s (warren lab up)",
            "<= 3 s",
            up,
            up.map(|v| v <= GOAL_UP_1000_S),
            why(up),
        ),
        goal(
            "1,000 hosts on one switch down in at most 2 s (warren lab down)",
            "<= 2 s",
            down,
            down.map(|v| v <= GOAL_DOWN_1000_S),
            why(down),
        ),
        goal(
            "at least 10x faster than Mininet (up and down, every topology)",
            ">= 10",
            mn,
            mn.map(|v| v >= GOAL_OVER_MININET),
            mn_at,
        ),
        goal(
            "at least 3x faster than ip -batch (up and down, every topology)",
            ">= 3",
            ib,
            ib.map(|v| v >= GOAL_OVER_IP_BATCH),
            ib_at,
        ),
    ]
}

fn label(name: &str) -> &str {
    match name {
        "warren" => "warren lab up/down",
        "mininet" => "Mininet 2.3 (lxbr)",
        "ip-batch" => "ip -batch",
        "ip-script" => "ip script (1 call/step)",
        other => other,
    }
}

/// The human table of a `labs` document.
pub fn table(doc: &Value) -> String {
    let mut s = String::new();
    let m = &doc["machine"]["base"];
    let _ = writeln!(
        s,
        "labs: topology up and down — warren vs Mininet vs ip (kernel {}, {} CPUs, load {} at start, {} at end; {}; {})",
        m["kernel"].as_str().unwrap_or("?"),
        m["cpus"],
        m["loadavg_at_start"].as_str().unwrap_or("?"),
        doc["machine"]["loadavg_at_end"].as_str().unwrap_or("?"),
        doc["machine"]["mininet"]
            .as_str()
            .map_or("Mininet ?".into(), |v| format!("Mininet {v}")),
        m["iproute2"].as_str().unwrap_or("ip ?"),
    );
    if let Some(r) = doc["params"]["repeat"].as_u64().filter(|&r| r > 1) {
        let _ = writeln!(s, "times: median of {r} interleaved rounds");
    }
    let _ = writeln!(
        s,
        "\n{:<22} {:<24} {:>9} {:>9} {:>11} {:>10} {:>17}  verified",
        "topology", "contender", "up", "down", "up/host", "peak RSS", "held (PSS)"
    );
    let topos = doc["topologies"].as_array().cloned().unwrap_or_default();
    for t in &topos {
        for r in t["contenders"].as_array().into_iter().flatten() {
            let name = r["contender"].as_str().unwrap_or("?");
            let tl = t["label"].as_str().unwrap_or("?");
            if let Some(e) = r.get("error").and_then(Value::as_str) {
                let _ = writeln!(s, "{tl:<22} {:<24} FAILED: {e}", label(name));
                continue;
            }
            if let Some(e) = r.get("skipped").and_then(Value::as_str) {
                let _ = writeln!(s, "{tl:<22} {:<24} {e}", label(name));
                continue;
            }
            let per = f(r, "per_host_up_ms").map_or("-".into(), |v| format!("{v:.2} ms"));
            let held = r["held_pss_kib"].as_u64().map_or("-".into(), |k| {
                format!("{} ({}p)", mib(Some(k as f64)), r["held_processes"])
            });
            let _ = writeln!(
                s,
                "{tl:<22} {:<24} {:>9} {:>9} {:>11} {:>10} {:>17}  yes",
                label(name),
                secs(f(r, "up_s")),
                secs(f(r, "down_s")),
                per,
                mib(f(r, "children_peak_rss_kib")),
                held,
            );
        }
    }
    let _ = writeln!(
        s,
        "\nratios peer / warren (above 1: warren is faster)\n{:<22} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "topology", "mn up", "mn down", "batch up", "batch dn", "script up", "script dn"
    );
    for t in &topos {
        let r = &t["ratios"];
        let g = |k: &str| ratio(r[k].as_f64());
        let _ = writeln!(
            s,
            "{:<22} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            t["label"].as_str().unwrap_or("?"),
            g("mininet_over_warren_up"),
            g("mininet_over_warren_down"),
            g("ip_batch_over_warren_up"),
            g("ip_batch_over_warren_down"),
            g("ip_script_over_warren_up"),
            g("ip_script_over_warren_down"),
        );
    }
    let _ = writeln!(s, "\ngoals (printed, never enforced)");
    for g in doc["goals"].as_array().into_iter().flatten() {
        let state = match g["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "UNMET",
            None => "n/a",
        };
        let v = g["measured"]
            .as_f64()
            .map_or("-".into(), |v| format!("{v:.3}"));
        let note = g["note"].as_str().unwrap_or("");
        let _ = writeln!(
            s,
            "  {:<66} {:>8}  {:>6}  {state}{}",
            g["goal"].as_str().unwrap_or("?"),
            g["target"].as_str().unwrap_or("?"),
            v,
            if note.is_empty() {
                String::new()
            } else {
                format!(" ({note})")
            }
        );
    }
    let _ = write!(s, "wall time {:.0} s", f(doc, "wall_s").unwrap_or(0.0));
    s
}
