//! warren's CNI side: the plugins a container runtime executes, and the protocol layer they
//! share.
//!
//! [`proto`] is the CNI protocol itself (environment, network configuration, results, errors,
//! versions) as pure code: it never touches the kernel, so every rule of the specification it
//! enforces is tested without privileges.
//!
//! [`plugins`] are the plugins: `warren-bridge`, `warren-ptp`, `warren-macvlan`,
//! `warren-ipvlan`, `warren-host-local`, `warren-portmap`, `warren-bandwidth`,
//! `warren-tuning` and `warren-loopback` are one binary (`warren-cni`) under nine names, over
//! the same engine as `warren run` ([`warren_engine`]): its bridge and veth wiring, its
//! SQLite store for addresses and records, its nftables table (here `inet warren-cni`) for
//! masquerade and published ports.

pub mod install;
pub mod plugins;
pub mod proto;
pub mod runtime;
