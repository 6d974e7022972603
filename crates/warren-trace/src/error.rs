//! The errors of `warren trace`: bad endpoints, and kernel reads that failed.

use thiserror::Error;

/// What went wrong while resolving endpoints, walking or probing.
#[derive(Debug, Error)]
pub enum Error {
    /// An endpoint word is not understood.
    #[error("invalid {what} '{word}': {reason}")]
    Invalid {
        /// Which argument (`SRC`, `DST`, `port`, ...).
        what: &'static str,
        /// The word as given.
        word: String,
        /// Why.
        reason: String,
    },
    /// An endpoint names nothing that exists.
    #[error("{what} '{word}' not found: {reason}")]
    NotFound {
        /// Which argument.
        what: &'static str,
        /// The word as given.
        word: String,
        /// Where it was looked for.
        reason: String,
    },
    /// A kernel read failed.
    #[error("{context}")]
    Kernel {
        /// What was being read, with the namespace.
        context: String,
        /// The kernel's error.
        #[source]
        source: Box<warren_kernel::Error>,
    },
    /// warren's store could not be read (to resolve a container name).
    #[error("reading warren's state to resolve '{word}'")]
    Store {
        /// The name being resolved.
        word: String,
        /// The store's error.
        #[source]
        source: Box<warren_store::Error>,
    },
    /// The probe was refused or could not be sent.
    #[error("probe from {ns} to {dst}: {reason}")]
    Probe {
        /// Source namespace.
        ns: String,
        /// Destination.
        dst: String,
        /// Why.
        reason: String,
    },
}

/// Result with [`enum@Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Attach a context to a kernel error.
pub(crate) fn kernel(context: impl Into<String>) -> impl FnOnce(warren_kernel::Error) -> Error {
    let context = context.into();
    move |source| Error::Kernel {
        context,
        source: Box::new(source),
    }
}
