//! `labs`: a lab's topology up and down — one switch with N hosts, and a chain of K switches
//! with one host each (Mininet's `LinearTopo(k=K, n=1)`) — with `warren lab up/down`, Mininet
//! 2.3 (Linux bridge switches, no controller), a shell script of one `ip` per step and
//! `ip -batch`. Every contender runs in its own sandbox; the harness verifies the kernel state
//! it left (every host's interface up with its address, every switch's bridge up with its ports
//! up, a UDP exchange between the first and the last host) before timing the teardown.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use serde_json::{Value, json};

use crate::nl::{self, Nl};

/// The contenders, in the order they run.
pub const CONTENDERS: &[&str] = &["warren", "mininet", "ip-batch", "ip-script"];

/// The lab's name (its namespaces are `bench-NODE`, as warren names them).
pub const LAB: &str = "bench";

/// Prefix length of every host's address (Mininet's default: 10.0.0.0/8).
pub const PREFIX: u8 = 8;

/// Usage of `warren-bench labs`.
pub const USAGE: &str = "usage: warren-bench labs [--n 10,100,200,1000] [--linear K (100; 0: none)] \
[--contenders warren,mininet,ip-batch,ip-script] [--repeat R] [--ip-script-max N (200)] \
[--warren PATH] [--mininet-script PATH] [--out FILE]";

/// A topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topo {
    /// One switch `s1` with hosts `h1..hN`.
    Single(usize),
    /// Switches `s1..sK` in a chain, host `hI` on switch `sI`.
    Linear(usize),
}

/// A node of a topology: a host or a switch, numbered from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeId {
    /// Host `hI`.
    Host(usize),
    /// Switch `sJ`.
    Switch(usize),
}

impl NodeId {
    /// Its name: `h3`, `s1`.
    pub fn name(self) -> String {
        match self {
            NodeId::Host(i) => format!("h{i}"),
            NodeId::Switch(j) => format!("s{j}"),
        }
    }
}

impl Topo {
    /// Parse `single:N` or `linear:K`.
    pub fn parse(s: &str) -> Result<Topo, String> {
        let (kind, n) = s.split_once(':').ok_or(format!("bad topology {s}"))?;
        let n: usize = n.parse().map_err(|_| format!("bad topology {s}"))?;
        match kind {
            "single" => Ok(Topo::Single(n)),
            "linear" => Ok(Topo::Linear(n)),
            _ => Err(format!("bad topology {s}")),
        }
    }

    /// `single:N` or `linear:K` (the inverse of [`Topo::parse`]).
    pub fn arg(self) -> String {
        match self {
            Topo::Single(n) => format!("single:{n}"),
            Topo::Linear(k) => format!("linear:{k}"),
        }
    }

    /// For the table: `1 switch, 1000 hosts`.
    pub fn label(self) -> String {
        match self {
            Topo::Single(n) => format!("1 switch, {n} hosts"),
            Topo::Linear(k) => format!("linear {k} switches"),
        }
    }

    /// Number of hosts.
    pub fn hosts(self) -> usize {
        match self {
            Topo::Single(n) | Topo::Linear(n) => n,
        }
    }

    /// Number of switches.
    pub fn switches(self) -> usize {
        match self {
            Topo::Single(_) => 1,
            Topo::Linear(k) => k,
        }
    }

    /// The links, in Mininet's order: each host to its switch, then the switch chain.
    pub fn links(self) -> Vec<(NodeId, NodeId)> {
        match self {
            Topo::Single(n) => (1..=n)
                .map(|i| (NodeId::Host(i), NodeId::Switch(1)))
                .collect(),
            Topo::Linear(k) => (1..=k)
                .map(|i| (NodeId::Host(i), NodeId::Switch(i)))
                .chain((1..k).map(|j| (NodeId::Switch(j), NodeId::Switch(j + 1))))
                .collect(),
        }
    }

    /// Ports of switch `j`.
    pub fn ports(self, j: usize) -> usize {
        self.links()
            .iter()
            .filter(|(a, b)| *a == NodeId::Switch(j) || *b == NodeId::Switch(j))
            .count()
    }

