//! The results: one JSON document per run (machine, parameters, per-contender figures, ratios,
//! goals) and the table printed from it.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::fmt::{f, mib, ms_to, ratio_to, secs};

/// UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn first_line_of(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_owned)
}

/// What the figures were measured on.
pub fn machine() -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned());
    let meminfo = read("/proc/meminfo");
    let mem_kib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u64>().ok());
    json!({
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "hostname": read("/proc/sys/kernel/hostname").trim(),
        "cpu": cpu,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "mem_total_kib": mem_kib,
        "loadavg_at_start": read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "iproute2": first_line_of("ip", &["-V"]),
        "warren_commit": std::env::var("WARREN_BENCH_COMMIT").ok(),
    })
}

fn peak_rss(r: &Value) -> Option<(u64, &'static str)> {
    if r.get("in_process").and_then(Value::as_bool) == Some(true) {
        r.get("self_peak_rss_kib")
            .and_then(Value::as_u64)
            .map(|k| (k, "own VmHWM"))
    } else {
        r.get("children_peak_rss_kib")
            .and_then(Value::as_u64)
            .map(|k| (k, "largest child"))
    }
}

/// Fold the runs of one contender into one result: medians of the times, maxima of the peak
/// RSS figures, every run kept under `runs`. A failed run makes the result a failure.
pub fn aggregate(runs: Vec<Value>) -> Value {
    if let Some(failed) = runs.iter().find(|r| r.get("error").is_some()) {
        let mut f = failed.clone();
        if let Some(o) = f.as_object_mut() {
            o.insert("repeat".into(), json!(runs.len()));
        }
        return f;
    }
    // The run with the median first time (up or add) gives the details (phases); every time
    // is then replaced by its own median.
    let key = |r: &Value| f(r, "up_s").or_else(|| f(r, "add_s")).unwrap_or(0.0);
    let mut order: Vec<&Value> = runs.iter().collect();
    order.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let Some(mut out) = order.get(order.len() / 2).map(|v| (*v).clone()) else {
        return json!({"error": "no runs"});
    };
    let times = [
        "up_s",
        "down_s",
        "settled_s",
        "bridges_down_s",
        "add_s",
        "delete_s",
    ];
    let peaks = [
        "self_peak_rss_kib",
        "children_peak_rss_kib",
        "self_base_rss_kib",
    ];
    let obj = out.as_object_mut().expect("contender results are objects");
    for k in times {
        let mut v: Vec<f64> = runs.iter().filter_map(|r| f(r, k)).collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(f64::total_cmp);
        obj.insert(k.into(), json!(v[v.len() / 2]));
    }
    for k in peaks {
        if let Some(m) = runs
            .iter()
            .filter_map(|r| r.get(k).and_then(Value::as_u64))
            .max()
        {
            obj.insert(k.into(), json!(m));
        }
    }
    let brief: Vec<Value> = runs
        .iter()
        .map(|r| {
            let mut m = serde_json::Map::new();
            for k in times.iter().chain(peaks.iter()) {
                if let Some(v) = r.get(*k) {
                    m.insert((*k).into(), v.clone());
                }
            }
            Value::Object(m)
        })
        .collect();
    obj.insert("repeat".into(), json!(runs.len()));
    obj.insert("runs".into(), json!(brief));
    out
}

