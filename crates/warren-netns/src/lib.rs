//! iproute2-compatible named network namespaces, and discovery of every network namespace on
//! the host.
//!
//! - [`named`]: `ip netns` semantics on `/run/netns` (add in bulk, delete, list with nsids,
//!   identify, pids, set, list-id), interchangeable with iproute2 both ways.
//! - [`scan`]: every namespace, however it is held (name, process, bind mount in any mount
//!   namespace, open descriptor), with its processes, container hint and interface count.
//! - [`gc`]: removal of stale `/run/netns` entries left by crashes.
//! - [`monitor`]: `add NAME` / `delete NAME` events from `/run/netns`.
//!
//! Library code never forks or executes a program.
#![deny(missing_docs)]

pub mod error;
pub mod gc;
pub mod monitor;
pub mod named;
pub mod procfs;
pub mod scan;

pub use error::{Error, Result};
