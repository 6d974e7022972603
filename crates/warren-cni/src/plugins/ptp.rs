//! `warren-ptp`: a routed veth per container, no bridge (the reference ptp plugin's
//! layout): the host side holds the gateway address as a /32 (/128) and a host route to
//! each container address; inside, the address without its subnet route, a route to the
//! gateway on the link, the subnet and IPAM's routes via the gateway.

use serde::{Deserialize, Serialize};
use warren_engine::attach::{self, RouteTo, VethSpec};
use warren_kernel::addr::{AddrSpec, IpNet};
use warren_kernel::route::RouteSpec;

use super::ipam::{self, Leases};
use super::{
    Answer, Ctx, gc_records, gc_result, host_ifname, internal, mac_of, record_row, status_store,
};
use crate::proto::{CniError, CniResult, Command, Interface, code};

const PLUGIN: &str = "ptp";

/// ptp's configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PtpConf {
    /// Masquerade traffic leaving the container's subnet.
    pub ip_masq: bool,
    /// `iptables` or `nftables`: accepted, warren always speaks nftables.
    pub ip_masq_backend: Option<String>,
    /// MTU of the veth.
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    host_if: String,
    #[serde(with = "super::nets")]
    subnets: Vec<IpNet>,
    masq: bool,
}

/// `warren-ptp`.
pub fn run(ctx: &mut Ctx, cmd: Command) -> Answer {
    let ctx = &*ctx;
    match cmd {
        Command::Add => add(ctx).map(Some),
        Command::Del => {
            let mut errors = Vec::new();
            let (cid, ifname) = (ctx.env.container_id.clone(), ctx.env.ifname.clone());
            teardown(ctx, &cid, &ifname, &mut errors)?;
            if let Some(t) = ipam::delegated_type(ctx) {
                ipam::delegate(ctx, &t, Command::Del)?;
            }
            errors.into_iter().next().map_or(Ok(None), Err)
        }
        Command::Check => {
            let prev = super::prev_result(ctx, "warren-ptp CHECK")?;
            let inner = ctx.open_netns()?;
            let link = inner.link_get(&ctx.env.ifname).map_err(internal)?;
            let have = inner.addrs(Some(link.index))?;
            for ip in &prev.ips {
                if !have.iter().any(|a| a.net() == ip.address) {
                    return Err(internal(format!(
                        "{} lacks {}/{}",
                        ctx.env.ifname, ip.address.addr, ip.address.prefix
                    )));
                }
            }
            Ok(None)
        }
        Command::Gc => {
            let mut errors = Vec::new();
            let mut failed = gc_records(ctx, PLUGIN, |r| {
                teardown(ctx, &r.container_id, &r.ifname, &mut errors)
            });
            failed.append(&mut errors);
            gc_result(failed)
        }
        Command::Status => {
            status_store(ctx)?;
            Ok(None)
        }
        Command::Version => Ok(None),
    }
}

