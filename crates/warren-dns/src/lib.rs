//! warren's embedded DNS server: answers the names of containers (A, AAAA and PTR), each visible
//! only in its own network, and forwards everything else to upstream servers.
//!
//! The engine writes a [`Config`] with [`Config::write_atomic`] and starts the `warren-dns`
//! binary on it; the binary serves until the config it re-reads on SIGHUP has no listen
//! addresses. A client sees the names of the network it asks in, plus those of every network in
//! which it has a name itself.
//!
//! ```no_run
//! use warren_dns::{Config, Listen, NameEntry};
//!
//! let config = Config {
//!     listen: vec![Listen { network: "front".into(), addr: "10.89.0.1".parse().unwrap() }],
//!     names: vec![NameEntry {
//!         name: "web".into(),
//!         network: "front".into(),
//!         addrs: vec!["10.89.0.2".parse().unwrap()],
//!     }],
//!     upstreams: warren_dns::upstreams_from_resolv_conf(
//!         "/etc/resolv.conf".as_ref(),
//!         warren_dns::SYSTEMD_RESOLVED_CONF.as_ref(),
//!     ),
//!     ..Config::default()
//! };
//! config.write_atomic("/run/warren/dns/front.json".as_ref())?;
//! # Ok::<(), warren_dns::Error>(())
//! ```

#![deny(missing_docs)]

mod answer;
mod config;
mod error;
mod forward;
mod listener;
mod qname;
mod resolv;
mod server;
mod watch;
mod zone;

pub use config::{Config, DEFAULT_PORT, Delta, Fragment, Listen, Loader, NameEntry};
pub use error::{Error, Result};
pub use resolv::{SYSTEMD_RESOLVED_CONF, upstreams_from_resolv_conf};
pub use server::run;

/// An error and its causes on one line (`a: b: c`), as the binary prints it.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    server::chain(e)
}
