//! Port publishing in warren's own table: one DNAT rule per hook doing one map lookup, so the
//! cost of a new connection does not grow with the number of published ports, and
//! publishing or unpublishing a port changes only map elements.
//!
//! ```text
//! table ip NAME {
//!   map ports { type inet_proto . inet_service : ipv4_addr . inet_service }
//!   chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//!     fib daddr type local dnat ip to meta l4proto . th dport map @ports }
//!   chain output { type nat hook output priority dstnat; (the same rule) }
//!   chain postrouting { type nat hook postrouting priority srcnat; policy accept; }
//! }
//! ```

use std::net::Ipv4Addr;

use super::expr::{CmpOp, Expr, MetaKey, NatKind, PayloadBase, RTN_LOCAL, Reg};
use super::set::{DataType, Element, MapTo, Set, concat_value};
use super::{Batch, Chain, ChainType, Family, Hook, Rule, Table};
use crate::error::{Error, Result};

/// Transport protocols a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

/// warren's port map: its table, chains and map, and the batches that change them.
#[derive(Debug, Clone)]
pub struct PortMap {
    table: Table,
}

impl PortMap {
    /// The port map in table `ip NAME` (warren's own).
    pub fn new(table: &str) -> PortMap {
        PortMap {
            table: Table::new(Family::Ip, table),
        }
    }

    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The map `ports`: `inet_proto . inet_service : ipv4_addr . inet_service`.
    pub fn map(&self) -> Set {
        Set::new(
            &self.table,
            "ports",
            &[DataType::InetProto, DataType::InetService],
        )
        .map_to(MapTo::Value(vec![
            DataType::Ipv4Addr,
            DataType::InetService,
        ]))
    }

    fn chain(&self, name: &str, hook: Hook, priority: i32) -> Chain {
        Chain::base(&self.table, name, ChainType::Nat, hook, priority)
    }

    /// The postrouting chain (source NAT), for [`PortMap::masquerade`] rules.
    pub fn postrouting(&self) -> Chain {
        self.chain("postrouting", Hook::Postrouting, 100)
    }

    /// The DNAT rule: `fib daddr type local dnat ip to meta l4proto . th dport map @ports`.
    pub fn dnat_exprs(&self) -> Vec<Expr> {
        vec![
            Expr::FibDaddrType { dreg: Reg::R0 },
            Expr::Cmp {
                sreg: Reg::R0,
                op: CmpOp::Eq,
                data: RTN_LOCAL.to_ne_bytes().to_vec(),
            },
            Expr::Meta {
                key: MetaKey::L4Proto,
                dreg: Reg::R0,
            },
            Expr::Payload {
                base: PayloadBase::Transport,
                offset: 2,
                len: 2,
                dreg: Reg::R1,
            },
            Expr::Lookup {
                set: "ports".into(),
                sreg: Reg::R0,
                dreg: Some(Reg::R0),
                verdict: false,
                invert: false,
            },
            Expr::Nat {
                kind: NatKind::Dnat,
                family: 2,
                addr: Some(Reg::R0),
                port: Some(Reg::R1),
            },
        ]
    }

    /// (Re)create the table from scratch in one transaction: the map (empty), the
    /// prerouting and output DNAT chains with their one rule each, and an empty postrouting
    /// chain. Only this table is touched; published ports in it are dropped.
    pub fn install(&self) -> Batch {
        let mut b = Batch::new();
        // Adding first makes the delete succeed whether or not the table existed.
        b.add_table(&self.table).del_table(&self.table);
        b.add_table(&self.table).add_set(&self.map());
        for (name, hook) in [("prerouting", Hook::Prerouting), ("output", Hook::Output)] {
            let c = self.chain(name, hook, -100);
            b.add_chain(&c).add_rule(&Rule::new(&c, self.dnat_exprs()));
        }
        b.add_chain(&self.postrouting());
        b
    }

    /// Remove the table and everything in it.
    pub fn uninstall(&self) -> Batch {
        let mut b = Batch::new();
        b.del_table(&self.table);
        b
    }

    fn key(proto: Proto, port: u16) -> Vec<u8> {
        concat_value(&[&[proto.number()], &port.to_be_bytes()])
    }

    /// Publish `host_port` (for `proto`, on every local address) to `to:to_port`. EEXIST if
    /// that host port is already published.
    pub fn publish(&self, proto: Proto, host_port: u16, to: Ipv4Addr, to_port: u16) -> Batch {
        self.publish_many(&[(proto, host_port, to, to_port)])
    }

    /// Publish several ports in one message: `(proto, host_port, to, to_port)` each. All or
    /// none are published; EEXIST if one of the host ports already is.
    pub fn publish_many(&self, ports: &[(Proto, u16, Ipv4Addr, u16)]) -> Batch {
        let elems: Vec<Element> = ports
            .iter()
            .map(|&(proto, host_port, to, to_port)| {
                let value = concat_value(&[&to.octets(), &to_port.to_be_bytes()]);
                Element::value(Self::key(proto, host_port), value)
            })
            .collect();
        let mut b = Batch::new();
        b.add_elements(&self.map(), &elems, true);
        b
    }

    /// Stop publishing `host_port` for `proto`. ENOENT if it was not published.
    pub fn unpublish(&self, proto: Proto, host_port: u16) -> Batch {
        let mut b = Batch::new();
        b.del_elements(&self.map(), &[Element::key(Self::key(proto, host_port))]);
        b
    }

    /// Masquerade IPv4 traffic from `src`/`prefix` leaving through any interface but
    /// `except_oif` (the bridge the source subnet lives on): appends one rule to the
    /// postrouting chain.
    pub fn masquerade(&self, src: Ipv4Addr, prefix: u8, except_oif: &str) -> Result<Batch> {
        if prefix > 32 {
            return Err(Error::invalid(
                "prefix length",
                prefix.to_string(),
                "must be at most 32",
            ));
        }
        if except_oif.is_empty() || except_oif.len() > 15 || except_oif.contains('\0') {
            return Err(Error::invalid(
                "interface name",
                except_oif,
                "must be 1 to 15 bytes",
            ));
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        let net = u32::from(src) & mask;
        let mut ifname = [0u8; 16];
        ifname[..except_oif.len()].copy_from_slice(except_oif.as_bytes());
        let exprs = vec![
            Expr::Payload {
                base: PayloadBase::Network,
                offset: 12,
                len: 4,
                dreg: Reg::R0,
            },
            Expr::Bitwise {
                sreg: Reg::R0,
                dreg: Reg::R0,
                mask: mask.to_be_bytes().to_vec(),
                xor: vec![0; 4],
            },
            Expr::Cmp {
                sreg: Reg::R0,
                op: CmpOp::Eq,
                data: net.to_be_bytes().to_vec(),
            },
            Expr::Meta {
                key: MetaKey::OifName,
                dreg: Reg::R0,
            },
            Expr::Cmp {
                sreg: Reg::R0,
                op: CmpOp::Neq,
                data: ifname.to_vec(),
            },
            Expr::Counter,
            Expr::Masquerade,
        ];
        let mut b = Batch::new();
        b.add_rule(&Rule::new(&self.postrouting(), exprs));
        Ok(b)
    }
}
