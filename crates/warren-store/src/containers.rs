//! Containers and pods, their endpoints and the addresses IPAM hands them.

use std::collections::HashMap;
use std::net::IpAddr;

use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{Error, Result, sql};
use crate::ipam::{next_free, reserved};
use crate::model::{Container, ContainerState, Endpoint, Kind, Network, NewContainer, NewEndpoint};
use crate::networks::{get_network, get_network_by_id, parse_ip};
use crate::ports::{insert_ports, ports_of};

fn corrupt(what: &'static str, value: &str) -> Error {
    Error::Corrupt {
        what,
        value: value.to_owned(),
        path: "warren.db".into(),
    }
}

/// Insert a container or pod in state `creating`: its name, endpoints (allocating their
/// addresses) and ports, all or nothing. Returns the record as [`get_container`] would read
/// it back.
pub fn insert_container(tx: &Transaction<'_>, new: &NewContainer) -> Result<Container> {
    if key_taken(tx, &new.name)? {
        return Err(Error::Exists {
            what: match new.kind {
                Kind::Container => "container",
                Kind::Pod => "pod",
            },
            name: new.name.clone(),
        });
    }
    let created = crate::now();
    tx.execute(
        "INSERT INTO containers (id, name, kind, netns, mode, pod, hostname, state, owner_pid,
                                 owner_start, spec, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'creating', ?8, ?9, ?10, ?11)",
        params![
            new.id,
            new.name,
            new.kind.as_str(),
            new.netns,
            new.mode,
            new.pod,
            new.hostname,
            new.owner_pid,
            i64::try_from(new.owner_start).unwrap_or(i64::MAX),
            new.spec.to_string(),
            created
        ],
    )
    .map_err(sql("insert container"))?;
    let mut endpoints = Vec::with_capacity(new.endpoints.len());
    for ep in &new.endpoints {
        endpoints.push(add_endpoint(tx, &new.id, ep)?);
    }
    insert_ports(tx, &new.id, &new.ports)?;
    // In the order the reads give them.
    endpoints.sort_by(|a, b| a.ifname.cmp(&b.ifname));
    let mut ports = new.ports.clone();
    ports.sort_by(|a, b| {
        (a.proto.as_str(), a.host_port, a.host_ip.stored()).cmp(&(
            b.proto.as_str(),
            b.host_port,
            b.host_ip.stored(),
        ))
    });
    Ok(Container {
        id: new.id.clone(),
        name: new.name.clone(),
        kind: new.kind,
        netns: new.netns.clone(),
        mode: new.mode.clone(),
        pod: new.pod.clone(),
        hostname: new.hostname.clone(),
        state: ContainerState::Creating,
        pid: None,
        pid_start: None,
        owner_pid: Some(new.owner_pid),
        owner_start: Some(new.owner_start),
        exit_code: None,
        spec: new.spec.clone(),
        created,
        endpoints,
        ports,
    })
}

/// Whether `key` would find an existing container or pod ([`find_container`]'s rules: a
/// name, an id, or a unique id prefix of at least 4 hex digits), so it cannot name a new one.
fn key_taken(tx: &Transaction<'_>, key: &str) -> Result<bool> {
    let count = |q: &str| -> Result<i64> {
        tx.prepare_cached(q)
            .and_then(|mut st| st.query_row([key], |r| r.get(0)))
            .map_err(sql("read container"))
    };
    if count("SELECT count(*) FROM containers WHERE name = ?1 OR id = ?1")? > 0 {
        return Ok(true);
    }
    Ok(may_be_id_prefix(key)
        && count("SELECT count(*) FROM containers WHERE id LIKE ?1 || '%'")? == 1)
}

