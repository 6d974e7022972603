//! The lab builder's errors: each names the lab and the object (node, link, namespace,
//! interface) and keeps its cause.

/// Result with the lab crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong building, changing or removing a lab.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused (or lacks) something.
    #[error("lab {lab}: {what}")]
    Kernel {
        /// The lab.
        lab: String,
        /// What was being done, naming the object (`create namespace twolans-r1`).
        what: String,
        /// The kernel's error.
        #[source]
        source: Box<warren_kernel::Error>,
    },
    /// Delay or loss asked for where the kernel has no netem.
    #[error("lab {lab}: link {link}: delay and loss need netem: kernel lacks netem")]
    NoNetem {
        /// The lab.
        lab: String,
        /// The link asking for it (`r1:eth2 -- r2:eth2`).
        link: String,
        /// The kernel's refusal.
        #[source]
        source: Box<warren_kernel::Error>,
    },
    /// warren's state database failed.
    #[error("lab {lab}: state")]
    Store {
        /// The lab.
        lab: String,
        /// The store's error.
        #[source]
        source: Box<warren_store::Error>,
    },
    /// The lab model is inconsistent (an index or a name that points nowhere).
    #[error("lab {lab}: {object}: {message}")]
    Model {
        /// The lab.
        lab: String,
        /// The object.
        object: String,
        /// What is wrong.
        message: String,
    },
    /// No lab by that name was built.
    #[error("no lab {0:?}")]
    NoSuchLab(String),
    /// A lab of that name was built from another file, or an `up` of it was interrupted.
    #[error("lab {lab}: {message}")]
    Refused {
        /// The lab.
        lab: String,
        /// Why.
        message: String,
    },
    /// A namespace or host interface of the lab's name exists but is not the lab's: left
    /// alone.
    #[error("lab {lab}: {object} exists but warren did not create it: left alone")]
    NotOurs {
        /// The lab.
        lab: String,
        /// The namespace or interface.
        object: String,
    },
    /// What runs in the nodes (files, commands, daemons) failed; the kernel part stands.
    #[error("lab {lab}: the lab is wired, but what runs in its nodes failed")]
    Runtime {
        /// The lab.
        lab: String,
        /// The first failure.
        #[source]
        source: Box<crate::runtime::RuntimeError>,
    },
    /// Teardown went on past errors: all of them.
    #[error("lab {lab}: teardown: {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Teardown {
        /// The lab.
        lab: String,
        /// Every error met.
        errors: Vec<Error>,
    },
}

impl Error {
    /// A kernel error while doing `what`.
    pub(crate) fn kernel(
        lab: &str,
        what: impl Into<String>,
    ) -> impl FnOnce(warren_kernel::Error) -> Error {
        let (lab, what) = (lab.to_owned(), what.into());
        move |source| Error::Kernel {
            lab,
            what,
            source: Box::new(source),
        }
    }

    /// A store error.
    pub(crate) fn store(lab: &str) -> impl FnOnce(warren_store::Error) -> Error {
        let lab = lab.to_owned();
        move |source| Error::Store {
            lab,
            source: Box::new(source),
        }
    }

    /// An inconsistent model.
    pub(crate) fn model(lab: &str, object: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Model {
            lab: lab.to_owned(),
            object: object.into(),
            message: message.into(),
        }
    }
}