    /// Address of host `i` (1-based) as Mininet assigns it: 10.0.0.0/8 + i.
    pub fn addr(i: usize) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i as u32)
    }

    /// The topology file for `warren lab up` (docs/lab.md): switches `kind: switch`, hosts with
    /// `eth0` addressed as Mininet would (explicit, inside `pools.lan` 10.0.0.0/8; the p2p and
    /// loopback pools, unused, moved out of its way) and no gateway; `hosts: false`, since no
    /// other contender writes an `/etc/hosts` per node.
    pub fn lab_yaml(self) -> String {
        let mut y = format!(
            "name: {LAB}\npools:\n  lan: 10.0.0.0/8\n  lan_prefix: {PREFIX}\n  \
             p2p: 172.31.0.0/16\n  loopback: 172.30.0.0/16\ndefaults:\n  hosts: false\nnodes:\n"
        );
        for j in 1..=self.switches() {
            let _ = writeln!(y, "  s{j}: {{ kind: switch }}");
        }
        for i in 1..=self.hosts() {
            let _ = writeln!(
                y,
                "  h{i}: {{ gateway: none, interfaces: {{ eth0: {{ addresses: [{}/{PREFIX}] }} }} }}",
                Topo::addr(i)
            );
        }
        y.push_str("links:\n");
        for (a, b) in self.links() {
            match (a, b) {
                (NodeId::Host(i), s) => {
                    let _ = writeln!(y, "  - [h{i}:eth0, {}]", s.name());
                }
                (a, b) => {
                    let _ = writeln!(y, "  - [{}, {}]", a.name(), b.name());
                }
            }
        }
        y
    }
}

/// Options of `warren-bench labs`.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Host counts of the single-switch topologies.
    pub ns: Vec<usize>,
    /// Switches of the linear topology (0: none).
    pub linear: usize,
    /// Contenders asked for (all if `None`).
    pub contenders: Option<Vec<String>>,
    /// Interleaved rounds.
    pub repeat: usize,
    /// The ip script runs only on topologies of at most this many hosts.
    pub ip_script_max: usize,
    /// The `warren` binary.
    pub warren: String,
    /// `bench/lib/labs-mininet.py`.
    pub mininet_script: String,
    /// Where to write the JSON.
    pub out: Option<String>,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        ns: vec![10, 100, 200, 1000],
        linear: 100,
        contenders: None,
        repeat: 1,
        ip_script_max: 200,
        warren: "warren".into(),
        mininet_script: "bench/lib/labs-mininet.py".into(),
        out: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || crate::option_value(&mut it, a, USAGE);
        let num = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| format!("{a}: not a number: {v}"))
        };
        match a.as_str() {
            "--n" => {
                o.ns = val()?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(num)
                    .collect::<Result<_, _>>()?;
            }
            "--linear" => o.linear = num(&val()?)?,
            "--repeat" => o.repeat = num(&val()?)?.max(1),
            "--ip-script-max" => o.ip_script_max = num(&val()?)?,
            "--warren" => o.warren = val()?,
            "--mininet-script" => o.mininet_script = val()?,
            "--out" => o.out = Some(val()?),
            "--contenders" => {
                let c: Vec<String> = val()?.split(',').map(str::to_owned).collect();
                if let Some(bad) = c.iter().find(|c| !CONTENDERS.contains(&c.as_str())) {
                    return Err(format!("unknown contender {bad}\n{USAGE}"));
                }
                o.contenders = Some(c);
            }
            _ => return Err(format!("unknown option {a}\n{USAGE}")),
        }
    }
    if let Some(&n) = o.ns.iter().find(|&&n| n == 0 || n > 1023) {
        return Err(format!(
            "--n {n}: one switch takes 1..=1023 hosts (a Linux bridge's port limit)"
        ));
    }
    if o.linear == 1 || o.linear > 1000 {
        return Err(format!("--linear {}: 2..=1000 switches, or 0", o.linear));
    }
    Ok(o)
}

/// The topologies of a run, in order.
pub fn topologies(o: &Opts) -> Vec<Topo> {
    let mut t: Vec<Topo> = o.ns.iter().map(|&n| Topo::Single(n)).collect();
    if o.linear > 0 {
        t.push(Topo::Linear(o.linear));
    }
    t
}