/// Whether `key` can stand for a container by a prefix of its id: 4 hex digits or more.
fn may_be_id_prefix(key: &str) -> bool {
    key.len() >= 4 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Attach container `id` to a network: one endpoint, with an address from each subnet.
pub fn add_endpoint(tx: &Transaction<'_>, id: &str, ep: &NewEndpoint) -> Result<Endpoint> {
    let net = get_network(tx, &ep.network)?.ok_or_else(|| Error::NotFound {
        what: "network",
        name: ep.network.clone(),
    })?;
    let dup: Option<i64> = tx
        .query_row(
            "SELECT id FROM endpoints WHERE container_id = ?1 AND network_id = ?2",
            params![id, net.id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql("read endpoint"))?;
    if dup.is_some() {
        return Err(Error::Exists {
            what: "endpoint on network",
            name: net.name,
        });
    }
    tx.execute(
        "INSERT INTO endpoints (container_id, network_id, ifname, host_ifname, aliases)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            id,
            net.id,
            ep.ifname,
            ep.host_ifname,
            serde_json::to_string(&ep.aliases).unwrap_or_else(|_| "[]".into())
        ],
    )
    .map_err(sql("insert endpoint"))?;
    let eid = tx.last_insert_rowid();
    let addrs = allocate(tx, &net, eid, &ep.static_ips)?;
    Ok(Endpoint {
        id: eid,
        network: net.name,
        network_id: net.id,
        ifname: ep.ifname.clone(),
        host_ifname: ep.host_ifname.clone(),
        addrs,
        aliases: ep.aliases.clone(),
    })
}

fn allocate(
    tx: &Transaction<'_>,
    net: &Network,
    endpoint: i64,
    static_ips: &[IpAddr],
) -> Result<Vec<IpAddr>> {
    for ip in static_ips {
        if !net.subnets.iter().any(|s| s.net.contains(*ip)) {
            return Err(Error::AddressUnavailable {
                network: net.name.clone(),
                addr: ip.to_string(),
                reason: "is in none of its subnets",
            });
        }
    }
    // One indexed lookup per address asked about: the walk from the cursor nearly always
    // stops at the first, so allocating does not grow with the addresses in use.
    let in_use = |ip: IpAddr| -> Result<bool> {
        tx.prepare_cached("SELECT 1 FROM addresses WHERE network_id = ?1 AND addr = ?2")
            .and_then(|mut st| {
                st.query_row(params![net.id, ip.to_string()], |_| Ok(()))
                    .optional()
            })
            .map(|found| found.is_some())
            .map_err(sql("read addresses"))
    };
    let mut out = Vec::new();
    for (seq, s) in net.subnets.iter().enumerate() {
        let res = reserved(s.net, s.gateway);
        let ip = if let Some(ip) = static_ips.iter().find(|ip| s.net.contains(**ip)) {
            if res.contains(ip) {
                return Err(Error::AddressUnavailable {
                    network: net.name.clone(),
                    addr: ip.to_string(),
                    reason: "is reserved (network, gateway or broadcast address)",
                });
            }
            if in_use(*ip)? {
                return Err(Error::AddressUnavailable {
                    network: net.name.clone(),
                    addr: ip.to_string(),
                    reason: "is already in use",
                });
            }
            *ip
        } else {
            let cursor: Option<String> = tx
                .query_row(
                    "SELECT cursor FROM subnets WHERE network_id = ?1 AND seq = ?2",
                    params![net.id, seq],
                    |r| r.get(0),
                )
                .map_err(sql("read cursor"))?;
            let after = cursor.as_deref().map(parse_ip).transpose()?;
            let range = s.range.unwrap_or(s.net);
            let ip = next_free(range, after, |ip| Ok(res.contains(&ip) || in_use(ip)?))?
                .ok_or_else(|| Error::Exhausted {
                    network: net.name.clone(),
                    range: range.to_string(),
                })?;
            tx.execute(
                "UPDATE subnets SET cursor = ?1 WHERE network_id = ?2 AND seq = ?3",
                params![ip.to_string(), net.id, seq],
            )
            .map_err(sql("write cursor"))?;
            ip
        };
        tx.execute(
            "INSERT INTO addresses (network_id, addr, endpoint_id) VALUES (?1, ?2, ?3)",
            params![net.id, ip.to_string(), endpoint],
        )
        .map_err(sql("insert address"))?;
        out.push(ip);
    }
    Ok(out)
}

/// Detach container `id` from network `network`, releasing its addresses.
pub fn remove_endpoint(tx: &Transaction<'_>, id: &str, network: &str) -> Result<()> {
    let n = tx
        .execute(
            "DELETE FROM endpoints WHERE container_id = ?1
             AND network_id = (SELECT id FROM networks WHERE name = ?2)",
            params![id, network],
        )
        .map_err(sql("delete endpoint"))?;
    if n == 0 {
        return Err(Error::NotFound {
            what: "endpoint on network",
            name: network.to_owned(),
        });
    }
    Ok(())
}

fn endpoints_of(tx: &Transaction<'_>, id: &str) -> Result<Vec<Endpoint>> {
    let mut st = tx
        .prepare_cached(
            "SELECT id, network_id, ifname, host_ifname, aliases FROM endpoints
             WHERE container_id = ?1 ORDER BY ifname",
        )
        .map_err(sql("read endpoints"))?;
    let rows: Vec<(i64, i64, String, Option<String>, String)> = st
        .query_map([id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .map_err(sql("read endpoints"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql("read endpoints"))?;
    let mut out = Vec::new();
    for (eid, nid, ifname, host_ifname, aliases) in rows {
        let net =
            get_network_by_id(tx, nid)?.ok_or_else(|| corrupt("network id", &nid.to_string()))?;
        let mut addrs = Vec::new();
        {
            let mut st = tx
                .prepare_cached("SELECT addr FROM addresses WHERE endpoint_id = ?1")
                .map_err(sql("read addresses"))?;
            let rows: Vec<String> = st
                .query_map([eid], |r| r.get(0))
                .map_err(sql("read addresses"))?
                .collect::<rusqlite::Result<_>>()
                .map_err(sql("read addresses"))?;
            for s in rows {
                addrs.push(parse_ip(&s)?);
            }
        }
        out.push(endpoint(&net, (eid, ifname, host_ifname), addrs, &aliases)?);
    }
    Ok(out)
}

/// An endpoint from its row (id, interface, host interface), its addresses (put in the
/// network's subnet order) and its aliases as stored (JSON).
fn endpoint(
    net: &Network,
    (id, ifname, host_ifname): (i64, String, Option<String>),
    mut addrs: Vec<IpAddr>,
    aliases: &str,
) -> Result<Endpoint> {
    addrs.sort_by_key(|a| net.subnets.iter().position(|s| s.net.contains(*a)));
    Ok(Endpoint {
        id,
        network: net.name.clone(),
        network_id: net.id,
        ifname,
        host_ifname,
        addrs,
        aliases: serde_json::from_str(aliases).map_err(|_| corrupt("aliases", aliases))?,
    })
}

const COLS: &str = "id, name, kind, netns, mode, pod, hostname, state, pid, pid_start, owner_pid,
                    owner_start, exit_code, spec, created";

type Row = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<i32>,
    Option<i64>,
    Option<i32>,
    Option<i64>,
    Option<i32>,
    String,
    i64,
);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
        r.get(14)?,
    ))
}

