//! `warren-bridge`: the reference bridge plugin's config and results, warren's engine
//! underneath — the bridge, veth and addresses as `warren run` makes them, masquerade and
//! hairpin as elements of warren's nftables sets, addresses from the store.

use serde::{Deserialize, Serialize};
use warren_engine::attach::{self, BridgeSpec, RouteTo, VethSpec};
use warren_kernel::addr::IpNet;
use warren_kernel::nft::NetworkRules;

use super::ipam::{self, Leases};
use super::{
    Answer, Ctx, gc_result, gc_valid, host_ifname, internal, mac_of, prev_result, status_store,
};
use crate::proto::{CniError, CniResult, Command, Interface, Route, code};

/// The bridge plugin's configuration (the reference plugin's keys).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BridgeConf {
    /// The bridge (default `cni0`).
    pub bridge: Option<String>,
    /// Give the bridge the gateway address.
    pub is_gateway: bool,
    /// Default route via the gateway (implies `isGateway`).
    pub is_default_gateway: bool,
    /// Accepted: an existing bridge simply gets the gateway address too.
    pub force_address: bool,
    /// Masquerade traffic leaving the network.
    pub ip_masq: bool,
    /// `iptables` or `nftables`: accepted, warren always speaks nftables.
    pub ip_masq_backend: Option<String>,
    /// MTU of the bridge and veths.
    pub mtu: Option<u32>,
    /// Hairpin on the bridge port.
    pub hairpin_mode: bool,
    /// Promiscuous bridge.
    pub promisc_mode: bool,
    /// 802.1q VLAN on the port (not supported).
    pub vlan: Option<u32>,
    /// VLAN trunk (not supported).
    pub vlan_trunk: Option<serde_json::Value>,
    /// MAC spoof check (not supported).
    pub macspoofchk: bool,
    /// Keep IPv6 duplicate address detection on.
    pub enabledad: bool,
    /// Leave the container side down and without addresses.
    pub disable_container_interface: bool,
    /// Isolated bridge ports.
    pub port_isolation: bool,
    /// The container interface's MAC.
    pub mac: Option<String>,
}

/// What ADD made, kept for DEL, CHECK and GC.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The bridge.
    pub bridge: String,
    /// Host side of the veth.
    pub host_if: String,
    /// Subnets of the attachment's addresses (for the firewall's sets).
    #[serde(with = "super::nets")]
    pub subnets: Vec<IpNet>,
    /// Masquerade on.
    pub masq: bool,
    /// The bridge holds the gateway (forwarding needed).
    pub gateway: bool,
    /// A delegated IPAM plugin's type, if IPAM ran outside.
    pub delegated: Option<String>,
}

impl Record {
    fn rules(&self) -> NetworkRules {
        NetworkRules {
            bridge: self.bridge.clone(),
            subnets: self.subnets.clone(),
            internal: false,
            masquerade: self.masq,
        }
    }
}

const PLUGIN: &str = "bridge";

fn config(ctx: &Ctx) -> Result<BridgeConf, CniError> {
    let c: BridgeConf = ctx.conf.plugin()?;
    let unsupported = |key: &str, why: &str| {
        Err(CniError::new(
            code::UNSUPPORTED_FIELD,
            format!("unsupported field {key}: {why}"),
        ))
    };
    // Code 2's message names the key and its value.
    if let Some(v) = c.vlan.filter(|v| *v != 0) {
        return unsupported(&format!("vlan={v}"), "warren-bridge does not tag VLANs");
    }
    if let Some(t) = &c.vlan_trunk {
        return unsupported(
            &format!("vlanTrunk={t}"),
            "warren-bridge does not tag VLANs",
        );
    }
    if c.macspoofchk {
        return unsupported("macspoofchk=true", "warren-bridge has no MAC spoof check");
    }
    if c.hairpin_mode && c.promisc_mode {
        return Err(CniError::new(
            code::INVALID_CONFIG,
            "invalid config: hairpinMode and promiscMode cannot both be true",
        ));
    }
    if let Some(b) = &c.bridge {
        warren_kernel::link::validate_ifname(b).map_err(|e| {
            CniError::new(code::INVALID_CONFIG, format!("invalid bridge {b:?}: {e}"))
        })?;
    }
    if let Some(m) = c.mtu
        && !(68..=65535).contains(&m)
    {
        return Err(CniError::new(
            code::INVALID_CONFIG,
            format!("invalid mtu {m}: must be 68 to 65535"),
        ));
    }
    if c.disable_container_interface && ipam::ipam_type(ctx).is_some() {
        return Err(CniError::new(
            code::INVALID_CONFIG,
            "invalid config: disableContainerInterface cannot be used with IPAM",
        ));
    }
    Ok(c)
}

