//! `warren sysctl KEY ...` prints values; `warren sysctl KEY=VALUE ...` sets them, in the
//! namespace the command runs in (`warren -n red sysctl net.ipv4.ip_forward=1`). Only
//! per-namespace keys under `net.` are accepted.
//!
//! Setting is all or nothing: every key is checked first, old values are read, and if one write
//! fails the earlier ones are put back.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Map, Value};
use warren_kernel::sysctl;

use super::{ParseError, perr, take_json};
use crate::{CliError, Global};

/// Arguments of `warren sysctl`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Subcommand and its arguments, in ip's syntax.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// One word: read a key, or set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `KEY`.
    Get(String),
    /// `KEY=VALUE`.
    Set(String, String),
}

/// What `warren sysctl` was asked to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The words.
    pub items: Vec<Item>,
}

/// Parse the words after `warren sysctl`; keys are checked here (no I/O).
pub fn parse(args: &[String]) -> Result<Cmd, ParseError> {
    if args.is_empty() {
        return Err(perr("sysctl", "missing KEY or KEY=VALUE"));
    }
    let mut items = Vec::with_capacity(args.len());
    for w in args {
        let item = match w.split_once('=') {
            Some((k, v)) => Item::Set(k.trim().to_owned(), v.trim().to_owned()),
            None => Item::Get(w.clone()),
        };
        let key = match &item {
            Item::Get(k) | Item::Set(k, _) => k,
        };
        sysctl::key_path(key).map_err(|e| perr("sysctl", e))?;
        items.push(item);
    }
    Ok(Cmd { items })
}

fn path(key: &str) -> Result<PathBuf, CliError> {
    Ok(sysctl::key_path(key)?)
}

/// Run `warren sysctl`. This process is already inside the namespace (`-n`), so the files
/// under `/proc/sys/net` are that namespace's.
pub fn run(args: Args, global: &Global) -> Result<ExitCode, CliError> {
    let (words, json) = take_json(&args.args, global);
    let cmd = parse(&words)?;
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut undo: Vec<(PathBuf, String)> = Vec::new();
    for item in &cmd.items {
        let outcome = match item {
            Item::Get(k) => sysctl::read_here(&path(k)?).map(|v| shown.push((k.clone(), v))),
            Item::Set(k, v) => {
                let p = path(k)?;
                sysctl::read_here(&p).and_then(|old| {
                    sysctl::write_here(&p, v)?;
                    undo.push((p, old));
                    if json {
                        shown.push((k.clone(), v.clone()));
                    }
                    Ok(())
                })
            }
        };
        if let Err(e) = outcome {
            for (p, old) in undo.iter().rev() {
                let _ = sysctl::write_here(p, old);
            }
            return Err(e.into());
        }
    }
    let out = if json {
        let m: Map<String, Value> = shown
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Value::Object(m).to_string() + "\n"
    } else if shown.len() == 1 && cmd.items.len() == 1 {
        format!("{}\n", shown[0].1)
    } else {
        shown.iter().map(|(k, v)| format!("{k} = {v}\n")).collect()
    };
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn gets_and_sets_parse() {
        assert_eq!(
            parse(&words("net.ipv4.ip_forward net.ipv6.conf.all.forwarding=1"))
                .unwrap()
                .items,
            vec![
                Item::Get("net.ipv4.ip_forward".into()),
                Item::Set("net.ipv6.conf.all.forwarding".into(), "1".into())
            ]
        );
        assert_eq!(
            parse(&words("net.ipv4.ping_group_range=0 2147483647"))
                .unwrap_err()
                .to_string(),
            "sysctl: invalid sysctl key \"2147483647\": must be a per-namespace key under net. \
             (e.g. net.ipv4.ip_forward)"
        );
        assert_eq!(
            parse(&["net.ipv4.ping_group_range=0 2147483647".to_string()])
                .unwrap()
                .items,
            vec![Item::Set(
                "net.ipv4.ping_group_range".into(),
                "0 2147483647".into()
            )]
        );
    }

    #[test]
    fn bad_keys_are_refused_before_anything_is_written() {
        for bad in ["kernel.pid_max=1", "net/../../etc/passwd", "", "=1"] {
            let e = parse(&[bad.to_string()]).unwrap_err().to_string();
            assert!(e.starts_with("sysctl: invalid sysctl key"), "{bad}: {e}");
        }
        assert!(parse(&[]).is_err());
    }
}
