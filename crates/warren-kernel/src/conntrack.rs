//! Conntrack entries over ctnetlink (`NETLINK_NETFILTER`, subsystem `NFNL_SUBSYS_CTNETLINK`):
//! listing entries with both tuples, state and timeout ([`entries`]), and deleting the
//! entries of one published port, so that a UDP "connection" set up before the
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// `CTA_TUPLE_REPLY`, `CTA_STATUS`, `CTA_PROTOINFO`, `CTA_TIMEOUT`, `CTA_MARK`.
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_STATUS: u16 = 3;
const CTA_PROTOINFO: u16 = 4;
const CTA_TIMEOUT: u16 = 7;
const CTA_MARK: u16 = 8;
/// `CTA_PROTOINFO_TCP`, `CTA_PROTOINFO_TCP_STATE`.
const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_TCP_STATE: u16 = 1;

/// `IPS_*` status bits of a conntrack entry.
pub mod status {
    /// An expected connection.
    pub const EXPECTED: u32 = 1;
    /// Packets were seen in both directions.
    pub const SEEN_REPLY: u32 = 2;
    /// Will not be dropped early.
    pub const ASSURED: u32 = 4;
    /// Confirmed (left the first packet's hooks).
    pub const CONFIRMED: u32 = 8;
    /// Source NAT applies.
    pub const SRC_NAT: u32 = 16;
    /// Destination NAT applies.
    pub const DST_NAT: u32 = 32;
}

/// A conntrack entry as `conntrack -L` shows it: both tuples (a reply tuple that differs
/// from the swapped original shows NAT), state, status and timeout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CtEntry {
    /// The original direction.
    pub orig: Tuple,
    /// The reply direction, as the kernel expects replies (after NAT).
    pub reply: Option<Tuple>,
    /// `IPS_*` bits ([`status`]).
    pub status: u32,
    /// Seconds until the entry expires.
    pub timeout: Option<u32>,
    /// The TCP state number (`TCP_CONNTRACK_*`), for TCP.
    pub tcp_state: Option<u8>,
    /// The connection mark.
    pub mark: u32,
    /// The zone.
    pub zone: u16,
}

impl CtEntry {
    /// The TCP state as conntrack names it (`ESTABLISHED`, `TIME_WAIT`, ...).
    pub fn tcp_state_name(&self) -> Option<&'static str> {
        self.tcp_state.map(|s| match s {
            0 => "NONE",
            1 => "SYN_SENT",
            2 => "SYN_RECV",
            3 => "ESTABLISHED",
            4 => "FIN_WAIT",
            5 => "CLOSE_WAIT",
            6 => "LAST_ACK",
            7 => "TIME_WAIT",
            8 => "CLOSE",
            9 => "SYN_SENT2",
            _ => "UNKNOWN",
        })
    }

    /// Whether the entry is NATed: the reply does not come back to the original source, or
    /// not from the original destination.
    pub fn is_nat(&self) -> bool {
        self.status & (status::SRC_NAT | status::DST_NAT) != 0
    }
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

impl std::fmt::Display for CtEntry {
    /// `conntrack -L` style: `udp 17 29 src=.. dst=.. sport=.. dport=.. [UNREPLIED] src=..
    /// dst=.. sport=.. dport=.. mark=0 zone=0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = &self.orig;
        write!(f, "{} {}", proto_name(o.proto), o.proto)?;
        if let Some(t) = self.timeout {
            write!(f, " {t}")?;
        }
        if let Some(s) = self.tcp_state_name() {
            write!(f, " {s}")?;
        }
        let tuple = |f: &mut std::fmt::Formatter<'_>, t: &Tuple| {
            write!(f, " src={} dst={}", t.src, t.dst)?;
            if matches!(t.proto, 6 | 17 | 132 | 33 | 136) {
                write!(f, " sport={} dport={}", t.sport, t.dport)?;
            }
            Ok(())
        };
        tuple(f, o)?;
        if self.status & status::SEEN_REPLY == 0 {
            f.write_str(" [UNREPLIED]")?;
        }
        if let Some(r) = &self.reply {
            tuple(f, r)?;
        }
        if self.status & status::ASSURED != 0 {
            f.write_str(" [ASSURED]")?;
        }
        write!(f, " mark={}", self.mark)?;
        if self.zone != 0 {
            write!(f, " zone={}", self.zone)?;
        }
        Ok(())
    }
}

