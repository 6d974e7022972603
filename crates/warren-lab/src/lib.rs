//! warren's labs: a topology file (YAML, see `docs/lab.md`) is resolved into a [`model::Lab`]
//! — every name, address and route computed — which the builder makes real in the kernel.
//!
//! [`load_file`] and [`load_str`] read, check and resolve a file; every error found comes
//! back at once, each with file, line, column and field ([`Diagnostic`]).
//!
//! Once built, [`runtime`] runs what lives in the nodes (files in their own `/etc`, commands,
//! supervised daemons, `lab exec`), [`faults`] breaks and repairs links and partitions the
//! lab, and [`rootless`] lets a non-root user do all of it inside a user namespace.
//!
//! - [`plan`]: what differs between the lab as built and a new one (pure).
//! - [`lifecycle`]: `up` and `down` as the CLI runs them (kernel and processes).
//! - [`build`]: `up` — build a lab, or apply only the plan to the one built.
//! - [`teardown`]: `down` — remove exactly what the lab's builds recorded.
//! - [`state`]: the records in warren's store; [`nat`]: masquerade and host forwarding.
//! - [`sample`]: small labs made in Rust, for tests and benchmarks.

mod address;
pub mod build;
mod clab;
pub mod error;
pub mod faults;
mod fields;
mod finish;
mod fxhash;
pub mod graph;
mod inherit;
pub mod lifecycle;
mod links;
pub mod load;
pub mod model;
pub mod names;
pub mod nat;
pub mod plan;
pub mod progress;
mod resolve;
pub mod rootless;
pub mod runtime;
pub mod sample;
mod spec;
pub mod state;
pub mod teardown;
mod values;
mod walker;
mod yaml;

pub use error::{Error, Result};
pub use load::{Diagnostic, LoadError, Loaded, load_file, load_str};
pub use resolve::{BRIDGE_PORTS, MAX_BRIDGES, UPLINK};
