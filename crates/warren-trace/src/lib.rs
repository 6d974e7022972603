//! `warren trace SRC DST[:PORT[/PROTO]]`: where a packet from SRC to DST goes, hop by hop
//! through network namespaces, and where and why it stops.
//!
//! The walk asks the kernel at every hop, in that hop's namespace: the route lookup
//! (`RTM_GETROUTE`, which applies policy rules; with the input interface at routed hops),
//! forwarding and rp_filter sysctls, link and bridge-port states, MTUs, neighbour entries, the
//! veth peer in the next namespace (link-netnsid and nsids) and the bridge's FDB, warren's
//! published-port DNAT maps and masquerade sets, and finally the route back from the
//! destination. It changes nothing. `--probe` then sends a real packet and reads interface
//! counters along the path to confirm the verdict — the only way a drop by a firewall rule
//! is seen today.
//!
//! ```no_run
//! let report = warren_trace::trace(&warren_trace::Request {
//!     src: "red".into(),
//!     dst: "blue:80".into(),
//!     size: None,
//!     probe: false,
//! })?;
//! println!("{}", report.trace.verdict);
//! # Ok::<(), warren_trace::Error>(())
//! ```

pub mod error;
pub mod firewall;
pub mod l2;
pub mod nat;
pub mod probe;
pub mod target;
pub mod verdict;
pub mod walk;
pub mod world;

use serde::Serialize;

pub use error::{Error, Result};
pub use probe::ProbeResult;
pub use verdict::{Cause, Hop, Trace, Verdict};
pub use walk::{Packet, Proto};

/// What to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// SRC: namespace name or path, `pid:N`, container or pod, lab node, or an address.
    pub src: String,
    /// DST, with an optional `:PORT[/tcp|udp]`.
    pub dst: String,
    /// Packet size (DF); `None`: the source's out-interface MTU.
    pub size: Option<u32>,
    /// Send a real probe too.
    pub probe: bool,
}

/// A trace and, with `--probe`, what the probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Source namespace.
    pub src_ns: String,
    /// Transport traced.
    pub proto: Proto,
    /// Destination port, if any (after DNAT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The trace.
    #[serde(flatten)]
    pub trace: Trace,
    /// The probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeResult>,
}

/// Resolve SRC and DST, walk, and probe when asked.
pub fn trace(req: &Request) -> Result<Report> {
    let src_e = target::parse_endpoint("SRC", &req.src)?;
    let dest = target::parse_dest(&req.dst)?;
    if req.size.is_some_and(|s| !(28..=65535).contains(&s)) {
        return Err(Error::Invalid {
            what: "size",
            word: req.size.unwrap_or(0).to_string(),
            reason: "must be 28-65535 bytes".into(),
        });
    }
    let mut w = world::World::load()?;
    let src = target::resolve(&mut w, "SRC", &req.src, &src_e)?;
    let dst = target::resolve(&mut w, "DST", &req.dst, &dest.endpoint)?;
    let src_ns = src.ns.unwrap_or(0);
    let dst_addr = match (dst.addr, dst.ns) {
        (Some(a), _) => a,
        (None, Some(ns)) => target::pick_addr(&w, ns)?.ok_or_else(|| Error::NotFound {
            what: "DST",
            word: req.dst.clone(),
            reason: "the namespace has no address to trace to".into(),
        })?,
        (None, None) => unreachable!("resolve gives an address or a namespace"),
    };
    if let Some(s) = src.addr
        && s.is_ipv4() != dst_addr.is_ipv4()
    {
        return Err(Error::Invalid {
            what: "SRC",
            word: req.src.clone(),
            reason: format!("{s} and {dst_addr} are of different families"),
        });
    }
    let pkt = Packet {
        src: src.addr,
        dst: dst_addr,
        proto: dest.proto,
        port: dest.port,
        size: req.size,
    };
    let walked = walk::walk(&w, src_ns, &pkt)?;
    let probe = if req.probe {
        Some(probe::probe(&w, src_ns, &walked, dest.proto)?)
    } else {
        None
    };
    let mut trace = walked.trace.clone();
    if let Some(p) = &probe {
        agree(&w, &walked, p, &mut trace);
    }
    Ok(Report {
        src_ns: w.list[src_ns].label.clone(),
        proto: dest.proto,
        port: walked.port,
        trace,
        probe,
    })
}

/// Fold the probe into the verdict: a packet that the static walk lets through but that
/// vanished inside a namespace with nf_tables tables was dropped by the firewall there.
fn agree(w: &world::World, walked: &walk::Walked, p: &ProbeResult, trace: &mut Trace) {
    let Some(at) = p.lost_at else { return };
    if p.reached || !matches!(trace.verdict, Verdict::Reaches { .. }) {
        return;
    }
    let ns = walked.ifaces[at].ns;
    let tables: Vec<String> = w.list[ns].tables().iter().map(nat::describe).collect();
    if tables.is_empty() {
        trace.hops[at].notes.push(
            "the probe vanished here although no nf_tables table exists in this namespace".into(),
        );
        return;
    }
    trace.verdict = Verdict::Stops {
        hop: at,
        cause: Cause::FirewallDrop { rule: None, tables },
    };
}
