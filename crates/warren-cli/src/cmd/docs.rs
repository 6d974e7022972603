//! `warren completion SHELL` and `warren man DIR`: shell completions and man pages, generated
//! from the CLI definition itself, so they name exactly the commands and options this binary
//! accepts. Internal commands (hidden from `--help`) are left out of both.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::CliError;

/// `warren completion`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `warren man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Directory to write the pages into (`warren.1`, `warren-lab-up.1`, ...), created if
    /// missing.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Print the completion script for `args.shell` on stdout.
pub fn completion(args: &CompletionArgs, cmd: clap::Command) -> Result<ExitCode, CliError> {
    let mut cmd = without_hidden(cmd);
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "warren", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::fail(format!("write the {} completion script: {e}", args.shell)))?;
    Ok(ExitCode::SUCCESS)
}

/// `cmd` without its hidden (internal) subcommands, which some shells' generators would
/// otherwise offer: the same arguments, settings and visible subcommands under a new top.
fn without_hidden(cmd: clap::Command) -> clap::Command {
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let args: Vec<clap::Arg> = cmd.get_arguments().cloned().collect();
    let mut top = clap::Command::new("warren")
        .version(env!("CARGO_PKG_VERSION"))
        .args(args)
        .subcommands(subs)
        .subcommand_required(cmd.is_subcommand_required_set())
        .propagate_version(cmd.is_propagate_version_set());
    if let Some(a) = cmd.get_about() {
        top = top.about(a.clone());
    }
    top
}

/// Write one man page per visible command into `args.dir`; print each path written.
pub fn man(args: &ManArgs, cmd: clap::Command) -> Result<ExitCode, CliError> {
    let dir = &args.dir;
    let failed = |e: std::io::Error| CliError::fail(format!("man pages in {}: {e}", dir.display()));
    // Every page is rendered first, so a bad directory is found before any file is written.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    render(cmd, &mut pages).map_err(failed)?;
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut written = Vec::with_capacity(pages.len());
    for (name, text) in pages {
        let path = dir.join(name);
        write_page(&path, &text)
            .map_err(|e| CliError::fail(format!("write man page {}: {e}", path.display())))?;
        written.push(path);
    }
    let mut out = std::io::stdout().lock();
    for p in written {
        let _ = writeln!(out, "{}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The pages of `cmd` and its visible subcommands: (file name, roff text).
fn render(cmd: clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render(sub.clone(), pages)?;
    }
    let man = clap_mangen::Man::new(cmd);
    let mut text = Vec::new();
    man.render(&mut text)?;
    pages.push((man.get_filename(), text));
    Ok(())
}

/// Write a page through a temporary file renamed into place: a reader never sees half a page.
fn write_page(path: &Path, text: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("1.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
