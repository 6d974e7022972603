//! Address management: `warren-host-local` (host-local's config, warren's store), run in
//! the calling plugin's own process when a main plugin names it, or as its own binary; any
//! other IPAM type is delegated the CNI way (the binary found in `CNI_PATH`, the same
//! request and environment).
//!
//! Leases live in SQLite: taking one is a write transaction (no address twice, also under
//! concurrent ADDs), releasing one is an indexed delete (no scan of every lease), and a
//! lease whose container is gone is released by DEL or GC — never lost for good.

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command as Process, Stdio};

use serde::Deserialize;
use warren_kernel::addr::IpNet;
use warren_store::{CniLease, CniRange, CniRangeSet};

use super::{Answer, Ctx, from_value, gc_result, gc_valid, internal, status_store};
use crate::proto::{CniError, CniResult, Command, Dns, IpConfig, Route, code};

/// The IPAM type warren handles in process.
pub const IN_PROCESS: &str = "warren-host-local";

/// host-local's configuration (the `ipam` object).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HostLocalConf {
    /// The type (`warren-host-local`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Range sets: one address is taken from each.
    pub ranges: Option<Vec<Vec<RangeConf>>>,
    /// Legacy single range: subnet.
    pub subnet: Option<String>,
    /// Legacy single range: first address.
    pub range_start: Option<IpAddr>,
    /// Legacy single range: last address.
    pub range_end: Option<IpAddr>,
    /// Legacy single range: gateway.
    pub gateway: Option<IpAddr>,
    /// Routes to give the container.
    pub routes: Vec<RouteConf>,
    /// host-local's data directory: accepted for compatibility; warren's leases live in its
    /// store.
    pub data_dir: Option<String>,
    /// A resolv.conf whose nameservers, domain, search and options go into the result.
    pub resolv_conf: Option<String>,
}

/// One range of a range set.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RangeConf {
    /// The subnet, e.g. `10.22.0.0/16`.
    pub subnet: String,
    /// First address handed out.
    pub range_start: Option<IpAddr>,
    /// Last address handed out.
    pub range_end: Option<IpAddr>,
    /// The gateway (never handed out).
    pub gateway: Option<IpAddr>,
}

/// A route in the config.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RouteConf {
    /// Destination.
    pub dst: String,
    /// Next hop; the gateway of the address of the same family when absent.
    pub gw: Option<IpAddr>,
}

/// What IPAM gave: addresses (with their gateways), routes and DNS.
#[derive(Debug, Clone, Default)]
pub struct Leases {
    /// Addresses with their subnet's prefix, and the subnet's gateway.
    pub ips: Vec<(IpNet, Option<IpAddr>)>,
    /// Routes (gateway filled in when the config gave none).
    pub routes: Vec<Route>,
    /// DNS from `resolvConf`.
    pub dns: Dns,
}

impl Leases {
    /// As an IPAM result (no interfaces).
    pub fn to_result(&self) -> CniResult {
        CniResult {
            interfaces: vec![],
            ips: self.result_ips(None),
            routes: self.routes.clone(),
            dns: self.dns.clone(),
        }
    }

    /// The result's `ips`, each on the result's interface number `interface` (none in an
    /// IPAM plugin's own result).
    pub fn result_ips(&self, interface: Option<usize>) -> Vec<IpConfig> {
        self.ips
            .iter()
            .map(|(a, gw)| IpConfig {
                address: *a,
                gateway: *gw,
                interface,
            })
            .collect()
    }

    /// From an IPAM result (a delegated plugin's).
    pub fn from_result(r: &CniResult) -> Leases {
        Leases {
            ips: r.ips.iter().map(|i| (i.address, i.gateway)).collect(),
            routes: r.routes.clone(),
            dns: r.dns.clone(),
        }
    }
}

fn parse_subnet(s: &str, what: &str) -> Result<IpNet, CniError> {
    let net: IpNet = s
        .parse()
        .map_err(|e| CniError::new(code::INVALID_CONFIG, format!("invalid {what} {s:?}: {e}")))?;
    Ok(net.network())
}

