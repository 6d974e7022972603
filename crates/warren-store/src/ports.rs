//! Published ports: which host address, and the rule that two publications never share a
//! host port.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rusqlite::{Transaction, params};
use serde::Serialize;

use crate::error::{Error, Result, sql};
use crate::model::Port;

/// The host address a port is published on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostIp {
    /// Every address, IPv4 and IPv6 (no host IP given).
    All,
    /// Every IPv4 address (`0.0.0.0`).
    Any4,
    /// Every IPv6 address (`::`).
    Any6,
    /// One address, e.g. `127.0.0.1`.
    Addr(IpAddr),
}

impl HostIp {
    /// From an optional address as given in `-p`: `0.0.0.0` and `::` mean "every address of
    /// that family".
    pub fn from_spec(ip: Option<IpAddr>) -> HostIp {
        match ip {
            None => HostIp::All,
            Some(IpAddr::V4(a)) if a.is_unspecified() => HostIp::Any4,
            Some(IpAddr::V6(a)) if a.is_unspecified() => HostIp::Any6,
            Some(a) => HostIp::Addr(a),
        }
    }

    /// The stored form: `""`, `0.0.0.0`, `::` or the address.
    pub fn stored(&self) -> String {
        match self {
            HostIp::All => String::new(),
            HostIp::Any4 => Ipv4Addr::UNSPECIFIED.to_string(),
            HostIp::Any6 => Ipv6Addr::UNSPECIFIED.to_string(),
            HostIp::Addr(a) => a.to_string(),
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<HostIp> {
        if s.is_empty() {
            return Some(HostIp::All);
        }
        s.parse().ok().map(|a| HostIp::from_spec(Some(a)))
    }

    /// Whether IPv4 (`v4`) or IPv6 traffic can reach it.
    pub fn covers_family(&self, v4: bool) -> bool {
        match self {
            HostIp::All => true,
            HostIp::Any4 => v4,
            HostIp::Any6 => !v4,
            HostIp::Addr(a) => a.is_ipv4() == v4,
        }
    }

    /// Whether two host addresses can receive the same packet.
    pub fn intersects(&self, other: &HostIp) -> bool {
        match (self, other) {
            (HostIp::Addr(a), HostIp::Addr(b)) => a == b,
            (HostIp::Addr(a), any) | (any, HostIp::Addr(a)) => any.covers_family(a.is_ipv4()),
            (a, b) => {
                a.covers_family(true) && b.covers_family(true)
                    || a.covers_family(false) && b.covers_family(false)
            }
        }
    }
}

impl fmt::Display for HostIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostIp::All => f.write_str("*"),
            HostIp::Addr(IpAddr::V6(a)) => write!(f, "[{a}]"),
            other => f.write_str(&other.stored()),
        }
    }
}

impl Serialize for HostIp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.stored())
    }
}

/// `host:port/proto` for messages.
pub fn describe(p: &Port) -> String {
    format!("{}:{}/{}", p.host_ip, p.host_port, p.proto)
}

/// Which of `wanted` collide with a port already published (by anyone), with the owner's name.
pub fn port_conflicts(tx: &Transaction<'_>, wanted: &[Port]) -> Result<Option<(Port, String)>> {
    let mut st = tx
        .prepare_cached(
            "SELECT p.host_ip, c.name FROM ports p JOIN containers c ON c.id = p.container_id
             WHERE p.proto = ?1 AND p.host_port = ?2",
        )
        .map_err(sql("read ports"))?;
    for (i, w) in wanted.iter().enumerate() {
        // Within the request itself, too.
        if wanted[..i].iter().any(|o| {
            o.proto == w.proto && o.host_port == w.host_port && o.host_ip.intersects(&w.host_ip)
        }) {
            return Ok(Some((w.clone(), "this request".to_owned())));
        }
        let rows = st
            .query_map(params![w.proto, w.host_port], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sql("read ports"))?;
        for row in rows {
            let (ip, owner) = row.map_err(sql("read ports"))?;
            if HostIp::parse(&ip).is_none_or(|h| h.intersects(&w.host_ip)) {
                return Ok(Some((w.clone(), owner)));
            }
        }
    }
    Ok(None)
}

/// Record `ports` for container `id`, refusing any that collide.
pub fn insert_ports(tx: &Transaction<'_>, id: &str, ports: &[Port]) -> Result<()> {
    if let Some((p, owner)) = port_conflicts(tx, ports)? {
        return Err(Error::PortTaken {
            spec: describe(&p),
            owner,
        });
    }
    for p in ports {
        tx.execute(
            "INSERT INTO ports (container_id, host_ip, proto, host_port, port) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, p.host_ip.stored(), p.proto, p.host_port, p.port],
        )
        .map_err(sql("insert port"))?;
    }
    Ok(())
}

/// The ports of container `id`.
pub fn ports_of(tx: &Transaction<'_>, id: &str) -> Result<Vec<Port>> {
    let mut st = tx
        .prepare_cached(
            "SELECT host_ip, proto, host_port, port FROM ports WHERE container_id = ?1
             ORDER BY proto, host_port, host_ip",
        )
        .map_err(sql("read ports"))?;
    let rows = st
        .query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u16>(2)?,
                r.get::<_, u16>(3)?,
            ))
        })
        .map_err(sql("read ports"))?;
    let mut out = Vec::new();
    for row in rows {
        let (ip, proto, host_port, port) = row.map_err(sql("read ports"))?;
        out.push(Port {
            host_ip: HostIp::parse(&ip).ok_or_else(|| Error::Corrupt {
                what: "host ip",
                value: ip.clone(),
                path: "warren.db".into(),
            })?,
            proto,
            host_port,
            port,
        });
    }
    Ok(out)
}

/// Forget `ports` of container `id`.
pub fn delete_ports(tx: &Transaction<'_>, id: &str, ports: &[Port]) -> Result<()> {
    for p in ports {
        tx.execute(
            "DELETE FROM ports WHERE container_id = ?1 AND host_ip = ?2 AND proto = ?3 AND host_port = ?4",
            params![id, p.host_ip.stored(), p.proto, p.host_port],
        )
        .map_err(sql("delete port"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ip_intersections() {
        let a = |s: &str| HostIp::from_spec(Some(s.parse().unwrap()));
        for (x, y, want) in [
            (HostIp::All, a("127.0.0.1"), true),
            (HostIp::All, a("::1"), true),
            (a("0.0.0.0"), a("::1"), false),
            (a("0.0.0.0"), a("127.0.0.1"), true),
            (a("::"), HostIp::All, true),
            (a("::"), a("0.0.0.0"), false),
            (a("127.0.0.1"), a("127.0.0.2"), false),
            (a("127.0.0.1"), a("127.0.0.1"), true),
        ] {
            assert_eq!(x.intersects(&y), want, "{x} {y}");
            assert_eq!(y.intersects(&x), want, "{y} {x}");
        }
        for h in [HostIp::All, a("0.0.0.0"), a("::"), a("::1"), a("10.0.0.1")] {
            assert_eq!(HostIp::parse(&h.stored()), Some(h));
        }
    }
}
