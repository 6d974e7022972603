//! warren's kernel-facing core: network namespaces, a synchronous rtnetlink layer and nf_tables
//! spoken over netlink ([`nft`]).
//!
//! This is the only crate of warren that contains `unsafe` code and the only one that knows
//! netlink wire formats. It never forks or executes a helper program: the sandbox helper only
//! prepares a [`std::process::Command`] that the caller spawns, and [`process`] spawns the
//! container command its caller built.
//!
//! ```no_run
//! use warren_kernel::{Handle, netns::{self, Source}};
//! let red = netns::add_named("red", Source::New)?;
//! let h = Handle::new(red)?;
//! h.link_set_up("lo")?;
//! # Ok::<(), warren_kernel::Error>(())
//! ```
#![allow(unsafe_code)]

pub mod addr;
pub mod conntrack;
pub mod error;
pub mod events;
pub mod failpoint;
pub mod handle;
pub mod link;
pub mod neigh;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod nsid;
pub mod packet;
pub mod process;
pub mod route;
pub mod rule;
pub mod sandbox;
pub mod sockdiag;
pub mod sockns;
pub mod sysctl;
pub mod tc;
pub mod userns;

pub use error::{Error, NetlinkError, Result};
pub use handle::Handle;
pub use netlink::{Request, RouteSocket};
pub use netns::{NetNs, NsId};