/// `warren-bridge`.
pub fn run(ctx: &mut Ctx, cmd: Command) -> Answer {
    let ctx = &*ctx;
    match cmd {
        Command::Add => add(ctx).map(Some),
        Command::Del => del(ctx).map(|()| None),
        Command::Check => check(ctx).map(|()| None),
        Command::Gc => gc(ctx),
        Command::Status => {
            config(ctx)?;
            status_store(ctx)?;
            if let Some(t) = ipam::delegated_type(ctx) {
                ipam::delegate(ctx, &t, Command::Status)?;
            }
            Ok(None)
        }
        Command::Version => Ok(None),
    }
}

/// Routes to give the container: default routes via the gateways (`isDefaultGateway`),
/// then IPAM's routes (their gateway defaulting to the address's of the same family).
pub(crate) fn routes(leases: &Leases, default_gw: bool) -> Vec<RouteTo> {
    let gw_of = |v4: bool| {
        leases
            .ips
            .iter()
            .find(|(a, g)| a.addr.is_ipv4() == v4 && g.is_some())
            .and_then(|(_, g)| *g)
    };
    let mut out: Vec<RouteTo> = Vec::new();
    if default_gw {
        for v4 in [true, false] {
            if let Some(gw) = gw_of(v4) {
                let dst = if v4 { "0.0.0.0/0" } else { "::/0" };
                out.push(RouteTo {
                    dst: dst.parse().expect("default route"),
                    gw: Some(gw),
                });
            }
        }
    }
    for r in &leases.routes {
        let gw = r.gw.or_else(|| gw_of(r.dst.addr.is_ipv4()));
        let route = RouteTo { dst: r.dst, gw };
        if !out.iter().any(|o| o.dst == route.dst) {
            out.push(route);
        }
    }
    out
}

/// The result's routes.
pub(crate) fn result_routes(routes: &[RouteTo]) -> Vec<Route> {
    routes
        .iter()
        .map(|r| Route {
            dst: r.dst,
            gw: r.gw,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        })
        .collect()
}

