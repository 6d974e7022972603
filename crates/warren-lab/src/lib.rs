//! warren's labs: a topology file (YAML, see `docs/lab.md`) is resolved into a [`model::Lab`]
//! — every name, address and route computed — which the builder makes real in the kernel.
//!
//! [`load_file`] and [`load_str`] read, check and resolve a file; every error found comes
//! back at once, each with file, line, column and field ([`Diagnostic`]).
//!
//! Once built, [`runtime`] runs what lives in the nodes (files in their own `/etc`, commands,
//! supervised daemons, `lab exec`), [`faults`] breaks and repairs links and partitions the
//! lab, and [`rootless`] lets a non-root user do all of it inside a user namespace.

mod address;
mod clab;
pub mod faults;
mod finish;
mod fxhash;
mod inherit;
pub mod graph;
pub mod load;
pub mod model;
pub mod names;
mod resolve;
pub mod rootless;
pub mod runtime;
mod spec;
mod values;
mod yaml;

pub use load::{Diagnostic, LoadError, Loaded, load_file, load_str};
pub use resolve::{BRIDGE_PORTS, MAX_BRIDGES, UPLINK};
