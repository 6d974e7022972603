//! nf_tables spoken over netlink by warren itself: no `nft` or `iptables` process.
//!
//! Changes are [`Batch`]es applied as one kernel transaction (all or nothing); each message of
//! a batch is acknowledged, so a refusal names the object it was about. warren only ever
//! changes its own tables: it never flushes or reorders other rules and never changes another
//! table's chains. It reads the whole ruleset only to show it ([`dump`], printed in nft's
//! syntax by [`print`](mod@print)), never to decide what to change.
//!
//! ```no_run
//! use warren_kernel::nft::{Firewall, NetworkRules, Nft, PortRule, Proto};
//! let ns = warren_kernel::NetNs::current()?;
//! let nft = Nft::new(&ns)?;
//! let fw = Firewall::new("warren");
//! let net = NetworkRules {
//!     bridge: "wbr0".into(),
//!     subnets: vec!["10.88.0.0/24".parse()?],
//!     internal: false,
//!     masquerade: true,
//! };
//! nft.apply(&fw.rebuild(&[net], &[])?)?;
//! let port = PortRule {
//!     host_ip: None,
//!     proto: Proto::Tcp,
//!     host_port: 8080,
//!     addr: "10.88.0.2".parse().unwrap(),
//!     port: 80,
//! };
//! nft.apply(&fw.publish(&[port])?)?;
//! # Ok::<(), warren_kernel::Error>(())
//! ```

use std::sync::Mutex;

pub mod batch;
pub mod blocklist;
pub mod dump;
pub mod expr;
pub mod firewall;
pub mod print;
pub mod rule;
pub mod set;
pub mod wire;

pub use batch::Batch;
pub use blocklist::Blocklist;
pub use expr::{CmpOp, CtKey, Data, Expr, MetaKey, NatKind, PayloadBase, Reg, Verdict};
pub use firewall::{Firewall, NetworkRules, PortRule, Proto};
pub use rule::Rule;
pub use set::{DataType, Element, MapTo, Set};

use crate::error::Result;
use crate::netns::NetNs;
use batch::NftSocket;
use wire::{Nla, attr};

/// Address family of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Family {
    /// `inet`: IPv4 and IPv6.
    Inet = 1,
    /// `ip`: IPv4.
    Ip = 2,
    /// `ip6`: IPv6.
    Ip6 = 10,
}

impl Family {
    /// The name `nft` uses.
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }
}

/// A table: a family and a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Table {
    /// Its family.
    pub family: Family,
    /// Its name.
    pub name: String,
}

impl Table {
    /// The table `name` of `family`.
    pub fn new(family: Family, name: &str) -> Table {
        Table {
            family,
            name: name.to_owned(),
        }
    }

    /// How errors name it: `table inet warren`.
    pub fn describe(&self) -> String {
        format!("table {} {}", self.family.name(), self.name)
    }

    pub(crate) fn encode(&self) -> Nla {
        let mut n = Nla::new();
        n.str(attr::TABLE_NAME, &self.name)
            .be32(attr::TABLE_FLAGS, 0);
        n
    }
}

/// Netfilter hooks a base chain can attach to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `prerouting`.
    Prerouting = 0,
    /// `input`.
    Input = 1,
    /// `forward`.
    Forward = 2,
    /// `output`.
    Output = 3,
    /// `postrouting`.
    Postrouting = 4,
}

/// Types of base chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainType {
    /// `filter`.
    Filter,
    /// `nat`.
    Nat,
}

/// What makes a chain a base chain: type, hook and priority (policy is always accept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseChain {
    /// The chain type.
    pub kind: ChainType,
    /// The hook.
    pub hook: Hook,
    /// The priority (`dstnat` is -100, `srcnat` 100, `filter` 0).
    pub priority: i32,
}

/// A chain: regular (only reached by jumps) or base (attached to a hook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Its table.
    pub table: Table,
    /// Its name.
    pub name: String,
    /// Hook attachment, for a base chain.
    pub base: Option<BaseChain>,
}

impl Chain {
    /// A regular chain.
    pub fn regular(table: &Table, name: &str) -> Chain {
        Chain {
            table: table.clone(),
            name: name.to_owned(),
            base: None,
        }
    }

