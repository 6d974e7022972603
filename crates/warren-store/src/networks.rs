//! Networks and their subnets.

use std::net::IpAddr;
use std::path::PathBuf;

use rusqlite::{OptionalExtension, Transaction, params};
use warren_kernel::addr::IpNet;

use crate::error::{Error, Result, sql};
use crate::ipam::overlaps;
use crate::model::{Network, NewNetwork, Subnet};

fn corrupt(what: &'static str, value: &str) -> Error {
    Error::Corrupt {
        what,
        value: value.to_owned(),
        path: PathBuf::from("warren.db"),
    }
}

pub(crate) fn parse_net(s: &str) -> Result<IpNet> {
    s.parse().map_err(|_| corrupt("subnet", s))
}

pub(crate) fn parse_ip(s: &str) -> Result<IpAddr> {
    s.parse().map_err(|_| corrupt("address", s))
}

/// Insert a network after checking its name and that none of its subnets overlaps another
/// network's. A bridge with no name given is named `wbr<ID>`.
pub fn insert_network(tx: &Transaction<'_>, new: &NewNetwork) -> Result<Network> {
    if get_network(tx, &new.name)?.is_some() {
        return Err(Error::Exists {
            what: "network",
            name: new.name.clone(),
        });
    }
    for other in list_networks(tx)? {
        for s in &new.subnets {
            if let Some(o) = other.subnets.iter().find(|o| overlaps(o.net, s.net)) {
                return Err(Error::Overlap {
                    subnet: s.net.to_string(),
                    other: o.net.to_string(),
                    network: other.name.clone(),
                });
            }
        }
    }
    let created = crate::now();
    // A placeholder iface keeps the UNIQUE constraint satisfied until the id is known.
    let placeholder = format!("pending-{}", new.name);
    tx.execute(
        "INSERT INTO networks (name, driver, iface, mode, mtu, internal, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            new.name,
            new.driver,
            new.iface.as_deref().unwrap_or(&placeholder),
            new.mode,
            new.mtu,
            new.internal,
            created
        ],
    )
    .map_err(sql("insert network"))?;
    let id = tx.last_insert_rowid();
    if new.iface.is_none() {
        tx.execute(
            "UPDATE networks SET iface = ?1 WHERE id = ?2",
            params![format!("wbr{id}"), id],
        )
        .map_err(sql("name bridge"))?;
    }
    for (seq, s) in new.subnets.iter().enumerate() {
        tx.execute(
            "INSERT INTO subnets (network_id, seq, subnet, gateway, ip_range) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                id,
                seq,
                s.net.to_string(),
                s.gateway.map(|g| g.to_string()),
                s.range.map(|r| r.to_string())
            ],
        )
        .map_err(sql("insert subnet"))?;
    }
    get_network(tx, &new.name)?.ok_or_else(|| Error::NotFound {
        what: "network",
        name: new.name.clone(),
    })
}

fn subnets_of(tx: &Transaction<'_>, id: i64) -> Result<Vec<Subnet>> {
    let mut st = tx
        .prepare_cached(
            "SELECT subnet, gateway, ip_range FROM subnets WHERE network_id = ?1 ORDER BY seq",
        )
        .map_err(sql("read subnets"))?;
    let rows = st
        .query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })
        .map_err(sql("read subnets"))?;
    let mut out = Vec::new();
    for row in rows {
        let (net, gw, range) = row.map_err(sql("read subnets"))?;
        out.push(Subnet {
            net: parse_net(&net)?,
            gateway: gw.as_deref().map(parse_ip).transpose()?,
            range: range.as_deref().map(parse_net).transpose()?,
        });
    }
    Ok(out)
}

type NetRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<u32>,
    bool,
    i64,
);

fn net_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NetRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn build(tx: &Transaction<'_>, row: NetRow) -> Result<Network> {
    let (id, name, driver, iface, mode, mtu, internal, created) = row;
    Ok(Network {
        id,
        name,
        driver,
        iface,
        mode,
        mtu,
        internal,
        subnets: subnets_of(tx, id)?,
        created,
    })
}

const COLS: &str = "id, name, driver, iface, mode, mtu, internal, created";

/// The network called `name`.
pub fn get_network(tx: &Transaction<'_>, name: &str) -> Result<Option<Network>> {
    let row = tx
        .query_row(
            &format!("SELECT {COLS} FROM networks WHERE name = ?1"),
            [name],
            net_row,
        )
        .optional()
        .map_err(sql("read network"))?;
    row.map(|r| build(tx, r)).transpose()
}

/// The network with row id `id`.
pub fn get_network_by_id(tx: &Transaction<'_>, id: i64) -> Result<Option<Network>> {
    let row = tx
        .query_row(
            &format!("SELECT {COLS} FROM networks WHERE id = ?1"),
            [id],
            net_row,
        )
        .optional()
        .map_err(sql("read network"))?;
    row.map(|r| build(tx, r)).transpose()
}

/// Every network, by name.
pub fn list_networks(tx: &Transaction<'_>) -> Result<Vec<Network>> {
    let mut st = tx
        .prepare_cached(&format!("SELECT {COLS} FROM networks ORDER BY name"))
        .map_err(sql("list networks"))?;
    let rows: Vec<NetRow> = st
        .query_map([], net_row)
        .map_err(sql("list networks"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql("list networks"))?;
    rows.into_iter().map(|r| build(tx, r)).collect()
}

/// Names of the containers and pods with an endpoint on network `id`.
pub fn network_users(tx: &Transaction<'_>, id: i64) -> Result<Vec<String>> {
    let mut st = tx
        .prepare_cached(
            "SELECT c.name FROM endpoints e JOIN containers c ON c.id = e.container_id
             WHERE e.network_id = ?1 ORDER BY c.name",
        )
        .map_err(sql("list network users"))?;
    st.query_map([id], |r| r.get(0))
        .map_err(sql("list network users"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql("list network users"))
}

/// Delete network `name` (its endpoints must be gone already).
pub fn delete_network(tx: &Transaction<'_>, name: &str) -> Result<()> {
    let Some(net) = get_network(tx, name)? else {
        return Err(Error::NotFound {
            what: "network",
            name: name.to_owned(),
        });
    };
    let users = network_users(tx, net.id)?;
    if !users.is_empty() {
        return Err(Error::InUse {
            network: name.to_owned(),
            users: users.join(", "),
        });
    }
    tx.execute("DELETE FROM networks WHERE id = ?1", [net.id])
        .map_err(sql("delete network"))?;
    Ok(())
}
