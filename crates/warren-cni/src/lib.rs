//! warren's CNI side: the plugins a container runtime executes, and the protocol layer they
//! share.
//!
//! [`proto`] is the CNI protocol itself (environment, network configuration, results, errors,
//! versions) as pure code: it never touches the kernel, so every rule of the specification it
//! enforces is tested without privileges.

pub mod proto;
