//! The CNI plugin's state: host-local style address leases, and per-plugin records of what was
//! made for an attachment (so DEL and GC can undo it without `prevResult`).
//!
//! An attachment is `(network, container_id, ifname)`, as CNI names it. Everything here runs
//! inside the caller's transaction ([`Store::write`](crate::Store::write)), which holds the
//! database's write lock: that is host-local's per-network lock file, for every network at once.

use std::net::IpAddr;

use rusqlite::{OptionalExtension, Transaction, params};
use warren_kernel::addr::IpNet;

use crate::error::{Error, Result, sql};
use crate::ipam::{next_free_in_runs, runs_overlap};
use crate::networks::parse_ip;

/// One host-local style range: addresses `start..=end` of `subnet`, the gateway excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CniRange {
    /// The subnet: network address and prefix.
    pub subnet: IpNet,
    /// The first address handed out.
    pub start: IpAddr,
    /// The last address handed out.
    pub end: IpAddr,
    /// The gateway, never handed out.
    pub gateway: Option<IpAddr>,
}

/// A set of ranges one address is taken from (host-local's inner list).
pub type CniRangeSet = Vec<CniRange>;

/// One address held by an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CniLease {
    /// The address.
    pub ip: IpAddr,
    /// Its range's subnet prefix length.
    pub prefix: u8,
    /// Its range's gateway.
    pub gateway: Option<IpAddr>,
    /// Which range set (index into the `sets` given to [`cni_allocate`]) it came from.
    pub range_set: usize,
}

/// What a plugin made for one attachment, in JSON of the plugin's choosing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniRecord {
    /// The CNI network name.
    pub network: String,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// The plugin (`bridge`, `portmap`, ...).
    pub plugin: String,
    /// `CNI_NETNS` at ADD, if any.
    pub netns: Option<String>,
    /// The plugin's data.
    pub data: String,
    /// Seconds since the epoch.
    pub created: i64,
}

fn invalid(field: &'static str, value: impl ToString, problem: String) -> Error {
    Error::InvalidRange {
        field,
        value: value.to_string(),
        problem,
    }
}

impl CniRange {
    /// A range with host-local's defaults: `start` is the subnet's first host (network + 1),
    /// `end` its last (IPv4: the broadcast address − 1; IPv6: the last address), `gateway`
    /// network + 1 (skipped when allocating, so the first address handed out is usually .2).
    /// The subnet must have no host bits set and at least two host addresses (IPv4 /30,
    /// IPv6 /126 at most); start, end and gateway must lie inside it, and start ≤ end.
    pub fn new(
        subnet: IpNet,
        start: Option<IpAddr>,
        end: Option<IpAddr>,
        gateway: Option<IpAddr>,
    ) -> Result<CniRange> {
        let network = subnet.network();
        if network.addr != subnet.addr {
            return Err(invalid(
                "subnet",
                subnet,
                format!("has host bits set (the network is {network})"),
            ));
        }
        if subnet.prefix > subnet.family().max_prefix() - 2 {
            return Err(invalid(
                "subnet",
                subnet,
                "is too small to allocate from".into(),
            ));
        }
        let inside = |field: &'static str, ip: IpAddr| {
            if subnet.contains(ip) {
                Ok(ip)
            } else {
                Err(invalid(field, ip, format!("is outside subnet {subnet}")))
            }
        };
        let first = subnet.nth(1).unwrap_or(subnet.addr);
        let last = match subnet.broadcast() {
            Some(b) => crate::ipam::prev(IpAddr::V4(b)),
            None => subnet.last(),
        };
        let start = start.map_or(Ok(first), |ip| inside("rangeStart", ip))?;
        let end = end.map_or(Ok(last), |ip| inside("rangeEnd", ip))?;
        let gateway = Some(gateway.map_or(Ok(first), |ip| inside("gateway", ip))?);
        if start > end {
            return Err(invalid(
                "rangeStart",
                start,
                format!("is after rangeEnd {end}"),
            ));
        }
        Ok(CniRange {
            subnet,
            start,
            end,
            gateway,
        })
    }

    /// Whether `ip` is in `start..=end`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        runs_overlap((ip, ip), (self.start, self.end))
    }

    /// The addresses of the range never handed out: the gateway and, for IPv4, the subnet's
    /// network and broadcast addresses.
    pub fn reserved(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self.gateway.into_iter().collect();
        if let Some(b) = self.subnet.broadcast() {
            v.push(self.subnet.addr);
            v.push(IpAddr::V4(b));
        }
        v
    }
}

