//! Loading a lab file: YAML with positions (`yaml.rs`), the walk that checks every field
//! (`spec.rs`, or `clab.rs` for a containerlab file), then the resolution into a
//! [`model::Lab`] (`resolve.rs`, `address.rs`, `finish.rs`). Every error is collected, none stops the
//! others: [`LoadError::Invalid`] lists them all, each with file, line, column and field.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model;
use crate::yaml::Pos;

/// One finding about a lab file: where it is and what is wrong (or, as a warning, ignored).
/// Serializes as `{"file", "line", "column", "field", "message"}` (for `-j` output).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column (in characters), from 1.
    pub column: usize,
    /// The field's path: `nodes.r1.interfaces.eth1.addresses[0]` (empty for the document).
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
            if self.field.is_empty() {
                "(document)"
            } else {
                &self.field
            },
            self.message
        )
    }
}

/// A lab file that loaded: the resolved lab, and warnings (fields of a containerlab file
/// that warren ignores).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The resolved lab.
    pub lab: model::Lab,
    /// Warnings, in file order.
    pub warnings: Vec<Diagnostic>,
}

/// Why a lab file did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read lab file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a valid lab: every error found, in file order.
    #[error("{}", display_all(.0))]
    Invalid(Vec<Diagnostic>),
}

fn display_all(diags: &[Diagnostic]) -> String {
    let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// Reads, checks and resolves the lab file at `path`.
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(&text, path)
}

/// Checks and resolves a lab given as text; `file` names it in diagnostics.
pub fn load_str(text: &str, file: &Path) -> Result<Loaded, LoadError> {
    let mut diags = Diags::new(file);
    let doc = match crate::yaml::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            diags.error(e.pos, "", e.message);
            return Err(LoadError::Invalid(diags.errors));
        }
    };
    let spec = if crate::clab::is_containerlab(&doc) {
        crate::clab::walk(&doc, &mut diags)
    } else {
        crate::spec::walk(&doc, &mut diags)
    };
    let lab = crate::resolve::resolve(&spec, &mut diags);
    if diags.errors.is_empty() {
        Ok(Loaded {
            lab,
            warnings: diags.warnings,
        })
    } else {
        diags.errors.sort_by(|a, b| {
            (a.line, a.column)
                .cmp(&(b.line, b.column))
                .then_with(|| a.message.cmp(&b.message))
        });
        diags.errors.dedup();
        Err(LoadError::Invalid(diags.errors))
    }
}

/// The diagnostics collected while loading one file.
pub(crate) struct Diags {
    file: PathBuf,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Diags {
    pub(crate) fn new(file: &Path) -> Diags {
        Diags {
            file: file.to_path_buf(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn make(&self, pos: Pos, field: &str, message: String) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            field: field.to_string(),
            message,
        }
    }

    /// Records an error.
    pub(crate) fn error(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        let d = self.make(pos, field, message.into());
        self.errors.push(d);
    }

    /// Records a warning.
    pub(crate) fn warn(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        let d = self.make(pos, field, message.into());
        self.warnings.push(d);
    }
}
