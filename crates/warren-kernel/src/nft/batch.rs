//! Transaction batches: `NFNL_MSG_BATCH_BEGIN`, the messages, `NFNL_MSG_BATCH_END`, sent in one
//! `sendmsg`. The kernel applies all of them or none; every message asks for an
//! acknowledgement, so the failing one is known and named.

use std::time::Duration;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};
use nix::sys::socket::setsockopt;
use nix::sys::socket::sockopt::{ReceiveTimeout, SndBuf, SndBufForce};
use nix::sys::time::TimeVal;

use super::rule::Rule;
use super::set::{Element, Set, encode_elements};
use super::wire::{self, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, msg};
use super::{Chain, Table};
use crate::error::{Error, NetlinkError, Result};
use crate::netlink::{ack_outcome, messages};

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;

/// Send buffer asked for: room for a transaction of some ten thousand messages.
const SEND_BUF: usize = 8 << 20;

/// How long to wait for the kernel's answers to a batch before giving up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// One message of a batch, and how an error names it.
#[derive(Debug, Clone)]
struct Msg {
    mtype: u16,
    flags: u16,
    family: u8,
    body: Vec<u8>,
    op: &'static str,
    object: String,
}

/// An ordered list of changes applied as one nf_tables transaction.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    msgs: Vec<Msg>,
    next_set_id: u32,
    /// Sets added in this batch and their transaction ids: (family, table, set) -> id.
    set_ids: Vec<((u8, String, String), u32)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Number of messages (without begin and end).
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// True if there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    fn push(
        &mut self,
        m: u16,
        flags: u16,
        family: u8,
        body: Vec<u8>,
        op: &'static str,
        object: String,
    ) {
        self.msgs.push(Msg {
            mtype: wire::nft_type(m),
            flags,
            family,
            body,
            op,
            object,
        });
    }

    /// Append the messages of `other` after this batch's, to apply them in one transaction.
    pub fn append(&mut self, other: Batch) -> &mut Self {
        self.msgs.extend(other.msgs);
        // Set ids are only hints for lookups (the kernel finds sets by name first); the
        // appended batch's rules already carry the ids it gave.
        self
    }

    /// Add a table; no error if it exists (`nft add table`).
    pub fn add_table(&mut self, t: &Table) -> &mut Self {
        self.push(
            msg::NEWTABLE,
            NLM_F_CREATE,
            t.family as u8,
            t.encode().into_bytes(),
            "add",
            t.describe(),
        );
        self
    }

    /// Create a table; EEXIST if it exists (`nft create table`).
    pub fn create_table(&mut self, t: &Table) -> &mut Self {
        self.push(
            msg::NEWTABLE,
            NLM_F_CREATE | NLM_F_EXCL,
            t.family as u8,
            t.encode().into_bytes(),
            "create",
            t.describe(),
        );
        self
    }

    /// Delete a table with everything in it.
    pub fn del_table(&mut self, t: &Table) -> &mut Self {
        self.push(
            msg::DELTABLE,
            0,
            t.family as u8,
            t.encode().into_bytes(),
            "delete",
            t.describe(),
        );
        self
    }

    /// Add a chain (base chain if it has a hook); no error if it exists identically.
    pub fn add_chain(&mut self, c: &Chain) -> &mut Self {
        self.push(
            msg::NEWCHAIN,
            NLM_F_CREATE,
            c.table.family as u8,
            c.encode().into_bytes(),
            "add",
            c.describe(),
        );
        self
    }

    /// Delete an empty chain that nothing jumps to.
    pub fn del_chain(&mut self, c: &Chain) -> &mut Self {
        let mut n = wire::Nla::new();
        n.str(wire::attr::CHAIN_TABLE, &c.table.name)
            .str(wire::attr::CHAIN_NAME, &c.name);
        self.push(
            msg::DELCHAIN,
            0,
            c.table.family as u8,
            n.into_bytes(),
            "delete",
            c.describe(),
        );
        self
    }

    /// Add a set or map.
    pub fn add_set(&mut self, s: &Set) -> &mut Self {
        self.next_set_id += 1;
        let body = s.encode(self.next_set_id).into_bytes();
        self.set_ids.push((
            (s.table.family as u8, s.table.name.clone(), s.name.clone()),
            self.next_set_id,
        ));
        self.push(
            msg::NEWSET,
            NLM_F_CREATE,
            s.table.family as u8,
            body,
            "add",
            s.describe(),
        );
        self
    }

    /// Delete a set or map (no rule may use it).
    pub fn del_set(&mut self, s: &Set) -> &mut Self {
        let mut n = wire::Nla::new();
        n.str(wire::attr::SET_TABLE, &s.table.name)
            .str(wire::attr::SET_NAME, &s.name);
        self.push(
            msg::DELSET,
            0,
            s.table.family as u8,
            n.into_bytes(),
            "delete",
            s.describe(),
        );
        self
    }

    /// Add elements to a set or map. With `exclusive`, an existing key is an error (EEXIST)
    /// instead of being left as it is.
    pub fn add_elements(&mut self, s: &Set, elems: &[Element], exclusive: bool) -> &mut Self {
        let flags = NLM_F_CREATE | if exclusive { NLM_F_EXCL } else { 0 };
        for body in encode_elements(s, elems, true) {
            self.push(
                msg::NEWSETELEM,
                flags,
                s.table.family as u8,
                body,
                "add element to",
                s.describe(),
            );
        }
        self
    }

    /// Delete elements (by key) from a set or map; ENOENT if one is absent.
    pub fn del_elements(&mut self, s: &Set, elems: &[Element]) -> &mut Self {
        for body in encode_elements(s, elems, false) {
            self.push(
                msg::DELSETELEM,
                0,
                s.table.family as u8,
                body,
                "delete element from",
                s.describe(),
            );
        }
        self
    }

    /// Append a rule at the end of its chain.
    pub fn add_rule(&mut self, r: &Rule) -> &mut Self {
        let family = r.chain.table.family as u8;
        let table = &r.chain.table.name;
        // A lookup in a set added earlier in this batch also names it by transaction id, as
        // nft does.
        let set_id = |name: &str| {
            self.set_ids
                .iter()
                .find(|((f, t, n), _)| *f == family && t == table && n == name)
                .map(|(_, id)| *id)
        };
        let body = r.encode(&set_id).into_bytes();
        self.push(
            msg::NEWRULE,
            NLM_F_CREATE | NLM_F_APPEND,
            family,
            body,
            "add",
            r.describe(),
        );
        self
    }

    /// The whole transaction as sent: begin, the messages with sequence numbers `seq + 1 ..`,
    /// end. `seq` numbers the begin message.
    pub fn to_bytes(&self, seq: u32) -> Vec<u8> {
        let res = NFNL_SUBSYS_NFTABLES;
        let mut out = wire::message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, 0, res, &[]);
        for (i, m) in self.msgs.iter().enumerate() {
            let s = seq.wrapping_add(1 + i as u32);
            out.extend(wire::message(
                m.mtype,
                NLM_F_REQUEST | NLM_F_ACK | m.flags,
                s,
                m.family,
                0,
                &m.body,
            ));
        }
        let end = seq.wrapping_add(1 + self.msgs.len() as u32);
        out.extend(wire::message(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            end,
            0,
            res,
            &[],
        ));
        out
    }
}

