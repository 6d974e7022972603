//! Errors of a capture: each names the `node:if` it is about or where the stream went.

/// Errors of a capture.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The capture socket could not be opened (no such interface, namespace gone,
    /// permission).
    #[error("cannot capture on {target}: {source}")]
    Open {
        /// The `node:if` asked for.
        target: String,
        /// The kernel's answer.
        #[source]
        source: Box<warren_kernel::Error>,
    },
    /// Receiving from a capture socket failed.
    #[error("capture on {target}: {source}")]
    Receive {
        /// The `node:if`.
        target: String,
        /// The kernel's answer.
        #[source]
        source: Box<warren_kernel::Error>,
    },
    /// Waiting for packets failed.
    #[error("capture: waiting for packets: {0}")]
    Poll(#[source] Box<warren_kernel::Error>),
    /// Writing the stream failed.
    #[error("writing the capture to {dest}: {source}")]
    Write {
        /// The file, or `stdout`.
        dest: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Nothing to capture on.
    #[error("capture: no interface given")]
    NoTarget,
    /// The same interface asked for twice.
    #[error("capture: {target} given twice")]
    Duplicate {
        /// The `node:if`.
        target: String,
    },
}

/// Result alias of the capture crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
