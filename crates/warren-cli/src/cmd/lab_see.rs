//! `warren lab capture` and `warren lab graph`: seeing inside a lab that is up.
//!
//! Both take the resolved lab (`warren_lab::model::Lab`, as remembered in the store) from
//! their caller. `capture` resolves `NODE:IF` against the lab's model (an interface by its
//! file name, kernel name or altname; a switch's port by its name or the `NODE:IF` of its far
//! end; a switch's bridge; `lo`), opens one packet socket per interface inside the node's
//! namespace and writes one pcapng stream (pcap on request) to a file or stdout until
//! `-c`, `--duration` or Ctrl-C. `graph` renders the lab as DOT, Mermaid, SVG or a
//! self-contained HTML page ([`write_graph`] is shared with `warren graph --host`).

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use warren_capture::{Capture, Format as CaptureFormat, Options, Stats, StopReason, Target};
use warren_graph::{Format, Graph};
use warren_kernel::NetNs;
use warren_kernel::packet::Direction;
use warren_lab::model::Lab;

use super::{ParseError, perr};
use crate::exit::chain;
use crate::{CliError, Global};

/// `warren lab capture`.
#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// Interfaces: NODE:IF, comma-separated or repeated. IF is an interface of the node, a
    /// switch port (its name, or the NODE:IF at its other end), a switch's bridge, or lo.
    #[arg(required = true, value_delimiter = ',', value_name = "NODE:IF")]
    pub targets: Vec<String>,
    /// The lab (default: the only one up).
    #[arg(long = "lab", value_name = "NAME")]
    pub lab: Option<String>,
    /// Write the capture to FILE; `-` is stdout (the default when stdout is not a terminal).
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<String>,
    /// Stop after COUNT packets.
    #[arg(short = 'c', long, value_name = "COUNT",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop after SECS seconds (decimals allowed).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
    /// Keep at most this many bytes of each packet.
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = 262_144,
          value_parser = clap::value_parser!(u32).range(64..))]
    pub snaplen: u32,
    /// Packets received (in), sent (out) or both.
    #[arg(short = 'Q', long, value_name = "DIR", default_value = "both", value_parser = parse_direction)]
    pub direction: Direction,
    /// pcapng (interfaces named node:if, directions kept) or pcap (nanosecond timestamps).
    #[arg(long, value_name = "FORMAT", default_value = "pcapng", value_parser = parse_capture_format)]
    pub format: CaptureFormat,
}

