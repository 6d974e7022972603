//! `warren-bandwidth`: rate limits on a container's veth, as the reference plugin sets
//! them. Traffic *into* the container is shaped by a tbf qdisc on the host side of its veth;
//! traffic *out of* it is redirected from the host side's ingress to an ifb device whose
//! tbf shapes it. Rates are in bits per second and bursts in bits, as in the config.

use serde::{Deserialize, Serialize};
use warren_kernel::Handle;
use warren_kernel::link::ifb::Ifb;
use warren_kernel::tc::{FilterAction, FilterKind, FilterSpec, Parent, QdiscKind, QdiscSpec};

use super::{
    Answer, Ctx, from_value, gc_records, gc_result, host_ifname, internal, mac_of, prev_result,
    record_row,
};
use crate::proto::{CniError, CniResult, Command, Interface, code};

const PLUGIN: &str = "bandwidth";
/// How long a packet may wait in the bucket: the queue limit is what arrives at the rate
/// in this time, plus the burst (the reference plugin's choice).
const LATENCY_MS: u64 = 25;

/// The limits (config keys, or `runtimeConfig.bandwidth`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Limits {
    /// Into the container, bits per second.
    pub ingress_rate: u64,
    /// Into the container, bits.
    pub ingress_burst: u64,
    /// Out of the container, bits per second.
    pub egress_rate: u64,
    /// Out of the container, bits.
    pub egress_burst: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    host_if: String,
    ifb: Option<String>,
}

fn limits(ctx: &Ctx) -> Result<Limits, CniError> {
    let mut l: Limits = from_value(&ctx.conf.raw, "bandwidth")?;
    if let Some(r) = ctx.conf.runtime::<Limits>("bandwidth")? {
        l = r;
    }
    for (dir, rate, burst) in [
        ("ingress", l.ingress_rate, l.ingress_burst),
        ("egress", l.egress_rate, l.egress_burst),
    ] {
        if (rate == 0) != (burst == 0) {
            return Err(CniError::new(
                code::INVALID_CONFIG,
                format!(
                    "invalid config: {dir}Rate and {dir}Burst must both be set or both be 0 (got {rate} and {burst})"
                ),
            ));
        }
        if burst / 8 > u64::from(u32::MAX) {
            return Err(CniError::new(
                code::INVALID_CONFIG,
                format!("invalid config: {dir}Burst {burst} is too large"),
            ));
        }
    }
    Ok(l)
}

fn tbf(ifindex: u32, rate_bits: u64, burst_bits: u64) -> QdiscSpec {
    let rate = (rate_bits / 8).max(1);
    let burst = u32::try_from(burst_bits / 8).unwrap_or(u32::MAX).max(1);
    let limit = rate
        .saturating_mul(LATENCY_MS)
        .checked_div(1000)
        .unwrap_or(0)
        .saturating_add(u64::from(burst));
    QdiscSpec::new(
        ifindex,
        Parent::Root,
        QdiscKind::Tbf {
            rate,
            burst,
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
        },
    )
}

/// The host side of the container's interface: the peer of `CNI_IFNAME` inside.
fn host_side(ctx: &Ctx, host: &Handle, prev: &CniResult) -> Result<String, CniError> {
    let ifname = &ctx.env.ifname;
    let inner = ctx.open_netns()?;
    let link = inner.link_get(ifname).map_err(internal)?;
    if let Some(peer) = link.link {
        for i in prev.interfaces.iter().filter(|i| i.sandbox.is_none()) {
            if let Ok(l) = host.link_get(&i.name)
                && l.index == peer
            {
                return Ok(l.name);
            }
        }
        if let Ok(l) = host.link_by_index(peer) {
            return Ok(l.name);
        }
    }
    Err(internal(format!(
        "no host side found for {ifname} (bandwidth needs a veth, e.g. after warren-bridge or warren-ptp)"
    )))
}