/// A `NETLINK_NETFILTER` socket bound to the namespace of the thread that opened it.
pub(crate) struct NftSocket {
    pub(crate) sock: Socket,
    seq: u32,
    pub(crate) ns: String,
}

impl NftSocket {
    /// Open in the calling thread's namespace; `ns` labels errors.
    pub(crate) fn open(ns: String) -> Result<NftSocket> {
        let io = |source| Error::Socket {
            ns: ns.clone(),
            source,
        };
        let mut sock = Socket::new(NETLINK_NETFILTER).map_err(io)?;
        sock.bind_auto().map_err(io)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_rx_buf_sz(1 << 20);
        // A whole transaction goes in one sendmsg, which the send buffer must hold: raise it
        // (beyond the sysctl limit where allowed, as nft does).
        if setsockopt(&sock, SndBufForce, &SEND_BUF).is_err() {
            let _ = setsockopt(&sock, SndBuf, &SEND_BUF);
        }
        let tv = TimeVal::new(ANSWER_TIMEOUT.as_secs() as _, 0);
        setsockopt(&sock, ReceiveTimeout, &tv)
            .map_err(|e| io(std::io::Error::from_raw_os_error(e as i32)))?;
        Ok(NftSocket { sock, seq: 0, ns })
    }

    /// Send the batch and read every acknowledgement; the first refusal (in message order)
    /// is the error.
    pub(crate) fn apply(&mut self, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.msgs.len() as u32;
        let begin = self.seq.wrapping_add(1).max(1);
        self.seq = begin.wrapping_add(n + 1);
        let sock_err = |ns: &str, source| Error::Socket {
            ns: ns.to_owned(),
            source,
        };
        self.sock
            .send(&batch.to_bytes(begin), 0)
            .map_err(|e| sock_err(&self.ns, e))?;
        // One answer per message; a broken batch header is answered on its begin or end.
        let mut answers: Vec<Option<std::result::Result<(), NetlinkError>>> =
            vec![None; n as usize + 2];
        // Capacity only: the kernel writes what it answers, so no page of the buffer is
        // touched (and faulted in) before it is needed.
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        while answers[1..=n as usize].iter().any(Option::is_none) {
            buf.clear();
            buf.reserve(64 * 1024);
            let got = match self.sock.recv(&mut buf, 0) {
                Ok(got) => got,
                // Timed out after a refusal: report the refusal rather than the timeout.
                Err(_) if answers.iter().any(|a| matches!(a, Some(Err(_)))) => break,
                Err(e) => return Err(sock_err(&self.ns, e)),
            };
            for (s, chunk) in messages(&buf[..got.min(buf.len())]) {
                let idx = s.wrapping_sub(begin) as usize;
                if idx < answers.len()
                    && let Some(outcome) = ack_outcome(chunk)
                {
                    answers[idx] = Some(outcome);
                }
            }
            // A refused begin or end message: nothing else will be answered.
            for idx in [0, n as usize + 1] {
                if let Some(Err(e)) = &answers[idx] {
                    return Err(Error::Netlink {
                        op: "apply",
                        object: "nf_tables batch".into(),
                        ns: self.ns.clone(),
                        source: e.clone(),
                    });
                }
            }
        }
        for (i, a) in answers[1..=n as usize].iter().enumerate() {
            if let Some(Err(e)) = a {
                let m = &batch.msgs[i];
                return Err(Error::Netlink {
                    op: m.op,
                    object: m.object.clone(),
                    ns: self.ns.clone(),
                    source: e.clone(),
                });
            }
        }
        Ok(())
    }
}