/// `warren lab graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The lab (default: the only one up).
    pub name: Option<String>,
    /// dot, mermaid, svg or html (default: from -o's extension, else dot).
    #[arg(short = 'f', long, value_name = "FORMAT", value_parser = parse_graph_format)]
    pub format: Option<Format>,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<String>,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: seconds expected"))?;
    if !(v > 0.0 && v.is_finite() && v < 1e9) {
        return Err(format!(
            "invalid duration {s:?}: must be more than 0 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

fn parse_direction(s: &str) -> Result<Direction, String> {
    match s {
        "in" => Ok(Direction::In),
        "out" => Ok(Direction::Out),
        "both" | "inout" => Ok(Direction::Both),
        _ => Err(format!("invalid direction {s:?} (in, out or both)")),
    }
}

fn parse_capture_format(s: &str) -> Result<CaptureFormat, String> {
    s.parse()
}

fn parse_graph_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// `NODE:IF` split at its first `:` (so `sw1:h1:eth0` names sw1's port towards h1:eth0).
pub fn parse_target(s: &str) -> Result<(&str, &str), ParseError> {
    match s.split_once(':') {
        Some((node, iface)) if !node.is_empty() && !iface.is_empty() => Ok((node, iface)),
        _ => Err(perr(
            "lab capture",
            format!("invalid interface {s:?}: NODE:IF expected"),
        )),
    }
}

/// Where `NODE:IF` is in lab `lab`: the node's namespace and the kernel's name of the
/// interface. Names what is missing, with what there is.
pub fn resolve_target(lab: &Lab, node: &str, iface: &str) -> Result<(String, String), CliError> {
    let Some(n) = lab.node(node) else {
        let names: Vec<&str> = lab.nodes.iter().map(|n| n.name.as_str()).collect();
        return Err(CliError::fail(format!(
            "lab capture: lab {} has no node {node:?} (nodes: {})",
            lab.name,
            names.join(", ")
        )));
    };
    let found = if iface == "lo" {
        Some("lo".to_owned())
    } else if let Some(i) = n
        .interfaces
        .iter()
        .find(|i| i.name == iface || i.ifname == iface || i.altnames.iter().any(|a| a == iface))
    {
        Some(i.ifname.clone())
    } else if let Some(sw) = &n.switch {
        sw.ports
            .iter()
            .find(|p| p.ifname == iface || p.altnames.iter().any(|a| a == iface))
            .map(|p| p.ifname.clone())
            .or_else(|| sw.bridges.iter().find(|b| *b == iface).cloned())
    } else {
        None
    };
    match found {
        Some(ifname) => Ok((n.netns.clone(), ifname)),
        None => {
            let mut names: Vec<&str> = n.interfaces.iter().map(|i| i.name.as_str()).collect();
            if let Some(sw) = &n.switch {
                names.extend(sw.bridges.iter().map(String::as_str));
                names.extend(sw.ports.iter().map(|p| p.ifname.as_str()));
            }
            names.push("lo");
            Err(CliError::fail(format!(
                "lab capture: node {node} of lab {} has no interface {iface:?} (interfaces: {})",
                lab.name,
                names.join(", ")
            )))
        }
    }
}

/// Run `warren lab capture` on `lab`.
pub fn capture(a: CaptureArgs, lab: &Lab) -> Result<ExitCode, CliError> {
    // Everything is checked before anything is opened.
    let mut wanted = Vec::new();
    for t in &a.targets {
        let (node, iface) = parse_target(t)?;
        let (netns, ifname) = resolve_target(lab, node, iface)?;
        wanted.push((t.clone(), node.to_owned(), netns, ifname));
    }
    let dest = match a.write.as_deref() {
        Some(path) => path.to_owned(),
        None if std::io::stdout().is_terminal() => {
            return Err(CliError::fail(
                "lab capture: stdout is a terminal: write the capture with -w FILE, or pipe it (-w - | tcpdump -r -)",
            ));
        }
        None => "-".to_owned(),
    };
    // SIGINT and SIGTERM end the capture through a signalfd; blocked first, so the threads
    // that open the sockets inherit the mask and the signal is never lost.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block()
        .map_err(|e| CliError::fail(format!("lab capture: block signals: {e}")))?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| CliError::fail(format!("lab capture: signalfd: {e}")))?;

    let mut targets = Vec::with_capacity(wanted.len());
    for (name, node, netns, ifname) in wanted {
        let ns = NetNs::open_named(&netns).map_err(|e| {
            CliError::fail(format!(
                "lab capture: {name}: namespace {netns} of node {node} (is lab {} up?): {}",
                lab.name,
                chain(&e)
            ))
        })?;
        targets.push(Target::new(name, ns, ifname));
    }
    let options = Options {
        snaplen: a.snaplen,
        direction: a.direction,
        format: a.format,
        count: a.count,
        duration: a.duration,
    };
    let cap = Capture::open(targets, &options).map_err(|e| CliError::fail(chain(&e)))?;
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let mut progress = |s: &Stats| {
        if tty && last.elapsed() >= Duration::from_millis(250) {
            last = Instant::now();
            eprint!("\r{} packets", s.packets);
        }
    };
    let stats = if dest == "-" {
        let out = std::io::BufWriter::with_capacity(1 << 18, std::io::stdout().lock());
        cap.run(out, "stdout", Some(sfd.as_fd()), &mut progress)
    } else {
        let file = std::fs::File::create(&dest)
            .map_err(|e| CliError::fail(format!("lab capture: create {dest}: {e}")))?;
        let out = std::io::BufWriter::with_capacity(1 << 18, file);
        cap.run(out, &dest, Some(sfd.as_fd()), &mut progress)
    }
    .map_err(|e| CliError::fail(chain(&e)))?;
    if tty {
        eprint!("\r");
    }
    eprintln!("{}", summary(&stats, cap.names()));
    Ok(ExitCode::SUCCESS)
}

/// The last line on stderr, as tcpdump's: packets, per interface, drops, why it ended.
fn summary(s: &Stats, names: &[String]) -> String {
    let per: Vec<String> = names
        .iter()
        .zip(&s.per_interface)
        .map(|(n, c)| format!("{n} {c}"))
        .collect();
    let why = match s.reason {
        StopReason::Stopped => "interrupted",
        StopReason::Count => "count reached",
        StopReason::Duration => "duration reached",
        StopReason::ReaderGone => "reader gone",
    };
    format!(
        "{} packets captured ({}), {} dropped by the kernel; {why}",
        s.packets,
        per.join(", "),
        s.dropped
    )
}

/// The format of a graph: as asked, else from the output file's extension, else DOT.
pub fn graph_format(asked: Option<Format>, output: Option<&str>) -> Format {
    if let Some(f) = asked {
        return f;
    }
    let ext = output
        .and_then(|o| std::path::Path::new(o).extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => Format::Svg,
        Some("html" | "htm") => Format::Html,
        Some("mmd" | "mermaid") => Format::Mermaid,
        _ => Format::Dot,
    }
}

/// Print or write a graph: JSON with `-j`, else rendered in `format`; to `output` or stdout.
/// Shared by `warren lab graph` and `warren graph --host`.
pub fn write_graph(
    graph: &Graph,
    format: Option<Format>,
    output: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let text = if json {
        let mut s = serde_json::to_string_pretty(graph)
            .map_err(|e| CliError::fail(format!("graph: {e}")))?;
        s.push('\n');
        s
    } else {
        warren_graph::render(graph, graph_format(format, output))
    };
    match output {
        Some(path) if path != "-" => std::fs::write(path, text)
            .map_err(|e| CliError::fail(format!("graph: write {path}: {e}"))),
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}

/// Run `warren lab graph` on `lab`.
pub fn graph(a: GraphArgs, lab: &Lab, g: &Global) -> Result<ExitCode, CliError> {
    let graph = warren_lab::graph::lab_graph(lab);
    write_graph(&graph, a.format, a.output.as_deref(), g.json)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {

    use clap::Parser;
    use warren_lab::model::{End, Interface, Link, Node, NodeKind, Switch, SwitchPort};

    use super::*;

    fn node(name: &str, kind: NodeKind, lab: &str) -> Node {
        warren_lab::sample::node(lab, name, kind)
    }

    fn iface(name: &str, ifname: &str, addr: &str, link: usize) -> Interface {
        Interface {
            name: name.into(),
            ifname: ifname.into(),
            altnames: vec![format!("x:{name}")],
            addresses: vec![addr.parse().unwrap()],
            mtu: None,
            mac: None,
            link,
        }
    }

    /// Lab `t`: a (eth0) — b (eth0) directly; a (a-long-interface-name) on switch sw.
    fn lab() -> Lab {
        let mut a = node("a", NodeKind::Host, "t");
        a.interfaces = vec![
            iface("eth0", "eth0", "10.7.0.1/24", 0),
            iface("a-long-interface-name", "a-5e1f0a", "10.8.0.1/24", 1),
        ];
        let mut b = node("b", NodeKind::Host, "t");
        b.interfaces = vec![iface("eth0", "eth0", "10.7.0.2/24", 0)];
        let mut sw = node("sw", NodeKind::Switch, "t");
        sw.switch = Some(Switch {
            bridges: vec!["br0".into()],
            ports: vec![SwitchPort {
                ifname: "sw-p0".into(),
                altnames: vec!["a:a-long-interface-name".into()],
                bridge: 0,
                link: 1,
            }],
        });
        let at = |n: &str, i: &str| End::Node {
            node: n.into(),
            interface: i.into(),
        };
        Lab {
            name: "t".into(),
            nodes: vec![a, b, sw],
            links: vec![
                Link {
                    ends: [at("a", "eth0"), at("b", "eth0")],
                    mtu: None,
                    shaping: None,
                },
                Link {
                    ends: [
                        at("a", "a-long-interface-name"),
                        End::Switch {
                            node: "sw".into(),
                            port: 0,
                        },
                    ],
                    mtu: Some(1400),
                    shaping: None,
                },
            ],
        }
    }

    #[test]
    fn targets_parse_at_the_first_colon() {
        let ok = [
            ("h1:eth0", ("h1", "eth0")),
            ("sw1:h1:eth0", ("sw1", "h1:eth0")),
        ];
        for (s, want) in ok {
            assert_eq!(parse_target(s).unwrap(), want);
        }
        for bad in ["h1", ":eth0", "h1:", ""] {
            let e = parse_target(bad).unwrap_err();
            assert!(
                e.0.contains("NODE:IF expected") && e.0.contains(&format!("{bad:?}")),
                "{e}"
            );
        }
    }

    #[test]
    fn targets_resolve_against_the_lab_or_say_what_there_is() {
        let lab = lab();
        let ok = [
            ("a", "eth0", ("t-a", "eth0")),
            ("a", "a-long-interface-name", ("t-a", "a-5e1f0a")),
            ("a", "a-5e1f0a", ("t-a", "a-5e1f0a")),
            ("a", "x:eth0", ("t-a", "eth0")),
            ("a", "lo", ("t-a", "lo")),
            ("sw", "sw-p0", ("t-sw", "sw-p0")),
            ("sw", "a:a-long-interface-name", ("t-sw", "sw-p0")),
            ("sw", "br0", ("t-sw", "br0")),
        ];
        for (n, i, (ns, ifname)) in ok {
            assert_eq!(
                resolve_target(&lab, n, i).unwrap(),
                (ns.to_owned(), ifname.to_owned()),
                "{n}:{i}"
            );
        }
        let bad = [
            ("zz", "eth0", "lab t has no node \"zz\" (nodes: a, b, sw)"),
            (
                "b",
                "eth9",
                "node b of lab t has no interface \"eth9\" (interfaces: eth0, lo)",
            ),
            (
                "sw",
                "p7",
                "node sw of lab t has no interface \"p7\" (interfaces: br0, sw-p0, lo)",
            ),
        ];
        for (n, i, want) in bad {
            let e = resolve_target(&lab, n, i).unwrap_err();
            assert_eq!(e.message, format!("lab capture: {want}"));
        }
    }

    #[test]
    fn the_graph_format_comes_from_the_flag_then_the_extension() {
        let cases = [
            (Some(Format::Html), Some("x.svg"), Format::Html),
            (None, Some("lab.svg"), Format::Svg),
            (None, Some("lab.HTML"), Format::Html),
            (None, Some("lab.mmd"), Format::Mermaid),
            (None, Some("lab.gv"), Format::Dot),
            (None, None, Format::Dot),
        ];
        for (asked, out, want) in cases {
            assert_eq!(graph_format(asked, out), want, "{asked:?} {out:?}");
        }
    }

    #[derive(Debug, clap::Parser)]
    struct CaptureCli {
        #[command(flatten)]
        a: CaptureArgs,
    }

    #[derive(Debug, clap::Parser)]
    struct GraphCli {
        #[command(flatten)]
        a: GraphArgs,
    }

    #[test]
    fn arguments_parse_and_bad_values_are_refused() {
        let c = CaptureCli::try_parse_from([
            "x",
            "a:eth0,b:eth0",
            "sw:br0",
            "-w",
            "f.pcap",
            "-c",
            "5",
            "--duration",
            "1.5",
            "-Q",
            "in",
            "--format",
            "pcap",
            "-s",
            "128",
        ])
        .unwrap()
        .a;
        assert_eq!(c.targets, ["a:eth0", "b:eth0", "sw:br0"]);
        assert_eq!(c.count, Some(5));
        assert_eq!(c.duration, Some(Duration::from_millis(1500)));
        assert_eq!(c.direction, Direction::In);
        assert_eq!(c.format, CaptureFormat::Pcap);
        assert_eq!(c.snaplen, 128);
        for bad in [
            vec!["x"],
            vec!["x", "a:eth0", "-c", "0"],
            vec!["x", "a:eth0", "--duration", "-1"],
            vec!["x", "a:eth0", "--duration", "soon"],
            vec!["x", "a:eth0", "-Q", "sideways"],
            vec!["x", "a:eth0", "--format", "json"],
            vec!["x", "a:eth0", "-s", "10"],
        ] {
            assert!(CaptureCli::try_parse_from(&bad).is_err(), "{bad:?}");
        }
        let g = GraphCli::try_parse_from(["x", "demo", "-f", "mermaid", "-o", "g.md"])
            .unwrap()
            .a;
        assert_eq!(g.name.as_deref(), Some("demo"));
        assert_eq!(g.format, Some(Format::Mermaid));
        assert!(GraphCli::try_parse_from(["x", "--format", "png"]).is_err());
    }

    #[test]
    fn the_summary_names_every_interface() {
        let s = Stats {
            packets: 7,
            bytes: 700,
            per_interface: vec![4, 3],
            dropped: 0,
            reason: StopReason::Count,
        };
        assert_eq!(
            summary(&s, &["a:eth0".into(), "b:eth0".into()]),
            "7 packets captured (a:eth0 4, b:eth0 3), 0 dropped by the kernel; count reached"
        );
    }

    #[test]
    fn graph_writes_each_format_to_a_file() {
        let dir = std::env::temp_dir().join(format!("warren-lab-graph-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lab = lab();
        for (file, needle) in [
            ("g.dot", "\"a\" -- \"sw\""),
            ("g.mmd", "flowchart TB"),
            ("g.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\""),
            ("g.html", "<!DOCTYPE html>"),
        ] {
            let path = dir.join(file);
            let args = GraphArgs {
                name: None,
                format: None,
                output: Some(path.display().to_string()),
            };
            let global = Global {
                netns: None,
                json: false,
            };
            graph(args, &lab, &global).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains(needle), "{file}: {needle}");
            assert!(
                text.contains("a-long-interface-name (a-5e1f0a) 10.8.0.1/24"),
                "{file}"
            );
        }
        let e = write_graph(
            &Graph::new("x"),
            None,
            Some(&dir.join("missing/g.dot").display().to_string()),
            false,
        )
        .unwrap_err();
        assert!(e.message.starts_with("graph: write ") && e.message.contains("missing/g.dot"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Lab `t`'s nodes a and b made real: named namespaces joined by a veth.
    fn wire_a_and_b() {
        use warren_kernel::Handle;
        use warren_kernel::link::veth::Veth;
        use warren_kernel::netns::{Source, add_named};
        let a = Handle::new(add_named("t-a", Source::New).unwrap()).unwrap();
        let b = Handle::new(add_named("t-b", Source::New).unwrap()).unwrap();
        a.link_add(&Veth::new("eth0", "eth0").peer_netns(b.ns()).up().peer_up())
            .unwrap();
        for (h, cidr) in [(&a, "10.7.0.1/24"), (&b, "10.7.0.2/24")] {
            let idx = h.link_index("eth0").unwrap();
            h.addr_add(idx, cidr.parse().unwrap()).unwrap();
        }
    }

    /// Pings from a to b until `done` is set (at most 20 s).
    fn pinger(done: &std::sync::atomic::AtomicBool) {
        let a = NetNs::open_named("t-a").unwrap();
        let start = Instant::now();
        while !done.load(std::sync::atomic::Ordering::Relaxed)
            && start.elapsed() < Duration::from_secs(20)
        {
            let _ = warren_testkit::net::ping(&a, "10.7.0.2".parse().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    warren_testkit::sandbox_test! {
        fn capture_writes_both_ends_to_a_file_and_to_stdout() {
            wire_a_and_b();
            let lab = lab();
            let done = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|s| {
                s.spawn(|| pinger(&done));
                let args = CaptureCli::try_parse_from(["x", "a:eth0,b:eth0", "-w", "/run/t.pcapng", "-c", "16"])
                    .unwrap()
                    .a;
                capture(args, &lab).unwrap();

                // -w -: stdout is pointed at a file for the call, then restored.
                let saved = nix::unistd::dup(std::io::stdout()).unwrap();
                let file = std::fs::File::create("/run/stdout.pcap").unwrap();
                nix::unistd::dup2_stdout(&file).unwrap();
                let args = CaptureCli::try_parse_from(["x", "b:eth0", "-w", "-", "-c", "3", "--format", "pcap"])
                    .unwrap()
                    .a;
                let r = capture(args, &lab);
                nix::unistd::dup2_stdout(&saved).unwrap();
                r.unwrap();
                done.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            let lines = warren_testkit::oracle::tcpdump_read("/run/t.pcapng");
            assert_eq!(lines.len(), 16, "{lines:#?}");
            let file = warren_capture::read::read(&std::fs::read("/run/t.pcapng").unwrap()).unwrap();
            assert_eq!(file.interfaces, ["a:eth0", "b:eth0"]);
            for name in ["a:eth0", "b:eth0"] {
                assert!(
                    file.packets.iter().any(|p| p.interface.as_deref() == Some(name)),
                    "{name} missing"
                );
            }
            let lines = warren_testkit::oracle::tcpdump_read("/run/stdout.pcap");
            assert_eq!(lines.len(), 3, "{lines:#?}");
        }
    }

    warren_testkit::sandbox_test! {
        fn capture_stops_cleanly_on_sigint_with_a_complete_file() {
            use nix::sys::pthread::{pthread_kill, pthread_self};
            wire_a_and_b();
            let lab = lab();
            let done = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|s| {
                s.spawn(|| pinger(&done));
                let (tx, rx) = std::sync::mpsc::channel();
                let lab = &lab;
                let run = s.spawn(move || {
                    // Blocked before the thread is named, so the signal cannot come early.
                    let mut mask = SigSet::empty();
                    mask.add(Signal::SIGINT);
                    mask.thread_block().unwrap();
                    tx.send(pthread_self()).unwrap();
                    let args = CaptureCli::try_parse_from(["x", "a:eth0", "-w", "/run/int.pcapng"])
                        .unwrap()
                        .a;
                    capture(args, lab)
                });
                let tid = rx.recv().unwrap();
                std::thread::sleep(Duration::from_millis(400));
                // Without a count or a duration, only the signal ends this capture (the test
                // would hang otherwise). How fast depends on the machine's load: no bound.
                pthread_kill(tid, Signal::SIGINT).unwrap();
                run.join().unwrap().unwrap();
                done.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            let bytes = std::fs::read("/run/int.pcapng").unwrap();
            let file = warren_capture::read::read(&bytes).expect("a complete pcapng");
            assert!(!file.packets.is_empty());
            assert_eq!(warren_testkit::oracle::tcpdump_read("/run/int.pcapng").len(), file.packets.len());
        }
    }

    warren_testkit::sandbox_test! {
        fn capture_names_a_missing_namespace_and_a_missing_interface() {
            let lab = lab();
            let args = CaptureCli::try_parse_from(["x", "a:eth0", "-w", "/run/x.pcapng"]).unwrap().a;
            let e = capture(args, &lab).unwrap_err();
            assert!(
                e.message.starts_with("lab capture: a:eth0: namespace t-a of node a (is lab t up?): "),
                "{}",
                e.message
            );
            assert!(!std::path::Path::new("/run/x.pcapng").exists(), "nothing written");

            // The namespace is there but the interface is not (the model says it should be).
            warren_kernel::netns::add_named("t-b", warren_kernel::netns::Source::New).unwrap();
            let args = CaptureCli::try_parse_from(["x", "b:eth0", "-w", "/run/x.pcapng"]).unwrap().a;
            let e = capture(args, &lab).unwrap_err();
            assert!(
                e.message.contains("cannot capture on b:eth0")
                    && e.message.contains("link \"eth0\" not found (netns t-b)"),
                "{}",
                e.message
            );
            assert!(!std::path::Path::new("/run/x.pcapng").exists(), "nothing written");
        }
    }
}