/// The config's `ipam` object, if any (`{}` and absent both mean "no IPAM").
pub fn ipam_type(ctx: &Ctx) -> Option<String> {
    ctx.conf
        .ipam
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

impl HostLocalConf {
    /// Parse the request's `ipam`.
    pub fn of(ctx: &Ctx) -> Result<HostLocalConf, CniError> {
        let v = ctx
            .conf
            .ipam
            .as_ref()
            .ok_or_else(|| CniError::new(code::INVALID_CONFIG, "missing ipam config"))?;
        from_value(v, "ipam")
    }

    /// The range sets to allocate from: `runtimeConfig.ipRanges` (capability `ipRanges`),
    /// else `ranges`, else the legacy top-level range.
    pub fn range_sets(&self, ctx: &Ctx) -> Result<Vec<CniRangeSet>, CniError> {
        let from_runtime: Option<Vec<Vec<RangeConf>>> = ctx.conf.runtime("ipRanges")?;
        let confs = match (from_runtime, &self.ranges, &self.subnet) {
            (Some(r), _, _) if !r.is_empty() => r,
            (_, Some(r), _) => r.clone(),
            (_, None, Some(subnet)) => vec![vec![RangeConf {
                subnet: subnet.clone(),
                range_start: self.range_start,
                range_end: self.range_end,
                gateway: self.gateway,
            }]],
            _ => {
                return Err(CniError::new(
                    code::INVALID_CONFIG,
                    "invalid ipam config: no ranges (give ipam.ranges or ipam.subnet)",
                ));
            }
        };
        let mut sets = Vec::new();
        for (i, set) in confs.iter().enumerate() {
            if set.is_empty() {
                return Err(CniError::new(
                    code::INVALID_CONFIG,
                    format!("invalid ipam config: ipam.ranges[{i}] is empty"),
                ));
            }
            let mut ranges = Vec::new();
            for (j, r) in set.iter().enumerate() {
                let what = format!("ipam.ranges[{i}][{j}].subnet");
                let net = parse_subnet(&r.subnet, &what)?;
                let range =
                    CniRange::new(net, r.range_start, r.range_end, r.gateway).map_err(|e| {
                        CniError::new(
                            code::INVALID_CONFIG,
                            format!("invalid ipam.ranges[{i}][{j}]: {e}"),
                        )
                    })?;
                ranges.push(range);
            }
            sets.push(ranges);
        }
        Ok(sets)
    }

    /// Routes, checked.
    pub fn routes(&self) -> Result<Vec<(IpNet, Option<IpAddr>)>, CniError> {
        self.routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok((
                    parse_subnet(&r.dst, &format!("ipam.routes[{i}].dst"))?,
                    r.gw,
                ))
            })
            .collect()
    }

    /// DNS from `resolvConf`.
    pub fn dns(&self) -> Result<Dns, CniError> {
        let Some(path) = &self.resolv_conf else {
            return Ok(Dns::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            CniError::new(code::INVALID_CONFIG, format!("ipam.resolvConf {path}: {e}"))
        })?;
        let mut dns = Dns::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => dns.nameservers.extend(words.next().map(str::to_owned)),
                Some("domain") => dns.domain = words.next().map(str::to_owned),
                Some("search") => dns.search.extend(words.map(str::to_owned)),
                Some("options") => dns.options.extend(words.map(str::to_owned)),
                _ => {}
            }
        }
        Ok(dns)
    }
}

/// Addresses asked for by the runtime: `runtimeConfig.ips` (capability `ips`),
/// `args.cni.ips`, or `CNI_ARGS` `IP=` (comma separated). Prefixes are ignored.
pub fn requested_ips(ctx: &Ctx) -> Result<Vec<IpAddr>, CniError> {
    let parse = |s: &str, what: &str| -> Result<IpAddr, CniError> {
        let addr = s.split('/').next().unwrap_or(s);
        addr.parse().map_err(|_| {
            CniError::new(
                code::INVALID_CONFIG,
                format!("invalid {what} address {s:?}"),
            )
        })
    };
    if let Some(ips) = ctx.conf.runtime::<Vec<String>>("ips")? {
        return ips.iter().map(|s| parse(s, "runtimeConfig.ips")).collect();
    }
    if let Some(ips) = ctx
        .conf
        .args
        .as_ref()
        .and_then(|a| a.pointer("/cni/ips"))
        .and_then(|v| v.as_array())
    {
        return ips
            .iter()
            .map(|v| parse(v.as_str().unwrap_or_default(), "args.cni.ips"))
            .collect();
    }
    if let Some(ip) = ctx.env.args.get("IP") {
        return ip.split(',').map(|s| parse(s, "CNI_ARGS IP")).collect();
    }
    Ok(vec![])
}

/// Take this attachment's addresses inside the store transaction `tx`.
pub fn allocate(
    tx: &rusqlite::Transaction<'_>,
    ctx: &Ctx,
    conf: &HostLocalConf,
) -> Result<Leases, CniError> {
    let sets = conf.range_sets(ctx)?;
    let requested = requested_ips(ctx)?;
    let leases = warren_store::cni_allocate(
        tx,
        ctx.network(),
        &ctx.env.container_id,
        &ctx.env.ifname,
        &sets,
        &requested,
    )
    .map_err(internal)?;
    leases_result(&leases, conf)
}

fn leases_result(leases: &[CniLease], conf: &HostLocalConf) -> Result<Leases, CniError> {
    let ips: Vec<(IpNet, Option<IpAddr>)> = leases
        .iter()
        .map(|l| Ok((IpNet::new(l.ip, l.prefix).map_err(internal)?, l.gateway)))
        .collect::<Result<_, CniError>>()?;
    let routes = conf
        .routes()?
        .into_iter()
        .map(|(dst, gw)| Route {
            dst,
            gw,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        })
        .collect();
    Ok(Leases {
        ips,
        routes,
        dns: conf.dns()?,
    })
}

