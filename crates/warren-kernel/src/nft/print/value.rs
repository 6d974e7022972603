//! nft's datatypes: their names, and how `nft` prints a value of each.

use std::net::{Ipv4Addr, Ipv6Addr};

/// nft datatype ids (`enum datatypes` of nftables' `datatype.h`) that the printer knows.
#[allow(missing_docs)]
pub mod ty {
    pub const VERDICT: u32 = 1;
    pub const NFPROTO: u32 = 2;
    pub const INTEGER: u32 = 4;
    pub const STRING: u32 = 5;
    pub const IPADDR: u32 = 7;
    pub const IP6ADDR: u32 = 8;
    pub const ETHERADDR: u32 = 9;
    pub const ETHERTYPE: u32 = 10;
    pub const INET_PROTOCOL: u32 = 12;
    pub const INET_SERVICE: u32 = 13;
    pub const ICMP_TYPE: u32 = 14;
    pub const TCP_FLAG: u32 = 15;
    pub const MARK: u32 = 19;
    pub const IFINDEX: u32 = 20;
    pub const CT_STATE: u32 = 26;
    pub const CT_DIR: u32 = 27;
    pub const CT_STATUS: u32 = 28;
    pub const ICMP6_TYPE: u32 = 29;
    pub const PKTTYPE: u32 = 31;
    pub const FIB_ADDR: u32 = 38;
    pub const IFNAME: u32 = 41;
    /// The data type of verdict maps on the wire (`NFT_DATA_VERDICT`).
    pub const WIRE_VERDICT: u32 = 0xffff_ff00;
}

/// A datatype with the byte order its values have in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ty {
    /// The datatype id ([`ty`]).
    pub id: u32,
    /// Network byte order (payload fields) rather than host order (meta, ct).
    pub be: bool,
}

impl Ty {
    /// A type in network byte order.
    pub const fn be(id: u32) -> Ty {
        Ty { id, be: true }
    }
    /// A type in host byte order.
    pub const fn host(id: u32) -> Ty {
        Ty { id, be: false }
    }
    /// A set key's part: sets store network-order types as such, integers in host order.
    pub fn of_set(id: u32) -> Ty {
        match id {
            ty::MARK | ty::CT_STATE | ty::CT_STATUS | ty::FIB_ADDR | ty::IFINDEX | ty::INTEGER => {
                Ty::host(id)
            }
            _ => Ty::be(id),
        }
    }
}

/// The name nft gives a datatype id.
pub fn type_name(id: u32) -> String {
    match id {
        ty::VERDICT | ty::WIRE_VERDICT => "verdict",
        ty::NFPROTO => "nf_proto",
        ty::INTEGER => "integer",
        ty::STRING => "string",
        ty::IPADDR => "ipv4_addr",
        ty::IP6ADDR => "ipv6_addr",
        ty::ETHERADDR => "ether_addr",
        ty::ETHERTYPE => "ether_type",
        ty::INET_PROTOCOL => "inet_proto",
        ty::INET_SERVICE => "inet_service",
        ty::ICMP_TYPE => "icmp_type",
        ty::TCP_FLAG => "tcp_flag",
        ty::MARK => "mark",
        ty::IFINDEX => "iface_index",
        ty::CT_STATE => "ct_state",
        ty::CT_DIR => "ct_dir",
        ty::CT_STATUS => "ct_status",
        ty::ICMP6_TYPE => "icmpv6_type",
        ty::PKTTYPE => "pkt_type",
        ty::FIB_ADDR => "fib_addrtype",
        ty::IFNAME => "ifname",
        n => return format!("type{n}"),
    }
    .to_owned()
}

/// The parts of a (possibly concatenated) type id: nft packs concatenations 6 bits per part.
pub fn concat_parts(id: u32) -> Vec<u32> {
    if id == ty::WIRE_VERDICT || id < 64 {
        return vec![id];
    }
    let mut parts = Vec::new();
    let mut v = id;
    while v > 0 {
        parts.push(v & 63);
        v >>= 6;
    }
    parts.reverse();
    parts
}

/// Bytes a value of this type takes (0 when it varies).
pub fn type_len(id: u32) -> usize {
    match id {
        ty::IPADDR | ty::MARK | ty::CT_STATE | ty::CT_STATUS | ty::FIB_ADDR | ty::IFINDEX => 4,
        ty::IP6ADDR | ty::IFNAME => 16,
        ty::ETHERADDR => 6,
        ty::INET_SERVICE | ty::ETHERTYPE => 2,
        ty::INET_PROTOCOL | ty::NFPROTO | ty::ICMP_TYPE | ty::ICMP6_TYPE | ty::TCP_FLAG => 1,
        ty::CT_DIR | ty::PKTTYPE => 1,
        _ => 0,
    }
}

/// An unsigned integer from up to 16 bytes in the given byte order.
pub fn uint(b: &[u8], be: bool) -> u128 {
    let it: Box<dyn Iterator<Item = &u8>> = if be {
        Box::new(b.iter().take(16))
    } else {
        Box::new(b.iter().take(16).rev())
    };
    it.fold(0u128, |acc, x| (acc << 8) | u128::from(*x))
}

