//! The engine's errors: each names the object (network, container, port, interface) and
//! keeps its cause.

use std::path::PathBuf;

/// Result with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong wiring containers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state database refused or failed.
    #[error(transparent)]
    Store(#[from] warren_store::Error),
    /// A kernel operation failed.
    #[error("{what}: {source}")]
    Kernel {
        /// What was being done, naming the object: `create veth wv1a2b3c4d0 for web`.
        what: String,
        /// The kernel's error (it names the namespace).
        #[source]
        source: Box<warren_kernel::Error>,
    },
    /// Input that cannot be right; nothing was changed.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What kind of value: "port spec", "network name", …
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it is wrong.
        reason: String,
    },
    /// A file could not be read or written.
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
    /// Something is in the wrong state for the request.
    #[error("{0}")]
    State(String),
    /// Setup failed; everything it had done was undone (or the undo errors are listed).
    #[error("{cause}{}", undo_suffix(.undo))]
    Setup {
        /// What failed.
        #[source]
        cause: Box<Error>,
        /// Errors met while undoing.
        undo: Vec<Error>,
    },
    /// Teardown went on past errors; here are all of them.
    #[error("{} error(s) tearing down {object}: {}", .errors.len(), join(.errors))]
    Teardown {
        /// What was torn down.
        object: String,
        /// Every error, in order.
        errors: Vec<Error>,
    },
}

fn undo_suffix(undo: &[Error]) -> String {
    if undo.is_empty() {
        String::new()
    } else {
        format!(" (and undoing failed: {})", join(undo))
    }
}

fn join(errors: &[Error]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// An [`Error::Invalid`].
    pub fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Error {
        Error::Invalid {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// Wrap a kernel error with what was being done.
    pub fn kernel(what: impl Into<String>) -> impl FnOnce(warren_kernel::Error) -> Error {
        let what = what.into();
        move |source| Error::Kernel {
            what,
            source: Box::new(source),
        }
    }

    /// `Ok` when a teardown of `object` met no error, else [`Error::Teardown`] with all of them.
    pub fn teardown(object: impl Into<String>, errors: Vec<Error>) -> Result<()> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown {
                object: object.into(),
                errors,
            })
        }
    }

    /// An I/O error on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    /// Whether this is bad input (exit code 1 at the CLI) rather than a system failure.
    pub fn is_user_error(&self) -> bool {
        match self {
            Error::Invalid { .. } | Error::State(_) => true,
            Error::Store(e) => !matches!(
                e,
                warren_store::Error::Db { .. }
                    | warren_store::Error::Io { .. }
                    | warren_store::Error::Corrupt { .. }
            ),
            Error::Setup { cause, .. } => cause.is_user_error(),
            _ => false,
        }
    }
}