fn add(ctx: &Ctx) -> Result<CniResult, CniError> {
    warren_engine::failpoint("cni-bridge-add");
    let conf = config(ctx)?;
    let bridge = conf.bridge.clone().unwrap_or_else(|| "cni0".into());
    let is_gateway = conf.is_gateway || conf.is_default_gateway;
    let inner = ctx.open_netns()?;
    let ifname = ctx.env.ifname.clone();
    super::ensure_ifname_free(ctx, &inner, &ifname)?;
    let mac = ctx.requested_mac(conf.mac.as_deref())?;
    let host_if = host_ifname("wc", ctx.network(), &ctx.env.container_id, &ifname);
    let in_process = ipam::in_process(ctx)?;
    let delegated = ipam::delegated_type(ctx);

    // The record of this attachment once its addresses are known.
    let record_of = |leases: &Leases| Record {
        bridge: bridge.clone(),
        host_if: host_if.clone(),
        subnets: leases.ips.iter().map(|(a, _)| a.network()).collect(),
        masq: conf.ip_masq,
        gateway: is_gateway,
        delegated: delegated.clone(),
    };

    warren_engine::failpoint("cni-netns-open");
    // The store first: the record and (in process) the addresses, in one transaction.
    let (mut leases, first) = ctx.engine()?.store().write(|tx| {
        // The network's first attachment switches forwarding on (later ones find it on).
        let first = warren_store::cni_record_count(tx, ctx.network(), PLUGIN)? == 0;
        if warren_store::cni_record_get(tx, ctx.network(), &ctx.env.container_id, &ifname, PLUGIN)?
            .is_some()
        {
            return Err(internal(format!(
                "container {} already has {ifname} on network {}: DEL it first",
                ctx.env.container_id,
                ctx.network()
            )));
        }
        let leases = match &in_process {
            Some(c) => ipam::allocate(tx, ctx, c)?,
            None => Leases::default(),
        };
        warren_store::cni_record_put(tx, &record(ctx, &record_of(&leases))?)?;
        Ok::<_, CniError>((leases, first))
    })?;
    if let Some(t) = &delegated {
        match ipam::delegate(ctx, t, Command::Add) {
            Ok(Some(r)) => {
                leases = Leases::from_result(&r);
                let net = ctx.network().to_owned();
                let cid = ctx.env.container_id.clone();
                let r2 = record(ctx, &record_of(&leases))?;
                ctx.engine()?.store().write(|tx| {
                    warren_store::cni_record_delete(tx, &net, &cid, &ifname, PLUGIN)?;
                    warren_store::cni_record_put(tx, &r2)?;
                    Ok::<_, CniError>(())
                })?;
            }
            Ok(None) => {}
            Err(e) => {
                forget(ctx);
                return Err(e);
            }
        }
    }

    warren_engine::failpoint("cni-stored");
    let routes = routes(&leases, conf.is_default_gateway);
    let wired = (|| -> Result<(), CniError> {
        let gateways: Vec<IpNet> = if is_gateway {
            leases
                .ips
                .iter()
                .filter_map(|(a, gw)| gw.map(|g| IpNet::new(g, a.prefix)))
                .collect::<Result<_, _>>()?
        } else {
            vec![]
        };
        let mut eng = ctx.engine()?;
        attach::ensure_bridge(
            eng.host(),
            &BridgeSpec {
                name: bridge.clone(),
                mtu: conf.mtu,
                gateways,
                promisc: conf.promisc_mode,
            },
        )?;
        warren_engine::failpoint("cni-bridge-ready");
        attach::add_veth(
            eng.host(),
            &inner,
            &VethSpec {
                host_if: host_if.clone(),
                ifname: ifname.clone(),
                bridge: Some(bridge.clone()),
                mtu: conf.mtu,
                mac,
                hairpin: conf.hairpin_mode,
                isolated: conf.port_isolation,
            },
        )?;
        warren_engine::failpoint("cni-veth");
        if conf.disable_container_interface {
            inner.link_set_down(&ifname)?;
        } else {
            let addrs: Vec<IpNet> = leases.ips.iter().map(|(a, _)| *a).collect();
            super::arp_notify(&inner, &ifname, &addrs)?;
            attach::configure(&inner, &ifname, &addrs, &routes, conf.enabledad)?;
        }
        warren_engine::failpoint("cni-configured");
        if !leases.ips.is_empty() {
            eng.fw_add_rules(&record_of(&leases).rules())?;
        }
        if is_gateway && first {
            eng.forwarding_update()?;
        }
        Ok(())
    })();
    if let Err(e) = wired {
        if let Ok(eng) = ctx.engine() {
            let _ = attach::delete_host_link(eng.host(), &host_if);
        }
        forget(ctx);
        return Err(e);
    }

    warren_engine::failpoint("cni-wired");
    let eng = ctx.engine()?;
    let sandbox = ctx.netns_str();
    let interfaces = vec![
        Interface {
            name: bridge.clone(),
            mac: mac_of(eng.host(), &bridge),
            ..Interface::default()
        },
        Interface {
            name: host_if.clone(),
            mac: mac_of(eng.host(), &host_if),
            ..Interface::default()
        },
        Interface {
            name: ifname.clone(),
            mac: mac_of(&inner, &ifname),
            sandbox,
            ..Interface::default()
        },
    ];
    let ips = leases.result_ips(Some(2));
    let mut dns = leases.dns.clone();
    if let Some(d) = &ctx.conf.dns {
        dns = d.clone();
    }
    Ok(CniResult {
        interfaces,
        ips,
        routes: result_routes(&routes),
        dns,
    })
}

/// The store row for `rec`.
fn record(ctx: &Ctx, rec: &Record) -> Result<warren_store::CniRecord, CniError> {
    super::record_row(ctx, PLUGIN, rec)
}

/// Drop the record and addresses of a failed ADD (best effort: GC finds what is left).
fn forget(ctx: &Ctx) {
    if let Ok(mut eng) = ctx.engine() {
        let _ = eng.store().write(|tx| {
            warren_store::cni_record_delete(
                tx,
                ctx.network(),
                &ctx.env.container_id,
                &ctx.env.ifname,
                PLUGIN,
            )?;
            ipam::release(tx, ctx)
        });
    }
}

/// Undo one attachment from its record: the addresses, the veth (retired now, deleted off
/// DEL's path), and — when it was the network's last one — the network's firewall elements.
/// Goes on past errors.
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
        "wc",
        (cid, ifname),
        |r: &Record| r.host_if.clone(),
        errors,
    )?;
    let mut eng = ctx.engine()?;
    let Some(rec) = rec else { return Ok(()) };
    if remaining == 0 && !rec.subnets.is_empty() {
        if let Err(e) = eng.fw_remove_rules(&rec.rules()) {
            errors.push(e.into());
        }
        // An ADD on this network may have committed meanwhile: it added the elements
        // before we removed them, so put them back.
        let again = eng
            .store()
            .read(|tx| warren_store::cni_record_count(tx, &net, PLUGIN))?;
        if again > 0 {
            eng.fw_add_rules(&rec.rules())?;
        }
    }
    warren_engine::failpoint("cni-del-firewall");
    // Only the network's last attachment can end the need for forwarding.
    if rec.gateway
        && remaining == 0
        && let Err(e) = eng.forwarding_update()
    {
        errors.push(e.into());
    }
    Ok(())
}

