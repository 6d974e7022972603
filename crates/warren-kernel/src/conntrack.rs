//! Conntrack entries over ctnetlink (`NETLINK_NETFILTER`, subsystem `NFNL_SUBSYS_CTNETLINK`):
//! deleting the entries of one published port, so that a UDP "connection" set up before the
//! port was published (or unpublished) does not keep its old translation.

use std::net::IpAddr;

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::netns::NetNs;
use crate::nft::Proto;
use crate::nft::batch::{NLM_F_DUMP, NftSocket};

/// `NFNL_SUBSYS_CTNETLINK`.
const SUBSYS_CTNETLINK: u16 = 1;
/// `IPCTNL_MSG_CT_GET`, `IPCTNL_MSG_CT_DELETE`.
const MSG_CT_GET: u16 = 1;
const MSG_CT_DELETE: u16 = 2;
/// `CTA_TUPLE_ORIG`, `CTA_TUPLE_IP`, `CTA_TUPLE_PROTO`.
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
/// `CTA_IP_V4_SRC` .. `CTA_IP_V6_DST`.
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
/// `CTA_PROTO_NUM`, `CTA_PROTO_SRC_PORT`, `CTA_PROTO_DST_PORT`.
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
/// `CTA_ZONE`.
const CTA_ZONE: u16 = 18;
/// The attribute type bits (without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// The original-direction tuple of a conntrack entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number.
    pub proto: u8,
    /// Source port (0 for protocols without ports).
    pub sport: u16,
    /// Destination port (0 for protocols without ports).
    pub dport: u16,
}

/// One entry as dumped: its original tuple, and what is needed to delete it.
#[derive(Debug, Clone)]
struct Entry {
    tuple: Option<Tuple>,
    family: u8,
    /// The `CTA_TUPLE_ORIG` attribute (and `CTA_ZONE`, if any) as the kernel sent them.
    key: Vec<u8>,
}

/// Attributes of a netlink attribute stream: (type without flags, payload, whole attribute).
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes([*buf.first()?, *buf.get(1)?]));
        let ty = u16::from_ne_bytes([*buf.get(2)?, *buf.get(3)?]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return None;
        }
        let (whole, payload) = (&buf[..len], &buf[4..len]);
        buf = &buf[((len + 3) & !3).min(buf.len())..];
        Some((ty, payload, whole))
    })
}

fn find(buf: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(buf).find(|(t, _, _)| *t == ty).map(|(_, p, _)| p)
}