    /// A base chain with policy accept.
    pub fn base(table: &Table, name: &str, kind: ChainType, hook: Hook, priority: i32) -> Chain {
        Chain {
            table: table.clone(),
            name: name.to_owned(),
            base: Some(BaseChain {
                kind,
                hook,
                priority,
            }),
        }
    }

    /// How errors name it: `chain inet warren prerouting`.
    pub fn describe(&self) -> String {
        format!(
            "chain {} {} {}",
            self.table.family.name(),
            self.table.name,
            self.name
        )
    }

    pub(crate) fn encode(&self) -> Nla {
        let mut n = Nla::new();
        n.str(attr::CHAIN_TABLE, &self.table.name)
            .str(attr::CHAIN_NAME, &self.name);
        if let Some(b) = self.base {
            // Type, policy, hook: the order nft sends them in.
            n.str(
                attr::CHAIN_TYPE,
                match b.kind {
                    ChainType::Filter => "filter",
                    ChainType::Nat => "nat",
                },
            );
            n.be32(attr::CHAIN_POLICY, 1); // NF_ACCEPT
            n.nest(attr::CHAIN_HOOK, |h| {
                h.be32(attr::HOOK_HOOKNUM, b.hook as u32)
                    .be32(attr::HOOK_PRIORITY, b.priority as u32);
            });
        }
        n
    }
}

/// nf_tables in one network namespace: a `NETLINK_NETFILTER` socket opened inside it.
/// Usable from any thread.
#[derive(Debug)]
pub struct Nft {
    sock: Mutex<NftSocket>,
}

impl std::fmt::Debug for NftSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NftSocket").finish_non_exhaustive()
    }
}

impl Nft {
    /// Let the next program this process starts inherit this socket (its close-on-exec flag
    /// is cleared). The last close of an nf_tables socket that sent anything waits for the
    /// kernel's deferred frees of earlier transactions (an RCU grace period, tens of
    /// milliseconds here, after elements were deleted); a short-lived process that deleted
    /// elements can hand that wait to a detached child this way instead of sitting in it at
    /// exit.
    pub fn inherit_on_exec(&self) -> Result<()> {
        let sock = self.sock.lock().unwrap_or_else(|e| e.into_inner());
        nix::fcntl::fcntl(
            &sock.sock,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .map(|_| ())
        .map_err(|e| {
            crate::Error::os(
                "keep the nf_tables socket open across exec",
                sock.ns.clone(),
                e,
            )
        })
    }

    /// Before the last close of an nf_tables socket after deletions, in a process that can
    /// wait (the detached child [`Nft::inherit_on_exec`] hands it to): wait for an RCU grace
    /// period, holding no lock (`membarrier(MEMBARRIER_CMD_GLOBAL)`, the kernel's
    /// `synchronize_rcu`).
    ///
    /// Deleted nftables objects are freed by a kernel work item after a grace period. An
    /// nfnetlink socket closed before that work has taken them makes the kernel flush the
    /// work — a whole grace period — while holding the namespace's nftables commit mutex, so
    /// every other nftables transaction in the namespace waits behind the close (measured
    /// here: a CNI DEL's commit stalled 3–25 ms behind the previous call's deleter). Waiting
    /// first lets the work take the list; the close then holds the mutex for microseconds.
    /// Where membarrier is unavailable (`nohz_full`), sleeps 50 ms instead.
    pub fn settle_before_close() {
        const MEMBARRIER_CMD_GLOBAL: libc::c_int = 1;
        // SAFETY: membarrier takes two integers and a CPU id, no pointers; it changes no
        // memory of this process.
        let rc = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
        if rc != 0 {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Open nf_tables in `ns` (the socket is created by the calling thread, entered into
    /// `ns` for the moment: [`NetNs::run_here`]).
    pub fn new(ns: &NetNs) -> Result<Nft> {
        let label = ns.label().to_owned();
        let sock = ns.run_here(|| NftSocket::open(label))?;
        Ok(Nft {
            sock: Mutex::new(sock),
        })
    }

    /// Apply a batch as one transaction: everything or, on the first refusal, nothing.
    pub fn apply(&self, batch: &Batch) -> Result<()> {
        self.sock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(batch)
    }

    /// Whether `table` exists (`NFT_MSG_GETTABLE`).
    pub fn table_exists(&self, table: &Table) -> Result<bool> {
        self.sock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .table_exists(table)
    }
}