fn del(ctx: &Ctx) -> Result<(), CniError> {
    let delegated = ipam::delegated_type(ctx);
    let mut errors = Vec::new();
    if let Err(e) = teardown(ctx, &ctx.env.container_id, &ctx.env.ifname, &mut errors) {
        errors.push(e);
    }
    if let Some(t) = delegated
        && let Err(e) = ipam::delegate(ctx, &t, Command::Del)
    {
        errors.push(e);
    }
    match errors.into_iter().next() {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

fn check(ctx: &Ctx) -> Result<(), CniError> {
    let conf = config(ctx)?;
    let prev = prev_result(ctx, "warren-bridge CHECK")?;
    let ifname = &ctx.env.ifname;
    let rec = ctx
        .engine()?
        .store()
        .read(|tx| {
            warren_store::cni_record_get(tx, ctx.network(), &ctx.env.container_id, ifname, PLUGIN)
        })?
        .ok_or_else(|| {
            internal(format!(
                "no attachment {}/{ifname} on network {}",
                ctx.env.container_id,
                ctx.network()
            ))
        })?;
    let rec: Record = serde_json::from_str(&rec.data).map_err(internal)?;
    let inner = ctx.open_netns()?;
    let link = inner
        .link_get(ifname)
        .map_err(|e| internal(format!("{ifname} in {}: {e}", inner.ns().label())))?;
    let eng = ctx.engine()?;
    let host = eng
        .host()
        .link_get(&rec.host_if)
        .map_err(|e| internal(format!("host side {}: {e}", rec.host_if)))?;
    let br = eng
        .host()
        .link_get(&rec.bridge)
        .map_err(|e| internal(format!("bridge {}: {e}", rec.bridge)))?;
    if host.master != Some(br.index) {
        return Err(internal(format!(
            "{} is not a port of bridge {}",
            rec.host_if, rec.bridge
        )));
    }
    if let Some(m) = prev
        .interfaces
        .iter()
        .find(|i| i.name == *ifname && i.sandbox.is_some())
        .and_then(|i| i.mac.clone())
        && link.mac_string().as_deref() != Some(m.as_str())
    {
        return Err(internal(format!(
            "{ifname} has MAC {} not {m}",
            link.mac_string().unwrap_or_default()
        )));
    }
    if !conf.disable_container_interface {
        let have = inner.addrs(Some(link.index))?;
        for ip in &prev.ips {
            if !have.iter().any(|a| a.net() == ip.address) {
                return Err(internal(format!(
                    "{ifname} in {} lacks {}/{}",
                    inner.ns().label(),
                    ip.address.addr,
                    ip.address.prefix
                )));
            }
        }
    }
    drop(eng);
    if ipam::in_process(ctx)?.is_some() {
        let held = ctx.engine()?.store().read(|tx| {
            warren_store::cni_leases(tx, ctx.network(), &ctx.env.container_id, ifname)
        })?;
        for ip in &prev.ips {
            if !held.iter().any(|l| l.ip == ip.address.addr) {
                return Err(internal(format!(
                    "{} is not held for {}/{ifname}",
                    ip.address.addr, ctx.env.container_id
                )));
            }
        }
    } else if let Some(t) = ipam::ipam_type(ctx) {
        ipam::delegate(ctx, &t, Command::Check)?;
    }
    Ok(())
}

fn gc(ctx: &Ctx) -> Answer {
    let valid = gc_valid(ctx);
    let net = ctx.network().to_owned();
    let mut errors = Vec::new();
    let mut failed = super::gc_records(ctx, PLUGIN, |r| {
        teardown(ctx, &r.container_id, &r.ifname, &mut errors)
    });
    errors.append(&mut failed);
    // Veths a deleter process did not get to.
    if let Err(e) = attach::reap_retired(ctx.engine()?.host()) {
        errors.push(e.into());
    }
    // Addresses without a record (a crash between the two): released too.
    let res = ctx.engine()?.store().write(|tx| {
        for (cid, ifname) in warren_store::cni_attachments(tx, &net)? {
            if !valid.iter().any(|(c, i)| *c == cid && *i == ifname) {
                warren_store::cni_release(tx, &net, &cid, &ifname)?;
            }
        }
        Ok::<_, CniError>(())
    });
    errors.extend(res.err());
    gc_result(errors)
}