/// `10.0.0.2-10.0.0.3, 10.0.1.2-10.0.1.9`.
fn describe(set: &[CniRange]) -> String {
    set.iter()
        .map(|r| format!("{}-{}", r.start, r.end))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuse empty sets, mixed families within a set and any two overlapping ranges.
fn check_sets(sets: &[CniRangeSet]) -> Result<()> {
    let all: Vec<&CniRange> = sets.iter().flatten().collect();
    for (i, set) in sets.iter().enumerate() {
        let Some(first) = set.first() else {
            return Err(invalid("ranges", i, "is an empty range set".into()));
        };
        if let Some(r) = set
            .iter()
            .find(|r| r.subnet.family() != first.subnet.family())
        {
            return Err(invalid(
                "ranges",
                describe(set),
                format!("mixes address families ({} and {})", first.subnet, r.subnet),
            ));
        }
    }
    for (i, a) in all.iter().enumerate() {
        if let Some(b) = all[i + 1..]
            .iter()
            .find(|b| runs_overlap((a.start, a.end), (b.start, b.end)))
        {
            return Err(invalid(
                "ranges",
                format!("{}-{}", a.start, a.end),
                format!("overlaps range {}-{}", b.start, b.end),
            ));
        }
    }
    Ok(())
}

fn lease_owner(
    tx: &Transaction<'_>,
    network: &str,
    ip: IpAddr,
) -> Result<Option<(String, String)>> {
    tx.prepare_cached("SELECT container_id, ifname FROM cni_leases WHERE network = ?1 AND ip = ?2")
        .and_then(|mut st| {
            st.query_row(params![network, ip.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .map_err(sql("read CNI lease"))
}

/// Give attachment `(network, container_id, ifname)` one address from each range set, in
/// order, as host-local does. A `requested` address goes to the set containing it (it must be
/// in one, free and not reserved; at most one per set); every other set hands out the next free
/// address after its cursor, walking its ranges round robin and skipping each range's gateway
/// and, for IPv4, the network and broadcast addresses. Refused: an attachment that already has
/// an address in the network, and range sets whose ranges overlap.
pub fn cni_allocate(
    tx: &Transaction<'_>,
    network: &str,
    container_id: &str,
    ifname: &str,
    sets: &[CniRangeSet],
    requested: &[IpAddr],
) -> Result<Vec<CniLease>> {
    check_sets(sets)?;
    if let Some(held) = cni_leases(tx, network, container_id, ifname)?.first() {
        return Err(Error::DuplicateAllocation {
            network: network.to_owned(),
            container_id: container_id.to_owned(),
            ifname: ifname.to_owned(),
            ip: held.ip.to_string(),
        });
    }
    let unavailable = |ip: &IpAddr, reason: &'static str| Error::AddressUnavailable {
        network: network.to_owned(),
        addr: ip.to_string(),
        reason,
    };
    // Which set each requested address goes to.
    let mut wanted: Vec<Option<IpAddr>> = vec![None; sets.len()];
    for ip in requested {
        let Some(i) = sets.iter().position(|s| s.iter().any(|r| r.contains(*ip))) else {
            return Err(unavailable(ip, "is in none of the configured ranges"));
        };
        if wanted[i].replace(*ip).is_some() {
            return Err(unavailable(
                ip,
                "is a second requested address for one range set",
            ));
        }
    }
    let mut out = Vec::with_capacity(sets.len());
    for (i, set) in sets.iter().enumerate() {
        let reserved: Vec<IpAddr> = set.iter().flat_map(CniRange::reserved).collect();
        let ip = if let Some(ip) = wanted[i] {
            if reserved.contains(&ip) {
                return Err(unavailable(
                    &ip,
                    "is reserved (gateway, network or broadcast address)",
                ));
            }
            if let Some((cid, ifn)) = lease_owner(tx, network, ip)? {
                return Err(Error::AddressTaken {
                    network: network.to_owned(),
                    ip: ip.to_string(),
                    container_id: cid,
                    ifname: ifn,
                });
            }
            ip
        } else {
            let cursor: Option<String> = tx
                .query_row(
                    "SELECT last FROM cni_cursors WHERE network = ?1 AND range_set = ?2",
                    params![network, i],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("read CNI cursor"))?;
            let after = cursor.as_deref().map(parse_ip).transpose()?;
            let runs: Vec<(IpAddr, IpAddr)> = set.iter().map(|r| (r.start, r.end)).collect();
            // One primary-key lookup per address tried: usually just the one after the cursor.
            let taken = |ip: IpAddr| {
                Ok::<_, Error>(reserved.contains(&ip) || lease_owner(tx, network, ip)?.is_some())
            };
            next_free_in_runs(&runs, after, taken)?.ok_or_else(|| Error::RangeSetExhausted {
                network: network.to_owned(),
                ranges: describe(set),
            })?
        };
        // The cursor follows every reservation, requested ones included, as in host-local.
        tx.execute(
            "INSERT INTO cni_cursors (network, range_set, last) VALUES (?1, ?2, ?3)
             ON CONFLICT(network, range_set) DO UPDATE SET last = excluded.last",
            params![network, i, ip.to_string()],
        )
        .map_err(sql("write CNI cursor"))?;
        let range = set.iter().find(|r| r.contains(ip)).unwrap_or(&set[0]);
        let lease = CniLease {
            ip,
            prefix: range.subnet.prefix,
            gateway: range.gateway,
            range_set: i,
        };
        tx.execute(
            "INSERT INTO cni_leases (network, ip, prefix, gateway, range_set, container_id, ifname)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                network,
                ip.to_string(),
                lease.prefix,
                lease.gateway.map(|g| g.to_string()),
                i,
                container_id,
                ifname
            ],
        )
        .map_err(sql("insert CNI lease"))?;
        out.push(lease);
    }
    Ok(out)
}

/// Release every address of attachment `(network, container_id, ifname)`, returning them.
/// Releasing an attachment with none is not an error.
pub fn cni_release(
    tx: &Transaction<'_>,
    network: &str,
    container_id: &str,
    ifname: &str,
) -> Result<Vec<IpAddr>> {
    let ips: Vec<IpAddr> = cni_leases(tx, network, container_id, ifname)?
        .into_iter()
        .map(|l| l.ip)
        .collect();
    tx.prepare_cached(
        "DELETE FROM cni_leases WHERE network = ?1 AND container_id = ?2 AND ifname = ?3",
    )
    .and_then(|mut st| st.execute(params![network, container_id, ifname]))
    .map_err(sql("delete CNI leases"))?;
    Ok(ips)
}

/// The addresses attachment `(network, container_id, ifname)` holds, by range set, as stored.
pub fn cni_leases(
    tx: &Transaction<'_>,
    network: &str,
    container_id: &str,
    ifname: &str,
) -> Result<Vec<CniLease>> {
    let mut st = tx
        .prepare_cached(
            "SELECT ip, prefix, gateway, range_set FROM cni_leases
             WHERE network = ?1 AND container_id = ?2 AND ifname = ?3 ORDER BY range_set",
        )
        .map_err(sql("read CNI leases"))?;
    let rows: Vec<(String, u8, Option<String>, usize)> = st
        .query_map(params![network, container_id, ifname], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .and_then(Iterator::collect)
        .map_err(sql("read CNI leases"))?;
    rows.into_iter()
        .map(|(ip, prefix, gw, range_set)| {
            Ok(CniLease {
                ip: parse_ip(&ip)?,
                prefix,
                gateway: gw.as_deref().map(parse_ip).transpose()?,
                range_set,
            })
        })
        .collect()
}

/// Who holds `ip` in `network`: `(container_id, ifname)`.
pub fn cni_ip_owner(
    tx: &Transaction<'_>,
    network: &str,
    ip: IpAddr,
) -> Result<Option<(String, String)>> {
    lease_owner(tx, network, ip)
}

const RECORD_COLUMNS: &str = "network, container_id, ifname, plugin, netns, data, created";

fn record_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CniRecord> {
    Ok(CniRecord {
        network: r.get(0)?,
        container_id: r.get(1)?,
        ifname: r.get(2)?,
        plugin: r.get(3)?,
        netns: r.get(4)?,
        data: r.get(5)?,
        created: r.get(6)?,
    })
}

/// Store what a plugin made for an attachment; refused if the plugin already has a record for
/// it.
pub fn cni_record_put(tx: &Transaction<'_>, rec: &CniRecord) -> Result<()> {
    if cni_record_get(
        tx,
        &rec.network,
        &rec.container_id,
        &rec.ifname,
        &rec.plugin,
    )?
    .is_some()
    {
        return Err(Error::Exists {
            what: "CNI record",
            name: format!(
                "{}/{}/{}/{}",
                rec.network, rec.container_id, rec.ifname, rec.plugin
            ),
        });
    }
    tx.execute(
        &format!("INSERT INTO cni_records ({RECORD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            rec.network,
            rec.container_id,
            rec.ifname,
            rec.plugin,
            rec.netns,
            rec.data,
            rec.created
        ],
    )
    .map_err(sql("insert CNI record"))?;
    Ok(())
}

/// The record `plugin` keeps for an attachment.
pub fn cni_record_get(
    tx: &Transaction<'_>,
    network: &str,
    container_id: &str,
    ifname: &str,
    plugin: &str,
) -> Result<Option<CniRecord>> {
    tx.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM cni_records
         WHERE network = ?1 AND container_id = ?2 AND ifname = ?3 AND plugin = ?4"
    ))
    .and_then(|mut st| {
        st.query_row(params![network, container_id, ifname, plugin], record_row)
            .optional()
    })
    .map_err(sql("read CNI record"))
}

/// Delete the record `plugin` keeps for an attachment, returning it (`None` if there was none).
pub fn cni_record_delete(
    tx: &Transaction<'_>,
    network: &str,
    container_id: &str,
    ifname: &str,
    plugin: &str,
) -> Result<Option<CniRecord>> {
    let rec = cni_record_get(tx, network, container_id, ifname, plugin)?;
    if rec.is_some() {
        tx.execute(
            "DELETE FROM cni_records
             WHERE network = ?1 AND container_id = ?2 AND ifname = ?3 AND plugin = ?4",
            params![network, container_id, ifname, plugin],
        )
        .map_err(sql("delete CNI record"))?;
    }
    Ok(rec)
}

/// Every record `plugin` keeps in `network`, by container id and interface.
pub fn cni_records(tx: &Transaction<'_>, network: &str, plugin: &str) -> Result<Vec<CniRecord>> {
    let mut st = tx
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM cni_records WHERE network = ?1 AND plugin = ?2
             ORDER BY container_id, ifname"
        ))
        .map_err(sql("read CNI records"))?;
    st.query_map(params![network, plugin], record_row)
        .and_then(Iterator::collect)
        .map_err(sql("read CNI records"))
}