const INET_PROTOS: &[(u8, &str)] = &[
    (1, "icmp"),
    (2, "igmp"),
    (4, "ipencap"),
    (6, "tcp"),
    (17, "udp"),
    (33, "dccp"),
    (41, "ipv6"),
    (47, "gre"),
    (50, "esp"),
    (51, "ah"),
    (58, "ipv6-icmp"),
    (132, "sctp"),
    (136, "udplite"),
];

/// nft's name of an IP protocol number (as `/etc/protocols` names it), else the number.
pub fn proto_name(p: u8) -> String {
    INET_PROTOS
        .iter()
        .find(|(n, _)| *n == p)
        .map_or_else(|| p.to_string(), |(_, s)| (*s).to_owned())
}

fn symbol(v: u128, table: &[(u128, &str)]) -> Option<String> {
    table
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, s)| (*s).to_owned())
}

fn bits(v: u128, table: &[(u128, &str)]) -> String {
    let mut names: Vec<String> = table
        .iter()
        .filter(|(b, _)| v & b != 0)
        .map(|(_, s)| (*s).to_owned())
        .collect();
    let known: u128 = table.iter().map(|(b, _)| b).fold(0, |a, b| a | b);
    if v & !known != 0 {
        names.push(format!("{:#x}", v & !known));
    }
    if names.is_empty() {
        return "0x0".into();
    }
    names.join(",")
}

const CT_STATES: &[(u128, &str)] = &[
    (1, "invalid"),
    (2, "established"),
    (4, "related"),
    (8, "new"),
    (64, "untracked"),
];
const CT_STATUS: &[(u128, &str)] = &[
    (1, "expected"),
    (2, "seen-reply"),
    (4, "assured"),
    (8, "confirmed"),
    (16, "snat"),
    (32, "dnat"),
    (512, "dying"),
];
const TCP_FLAGS: &[(u128, &str)] = &[
    (1, "fin"),
    (2, "syn"),
    (4, "rst"),
    (8, "psh"),
    (16, "ack"),
    (32, "urg"),
    (64, "ecn"),
    (128, "cwr"),
];
const FIB_TYPES: &[(u128, &str)] = &[
    (0, "unspec"),
    (1, "unicast"),
    (2, "local"),
    (3, "broadcast"),
    (4, "anycast"),
    (5, "multicast"),
    (6, "blackhole"),
    (7, "unreachable"),
    (8, "prohibit"),
];
const ICMP_TYPES: &[(u128, &str)] = &[
    (0, "echo-reply"),
    (3, "destination-unreachable"),
    (5, "redirect"),
    (8, "echo-request"),
    (11, "time-exceeded"),
    (12, "parameter-problem"),
];
const ICMP6_TYPES: &[(u128, &str)] = &[
    (1, "destination-unreachable"),
    (2, "packet-too-big"),
    (3, "time-exceeded"),
    (4, "parameter-problem"),
    (128, "echo-request"),
    (129, "echo-reply"),
    (133, "nd-router-solicit"),
    (134, "nd-router-advert"),
    (135, "nd-neighbor-solicit"),
    (136, "nd-neighbor-advert"),
];
const ETHERTYPES: &[(u128, &str)] = &[
    (0x0800, "ip"),
    (0x0806, "arp"),
    (0x86dd, "ip6"),
    (0x8100, "8021q"),
];
const PKTTYPES: &[(u128, &str)] = &[
    (0, "host"),
    (1, "broadcast"),
    (2, "multicast"),
    (3, "other"),
];

/// Whether values of this type are flags printed as a comma-separated list.
pub fn is_bitmask(id: u32) -> bool {
    matches!(id, ty::CT_STATE | ty::CT_STATUS | ty::TCP_FLAG)
}

/// Bitmask names of `v` for a bitmask type.
pub fn bitmask_names(id: u32, v: u128) -> String {
    match id {
        ty::CT_STATE => bits(v, CT_STATES),
        ty::CT_STATUS => bits(v, CT_STATUS),
        ty::TCP_FLAG => bits(v, TCP_FLAGS),
        _ => format!("{v:#x}"),
    }
}

/// An interface name as nft prints it: quoted; a name compared without its NUL is a
/// wildcard (`"veth*"`).
fn ifname(b: &[u8]) -> String {
    let nul = b.iter().position(|&c| c == 0);
    let s = String::from_utf8_lossy(&b[..nul.unwrap_or(b.len())]).into_owned();
    if nul.is_none() && b.len() < 16 {
        format!("\"{s}*\"")
    } else {
        format!("\"{s}\"")
    }
}

