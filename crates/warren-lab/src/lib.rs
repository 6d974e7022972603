//! warren's labs: a topology file (YAML, see `docs/lab.md`) is resolved into a [`model::Lab`]
//! — every name, address and route computed — which the builder makes real in the kernel.
//!
//! Once built, [`runtime`] runs what lives in the nodes (files in their own `/etc`, commands,
//! supervised daemons, `lab exec`), [`faults`] breaks and repairs links and partitions the
//! lab, and [`rootless`] lets a non-root user do all of it inside a user namespace.

pub mod faults;
pub mod model;
pub mod rootless;
pub mod runtime;
