//! `cni`: the CNI chain bridge + host-local + portmap (one published port), warren's plugins
//! against the reference plugins against netavark (1.4 and, given a path, 2.x), in one run.
//!
//! 1. `one`: one container, ADD then DEL, N rounds; in every round each contender wires its
//!    own container once, the contenders' order rotating from round to round, all in one
//!    sandbox; medians.
//! 2. `seq`: 100 containers ADDed in sequence (each contender in its own sandbox), then all
//!    DELeted: the time of each; median of the first ten against the last ten.
//!
//! Every plugin (or netavark) call is one process, exec'd by this program and reaped with
//! `wait4`: its time runs from spawn to reap and its peak RSS is that call's `ru_maxrss` (the
//! largest of the process and of the descendants it waited for: host-local under the
//! reference bridge, iptables, nft). The namespace of a container is created before ADD and
//! deleted after DEL, untimed, the same way for every contender (what a runtime does).
//!
//! 3. `podman run --rm IMAGE true` is measured by the driver (it needs root and podman); its
//!    figures come in as a JSON file and are reported here.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::wirers::{self, HOST_PORT_BASE, NETAVARK_DEFAULT, WARREN_STATE};
use crate::{cni_report, containers, sandbox};

/// Usage of `warren-bench cni`.
pub const USAGE: &str = "usage: warren-bench cni --plugins DIR [--n N] [--seq-n M] \
[--parts one,seq] [--contenders warren,cni,netavark,netavark2] [--netavark2 PATH] \
[--podman FILE] [--out FILE]";

/// The contenders, in the order of the first round.
pub const CONTENDERS: &[&str] = &["warren", "cni", "netavark", "netavark2"];

/// Options of `warren-bench cni`.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Rounds of part 1.
    pub n: usize,
    /// Containers of part 2.
    pub seq_n: usize,
    /// The directory warren's plugins are installed in (`warren-cni install DIR`).
    pub plugins: String,
    /// A netavark 2.x binary, if any.
    pub netavark2: String,
    /// Parts to run.
    pub parts: Vec<String>,
    /// Contenders to run.
    pub contenders: Vec<String>,
    /// The podman figures (JSON written by the driver), if any.
    pub podman: Option<String>,
    /// Where to write the JSON.
    pub out: Option<String>,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        n: 20,
        seq_n: 100,
        plugins: String::new(),
        netavark2: String::new(),
        parts: vec!["one".into(), "seq".into()],
        contenders: CONTENDERS.iter().map(|s| (*s).to_owned()).collect(),
        podman: None,
        out: None,
    };
    let mut it = args.iter();
    let split = |v: String| -> Vec<String> {
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    while let Some(a) = it.next() {
        let mut val = || crate::option_value(&mut it, a, USAGE);
        let num = |v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{a}: not a number: {v}"))
        };
        match a.as_str() {
            "--n" => o.n = num(val()?)?.max(1),
            "--seq-n" => o.seq_n = num(val()?)?,
            "--plugins" => o.plugins = val()?,
            "--netavark2" => o.netavark2 = val()?,
            "--parts" => o.parts = split(val()?),
            "--contenders" => o.contenders = split(val()?),
            "--podman" => o.podman = Some(val()?),
            "--out" => o.out = Some(val()?),
            _ => return Err(format!("unknown option {a}\n{USAGE}")),
        }
    }
    if o.seq_n < 20 {
        return Err("--seq-n must be at least 20 (first ten against last ten)".into());
    }
    if let Some(c) = o
        .contenders
        .iter()
        .find(|c| !CONTENDERS.contains(&c.as_str()))
    {
        return Err(format!("unknown contender {c:?}\n{USAGE}"));
    }
    if o.plugins.is_empty() && o.contenders.iter().any(|c| c == "warren") {
        return Err(format!(
            "--plugins DIR (where `warren-cni install DIR` put warren's plugins) is needed\n{USAGE}"
        ));
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
        Some(e) => eprintln!("[cni] {label}: FAILED: {e}"),
        None => eprintln!(
            "[cni] {label}: done in {:.1} s ({:.1} s waiting for the kernel to free namespaces)",
            took.as_secs_f64(),
            waited.as_secs_f64()
        ),
    }
    r
}

