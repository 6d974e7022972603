//! Rule expressions (`meta`, `payload`, `cmp`, `bitwise`, `lookup`, `immediate`, `fib`, `ct`,
//! `nat`, `masq`, `counter`) and their attribute encoding.

use super::wire::{Nla, attr};

/// A data register as it goes on the wire: a 32-bit one (`NFT_REG32_00` + n) or one of the
/// four 16-byte ones (`NFT_REG_1` .. `NFT_REG_4`), which alias the 32-bit registers
/// (`NFT_REG_1` is `NFT_REG32_00..03`, `NFT_REG_2` is `NFT_REG32_04..07`). Values wider than
/// four bytes span the following 32-bit registers; concatenations put each part in its own.
/// `nft` writes the first register of an expression as `NFT_REG_1` (and an IPv6 port after a
/// 16-byte address as `NFT_REG_2`); the kernel treats both spellings the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg(u32);

impl Reg {
    /// `NFT_REG32_00`: the first 32-bit register.
    pub const R0: Reg = Reg(8);
    /// `NFT_REG32_01`.
    pub const R1: Reg = Reg(9);
    /// `NFT_REG_1`: the first 16-byte register (the same storage as `NFT_REG32_00..03`).
    pub const REG1: Reg = Reg(1);
    /// `NFT_REG_2`: the second 16-byte register (`NFT_REG32_04..07`).
    pub const REG2: Reg = Reg(2);

    /// The 32-bit register `NFT_REG32_00 + n` (n below 16).
    pub const fn r32(n: u8) -> Reg {
        assert!(n < 16, "there are 16 32-bit registers");
        Reg(8 + n as u32)
    }

    /// The number sent on the wire.
    pub fn wire(self) -> u32 {
        self.0
    }
}

/// A verdict: what a rule (or a verdict map) decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `return` to the calling chain.
    Return,
    /// `jump CHAIN`.
    Jump(String),
    /// `goto CHAIN`.
    Goto(String),
}

impl Verdict {
    fn code(&self) -> i32 {
        match self {
            Verdict::Drop => 0,
            Verdict::Accept => 1,
            Verdict::Jump(_) => -3,
            Verdict::Goto(_) => -4,
            Verdict::Return => -5,
        }
    }

    /// Encode as `NFTA_DATA_VERDICT` into `n`.
    pub(crate) fn encode(&self, n: &mut Nla) {
        n.nest(attr::DATA_VERDICT, |v| {
            v.be32(attr::VERDICT_CODE, self.code() as u32);
            if let Verdict::Jump(c) | Verdict::Goto(c) = self {
                v.str(attr::VERDICT_CHAIN, c);
            }
        });
    }
}

/// Data carried by an expression or a map element: bytes or a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// Raw bytes (`NFTA_DATA_VALUE`), in the byte order the register holds them.
    Value(Vec<u8>),
    /// A verdict (`NFTA_DATA_VERDICT`).
    Verdict(Verdict),
}

impl Data {
    /// Encode the `nft_data` attributes into `n`.
    pub(crate) fn encode(&self, n: &mut Nla) {
        match self {
            Data::Value(b) => {
                n.bytes_attr(attr::DATA_VALUE, b);
            }
            Data::Verdict(v) => v.encode(n),
        }
    }
}

/// `meta` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKey {
    /// `meta iifname` (16 bytes).
    IifName,
    /// `meta oifname` (16 bytes).
    OifName,
    /// `meta nfproto` (1 byte: 2 for IPv4, 10 for IPv6).
    NfProto,
    /// `meta l4proto` (1 byte, IPPROTO_*).
    L4Proto,
}

impl MetaKey {
    fn wire(self) -> u32 {
        match self {
            MetaKey::IifName => 6,
            MetaKey::OifName => 7,
            MetaKey::NfProto => 15,
            MetaKey::L4Proto => 16,
        }
    }
}

/// Where a `payload` expression reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadBase {
    /// The link-layer header.
    Link,
    /// The network header (e.g. IPv4: saddr at 12, daddr at 16).
    Network,
    /// The transport header (`th`: sport at 0, dport at 2).
    Transport,
}

