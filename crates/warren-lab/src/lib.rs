//! warren's labs: a topology file (YAML, see `docs/lab.md`) is resolved into a [`model::Lab`]
//! — every name, address and route computed — which the builder makes real in the kernel.
//!
//! [`load_file`] and [`load_str`] read, check and resolve a file; every error found comes
//! back at once, each with file, line, column and field ([`Diagnostic`]).

mod address;
mod clab;
mod fields;
mod finish;
mod fxhash;
mod inherit;
mod links;
pub mod load;
pub mod model;
pub mod names;
mod resolve;
mod spec;
mod values;
mod walker;
mod yaml;

pub use load::{Diagnostic, LoadError, Loaded, load_file, load_str};
pub use resolve::{BRIDGE_PORTS, MAX_BRIDGES, UPLINK};
