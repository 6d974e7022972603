//! Errors of the kernel core. Every variant names the object it was about and the namespace it
//! happened in, and keeps the kernel's errno (and extack text, when the kernel sent one).

use std::fmt;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

/// A refusal reported by the kernel over netlink: errno plus the extended-ack message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetlinkError {
    /// The errno (positive).
    pub errno: Errno,
    /// The kernel's extended acknowledgement text (`NLMSGERR_ATTR_MSG`), if any.
    pub extack: Option<String>,
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.extack {
            Some(msg) => write!(f, "{msg} ({})", self.errno.desc()),
            None => f.write_str(self.errno.desc()),
        }
    }
}

impl std::error::Error for NetlinkError {}

/// Errors from the kernel core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused a netlink request.
    #[error("{op} {object} (netns {ns}): {source}")]
    Netlink {
        /// What was being done, e.g. "create link".
        op: &'static str,
        /// The object, e.g. `veth0` or `10.0.0.1/24 on eth0`.
        object: String,
        /// The namespace the request went to.
        ns: String,
        /// The kernel's answer.
        #[source]
        source: NetlinkError,
    },
    /// The running kernel does not implement a link, qdisc, classifier or action kind (or
    /// other feature), as the kernel's own refusal says.
    #[error("kernel lacks {feature}: {op} {object} (netns {ns}): {source}")]
    KernelLacks {
        /// The missing feature, e.g. `ipvlan` or `netem`.
        feature: String,
        /// What was being done.
        op: &'static str,
        /// The object.
        object: String,
        /// The namespace.
        ns: String,
        /// The kernel's answer, which is the evidence.
        #[source]
        source: NetlinkError,
    },
    /// A system call on a file or path failed.
    #[error("{op} {path}: {source}")]
    Os {
        /// What was being done, e.g. "bind mount".
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// A system call not tied to one path failed.
    #[error("{op} (netns {ns}): {source}")]
    Sys {
        /// What was being done, e.g. "setns".
        op: &'static str,
        /// The namespace concerned.
        ns: String,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Socket-level I/O with netlink failed.
    #[error("netlink socket (netns {ns}): {source}")]
    Socket {
        /// The namespace of the socket.
        ns: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The kernel sent something we could not decode.
    #[error("cannot decode netlink reply to {op} (netns {ns}): {reason}")]
    Decode {
        /// The request.
        op: &'static str,
        /// The namespace.
        ns: String,
        /// What was wrong.
        reason: String,
    },
    /// Input that cannot be right, rejected before anything reached the kernel.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What kind of value, e.g. "interface name".
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it is wrong.
        reason: String,
    },
    /// A named object does not exist.
    #[error("{what} {name:?} not found (netns {ns})")]
    NotFound {
        /// What kind of object, e.g. "link".
        what: &'static str,
        /// Its name.
        name: String,
        /// Where it was looked for.
        ns: String,
    },
}

impl Error {
    /// The errno behind this error, if the kernel or a syscall gave one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Netlink { source, .. } | Error::KernelLacks { source, .. } => Some(source.errno),
            Error::Os { source, .. } | Error::Sys { source, .. } => Some(*source),
            Error::Socket { source, .. } => source.raw_os_error().map(Errno::from_raw),
            _ => None,
        }
    }

    /// True when the kernel refused because it does not have the feature.
    pub fn is_kernel_lacks(&self) -> bool {
        matches!(self, Error::KernelLacks { .. })
    }

    pub(crate) fn os(op: &'static str, path: impl Into<PathBuf>, source: Errno) -> Self {
        Error::Os {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias for the kernel core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
