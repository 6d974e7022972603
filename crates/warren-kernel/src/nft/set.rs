//! Sets and maps: key and value types (concatenations included) and elements.

use super::Table;
use super::expr::{Data, Verdict};
use super::wire::{Nla, attr};

/// A type of a set key or map value, as `nft` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// `ipv4_addr` (4 bytes, network order).
    Ipv4Addr,
    /// `ipv6_addr` (16 bytes, network order).
    Ipv6Addr,
    /// `ifname` (16 bytes: the name, NUL-padded).
    IfName,
    /// `inet_proto` (1 byte).
    InetProto,
    /// `inet_service` (2 bytes, network order).
    InetService,
}

impl DataType {
    /// nft's type number (`TYPE_*` of nftables' datatype.h), used in concatenations.
    fn id(self) -> u32 {
        match self {
            DataType::Ipv4Addr => 7,
            DataType::Ipv6Addr => 8,
            DataType::IfName => 41,
            DataType::InetProto => 12,
            DataType::InetService => 13,
        }
    }

    /// Length in bytes of a value of this type.
    pub fn size(self) -> usize {
        match self {
            DataType::Ipv4Addr => 4,
            DataType::Ipv6Addr | DataType::IfName => 16,
            DataType::InetProto => 1,
            DataType::InetService => 2,
        }
    }
}

/// The type number and length of a key or value: a single type has its own length; in a
/// concatenation each part is padded to 4 bytes (one 32-bit register each).
fn concat(types: &[DataType]) -> (u32, u32) {
    let id = types.iter().fold(0u32, |acc, t| (acc << 6) | t.id());
    let len = match types {
        [one] => one.size(),
        _ => types
            .iter()
            .map(|t| t.size().div_ceil(4) * 4)
            .sum::<usize>(),
    };
    (id, len as u32)
}

/// Encode a concatenation's values as the registers hold them: each part padded to 4 bytes.
pub fn concat_value(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(p);
        while v.len() % 4 != 0 {
            v.push(0);
        }
    }
    v
}

/// What a map maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapTo {
    /// Verdicts (a verdict map).
    Verdict,
    /// Values of this (possibly concatenated) type.
    Value(Vec<DataType>),
}

/// A named set (or map, when `map` is set) in a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// The table it lives in.
    pub table: Table,
    /// Its name.
    pub name: String,
    /// Key type: one type, or several for a concatenation.
    pub key: Vec<DataType>,
    /// For a map: what it maps to.
    pub map: Option<MapTo>,
    /// `flags interval`: elements are ranges (see [`Element::interval`]).
    pub interval: bool,
}

impl Set {
    /// A set of keys of type `key` (several types make a concatenation).
    pub fn new(table: &Table, name: &str, key: &[DataType]) -> Set {
        Set {
            table: table.clone(),
            name: name.to_owned(),
            key: key.to_vec(),
            map: None,
            interval: false,
        }
    }

    /// Make it a set of intervals (`flags interval`).
    pub fn interval(mut self) -> Set {
        self.interval = true;
        self
    }

    /// Make it a map to `to`.
    pub fn map_to(mut self, to: MapTo) -> Set {
        self.map = Some(to);
        self
    }

    /// How errors name it.
    pub fn describe(&self) -> String {
        let kind = if self.map.is_some() { "map" } else { "set" };
        format!(
            "{kind} {} {} {}",
            self.table.family.name(),
            self.table.name,
            self.name
        )
    }

    pub(crate) fn encode(&self, id: u32) -> Nla {
        let mut n = Nla::new();
        let (kty, klen) = concat(&self.key);
        // NFT_SET_CONCAT is only for interval sets of concatenations; a hash set needs none.
        let mut flags = 0u32;
        if self.interval {
            flags |= 0x04; // NFT_SET_INTERVAL
        }
        if self.map.is_some() {
            flags |= 0x08; // NFT_SET_MAP
        }
        n.str(attr::SET_TABLE, &self.table.name)
            .str(attr::SET_NAME, &self.name)
            .be32(attr::SET_FLAGS, flags)
            .be32(attr::SET_KEY_TYPE, kty)
            .be32(attr::SET_KEY_LEN, klen);
        match &self.map {
            None => {}
            Some(MapTo::Verdict) => {
                n.be32(attr::SET_DATA_TYPE, 0xffff_ff00); // NFT_DATA_VERDICT
            }
            Some(MapTo::Value(types)) => {
                let (dty, dlen) = concat(types);
                n.be32(attr::SET_DATA_TYPE, dty)
                    .be32(attr::SET_DATA_LEN, dlen);
            }
        }
        n.be32(attr::SET_ID, id);
        n.bytes_attr(attr::SET_USERDATA, &self.userdata());
        n
    }

