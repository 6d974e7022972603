//! Netlink attribute (NLA) encoding for nf_tables messages: a growable buffer with nested
//! attributes, and the nf_tables constants of `linux/netfilter/nf_tables.h` that warren uses.
//!
//! nf_tables integers on the wire are big-endian (network order), except where the kernel
//! compares register contents that it filled in host order (e.g. `fib` address types).

/// `NFNL_SUBSYS_NFTABLES`: the nfnetlink subsystem of nf_tables.
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NFNL_MSG_BATCH_BEGIN`.
pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
/// `NFNL_MSG_BATCH_END`.
pub const NFNL_MSG_BATCH_END: u16 = 0x11;
/// `NLA_F_NESTED`.
pub const NLA_F_NESTED: u16 = 0x8000;
/// `NFTA_LIST_ELEM`: one element of a nested list.
pub const NFTA_LIST_ELEM: u16 = 1;

/// nf_tables message types (`enum nf_tables_msg_types`).
#[allow(missing_docs)]
pub mod msg {
    pub const NEWTABLE: u16 = 0;
    pub const GETTABLE: u16 = 1;
    pub const DELTABLE: u16 = 2;
    pub const NEWCHAIN: u16 = 3;
    pub const DELCHAIN: u16 = 5;
    pub const NEWRULE: u16 = 6;
    pub const NEWSET: u16 = 9;
    pub const DELSET: u16 = 11;
    pub const NEWSETELEM: u16 = 12;
    pub const DELSETELEM: u16 = 14;
}

/// Attribute numbers of tables, chains, hooks, rules, sets, elements, data and verdicts.
#[allow(missing_docs)]
pub mod attr {
    pub const TABLE_NAME: u16 = 1;
    pub const TABLE_FLAGS: u16 = 2;

    pub const CHAIN_TABLE: u16 = 1;
    pub const CHAIN_NAME: u16 = 3;
    pub const CHAIN_HOOK: u16 = 4;
    pub const CHAIN_POLICY: u16 = 5;
    pub const CHAIN_TYPE: u16 = 7;
    pub const HOOK_HOOKNUM: u16 = 1;
    pub const HOOK_PRIORITY: u16 = 2;

    pub const RULE_TABLE: u16 = 1;
    pub const RULE_CHAIN: u16 = 2;
    pub const RULE_EXPRESSIONS: u16 = 4;
    pub const EXPR_NAME: u16 = 1;
    pub const EXPR_DATA: u16 = 2;

    pub const SET_TABLE: u16 = 1;
    pub const SET_NAME: u16 = 2;
    pub const SET_FLAGS: u16 = 3;
    pub const SET_KEY_TYPE: u16 = 4;
    pub const SET_KEY_LEN: u16 = 5;
    pub const SET_DATA_TYPE: u16 = 6;
    pub const SET_DATA_LEN: u16 = 7;
    pub const SET_ID: u16 = 10;
    pub const SET_USERDATA: u16 = 13;

    pub const SET_ELEM_LIST_TABLE: u16 = 1;
    pub const SET_ELEM_LIST_SET: u16 = 2;
    pub const SET_ELEM_LIST_ELEMENTS: u16 = 3;
    pub const SET_ELEM_KEY: u16 = 1;
    pub const SET_ELEM_DATA: u16 = 2;
    pub const SET_ELEM_FLAGS: u16 = 3;

    pub const DATA_VALUE: u16 = 1;
    pub const DATA_VERDICT: u16 = 2;
    pub const VERDICT_CODE: u16 = 1;
    pub const VERDICT_CHAIN: u16 = 2;
}

/// A message body under construction: attributes appended in order, nests closed explicitly.
#[derive(Debug, Default, Clone)]
pub struct Nla {
    buf: Vec<u8>,
}

impl Nla {
    /// An empty attribute stream.
    pub fn new() -> Nla {
        Nla::default()
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Consume into the encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    /// An attribute with raw bytes as payload (padded to 4 bytes).
    pub fn bytes_attr(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    /// A NUL-terminated string attribute.
    pub fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.bytes_attr(ty, &v)
    }

    /// A big-endian u32 attribute.
    pub fn be32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.bytes_attr(ty, &v.to_be_bytes())
    }

    /// A big-endian u64 attribute.
    pub fn be64(&mut self, ty: u16, v: u64) -> &mut Self {
        self.bytes_attr(ty, &v.to_be_bytes())
    }

    /// Already encoded attributes, appended as they are.
    pub fn raw(&mut self, encoded: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(encoded);
        self.pad();
        self
    }

    /// A nested attribute whose content `f` writes.
    pub fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Nla)) -> &mut Self {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        let mut inner = Nla {
            buf: std::mem::take(&mut self.buf),
        };
        f(&mut inner);
        self.buf = inner.buf;
        let len = self.buf.len() - start;
        assert!(
            len <= usize::from(u16::MAX),
            "nested netlink attribute of {len} bytes: split it"
        );
        let len = len as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }
}

/// A whole netlink message: header, `nfgenmsg` and the attributes.
pub fn message(mtype: u16, flags: u16, seq: u32, family: u8, res_id: u16, body: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + body.len();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&mtype.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.push(family);
    m.push(0); // NFNETLINK_V0
    m.extend_from_slice(&res_id.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// The `nlmsg_type` of an nf_tables message.
pub fn nft_type(msg: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | msg
}

/// The attributes of an attribute stream as `(type without NLA_F_* flags, payload)`; stops
/// at the first malformed one.
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes([*buf.first()?, *buf.get(1)?]));
        let ty = u16::from_ne_bytes([*buf.get(2)?, *buf.get(3)?]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return None;
        }
        let payload = &buf[4..len];
        buf = &buf[((len + 3) & !3).min(buf.len())..];
        Some((ty, payload))
    })
}

/// A NUL-terminated string payload.
pub fn str_of(b: &[u8]) -> String {
    let s = b.split(|&c| c == 0).next().unwrap_or_default();
    String::from_utf8_lossy(s).into_owned()
}

/// A big-endian u32 payload (0 when short).
pub fn be32_of(b: &[u8]) -> u32 {
    b.get(..4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A big-endian u64 payload (0 when short).
pub fn be64_of(b: &[u8]) -> u64 {
    b.get(..8).map_or(0, |b| {
        u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    })
}