fn add(ctx: &Ctx) -> Result<CniResult, CniError> {
    let conf: PtpConf = ctx.conf.plugin()?;
    let inner = ctx.open_netns()?;
    let ifname = ctx.env.ifname.clone();
    super::ensure_ifname_free(ctx, &inner, &ifname)?;
    let host_if = host_ifname("wp", ctx.network(), &ctx.env.container_id, &ifname);
    let in_process = ipam::in_process(ctx)?;
    let delegated = ipam::delegated_type(ctx);
    if in_process.is_none() && delegated.is_none() {
        return Err(CniError::new(
            code::INVALID_CONFIG,
            "invalid config: warren-ptp needs ipam",
        ));
    }
    let mut leases = ctx.engine()?.store().write(|tx| {
        let leases = match &in_process {
            Some(c) => ipam::allocate(tx, ctx, c)?,
            None => Leases::default(),
        };
        Ok::<_, CniError>(leases)
    })?;
    if let Some(t) = &delegated
        && let Some(r) = ipam::delegate(ctx, t, Command::Add)?
    {
        leases = Leases::from_result(&r);
    }
    let rec = Record {
        host_if: host_if.clone(),
        subnets: leases.ips.iter().map(|(a, _)| a.network()).collect(),
        masq: conf.ip_masq,
    };
    let row = record_row(ctx, PLUGIN, &rec)?;
    let stored = ctx
        .engine()?
        .store()
        .write(|tx| warren_store::cni_record_put(tx, &row));
    if let Err(e) = stored {
        let _ = ctx.engine()?.store().write(|tx| ipam::release(tx, ctx));
        return Err(internal(format!("{e} (DEL it first)")));
    }

    let mut routes: Vec<RouteTo> = Vec::new();
    let wired = (|| -> Result<(), CniError> {
        let mut eng = ctx.engine()?;
        attach::add_veth(
            eng.host(),
            &inner,
            &VethSpec {
                host_if: host_if.clone(),
                ifname: ifname.clone(),
                mtu: conf.mtu,
                ..VethSpec::default()
            },
        )?;
        let cidx = inner.link_index(&ifname)?;
        let hidx = eng.host().link_index(&host_if)?;
        for (addr, gw) in &leases.ips {
            let spec = AddrSpec::new(cidx, *addr).noprefixroute();
            inner
                .addr_add_spec(&if addr.addr.is_ipv6() {
                    spec.nodad()
                } else {
                    spec
                })
                .map_err(internal)?;
            let Some(gw) = gw else { continue };
            // Inside: the gateway on the link, the subnet via the gateway, both with the
            // container's address as source (as the reference's routes have it).
            inner
                .route_add(&RouteSpec::to(IpNet::host(*gw)).dev(cidx).src(addr.addr))
                .map_err(internal)?;
            if addr.network() != IpNet::host(*gw).network() {
                inner
                    .route_add(
                        &RouteSpec::to(addr.network())
                            .dev(cidx)
                            .via(*gw)
                            .src(addr.addr),
                    )
                    .map_err(internal)?;
            }
            // Host side: the gateway address, a route to the container.
            attach::add_address(eng.host(), hidx, IpNet::host(*gw), false)?;
            eng.host()
                .route_add(&RouteSpec::to(IpNet::host(addr.addr)).dev(hidx))
                .map_err(internal)?;
        }
        routes = super::bridge::routes(&leases, false);
        let gateways: Vec<_> = leases.ips.iter().filter_map(|(_, g)| *g).collect();
        for r in &routes {
            let mut spec = RouteSpec::to(r.dst).dev(cidx);
            if let Some(gw) = r.gw {
                spec = spec.via(gw);
                // Only the gateway has a route of its own on the link: another next hop in
                // the subnet (which has no connected route here) is taken as on the link.
                if !gateways.contains(&gw) {
                    spec = spec.onlink();
                }
            }
            inner.route_add(&spec).map_err(internal)?;
        }
        if conf.ip_masq && !rec.subnets.is_empty() {
            eng.fw_masquerade(&rec.subnets, true)?;
        }
        eng.forwarding_update()?;
        Ok(())
    })();
    if let Err(e) = wired {
        let mut errs = Vec::new();
        let _ = teardown(ctx, &ctx.env.container_id, &ifname, &mut errs);
        return Err(e);
    }
    let eng = ctx.engine()?;
    Ok(CniResult {
        interfaces: vec![
            Interface {
                name: host_if.clone(),
                mac: mac_of(eng.host(), &host_if),
                ..Interface::default()
            },
            Interface {
                name: ifname.clone(),
                mac: mac_of(&inner, &ifname),
                sandbox: ctx.netns_str(),
                ..Interface::default()
            },
        ],
        ips: leases.result_ips(Some(1)),
        routes: super::bridge::result_routes(&routes),
        dns: ctx.conf.dns.clone().unwrap_or(leases.dns),
    })
}

/// Undo one attachment: addresses, the veth (retired now, deleted off DEL's path; the
/// host routes go with the host side), masquerade after the network's last one.
fn teardown(
    ctx: &Ctx,
    cid: &str,
    ifname: &str,
    errors: &mut Vec<CniError>,
) -> Result<(), CniError> {
    let net = ctx.network().to_owned();
    let (rec, remaining) = super::forget_veth(
        ctx,
        PLUGIN,
        "wp",
        (cid, ifname),
        |r: &Record| r.host_if.clone(),
        errors,
    )?;
    let mut eng = ctx.engine()?;
    if let Some(rec) = rec {
        if rec.masq && remaining == 0 && !rec.subnets.is_empty() {
            if let Err(e) = eng.fw_masquerade(&rec.subnets, false) {
                errors.push(e.into());
            }
            let again = eng
                .store()
                .read(|tx| warren_store::cni_record_count(tx, &net, PLUGIN))?;
            if again > 0 {
                eng.fw_masquerade(&rec.subnets, true)?;
            }
        }
        // Only the network's last attachment can end the need for forwarding.
        if remaining == 0
            && let Err(e) = eng.forwarding_update()
        {
            errors.push(e.into());
        }
    }
    Ok(())
}
