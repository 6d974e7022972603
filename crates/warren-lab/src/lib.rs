//! warren's labs: a topology file (YAML, see `docs/lab.md`) is resolved into a [`model::Lab`]
//! — every name, address and route computed — which the builder makes real in the kernel.
//!
//! - [`load`]: the file → [`model::Lab`] (with diagnostics naming file, line and field).
//! - [`plan`]: what differs between the lab as built and a new one (pure).
//! - [`build`]: `up` — build a lab, or apply only the plan to the one built.
//! - [`teardown`]: `down` — remove exactly what the lab's builds recorded.
//! - [`state`]: the records in warren's store; [`nat`]: masquerade and host forwarding.
//! - [`sample`]: small labs made in Rust, for tests and benchmarks.

pub mod build;
pub mod error;
pub mod load;
pub mod model;
pub mod nat;
pub mod plan;
pub mod progress;
pub mod sample;
pub mod state;
pub mod teardown;

pub use error::{Error, Result};
pub use load::{Diagnostic, LoadError, Loaded, load_file};