/// `warren-bandwidth`.
pub fn run(ctx: &mut Ctx, cmd: Command) -> Answer {
    let ctx = &*ctx;
    match cmd {
        Command::Add => {
            let l = limits(ctx)?;
            let prev = prev_result(ctx, "warren-bandwidth")?;
            if l == Limits::default() {
                return Ok(Some(prev));
            }
            let eng = ctx.engine()?;
            let host = eng.host();
            let host_if = host_side(ctx, host, &prev)?;
            let hidx = host.link_index(&host_if).map_err(internal)?;
            let ifb = (l.egress_rate > 0)
                .then(|| host_ifname("wb", ctx.network(), &ctx.env.container_id, &ctx.env.ifname));
            let done = (|| -> Result<(), CniError> {
                if l.ingress_rate > 0 {
                    host.qdisc_replace(&tbf(hidx, l.ingress_rate, l.ingress_burst))
                        .map_err(internal)?;
                }
                if let Some(ifb) = &ifb {
                    let mtu = host.link_get(&host_if).map_err(internal)?.mtu;
                    host.link_add(&Ifb::new(ifb.clone()).mtu(mtu).up())
                        .map_err(internal)?;
                    let bidx = host.link_index(ifb).map_err(internal)?;
                    host.qdisc_replace(&tbf(bidx, l.egress_rate, l.egress_burst))
                        .map_err(internal)?;
                    host.qdisc_add(&QdiscSpec::new(hidx, Parent::Ingress, QdiscKind::Ingress))
                        .map_err(internal)?;
                    host.filter_add(&FilterSpec::new(
                        hidx,
                        Parent::Ingress,
                        FilterKind::MatchAll {
                            action: FilterAction::Mirred {
                                egress_redirect_to: bidx,
                            },
                        },
                    ))
                    .map_err(internal)?;
                }
                Ok(())
            })();
            drop(eng);
            let undo = |ctx: &Ctx| {
                if let Ok(eng) = ctx.engine() {
                    let h = eng.host();
                    if let Some(ifb) = &ifb {
                        let _ = h.link_del(ifb);
                    }
                    let _ = h.qdisc_del(hidx, Parent::Root);
                    let _ = h.qdisc_del(hidx, Parent::Ingress);
                }
            };
            if let Err(e) = done {
                undo(ctx);
                return Err(e);
            }
            let row = record_row(
                ctx,
                PLUGIN,
                &Record {
                    host_if,
                    ifb: ifb.clone(),
                },
            )?;
            if let Err(e) = ctx
                .engine()?
                .store()
                .write(|tx| warren_store::cni_record_put(tx, &row))
            {
                undo(ctx);
                return Err(internal(format!("{e} (DEL it first)")));
            }
            // The ifb is a host-side interface this plugin made: the result lists it, as
            // the reference plugin's does.
            let mut result = prev;
            if let Some(ifb) = ifb {
                let mac = mac_of(ctx.engine()?.host(), &ifb);
                result.interfaces.push(Interface {
                    name: ifb,
                    mac,
                    ..Interface::default()
                });
            }
            Ok(Some(result))
        }
        Command::Del => {
            let (cid, ifname) = (ctx.env.container_id.clone(), ctx.env.ifname.clone());
            remove(ctx, &cid, &ifname).map(|()| None)
        }
        Command::Check => {
            let l = limits(ctx)?;
            if l == Limits::default() {
                return Ok(None);
            }
            let prev = prev_result(ctx, "warren-bandwidth CHECK")?;
            let eng = ctx.engine()?;
            let host = eng.host();
            let host_if = host_side(ctx, host, &prev)?;
            let hidx = host.link_index(&host_if).map_err(internal)?;
            let qs = host.qdisc_list(Some(hidx)).map_err(internal)?;
            if l.ingress_rate > 0
                && !qs
                    .iter()
                    .any(|q| q.kind == "tbf" && q.tbf.is_some_and(|t| t.0 == l.ingress_rate / 8))
            {
                return Err(internal(format!(
                    "{host_if} has no tbf at {} bit/s",
                    l.ingress_rate
                )));
            }
            if l.egress_rate > 0 {
                let ifb = host_ifname("wb", ctx.network(), &ctx.env.container_id, &ctx.env.ifname);
                let bidx = host
                    .link_index(&ifb)
                    .map_err(|e| internal(format!("ifb {ifb}: {e}")))?;
                let bq = host.qdisc_list(Some(bidx)).map_err(internal)?;
                if !bq
                    .iter()
                    .any(|q| q.kind == "tbf" && q.tbf.is_some_and(|t| t.0 == l.egress_rate / 8))
                {
                    return Err(internal(format!(
                        "{ifb} has no tbf at {} bit/s",
                        l.egress_rate
                    )));
                }
            }
            Ok(None)
        }
        Command::Gc => gc_result(gc_records(ctx, PLUGIN, |r| {
            remove(ctx, &r.container_id, &r.ifname)
        })),
        Command::Status => {
            limits(ctx)?;
            Ok(None)
        }
        Command::Version => Ok(None),
    }
}

/// Remove an attachment's ifb (the veth's qdiscs go with the veth).
fn remove(ctx: &Ctx, cid: &str, ifname: &str) -> Result<(), CniError> {
    let mut eng = ctx.engine()?;
    let rec = eng
        .store()
        .write(|tx| warren_store::cni_record_delete(tx, ctx.network(), cid, ifname, PLUGIN))?;
    let ifb = match rec {
        Some(r) => {
            serde_json::from_str::<Record>(&r.data)
                .map_err(internal)?
                .ifb
        }
        // No record (an ADD killed half way): the name is known anyway.
        None => Some(host_ifname("wb", ctx.network(), cid, ifname)),
    };
    if let Some(ifb) = ifb {
        warren_engine::attach::delete_host_link(eng.host(), &ifb)?;
    }
    Ok(())
}