fn build(tx: &Transaction<'_>, r: Row) -> Result<Container> {
    let id = r.0.clone();
    let mut c = build_bare(r)?;
    c.endpoints = endpoints_of(tx, &id)?;
    c.ports = ports_of(tx, &id)?;
    Ok(c)
}

/// A container from its row alone (no endpoints, no ports yet).
fn build_bare(r: Row) -> Result<Container> {
    let (
        id,
        name,
        kind,
        netns,
        mode,
        pod,
        hostname,
        state,
        pid,
        pid_start,
        owner_pid,
        owner_start,
        exit_code,
        spec,
        created,
    ) = r;
    let num = |s: Option<i64>| -> Result<Option<u64>> {
        s.map(|s| u64::try_from(s).map_err(|_| corrupt("start time", &s.to_string())))
            .transpose()
    };
    Ok(Container {
        endpoints: Vec::new(),
        ports: Vec::new(),
        kind: Kind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        state: ContainerState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        spec: serde_json::from_str(&spec).map_err(|_| corrupt("spec", &spec))?,
        pid_start: num(pid_start)?,
        owner_start: num(owner_start)?,
        id,
        name,
        netns,
        mode,
        pod,
        hostname,
        pid,
        owner_pid,
        exit_code,
        created,
    })
}

/// The container or pod with this id, or this name, or whose id starts with it (unique
/// prefix, at least 4 hex digits).
pub fn find_container(tx: &Transaction<'_>, key: &str) -> Result<Option<Container>> {
    let by = |sql_where: &str, arg: &str| rows_where(tx, sql_where, arg, "read container");
    let mut rows = by("name = ?1", key)?;
    if rows.is_empty() {
        rows = by("id = ?1", key)?;
    }
    if rows.is_empty() && may_be_id_prefix(key) {
        rows = by("id LIKE ?1 || '%'", key)?;
        if rows.len() > 1 {
            return Ok(None);
        }
    }
    rows.into_iter().next().map(|r| build(tx, r)).transpose()
}

/// Like [`find_container`], but a missing one is an error.
pub fn get_container(tx: &Transaction<'_>, key: &str) -> Result<Container> {
    find_container(tx, key)?.ok_or_else(|| Error::NotFound {
        what: "container",
        name: key.to_owned(),
    })
}