/// Release this attachment's addresses inside `tx` (nothing held is fine).
pub fn release(tx: &rusqlite::Transaction<'_>, ctx: &Ctx) -> Result<(), CniError> {
    warren_store::cni_release(tx, ctx.network(), &ctx.env.container_id, &ctx.env.ifname)
        .map_err(internal)?;
    Ok(())
}

/// Run a delegated IPAM plugin (`kind`, found in `CNI_PATH`) with this request.
pub fn delegate(ctx: &Ctx, kind: &str, command: Command) -> Result<Option<CniResult>, CniError> {
    let path = ctx
        .env
        .path
        .iter()
        .map(|d| d.join(kind))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CniError::new(
                code::INVALID_CONFIG,
                format!("failed to find plugin {kind:?} in CNI_PATH"),
            )
        })?;
    let mut child = Process::new(&path)
        .env("CNI_COMMAND", command.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| internal(format!("run IPAM plugin {}: {e}", path.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&ctx.raw);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| internal(format!("run IPAM plugin {}: {e}", path.display())))?;
    let v: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
    if !out.status.success() {
        let (code, msg) = v
            .as_ref()
            .map(|v| {
                (
                    v.get("code").and_then(|c| c.as_u64()).unwrap_or(999) as u32,
                    v.get("msg")
                        .and_then(|m| m.as_str())
                        .unwrap_or("")
                        .to_owned(),
                )
            })
            .unwrap_or((code::INTERNAL, String::from_utf8_lossy(&out.stdout).into()));
        return Err(CniError::new(code, format!("IPAM plugin {kind}: {msg}")));
    }
    if command != Command::Add {
        return Ok(None);
    }
    let v = v.ok_or_else(|| internal(format!("IPAM plugin {kind} printed no result")))?;
    CniResult::from_json(&v).map(Some)
}

/// The IPAM type a main plugin delegates to by exec: any type but [`IN_PROCESS`].
pub fn delegated_type(ctx: &Ctx) -> Option<String> {
    ipam_type(ctx).filter(|t| t != IN_PROCESS)
}

/// IPAM for a main plugin: in process for [`IN_PROCESS`] (inside `tx`), otherwise
/// nothing here (the caller delegates outside the transaction).
pub fn in_process(ctx: &Ctx) -> Result<Option<HostLocalConf>, CniError> {
    match ipam_type(ctx) {
        Some(t) if t == IN_PROCESS => Ok(Some(HostLocalConf::of(ctx)?)),
        _ => Ok(None),
    }
}

/// `warren-host-local` as its own plugin (called by a runtime or another main plugin).
pub fn run(ctx: &mut Ctx, cmd: Command) -> Answer {
    let ctx = &*ctx;
    match cmd {
        Command::Add => {
            let conf = HostLocalConf::of(ctx)?;
            let leases = ctx.engine()?.store().write(|tx| allocate(tx, ctx, &conf))?;
            Ok(Some(leases.to_result()))
        }
        Command::Del => {
            ctx.engine()?.store().write(|tx| release(tx, ctx))?;
            Ok(None)
        }
        Command::Check => {
            let held = ctx.engine()?.store().read(|tx| {
                warren_store::cni_leases(tx, ctx.network(), &ctx.env.container_id, &ctx.env.ifname)
                    .map_err(CniError::from)
            })?;
            if held.is_empty() {
                return Err(internal(format!(
                    "no addresses held for {}/{} in network {}",
                    ctx.env.container_id,
                    ctx.env.ifname,
                    ctx.network()
                )));
            }
            if let Some(prev) = &ctx.conf.prev_result {
                for ip in &prev.ips {
                    if !held.iter().any(|l| l.ip == ip.address.addr) {
                        return Err(internal(format!(
                            "{} is not held by {}/{}",
                            ip.address.addr, ctx.env.container_id, ctx.env.ifname
                        )));
                    }
                }
            }
            Ok(None)
        }
        Command::Gc => {
            let valid = gc_valid(ctx);
            let net = ctx.network().to_owned();
            let res = ctx.engine()?.store().write(|tx| {
                for (cid, ifname) in warren_store::cni_attachments(tx, &net)? {
                    if !valid.iter().any(|(c, i)| *c == cid && *i == ifname) {
                        warren_store::cni_release(tx, &net, &cid, &ifname)?;
                    }
                }
                Ok::<_, CniError>(())
            });
            gc_result(res.err().into_iter().collect())
        }
        Command::Status => {
            status_store(ctx)?;
            Ok(None)
        }
        Command::Version => Ok(None),
    }
}
