//! A table that drops traffic to and from a set of peer addresses, in one namespace: how a
//! lab partition cuts a node off from the other group's nodes while everything else flows.
//!
//! ```text
//! table inet NAME {
//!     set peers4 { type ipv4_addr }
//!     set peers6 { type ipv6_addr }
//!     chain input  { type filter hook input priority -10; policy accept;
//!         ip saddr @peers4 drop
//!         ip6 saddr @peers6 drop }
//!     chain output { type filter hook output priority -10; policy accept;
//!         ip daddr @peers4 drop
//!         ip6 daddr @peers6 drop }
//! }
//! ```
//!
//! Adding peers later is an element change; healing deletes the table. No other table is
//! touched.

use std::net::IpAddr;

use super::expr::{CmpOp, Expr, MetaKey, PayloadBase, Reg, Verdict};
use super::set::{DataType, Element, Set};
use super::{Batch, Chain, ChainType, Family, Hook, Rule, Table};

const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// A blocklist table (`inet NAME`).
#[derive(Debug, Clone)]
pub struct Blocklist {
    table: Table,
}

impl Blocklist {
    /// The blocklist in table `inet name`.
    pub fn new(name: &str) -> Blocklist {
        Blocklist {
            table: Table::new(Family::Inet, name),
        }
    }

    /// Its table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    fn sets(&self) -> [Set; 2] {
        [
            Set::new(&self.table, "peers4", &[DataType::Ipv4Addr]),
            Set::new(&self.table, "peers6", &[DataType::Ipv6Addr]),
        ]
    }

    /// The whole table with `peers` in it, as one batch (the table must not exist yet).
    pub fn create(&self, peers: &[IpAddr]) -> Batch {
        let mut b = Batch::new();
        b.create_table(&self.table);
        for s in self.sets() {
            b.add_set(&s);
        }
        for (name, hook, offset4, offset6) in [
            ("input", Hook::Input, 12, 8),
            ("output", Hook::Output, 16, 24),
        ] {
            let chain = Chain::base(&self.table, name, ChainType::Filter, hook, -10);
            b.add_chain(&chain);
            for (proto, offset, len, set) in [
                (NFPROTO_IPV4, offset4, 4, "peers4"),
                (NFPROTO_IPV6, offset6, 16, "peers6"),
            ] {
                b.add_rule(&Rule::new(
                    &chain,
                    vec![
                        Expr::Meta {
                            key: MetaKey::NfProto,
                            dreg: Reg::REG1,
                        },
                        Expr::Cmp {
                            sreg: Reg::REG1,
                            op: CmpOp::Eq,
                            data: vec![proto],
                        },
                        Expr::Payload {
                            base: PayloadBase::Network,
                            offset,
                            len,
                            dreg: Reg::REG1,
                        },
                        Expr::Lookup {
                            set: set.into(),
                            sreg: Reg::REG1,
                            dreg: None,
                            verdict: false,
                            invert: false,
                        },
                        Expr::verdict(Verdict::Drop),
                    ],
                ));
            }
        }
        b.append(self.add(peers));
        b
    }

    /// Add `peers` to an existing table (addresses already there are fine).
    pub fn add(&self, peers: &[IpAddr]) -> Batch {
        let [s4, s6] = self.sets();
        let v4: Vec<Element> = peers
            .iter()
            .filter_map(|a| match a {
                IpAddr::V4(a) => Some(Element::key(a.octets().to_vec())),
                IpAddr::V6(_) => None,
            })
            .collect();
        let v6: Vec<Element> = peers
            .iter()
            .filter_map(|a| match a {
                IpAddr::V6(a) => Some(Element::key(a.octets().to_vec())),
                IpAddr::V4(_) => None,
            })
            .collect();
        let mut b = Batch::new();
        if !v4.is_empty() {
            b.add_elements(&s4, &v4, false);
        }
        if !v6.is_empty() {
            b.add_elements(&s6, &v6, false);
        }
        b
    }

    /// Delete the table and everything in it.
    pub fn remove(&self) -> Batch {
        let mut b = Batch::new();
        b.del_table(&self.table);
        b
    }
}