/// Comparison operators of `cmp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`.
    Eq,
    /// `!=`.
    Neq,
}

/// `ct` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtKey {
    /// `ct state` (4 bytes, host order; see [`ct_state`]).
    State,
    /// `ct status` (4 bytes, host order; see [`ct_status`]).
    Status,
}

/// Bits of `ct status` (host byte order in the register).
pub mod ct_status {
    /// `dnat`: the connection's destination was translated (`IPS_DST_NAT`).
    pub const DNAT: u32 = 0x20;
    /// `snat` (`IPS_SRC_NAT`).
    pub const SNAT: u32 = 0x10;
}

/// Bits of `ct state` (host byte order in the register).
pub mod ct_state {
    /// `invalid`.
    pub const INVALID: u32 = 1;
    /// `established`.
    pub const ESTABLISHED: u32 = 2;
    /// `related`.
    pub const RELATED: u32 = 4;
    /// `new`.
    pub const NEW: u32 = 8;
}

/// NAT kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    /// Source NAT.
    Snat,
    /// Destination NAT.
    Dnat,
}

/// `RTN_LOCAL`: the `fib … type local` result.
pub const RTN_LOCAL: u32 = 2;

/// One expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Load a `meta` key into a register.
    Meta {
        /// The key.
        key: MetaKey,
        /// Destination register.
        dreg: Reg,
    },
    /// Load `len` bytes at `offset` of a header into a register.
    Payload {
        /// Which header.
        base: PayloadBase,
        /// Byte offset in it.
        offset: u32,
        /// Number of bytes.
        len: u32,
        /// Destination register.
        dreg: Reg,
    },
    /// Compare a register with data; a mismatch ends the rule.
    Cmp {
        /// Source register.
        sreg: Reg,
        /// Operator.
        op: CmpOp,
        /// The value compared with (its length is the comparison's).
        data: Vec<u8>,
    },
    /// `dreg = (sreg & mask) ^ xor` over `mask.len()` bytes.
    Bitwise {
        /// Source register.
        sreg: Reg,
        /// Destination register.
        dreg: Reg,
        /// Mask.
        mask: Vec<u8>,
        /// Xor (same length as the mask).
        xor: Vec<u8>,
    },
    /// Look the register's content up in a set (match) or map (load the value, or apply the
    /// verdict when `dreg` is `None` and the map holds verdicts).
    Lookup {
        /// The set's name, in the rule's table.
        set: String,
        /// Register holding the key.
        sreg: Reg,
        /// Register receiving the mapped value (maps of values only).
        dreg: Option<Reg>,
        /// Verdict map: the value is the verdict.
        verdict: bool,
        /// Match when the key is absent instead.
        invert: bool,
    },
    /// Load an immediate value, or issue a verdict.
    Immediate(Data, Option<Reg>),
    /// `fib daddr type` into a register (host-order u32, compare with [`RTN_LOCAL`]).
    FibDaddrType {
        /// Destination register.
        dreg: Reg,
    },
    /// Load a conntrack key.
    Ct {
        /// The key.
        key: CtKey,
        /// Destination register.
        dreg: Reg,
    },
    /// Source or destination NAT to the address (and port) in registers.
    Nat {
        /// SNAT or DNAT.
        kind: NatKind,
        /// Address family of the registers' addresses (2 = IPv4, 10 = IPv6).
        family: u8,
        /// Register holding the address.
        addr: Option<Reg>,
        /// Register holding the port (network order, 2 bytes).
        port: Option<Reg>,
    },
    /// `masquerade`.
    Masquerade,
    /// `counter`.
    Counter,
}

