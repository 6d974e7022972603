//! The store's errors.

use std::path::PathBuf;

/// Result with the store's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong with warren's state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("state database {path}: {op}: {source}")]
    Db {
        /// What was being done.
        op: &'static str,
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A name is already taken.
    #[error("{what} {name:?} already exists")]
    Exists {
        /// network, container, pod.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// Nothing by that name.
    #[error("no such {what}: {name:?}")]
    NotFound {
        /// network, container, pod.
        what: &'static str,
        /// The name or id given.
        name: String,
    },
    /// A subnet overlaps another network's.
    #[error("subnet {subnet} overlaps {other} of network {network:?}")]
    Overlap {
        /// The subnet asked for.
        subnet: String,
        /// The subnet it overlaps.
        other: String,
        /// The network that has it.
        network: String,
    },
    /// No address left.
    #[error("network {network:?}: no free address left in {range}")]
    Exhausted {
        /// The network.
        network: String,
        /// The range searched.
        range: String,
    },
    /// A static address cannot be had.
    #[error("network {network:?}: address {addr} {reason}")]
    AddressUnavailable {
        /// The network.
        network: String,
        /// The address asked for.
        addr: String,
        /// Why not.
        reason: &'static str,
    },
    /// A host port is taken.
    #[error("port {spec} is already published by {owner:?}")]
    PortTaken {
        /// The port, e.g. `0.0.0.0:8080/tcp`.
        spec: String,
        /// The container or pod publishing it.
        owner: String,
    },
    /// The network is in use.
    #[error("network {network:?} is in use by {users} (use -f to disconnect them)")]
    InUse {
        /// The network.
        network: String,
        /// Who uses it, comma-separated.
        users: String,
    },
    /// A CNI range (host-local's `ranges` entry) is invalid.
    #[error("{field} {value} {problem}")]
    InvalidRange {
        /// The config key: `subnet`, `rangeStart`, `rangeEnd`, `gateway`, `ranges`.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong, e.g. `is outside subnet 10.2.0.0/24`.
        problem: String,
    },
    /// A CNI attachment already holds an address.
    #[error(
        "duplicate allocation is not allowed: {container_id}/{ifname} already has {ip} in network {network}"
    )]
    DuplicateAllocation {
        /// The CNI network.
        network: String,
        /// The container id.
        container_id: String,
        /// The interface name.
        ifname: String,
        /// The address it holds.
        ip: String,
    },
    /// A requested address is held by another attachment.
    #[error(
        "requested IP {ip} in network {network} is already allocated to {container_id}/{ifname}"
    )]
    AddressTaken {
        /// The CNI network.
        network: String,
        /// The address asked for.
        ip: String,
        /// The container id holding it.
        container_id: String,
        /// The interface holding it.
        ifname: String,
    },
    /// Every address of a CNI range set is taken.
    #[error("no IP addresses available in range set: {ranges}")]
    RangeSetExhausted {
        /// The CNI network.
        network: String,
        /// The set's ranges, `start-end` comma-separated.
        ranges: String,
    },
    /// A stored value could not be parsed back.
    #[error("state database {path}: bad stored {what} {value:?}")]
    Corrupt {
        /// What column.
        what: &'static str,
        /// The value.
        value: String,
        /// The database.
        path: PathBuf,
    },
}

impl Error {
    pub(crate) fn db(op: &'static str, path: &std::path::Path, source: rusqlite::Error) -> Error {
        Error::Db {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// Map a rusqlite error inside a transaction (the path is not at hand there).
pub(crate) fn sql(op: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    move |source| Error::Db {
        op,
        path: PathBuf::from("warren.db"),
        source,
    }
}
