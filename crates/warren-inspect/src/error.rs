//! Errors of `warren inspect`: a target that cannot be found or opened. A section that
//! cannot be read is not an error of the whole inspection: it is reported in its place
//! ([`crate::Section::Failed`]).

/// Errors resolving what to inspect.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The word cannot name anything.
    #[error("invalid target {target:?}: {reason}")]
    BadTarget {
        /// The word given.
        target: String,
        /// Why it is wrong.
        reason: String,
    },
    /// Nothing of that name.
    #[error("no namespace, container, pod or lab node {target:?} (looked at {tried})")]
    NotFound {
        /// The word given.
        target: String,
        /// Where it was looked for.
        tried: String,
    },
    /// The namespace exists but cannot be opened.
    #[error("open the namespace of {target}: {source}")]
    Open {
        /// The target.
        target: String,
        /// The kernel's error.
        #[source]
        source: Box<warren_kernel::Error>,
    },
    /// warren's state could not be read.
    #[error("look up container {target:?} in warren's state: {source}")]
    Store {
        /// The target.
        target: String,
        /// The store's error.
        #[source]
        source: Box<warren_store::Error>,
    },
    /// A container without a namespace of its own and no running process.
    #[error("container {target:?} has no network namespace to inspect (mode {mode}, not running)")]
    NoNetns {
        /// The target.
        target: String,
        /// Its network mode.
        mode: String,
    },
    /// `--section` named something that is not a section.
    #[error("unknown section {name:?} (sections: {known})")]
    UnknownSection {
        /// The word given.
        name: String,
        /// The sections there are.
        known: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
