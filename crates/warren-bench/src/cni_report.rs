//! The results of `cni`: the JSON document (figures, ratios against the reference chain, goals)
//! and the table printed from it.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cni::Opts;
use crate::fmt::{div, f, mib, ms, ok, ratio, version};
use crate::report::{machine, timestamp};

const GOAL_SPEEDUP: f64 = 15.0;
const GOAL_RSS_KIB: f64 = 8.0 * 1024.0;

/// Build the results document, adding the ratios reference / contender.
pub fn document(
    o: &Opts,
    mut one: Value,
    mut seq: Vec<Value>,
    podman: Value,
    elapsed: Duration,
) -> Value {
    // Part 1: reference chain / contender (above 1: the contender is faster).
    let cni1 = one["contenders"]["cni"].clone();
    if let Some(m) = one["contenders"].as_object_mut() {
        for r in m.values_mut() {
            if !ok(r) || !ok(&cni1) {
                continue;
            }
            for k in ["add_ms", "del_ms", "add_del_ms"] {
                let key = format!("cni_over_this_{}", k.trim_end_matches("_ms"));
                r[key] = json!(div(f(&cni1, k), f(r, k)));
            }
        }
    }
    let cni_seq = seq
        .iter()
        .find(|r| r["contender"] == "cni" && ok(r))
        .cloned();
    for r in &mut seq {
        if let (true, Some(c)) = (ok(r), &cni_seq) {
            r["cni_over_this_add"] = json!(div(f(c, "add_median_ms"), f(r, "add_median_ms")));
            r["cni_over_this_del"] = json!(div(f(c, "del_median_ms"), f(r, "del_median_ms")));
        }
    }
    let w1 = &one["contenders"]["warren"];
    let speedup = ok(w1).then(|| f(w1, "cni_over_this_add_del")).flatten();
    let seq_w = seq.iter().find(|r| r["contender"] == "warren" && ok(r));
    let speedup_seq = seq_w.and_then(|w| {
        let c = cni_seq.as_ref()?;
        div(
            Some(f(c, "add_median_ms")? + f(c, "del_median_ms")?),
            Some(f(w, "add_median_ms")? + f(w, "del_median_ms")?),
        )
    });
    let warren_rss = [Some(w1), seq_w]
        .into_iter()
        .flatten()
        .filter_map(|r| f(r, "peak_rss_kib"))
        .reduce(f64::max);
    let goal = |name: &str, target: &str, v: Option<f64>, met: Option<bool>| json!({"goal": name, "target": target, "measured": v, "met": met});
    let goals = vec![
        goal(
            "warren ADD + DEL >= 15x faster than the reference chain (one container, median)",
            ">= 15x",
            speedup,
            speedup.map(|s| s >= GOAL_SPEEDUP),
        ),
        goal(
            "the same over 100 containers in sequence (median ADD + median DEL)",
            ">= 15x",
            speedup_seq,
            speedup_seq.map(|s| s >= GOAL_SPEEDUP),
        ),
        goal(
            "warren peak RSS per plugin call (max over every call of both parts)",
            "<= 8 MiB",
            warren_rss.map(|k| k / 1024.0),
            warren_rss.map(|k| k <= GOAL_RSS_KIB),
        ),
    ];
    let mut m = machine();
    m["netavark"] = json!(version(crate::wirers::NETAVARK_DEFAULT, &["--version"]));
    m["netavark2"] = json!(if o.netavark2.is_empty() {
        None
    } else {
        version(&o.netavark2, &["--version"])
    });
    m["cni_plugins"] = json!(
        version(
            "dpkg-query",
            &["-W", "-f", "${Version}", "containernetworking-plugins"]
        )
        .map(|v| format!("containernetworking-plugins {v}"))
    );
    json!({
        "benchmark": "cni",
        "timestamp": timestamp(),
        "commit": std::env::var("WARREN_BENCH_COMMIT").ok(),
        "machine": m,
        "params": {
            "n": o.n,
            "seq_n": o.seq_n,
            "parts": o.parts,
            "contenders": o.contenders,
            "warren_plugins_dir": o.plugins,
            "netavark2_binary": o.netavark2,
        },
        "wall_s": elapsed.as_secs_f64(),
        "one": one,
        "seq": seq,
        "podman": podman,
        "goals": goals,
        "notes": [
            "Each plugin (or netavark) call is one process exec'd by warren-bench and reaped with \
             wait4: its time is spawn to reap; its peak RSS is that call's ru_maxrss, i.e. the \
             largest of the process and of the descendants it waited for (host-local under the \
             reference bridge, iptables under bridge/portmap/netavark 1.4, nft under netavark 2).",
            "ADD is the whole chain (bridge, then portmap with prevResult); DEL is portmap then \
             bridge with the ADD result as prevResult, as libcni runs a conflist.",
            "The container's namespace is created before ADD and deleted after DEL, untimed, for \
             every contender alike (what a runtime does).",
            "Part one: all contenders in one sandbox, one container each per round, the order \
             rotating from round to round; medians of the rounds. Part seq: each contender in its \
             own fresh sandbox.",
            "Ratios are reference chain / contender: above 1 means the contender is faster.",
            "A shared 2-core machine: compare ratios within one run, not absolute times across runs.",
        ],
    })
}

fn label(c: &str) -> &str {
    match c {
        "warren" => "warren plugins",
        "cni" => "reference plugins",
        "netavark" => "netavark 1.4",
        "netavark2" => "netavark 2.x",
        other => other,
    }
}