    /// The user data nft 1.0.6 attaches to such a set (as read from its `--debug=mnl`
    /// output): the kernel keeps it without reading it, and `nft list` needs it to print the
    /// elements (without the byte order of an `ifname` key it prints the names reversed).
    /// TLVs of one type byte and one length byte: key byte order (1 host, 2 big-endian, 0 for
    /// a concatenation), data byte order for maps, and for concatenations the constant
    /// records nft writes for them.
    fn userdata(&self) -> Vec<u8> {
        fn order(types: &[DataType]) -> u32 {
            match types {
                [DataType::IfName] => 1,
                [_] => 2,
                _ => 0,
            }
        }
        const CONCAT: [u8; 8] = [0, 4, 0x0d, 0, 0, 0, 1, 0];
        let mut u = vec![0, 4];
        u.extend_from_slice(&order(&self.key).to_ne_bytes());
        if let Some(MapTo::Value(to)) = &self.map {
            u.extend_from_slice(&[1, 4]);
            u.extend_from_slice(&order(to).to_ne_bytes());
        }
        if self.key.len() > 1 {
            u.extend_from_slice(&[3, 8]);
            u.extend_from_slice(&CONCAT);
        }
        if let Some(MapTo::Value(to)) = &self.map {
            if to.len() > 1 {
                u.extend_from_slice(&[4, 8]);
                u.extend_from_slice(&CONCAT);
            }
            u.extend_from_slice(&[6, 4, 0, 0, 0, 0]);
        }
        u
    }
}

/// One element: a key (as the register holds it, see [`concat_value`]) and, in a map, its
/// value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The key bytes.
    pub key: Vec<u8>,
    /// The mapped value, for maps.
    pub data: Option<Data>,
    /// In an interval set: this key is where an interval ends (exclusive), not where one
    /// starts (`NFT_SET_ELEM_INTERVAL_END`).
    pub interval_end: bool,
}

impl Element {
    /// An element of a set.
    pub fn key(key: Vec<u8>) -> Element {
        Element {
            key,
            data: None,
            interval_end: false,
        }
    }

    /// The elements of an interval set holding the prefix `addr/prefix` (`addr` in network
    /// order, 4 or 16 bytes; host bits are cleared): the start, and the end one past the last
    /// address, as nft sends them. A prefix covering the whole space has no end element.
    /// `None` if the prefix is longer than the address.
    pub fn interval(addr: &[u8], prefix: u8) -> Option<Vec<Element>> {
        let bits = addr.len() * 8;
        if usize::from(prefix) > bits {
            return None;
        }
        let mut start = addr.to_vec();
        for (i, b) in start.iter_mut().enumerate() {
            let keep = usize::from(prefix).saturating_sub(i * 8).min(8);
            *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
        }
        let mut out = vec![Element::key(start.clone())];
        // end = start + 2^(bits - prefix); none if that overflows (the range reaches the top).
        let mut end = start;
        let mut add = if prefix == 0 {
            None
        } else {
            let bit = bits - usize::from(prefix);
            Some((addr.len() - 1 - bit / 8, 1u8 << (bit % 8)))
        };
        while let Some((i, v)) = add {
            let (sum, carry) = end[i].overflowing_add(v);
            end[i] = sum;
            add = match (carry, i) {
                (false, _) => {
                    out.push(Element {
                        key: end.clone(),
                        data: None,
                        interval_end: true,
                    });
                    None
                }
                (true, 0) => None,
                (true, _) => Some((i - 1, 1)),
            };
        }
        Some(out)
    }

    /// An element of a map of values.
    pub fn value(key: Vec<u8>, value: Vec<u8>) -> Element {
        Element {
            key,
            data: Some(Data::Value(value)),
            interval_end: false,
        }
    }

    /// An element of a verdict map.
    pub fn verdict(key: Vec<u8>, v: Verdict) -> Element {
        Element {
            key,
            data: Some(Data::Verdict(v)),
            interval_end: false,
        }
    }
}

