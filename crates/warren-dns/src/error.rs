//! Errors of warren-dns. Each variant names the object it is about (a file, an address) and
//! keeps the underlying error as its source.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors from loading or writing the configuration and from starting the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read.
    #[error("cannot read the DNS config {}", path.display())]
    ReadConfig {
        /// The config file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not the JSON we expect.
    #[error("cannot parse the DNS config {}", path.display())]
    ParseConfig {
        /// The config file.
        path: PathBuf,
        /// Where and why parsing stopped.
        #[source]
        source: serde_json::Error,
    },
    /// The configuration parsed but says something impossible (a bad name, port 0, one address
    /// listed for two networks).
    #[error("invalid DNS config {}: {reason}", path.display())]
    InvalidConfig {
        /// The config file (being read or written).
        path: PathBuf,
        /// What is wrong, naming the entry.
        reason: String,
    },
    /// The configuration (or the pid file) could not be written and renamed into place.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file being written (the final path, not the temporary one).
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A listening socket could not be opened.
    #[error("cannot listen on {proto} {addr}")]
    Bind {
        /// `udp` or `tcp`.
        proto: &'static str,
        /// The address and port.
        addr: SocketAddr,
        /// Why (e.g. the port is taken).
        #[source]
        source: std::io::Error,
    },
    /// The async runtime or the signal handlers could not be set up.
    #[error("cannot start the server: {what}")]
    Start {
        /// What was being set up.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// warren-dns's result type.
pub type Result<T> = std::result::Result<T, Error>;