/// Every container and pod, oldest first: four queries whatever their number (rows are
/// grouped in memory), so listing stays cheap as containers pile up.
pub fn list_containers(tx: &Transaction<'_>) -> Result<Vec<Container>> {
    let rows: Vec<Row> = {
        let mut st = tx
            .prepare_cached(&format!(
                "SELECT {COLS} FROM containers ORDER BY created, rowid"
            ))
            .map_err(sql("list containers"))?;
        st.query_map([], row)
            .map_err(sql("list containers"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("list containers"))?
    };
    let nets: HashMap<i64, Network> = crate::networks::list_networks(tx)?
        .into_iter()
        .map(|n| (n.id, n))
        .collect();
    let mut addrs: HashMap<i64, Vec<IpAddr>> = HashMap::new();
    {
        let mut st = tx
            .prepare_cached("SELECT endpoint_id, addr FROM addresses")
            .map_err(sql("read addresses"))?;
        let all: Vec<(i64, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql("read addresses"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("read addresses"))?;
        for (eid, a) in all {
            addrs.entry(eid).or_default().push(parse_ip(&a)?);
        }
    }
    let mut eps: HashMap<String, Vec<Endpoint>> = HashMap::new();
    {
        let mut st = tx
            .prepare_cached(
                "SELECT container_id, id, network_id, ifname, host_ifname, aliases FROM endpoints
                 ORDER BY container_id, ifname",
            )
            .map_err(sql("read endpoints"))?;
        let all: Vec<(String, i64, i64, String, Option<String>, String)> = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(sql("read endpoints"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("read endpoints"))?;
        for (cid, eid, nid, ifname, host_ifname, aliases) in all {
            let net = nets
                .get(&nid)
                .ok_or_else(|| corrupt("network id", &nid.to_string()))?;
            let a = addrs.remove(&eid).unwrap_or_default();
            eps.entry(cid).or_default().push(endpoint(
                net,
                (eid, ifname, host_ifname),
                a,
                &aliases,
            )?);
        }
    }
    let mut ports: HashMap<String, Vec<crate::model::Port>> = HashMap::new();
    {
        let mut st = tx
            .prepare_cached(
                "SELECT container_id, host_ip, proto, host_port, port FROM ports
                 ORDER BY proto, host_port, host_ip",
            )
            .map_err(sql("read ports"))?;
        let all: Vec<(String, String, String, u16, u16)> = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(sql("read ports"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql("read ports"))?;
        for (cid, ip, proto, host_port, port) in all {
            let host_ip =
                crate::ports::HostIp::parse(&ip).ok_or_else(|| corrupt("host ip", &ip))?;
            ports.entry(cid).or_default().push(crate::model::Port {
                host_ip,
                proto,
                host_port,
                port,
            });
        }
    }
    rows.into_iter()
        .map(|r| {
            let id = r.0.clone();
            let mut c = build_bare(r)?;
            c.endpoints = eps.remove(&id).unwrap_or_default();
            c.ports = ports.remove(&id).unwrap_or_default();
            Ok(c)
        })
        .collect()
}

/// Mark container `id` running: its main process (if any) and the process now responsible.
pub fn set_running(
    tx: &Transaction<'_>,
    id: &str,
    pid: Option<(i32, u64)>,
    owner: Option<(i32, u64)>,
) -> Result<()> {
    tx.execute(
        "UPDATE containers SET state = 'running', pid = ?2, pid_start = ?3, owner_pid = ?4,
                owner_start = ?5, exit_code = NULL WHERE id = ?1",
        params![
            id,
            pid.map(|p| p.0),
            pid.map(|p| i64::try_from(p.1).unwrap_or(i64::MAX)),
            owner.map(|p| p.0),
            owner.map(|p| i64::try_from(p.1).unwrap_or(i64::MAX))
        ],
    )
    .map_err(sql("mark running"))?;
    Ok(())
}

/// Mark container `id` exited with `code`, releasing its endpoints, addresses and ports.
pub fn set_exited(tx: &Transaction<'_>, id: &str, code: Option<i32>) -> Result<()> {
    release(tx, id)?;
    tx.execute(
        "UPDATE containers SET state = 'exited', exit_code = ?2, pid = NULL, pid_start = NULL,
                owner_pid = NULL, owner_start = NULL WHERE id = ?1",
        params![id, code],
    )
    .map_err(sql("mark exited"))?;
    Ok(())
}

/// Release what container `id` holds: endpoints, addresses and ports.
pub fn release(tx: &Transaction<'_>, id: &str) -> Result<()> {
    tx.execute("DELETE FROM ports WHERE container_id = ?1", [id])
        .map_err(sql("release ports"))?;
    tx.execute("DELETE FROM endpoints WHERE container_id = ?1", [id])
        .map_err(sql("release endpoints"))?;
    Ok(())
}

/// Forget container `id` entirely.
pub fn delete_container(tx: &Transaction<'_>, id: &str) -> Result<()> {
    release(tx, id)?;
    tx.execute("UPDATE containers SET pod = NULL WHERE pod = ?1", [id])
        .map_err(sql("detach members"))?;
    tx.execute("DELETE FROM containers WHERE id = ?1", [id])
        .map_err(sql("delete container"))?;
    Ok(())
}

/// The members of pod `id` (containers whose `pod` is it), oldest first. Found through the
/// `pod` index, so the cost is the members', not every container's.
pub fn pod_members(tx: &Transaction<'_>, id: &str) -> Result<Vec<Container>> {
    rows_where(
        tx,
        "pod = ?1 ORDER BY created, rowid",
        id,
        "read pod members",
    )?
    .into_iter()
    .map(|r| build(tx, r))
    .collect()
}

/// The container rows `SELECT … WHERE {sql_where}` gives with `?1` bound to `arg`; `op`
/// names the read in errors.
fn rows_where(
    tx: &Transaction<'_>,
    sql_where: &str,
    arg: &str,
    op: &'static str,
) -> Result<Vec<Row>> {
    let mut st = tx
        .prepare_cached(&format!("SELECT {COLS} FROM containers WHERE {sql_where}"))
        .map_err(sql(op))?;
    st.query_map([arg], row)
        .map_err(sql(op))?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql(op))
}

/// A live container or pod that holds a network namespace file: what `warren pod create
/// --adopt-netns` checks a namespace against before adopting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsHolder {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The namespace file it runs in (its own, adopted, its pod's or the one it joined).
    pub netns: String,
    /// Its pod, if it is a member.
    pub pod: Option<String>,
    /// The engine's settings, as stored.
    pub spec: serde_json::Value,
}

/// Every container and pod not exited that has a namespace file, oldest first.
pub fn netns_holders(tx: &Transaction<'_>) -> Result<Vec<NetnsHolder>> {
    let mut st = tx
        .prepare_cached(
            "SELECT id, name, netns, pod, spec FROM containers
             WHERE netns IS NOT NULL AND state != 'exited' ORDER BY created, rowid",
        )
        .map_err(sql("list namespace holders"))?;
    st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?,
        ))
    })
    .map_err(sql("list namespace holders"))?
    .map(|r| {
        let (id, name, netns, pod, spec) = r.map_err(sql("list namespace holders"))?;
        Ok(NetnsHolder {
            id,
            name,
            netns,
            pod,
            spec: serde_json::from_str(&spec).unwrap_or_default(),
        })
    })
    .collect()
}

