//! Errors of warren-netns. The messages of the variants about named namespaces are iproute2's
//! own wording (`Cannot create namespace file "/run/netns/x": File exists`), so a front end can
//! print them unchanged; each keeps its errno as the source.

use std::path::PathBuf;

use nix::errno::Errno;

/// Errors from named-namespace operations, discovery and garbage collection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name iproute2's `invalid_name()` rejects: empty, longer than 255 bytes, containing
    /// `/`, or `.`/`..`.
    #[error("Invalid netns name \"{name}\"")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// Setting up `/run/netns` (mkdir, open, or making it a shared mount) failed.
    #[error("{what}: {}", source.desc())]
    RunDir {
        /// What failed, in ip's words (e.g. `mount --make-shared /run/netns failed`).
        what: String,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// The namespace file could not be created (e.g. it exists).
    #[error("Cannot create namespace file \"{}\": {}", path.display(), source.desc())]
    CreateFile {
        /// `/run/netns/NAME`.
        path: PathBuf,
        /// The errno (EEXIST when the name is taken).
        #[source]
        source: Errno,
    },
    /// `unshare(CLONE_NEWNET)` failed.
    #[error("Failed to create a new network namespace \"{name}\": {}", source.desc())]
    Unshare {
        /// The name being created.
        name: String,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Bind-mounting the namespace onto its file failed (for `attach`, typically a PID that
    /// does not exist). The placeholder file has been removed.
    #[error("Bind {from} -> {} failed: {}", to.display(), source.desc())]
    Bind {
        /// What was bound: `/proc/self/ns/net` or `/proc/PID/ns/net`.
        from: String,
        /// `/run/netns/NAME`.
        to: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// The namespace file could not be removed (e.g. no such name).
    #[error("Cannot remove namespace file \"{}\": {}", path.display(), source.desc())]
    Remove {
        /// `/run/netns/NAME`.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// A namespace given by name, path or PID could not be opened.
    #[error("Cannot open network namespace \"{spec}\": {}", source.desc())]
    Open {
        /// The name, path or `pid:N` as given.
        spec: String,
        /// The errno (EINVAL when the file is not a network namespace).
        #[source]
        source: Errno,
    },
    /// Watching `/run/netns` failed.
    #[error("{op} failed: {}", source.desc())]
    Watch {
        /// `inotify_init` or `inotify_add_watch`.
        op: &'static str,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// Reading or changing a file (under `/proc` or `/run/netns`) failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Any other error of the kernel core (netlink refusals keep their extack text).
    #[error(transparent)]
    Kernel(#[from] warren_kernel::Error),
}

impl Error {
    /// The errno behind this error, if there is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::InvalidName { .. } => None,
            Error::RunDir { source, .. }
            | Error::CreateFile { source, .. }
            | Error::Unshare { source, .. }
            | Error::Bind { source, .. }
            | Error::Remove { source, .. }
            | Error::Open { source, .. }
            | Error::Watch { source, .. } => Some(*source),
            Error::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            Error::Kernel(e) => e.errno(),
        }
    }

    /// Translate an error of the kernel core's named-namespace functions into ip's terms.
    /// `bind_from` is what was being bound (`/proc/self/ns/net` or `/proc/PID/ns/net`).
    pub(crate) fn from_named(e: warren_kernel::Error, bind_from: &str) -> Error {
        use warren_kernel::Error as K;
        match e {
            K::Invalid {
                what: "netns name",
                value,
                ..
            } => Error::InvalidName { name: value },
            K::Os {
                op: "create namespace file",
                path,
                source,
            } => Error::CreateFile { path, source },
            K::Os {
                op: "bind mount namespace",
                path,
                source,
            } => Error::Bind {
                from: bind_from.to_owned(),
                to: path,
                source,
            },
            K::Os {
                op: "remove namespace file",
                path,
                source,
            } => Error::Remove { path, source },
            K::Sys {
                op: "unshare(CLONE_NEWNET)",
                ns,
                source,
            } => Error::Unshare { name: ns, source },
            K::Os {
                op: "mkdir",
                path,
                source,
            } => Error::RunDir {
                what: format!("mkdir {} failed", path.display()),
                source,
            },
            K::Os {
                op: "open netns runtime directory",
                path,
                source,
            } => Error::RunDir {
                what: format!("Cannot open netns runtime directory \"{}\"", path.display()),
                source,
            },
            K::Os {
                op: op @ ("mount --bind" | "mount --make-private" | "mount --make-shared"),
                path,
                source,
            } => {
                let p = path.display();
                let what = if op == "mount --bind" {
                    format!("{op} {p} {p} failed")
                } else {
                    format!("{op} {p} failed")
                };
                Error::RunDir { what, source }
            }
            other => Error::Kernel(other),
        }
    }

    /// Translate a failure to open a namespace given as `spec`.
    pub(crate) fn from_open(e: warren_kernel::Error, spec: &str) -> Error {
        use warren_kernel::Error as K;
        match e {
            K::Invalid {
                what: "netns name",
                value,
                ..
            } => Error::InvalidName { name: value },
            K::Invalid { .. } => Error::Open {
                spec: spec.to_owned(),
                source: Errno::EINVAL,
            },
            K::Os { source, .. } | K::Sys { source, .. } => Error::Open {
                spec: spec.to_owned(),
                source,
            },
            other => Error::Kernel(other),
        }
    }
}

/// Result alias of warren-netns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_errors_read_as_ip_words() {
        let cases: Vec<(warren_kernel::Error, &str)> = vec![
            (
                warren_kernel::Error::Os {
                    op: "create namespace file",
                    path: "/run/netns/a".into(),
                    source: Errno::EEXIST,
                },
                "Cannot create namespace file \"/run/netns/a\": File exists",
            ),
            (
                warren_kernel::Error::Os {
                    op: "bind mount namespace",
                    path: "/run/netns/a".into(),
                    source: Errno::ENOENT,
                },
                "Bind /proc/9/ns/net -> /run/netns/a failed: No such file or directory",
            ),
            (
                warren_kernel::Error::Os {
                    op: "remove namespace file",
                    path: "/run/netns/zz".into(),
                    source: Errno::ENOENT,
                },
                "Cannot remove namespace file \"/run/netns/zz\": No such file or directory",
            ),
            (
                warren_kernel::Error::Os {
                    op: "mount --make-shared",
                    path: "/run/netns".into(),
                    source: Errno::EPERM,
                },
                "mount --make-shared /run/netns failed: Operation not permitted",
            ),
            (
                warren_kernel::Error::Os {
                    op: "mount --bind",
                    path: "/run/netns".into(),
                    source: Errno::EPERM,
                },
                "mount --bind /run/netns /run/netns failed: Operation not permitted",
            ),
        ];
        for (k, want) in cases {
            assert_eq!(Error::from_named(k, "/proc/9/ns/net").to_string(), want);
        }
    }

    #[test]
    fn open_failures_name_the_spec() {
        let k = warren_kernel::Error::Os {
            op: "open netns",
            path: "/run/netns/x".into(),
            source: Errno::ENOENT,
        };
        let e = Error::from_open(k, "x");
        assert_eq!(
            e.to_string(),
            "Cannot open network namespace \"x\": No such file or directory"
        );
        assert_eq!(e.errno(), Some(Errno::ENOENT));
    }
}
