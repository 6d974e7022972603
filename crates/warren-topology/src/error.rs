//! The errors of reading the host's topology and watching its events.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host-wide namespace scan failed.
    #[error("scan of the host's namespaces failed")]
    Scan {
        /// The cause.
        #[source]
        source: Box<warren_netns::Error>,
    },
    /// A kernel operation failed.
    #[error("cannot {what}")]
    Kernel {
        /// What we were doing.
        what: String,
        /// The cause.
        #[source]
        source: Box<warren_kernel::Error>,
    },
    /// Watching `/run/netns` for namespaces failed.
    #[error("cannot watch /run/netns for namespaces: {op} failed")]
    Watch {
        /// `mkdir`, `inotify_init` or `inotify_add_watch`.
        op: &'static str,
        /// The errno.
        #[source]
        source: nix::errno::Errno,
    },
    /// Waiting for events failed.
    #[error("cannot wait for events (poll)")]
    Poll {
        /// The errno.
        #[source]
        source: nix::errno::Errno,
    },
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