/// A value of type `t` as nft prints it.
pub fn format(t: Ty, b: &[u8]) -> String {
    let v = uint(b, t.be);
    match t.id {
        ty::IPADDR if b.len() >= 4 => Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        ty::IP6ADDR if b.len() >= 16 => {
            let a: [u8; 16] = b[..16].try_into().unwrap_or_default();
            Ipv6Addr::from(a).to_string()
        }
        ty::ETHERADDR if b.len() >= 6 => b[..6]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        ty::IFNAME | ty::STRING => ifname(b),
        ty::INET_PROTOCOL => proto_name(v as u8),
        ty::NFPROTO => match v {
            2 => "ipv4".into(),
            10 => "ipv6".into(),
            n => n.to_string(),
        },
        ty::MARK => format!("0x{v:08x}"),
        ty::CT_STATE | ty::CT_STATUS | ty::TCP_FLAG => bitmask_names(t.id, v),
        ty::CT_DIR => match v {
            0 => "original".into(),
            1 => "reply".into(),
            n => n.to_string(),
        },
        ty::FIB_ADDR => symbol(v, FIB_TYPES).unwrap_or_else(|| v.to_string()),
        ty::ICMP_TYPE => symbol(v, ICMP_TYPES).unwrap_or_else(|| v.to_string()),
        ty::ICMP6_TYPE => symbol(v, ICMP6_TYPES).unwrap_or_else(|| v.to_string()),
        ty::ETHERTYPE => symbol(v, ETHERTYPES).unwrap_or_else(|| format!("0x{v:04x}")),
        ty::PKTTYPE => symbol(v, PKTTYPES).unwrap_or_else(|| v.to_string()),
        _ if b.len() > 8 => format!(
            "0x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
        _ => v.to_string(),
    }
}

/// `bytes` (of length `len`, padded) as the prefix `addr/len` when type `t` is an address
/// and `[start, end]` covers exactly one prefix.
pub fn as_prefix(t: Ty, start: &[u8], end: &[u8]) -> Option<String> {
    if !matches!(t.id, ty::IPADDR | ty::IP6ADDR) {
        return None;
    }
    let width = type_len(t.id) * 8;
    let (s, e) = (uint(start, true), uint(end, true));
    let span = e.checked_sub(s)?.checked_add(1);
    let host_bits = match span {
        Some(n) if n.is_power_of_two() => n.trailing_zeros() as usize,
        // The whole IPv6 space.
        None if s == 0 => 128,
        _ => return None,
    };
    if host_bits > width || (host_bits < 128 && s & ((1u128 << host_bits) - 1) != 0) {
        return None;
    }
    Some(format!("{}/{}", format(t, start), width - host_bits))
}

/// The big-endian bytes of `v` in `len` bytes.
pub fn be_bytes(v: u128, len: usize) -> Vec<u8> {
    let all = v.to_be_bytes();
    all[16 - len.min(16)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_nft_prints_them() {
        let cases: &[(Ty, &[u8], &str)] = &[
            (Ty::be(ty::IPADDR), &[10, 0, 0, 1], "10.0.0.1"),
            (Ty::be(ty::INET_SERVICE), &[0x1f, 0x90], "8080"),
            (Ty::be(ty::INET_PROTOCOL), &[6], "tcp"),
            (Ty::be(ty::INET_PROTOCOL), &[58], "ipv6-icmp"),
            (Ty::be(ty::IFNAME), b"eth0\0\0\0\0", "\"eth0\""),
            (Ty::be(ty::IFNAME), b"veth", "\"veth*\""),
            (Ty::host(ty::MARK), &[0x10, 0, 0, 0], "0x00000010"),
            (Ty::host(ty::CT_STATE), &[6, 0, 0, 0], "established,related"),
            (Ty::host(ty::CT_STATUS), &[0x20, 0, 0, 0], "dnat"),
            (Ty::host(ty::FIB_ADDR), &[2, 0, 0, 0], "local"),
            (Ty::host(ty::NFPROTO), &[10], "ipv6"),
            (
                Ty::be(ty::ETHERADDR),
                &[2, 0, 0, 0, 0, 0xab],
                "02:00:00:00:00:ab",
            ),
        ];
        for (t, b, want) in cases {
            assert_eq!(format(*t, b), *want, "{t:?} {b:?}");
        }
    }

    #[test]
    fn concatenated_types_split_into_parts() {
        assert_eq!(concat_parts(7), vec![7]);
        assert_eq!(concat_parts((12 << 6) | 13), vec![12, 13]);
        assert_eq!(concat_parts((7 << 12) | (12 << 6) | 13), vec![7, 12, 13]);
        assert_eq!(concat_parts(ty::WIRE_VERDICT), vec![ty::WIRE_VERDICT]);
    }

    #[test]
    fn ranges_become_prefixes_only_when_aligned() {
        let t = Ty::be(ty::IPADDR);
        assert_eq!(
            as_prefix(t, &[10, 0, 0, 0], &[10, 255, 255, 255]).as_deref(),
            Some("10.0.0.0/8")
        );
        assert_eq!(as_prefix(t, &[10, 0, 0, 1], &[10, 0, 0, 2]), None);
        assert_eq!(
            as_prefix(t, &[10, 0, 0, 1], &[10, 0, 0, 1]).as_deref(),
            Some("10.0.0.1/32")
        );
        assert_eq!(as_prefix(Ty::be(ty::INET_SERVICE), &[0, 0], &[0, 1]), None);
    }
}
