//! warren's labs: a topology file (YAML, see `docs/lab.md`) is resolved into a [`model::Lab`]
//! — every name, address and route computed — which the builder makes real in the kernel.

pub mod graph;
pub mod model;
