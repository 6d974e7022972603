//! `warren-portmap`: published ports as elements of the port maps in warren's nftables
//! table — one lookup per new connection however many ports are published, reachable on
//! every host address including `127.0.0.1` and `::1`, hairpin included, the client's
//! address kept for everyone but loopback and hairpin clients.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use warren_kernel::nft::{PortRule, Proto};

use super::{Answer, Ctx, gc_records, gc_result, internal, prev_result, record_row, status_store};
use crate::proto::{CniError, CniResult, Command, code};

const PLUGIN: &str = "portmap";

/// portmap's configuration (the reference plugin's keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PortmapConf {
    /// Translate loopback and hairpin clients' addresses (needed for them to work at all).
    pub snat: bool,
    /// iptables mark bit: accepted, warren uses no marks.
    pub mark_masq_bit: Option<u32>,
    /// iptables chain: accepted, warren uses no marks.
    pub external_set_mark_chain: Option<String>,
    /// iptables match conditions (not supported).
    pub conditions_v4: Option<Vec<String>>,
    /// iptables match conditions (not supported).
    pub conditions_v6: Option<Vec<String>>,
    /// Masquerade all published traffic (not supported: warren keeps the client's address).
    pub masq_all: bool,
    /// `iptables` or `nftables`: accepted, warren always speaks nftables.
    pub backend: Option<String>,
}

impl Default for PortmapConf {
    fn default() -> Self {
        PortmapConf {
            snat: true,
            mark_masq_bit: None,
            external_set_mark_chain: None,
            conditions_v4: None,
            conditions_v6: None,
            masq_all: false,
            backend: None,
        }
    }
}

/// One entry of `runtimeConfig.portMappings`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Host port.
    pub host_port: u32,
    /// Container port.
    pub container_port: u32,
    /// `tcp` (default), `udp` or `sctp`.
    #[serde(default)]
    pub protocol: String,
    /// Host address (all of the family's local addresses when empty).
    #[serde(default, rename = "hostIP")]
    pub host_ip: String,
}

/// What ADD published, kept for DEL and GC.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Record {
    ports: Vec<Port>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Port {
    host_ip: Option<IpAddr>,
    proto: String,
    host_port: u16,
    addr: IpAddr,
    port: u16,
}

fn proto_of(s: &str) -> Option<Proto> {
    match s.to_ascii_lowercase().as_str() {
        "" | "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        "sctp" => Some(Proto::Sctp),
        _ => None,
    }
}

impl Port {
    fn rule(&self) -> Option<PortRule> {
        Some(PortRule {
            host_ip: self.host_ip,
            proto: proto_of(&self.proto)?,
            host_port: self.host_port,
            addr: self.addr,
            port: self.port,
        })
    }
}

fn config(ctx: &Ctx) -> Result<PortmapConf, CniError> {
    let c: PortmapConf = ctx.conf.plugin()?;
    let unsupported = |key: &str, why: &str| {
        Err(CniError::new(
            code::UNSUPPORTED_FIELD,
            format!("unsupported field {key}: {why}"),
        ))
    };
    if !c.snat {
        return unsupported(
            "snat",
            "warren-portmap always translates loopback and hairpin clients (false is not supported)",
        );
    }
    if c.masq_all {
        return unsupported("masqAll", "warren-portmap keeps the client's address");
    }
    if c.conditions_v4.as_ref().is_some_and(|v| !v.is_empty())
        || c.conditions_v6.as_ref().is_some_and(|v| !v.is_empty())
    {
        return unsupported(
            "conditionsV4/conditionsV6",
            "iptables matches are not supported",
        );
    }
    Ok(c)
}

/// The mappings the runtime asked for, as rules towards the container's addresses (the
/// first of each family on an interface inside the sandbox).
fn wanted(ctx: &Ctx, prev: &CniResult) -> Result<Vec<Port>, CniError> {
    let maps: Vec<PortMapping> = ctx.conf.runtime("portMappings")?.unwrap_or_default();
    let target = |v4: bool| {
        prev.ips
            .iter()
            .filter(|ip| {
                ip.interface
                    .and_then(|i| prev.interfaces.get(i))
                    .is_none_or(|i| i.sandbox.as_deref().is_some_and(|s| !s.is_empty()))
            })
            .map(|ip| ip.address.addr)
            .find(|a| a.is_ipv4() == v4)
    };
    let mut out = Vec::new();
    for (i, m) in maps.iter().enumerate() {
        let bad = |why: String| {
            CniError::new(
                code::INVALID_CONFIG,
                format!("invalid runtimeConfig.portMappings[{i}]: {why}"),
            )
        };
        let port = |p: u32, what: &str| {
            u16::try_from(p)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(format!("{what} {p} is not 1 to 65535")))
        };
        let host_port = port(m.host_port, "hostPort")?;
        let cport = port(m.container_port, "containerPort")?;
        let proto = proto_of(&m.protocol)
            .ok_or_else(|| bad(format!("protocol {:?} is not tcp, udp or sctp", m.protocol)))?;
        let host_ip: Option<IpAddr> = if m.host_ip.is_empty() {
            None
        } else {
            Some(
                m.host_ip
                    .parse()
                    .map_err(|_| bad(format!("hostIP {:?} is not an address", m.host_ip)))?,
            )
        };
        let families: Vec<bool> = match host_ip {
            Some(h) if !h.is_unspecified() => vec![h.is_ipv4()],
            Some(h) => vec![h.is_ipv4()],
            None => vec![true, false],
        };
        let mut any = false;
        for v4 in families {
            if let Some(addr) = target(v4) {
                any = true;
                out.push(Port {
                    host_ip: host_ip.filter(|h| !h.is_unspecified()),
                    proto: proto.name().into(),
                    host_port,
                    addr,
                    port: cport,
                });
            }
        }
        if !any {
            return Err(bad(format!(
                "the container has no {} address to publish it to",
                match host_ip {
                    Some(h) if h.is_ipv4() => "IPv4",
                    Some(_) => "IPv6",
                    None => "IP",
                }
            )));
        }
    }
    Ok(out)
}