/// `warren-bench labs ...`: run every contender on every topology, print the table, write the
/// JSON.
pub fn main(args: &[String]) -> Result<(), String> {
    let o = parse_opts(args)?;
    let started = Instant::now();
    let load_at_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let contenders: Vec<&str> = CONTENDERS
        .iter()
        .copied()
        .filter(|c| {
            o.contenders
                .as_ref()
                .is_none_or(|w| w.iter().any(|x| x == c))
        })
        .collect();
    let topos = topologies(&o);
    // A warren without `lab` (or no warren at all) is reported as not measured, not as failed.
    let no_lab = contenders
        .contains(&"warren")
        .then(|| warren_lacks_lab(&o.warren))
        .flatten();
    // results[t][c] = the runs of contender c on topology t.
    let mut results: Vec<Vec<Vec<Value>>> = vec![vec![Vec::new(); contenders.len()]; topos.len()];
    for round in 1..=o.repeat {
        for (ti, topo) in topos.iter().enumerate() {
            for (ci, name) in contenders.iter().enumerate() {
                if let (true, Some(why)) = (*name == "warren", &no_lab) {
                    if round == 1 {
                        results[ti][ci].push(json!({
                            "contender": name, "topology": topo.arg(),
                            "skipped": format!("not measured: {why}"),
                        }));
                    }
                    continue;
                }
                if *name == "ip-script" && topo.hosts() > o.ip_script_max {
                    if round == 1 {
                        results[ti][ci].push(json!({
                            "contender": name, "topology": topo.arg(),
                            "skipped": format!("not measured: {} hosts is above --ip-script-max {}",
                                topo.hosts(), o.ip_script_max),
                        }));
                    }
                    continue;
                }
                eprintln!(
                    "[labs] round {round}/{}: {}: {name}: up, verify, down ...",
                    o.repeat,
                    topo.label()
                );
                let args = vec![
                    "labs".into(),
                    (*name).into(),
                    topo.arg(),
                    o.warren.clone(),
                    o.mininet_script.clone(),
                ];
                let baseline = crate::sandbox::netns_slab_active();
                let r = crate::sandbox::run_child(&args).unwrap_or_else(
                    |e| json!({"contender": name, "topology": topo.arg(), "error": e}),
                );
                let waited = crate::sandbox::wait_netns_freed(baseline, Duration::from_secs(60));
                match r.get("error").and_then(Value::as_str) {
                    Some(e) => eprintln!("[labs] {name}: FAILED: {e}"),
                    None => eprintln!(
                        "[labs] {name}: up {:.3} s, down {:.3} s ({:.1} s waiting for the kernel to free namespaces)",
                        r["up_s"].as_f64().unwrap_or(f64::NAN),
                        r["down_s"].as_f64().unwrap_or(f64::NAN),
                        waited.as_secs_f64()
                    ),
                }
                results[ti][ci].push(r);
            }
        }
    }
    let mut doc = crate::labs_report::document(&o, &topos, &contenders, results, started.elapsed());
    // machine() reads the load when the document is made, at the end: the start's goes in here.
    doc["machine"]["base"]["loadavg_at_start"] = json!(
        load_at_start
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("{}", crate::labs_report::table(&doc));
    if let Some(out) = &o.out {
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(out, text + "\n").map_err(|e| format!("writing {out}: {e}"))?;
        println!("results written to {out}");
    }
    Ok(())
}

/// Why `warren lab up` cannot be measured with this binary, if it cannot.
fn warren_lacks_lab(warren: &str) -> Option<String> {
    match Command::new(warren)
        .args(["lab", "up", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => None,
        Ok(_) => Some(format!("{warren} has no `lab up` command")),
        Err(e) => Some(format!("{warren}: {e}")),
    }
}

// ---------------------------------------------------------------------------------------------
// In the sandbox

/// Where a host's interface is, for the verifier.
#[derive(Debug, Clone)]
struct HostView {
    /// A file of its network namespace (`/run/netns/NAME` or `/proc/PID/ns/net`).
    ns: PathBuf,
    /// Its interface.
    ifname: String,
    /// Its address.
    addr: Ipv4Addr,
}

/// Where a switch's bridge is.
#[derive(Debug, Clone)]
struct SwitchView {
    /// Its namespace (`None`: the sandbox's own, as Mininet's switches).
    ns: Option<PathBuf>,
    /// The bridge.
    bridge: String,
    /// Ports expected.
    ports: usize,
}

/// The layout of the named-namespace contenders (warren's): `bench-hI` with `eth0`,
/// `bench-sJ` with bridge `br0`.
fn named_views(topo: Topo) -> (Vec<HostView>, Vec<SwitchView>) {
    let hosts = (1..=topo.hosts())
        .map(|i| HostView {
            ns: PathBuf::from(format!("/run/netns/{LAB}-h{i}")),
            ifname: "eth0".into(),
            addr: Topo::addr(i),
        })
        .collect();
    let switches = (1..=topo.switches())
        .map(|j| SwitchView {
            ns: Some(PathBuf::from(format!("/run/netns/{LAB}-s{j}"))),
            bridge: "br0".into(),
            ports: topo.ports(j),
        })
        .collect();
    (hosts, switches)
}

const WORK: &str = "/run/warren-bench";

fn io_err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn write(path: &str, text: &str) -> Result<(), String> {
    std::fs::create_dir_all(WORK).map_err(io_err(WORK))?;
    std::fs::write(path, text).map_err(io_err(path))
}

/// Run a program, wait, fail with its stderr's tail if it fails; returns its wall time.
fn run_timed(cmd: &mut Command) -> Result<Duration, String> {
    let t = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let took = t.elapsed();
    if out.status.success() {
        Ok(took)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ))
    }
}