impl Expr {
    /// The expression's kernel name.
    pub fn name(&self) -> &'static str {
        match self {
            Expr::Meta { .. } => "meta",
            Expr::Payload { .. } => "payload",
            Expr::Cmp { .. } => "cmp",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Lookup { .. } => "lookup",
            Expr::Immediate(..) => "immediate",
            Expr::FibDaddrType { .. } => "fib",
            Expr::Ct { .. } => "ct",
            Expr::Nat { .. } => "nat",
            Expr::Masquerade => "masq",
            Expr::Counter => "counter",
        }
    }

    /// A verdict as an expression (`immediate` into the verdict register).
    pub fn verdict(v: Verdict) -> Expr {
        Expr::Immediate(Data::Verdict(v), None)
    }

    /// Encode as one `NFTA_LIST_ELEM` of `NFTA_RULE_EXPRESSIONS`. `set_id` gives the
    /// transaction id of a set added earlier in the same batch (sent with a lookup, as nft does).
    pub(crate) fn encode(&self, n: &mut Nla, set_id: &dyn Fn(&str) -> Option<u32>) {
        n.nest(super::wire::NFTA_LIST_ELEM, |e| {
            e.str(attr::EXPR_NAME, self.name());
            e.nest(attr::EXPR_DATA, |d| self.encode_data(d, set_id));
        });
    }

    fn encode_data(&self, d: &mut Nla, set_id: &dyn Fn(&str) -> Option<u32>) {
        match self {
            Expr::Meta { key, dreg } => {
                // NFTA_META_KEY before NFTA_META_DREG, as nft sends it.
                d.be32(2, key.wire()).be32(1, dreg.wire());
            }
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                let base = match base {
                    PayloadBase::Link => 0,
                    PayloadBase::Network => 1,
                    PayloadBase::Transport => 2,
                };
                d.be32(1, dreg.wire())
                    .be32(2, base)
                    .be32(3, *offset)
                    .be32(4, *len);
            }
            Expr::Cmp { sreg, op, data } => {
                let op = match op {
                    CmpOp::Eq => 0,
                    CmpOp::Neq => 1,
                };
                d.be32(1, sreg.wire()).be32(2, op);
                d.nest(3, |v| {
                    v.bytes_attr(attr::DATA_VALUE, data);
                });
            }
            Expr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
            } => {
                d.be32(1, sreg.wire())
                    .be32(2, dreg.wire())
                    .be32(3, mask.len() as u32);
                d.nest(4, |v| {
                    v.bytes_attr(attr::DATA_VALUE, mask);
                });
                d.nest(5, |v| {
                    v.bytes_attr(attr::DATA_VALUE, xor);
                });
            }
            Expr::Lookup {
                set,
                sreg,
                dreg,
                verdict,
                invert,
            } => {
                // NFTA_LOOKUP_SREG, _DREG, _SET, _SET_ID, _FLAGS: nft's order.
                d.be32(2, sreg.wire());
                if *verdict {
                    d.be32(3, 0); // NFT_REG_VERDICT
                } else if let Some(r) = dreg {
                    d.be32(3, r.wire());
                }
                d.str(1, set);
                if let Some(id) = set_id(set) {
                    d.be32(4, id);
                }
                if *invert {
                    d.be32(5, 1); // NFT_LOOKUP_F_INV
                }
            }
            Expr::Immediate(data, dreg) => {
                d.be32(1, dreg.map_or(0, Reg::wire));
                d.nest(2, |v| data.encode(v));
            }
            Expr::FibDaddrType { dreg } => {
                // NFTA_FIB_FLAGS = NFTA_FIB_F_DADDR, NFTA_FIB_RESULT = NFT_FIB_RESULT_ADDRTYPE,
                // NFTA_FIB_DREG: nft's order.
                d.be32(3, 2).be32(2, 3).be32(1, dreg.wire());
            }
            Expr::Ct { key, dreg } => {
                let key = match key {
                    CtKey::State => 0,
                    CtKey::Status => 2,
                };
                // NFTA_CT_KEY before NFTA_CT_DREG, as nft sends it.
                d.be32(2, key).be32(1, dreg.wire());
            }
            Expr::Nat {
                kind,
                family,
                addr,
                port,
            } => {
                d.be32(1, if *kind == NatKind::Dnat { 1 } else { 0 })
                    .be32(2, u32::from(*family));
                if let Some(r) = addr {
                    d.be32(3, r.wire());
                }
                if let Some(r) = port {
                    d.be32(5, r.wire());
                }
            }
            Expr::Masquerade => {}
            Expr::Counter => {
                d.be64(1, 0).be64(2, 0);
            }
        }
    }
}