/// `warren-portmap`.
pub fn run(ctx: &mut Ctx, cmd: Command) -> Answer {
    let ctx = &*ctx;
    match cmd {
        Command::Add => {
            config(ctx)?;
            let prev = prev_result(ctx, "warren-portmap")?;
            let ports = wanted(ctx, &prev)?;
            if ports.is_empty() {
                return Ok(Some(prev));
            }
            let rules: Vec<PortRule> = ports.iter().filter_map(Port::rule).collect();
            let rec = record_row(ctx, PLUGIN, &Record { ports })?;
            let mut eng = ctx.engine()?;
            eng.store()
                .write(|tx| warren_store::cni_record_put(tx, &rec))
                .map_err(|e| internal(format!("{e} (DEL it first)")))?;
            if let Err(e) = eng.fw_publish(&rules) {
                let _ = eng.store().write(|tx| {
                    warren_store::cni_record_delete(
                        tx,
                        &rec.network,
                        &rec.container_id,
                        &rec.ifname,
                        PLUGIN,
                    )
                });
                return Err(e.into());
            }
            Ok(Some(prev))
        }
        Command::Del => {
            let (cid, ifname) = (ctx.env.container_id.clone(), ctx.env.ifname.clone());
            unpublish(ctx, &cid, &ifname).map(|()| None)
        }
        Command::Check => {
            config(ctx)?;
            let prev = prev_result(ctx, "warren-portmap CHECK")?;
            let want = wanted(ctx, &prev)?;
            let rec = ctx.engine()?.store().read(|tx| {
                warren_store::cni_record_get(
                    tx,
                    ctx.network(),
                    &ctx.env.container_id,
                    &ctx.env.ifname,
                    PLUGIN,
                )
            })?;
            let have: Record = match rec {
                Some(r) => serde_json::from_str(&r.data).map_err(internal)?,
                None => Record::default(),
            };
            for w in &want {
                if !have.ports.iter().any(|h| {
                    h.host_ip == w.host_ip
                        && h.proto == w.proto
                        && h.host_port == w.host_port
                        && h.addr == w.addr
                        && h.port == w.port
                }) {
                    return Err(internal(format!(
                        "port {}/{} to {}:{} is not published",
                        w.host_port, w.proto, w.addr, w.port
                    )));
                }
            }
            let rules: Vec<PortRule> = have.ports.iter().filter_map(Port::rule).collect();
            if !rules.is_empty() && !ctx.engine()?.fw_published(&rules)? {
                return Err(internal(
                    "published ports are missing from table inet warren-cni",
                ));
            }
            Ok(None)
        }
        Command::Gc => gc_result(gc_records(ctx, PLUGIN, |r| {
            unpublish(ctx, &r.container_id, &r.ifname)
        })),
        Command::Status => {
            config(ctx)?;
            status_store(ctx)?;
            Ok(None)
        }
        Command::Version => Ok(None),
    }
}

fn unpublish(ctx: &Ctx, cid: &str, ifname: &str) -> Result<(), CniError> {
    let mut eng = ctx.engine()?;
    warren_engine::failpoint("cni-portmap-engine");
    let rec = eng
        .store()
        .write(|tx| warren_store::cni_record_delete(tx, ctx.network(), cid, ifname, PLUGIN))?;
    let Some(rec) = rec else { return Ok(()) };
    let rec: Record = serde_json::from_str(&rec.data).map_err(internal)?;
    let rules: Vec<PortRule> = rec.ports.iter().filter_map(Port::rule).collect();
    warren_engine::failpoint("cni-portmap-unrecorded");
    eng.fw_unpublish(&rules)?;
    Ok(())
}