/// One live endpoint as the DNS server needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEndpoint {
    /// The container's (or pod's) id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Container or pod.
    pub kind: Kind,
    /// The network's row id.
    pub network_id: i64,
    /// Aliases on that network.
    pub aliases: Vec<String>,
    /// Its addresses there.
    pub addrs: Vec<IpAddr>,
    /// The container's own upstream servers (`--dns`), as stored.
    pub dns: Vec<String>,
}

/// `(pod id, member name)` of each live pod member.
pub type PodMembers = Vec<(String, String)>;

/// What the DNS server's config is made of, in three queries: every endpoint of a container
/// or pod that is not exited, and the live pod members.
pub fn dns_view(tx: &Transaction<'_>) -> Result<(Vec<DnsEndpoint>, PodMembers)> {
    dns_view_where(tx, None)
}

/// The part of [`dns_view`] that resolves to one container's or pod's addresses: its live
/// endpoints and, for a pod, its live members. An exited or unknown `id` has none. The same
/// three queries, each held to `id` by an index, so the cost does not grow with the number of
/// containers.
pub fn dns_view_of(tx: &Transaction<'_>, id: &str) -> Result<(Vec<DnsEndpoint>, PodMembers)> {
    dns_view_where(tx, Some(id))
}

fn dns_view_where(
    tx: &Transaction<'_>,
    owner: Option<&str>,
) -> Result<(Vec<DnsEndpoint>, PodMembers)> {
    let params: Vec<&dyn rusqlite::ToSql> = match &owner {
        Some(id) => vec![id],
        None => Vec::new(),
    };
    let mut addrs: HashMap<i64, Vec<IpAddr>> = HashMap::new();
    {
        let mut st = tx
            .prepare_cached(match owner {
                None => "SELECT endpoint_id, addr FROM addresses",
                Some(_) => {
                    "SELECT a.endpoint_id, a.addr FROM endpoints e
                     JOIN addresses a ON a.endpoint_id = e.id WHERE e.container_id = ?1"
                }
            })
            .map_err(sql("read addresses"))?;
        let mut rows = st.query(&params[..]).map_err(sql("read addresses"))?;
        while let Some(r) = rows.next().map_err(sql("read addresses"))? {
            let eid: i64 = r.get(0).map_err(sql("read addresses"))?;
            let a: String = r.get(1).map_err(sql("read addresses"))?;
            addrs.entry(eid).or_default().push(parse_ip(&a)?);
        }
    }
    let mut out = Vec::new();
    {
        let mut st = tx
            .prepare_cached(match owner {
                None => {
                    "SELECT c.id, c.name, c.kind, e.network_id, e.aliases, e.id,
                        COALESCE(json_extract(c.spec, '$.dns'), '[]')
                     FROM endpoints e JOIN containers c ON c.id = e.container_id
                     WHERE c.state != 'exited' ORDER BY c.created, c.rowid, e.ifname"
                }
                Some(_) => {
                    "SELECT c.id, c.name, c.kind, e.network_id, e.aliases, e.id,
                        COALESCE(json_extract(c.spec, '$.dns'), '[]')
                     FROM endpoints e JOIN containers c ON c.id = e.container_id
                     WHERE c.id = ?1 AND c.state != 'exited' ORDER BY e.ifname"
                }
            })
            .map_err(sql("read endpoints"))?;
        let mut rows = st.query(&params[..]).map_err(sql("read endpoints"))?;
        while let Some(r) = rows.next().map_err(sql("read endpoints"))? {
            let kind: String = r.get(2).map_err(sql("read endpoints"))?;
            let aliases: String = r.get(4).map_err(sql("read endpoints"))?;
            let eid: i64 = r.get(5).map_err(sql("read endpoints"))?;
            let dns: String = r.get(6).map_err(sql("read endpoints"))?;
            out.push(DnsEndpoint {
                id: r.get(0).map_err(sql("read endpoints"))?,
                name: r.get(1).map_err(sql("read endpoints"))?,
                kind: Kind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                network_id: r.get(3).map_err(sql("read endpoints"))?,
                aliases: serde_json::from_str(&aliases)
                    .map_err(|_| corrupt("aliases", &aliases))?,
                addrs: addrs.remove(&eid).unwrap_or_default(),
                dns: serde_json::from_str(&dns).map_err(|_| corrupt("dns", &dns))?,
            });
        }
    }
    let mut members = Vec::new();
    {
        let mut st = tx
            .prepare_cached(match owner {
                None => {
                    "SELECT pod, name FROM containers WHERE pod IS NOT NULL AND state != 'exited'
                     ORDER BY created, rowid"
                }
                Some(_) => {
                    "SELECT pod, name FROM containers WHERE pod = ?1 AND state != 'exited'
                     ORDER BY created, rowid"
                }
            })
            .map_err(sql("read pod members"))?;
        let mut rows = st.query(&params[..]).map_err(sql("read pod members"))?;
        while let Some(r) = rows.next().map_err(sql("read pod members"))? {
            members.push((
                r.get(0).map_err(sql("read pod members"))?,
                r.get(1).map_err(sql("read pod members"))?,
            ));
        }
    }
    Ok((out, members))
}

/// The networks in which some container or pod that is not exited has an address: those the
/// DNS server listens on (if they are bridges with a gateway). One probe per network, each
/// stopping at its first live address, so the cost does not grow with the containers.
pub fn networks_with_live_addresses(tx: &Transaction<'_>) -> Result<Vec<i64>> {
    let mut st = tx
        .prepare_cached(
            "SELECT n.id FROM networks n WHERE EXISTS (
                 SELECT 1 FROM addresses a
                 JOIN endpoints e ON e.id = a.endpoint_id
                 JOIN containers c ON c.id = e.container_id
                 WHERE a.network_id = n.id AND c.state != 'exited')
             ORDER BY n.id",
        )
        .map_err(sql("read networks in use"))?;
    st.query_map([], |r| r.get(0))
        .map_err(sql("read networks in use"))?
        .map(|r| r.map_err(sql("read networks in use")))
        .collect()
}