/// `warren-bench cni ...`: the orchestrating parent.
pub fn main(args: &[String]) -> Result<(), String> {
    let o = parse_opts(args)?;
    let started = Instant::now();
    let part = |p: &str| o.parts.iter().any(|x| x == p);
    let mut one = Value::Null;
    if part("one") {
        eprintln!(
            "[cni] one: {} rounds of ADD + DEL of one container, contenders {} alternating ...",
            o.n,
            o.contenders.join(", ")
        );
        one = run_one(
            "one",
            vec![
                "cni-one".into(),
                o.n.to_string(),
                o.contenders.join(","),
                o.plugins.clone(),
                o.netavark2.clone(),
            ],
        );
    }
    let mut seq = Vec::new();
    if part("seq") {
        for c in &o.contenders {
            eprintln!(
                "[cni] seq: {c}: {} containers ADDed, then DELeted ...",
                o.seq_n
            );
            let mut r = run_one(
                &format!("seq {c}"),
                vec![
                    "cni-seq".into(),
                    c.clone(),
                    o.seq_n.to_string(),
                    o.plugins.clone(),
                    o.netavark2.clone(),
                ],
            );
            if let Some(obj) = r.as_object_mut() {
                obj.entry("contender").or_insert(json!(c));
            }
            seq.push(r);
        }
    }
    let podman = match &o.podman {
        None => json!({"not_measured": "no podman figures given (the driver bench/drivers/cni.sh \
                                          measures podman and passes them with --podman FILE)"}),
        Some(f) => match std::fs::read_to_string(f) {
            Err(e) => json!({"not_measured": format!("reading {f}: {e}")}),
            Ok(t) => serde_json::from_str(&t)
                .unwrap_or_else(|e| json!({"not_measured": format!("{f}: bad JSON: {e}")})),
        },
    };
    let doc = cni_report::document(&o, one, seq, podman, started.elapsed());
    println!("{}", cni_report::table(&doc));
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
        "cni-one" => child_one(args),
        "cni-seq" => child_seq(args),
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

// ---------------------------------------------------------------------------------------------
// One process call, reaped with wait4.

/// One exec'd process: which plugin, its time and its peak RSS.
#[derive(Debug, Clone)]
pub struct Call {
    /// The plugin (`bridge`, `portmap`, `netavark`).
    pub plugin: String,
    /// `ADD` or `DEL`.
    pub cmd: &'static str,
    /// Spawn to reap.
    pub ms: f64,
    /// `ru_maxrss` from `wait4`, KiB.
    pub maxrss_kib: u64,
}

/// Run `cmd` with `stdin`, reap it with `wait4`: (time, stdout, peak RSS in KiB). A non-zero
/// exit is an error quoting stderr (or stdout, where CNI plugins put their errors).
pub fn exec(cmd: &mut Command, stdin: &[u8]) -> Result<(Duration, Vec<u8>, u64), String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{cmd:?}: {e}"))?;
    if let Some(mut w) = child.stdin.take() {
        // A plugin may exit without reading its input: a broken pipe is its answer, not ours.
        let _ = w.write_all(stdin);
    }
    // Results and errors are small: read stdout, then stderr, to their ends (the child exits).
    let (mut out, mut err) = (Vec::new(), Vec::new());
    if let Some(mut r) = child.stdout.take() {
        let _ = r.read_to_end(&mut out);
    }
    if let Some(mut r) = child.stderr.take() {
        let _ = r.read_to_end(&mut err);
    }
    let (status, kib) =
        warren_kernel::process::wait_maxrss(child.id()).map_err(|e| format!("wait4: {e}"))?;
    let took = t.elapsed();
    if !status.success() {
        let msg = if err.iter().all(u8::is_ascii_whitespace) {
            out
        } else {
            err
        };
        let msg: String = String::from_utf8_lossy(&msg)
            .trim()
            .chars()
            .take(600)
            .collect();
        return Err(format!("{:?}: {status}: {msg}", cmd.get_program()));
    }
    Ok((took, out, kib))
}

