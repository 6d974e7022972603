//! The results of `containers`: the JSON document (figures, ratios peer/warren, goals) and the
//! table printed from it.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::containers::Opts;
use crate::fmt::{div, f, mib, ms, ok, ratio, version};
use crate::report::{machine, timestamp};

/// Build the results document, adding the ratios peer / warren.
pub fn document(
    o: &Opts,
    mut wire: Vec<Value>,
    mut seq: Vec<Value>,
    conn: Value,
    mut dns: Vec<Value>,
    elapsed: Duration,
) -> Value {
    // Part 1: each row against warren (steady state) with the same port count.
    // And against warren given a namespace made beforehand, the same work as the peers'.
    let row_at = |rows: &[Value], who: &str, k: u64, key: &str| {
        rows.iter()
            .find(|r| r["contender"] == who && r["ports"].as_u64() == Some(k) && ok(r))
            .and_then(|r| f(r, key))
    };
    let warren_at = |rows: &[Value], k: u64, key: &str| row_at(rows, "warren", k, key);
    let snapshot = wire.clone();
    for r in &mut wire {
        if !ok(r) {
            continue;
        }
        let k = r["ports"].as_u64().unwrap_or(0);
        let su = div(f(r, "setup_ms"), warren_at(&snapshot, k, "setup_ms"));
        let td = div(f(r, "teardown_ms"), warren_at(&snapshot, k, "teardown_ms"));
        r["setup_over_warren"] = json!(su);
        r["teardown_over_warren"] = json!(td);
        r["setup_over_warren_adopt"] = json!(div(
            f(r, "setup_ms"),
            row_at(&snapshot, "warren-adopt", k, "setup_ms")
        ));
    }
    let seq_snapshot = seq.clone();
    let warren_seq = seq_snapshot
        .iter()
        .find(|r| r["contender"] == "warren" && ok(r));
    for r in &mut seq {
        if !ok(r) {
            continue;
        }
        let w = warren_seq.and_then(|w| f(w, "setup_median_ms"));
        r["setup_median_over_warren"] = json!(div(f(r, "setup_median_ms"), w));
    }
    let wdns = dns
        .iter()
        .find(|d| d["server"] == "warren-dns" && d.get("error").is_none())
        .cloned();
    for d in &mut dns {
        if let Some(w) = &wdns {
            d["p50_over_warren"] = json!(div(f(d, "p50_us"), f(w, "p50_us")));
            d["qps_warren_over_this"] = json!(div(f(w, "queries_per_s"), f(d, "queries_per_s")));
            d["rss_over_warren"] = json!(div(f(d, "peak_rss_kib"), f(w, "peak_rss_kib")));
        }
    }

    let ratio_to = |c: &str, w: &str| {
        div(
            row_at(&snapshot, c, 1, "setup_ms"),
            row_at(&snapshot, w, 1, "setup_ms"),
        )
    };
    let wire_ratio = |c: &str| ratio_to(c, "warren");
    let adopt_ratio = |c: &str| ratio_to(c, "warren-adopt");
    let lib_ratio = |c: &str| ratio_to(c, "warren-lib");
    let growth = warren_seq.and_then(|w| f(w, "growth"));
    let levels = conn["levels"].as_array().cloned().unwrap_or_default();
    let at_10k = levels
        .iter()
        .find(|l| l["ports"].as_u64() == Some(10_000))
        .and_then(|l| f(l, "nat_over_direct_rate"));
    let dns_rss = wdns.as_ref().and_then(|w| f(w, "peak_rss_kib"));
    let cli_rss = snapshot
        .iter()
        .filter(|r| {
            r["contender"]
                .as_str()
                .is_some_and(|c| c.starts_with("warren") && !c.starts_with("warren-lib"))
                && ok(r)
        })
        .filter_map(|r| f(r, "children_peak_rss_kib"))
        .reduce(f64::max);
    let goal = |name: &str, target: &str, v: Option<f64>, met: Option<bool>| json!({"goal": name, "target": target, "measured": v, "met": met});
    let goals = vec![
        goal(
            "warren >= 10x faster than netavark 2.x (setup, one container, one port)",
            ">= 10x",
            wire_ratio("netavark2"),
            wire_ratio("netavark2").map(|r| r >= 10.0),
        ),
        goal(
            "warren >= 15x faster than the reference CNI chain (setup, one container, one port)",
            ">= 15x",
            wire_ratio("cni"),
            wire_ratio("cni").map(|r| r >= 15.0),
        ),
        goal(
            "warren given the namespace, as the peers are, >= 10x faster than netavark 2.x \
             (setup, one container, one port)",
            ">= 10x",
            adopt_ratio("netavark2"),
            adopt_ratio("netavark2").map(|r| r >= 10.0),
        ),
        goal(
            "warren given the namespace, as the peers are, >= 15x faster than the reference \
             CNI chain (setup, one container, one port)",
            ">= 15x",
            adopt_ratio("cni"),
            adopt_ratio("cni").map(|r| r >= 15.0),
        ),
        goal(
            "warren's engine embedded in a runtime (library, in-process) >= 10x faster than \
             netavark 2.x (setup, one container, one port)",
            ">= 10x",
            lib_ratio("netavark2"),
            lib_ratio("netavark2").map(|r| r >= 10.0),
        ),
        goal(
            "warren's engine embedded in a runtime (library, in-process) >= 15x faster than \
             the reference CNI chain (setup, one container, one port)",
            ">= 15x",
            lib_ratio("cni"),
            lib_ratio("cni").map(|r| r >= 15.0),
        ),
        goal(
            "per-container setup flat over 100 (median of the last ten / first ten)",
            "<= 1.2x",
            growth,
            growth.map(|g| g <= 1.2),
        ),
        goal(
            "new-connection rate at 10,000 published ports / no-NAT rate",
            ">= 0.9",
            at_10k,
            at_10k.map(|r| r >= 0.9),
        ),
        goal(
            "warren-dns peak RSS",
            "<= 5 MiB",
            dns_rss.map(|k| k / 1024.0),
            dns_rss.map(|k| k <= 5.0 * 1024.0),
        ),
        goal(
            "warren CLI peak RSS (largest warren process of part 1)",
            "<= 8 MiB",
            cli_rss.map(|k| k / 1024.0),
            cli_rss.map(|k| k <= 8.0 * 1024.0),
        ),
    ];
    let mut m = machine();
    m["netavark"] = json!(version(crate::wirers::NETAVARK_DEFAULT, &["--version"]));
    m["netavark2"] = json!(if o.netavark2.is_empty() {
        None
    } else {
        version(&o.netavark2, &["--version"])
    });
    m["aardvark_dns"] = json!(version(crate::wirers::AARDVARK_DEFAULT, &["--version"]));
    // The Debian build's plugins report "version unknown": ask the package.
    m["cni_plugins"] = json!(
        version(
            "dpkg-query",
            &["-W", "-f", "${Version}", "containernetworking-plugins"]
        )
        .map(|v| format!("containernetworking-plugins {v}"))
    );
    json!({
        "benchmark": "containers",
        "timestamp": timestamp(),
        "machine": m,
        "params": {
            "n": o.n,
            "seq_n": o.seq_n,
            "secs": o.secs,
            "ports": o.ports,
            "levels": o.levels,
            "parts": o.parts,
            "warren_binary": o.warren,
            "netavark2_binary": o.netavark2,
        },
        "wall_s": elapsed.as_secs_f64(),
        "wire": wire,
        "seq": seq,
        "connrate": conn,
        "dns": dns,
        "goals": goals,
        "notes": [
            "Each contender runs alone in a fresh sandbox (user, net and mount namespaces, private /run).",
            "Times are of whole processes as their users run them (fork, exec, work, exit): one \
             `warren` process per call, one `netavark` per call, one process per CNI plugin; \
             warren-lib (the engine embedded in the harness) is timed around its calls.",
            "warren and warren-dnscold create the container's namespace themselves (and pod rm \
             deletes it); netavark and CNI get one made beforehand and deleted after, untimed. \
             warren-adopt ('netns given') is warren on the peers' terms: the namespace made \
             beforehand, untimed, and wired with `pod create --adopt-netns`; setup/wa is the \
             ratio to it.",
            "warren-lib is warren's engine embedded, as a runtime linking the library uses \
             it: one `warren_engine::Engine` opened once (untimed), then `pod_create` / \
             `pod_remove` per container, the same work as `warren pod create` / `pod rm` \
             without starting a process per call. Its peak RSS is the benchmark process's own \
             VmHWM (the engine plus the harness, about 2.5 MiB). warren-lib-adopt is the same \
             given a namespace made beforehand, as the peers are (RunSpec::netns; the retired \
             veth deleted after each teardown by Engine::delete_retired, untimed).",
            "warren (steady) keeps an anchor pod on the network so its DNS server runs and is only \
             reloaded; warren-dnscold has no other pod, so every create starts the DNS server.",
            "Ratios are peer / warren: above 1 means warren is faster (or smaller).",
            "Peak RSS: the largest ru_maxrss among the contender's waited-for processes \
             (RUSAGE_CHILDREN in its sandbox); DNS servers: their own VmHWM.",
            "A shared 2-core machine: compare ratios within one run, not absolute times across runs.",
        ],
    })
}