/// The ip script: one `ip` process per step (`sh -e`), and its teardown.
fn ip_script(topo: Topo) -> (String, String, usize) {
    let mut up = String::new();
    let mut calls = 0;
    let mut line = |up: &mut String, s: String| {
        up.push_str(&s);
        up.push('\n');
        calls += 1;
    };
    for j in 1..=topo.switches() {
        line(&mut up, format!("ip netns add {LAB}-s{j}"));
        line(
            &mut up,
            format!("ip -n {LAB}-s{j} link add br0 up type bridge"),
        );
    }
    for i in 1..=topo.hosts() {
        line(&mut up, format!("ip netns add {LAB}-h{i}"));
    }
    for (a, b) in topo.links() {
        let (an, bn) = (a.name(), b.name());
        // The switch's end is named after the far node; a host's end is eth0.
        let a_if = match a {
            NodeId::Host(_) => "eth0".to_owned(),
            NodeId::Switch(_) => bn.clone(),
        };
        line(
            &mut up,
            format!(
                "ip link add {a_if} netns {LAB}-{an} type veth peer name {an} netns {LAB}-{bn}"
            ),
        );
        line(
            &mut up,
            format!("ip -n {LAB}-{bn} link set {an} master br0 up"),
        );
        match a {
            NodeId::Host(i) => {
                line(&mut up, format!("ip -n {LAB}-{an} link set lo up"));
                line(
                    &mut up,
                    format!(
                        "ip -n {LAB}-{an} addr add {}/{PREFIX} dev eth0",
                        Topo::addr(i)
                    ),
                );
                line(&mut up, format!("ip -n {LAB}-{an} link set eth0 up"));
            }
            NodeId::Switch(_) => {
                line(
                    &mut up,
                    format!("ip -n {LAB}-{an} link set {bn} master br0 up"),
                );
            }
        }
    }
    let mut down = String::new();
    for j in 1..=topo.switches() {
        let _ = writeln!(down, "ip netns delete {LAB}-s{j}");
    }
    for i in 1..=topo.hosts() {
        let _ = writeln!(down, "ip netns delete {LAB}-h{i}");
    }
    (up, down, calls)
}

/// `ip -batch`: one batch in the sandbox for the namespaces, the bridges (created up inside
/// their switch's namespace) and every veth (both ends created in their namespaces, the
/// switch's end up); then one `ip -n NS -batch` per switch (ports to `br0`) and per host
/// (`lo` up, address, `eth0` up), since a batch line cannot carry `-n` and a veth's peer cannot
/// be created up. Writes the files; returns the number of ip processes of `up`.
fn ip_batch(topo: Topo) -> Result<usize, String> {
    let mut host = String::new();
    for j in 1..=topo.switches() {
        let _ = writeln!(host, "netns add {LAB}-s{j}");
    }
    for i in 1..=topo.hosts() {
        let _ = writeln!(host, "netns add {LAB}-h{i}");
    }
    for j in 1..=topo.switches() {
        let _ = writeln!(host, "link add br0 netns {LAB}-s{j} up type bridge");
    }
    let mut per_switch: Vec<String> = vec![String::new(); topo.switches() + 1];
    for (a, b) in topo.links() {
        let (an, bn) = (a.name(), b.name());
        let NodeId::Switch(bj) = b else {
            continue;
        };
        // The switch end (named after the far node) is the created device, up; the far end is
        // the peer.
        let a_if = match a {
            NodeId::Host(_) => "eth0".to_owned(),
            NodeId::Switch(_) => bn.clone(),
        };
        let _ = writeln!(
            host,
            "link add {an} netns {LAB}-{bn} up type veth peer name {a_if} netns {LAB}-{an}"
        );
        let _ = writeln!(per_switch[bj], "link set {an} master br0");
        if let NodeId::Switch(aj) = a {
            let _ = writeln!(per_switch[aj], "link set {bn} master br0 up");
        }
    }
    write(&format!("{WORK}/host.batch"), &host)?;
    let mut script = String::new();
    let mut procs = 1;
    for (j, text) in per_switch.iter().enumerate().skip(1) {
        let f = format!("{WORK}/s{j}.batch");
        write(&f, text)?;
        let _ = writeln!(script, "ip -n {LAB}-s{j} -batch {f}");
        procs += 1;
    }
    for i in 1..=topo.hosts() {
        let f = format!("{WORK}/h{i}.batch");
        write(
            &f,
            &format!(
                "link set lo up\naddr add {}/{PREFIX} dev eth0\nlink set eth0 up\n",
                Topo::addr(i)
            ),
        )?;
        let _ = writeln!(script, "ip -n {LAB}-h{i} -batch {f}");
        procs += 1;
    }
    write(&format!("{WORK}/inside.sh"), &script)?;
    let mut down = String::new();
    for j in 1..=topo.switches() {
        let _ = writeln!(down, "netns delete {LAB}-s{j}");
    }
    for i in 1..=topo.hosts() {
        let _ = writeln!(down, "netns delete {LAB}-h{i}");
    }
    write(&format!("{WORK}/down.batch"), &down)?;
    Ok(procs)
}