/// Most bytes of elements put in one message: an attribute's length is 16 bits, so a set's
/// elements go in as many NEWSETELEM / DELSETELEM messages as they need.
const ELEMENTS_PER_MESSAGE_BYTES: usize = 60 * 1024;

/// The bodies of NEWSETELEM / DELSETELEM messages carrying `elems` (one or more messages).
pub(crate) fn encode_elements(set: &Set, elems: &[Element], with_data: bool) -> Vec<Vec<u8>> {
    let mut encoded: Vec<Vec<u8>> = Vec::with_capacity(elems.len());
    for e in elems {
        let mut one = Nla::new();
        one.nest(super::wire::NFTA_LIST_ELEM, |el| {
            if e.interval_end {
                el.be32(attr::SET_ELEM_FLAGS, 1); // NFT_SET_ELEM_INTERVAL_END
            }
            el.nest(attr::SET_ELEM_KEY, |k| {
                k.bytes_attr(attr::DATA_VALUE, &e.key);
            });
            if with_data && let Some(d) = &e.data {
                el.nest(attr::SET_ELEM_DATA, |v| d.encode(v));
            }
        });
        encoded.push(one.into_bytes());
    }
    let mut bodies = Vec::new();
    let mut rest = &encoded[..];
    while !rest.is_empty() {
        let mut size = 0;
        let n = rest
            .iter()
            .take_while(|e| {
                size += e.len();
                size <= ELEMENTS_PER_MESSAGE_BYTES
            })
            .count()
            .max(1);
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let mut body = Nla::new();
        body.str(attr::SET_ELEM_LIST_TABLE, &set.table.name)
            .str(attr::SET_ELEM_LIST_SET, &set.name);
        body.nest(attr::SET_ELEM_LIST_ELEMENTS, |list| {
            for e in chunk {
                list.raw(e);
            }
        });
        bodies.push(body.into_bytes());
    }
    bodies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lengths_as_nft_sends_them() {
        // One type: its own length. Concatenation: one 32-bit register per part, and nft's
        // type number (6 bits per part): inet_proto . inet_service = 0x30d.
        assert_eq!(concat(&[DataType::InetService]), (13, 2));
        assert_eq!(
            concat(&[DataType::InetProto, DataType::InetService]),
            (0x30d, 8)
        );
        assert_eq!(
            concat(&[DataType::Ipv4Addr, DataType::InetService]),
            (0x1cd, 8)
        );
        assert_eq!(
            concat(&[
                DataType::Ipv6Addr,
                DataType::InetProto,
                DataType::InetService
            ]),
            (0x830d, 24)
        );
        assert_eq!(
            concat(&[DataType::IfName, DataType::IfName]),
            (41 << 6 | 41, 32)
        );
        assert_eq!(
            concat_value(&[&[6], &8080u16.to_be_bytes()]),
            [6, 0, 0, 0, 0x1f, 0x90, 0, 0]
        );
    }

    #[test]
    fn prefixes_become_start_and_end_elements() {
        let keys = |a: &[u8], p| {
            Element::interval(a, p)
                .unwrap()
                .into_iter()
                .map(|e| (e.key, e.interval_end))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(&[10, 88, 0, 7], 24),
            [(vec![10, 88, 0, 0], false), (vec![10, 88, 1, 0], true)]
        );
        assert_eq!(
            keys(&[10, 88, 255, 7], 24),
            [(vec![10, 88, 255, 0], false), (vec![10, 89, 0, 0], true)]
        );
        assert_eq!(
            keys(&[10, 88, 0, 7], 32),
            [(vec![10, 88, 0, 7], false), (vec![10, 88, 0, 8], true)]
        );
        assert_eq!(
            keys(&[10, 88, 0, 7], 9),
            [(vec![10, 0, 0, 0], false), (vec![10, 128, 0, 0], true)]
        );
        assert_eq!(keys(&[10, 88, 0, 7], 0), [(vec![0, 0, 0, 0], false)]);
        assert_eq!(
            keys(&[255, 255, 255, 7], 24),
            [(vec![255, 255, 255, 0], false)]
        );
        let v6: [u8; 16] = "fd88::5".parse::<std::net::Ipv6Addr>().unwrap().octets();
        let end: [u8; 16] = "fd88:0:0:1::"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        assert_eq!(keys(&v6, 64)[1], (end.to_vec(), true));
        assert!(Element::interval(&[1, 2, 3, 4], 33).is_none());
    }
}