/// Build the results document of a `wiring` run, adding per-namespace figures and ratios.
#[allow(clippy::too_many_arguments)]
pub fn wiring_document(
    n: usize,
    per_bridge: usize,
    script_n: usize,
    warren: &str,
    repeat: usize,
    mut part_a: Vec<Value>,
    mut part_b: Vec<Value>,
    elapsed: Duration,
) -> Value {
    let per = |r: &Value, k: &str| Some(f(r, k)? / f(r, "n")? * 1e3);
    // The floor: the faster raw netlink contender (per-namespace loop or phased), for up and
    // for down separately.
    let floor = |k: &str| -> Option<(f64, String)> {
        part_a
            .iter()
            .filter(|r| {
                r["contender"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("raw"))
            })
            .filter(|r| r.get("error").is_none())
            .filter_map(|r| Some((per(r, k)?, r["contender"].as_str()?.to_owned())))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    };
    let (raw_up, floor_up) = floor("up_s").unzip();
    let (raw_down, floor_down) = floor("down_s").unzip();
    for r in &mut part_a {
        if r.get("error").is_some() {
            continue;
        }
        let (up, down, settled) = (per(r, "up_s"), per(r, "down_s"), per(r, "settled_s"));
        let obj = r.as_object_mut().expect("contender results are objects");
        obj.insert("per_ns_up_ms".into(), json!(up));
        obj.insert("per_ns_down_ms".into(), json!(down));
        obj.insert("per_ns_settled_ms".into(), json!(settled));
        obj.insert(
            "up_ratio_to_raw".into(),
            json!(up.zip(raw_up).map(|(a, b)| a / b)),
        );
        obj.insert(
            "down_ratio_to_raw".into(),
            json!(down.zip(raw_down).map(|(a, b)| a / b)),
        );
        let rn = obj.get("n").and_then(Value::as_u64).unwrap_or(0) as usize;
        if rn != n {
            let k = n as f64 / rn.max(1) as f64;
            obj.insert(
                "extrapolated".into(),
                json!({
                    "note": format!("measured with {rn} namespaces; linear extrapolation to {n}"),
                    "up_s": obj.get("up_s").and_then(Value::as_f64).map(|v| v * k),
                    "down_s": obj.get("down_s").and_then(Value::as_f64).map(|v| v * k),
                }),
            );
        }
        if let Some((kib, src)) = peak_rss(&Value::Object(obj.clone())) {
            obj.insert("peak_rss_kib".into(), json!(kib));
            obj.insert("peak_rss_source".into(), json!(src));
        }
    }
    for r in &mut part_b {
        if r.get("error").is_some() {
            continue;
        }
        let (a, d) = (per(r, "add_s"), per(r, "delete_s"));
        let obj = r.as_object_mut().expect("contender results are objects");
        obj.insert("per_add_ms".into(), json!(a));
        obj.insert("per_delete_ms".into(), json!(d));
    }
    let get = |v: &[Value], name: &str, k: &str| -> Option<f64> {
        v.iter()
            .find(|r| r["contender"] == name)
            .and_then(|r| f(r, k))
    };
    let warren_up = get(&part_a, "warren", "per_ns_up_ms");
    let script_up = get(&part_a, "ip-script", "per_ns_up_ms");
    let batch_up = get(&part_a, "ip-batch", "per_ns_up_ms");
    let warren_ratio = get(&part_a, "warren", "up_ratio_to_raw");
    let warren_down = get(&part_a, "warren", "down_s");
    let warren_settled = get(&part_a, "warren", "settled_s");
    let warren_n = get(&part_a, "warren", "n");
    let div = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let ratios = json!({
        "ip_script_over_warren_up": div(script_up, warren_up),
        "ip_batch_over_warren_up": div(batch_up, warren_up),
        "warren_over_raw_up": warren_ratio,
        "raw_floor_up": floor_up,
        "raw_floor_down": floor_down,
        "ns_add_ip_each_over_warren_each": div(get(&part_b, "ip-each", "add_s"), get(&part_b, "warren-each", "add_s")),
        "ns_delete_ip_each_over_warren_each": div(get(&part_b, "ip-each", "delete_s"), get(&part_b, "warren-each", "delete_s")),
        "ns_add_ip_batch_over_warren_bulk": div(get(&part_b, "ip-batch", "add_s"), get(&part_b, "warren-bulk", "add_s")),
        "ns_delete_ip_batch_over_warren_bulk": div(get(&part_b, "ip-batch", "delete_s"), get(&part_b, "warren-bulk", "delete_s")),
    });
    let goal = |name: &str, target: &str, value: Option<f64>, ok: Option<bool>| json!({"goal": name, "target": target, "measured": value, "met": ok});
    let full = warren_n.is_some_and(|wn| wn as usize == n);
    let goals = vec![
        goal(
            "warren within 1.5x of the raw netlink floor (up)",
            "<= 1.5",
            warren_ratio,
            warren_ratio.map(|r| r <= 1.5),
        ),
        goal(
            "warren >= 10x faster than the ip script (up, per namespace)",
            ">= 10",
            div(script_up, warren_up),
            div(script_up, warren_up).map(|r| r >= 10.0),
        ),
        goal(
            "teardown of 1,000 under 2 s (warren, caller's time)",
            "< 2 s",
            warren_down,
            warren_down.filter(|_| full && n >= 1000).map(|d| d < 2.0),
        ),
        goal(
            "teardown of 1,000 under 2 s (warren, until the kernel removed every veth)",
            "< 2 s",
            warren_settled,
            warren_settled
                .filter(|_| full && n >= 1000)
                .map(|d| d < 2.0),
        ),
    ];
    json!({
        "benchmark": "wiring",
        "timestamp": timestamp(),
        "machine": machine(),
        "params": {
            "n": n,
            "per_bridge": per_bridge,
            "bridges": n.div_ceil(per_bridge),
            "ip_script_n": script_n,
            "repeat": repeat,
            "warren_binary": warren,
        },
        "wall_s": elapsed.as_secs_f64(),
        "setup": part_a,
        "ns_cli": part_b,
        "ratios": ratios,
        "goals": goals,
        "notes": [
            "Each contender runs alone in a fresh sandbox (user, net and mount namespaces, private /run); \
             the next starts only after the kernel has freed the previous one's namespaces.",
            "down = the caller's time; settled = until the kernel has destroyed every namespace's veth \
             (namespace cleanup is asynchronous).",
            "Peak RSS: in-process contenders report their own VmHWM (this harness included); the others \
             the largest ru_maxrss among their child processes (RUSAGE_CHILDREN).",
            "A shared 2-core machine: compare ratios within one run, not absolute times across runs.",
        ],
    })
}

