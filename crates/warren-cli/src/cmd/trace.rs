//! `warren trace SRC DST[:PORT[/tcp|udp]] [--size N] [--probe] [-j]`: the path a packet
//! takes from SRC to DST, one hop (namespace) per line with the interfaces in and out and the
//! route used, then the verdict: `reaches NS`, `leaves NS by IFACE`, or `stops at hop N:
//! REASON`. Exit status 0 when it reaches (or leaves), 3 when it stops.

use std::io::Write;
use std::process::ExitCode;

use warren_trace::{Report, Request, Verdict};

use crate::exit::chain;
use crate::{CliError, Global};

/// Arguments of `warren trace`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source: a namespace (name, path or pid:N), a container or pod, a lab node, or an
    /// address held by a namespace.
    pub src: String,
    /// Destination, the same kinds (an address may be external), with an optional
    /// `:PORT[/tcp|udp]`; without a port an ICMP echo is traced.
    pub dst: String,
    /// Packet size in bytes, Don't Fragment set (default: the source's out-interface MTU).
    #[arg(long, value_name = "BYTES")]
    pub size: Option<u32>,
    /// Also send a real probe (TCP SYN, UDP datagram or ICMP echo) from SRC and confirm the
    /// verdict with the interface counters along the path. Refused for external destinations.
    #[arg(long)]
    pub probe: bool,
}

/// Run `warren trace`.
pub fn run(a: Args, g: &Global) -> Result<ExitCode, CliError> {
    let report = warren_trace::trace(&Request {
        src: a.src,
        dst: a.dst,
        size: a.size,
        probe: a.probe,
    })
    .map_err(|e| {
        let code = match &e {
            warren_trace::Error::Kernel { source, .. }
                if matches!(**source, warren_kernel::Error::Netlink { .. }) =>
            {
                2
            }
            _ => 1,
        };
        CliError::with_code(code, chain(&e))
    })?;
    let text = if g.json {
        serde_json::to_string_pretty(&report).map_err(|e| CliError::fail(e.to_string()))? + "\n"
    } else {
        render(&report)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(match report.trace.verdict {
        Verdict::Stops { .. } => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    })
}

/// The text form: a header, one line per hop (and indented lines for the link layer, NAT and
/// notes), the verdict, and the probe's result.
pub fn render(r: &Report) -> String {
    let t = &r.trace;
    let proto = match r.proto {
        warren_trace::Proto::Tcp => "tcp",
        warren_trace::Proto::Udp => "udp",
        warren_trace::Proto::Icmp => "icmp",
    };
    let port = r.port.map(|p| format!(":{p}")).unwrap_or_default();
    let src = t.src.map(|s| format!(" ({s})")).unwrap_or_default();
    let mut s = format!(
        "trace {}{src} -> {}{port} {proto}, {} bytes DF\n",
        r.src_ns, t.dst, t.size
    );
    let width = t.hops.iter().map(|h| h.ns.len()).max().unwrap_or(0);
    for (i, h) in t.hops.iter().enumerate() {
        let ifs = format!(
            "{} -> {}",
            h.iif.as_deref().unwrap_or("-"),
            h.oif.as_deref().unwrap_or("-")
        );
        let mut line = format!("{:>2}  {:<width$}  {ifs}", i + 1, h.ns);
        if let Some(rt) = &h.route {
            line.push_str(&format!("  [{rt}]"));
        }
        if let Some(tb) = h.table {
            line.push_str(&format!(" (policy rule -> table {tb})"));
        }
        if let Some(n) = h.next_hop {
            line.push_str(&format!("  next hop {n}"));
        }
        s.push_str(line.trim_end());
        s.push('\n');
        for x in h.link.iter().chain(&h.nat).chain(&h.notes) {
            s.push_str(&format!("    {x}\n"));
        }
    }
    s.push_str(&format!("{}\n", t.verdict));
    if let Some(p) = &r.probe {
        let outcome = if p.reached {
            "reached".to_owned()
        } else {
            match p.lost_at.and_then(|i| t.hops.get(i).map(|h| (i, h))) {
                Some((i, h)) => format!("lost: last seen at hop {} ({})", i + 1, h.ns),
                None => "not reached".to_owned(),
            }
        };
        s.push_str(&format!("probe: {outcome} ({}: {})\n", p.sent, p.answer));
    }
    s
}