// ---------------------------------------------------------------------------------------------
// The contenders.

/// One contender: ADD and DEL of container `i` (its namespace exists at `/run/netns/NS`).
pub trait Chain {
    /// Untimed: directories.
    fn prepare(&mut self) -> Result<(), String>;
    /// The namespace name of container `i`.
    fn ns(&self, i: usize) -> String;
    /// Timed: ADD container `i` with one published port `host` → 80.
    fn add(&mut self, i: usize, host: u16) -> Result<Vec<Call>, String>;
    /// Timed: DEL container `i`.
    fn del(&mut self, i: usize) -> Result<Vec<Call>, String>;
    /// The gateway (for verification).
    fn gw(&self) -> Ipv4Addr;
    /// What one ADD and one DEL do.
    fn describe(&self) -> String;
}

/// Make a contender.
pub fn chain(name: &str, plugins: &str, netavark2: &str) -> Result<Box<dyn Chain>, String> {
    Ok(match name {
        "warren" => {
            let dir = Path::new(plugins);
            for p in ["warren-bridge", "warren-host-local", "warren-portmap"] {
                if !dir.join(p).exists() {
                    return Err(format!(
                        "{} missing (run `warren-cni install {plugins}`)",
                        dir.join(p).display()
                    ));
                }
            }
            Box::new(Cni::new("warren", plugins, "warren-", 91))
        }
        "cni" => {
            for p in ["bridge", "host-local", "portmap"] {
                let f = Path::new(wirers::CNI_PATH).join(p);
                if !f.exists() {
                    return Err(format!("{} not installed", f.display()));
                }
            }
            Box::new(Cni::new("cni", wirers::CNI_PATH, "", 90))
        }
        "netavark" => {
            if !Path::new(NETAVARK_DEFAULT).exists() {
                return Err(format!("{NETAVARK_DEFAULT} not installed"));
            }
            Box::new(Netavark::new("netavark", NETAVARK_DEFAULT, 89))
        }
        "netavark2" => {
            if netavark2.is_empty() || !Path::new(netavark2).exists() {
                return Err("not installed (set NETAVARK2=/path/to/netavark-2.x)".into());
            }
            Box::new(Netavark::new("netavark2", netavark2, 92))
        }
        other => return Err(format!("unknown contender {other:?}")),
    })
}

/// A CNI chain bridge (+ host-local IPAM) + portmap, each plugin exec'd directly the way libcni
/// does: ADD in order with `prevResult`, DEL in reverse with the ADD result as `prevResult`.
#[derive(Debug)]
pub struct Cni {
    label: &'static str,
    dir: String,
    prefix: &'static str,
    /// Second octet of the subnet 10.X.0.0/16 (each contender its own network and bridge).
    net: u8,
    /// Per container: its published host port and the ADD result.
    results: BTreeMap<usize, (u16, Value)>,
}

impl Cni {
    fn new(label: &'static str, dir: &str, prefix: &'static str, net: u8) -> Cni {
        Cni {
            label,
            dir: dir.into(),
            prefix,
            net,
            results: BTreeMap::new(),
        }
    }