/// How many records `plugin` keeps in `network`.
pub fn cni_record_count(tx: &Transaction<'_>, network: &str, plugin: &str) -> Result<usize> {
    tx.query_row(
        "SELECT count(*) FROM cni_records WHERE network = ?1 AND plugin = ?2",
        params![network, plugin],
        |r| r.get(0),
    )
    .map_err(sql("count CNI records"))
}

/// Every `(container_id, ifname)` with a lease or a record in `network`, sorted, for GC.
pub fn cni_attachments(tx: &Transaction<'_>, network: &str) -> Result<Vec<(String, String)>> {
    let mut st = tx
        .prepare_cached(
            "SELECT container_id, ifname FROM cni_leases WHERE network = ?1
             UNION SELECT container_id, ifname FROM cni_records WHERE network = ?1
             ORDER BY 1, 2",
        )
        .map_err(sql("read CNI attachments"))?;
    st.query_map([network], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .map_err(sql("read CNI attachments"))
}

/// Every network with a lease or a record, sorted. (Round-robin cursors outlive the leases and
/// do not count.)
pub fn cni_networks(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let mut st = tx
        .prepare_cached(
            "SELECT network FROM cni_leases UNION SELECT network FROM cni_records ORDER BY 1",
        )
        .map_err(sql("read CNI networks"))?;
    st.query_map([], |r| r.get(0))
        .and_then(Iterator::collect)
        .map_err(sql("read CNI networks"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Release and the duplicate check find an attachment's leases through the index, never by
    /// scanning the network's leases (host-local reads every file of the network on DEL).
    #[test]
    fn attachment_lookups_use_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::Store::open(dir.path()).unwrap();
        let plans = store
            .read(|tx| {
                let mut out = Vec::new();
                for q in [
                    "DELETE FROM cni_leases WHERE network = ?1 AND container_id = ?2 AND ifname = ?3",
                    "SELECT ip FROM cni_leases
                     WHERE network = ?1 AND container_id = ?2 AND ifname = ?3 ORDER BY range_set",
                ] {
                    let mut st = tx
                        .prepare(&format!("EXPLAIN QUERY PLAN {q}"))
                        .map_err(sql("explain"))?;
                    let rows: Vec<String> = st
                        .query_map(["n", "c", "eth0"], |r| r.get(3))
                        .and_then(Iterator::collect)
                        .map_err(sql("explain"))?;
                    out.push(rows.join("; "));
                }
                Ok::<_, Error>(out)
            })
            .unwrap();
        for plan in plans {
            assert!(
                plan.contains("USING INDEX cni_leases_by_attachment"),
                "{plan}"
            );
        }
    }
}