fn label(name: &str) -> &str {
    match name {
        "raw" => "raw netlink loop",
        "raw-phased" => "raw netlink, phased",
        "warren" => "warren (library)",
        "ip-batch" => "ip -batch",
        "ip-script" => "ip script (1 call/step)",
        "ip-each" => "ip netns add (1 proc/name)",
        "warren-each" => "warren ns add (1 proc/name)",
        "warren-bulk" => "warren ns add --count",
        other => other,
    }
}

fn repeat_note(doc: &Value) -> String {
    match doc["params"]["repeat"].as_u64() {
        Some(r) if r > 1 => format!(" (times: median of {r} interleaved runs)"),
        _ => String::new(),
    }
}

/// The human table of a `wiring` document.
pub fn wiring_table(doc: &Value) -> String {
    let mut t = String::new();
    let n = doc["params"]["n"].as_u64().unwrap_or(0);
    let m = &doc["machine"];
    let _ = writeln!(
        t,
        "\nwiring — {} | kernel {} | {} CPUs | {} | {}",
        doc["timestamp"].as_str().unwrap_or(""),
        m["kernel"].as_str().unwrap_or("?"),
        m["cpus"],
        m["iproute2"].as_str().unwrap_or("ip ?"),
        m["cpu"].as_str().unwrap_or("")
    );
    let _ = writeln!(
        t,
        "\n(a) {n} namespaces{}, each: veth (host end a port of one of {} bridges), eth0 up inside, address, default route; then teardown",
        repeat_note(doc),
        doc["params"]["bridges"]
    );
    let _ = writeln!(
        t,
        "{:<26} {:>5} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8} {:>8} {:>10}  verified",
        "contender",
        "n",
        "up",
        "down",
        "settled",
        "per-ns up",
        "per-ns dn",
        "up×raw",
        "dn×raw",
        "peak RSS",
    );
    for r in doc["setup"].as_array().into_iter().flatten() {
        let name = r["contender"].as_str().unwrap_or("?");
        if let Some(e) = r.get("error").and_then(Value::as_str) {
            let _ = writeln!(t, "{:<26} FAILED: {e}", label(name));
            continue;
        }
        let _ = writeln!(
            t,
            "{:<26} {:>5} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8} {:>8} {:>10}  {}",
            label(name),
            r["n"].as_u64().unwrap_or(0),
            secs(f(r, "up_s")),
            secs(f(r, "down_s")),
            secs(f(r, "settled_s")),
            ms_to(f(r, "per_ns_up_ms"), 2),
            ms_to(f(r, "per_ns_down_ms"), 2),
            ratio_to(f(r, "up_ratio_to_raw"), 2),
            ratio_to(f(r, "down_ratio_to_raw"), 2),
            mib(f(r, "peak_rss_kib")),
            if r.get("verified").is_some() {
                "ok"
            } else {
                "no"
            }
        );
        if let Some(x) = r.get("extrapolated") {
            let _ = writeln!(
                t,
                "{:<26} {:>5} {:>9} {:>9}   (extrapolated from n={}, linear)",
                "",
                n,
                secs(f(x, "up_s")),
                secs(f(x, "down_s")),
                r["n"].as_u64().unwrap_or(0)
            );
        }
    }
    for r in doc["setup"].as_array().into_iter().flatten() {
        let phases = r
            .get("phases_s")
            .and_then(Value::as_array)
            .filter(|p| !p.is_empty());
        let (Some(phases), Some(rn)) = (phases, r["n"].as_f64()) else {
            continue;
        };
        let parts: Vec<String> = phases
            .iter()
            .filter_map(|p| {
                Some(format!(
                    "{} {}",
                    p[0].as_str()?,
                    ms_to(Some(p[1].as_f64()? / rn * 1e3), 2)
                ))
            })
            .collect();
        let _ = writeln!(
            t,
            "  where {}'s time went, per namespace: {}",
            label(r["contender"].as_str().unwrap_or("?")),
            parts.join(", ")
        );
    }
    let ra = &doc["ratios"];
    let _ = writeln!(
        t,
        "ip script / warren (up, per namespace): {}    ip -batch / warren: {}    warren / raw: {}",
        ratio_to(f(ra, "ip_script_over_warren_up"), 2),
        ratio_to(f(ra, "ip_batch_over_warren_up"), 2),
        ratio_to(f(ra, "warren_over_raw_up"), 2)
    );
    let _ = writeln!(
        t,
        "\n(b) namespaces only{}: {n} names added, then deleted, by the command-line tools",
        repeat_note(doc)
    );
    let _ = writeln!(
        t,
        "{:<30} {:>5} {:>9} {:>9} {:>10} {:>10} {:>10}",
        "contender", "n", "add", "delete", "per add", "per del", "peak RSS"
    );
    for r in doc["ns_cli"].as_array().into_iter().flatten() {
        let name = r["contender"].as_str().unwrap_or("?");
        if let Some(e) = r.get("error").and_then(Value::as_str) {
            let _ = writeln!(t, "{:<30} FAILED: {e}", label(name));
            continue;
        }
        let _ = writeln!(
            t,
            "{:<30} {:>5} {:>9} {:>9} {:>10} {:>10} {:>10}",
            label(name),
            r["n"].as_u64().unwrap_or(0),
            secs(f(r, "add_s")),
            secs(f(r, "delete_s")),
            ms_to(f(r, "per_add_ms"), 2),
            ms_to(f(r, "per_delete_ms"), 2),
            mib(f(r, "children_peak_rss_kib")),
        );
    }
    let _ = writeln!(
        t,
        "ip/warren, one process per name: add {} delete {}    ip -batch / warren bulk: add {} delete {}",
        ratio_to(f(ra, "ns_add_ip_each_over_warren_each"), 2),
        ratio_to(f(ra, "ns_delete_ip_each_over_warren_each"), 2),
        ratio_to(f(ra, "ns_add_ip_batch_over_warren_bulk"), 2),
        ratio_to(f(ra, "ns_delete_ip_batch_over_warren_bulk"), 2),
    );
    let _ = writeln!(t, "\ngoals (printed, not enforced):");
    for g in doc["goals"].as_array().into_iter().flatten() {
        let met = match g["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "n/a",
        };
        let v = f(g, "measured");
        let shown = if g["target"].as_str().is_some_and(|s| s.ends_with(" s")) {
            secs(v)
        } else {
            ratio_to(v, 2)
        };
        let _ = writeln!(
            t,
            "  {:<75} target {:<6} measured {:<9} {met}",
            g["goal"].as_str().unwrap_or(""),
            g["target"].as_str().unwrap_or(""),
            shown
        );
    }
    let _ = writeln!(
        t,
        "\nper-ns = time / n; ×raw = per-namespace time over the faster raw netlink contender's; settled = until the kernel removed every veth;\n\
         peak RSS = own VmHWM for in-process contenders (harness included), else the largest child process."
    );
    t
}