/// Mininet's script, running: its stdin (a line stops the network) and stdout.
struct Mininet {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Mininet {
    fn line(&mut self) -> Result<Value, String> {
        let mut l = String::new();
        loop {
            l.clear();
            let n = self
                .stdout
                .read_line(&mut l)
                .map_err(io_err("reading Mininet's output"))?;
            if n == 0 {
                return Err("the Mininet script exited without a result".into());
            }
            if l.starts_with('{') {
                return serde_json::from_str(&l).map_err(|e| format!("Mininet's output: {e}"));
            }
        }
    }
}

/// The number of processes descending from this one and the sum of their proportional set
/// sizes (`Pss` of `/proc/PID/smaps_rollup`: shared pages are divided among their users, so
/// a thousand shells are not counted as a thousand copies of bash): what a contender keeps
/// resident while its lab is up (Mininet's Python and one shell per node; nothing for the
/// others).
fn descendants_pss_kib() -> (usize, u64) {
    let me = std::process::id();
    let mut parent: Vec<(u32, u32)> = Vec::new();
    if let Ok(d) = std::fs::read_dir("/proc") {
        for e in d.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent.push((pid, ppid));
            }
        }
    }
    let mut set = vec![me];
    let mut grew = true;
    while grew {
        grew = false;
        for &(pid, ppid) in &parent {
            if set.contains(&ppid) && !set.contains(&pid) {
                set.push(pid);
                grew = true;
            }
        }
    }
    let mut total = 0;
    for &pid in &set[1..] {
        let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        total += s
            .lines()
            .find(|l| l.starts_with("Pss:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    (set.len() - 1, total)
}

/// `warren-bench child labs CONTENDER TOPO WARREN MININET_SCRIPT` (in the sandbox).
pub fn child(cmd: &str, args: &[String]) -> Option<Result<Value, String>> {
    (cmd == "labs").then(|| child_labs(args))
}

fn child_labs(args: &[String]) -> Result<Value, String> {
    let get = |i: usize| {
        args.get(i)
            .map(String::as_str)
            .ok_or("missing child argument")
    };
    let name = get(0)?;
    let topo = Topo::parse(get(1)?)?;
    let warren = get(2)?;
    let mn_script = get(3)?;
    // The sandbox's namespace plays the machine: lo up, as on a host.
    let _ = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status();
    let fail = |stage: &str, e: String| {
        json!({"contender": name, "topology": topo.arg(), "error": format!("{stage}: {e}"),
               "children_peak_rss_kib": crate::rss::children_peak_kib()})
    };
    let state = format!("{WORK}/state");
    std::fs::create_dir_all(&state).map_err(io_err("state dir"))?;
    let lab_file = format!("{WORK}/{LAB}.yaml");
    let mut extra = serde_json::Map::new();
    let mut mininet: Option<Mininet> = None;
    let what: String;
    // Untimed preparation, then `up`, timed as the user sees it.
    let up = match name {
        "warren" => {
            write(&lab_file, &topo.lab_yaml())?;
            what = format!(
                "`warren lab up {LAB}.yaml` (a generated topology file, docs/lab.md) / `warren lab \
                 down {LAB}`: whole processes, wall time; WARREN_STATE_DIR in the sandbox"
            );
            run_timed(
                Command::new(warren)
                    .args(["lab", "up", &lab_file])
                    .env("WARREN_STATE_DIR", &state),
            )
        }
        "ip-script" => {
            let (up, down, calls) = ip_script(topo);
            write(&format!("{WORK}/up.sh"), &up)?;
            write(&format!("{WORK}/down.sh"), &down)?;
            what = format!(
                "sh -e of one ip call per step ({calls} ip processes): per switch `ip netns add`, \
                 `ip -n S link add br0 up type bridge`; per host `ip netns add`; per link `ip link \
                 add IF netns A type veth peer name P netns B` (both ends made in their \
                 namespaces), `ip -n S link set P master br0 up`, and for a host `ip -n H link set \
                 lo up`, `ip -n H addr add A/8 dev eth0`, `ip -n H link set eth0 up` (for a \
                 switch-switch link, the other port to its br0); teardown: `ip netns delete` per \
                 namespace ({} processes)",
                topo.hosts() + topo.switches()
            );
            run_timed(Command::new("sh").args(["-e", &format!("{WORK}/up.sh")]))
        }
        "ip-batch" => {
            let procs = ip_batch(topo)?;
            what = format!(
                "one `ip -batch` in the sandbox: every `netns add`, `link add br0 netns S up type \
                 bridge` per switch, per link `link add P netns S up type veth peer name IF netns \
                 H` (both ends made in their namespaces, the switch's end up); then, run by one \
                 sh, one `ip -n S -batch` per switch (`link set P master br0`) and one `ip -n H \
                 -batch` per host (`link set lo up`, `addr add A/8 dev eth0`, `link set eth0 \
                 up`): {procs} ip processes in all (a batch line cannot carry -n, and a veth's \
                 peer cannot be created up); teardown: one `ip -batch` of every `netns delete`"
            );
            let t = Instant::now();
            run_timed(Command::new("ip").args(["-batch", &format!("{WORK}/host.batch")])).and_then(
                |d1| {
                    let d2 =
                        run_timed(Command::new("sh").args(["-e", &format!("{WORK}/inside.sh")]))?;
                    extra.insert(
                        "phases_s".into(),
                        json!([
                            ["host ip -batch", d1.as_secs_f64()],
                            ["ip -n NS -batch per namespace", d2.as_secs_f64()]
                        ]),
                    );
                    Ok(t.elapsed())
                },
            )
        }
        "mininet" => {
            what = format!(
                "Mininet 2.3's Python API (bench/lib/labs-mininet.py): {} with \
                 switch=mininet.nodelib.LinuxBridge (STP off), controller=None; up = \
                 net.build() + net.start() timed inside Python (interpreter start and `import \
                 mininet` excluded: `up_wall_s` includes them), down = net.stop(); hosts get \
                 10.0.0.I/8 as Mininet assigns; Mininet keeps a bash per node, its switches are \
                 bridges in the sandbox's own namespace (warren's and the ip contenders' are \
                 bridges in a namespace per switch)",
                match topo {
                    Topo::Single(n) => format!("SingleSwitchTopo(k={n})"),
                    Topo::Linear(k) => format!("LinearTopo(k={k}, n=1)"),
                }
            );
            let (kind, n) = match topo {
                Topo::Single(n) => ("single", n),
                Topo::Linear(k) => ("linear", k),
            };
            let t = Instant::now();
            let mut child = Command::new("/usr/bin/python3")
                .arg(mn_script)
                .args([kind, &n.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(io_err("python3"))?;
            let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
            let stdin = child.stdin.take();
            let mut m = Mininet {
                child,
                stdin,
                stdout,
            };
            let r = m.line();
            let wall = t.elapsed();
            mininet = Some(m);
            r.and_then(|v| {
                extra.insert("up_wall_s".into(), json!(wall.as_secs_f64()));
                extra.insert("import_s".into(), v["import_s"].clone());
                let up = v["up_s"].as_f64().ok_or("Mininet printed no up_s")?;
                extra.insert("mininet_up".into(), v);
                Ok(Duration::from_secs_f64(up))
            })
        }
        other => return Err(format!("unknown labs contender {other}")),
    };
    let up = match up {
        Ok(d) => d,
        Err(e) => return Ok(fail("up", e)),
    };
    let up_peak = crate::rss::children_peak_kib();
    let (procs_up, held_kib) = descendants_pss_kib();
    // What the verifier looks at.
    let (hosts, switches) = match (&mininet, extra.get("mininet_up")) {
        (Some(_), Some(v)) => {
            let hosts = v["hosts"]
                .as_array()
                .ok_or("Mininet listed no hosts")?
                .iter()
                .enumerate()
                .map(|(k, h)| {
                    Ok(HostView {
                        ns: PathBuf::from(format!("/proc/{}/ns/net", h[1].as_u64().ok_or("pid")?)),
                        ifname: h[2].as_str().ok_or("intf")?.to_owned(),
                        addr: h[3]
                            .as_str()
                            .and_then(|a| a.parse().ok())
                            .unwrap_or(Topo::addr(k + 1)),
                    })
                })
                .collect::<Result<Vec<_>, &str>>()?;
            let switches = (1..=topo.switches())
                .map(|j| SwitchView {
                    ns: None,
                    bridge: format!("s{j}"),
                    ports: topo.ports(j),
                })
                .collect();
            (hosts, switches)
        }
        _ => named_views(topo),
    };
    let verified = verify(topo, &hosts, &switches);
    // Teardown (always, so the sandbox ends clean), timed.
    let down = match name {
        "warren" => run_timed(
            Command::new(warren)
                .args(["lab", "down", LAB])
                .env("WARREN_STATE_DIR", &state),
        ),
        "ip-script" => run_timed(Command::new("sh").args(["-e", &format!("{WORK}/down.sh")])),
        "ip-batch" => run_timed(Command::new("ip").args(["-batch", &format!("{WORK}/down.batch")])),
        _ => {
            let mut m = mininet.take().ok_or("Mininet is not running")?;
            let t = Instant::now();
            drop(m.stdin.take().map(|mut s| s.write_all(b"stop\n")));
            let r = m.line();
            let _ = m.child.wait();
            let wall = t.elapsed();
            r.and_then(|v| {
                extra.insert("down_wall_s".into(), json!(wall.as_secs_f64()));
                let d = v["down_s"].as_f64().ok_or("Mininet printed no down_s")?;
                Ok(Duration::from_secs_f64(d))
            })
        }
    };
    let verified = match verified {
        Ok(v) => v,
        Err(e) => return Ok(fail("verify", e)),
    };
    let down = match down {
        Ok(d) => d,
        Err(e) => return Ok(fail("down", e)),
    };
    // Nothing may be left: no named namespace, no link but lo in the sandbox.
    let left = crate::nscli::live_named_namespaces()?;
    if !left.is_empty() {
        return Ok(fail(
            "after down",
            format!("{} namespaces left under /run/netns", left.len()),
        ));
    }
    let links = crate::wiring::link_count()?;
    if links != 1 {
        return Ok(fail(
            "after down",
            format!("{links} links left in the sandbox, expected only lo"),
        ));
    }
    extra.remove("mininet_up");
    let mut out = json!({
        "contender": name,
        "topology": topo.arg(),
        "hosts": topo.hosts(),
        "switches": topo.switches(),
        "up_s": up.as_secs_f64(),
        "down_s": down.as_secs_f64(),
        "up_peak_rss_kib": up_peak,
        "children_peak_rss_kib": crate::rss::children_peak_kib(),
        "held_processes": procs_up,
        "held_pss_kib": held_kib,
        "verified": verified,
        "what": what,
    });
    if let Some(o) = out.as_object_mut() {
        o.extend(extra);
    }
    Ok(out)
}

/// Make a socket bound to `addr` inside the namespace of `ns` (from a thread that enters it;
/// the socket stays in that namespace).
fn udp_in(ns: &Path, addr: SocketAddrV4) -> Result<UdpSocket, String> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<UdpSocket, String> {
            let f = File::open(ns).map_err(|e| format!("open {}: {e}", ns.display()))?;
            nix::sched::setns(&f, CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("setns {}: {e}", ns.display()))?;
            UdpSocket::bind(addr).map_err(|e| format!("bind {addr} in {}: {e}", ns.display()))
        })
        .join()
        .unwrap_or_else(|_| Err("socket thread panicked".into()))
    })
}

