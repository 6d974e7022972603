//! Address translation as warren's own nf_tables tables (`inet warren`, `inet warren-cni`)
//! do it, read from the kernel: published ports are elements of the DNAT maps, outbound
//! masquerade is the `masq4`/`masq6` interval sets (see `warren_kernel::nft::firewall`).

use std::net::IpAddr;

use warren_kernel::nft::dump::{DData, ELEM_INTERVAL_END, ElemInfo, TableInfo};

use crate::error::Result;
use crate::world::Ns;

/// The tables warren's engine and CNI plugins keep.
pub const WARREN_TABLES: [&str; 2] = ["warren", "warren-cni"];

/// Whether `t` is one of warren's own tables.
pub fn is_warren_table(t: &TableInfo) -> bool {
    t.family == INET && WARREN_TABLES.contains(&t.name.as_str())
}

/// `NFPROTO_INET`.
const INET: u8 = 1;

/// `table inet NAME` (or any family) as nft writes it.
pub fn describe(t: &TableInfo) -> String {
    format!("table {} {}", t.family_name(), t.name)
}

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// A concatenation component padded to 4 bytes, as set keys hold it.
fn padded(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

fn elements<'n>(ns: &'n Ns, table: &str, set: &str) -> Result<Option<&'n [ElemInfo]>> {
    Ok(ns
        .tables()
        .iter()
        .find(|t| t.family == INET && t.name == table)
        .and_then(|t| t.set(set))
        .map(|s| s.elements.as_slice()))
}

fn value(e: &ElemInfo) -> Option<&[u8]> {
    match &e.data {
        Some(DData::Value(v)) => Some(v),
        _ => None,
    }
}

fn is_end(e: &ElemInfo) -> bool {
    e.flags & ELEM_INTERVAL_END != 0
}

/// Decode a DNAT map value `addr . port`.
fn target(data: &[u8], v6: bool) -> Option<(IpAddr, u16)> {
    let n = if v6 { 16 } else { 4 };
    let addr = data.get(..n)?;
    let port = data.get(n..n + 2)?;
    let ip = if v6 {
        IpAddr::from(<[u8; 16]>::try_from(addr).ok()?)
    } else {
        IpAddr::from(<[u8; 4]>::try_from(addr).ok()?)
    };
    Some((ip, u16::from_be_bytes([port[0], port[1]])))
}

/// Where warren's DNAT sends `dst:port` of protocol `proto` in `ns`: the per-address map
/// first, then (for a local destination) the any-address map. Returns the new destination
/// and the table that holds the element.
pub fn dnat(ns: &Ns, dst: IpAddr, proto: u8, port: u16) -> Result<Option<(IpAddr, u16, String)>> {
    let v6 = dst.is_ipv6();
    let (any, per_addr) = if v6 {
        ("ports6", "ports6a")
    } else {
        ("ports4", "ports4a")
    };
    let pp = [padded(&[proto]), padded(&port.to_be_bytes())].concat();
    let key_a = [octets(dst), pp.clone()].concat();
    let local = ns.owner_of(dst)?.is_some();
    for table in WARREN_TABLES {
        for (set, key) in [(per_addr, &key_a), (any, &pp)] {
            if set == any && !local {
                continue;
            }
            let Some(elems) = elements(ns, table, set)? else {
                continue;
            };
            if let Some(t) = elems
                .iter()
                .find(|e| &e.key == key)
                .and_then(value)
                .and_then(|d| target(d, v6))
            {
                return Ok(Some((t.0, t.1, table.to_owned())));
            }
        }
    }
    Ok(None)
}

/// Whether `key` falls in an interval set given by its elements (start keys and exclusive
/// end keys).
pub fn in_intervals(elems: &[ElemInfo], key: &[u8]) -> bool {
    let mut best: Option<&ElemInfo> = None;
    for e in elems.iter().filter(|e| e.key.len() == key.len()) {
        if e.key.as_slice() > key {
            continue;
        }
        best = match best {
            None => Some(e),
            Some(b) if e.key > b.key || (e.key == b.key && !is_end(e)) => Some(e),
            keep => keep,
        };
    }
    best.is_some_and(|b| !is_end(b))
}

fn ifname_key(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.resize(16, 0);
    v
}

/// Whether warren's outbound masquerade in `ns` rewrites a packet from `src` to `dst`
/// leaving by `oif`: `ip saddr @masq4 ip daddr != @masq4 oifname != @bridges masquerade`.
/// Returns the table.
pub fn masquerades(ns: &Ns, src: IpAddr, dst: IpAddr, oif: Option<&str>) -> Result<Option<String>> {
    let set = if src.is_ipv6() { "masq6" } else { "masq4" };
    for table in WARREN_TABLES {
        let Some(masq) = elements(ns, table, set)? else {
            continue;
        };
        if !in_intervals(masq, &octets(src)) || in_intervals(masq, &octets(dst)) {
            continue;
        }
        let bridges = elements(ns, table, "bridges")?.unwrap_or_default();
        if oif.is_some_and(|o| bridges.iter().any(|b| b.key == ifname_key(o))) {
            continue;
        }
        return Ok(Some(table.to_owned()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(key: [u8; 4], end: bool) -> ElemInfo {
        ElemInfo {
            key: key.to_vec(),
            key_end: None,
            data: None,
            flags: u32::from(end),
        }
    }

    #[test]
    fn interval_membership() {
        // 10.0.0.0/24 and 10.0.1.0/24 adjacent, 192.168.0.0/16.
        let set = vec![
            el([192, 169, 0, 0], true),
            el([10, 0, 0, 0], false),
            el([10, 0, 1, 0], true),
            el([10, 0, 1, 0], false),
            el([10, 0, 2, 0], true),
            el([192, 168, 0, 0], false),
        ];
        for (ip, inside) in [
            ([10, 0, 0, 0], true),
            ([10, 0, 0, 255], true),
            ([10, 0, 1, 7], true),
            ([10, 0, 2, 0], false),
            ([9, 255, 255, 255], false),
            ([192, 168, 3, 4], true),
            ([192, 169, 0, 0], false),
        ] {
            assert_eq!(in_intervals(&set, &ip), inside, "{ip:?}");
        }
        assert!(!in_intervals(&[], &[10, 0, 0, 1]));
    }

    #[test]
    fn dnat_values_decode() {
        assert_eq!(
            target(&[10, 88, 0, 2, 0, 80, 0, 0], false),
            Some(("10.88.0.2".parse().unwrap(), 80))
        );
        assert_eq!(target(&[1, 2], false), None);
        assert_eq!(padded(&[6]), vec![6, 0, 0, 0]);
    }
}
