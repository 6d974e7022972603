//! Reading nf_tables back: the tables of a namespace ([`Nft::tables`]) and the elements of a
//! set or map ([`Nft::set_elements`]), each one dump request. Nothing is changed.

use nix::errno::Errno;

use super::batch::NLM_F_DUMP;
use super::wire::{self, attr};
use super::{Family, Nft, Table};
use crate::conntrack::attrs;
use crate::error::{Error, Result};

/// `NFT_MSG_GETSETELEM`.
const GETSETELEM: u16 = 13;
/// `NFT_SET_ELEM_INTERVAL_END`.
const ELEM_INTERVAL_END: u32 = 1;

/// One element of a set or map as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetElement {
    /// The key's bytes (components of a concatenation each padded to 4 bytes).
    pub key: Vec<u8>,
    /// A map's value bytes, if any.
    pub data: Option<Vec<u8>>,
    /// In an interval set: this key ends an interval (exclusive) rather than starting one.
    pub interval_end: bool,
}

fn find(buf: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(buf).find(|(t, _, _)| *t == ty).map(|(_, p, _)| p)
}

fn family_of(n: u8) -> Option<Family> {
    match n {
        1 => Some(Family::Inet),
        2 => Some(Family::Ip),
        10 => Some(Family::Ip6),
        _ => None,
    }
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(b.split(|c| *c == 0).next().unwrap_or_default()).into_owned()
}

/// Decode one `NFT_MSG_NEWTABLE` reply into a table of a known family.
fn table(msg: &[u8]) -> Option<Table> {
    let family = family_of(*msg.get(16)?)?;
    let name = string(find(msg.get(20..)?, attr::TABLE_NAME)?);
    Some(Table::new(family, &name))
}

/// Decode the elements of one `NFT_MSG_NEWSETELEM` reply.
fn elements(msg: &[u8]) -> Vec<SetElement> {
    let Some(list) = msg
        .get(20..)
        .and_then(|b| find(b, attr::SET_ELEM_LIST_ELEMENTS))
    else {
        return Vec::new();
    };
    attrs(list)
        .filter(|(t, _, _)| *t == wire::NFTA_LIST_ELEM)
        .filter_map(|(_, e, _)| {
            let key = find(find(e, attr::SET_ELEM_KEY)?, attr::DATA_VALUE)?.to_vec();
            let data = find(e, attr::SET_ELEM_DATA)
                .and_then(|d| find(d, attr::DATA_VALUE))
                .map(<[u8]>::to_vec);
            let flags = find(e, attr::SET_ELEM_FLAGS)
                .and_then(|f| f.get(..4))
                .map_or(0, |f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]));
            Some(SetElement {
                key,
                data,
                interval_end: flags & ELEM_INTERVAL_END != 0,
            })
        })
        .collect()
}

impl Nft {
    /// Every table of the `inet`, `ip` and `ip6` families in the namespace (`nft list
    /// tables`), whoever owns it.
    pub fn tables(&self) -> Result<Vec<Table>> {
        let mut sock = self.sock.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let outcome = sock.request(
            wire::nft_type(wire::msg::GETTABLE),
            NLM_F_DUMP,
            0,
            0,
            &[],
            |m| out.extend(table(m)),
        )?;
        outcome.map_err(|source| Error::Netlink {
            op: "list",
            object: "nf_tables tables".into(),
            ns: sock.ns().to_owned(),
            source,
        })?;
        Ok(out)
    }

    /// The elements of set or map `set` of `table`; `None` if the table or set does not
    /// exist.
    pub fn set_elements(&self, table: &Table, set: &str) -> Result<Option<Vec<SetElement>>> {
        let mut sock = self.sock.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = wire::Nla::new();
        n.str(attr::SET_ELEM_LIST_TABLE, &table.name)
            .str(attr::SET_ELEM_LIST_SET, set);
        let mut out = Vec::new();
        let outcome = sock.request(
            wire::nft_type(GETSETELEM),
            NLM_F_DUMP,
            table.family as u8,
            0,
            n.bytes(),
            |m| out.extend(elements(m)),
        )?;
        match outcome {
            Ok(()) => Ok(Some(out)),
            Err(e) if e.errno == Errno::ENOENT => Ok(None),
            Err(source) => Err(Error::Netlink {
                op: "list elements of",
                object: format!("set {set} in {}", table.describe()),
                ns: sock.ns().to_owned(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_elements_with_keys_data_and_interval_ends() {
        let mut n = wire::Nla::new();
        n.nest(attr::SET_ELEM_LIST_ELEMENTS, |l| {
            l.nest(wire::NFTA_LIST_ELEM, |e| {
                e.nest(attr::SET_ELEM_KEY, |k| {
                    k.bytes_attr(attr::DATA_VALUE, &[10, 0, 0, 0]);
                });
            });
            l.nest(wire::NFTA_LIST_ELEM, |e| {
                e.nest(attr::SET_ELEM_KEY, |k| {
                    k.bytes_attr(attr::DATA_VALUE, &[10, 0, 1, 0]);
                });
                e.nest(attr::SET_ELEM_DATA, |k| {
                    k.bytes_attr(attr::DATA_VALUE, &[1, 2]);
                });
                e.be32(attr::SET_ELEM_FLAGS, 1);
            });
        });
        let msg = wire::message(wire::nft_type(12), 0, 1, 1, 0, n.bytes());
        let got = elements(&msg);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].key, vec![10, 0, 0, 0]);
        assert!(!got[0].interval_end && got[0].data.is_none());
        assert_eq!(got[1].data.as_deref(), Some(&[1u8, 2][..]));
        assert!(got[1].interval_end);
    }

    #[test]
    fn random_replies_do_not_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = elements(&bytes);
            let _ = table(&bytes);
        }
    }
}