/// One UDP request and reply between two hosts, through the switches (a few tries: the first
/// datagram waits for ARP).
fn udp_exchange(a: &HostView, b: &HostView) -> Result<Duration, String> {
    let sa = udp_in(&a.ns, SocketAddrV4::new(a.addr, 0))?;
    let sb = udp_in(&b.ns, SocketAddrV4::new(b.addr, 7))?;
    for s in [&sa, &sb] {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .map_err(io_err("timeout"))?;
    }
    let t = Instant::now();
    let mut buf = [0u8; 64];
    for _ in 0..10 {
        sa.send_to(b"warren-bench ping", SocketAddrV4::new(b.addr, 7))
            .map_err(io_err("send"))?;
        let Ok((n, from)) = sb.recv_from(&mut buf) else {
            continue;
        };
        if &buf[..n] != b"warren-bench ping" {
            continue;
        }
        sb.send_to(b"warren-bench pong", from)
            .map_err(io_err("reply"))?;
        if let Ok((n, _)) = sa.recv_from(&mut buf)
            && &buf[..n] == b"warren-bench pong"
        {
            return Ok(t.elapsed());
        }
    }
    Err(format!(
        "no UDP exchange between {} and {} within 5 s",
        a.addr, b.addr
    ))
}

/// Check the kernel state a contender left, independently of it (hand-built netlink dumps):
/// every host's interface up with its address, every switch's bridge up with all its ports up,
/// and a UDP request/reply between the first and the last host.
fn verify(topo: Topo, hosts: &[HostView], switches: &[SwitchView]) -> Result<String, String> {
    if hosts.len() != topo.hosts() {
        return Err(format!("{} hosts, expected {}", hosts.len(), topo.hosts()));
    }
    let (ports, lo_up) = std::thread::scope(|s| {
        s.spawn(|| -> Result<(usize, usize), String> {
            let root = File::open("/proc/thread-self/ns/net").map_err(io_err("own netns"))?;
            let mut lo_up = 0;
            for h in hosts {
                let f = File::open(&h.ns).map_err(|e| format!("open {}: {e}", h.ns.display()))?;
                nix::sched::setns(&f, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("setns {}: {e}", h.ns.display()))?;
                let mut s = Nl::open().map_err(io_err("netlink socket"))?;
                let links: Vec<nl::LinkInfo> = s
                    .collect(nl::dump(nl::RTM_GETLINK))
                    .map_err(io_err("dump links"))?
                    .iter()
                    .filter_map(|b| nl::parse_link(b))
                    .collect();
                let l = links.iter().find(|l| l.name == h.ifname).ok_or(format!(
                    "{}: no {}",
                    h.ns.display(),
                    h.ifname
                ))?;
                if !l.up {
                    return Err(format!("{}: {} is down", h.ns.display(), h.ifname));
                }
                lo_up += usize::from(links.iter().any(|l| l.name == "lo" && l.up));
                let want = (l.index, h.addr, PREFIX);
                let has = s
                    .collect(nl::dump(nl::RTM_GETADDR))
                    .map_err(io_err("dump addresses"))?
                    .iter()
                    .filter_map(|b| nl::parse_addr(b))
                    .any(|a| a == want);
                if !has {
                    return Err(format!(
                        "{}: {} lacks {}/{PREFIX}",
                        h.ns.display(),
                        h.ifname,
                        h.addr
                    ));
                }
            }
            let mut ports = 0;
            for sw in switches {
                let f = match &sw.ns {
                    Some(p) => File::open(p).map_err(|e| format!("open {}: {e}", p.display()))?,
                    None => root.try_clone().map_err(io_err("dup"))?,
                };
                nix::sched::setns(&f, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("setns: {e}"))?;
                let mut s = Nl::open().map_err(io_err("netlink socket"))?;
                let links: Vec<nl::LinkInfo> = s
                    .collect(nl::dump(nl::RTM_GETLINK))
                    .map_err(io_err("dump links"))?
                    .iter()
                    .filter_map(|b| nl::parse_link(b))
                    .collect();
                let br = links
                    .iter()
                    .find(|l| l.name == sw.bridge)
                    .ok_or(format!("bridge {} missing", sw.bridge))?;
                if !br.up {
                    return Err(format!("bridge {} is down", sw.bridge));
                }
                let n = links
                    .iter()
                    .filter(|l| l.master == Some(br.index) && l.up)
                    .count();
                if n != sw.ports {
                    return Err(format!(
                        "bridge {} has {n} ports up, expected {}",
                        sw.bridge, sw.ports
                    ));
                }
                ports += n;
            }
            Ok((ports, lo_up))
        })
        .join()
        .unwrap_or_else(|_| Err("verifier panicked".into()))
    })?;
    let (first, last) = (&hosts[0], &hosts[hosts.len() - 1]);
    let rtt = udp_exchange(first, last)?;
    Ok(format!(
        "{} hosts: interface up with its address/{PREFIX} (lo up in {lo_up}); {} switch bridges \
         up with {ports} ports up in all; UDP request/reply {} -> {} in {:.1} ms",
        hosts.len(),
        switches.len(),
        first.addr,
        last.addr,
        rtt.as_secs_f64() * 1e3
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topologies_count_links_and_ports() {
        let t = Topo::Single(3);
        assert_eq!(t.links().len(), 3);
        assert_eq!(t.ports(1), 3);
        let l = Topo::Linear(4);
        assert_eq!(l.links().len(), 4 + 3);
        assert_eq!(
            (1..=4).map(|j| l.ports(j)).collect::<Vec<_>>(),
            [2, 3, 3, 2]
        );
        assert_eq!(Topo::parse(&l.arg()), Ok(l));
        assert!(Topo::parse("ring:3").is_err());
    }

    #[test]
    fn addresses_follow_mininet() {
        assert_eq!(Topo::addr(1), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(Topo::addr(256), Ipv4Addr::new(10, 0, 1, 0));
        assert_eq!(Topo::addr(1000), Ipv4Addr::new(10, 0, 3, 232));
    }

    #[test]
    fn lab_file_names_every_node_and_link() {
        let y = Topo::Linear(2).lab_yaml();
        assert!(y.starts_with("name: bench\n"));
        assert!(y.contains("  s2: { kind: switch }\n"));
        assert!(y.contains("addresses: [10.0.0.2/8]"));
        assert!(y.contains("  - [h1:eth0, s1]\n"));
        assert!(y.contains("  - [s1, s2]\n"));
    }

    #[test]
    fn ip_script_makes_both_ports_of_a_switch_link() {
        let (up, down, calls) = ip_script(Topo::Linear(2));
        assert_eq!(calls, up.lines().count());
        assert!(up.contains("ip link add s2 netns bench-s1 type veth peer name s1 netns bench-s2"));
        assert!(up.contains("ip -n bench-s2 link set s1 master br0 up"));
        assert!(up.contains("ip -n bench-s1 link set s2 master br0 up"));
        assert_eq!(down.lines().count(), 4);
    }

    #[test]
    fn options() {
        let a = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let o = parse_opts(&a("--n 10,20 --linear 0 --contenders ip-batch")).unwrap();
        assert_eq!(topologies(&o), [Topo::Single(10), Topo::Single(20)]);
        assert!(parse_opts(&a("--n 2000")).is_err());
        assert!(parse_opts(&a("--contenders ovs")).is_err());
        assert!(parse_opts(&a("--linear 1")).is_err());
    }
}
