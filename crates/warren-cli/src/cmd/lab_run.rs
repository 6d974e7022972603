//! `warren lab exec`, `warren lab link set`, `warren lab partition`, `warren lab heal`: what
//! acts on a running lab, given the lab as built (from the store) by the caller. Also the
//! hidden `__lab-supervise` and `__lab-keeper` processes.
//!
//! ```text
//! warren lab exec NODE -- CMD [ARG...]
//! warren lab link set NODE:IF down|up|bw=RATE|bw=none     RATE: 100mbit, 1gbit, 500kbit, 64000
//! warren lab partition A[,B...] / C[,D...]                 (spaces work as separators too)
//! warren lab heal
//! ```

use std::process::ExitCode;

use warren_lab::faults::{self, LinkAction};
use warren_lab::model::Lab;
use warren_lab::runtime::{self, Dirs};

use super::{ParseError, perr};
use crate::CliError;
use crate::exit::chain;

/// `warren lab exec NODE -- CMD...`: run a command inside a node (its namespace, its `/etc`
/// files, hostname and environment) with this terminal; exits with the command's status.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The node.
    pub node: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

/// `warren lab link set NODE:IF down|up|bw=RATE|bw=none`.
#[derive(Debug, clap::Args)]
pub struct LinkArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: LinkCommand,
}

/// `warren lab link` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum LinkCommand {
    /// Take a link down or up (both ends, as Mininet's `link`), or shape it (`bw=100mbit`,
    /// `bw=none`).
    Set {
        /// `NODE:IF`, one end of the link.
        end: String,
        /// `down`, `up`, `bw=RATE` or `bw=none`.
        action: String,
    },
}

/// `warren lab partition A,B / C,D`: cut traffic between two groups of nodes.
#[derive(Debug, clap::Args)]
pub struct PartitionArgs {
    /// Node names of one side, `/`, node names of the other (commas or spaces between names).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub words: Vec<String>,
}

/// `NODE:IF` → (node, interface).
pub fn parse_end(s: &str) -> Result<(String, String), ParseError> {
    match s.split_once(':') {
        Some((n, i)) if !n.is_empty() && !i.is_empty() && !i.contains(':') => {
            Ok((n.to_owned(), i.to_owned()))
        }
        _ => Err(perr("lab link set", format!("{s:?} is not NODE:IF"))),
    }
}

/// `down`, `up`, `bw=RATE`, `bw=none`.
pub fn parse_action(s: &str) -> Result<LinkAction, ParseError> {
    match s {
        "down" => Ok(LinkAction::Down),
        "up" => Ok(LinkAction::Up),
        "bw=none" | "bw=off" => Ok(LinkAction::Unshaped),
        _ => match s.strip_prefix("bw=") {
            Some(rate) => parse_rate(rate).map(LinkAction::Bandwidth),
            None => Err(perr(
                "lab link set",
                format!("{s:?}: expected down, up, bw=RATE or bw=none"),
            )),
        },
    }
}

/// A rate in bits per second: a number with an optional unit `bit`, `kbit`, `mbit`, `gbit`,
/// `tbit` (powers of 1000, case-insensitive; `k`/`m`/`g`/`t` alone too), as `tc` writes them.
pub fn parse_rate(s: &str) -> Result<u64, ParseError> {
    let bad = |why: &str| perr("lab link set", format!("rate {s:?}: {why}"));
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let scale: u64 = match unit {
        "" | "bit" => 1,
        "k" | "kbit" => 1_000,
        "m" | "mbit" => 1_000_000,
        "g" | "gbit" => 1_000_000_000,
        "t" | "tbit" => 1_000_000_000_000,
        _ => return Err(bad("unit must be bit, kbit, mbit, gbit or tbit")),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| bad("expected a number such as 100mbit"))?;
    let bps = value * scale as f64;
    if !(8.0..=1e15).contains(&bps) {
        return Err(bad("must be between 8bit and 1000tbit"));
    }
    Ok(bps.round() as u64)
}

/// `A,B / C D` → (["A","B"], ["C","D"]).
pub fn parse_groups(words: &[String]) -> Result<(Vec<String>, Vec<String>), ParseError> {
    let joined = words.join(" ");
    let Some((a, b)) = joined.split_once('/') else {
        return Err(perr("lab partition", "expected GROUP / GROUP"));
    };
    if b.contains('/') {
        return Err(perr("lab partition", "more than one '/'"));
    }
    let names = |s: &str| -> Vec<String> {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (a, b) = (names(a), names(b));
    if a.is_empty() || b.is_empty() {
        return Err(perr("lab partition", "each side of '/' needs a node"));
    }
    Ok((a, b))
}

/// `warren lab exec`.
pub fn exec(args: &ExecArgs, lab: &Lab) -> Result<ExitCode, CliError> {
    let code = runtime::exec(lab, &args.node, &args.command, &Dirs::discover())
        .map_err(|e| CliError::fail(chain(&e)))?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(255)))
}