/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub(crate) const NLM_F_DUMP: u16 = 0x300;
const NLMSG_DONE: u16 = 3;

impl NftSocket {
    /// The namespace label errors carry.
    pub(crate) fn ns(&self) -> &str {
        &self.ns
    }

    /// Send one message outside a batch (`mtype` is the whole `nlmsg_type`, subsystem
    /// included) and hand every reply to `on_reply` (each a whole netlink message), until the
    /// kernel's acknowledgement or, for a dump (`NLM_F_DUMP` in `flags`), `NLMSG_DONE`. A
    /// refusal is returned as the kernel's error.
    pub(crate) fn request(
        &mut self,
        mtype: u16,
        flags: u16,
        family: u8,
        res_id: u16,
        body: &[u8],
        mut on_reply: impl FnMut(&[u8]),
    ) -> Result<std::result::Result<(), NetlinkError>> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        // A dump ends with NLMSG_DONE; anything else asks for an acknowledgement.
        let ack = if flags & NLM_F_DUMP == NLM_F_DUMP {
            0
        } else {
            NLM_F_ACK
        };
        let msg = wire::message(
            mtype,
            NLM_F_REQUEST | ack | flags,
            seq,
            family,
            res_id,
            body,
        );
        let sock_err = |ns: &str, source| Error::Socket {
            ns: ns.to_owned(),
            source,
        };
        self.sock.send(&msg, 0).map_err(|e| sock_err(&self.ns, e))?;
        // Capacity only: the kernel writes what it answers, so no page of the buffer is
        // touched (and faulted in) before it is needed.
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        loop {
            buf.clear();
            buf.reserve(64 * 1024);
            let got = self
                .sock
                .recv(&mut buf, 0)
                .map_err(|e| sock_err(&self.ns, e))?;
            for (s, chunk) in messages(&buf[..got.min(buf.len())]) {
                if s != seq {
                    continue;
                }
                if let Some(outcome) = ack_outcome(chunk) {
                    return Ok(outcome);
                }
                let ty = u16::from_ne_bytes([chunk[4], chunk[5]]);
                if ty == NLMSG_DONE {
                    let code = chunk
                        .get(16..20)
                        .map_or(0, |c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
                    return Ok(if code == 0 {
                        Ok(())
                    } else {
                        Err(NetlinkError {
                            errno: nix::errno::Errno::from_raw(code.saturating_abs()),
                            extack: None,
                        })
                    });
                }
                on_reply(chunk);
            }
        }
    }

    /// Whether the table exists (`NFT_MSG_GETTABLE`).
    pub(crate) fn table_exists(&mut self, t: &Table) -> Result<bool> {
        let mut n = wire::Nla::new();
        n.str(wire::attr::TABLE_NAME, &t.name);
        let outcome = self.request(
            wire::nft_type(msg::GETTABLE),
            0,
            t.family as u8,
            0,
            n.bytes(),
            |_| {},
        )?;
        match outcome {
            Ok(()) => Ok(true),
            Err(e) if e.errno == nix::errno::Errno::ENOENT => Ok(false),
            Err(source) => Err(Error::Netlink {
                op: "get",
                object: t.describe(),
                ns: self.ns.clone(),
                source,
            }),
        }
    }
}
