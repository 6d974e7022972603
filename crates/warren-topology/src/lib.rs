//! The host's network topology, read from the kernel: every network namespace (however it is
//! held: named, by a process, a bind mount or a descriptor) with its owner and interfaces,
//! every veth's peer and macvlan's parent resolved to a namespace through `IFLA_LINK_NETNSID`
//! and the kernel's nsid answers (never by guessing from names or indexes), and every bridge
//! port's bridge.
//!
//! - [`host::scan`]: read it all ([`Topology`]).
//! - [`veths::rows`]: the veth/macvlan map of `warren veths`.
//! - [`graph::host_graph`]: the same as a graph to render (`warren graph --host`).
//! - [`monitor::run`]: events of every namespace (`warren monitor`).
//!
//! ```no_run
//! let topo = warren_topology::host::scan()?;
//! for row in warren_topology::veths::rows(&topo) {
//!     println!("{} {} -> {:?}", row.netns, row.ifname, row.peer_netns);
//! }
//! # Ok::<(), warren_topology::Error>(())
//! ```
//!
//! Library code never forks or executes a program.
#![deny(missing_docs)]

pub mod error;
pub mod event;
pub mod graph;
pub mod host;
pub mod model;
pub mod monitor;
pub mod owner;
pub mod resolve;
pub mod veths;

pub use error::{Error, Result};
pub use model::{Iface, Namespace, Owner, PeerRef, Relation, Topology};