/// `warren lab link set`.
pub fn link(args: &LinkArgs, lab: &Lab) -> Result<ExitCode, CliError> {
    let LinkCommand::Set { end, action } = &args.command;
    let (node, iface) = parse_end(end)?;
    let action = parse_action(action)?;
    faults::link_set(lab, &node, &iface, action).map_err(|e| CliError::fail(chain(&e)))?;
    Ok(ExitCode::SUCCESS)
}

/// `warren lab partition`.
pub fn partition(args: &PartitionArgs, lab: &Lab) -> Result<ExitCode, CliError> {
    let (a, b) = parse_groups(&args.words)?;
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    faults::partition(lab, &a, &b).map_err(|e| CliError::fail(chain(&e)))?;
    Ok(ExitCode::SUCCESS)
}

/// `warren lab heal`: every error is printed, the first one fails the command.
pub fn heal(lab: &Lab) -> Result<ExitCode, CliError> {
    match faults::heal(lab) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(errors) => {
            let all: Vec<String> = errors.iter().map(|e| chain(e)).collect();
            Err(CliError::fail(all.join("; ")))
        }
    }
}

/// `warren __lab-supervise` (started by `lab up`; the request is in its environment).
pub fn supervise() -> ExitCode {
    ExitCode::from(u8::try_from(runtime::supervise_main()).unwrap_or(1))
}

/// `warren __lab-keeper` (started by the first rootless `warren lab` command).
pub fn keeper() -> ExitCode {
    ExitCode::from(u8::try_from(warren_lab::rootless::keeper_main()).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn ends_actions_and_rates() {
        assert_eq!(parse_end("r1:eth0").unwrap(), ("r1".into(), "eth0".into()));
        for bad in ["r1", ":eth0", "r1:", "a:b:c"] {
            assert!(parse_end(bad).is_err(), "{bad}");
        }
        for (s, want) in [
            ("down", Some(LinkAction::Down)),
            ("up", Some(LinkAction::Up)),
            ("bw=none", Some(LinkAction::Unshaped)),
            ("bw=100mbit", Some(LinkAction::Bandwidth(100_000_000))),
            ("bw=1.5Gbit", Some(LinkAction::Bandwidth(1_500_000_000))),
            ("bw=64000", Some(LinkAction::Bandwidth(64_000))),
            ("bw=512k", Some(LinkAction::Bandwidth(512_000))),
            ("bw=", None),
            ("bw=7bit", None),
            ("bw=10mbps", None),
            ("bw=-1mbit", None),
            ("bw=1e3mbit", None),
            ("sideways", None),
        ] {
            assert_eq!(parse_action(s).ok(), want, "{s}");
        }
    }

    #[test]
    fn groups_split_on_the_slash() {
        for (words, want) in [
            ("a,b / c", Some((vec!["a", "b"], vec!["c"]))),
            ("a b / c d", Some((vec!["a", "b"], vec!["c", "d"]))),
            ("a/b", Some((vec!["a"], vec!["b"]))),
            ("a,,b /c,", Some((vec!["a", "b"], vec!["c"]))),
            ("a b", None),
            ("/ b", None),
            ("a /", None),
            ("a / b / c", None),
        ] {
            let got = parse_groups(&w(words)).ok();
            let want = want.map(|(a, b)| {
                (
                    a.into_iter().map(String::from).collect::<Vec<_>>(),
                    b.into_iter().map(String::from).collect::<Vec<_>>(),
                )
            });
            assert_eq!(got, want, "{words}");
        }
    }

    #[test]
    fn random_words_never_panic() {
        let pieces = [
            "a", ",", "/", " ", "bw=", "1", ".", "mbit", ":", "é", "k", "up",
        ];
        let mut seed = 0x9e37_79b9_u64;
        for _ in 0..5000 {
            let mut s = String::new();
            for _ in 0..(seed % 8) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            seed = seed.wrapping_add(1);
            let _ = parse_action(&s);
            let _ = parse_end(&s);
            let _ = parse_groups(&[s.clone()]);
        }
    }
}