fn be32(b: &[u8]) -> u32 {
    b.get(..4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Decode one `IPCTNL_MSG_CT_NEW` message (header included) into an entry.
pub fn decode_entry(msg: &[u8]) -> Option<CtEntry> {
    let body = msg.get(20..)?;
    let mut e = CtEntry {
        orig: tuple(find(body, CTA_TUPLE_ORIG)?)?,
        reply: find(body, CTA_TUPLE_REPLY).and_then(tuple),
        status: find(body, CTA_STATUS).map_or(0, be32),
        timeout: find(body, CTA_TIMEOUT).map(be32),
        tcp_state: None,
        mark: find(body, CTA_MARK).map_or(0, be32),
        zone: be16(find(body, CTA_ZONE)),
    };
    if let Some(pi) = find(body, CTA_PROTOINFO)
        && let Some(tcp) = find(pi, CTA_PROTOINFO_TCP)
    {
        e.tcp_state = find(tcp, CTA_PROTOINFO_TCP_STATE).and_then(|b| b.first().copied());
    }
    Some(e)
}

/// Every conntrack entry (IPv4 and IPv6) of `ns`, with both tuples, state and timeout.
pub fn entries(ns: &NetNs) -> Result<Vec<CtEntry>> {
    let mut sock = open(ns)?;
    let mut out = Vec::new();
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        let mut msgs = Vec::new();
        let outcome = sock.request(ct_type(MSG_CT_GET), NLM_F_DUMP, family, 0, &[], |m| {
            msgs.extend(decode_entry(m));
        })?;
        match outcome {
            Ok(()) => out.extend(msgs),
            Err(e) if e.errno == Errno::EAFNOSUPPORT || e.errno == Errno::EOPNOTSUPP => {}
            Err(source) => {
                return Err(Error::Netlink {
                    op: "dump",
                    object: "conntrack table".into(),
                    ns: sock.ns().to_owned(),
                    source,
                });
            }
        }
    }
    Ok(out)
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

    #[test]
    fn decodes_a_natted_entry_and_prints_it_like_conntrack() {
        let t = |n: &mut wire::Nla, ty: u16, src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16| {
            n.nest(ty, |t| {
                t.nest(CTA_TUPLE_IP, |i| {
                    i.bytes_attr(CTA_IP_V4_SRC, &src)
                        .bytes_attr(CTA_IP_V4_DST, &dst);
                });
                t.nest(CTA_TUPLE_PROTO, |p| {
                    p.bytes_attr(CTA_PROTO_NUM, &[6])
                        .bytes_attr(CTA_PROTO_SRC_PORT, &sp.to_be_bytes())
                        .bytes_attr(CTA_PROTO_DST_PORT, &dp.to_be_bytes());
                });
            });
        };
        let mut n = wire::Nla::new();
        t(
            &mut n,
            CTA_TUPLE_ORIG,
            [10, 0, 0, 1],
            [10, 0, 0, 9],
            40000,
            8080,
        );
        t(
            &mut n,
            CTA_TUPLE_REPLY,
            [10, 88, 0, 2],
            [10, 0, 0, 1],
            80,
            40000,
        );
        n.be32(
            CTA_STATUS,
            status::SEEN_REPLY | status::ASSURED | status::DST_NAT,
        )
        .be32(CTA_TIMEOUT, 431999)
        .be32(CTA_MARK, 0);
        n.nest(CTA_PROTOINFO, |p| {
            p.nest(CTA_PROTOINFO_TCP, |t| {
                t.bytes_attr(CTA_PROTOINFO_TCP_STATE, &[3]);
            });
        });
        let msg = wire::message(ct_type(0), 0, 1, 2, 0, n.bytes());
        let e = decode_entry(&msg).unwrap();
        assert!(e.is_nat());
        assert_eq!(
            e.to_string(),
            "tcp 6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.9 sport=40000 dport=8080 \
             src=10.88.0.2 dst=10.0.0.1 sport=80 dport=40000 [ASSURED] mark=0"
        );
        assert!(decode_entry(&msg[..24]).is_none());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut s = 0x1234_5678_9abc_def1u64;
        for _ in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let len = (s % 200) as usize;
            let mut b: Vec<u8> = (0..len).map(|i| (s >> (i % 57)) as u8).collect();
            if b.len() > 24 {
                // A plausible first attribute header after nlmsghdr + nfgenmsg.
                b[20] = (b.len() - 20) as u8;
                b[21] = 0;
            }
            if let Some(e) = decode_entry(&b) {
                let _ = e.to_string();
            }
        }
    }
}
