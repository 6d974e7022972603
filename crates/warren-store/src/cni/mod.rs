//! The CNI plugin's state: host-local style address leases, and per-plugin records of what was
//! made for an attachment (so DEL and GC can undo it without `prevResult`).
//!
//! An attachment is `(network, container_id, ifname)`, as CNI names it. Everything here runs
//! inside the caller's transaction ([`Store::write`](crate::Store::write)), which holds the
//! database's write lock: that is host-local's per-network lock file, for every network at once.

use std::net::IpAddr;

use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{Error, Result, sql};
use crate::ipam::{next_free_in_runs, runs_overlap};
use crate::networks::parse_ip;

mod range;
mod records;

use range::invalid;
pub use range::{CniRange, CniRangeSet};

pub use records::{
    CniRecord, cni_record_count, cni_record_delete, cni_record_get, cni_record_put, cni_records,
};

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

/// Whether CNI attachments routed through the host hold IPv4 and IPv6 addresses: those
/// of `bridge` records whose bridge is the gateway (`"gateway": true` in the record) and of
/// `ptp` records. Forwarding stays on while one does.
pub fn cni_routed_families(tx: &Transaction<'_>) -> Result<(bool, bool)> {
    let mut st = tx
        .prepare_cached(
            "SELECT DISTINCT instr(l.ip, ':') > 0 FROM cni_leases l \
             JOIN cni_records r ON r.network = l.network AND r.container_id = l.container_id \
             AND r.ifname = l.ifname \
             WHERE r.plugin = 'ptp' OR (r.plugin = 'bridge' AND json_extract(r.data, '$.gateway'))",
        )
        .map_err(sql("read CNI address families"))?;
    let fams: Vec<bool> = st
        .query_map([], |r| r.get(0))
        .and_then(Iterator::collect)
        .map_err(sql("read CNI address families"))?;
    Ok((fams.contains(&false), fams.contains(&true)))
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