fn us(v: Option<f64>) -> String {
    v.map_or("-".into(), |u| format!("{u:.0} µs"))
}

/// Contender `c`'s peak RSS: its processes' (children of the harness), or for the engine
/// embedded in the harness, the harness's own.
fn peak_kib(r: &Value, c: &str) -> Option<f64> {
    if c.starts_with("warren-lib") {
        f(r, "self_peak_rss_kib")
    } else {
        f(r, "children_peak_rss_kib")
    }
}

fn label(c: &str) -> &str {
    match c {
        "warren" => "warren (DNS steady)",
        "warren-adopt" => "warren, netns given",
        "warren-dnscold" => "warren (DNS first use)",
        "warren-lib" => "warren engine, in-process",
        "warren-lib-adopt" => "engine, netns given",
        "netavark" => "netavark 1.4 (iptables)",
        "netavark-dns" => "netavark 1.4 + aardvark",
        "netavark2" => "netavark 2.x (nftables)",
        "cni" => "CNI bridge+portmap",
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

/// The human table of a `containers` document.
pub fn table(doc: &Value) -> String {
    let mut t = String::new();
    let m = &doc["machine"];
    let _ = writeln!(
        t,
        "\ncontainers — {} | kernel {} | {} CPUs | {} | {} | {} | CNI {}",
        doc["timestamp"].as_str().unwrap_or(""),
        m["kernel"].as_str().unwrap_or("?"),
        m["cpus"],
        m["netavark"].as_str().unwrap_or("netavark ?"),
        m["netavark2"]
            .as_str()
            .unwrap_or("netavark 2.x not installed"),
        m["aardvark_dns"].as_str().unwrap_or("aardvark-dns ?"),
        m["cni_plugins"].as_str().unwrap_or("?"),
    );
    let p = &doc["params"];
    let _ = writeln!(
        t,
        "\n(1) one container with masquerade and published ports: median of {} setups and teardowns",
        p["n"]
    );
    let _ = writeln!(
        t,
        "{:<26} {:>5} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "contender",
        "ports",
        "setup",
        "teardown",
        "setup/w",
        "tdown/w",
        "setup/wa",
        "peak RSS",
        "1st ctr"
    );
    for r in doc["wire"].as_array().into_iter().flatten() {
        let c = r["contender"].as_str().unwrap_or("?");
        let k = r["ports"].as_u64().unwrap_or(0);
        if let Some(s) = status(r) {
            let _ = writeln!(t, "{:<26} {k:>5} {s}", label(c));
            continue;
        }
        let _ = writeln!(
            t,
            "{:<26} {k:>5} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10}",
            label(c),
            ms(f(r, "setup_ms")),
            ms(f(r, "teardown_ms")),
            ratio(f(r, "setup_over_warren")),
            ratio(f(r, "teardown_over_warren")),
            ratio(f(r, "setup_over_warren_adopt")),
            mib(peak_kib(r, c)),
            ms(f(r, "first_container_ms")),
        );
    }
    // The DNS servers the contenders left running: the largest peak per server and contender.
    let mut servers: Vec<(String, String, f64)> = Vec::new();
    for r in doc["wire"].as_array().into_iter().flatten() {
        let c = label(r["contender"].as_str().unwrap_or("?")).to_owned();
        for (name, kib) in r["dns_servers_peak_rss_kib"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let kib = kib.as_f64().unwrap_or(0.0);
            match servers.iter_mut().find(|s| s.0 == *name && s.1 == c) {
                Some(s) => s.2 = s.2.max(kib),
                None => servers.push((name.clone(), c.clone(), kib)),
            }
        }
    }
    if !servers.is_empty() {
        let shown: Vec<String> = servers
            .iter()
            .map(|(n, c, k)| format!("{n} {} (under {c})", mib(Some(*k))))
            .collect();
        let _ = writeln!(
            t,
            "  DNS servers' peak RSS after the runs: {}",
            shown.join(", ")
        );
    }
    let _ = writeln!(
        t,
        "  setup/w, tdown/w = this contender's median / warren (DNS steady)'s with the same ports; \
         1st ctr = the network's first pod (starts the DNS server)"
    );

    let _ = writeln!(
        t,
        "\n(2) {} containers in sequence, one published port each: per-container setup",
        p["seq_n"]
    );
    let _ = writeln!(
        t,
        "{:<26} {:>10} {:>10} {:>8} {:>10} {:>9} {:>10} {:>10} {:>6}",
        "contender",
        "first 10",
        "last 10",
        "growth",
        "median",
        "median/w",
        "teardown",
        "peak RSS",
        "steal"
    );
    for r in doc["seq"].as_array().into_iter().flatten() {
        let c = r["contender"].as_str().unwrap_or("?");
        if let Some(s) = status(r) {
            let _ = writeln!(t, "{:<26} {s}", label(c));
            continue;
        }
        let _ = writeln!(
            t,
            "{:<26} {:>10} {:>10} {:>8} {:>10} {:>9} {:>10} {:>10} {:>6}",
            label(c),
            ms(f(r, "setup_first10_ms")),
            ms(f(r, "setup_last10_ms")),
            ratio(f(r, "growth")),
            ms(f(r, "setup_median_ms")),
            ratio(f(r, "setup_median_over_warren")),
            ms(f(r, "teardown_median_ms")),
            mib(peak_kib(r, c)),
            f(r, "cpu_steal_pct").map_or("-".into(), |v| format!("{v:.1}%")),
        );
    }
    let _ = writeln!(
        t,
        "  first/last 10 = median setup time of containers 1-10 / the last ten; growth = last / first;\n  \
         steal = CPU time the hypervisor gave other guests during the run (noise beyond our control)"
    );

    let c = &doc["connrate"];
    let _ = writeln!(
        t,
        "\n(3) new connections to a port published by warren (DNAT) vs to the container directly, {} s each",
        p["secs"]
    );
    if let Some(s) = status(c) {
        let _ = writeln!(t, "  {s}");
    }
    let _ = writeln!(
        t,
        "{:>7} {:>11} {:>11} {:>9} {:>11} {:>9} {:>9} {:>11} {:>9}",
        "ports",
        "publish",
        "NAT conn/s",
        "NAT p50",
        "direct c/s",
        "dir p50",
        "NAT/dir",
        "NAT errors",
        "pod rm"
    );
    for l in c["levels"].as_array().into_iter().flatten() {
        let k = l["ports"].as_u64().unwrap_or(0);
        if let Some(e) = l.get("error").and_then(Value::as_str) {
            let _ = writeln!(t, "{k:>7} FAILED: {e}");
            continue;
        }
        let _ = writeln!(
            t,
            "{k:>7} {:>11} {:>11.0} {:>9} {:>11.0} {:>9} {:>9} {:>11} {:>9}",
            ms(f(l, "publish_ms")),
            f(&l["nat"], "conn_per_s").unwrap_or(0.0),
            us(f(&l["nat"], "p50_us")),
            f(&l["direct"], "conn_per_s").unwrap_or(0.0),
            us(f(&l["direct"], "p50_us")),
            f(l, "nat_over_direct_rate").map_or("-".into(), |r| format!("{:.0}%", r * 100.0)),
            l["nat"]["errors"].as_u64().unwrap_or(0),
            ms(f(l, "pod_rm_ms")),
        );
    }
    let _ = writeln!(
        t,
        "  publish = one `warren pod publish POD -p 20000[-LAST]:20000[-LAST]` (all ports in one call); the client connects to LAST"
    );

    let _ = writeln!(
        t,
        "\n(4) DNS: A query for a known name, one client, one query at a time, {} s",
        p["secs"]
    );
    let _ = writeln!(
        t,
        "{:<14} {:>9} {:>9} {:>11} {:>9} {:>10} {:>9} {:>9}",
        "server", "p50", "p99", "queries/s", "p50/w", "w qps/x", "peak RSS", "RSS/w"
    );
    for d in doc["dns"].as_array().into_iter().flatten() {
        let s = d["server"].as_str().unwrap_or("?");
        if let Some(st) = status(d) {
            let _ = writeln!(t, "{s:<14} {st}");
            continue;
        }
        let _ = writeln!(
            t,
            "{s:<14} {:>9} {:>9} {:>11.0} {:>9} {:>10} {:>9} {:>9}",
            us(f(d, "p50_us")),
            us(f(d, "p99_us")),
            f(d, "queries_per_s").unwrap_or(0.0),
            ratio(f(d, "p50_over_warren")),
            ratio(f(d, "qps_warren_over_this")),
            mib(f(d, "peak_rss_kib")),
            ratio(f(d, "rss_over_warren")),
        );
    }

    let _ = writeln!(t, "\ngoals (printed, not enforced):");
    for g in doc["goals"].as_array().into_iter().flatten() {
        let met = match g["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "n/a (not measured)",
        };
        let target = g["target"].as_str().unwrap_or("");
        let v = f(g, "measured");
        let shown = if target.contains("MiB") {
            v.map_or("-".into(), |x| format!("{x:.1} MiB"))
        } else {
            v.map_or("-".into(), |x| format!("{x:.2}x"))
        };
        let _ = writeln!(
            t,
            "  {:<82} target {:<8} measured {:<9} {met}",
            g["goal"].as_str().unwrap_or(""),
            target,
            shown
        );
    }
    t
}
