//! The one place errors are printed, and warren's exit codes.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the command failed (bad arguments, missing object, system call refused) |
//! | 2 | the kernel refused a netlink request (as `ip`: its extack text is printed) |
//! | 3 | `warren trace`: the packet stops on the way (the verdict is printed) |
//! | 255 | usage errors that `ip netns` also exits 255 for (invalid name, unknown subcommand) |
//!
//! `warren ns exec` passes the command's own exit status through.

use std::fmt;
use std::process::ExitCode;

/// An error on its way to the user: message and exit code.
#[derive(Debug)]
pub struct CliError {
    /// Exit code (see module docs).
    pub code: u8,
    /// One line, naming the object.
    pub message: String,
}

impl CliError {
    /// A failure with exit code 1.
    pub fn fail(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
        }
    }

    /// A failure with an explicit exit code.
    pub fn with_code(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }

    /// Print `warren: MESSAGE` on stderr and return the exit code.
    pub fn report(self) -> ExitCode {
        if !self.message.is_empty() {
            eprintln!("warren: {}", self.message);
        }
        ExitCode::from(self.code)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The error and its causes on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

impl From<warren_kernel::Error> for CliError {
    fn from(e: warren_kernel::Error) -> Self {
        let code = match e {
            warren_kernel::Error::Netlink { .. } | warren_kernel::Error::KernelLacks { .. } => 2,
            _ => 1,
        };
        CliError {
            code,
            message: chain(&e),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // A closed pipe (`warren ns list | head`) is not an error.
            return CliError {
                code: 0,
                message: String::new(),
            };
        }
        CliError::fail(e.to_string())
    }
}

impl From<warren_engine::Error> for CliError {
    fn from(e: warren_engine::Error) -> Self {
        let code = match &e {
            warren_engine::Error::Kernel { source, .. }
                if matches!(
                    **source,
                    warren_kernel::Error::Netlink { .. } | warren_kernel::Error::KernelLacks { .. }
                ) =>
            {
                2
            }
            _ => 1,
        };
        CliError {
            code,
            message: chain(&e),
        }
    }
}