fn status(r: &Value) -> Option<String> {
    if let Some(s) = r.get("skipped").and_then(Value::as_str) {
        return Some(format!("not measured: {s}"));
    }
    r.get("error")
        .and_then(Value::as_str)
        .map(|e| format!("FAILED: {e}"))
}

/// Per plugin: peak RSS and median call times, "bridge 5.1 MiB (12.0 ms / 50.1 ms), ...".
fn plugin_rss(r: &Value) -> String {
    let Some(p) = r["plugins"].as_object() else {
        return "-".into();
    };
    p.iter()
        .map(|(k, v)| {
            format!(
                "{k} {} ({} / {})",
                mib(f(v, "peak_rss_kib")),
                ms(f(v, "add_median_ms")),
                ms(f(v, "del_median_ms"))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table printed after the run.
pub fn table(doc: &Value) -> String {
    let mut s = String::new();
    let p = &doc["params"];
    let _ = writeln!(
        s,
        "\n== cni: bridge + host-local + portmap (one port), ADD and DEL of one container, \
         median of {} rounds (contenders alternating) ==",
        p["n"]
    );
    let _ = writeln!(
        s,
        "{:<18} {:>9} {:>9} {:>10} {:>9}  per plugin: peak RSS per call (max), median ADD / DEL call",
        "contender", "ADD", "DEL", "ADD+DEL", "ref/x"
    );
    let order = doc["one"]["order"].as_array().cloned().unwrap_or_default();
    for c in order.iter().filter_map(Value::as_str) {
        let r = &doc["one"]["contenders"][c];
        match status(r) {
            Some(st) => {
                let _ = writeln!(s, "{:<18} {st}", label(c));
            }
            None => {
                let _ = writeln!(
                    s,
                    "{:<18} {:>9} {:>9} {:>10} {:>9}  {}",
                    label(c),
                    ms(f(r, "add_ms")),
                    ms(f(r, "del_ms")),
                    ms(f(r, "add_del_ms")),
                    ratio(f(r, "cni_over_this_add_del")),
                    plugin_rss(r)
                );
            }
        }
    }
    if let Some(e) = status(&doc["one"]).filter(|_| doc["one"].get("contenders").is_none()) {
        let _ = writeln!(s, "part one: {e}");
    }
    if let Some(seq) = doc["seq"].as_array().filter(|v| !v.is_empty()) {
        let _ = writeln!(
            s,
            "\n== cni: {} containers ADDed in sequence, then DELeted (growth = median of the last \
             ten ADDs / first ten) ==",
            p["seq_n"]
        );
        let _ = writeln!(
            s,
            "{:<18} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9}  per plugin: peak RSS (max), median ADD / DEL",
            "contender", "ADD 1-10", "ADD last", "growth", "ADD med", "DEL med", "ADD ref/x"
        );
        for r in seq {
            let c = r["contender"].as_str().unwrap_or("?");
            match status(r) {
                Some(st) => {
                    let _ = writeln!(s, "{:<18} {st}", label(c));
                }
                None => {
                    let _ = writeln!(
                        s,
                        "{:<18} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9}  {}",
                        label(c),
                        ms(f(r, "add_first10_ms")),
                        ms(f(r, "add_last10_ms")),
                        ratio(f(r, "add_growth")),
                        ms(f(r, "add_median_ms")),
                        ms(f(r, "del_median_ms")),
                        ratio(f(r, "cni_over_this_add")),
                        plugin_rss(r)
                    );
                }
            }
        }
    }
    let pm = &doc["podman"];
    let _ = writeln!(s, "\n== podman run --rm IMAGE true ==");
    if let Some(why) = pm.get("not_measured").and_then(Value::as_str) {
        let _ = writeln!(s, "not measured: {why}");
    } else {
        let _ = writeln!(
            s,
            "{:<28} {:>10} {:>16}  runs (ms)",
            "network", "median", "over --net none"
        );
        let base = f(&pm["none"], "median_ms");
        for (k, name) in [
            ("warren", "warren plugins"),
            ("reference", "reference plugins"),
            ("none", "--network none"),
        ] {
            let r = &pm[k];
            let runs = r["runs_ms"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let extra = f(r, "median_ms").zip(base).map(|(a, b)| a - b);
            let _ = writeln!(
                s,
                "{:<28} {:>10} {:>16}  {runs}",
                name,
                ms(f(r, "median_ms")),
                if k == "none" {
                    "-".into()
                } else {
                    extra.map_or("-".into(), |e| format!("{e:+.0} ms"))
                }
            );
        }
        let w = f(&pm["warren"], "median_ms").zip(base).map(|(a, b)| a - b);
        let r = f(&pm["reference"], "median_ms")
            .zip(base)
            .map(|(a, b)| a - b);
        let _ = writeln!(
            s,
            "network's share: reference / warren = {}",
            ratio(div(r, w.map(|x| x.max(1.0))))
        );
    }
    let _ = writeln!(s, "\n== goals ==");
    for g in doc["goals"].as_array().into_iter().flatten() {
        let target = g["target"].as_str().unwrap_or("");
        let v = f(g, "measured");
        let shown = if target.contains("MiB") {
            v.map_or("-".into(), |x| format!("{x:.1} MiB"))
        } else {
            ratio(v)
        };
        let met = match g["met"].as_bool() {
            Some(true) => "MET",
            Some(false) => "NOT MET",
            None => "not measured",
        };
        let _ = writeln!(
            s,
            "{:<80} {:>9} {:>9}  {met}",
            g["goal"].as_str().unwrap_or(""),
            target,
            shown
        );
    }
    s
}
