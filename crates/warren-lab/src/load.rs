//! Loading a lab file. STAND-IN until the YAML loader lands: this reads a resolved
//! [`model::Lab`] as JSON, with the loader's exact signature, so the builder, the CLI and the
//! tests work now. It is replaced by the real loader at merge.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model;

/// One problem in a lab file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// Line (1-based).
    pub line: usize,
    /// Column (1-based).
    pub column: usize,
    /// The field (`nodes.r1.kind`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.field,
            self.message
        )
    }
}

/// A lab file, resolved, and the warnings it drew.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The resolved lab.
    pub lab: model::Lab,
    /// Things ignored or doubtful, not errors.
    pub warnings: Vec<Diagnostic>,
}

/// Why a lab file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is invalid: every problem found.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Diagnostic>),
}

/// Load and resolve the lab in `path`.
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    match serde_json::from_str::<model::Lab>(&text) {
        Ok(lab) => Ok(Loaded {
            lab,
            warnings: Vec::new(),
        }),
        Err(e) => Err(LoadError::Invalid(vec![Diagnostic {
            file: path.to_owned(),
            line: e.line(),
            column: e.column(),
            field: String::new(),
            message: e.to_string(),
        }])),
    }
}
