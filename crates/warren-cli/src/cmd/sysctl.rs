//! `warren sysctl`.

use std::process::ExitCode;

use crate::{CliError, Global};

/// Arguments of `warren sysctl`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Subcommand and its arguments, in ip's syntax.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Run `warren sysctl`.
pub fn run(args: Args, global: &Global) -> Result<ExitCode, CliError> {
    let _ = (args, global);
    Err(CliError::fail("not built yet"))
}
