//! `warren-macvlan` and `warren-ipvlan`: a macvlan (any of its five modes) or an ipvlan
//! (l2, l3, l3s) of a host interface, made directly inside the container's namespace, with
//! IPAM's addresses and routes. (This machine's kernel has no ipvlan: the kernel's refusal
//! says so.)

use serde::{Deserialize, Serialize};
use warren_engine::attach;
use warren_kernel::addr::{Family, IpNet};
use warren_kernel::link::ipvlan::{IpVlan, IpVlanMode};
use warren_kernel::link::macvlan::{MacVlan, MacVlanMode};
use warren_kernel::route::RouteFilter;
use warren_kernel::{Handle, link::LinkSpec};

use super::ipam::{self, Leases};
use super::{Answer, Ctx, gc_records, gc_result, internal, mac_of, record_row, status_store};
use crate::proto::{CniError, CniResult, Command, Interface, code};

/// Which kind of link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// macvlan.
    Macvlan,
    /// ipvlan.
    Ipvlan,
}

impl Kind {
    fn plugin(self) -> &'static str {
        match self {
            Kind::Macvlan => "macvlan",
            Kind::Ipvlan => "ipvlan",
        }
    }
}

/// macvlan's and ipvlan's configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Conf {
    /// The parent interface (default: the interface of the host's default route).
    pub master: Option<String>,
    /// The mode (macvlan: bridge, private, vepa, passthru, source; ipvlan: l2, l3, l3s).
    pub mode: Option<String>,
    /// MTU.
    pub mtu: Option<u32>,
    /// MAC address (macvlan).
    pub mac: Option<String>,
    /// The parent is inside the container's namespace.
    pub link_in_container: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    kind: String,
}

/// The interface of the host's default route.
fn default_parent(h: &Handle) -> Result<String, CniError> {
    let routes = h
        .routes(RouteFilter {
            table: Some(254),
            family: Some(Family::V4),
        })
        .map_err(internal)?;
    let idx = routes
        .iter()
        .find(|r| r.dst.prefix == 0)
        .and_then(|r| r.oif)
        .ok_or_else(|| {
            CniError::new(
                code::INVALID_CONFIG,
                "invalid config: no master given and the host has no default route",
            )
        })?;
    Ok(h.link_by_index(idx).map_err(internal)?.name)
}