    fn plugins(&self, host: u16) -> Vec<Value> {
        let p = self.prefix;
        vec![
            json!({
                "type": format!("{p}bridge"),
                "bridge": format!("cni{}", self.net),
                "isGateway": true,
                "ipMasq": true,
                "ipam": {
                    "type": format!("{p}host-local"),
                    "ranges": [[{"subnet": format!("10.{}.0.0/16", self.net),
                                 "gateway": self.gw().to_string()}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": format!("{}/ipam-{}", wirers::WORK, self.label),
                },
            }),
            json!({
                "type": format!("{p}portmap"),
                "snat": true,
                "capabilities": {"portMappings": true},
                "runtimeConfig": {"portMappings": [
                    {"hostPort": host, "containerPort": 80, "protocol": "tcp"}]},
            }),
        ]
    }

    fn call(
        &self,
        cmd: &'static str,
        i: usize,
        plugin: &Value,
        prev: Option<&Value>,
    ) -> Result<(Call, Option<Value>), String> {
        let ty = plugin["type"].as_str().unwrap_or("?");
        let mut conf = plugin.clone();
        conf["cniVersion"] = json!("1.0.0");
        conf["name"] = json!(format!("net-{}", self.label));
        if let Some(p) = prev {
            conf["prevResult"] = p.clone();
        }
        let mut c = Command::new(Path::new(&self.dir).join(ty));
        c.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", cmd)
            .env("CNI_CONTAINERID", format!("{}{i}", self.label))
            .env("CNI_NETNS", format!("/run/netns/{}", self.ns(i)))
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", &self.dir)
            .env("WARREN_STATE_DIR", WARREN_STATE);
        let (t, out, kib) = exec(&mut c, conf.to_string().as_bytes())
            .map_err(|e| format!("CNI {cmd} {ty}: {e}"))?;
        let call = Call {
            plugin: ty.trim_start_matches(self.prefix).to_owned(),
            cmd,
            ms: ms(t),
            maxrss_kib: kib,
        };
        if cmd == "DEL" || out.iter().all(u8::is_ascii_whitespace) {
            return Ok((call, None));
        }
        let v: Value =
            serde_json::from_slice(&out).map_err(|e| format!("CNI {cmd} {ty}: bad result: {e}"))?;
        if v.get("code").is_some() {
            return Err(format!("CNI {cmd} {ty}: {v}"));
        }
        Ok((call, Some(v)))
    }
}

impl Chain for Cni {
    fn prepare(&mut self) -> Result<(), String> {
        let d = format!("{}/ipam-{}", wirers::WORK, self.label);
        std::fs::create_dir_all(&d).map_err(|e| format!("mkdir {d}: {e}"))?;
        std::fs::create_dir_all(WARREN_STATE).map_err(|e| format!("mkdir {WARREN_STATE}: {e}"))
    }

    fn ns(&self, i: usize) -> String {
        format!("{}-{i}", self.label)
    }

    fn add(&mut self, i: usize, host: u16) -> Result<Vec<Call>, String> {
        let mut prev: Option<Value> = None;
        let mut calls = Vec::new();
        for p in &self.plugins(host) {
            let (call, r) = self.call("ADD", i, p, prev.as_ref())?;
            calls.push(call);
            if r.is_some() {
                prev = r;
            }
        }
        self.results
            .insert(i, (host, prev.ok_or("the chain returned no result")?));
        Ok(calls)
    }

    fn del(&mut self, i: usize) -> Result<Vec<Call>, String> {
        // DEL gets the config ADD got (runtimeConfig included), as libcni caches it.
        let (host, result) = self.results.remove(&i).ok_or("DEL before ADD")?;
        let mut calls = Vec::new();
        let mut errors = Vec::new();
        for p in self.plugins(host).iter().rev() {
            match self.call("DEL", i, p, Some(&result)) {
                Ok((c, _)) => calls.push(c),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(calls)
        } else {
            Err(errors.join("; "))
        }
    }

    fn gw(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.net, 0, 1)
    }

    fn describe(&self) -> String {
        format!(
            "{} in {}, each exec'd directly (one process per plugin call, CNI 1.0.0 config): ADD \
             {p}bridge (bridge cni{n}, isGateway, ipMasq, {p}host-local IPAM 10.{n}.0.0/16 with \
             a default route{ipam}) then {p}portmap (snat, runtimeConfig.portMappings: one tcp \
             port, prevResult = bridge's result); DEL portmap then bridge, each with the ADD \
             result as prevResult{state}",
            if self.prefix.is_empty() {
                "the reference plugins"
            } else {
                "warren's plugins (`warren-cni install`)"
            },
            self.dir,
            p = self.prefix,
            n = self.net,
            ipam = if self.prefix.is_empty() {
                ", exec'd by bridge: its RSS counts in bridge's ru_maxrss"
            } else {
                ", done inside warren-bridge's process"
            },
            state = if self.prefix.is_empty() {
                String::new()
            } else {
                format!("; WARREN_STATE_DIR={WARREN_STATE} (tmpfs)")
            }
        )
    }
}

/// `netavark --config DIR setup|teardown /run/netns/NS` with the network options on stdin.
#[derive(Debug)]
pub struct Netavark {
    label: &'static str,
    bin: String,
    net: u8,
    opts: BTreeMap<usize, Vec<u8>>,
}

impl Netavark {
    fn new(label: &'static str, bin: &str, net: u8) -> Netavark {
        Netavark {
            label,
            bin: bin.into(),
            net,
            opts: BTreeMap::new(),
        }
    }

    fn config(&self) -> String {
        format!("{}/{}", wirers::WORK, self.label)
    }

    fn options(&self, i: usize, host: u16) -> Vec<u8> {
        let ip = Ipv4Addr::new(10, self.net, (i / 250) as u8 + 1, (i % 250) as u8 + 2);
        json!({
            "container_id": format!("{:064x}", i + 1),
            "container_name": format!("c{i}"),
            "networks": {"bn": {"interface_name": "eth0", "static_ips": [ip.to_string()]}},
            "network_info": {"bn": {
                "dns_enabled": false,
                "driver": "bridge",
                "id": "b".repeat(64),
                "internal": false,
                "ipv6_enabled": false,
                "name": "bn",
                "network_interface": format!("nv{}", self.net),
                "subnets": [{"subnet": format!("10.{}.0.0/16", self.net),
                             "gateway": self.gw().to_string()}],
            }},
            "port_mappings": [{"host_ip": "", "container_port": 80, "host_port": host,
                               "range": 1, "protocol": "tcp"}],
        })
        .to_string()
        .into_bytes()
    }

    fn run(&self, op: &'static str, i: usize, opts: &[u8]) -> Result<Call, String> {
        let mut c = Command::new(&self.bin);
        c.args(["--config", &self.config()])
            .arg(op)
            .arg(format!("/run/netns/{}", self.ns(i)));
        let (t, _, kib) = exec(&mut c, opts).map_err(|e| format!("netavark {op}: {e}"))?;
        Ok(Call {
            plugin: "netavark".into(),
            cmd: if op == "setup" { "ADD" } else { "DEL" },
            ms: ms(t),
            maxrss_kib: kib,
        })
    }
}

impl Chain for Netavark {
    fn prepare(&mut self) -> Result<(), String> {
        let d = self.config();
        std::fs::create_dir_all(&d).map_err(|e| format!("mkdir {d}: {e}"))
    }

    fn ns(&self, i: usize) -> String {
        format!("{}-{i}", self.label)
    }

    fn add(&mut self, i: usize, host: u16) -> Result<Vec<Call>, String> {
        let o = self.options(i, host);
        let c = self.run("setup", i, &o)?;
        self.opts.insert(i, o);
        Ok(vec![c])
    }

    fn del(&mut self, i: usize) -> Result<Vec<Call>, String> {
        let o = self.opts.remove(&i).ok_or("teardown before setup")?;
        Ok(vec![self.run("teardown", i, &o)?])
    }

    fn gw(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.net, 0, 1)
    }

    fn describe(&self) -> String {
        format!(
            "one process `{} --config DIR setup /run/netns/NS` with the network options JSON on \
             stdin (bridge nv{n} 10.{n}.0.0/16, static IP, masquerade, one tcp port_mapping, \
             dns off; firewall: {}), then `teardown`",
            self.bin,
            if self.bin == NETAVARK_DEFAULT {
                "iptables (Debian's 1.4 build)"
            } else {
                "the binary's default driver (nftables for 2.x)"
            },
            n = self.net,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// In the sandbox.

/// Per-contender figures collected over calls.
#[derive(Debug, Default)]
struct Tally {
    add: Vec<f64>,
    del: Vec<f64>,
    /// Per plugin: max RSS KiB, ADD call times, DEL call times (ms).
    plugins: BTreeMap<String, (u64, Vec<f64>, Vec<f64>)>,
}

impl Tally {
    fn calls(&mut self, calls: &[Call]) {
        for c in calls {
            let e = self.plugins.entry(c.plugin.clone()).or_default();
            e.0 = e.0.max(c.maxrss_kib);
            if c.cmd == "ADD" {
                e.1.push(c.ms)
            } else {
                e.2.push(c.ms)
            }
        }
    }

    fn plugins_json(&self) -> Value {
        self.plugins
            .iter()
            .map(|(k, (rss, a, d))| {
                (
                    k.clone(),
                    json!({"peak_rss_kib": rss, "calls": a.len() + d.len(),
                           "add_median_ms": median(a), "del_median_ms": median(d)}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    fn peak_kib(&self) -> u64 {
        self.plugins.values().map(|p| p.0).max().unwrap_or(0)
    }
}

/// Create container `i`'s namespace (untimed), ADD (timed), verify (untimed).
fn add_one(c: &mut dyn Chain, i: usize, host: u16, t: &mut Tally) -> Result<(), String> {
    let ns = c.ns(i);
    warren_kernel::netns::add_named(&ns, warren_kernel::netns::Source::New)
        .map(drop)
        .map_err(|e| format!("netns {ns}: {e}"))?;
    let s = Instant::now();
    let calls = c.add(i, host).map_err(|e| format!("ADD {i}: {e}"))?;
    t.add.push(ms(s.elapsed()));
    t.calls(&calls);
    Ok(())
}

/// DEL (timed) container `i`, then delete its namespace (untimed).
fn del_one(c: &mut dyn Chain, i: usize, t: &mut Tally) -> Result<(), String> {
    let s = Instant::now();
    let calls = c.del(i).map_err(|e| format!("DEL {i}: {e}"))?;
    t.del.push(ms(s.elapsed()));
    t.calls(&calls);
    let ns = c.ns(i);
    warren_kernel::netns::delete_named(&ns).map_err(|e| format!("delete netns {ns}: {e}"))
}

fn verify(c: &dyn Chain, i: usize) -> Result<Ipv4Addr, String> {
    wirers::verify_netns(&c.ns(i), c.gw())
}

/// Part 1: `n` rounds; in each, every contender ADDs, verifies and DELs one container.
fn child_one(args: &[String]) -> Result<Value, String> {
    let n: usize = arg(args, 0).parse().map_err(|_| "bad n")?;
    let names: Vec<&str> = arg(args, 1).split(',').filter(|s| !s.is_empty()).collect();
    let (plugins, nv2) = (arg(args, 2), arg(args, 3));
    containers::host_basics()?;
    let mut out = serde_json::Map::new();
    // Per contender: name, chain, figures, the error that stopped it.
    type Entrant<'a> = (&'a str, Box<dyn Chain>, Tally, Option<String>);
    let mut live: Vec<Entrant> = Vec::new();
    for &name in &names {
        match chain(name, plugins, nv2).and_then(|mut c| c.prepare().map(|()| c)) {
            Ok(c) => live.push((name, c, Tally::default(), None)),
            Err(e) => {
                out.insert(name.into(), json!({"contender": name, "skipped": e}));
            }
        }
    }
    let k = live.len().max(1);
    for round in 0..n {
        for j in 0..live.len() {
            // The order rotates, so none is always first (or always after the same one).
            let (name, c, t, failed) = &mut live[(j + round) % k];
            if failed.is_some() {
                continue;
            }
            let host = HOST_PORT_BASE + round as u16;
            let r = add_one(c.as_mut(), round, host, t)
                .and_then(|()| verify(c.as_ref(), round).map(drop))
                .and_then(|()| del_one(c.as_mut(), round, t));
            if let Err(e) = r {
                eprintln!("[cni] one: {name}: round {round}: {e}");
                *failed = Some(format!("round {round}: {e}"));
            }
        }
    }
    for (name, c, t, failed) in live {
        let sum: Vec<f64> = t.add.iter().zip(&t.del).map(|(a, d)| a + d).collect();
        let mut v = json!({
            "contender": name,
            "n": t.add.len(),
            "add_ms": median(&t.add),
            "del_ms": median(&t.del),
            "add_del_ms": median(&sum),
            "add_runs_ms": t.add,
            "del_runs_ms": t.del,
            "plugins": t.plugins_json(),
            "peak_rss_kib": t.peak_kib(),
            "verified": "after every ADD: eth0 up with an address and a default route via the \
                         gateway in the container's namespace",
            "what": c.describe(),
        });
        if let Some(e) = failed {
            v["error"] = json!(e);
        }
        out.insert(name.into(), v);
    }
    let _ = wirers::kill_leftovers();
    Ok(json!({ "contenders": out, "order": names }))
}

/// Part 2: `n` containers ADDed in sequence, then all DELeted, one contender.
fn child_seq(args: &[String]) -> Result<Value, String> {
    let name = arg(args, 0);
    let n: usize = arg(args, 1).parse().map_err(|_| "bad n")?;
    containers::host_basics()?;
    let mut c = match chain(name, arg(args, 2), arg(args, 3)) {
        Ok(c) => c,
        Err(e) => return Ok(json!({"contender": name, "skipped": e})),
    };
    c.prepare()?;
    let mut t = Tally::default();
    for i in 0..n {
        if let Err(e) = add_one(c.as_mut(), i, HOST_PORT_BASE + i as u16, &mut t) {
            return Ok(json!({"contender": name, "error": e, "plugins": t.plugins_json()}));
        }
    }
    for i in [0, n / 2, n - 1] {
        if let Err(e) = verify(c.as_ref(), i) {
            return Ok(json!({"contender": name, "error": format!("verify {i}: {e}")}));
        }
    }
    for i in 0..n {
        if let Err(e) = del_one(c.as_mut(), i, &mut t) {
            return Ok(json!({"contender": name, "error": e, "plugins": t.plugins_json()}));
        }
    }
    let _ = wirers::kill_leftovers();
    let (a10, z10) = (median(&t.add[..10]), median(&t.add[n - 10..]));
    Ok(json!({
        "contender": name,
        "n": n,
        "add_first10_ms": a10,
        "add_last10_ms": z10,
        "add_growth": a10.zip(z10).map(|(a, z)| z / a),
        "add_median_ms": median(&t.add),
        "del_first10_ms": median(&t.del[..10]),
        "del_last10_ms": median(&t.del[n - 10..]),
        "del_median_ms": median(&t.del),
        "add_runs_ms": t.add,
        "del_runs_ms": t.del,
        "plugins": t.plugins_json(),
        "peak_rss_kib": t.peak_kib(),
        "verified": "containers 0, n/2 and n-1 after all ADDs: eth0 up with an address and a \
                     default route",
        "what": c.describe(),
    }))
}
