//! `warren inspect`: everything about one network namespace, read from the outside over
//! netlink, sock_diag, ctnetlink, nf_tables and `/proc` — never by running a tool inside, so
//! it works for containers whose images have none.
//!
//! [`Target::parse`] reads the user's word (a namespace name or path, `pid:N`, a warren
//! container or pod, a lab node `LAB/NODE`), [`resolve`] opens its namespace, [`snapshot`]
//! reads every [`SectionName`] independently into an [`Inspection`] (a section that fails
//! carries its error; the others are still there), and [`render::text`] prints it the way
//! `ip`, `ss`, `conntrack` and `nft` would, while the [`Inspection`] itself serializes to
//! JSON with stable keys.
//!
//! ```no_run
//! use warren_inspect::{Target, resolve, snapshot, SectionName};
//! let r = resolve(&Target::parse(Some("red"))?)?;
//! let i = snapshot(&r, SectionName::ALL);
//! print!("{}", warren_inspect::render::text(&i));
//! # Ok::<(), warren_inspect::Error>(())
//! ```
#![deny(missing_docs)]

pub mod error;
pub mod model;
mod peer;
pub mod render;
mod snapshot;
pub mod target;

pub use error::{Error, Result};
pub use model::{Inspection, Section, SectionName};
pub use snapshot::snapshot;
pub use target::{Kind, Resolved, Target, resolve};