/// `warren-macvlan` / `warren-ipvlan`.
pub fn run(ctx: &mut Ctx, cmd: Command, kind: Kind) -> Answer {
    let ctx = &*ctx;
    let plugin = kind.plugin();
    match cmd {
        Command::Add => add(ctx, kind).map(Some),
        Command::Del => {
            let mut errors = Vec::new();
            let (cid, ifname) = (ctx.env.container_id.clone(), ctx.env.ifname.clone());
            teardown(
                ctx,
                plugin,
                &cid,
                &ifname,
                ctx.netns_str().as_deref(),
                &mut errors,
            )?;
            if let Some(t) = ipam::delegated_type(ctx) {
                ipam::delegate(ctx, &t, Command::Del)?;
            }
            errors.into_iter().next().map_or(Ok(None), Err)
        }
        Command::Check => {
            let prev = super::prev_result(ctx, "CHECK")?;
            let inner = ctx.open_netns()?;
            let link = inner.link_get(&ctx.env.ifname).map_err(internal)?;
            if link.kind.as_deref() != Some(plugin) {
                return Err(internal(format!(
                    "{} is a {} link, not {plugin}",
                    ctx.env.ifname,
                    link.kind.unwrap_or_default()
                )));
            }
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
            let mut failed = gc_records(ctx, plugin, |r| {
                teardown(
                    ctx,
                    plugin,
                    &r.container_id,
                    &r.ifname,
                    r.netns.as_deref(),
                    &mut errors,
                )
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

fn add(ctx: &Ctx, kind: Kind) -> Result<CniResult, CniError> {
    let conf: Conf = ctx.conf.plugin()?;
    let plugin = kind.plugin();
    let inner = ctx.open_netns()?;
    let ifname = ctx.env.ifname.clone();
    super::ensure_ifname_free(ctx, &inner, &ifname)?;
    let mac = match kind {
        Kind::Macvlan => ctx.requested_mac(conf.mac.as_deref())?,
        Kind::Ipvlan => None,
    };
    let eng_host = ctx.engine()?.host().ns().try_clone().map_err(internal)?;
    let host = Handle::new(eng_host).map_err(internal)?;
    let parent_ns = if conf.link_in_container {
        &inner
    } else {
        &host
    };
    let master = match &conf.master {
        Some(m) => m.clone(),
        None => default_parent(parent_ns)?,
    };
    let parent = parent_ns.link_index(&master).map_err(|e| {
        CniError::new(
            code::INVALID_CONFIG,
            format!("invalid master {master:?}: {e}"),
        )
    })?;
    let spec: Box<dyn LinkSpec + '_> = match kind {
        Kind::Macvlan => {
            let mode = MacVlanMode::parse(conf.mode.as_deref().unwrap_or("bridge"))
                .map_err(|e| CniError::new(code::INVALID_CONFIG, format!("invalid mode: {e}")))?;
            let mut m = MacVlan::new(ifname.clone(), parent, mode).up();
            if !conf.link_in_container {
                m = m.netns(inner.ns());
            }
            if let Some(mtu) = conf.mtu {
                m = m.mtu(mtu);
            }
            if let Some(mac) = mac {
                m = m.mac(mac);
            }
            Box::new(m)
        }
        Kind::Ipvlan => {
            let mode = IpVlanMode::parse(conf.mode.as_deref().unwrap_or("l2"))
                .map_err(|e| CniError::new(code::INVALID_CONFIG, format!("invalid mode: {e}")))?;
            let mut m = IpVlan::new(ifname.clone(), parent, mode).up();
            if !conf.link_in_container {
                m = m.netns(inner.ns());
            }
            if let Some(mtu) = conf.mtu {
                m = m.mtu(mtu);
            }
            Box::new(m)
        }
    };
    let in_process = ipam::in_process(ctx)?;
    let delegated = ipam::delegated_type(ctx);
    let row = record_row(
        ctx,
        plugin,
        &Record {
            kind: plugin.into(),
        },
    )?;
    let mut leases = ctx.engine()?.store().write(|tx| {
        warren_store::cni_record_put(tx, &row)
            .map_err(|e| internal(format!("{e} (DEL it first)")))?;
        match &in_process {
            Some(c) => ipam::allocate(tx, ctx, c),
            None => Ok(Leases::default()),
        }
    })?;
    let wired = (|| -> Result<Vec<attach::RouteTo>, CniError> {
        if let Some(t) = &delegated
            && let Some(r) = ipam::delegate(ctx, t, Command::Add)?
        {
            leases = Leases::from_result(&r);
        }
        parent_ns.link_add(spec.as_ref()).map_err(internal)?;
        let addrs: Vec<IpNet> = leases.ips.iter().map(|(a, _)| *a).collect();
        let routes = super::bridge::routes(&leases, false);
        super::arp_notify(&inner, &ifname, &addrs)?;
        attach::configure(&inner, &ifname, &addrs, &routes, false)?;
        Ok(routes)
    })();
    let routes = match wired {
        Ok(r) => r,
        Err(e) => {
            let mut errs = Vec::new();
            let ns = ctx.netns_str();
            let _ = teardown(
                ctx,
                plugin,
                &ctx.env.container_id,
                &ifname,
                ns.as_deref(),
                &mut errs,
            );
            return Err(e);
        }
    };
    Ok(CniResult {
        interfaces: vec![Interface {
            name: ifname.clone(),
            mac: mac_of(&inner, &ifname),
            sandbox: ctx.netns_str(),
            ..Interface::default()
        }],
        ips: leases.result_ips(Some(0)),
        routes: super::bridge::result_routes(&routes),
        dns: ctx.conf.dns.clone().unwrap_or(leases.dns),
    })
}

fn teardown(
    ctx: &Ctx,
    plugin: &str,
    cid: &str,
    ifname: &str,
    netns: Option<&str>,
    errors: &mut Vec<CniError>,
) -> Result<(), CniError> {
    let net = ctx.network().to_owned();
    ctx.engine()?.store().write(|tx| {
        warren_store::cni_record_delete(tx, &net, cid, ifname, plugin)?;
        warren_store::cni_release(tx, &net, cid, ifname)?;
        Ok::<_, CniError>(())
    })?;
    if let Some(ns) = netns
        && let Err(e) = attach::delete_inner_link(ns, ifname)
    {
        errors.push(e.into());
    }
    Ok(())
}