fn ip(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

fn be16(b: Option<&[u8]>) -> u16 {
    b.and_then(|b| b.get(..2))
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

/// Decode a `CTA_TUPLE_*` nest.
fn tuple(nest: &[u8]) -> Option<Tuple> {
    let ipn = find(nest, CTA_TUPLE_IP)?;
    let (src, dst) = match (find(ipn, CTA_IP_V4_SRC), find(ipn, CTA_IP_V4_DST)) {
        (Some(s), Some(d)) => (ip(s)?, ip(d)?),
        _ => (
            ip(find(ipn, CTA_IP_V6_SRC)?)?,
            ip(find(ipn, CTA_IP_V6_DST)?)?,
        ),
    };
    let p = find(nest, CTA_TUPLE_PROTO)?;
    Some(Tuple {
        src,
        dst,
        proto: *find(p, CTA_PROTO_NUM)?.first()?,
        sport: be16(find(p, CTA_PROTO_SRC_PORT)),
        dport: be16(find(p, CTA_PROTO_DST_PORT)),
    })
}

/// Decode one `IPCTNL_MSG_CT_NEW` message of a dump.
fn entry(msg: &[u8]) -> Option<Entry> {
    let family = *msg.get(16)?;
    let body = msg.get(20..)?;
    let mut key = Vec::new();
    let mut tup = None;
    for (ty, payload, whole) in attrs(body) {
        if ty == CTA_TUPLE_ORIG {
            tup = tuple(payload);
            key.extend_from_slice(whole);
        } else if ty == CTA_ZONE {
            key.extend_from_slice(whole);
        }
        while key.len() % 4 != 0 {
            key.push(0);
        }
    }
    Some(Entry {
        tuple: tup,
        family,
        key,
    })
}

fn ct_type(msg: u16) -> u16 {
    (SUBSYS_CTNETLINK << 8) | msg
}

fn dump_family(sock: &mut NftSocket, family: u8) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let outcome = sock.request(ct_type(MSG_CT_GET), NLM_F_DUMP, family, 0, &[], |m| {
        out.extend(entry(m));
    })?;
    match outcome {
        Ok(()) => Ok(out),
        // No conntrack for this family (e.g. IPv6 disabled): nothing to list.
        Err(e) if e.errno == Errno::EAFNOSUPPORT || e.errno == Errno::EOPNOTSUPP => Ok(out),
        Err(source) => Err(Error::Netlink {
            op: "dump",
            object: "conntrack table".into(),
            ns: sock.ns().to_owned(),
            source,
        }),
    }
}

fn open(ns: &NetNs) -> Result<NftSocket> {
    let label = ns.label().to_owned();
    ns.run(|| NftSocket::open(label))
}

/// The original-direction tuples of every conntrack entry (IPv4 and IPv6) in `ns`.
pub fn list(ns: &NetNs) -> Result<Vec<Tuple>> {
    let mut sock = open(ns)?;
    let mut out = Vec::new();
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        out.extend(
            dump_family(&mut sock, family)?
                .into_iter()
                .filter_map(|e| e.tuple),
        );
    }
    Ok(out)
}

/// Delete every conntrack entry in `ns` whose original direction goes to destination port
/// `port` of `proto` (IPv4 and IPv6). Returns how many were deleted; entries that expired
/// between the listing and the delete are not counted.
pub fn flush_port(ns: &NetNs, proto: Proto, port: u16) -> Result<usize> {
    let mut sock = open(ns)?;
    let mut deleted = 0;
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        for e in dump_family(&mut sock, family)? {
            let Some(t) = &e.tuple else { continue };
            if t.proto != proto.number() || t.dport != port {
                continue;
            }
            let outcome = sock.request(ct_type(MSG_CT_DELETE), 0, e.family, 0, &e.key, |_| {})?;
            match outcome {
                Ok(()) => deleted += 1,
                Err(err) if err.errno == Errno::ENOENT => {}
                Err(source) => {
                    return Err(Error::Netlink {
                        op: "delete",
                        object: format!(
                            "conntrack entry {} {}:{} -> {}:{}",
                            proto.name(),
                            t.src,
                            t.sport,
                            t.dst,
                            t.dport
                        ),
                        ns: sock.ns().to_owned(),
                        source,
                    });
                }
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::wire;

    #[test]
    fn decodes_an_original_tuple() {
        let mut n = wire::Nla::new();
        n.nest(CTA_TUPLE_ORIG, |t| {
            t.nest(CTA_TUPLE_IP, |i| {
                i.bytes_attr(CTA_IP_V4_SRC, &[10, 0, 0, 1])
                    .bytes_attr(CTA_IP_V4_DST, &[10, 0, 0, 2]);
            });
            t.nest(CTA_TUPLE_PROTO, |p| {
                p.bytes_attr(CTA_PROTO_NUM, &[17])
                    .bytes_attr(CTA_PROTO_SRC_PORT, &4000u16.to_be_bytes())
                    .bytes_attr(CTA_PROTO_DST_PORT, &53u16.to_be_bytes());
            });
        });
        n.bytes_attr(CTA_ZONE, &0u16.to_be_bytes());
        let msg = wire::message(ct_type(0), 0, 1, 2, 0, n.bytes());
        let e = entry(&msg).unwrap();
        assert_eq!(e.family, 2);
        assert_eq!(e.key, n.bytes());
        assert_eq!(
            e.tuple.unwrap(),
            Tuple {
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                proto: 17,
                sport: 4000,
                dport: 53,
            }
        );
    }
}
