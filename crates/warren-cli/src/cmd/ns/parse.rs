//! Stage one of `warren ns`: the command line, parsed by hand as iproute2 parses `ip netns`
//! (subcommands prefix-matched in ip's order, the name after the subcommand checked first).
//! Pure: nothing here touches the system.

use crate::CliError;

/// What `warren ns` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `list` / `show` / `lst`; `all` = every namespace of the host.
    List {
        /// `--all`.
        all: bool,
    },
    /// `list-id [target-nsid N] [nsid N]`.
    ListId {
        /// `target-nsid N`.
        target: Option<i32>,
        /// `nsid N`.
        nsid: Option<i32>,
    },
    /// `help`.
    Help,
    /// `add NAME... [--count N --prefix P] [--lo-up]`.
    Add {
        /// Every name, generated ones included.
        names: Vec<String>,
        /// `--lo-up`.
        lo_up: bool,
    },
    /// `attach NAME PID`.
    Attach {
        /// The name.
        name: String,
        /// The process.
        pid: i32,
    },
    /// `set NAME NSID|auto`.
    Set {
        /// The name.
        name: String,
        /// `None` for `auto`.
        nsid: Option<i32>,
    },
    /// `delete NAME...`.
    Delete {
        /// The names.
        names: Vec<String>,
    },
    /// `delete --all` (ip's `-all netns delete`).
    DeleteAll,
    /// `identify [PID|pid:N|PATH|NAME]`.
    Identify {
        /// `None` for this process.
        target: Option<String>,
    },
    /// `pids NAME|PATH|pid:N`.
    Pids {
        /// The namespace.
        spec: String,
    },
    /// `exec NAME|PATH|pid:N CMD...`.
    Exec {
        /// The namespace.
        spec: String,
        /// Program and arguments.
        cmd: Vec<String>,
    },
    /// `exec --all CMD...` (ip's `-all netns exec`).
    ExecAll {
        /// Program and arguments.
        cmd: Vec<String>,
    },
    /// `monitor`.
    Monitor,
    /// `gc [--dry-run]`.
    Gc {
        /// `--dry-run`.
        dry_run: bool,
    },
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The command.
    pub cmd: Cmd,
    /// JSON output.
    pub json: bool,
}

/// ip's subcommands in its matching order, then warren's own (so ip's prefixes keep their
/// meaning).
const SUBCOMMANDS: &[&str] = &[
    "list", "show", "lst", "list-id", "help", "add", "set", "delete", "identify", "pids", "exec",
    "monitor", "attach", "gc",
];

/// iproute2's `matches()`: `word` is a prefix of `keyword` (the empty word matches anything).
pub fn matches(word: &str, keyword: &str) -> bool {
    keyword.starts_with(word)
}

/// iproute2's `invalid_name()`.
pub fn invalid_name(name: &str) -> bool {
    name.is_empty() || name.len() > 255 || name.contains('/') || name == "." || name == ".."
}

fn usage_error(msg: impl Into<String>) -> CliError {
    CliError::with_code(255, msg)
}

fn invarg(msg: &str, arg: &str) -> CliError {
    usage_error(format!("Error: argument \"{arg}\" is wrong: {msg}"))
}

fn is_all(a: &str) -> bool {
    matches!(a, "-all" | "--all" | "-a")
}

fn is_json(a: &str) -> bool {
    matches!(a, "-j" | "-json" | "--json")
}

/// Parse the words after `warren ns`. `json` is the global `-j`.
pub fn parse(args: &[String], json: bool) -> Result<Parsed, CliError> {
    let mut json = json;
    let mut all = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if is_all(a) {
            all = true;
        } else if is_json(a) {
            json = true;
        } else {
            break;
        }
        i += 1;
    }
    let args = &args[i..];
    let Some(word) = args.first() else {
        return Ok(Parsed {
            cmd: Cmd::List { all: false },
            json,
        });
    };
    let sub = SUBCOMMANDS.iter().copied().find(|k| matches(word, k));
    let rest = &args[1..];
    // ip checks the word after the subcommand before anything else; warren lets the commands
    // that take a namespace by path keep one with '/'.
    if !all && let Some(first) = rest.first() {
        let path_ok = matches!(sub, Some("exec" | "pids" | "identify")) && first.contains('/');
        if invalid_name(first) && !path_ok {
            return Err(usage_error(format!("Invalid netns name \"{first}\"")));
        }
    }
    let cmd = match sub {
        Some("list" | "show" | "lst") => parse_list(rest, &mut json)?,
        Some("list-id") => parse_list_id(rest)?,
        Some("help") => Cmd::Help,
        Some("add") => parse_add(rest)?,
        Some("set") => parse_set(rest)?,
        Some("delete") => parse_delete(rest, all)?,
        Some("identify") => match rest {
            [] => Cmd::Identify { target: None },
            [t] => Cmd::Identify {
                target: Some(t.clone()),
            },
            _ => return Err(CliError::fail("extra arguments specified")),
        },
        Some("pids") => match rest {
            [] => return Err(CliError::fail("No netns name specified")),
            [s] => Cmd::Pids { spec: s.clone() },
            _ => return Err(CliError::fail("extra arguments specified")),
        },
        Some("exec") => parse_exec(rest, all)?,
        Some("monitor") => Cmd::Monitor,
        Some("attach") => parse_attach(rest)?,
        Some("gc") => parse_gc(rest, &mut json)?,
        _ => {
            return Err(usage_error(format!(
                "Command \"{word}\" is unknown, try \"warren ns help\"."
            )));
        }
    };
    Ok(Parsed { cmd, json })
}

fn parse_list(rest: &[String], json: &mut bool) -> Result<Cmd, CliError> {
    let mut all = false;
    for a in rest {
        if is_all(a) {
            all = true;
        } else if is_json(a) {
            *json = true;
        } else {
            return Err(invarg("unknown option to \"list\"", a));
        }
    }
    Ok(Cmd::List { all })
}

fn parse_nsid_arg(what: &str, v: &str) -> Result<i32, CliError> {
    let n: i32 = v
        .parse()
        .map_err(|_| invarg(&format!("\"{what}\" value is invalid"), v))?;
    if n < 0 {
        return Err(invarg(&format!("\"{what}\" value should be >= 0"), v));
    }
    Ok(n)
}

fn parse_list_id(rest: &[String]) -> Result<Cmd, CliError> {
    let (mut target, mut nsid) = (None, None);
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let slot = match a.as_str() {
            "target-nsid" => &mut target,
            "nsid" => &mut nsid,
            _ => {
                return Err(usage_error(format!(
                    "Error: unknown argument \"{a}\" to \"list-id\"; try \"warren ns help\"."
                )));
            }
        };
        let Some(v) = it.next() else {
            return Err(usage_error(
                "Command line is not complete. Try option \"help\"",
            ));
        };
        if slot.is_some() {
            return Err(usage_error(format!(
                "Error: duplicate \"{a}\": \"{v}\" is the second value."
            )));
        }
        *slot = Some(parse_nsid_arg(a, v)?);
    }
    Ok(Cmd::ListId { target, nsid })
}

fn parse_add(rest: &[String]) -> Result<Cmd, CliError> {
    let mut names = Vec::new();
    let (mut count, mut prefix, mut lo_up) = (None, None, false);
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--lo-up" => lo_up = true,
            "--count" | "--prefix" => {
                let Some(v) = it.next() else {
                    return Err(usage_error(
                        "Command line is not complete. Try option \"help\"",
                    ));
                };
                if a == "--count" {
                    let n: usize = v
                        .parse()
                        .map_err(|_| invarg("Invalid \"count\" value", v))?;
                    count = Some(n);
                } else {
                    prefix = Some(v.clone());
                }
            }
            _ => names.push(a.clone()),
        }
    }
    match (count, prefix) {
        (Some(n), Some(p)) => names.extend((0..n).map(|i| format!("{p}{i}"))),
        (None, None) => {}
        _ => return Err(CliError::fail("--count and --prefix go together")),
    }
    if names.is_empty() {
        return Err(CliError::fail("No netns name specified"));
    }
    if let Some(bad) = names.iter().find(|n| invalid_name(n)) {
        return Err(usage_error(format!("Invalid netns name \"{bad}\"")));
    }
    Ok(Cmd::Add { names, lo_up })
}

fn parse_set(rest: &[String]) -> Result<Cmd, CliError> {
    let name = rest
        .first()
        .ok_or_else(|| CliError::fail("No netns name specified"))?;
    let v = rest
        .get(1)
        .ok_or_else(|| CliError::fail("No nsid specified"))?;
    let nsid = if v == "auto" {
        None
    } else {
        let n: i32 = v
            .parse()
            .map_err(|_| invarg("Invalid \"netnsid\" value", v))?;
        if n < 0 {
            return Err(invarg("\"netnsid\" value should be >= 0", v));
        }
        Some(n)
    };
    Ok(Cmd::Set {
        name: name.clone(),
        nsid,
    })
}

fn parse_delete(rest: &[String], all: bool) -> Result<Cmd, CliError> {
    if all || rest.first().is_some_and(|a| is_all(a)) {
        return Ok(Cmd::DeleteAll);
    }
    if rest.is_empty() {
        return Err(CliError::fail("No netns name specified"));
    }
    if let Some(bad) = rest.iter().find(|n| invalid_name(n)) {
        return Err(usage_error(format!("Invalid netns name \"{bad}\"")));
    }
    Ok(Cmd::Delete {
        names: rest.to_vec(),
    })
}

fn parse_exec(rest: &[String], all: bool) -> Result<Cmd, CliError> {
    let (all, rest) = match rest.first() {
        Some(a) if is_all(a) => (true, &rest[1..]),
        _ => (all, rest),
    };
    if all {
        if rest.is_empty() {
            return Err(CliError::fail("No command specified"));
        }
        return Ok(Cmd::ExecAll { cmd: rest.to_vec() });
    }
    match rest {
        [] => Err(CliError::fail("No netns name specified")),
        [_] => Err(CliError::fail("No command specified")),
        [spec, cmd @ ..] => Ok(Cmd::Exec {
            spec: spec.clone(),
            cmd: cmd.to_vec(),
        }),
    }
}

fn parse_attach(rest: &[String]) -> Result<Cmd, CliError> {
    let [name, pid, ..] = rest else {
        return Err(CliError::fail("No netns name and PID specified"));
    };
    let n: i32 = parse_s32(pid)
        .filter(|&p| p != 0)
        .ok_or_else(|| CliError::fail(format!("Invalid PID: {pid}")))?;
    Ok(Cmd::Attach {
        name: name.clone(),
        pid: n,
    })
}

/// iproute2's `get_s32(.., 0)`: decimal, `0x` hex or leading-0 octal, optionally signed.
fn parse_s32(s: &str) -> Option<i32> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    i32::try_from(if neg { -v } else { v }).ok()
}

fn parse_gc(rest: &[String], json: &mut bool) -> Result<Cmd, CliError> {
    let mut dry_run = false;
    for a in rest {
        if a == "--dry-run" || a == "-n" {
            dry_run = true;
        } else if is_json(a) {
            *json = true;
        } else {
            return Err(invarg("unknown option to \"gc\"", a));
        }
    }
    Ok(Cmd::Gc { dry_run })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Cmd, (u8, String)> {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse(&args, false)
            .map(|p| p.cmd)
            .map_err(|e| (e.code, e.message))
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn subcommands_are_prefix_matched_in_ips_order() {
        let cases: Vec<(&str, Cmd)> = vec![
            ("", Cmd::List { all: false }),
            ("l", Cmd::List { all: false }),
            ("s", Cmd::List { all: false }),
            ("lst", Cmd::List { all: false }),
            (
                "list-",
                Cmd::ListId {
                    target: None,
                    nsid: None,
                },
            ),
            ("h", Cmd::Help),
            (
                "a x",
                Cmd::Add {
                    names: s(&["x"]),
                    lo_up: false,
                },
            ),
            (
                "at x 5",
                Cmd::Attach {
                    name: "x".into(),
                    pid: 5,
                },
            ),
            (
                "se x auto",
                Cmd::Set {
                    name: "x".into(),
                    nsid: None,
                },
            ),
            ("d x", Cmd::Delete { names: s(&["x"]) }),
            (
                "de x y",
                Cmd::Delete {
                    names: s(&["x", "y"]),
                },
            ),
            ("i", Cmd::Identify { target: None }),
            (
                "i 42",
                Cmd::Identify {
                    target: Some("42".into()),
                },
            ),
            ("p x", Cmd::Pids { spec: "x".into() }),
            (
                "e x true",
                Cmd::Exec {
                    spec: "x".into(),
                    cmd: s(&["true"]),
                },
            ),
            ("m", Cmd::Monitor),
            ("g --dry-run", Cmd::Gc { dry_run: true }),
        ];
        for (line, want) in cases {
            assert_eq!(p(line), Ok(want), "{line:?}");
        }
    }

    #[test]
    fn ip_errors_and_exit_codes() {
        let long = "n".repeat(256);
        let cases: Vec<(String, u8, &str)> = vec![
            ("foo".into(), 255, "Command \"foo\" is unknown"),
            ("add a/b".into(), 255, "Invalid netns name \"a/b\""),
            ("add ..".into(), 255, "Invalid netns name \"..\""),
            (format!("add {long}"), 255, "Invalid netns name"),
            ("add".into(), 1, "No netns name specified"),
            ("delete".into(), 1, "No netns name specified"),
            ("exec".into(), 1, "No netns name specified"),
            ("exec x".into(), 1, "No command specified"),
            ("exec --all".into(), 1, "No command specified"),
            ("pids".into(), 1, "No netns name specified"),
            ("pids a b".into(), 1, "extra arguments specified"),
            ("identify 1 2".into(), 1, "extra arguments specified"),
            ("attach x".into(), 1, "No netns name and PID specified"),
            ("attach x abc".into(), 1, "Invalid PID: abc"),
            ("attach x 0".into(), 1, "Invalid PID: 0"),
            ("set x".into(), 1, "No nsid specified"),
            (
                "set x abc".into(),
                255,
                "Error: argument \"abc\" is wrong: Invalid \"netnsid\" value",
            ),
            (
                "set x -5".into(),
                255,
                "Error: argument \"-5\" is wrong: \"netnsid\" value should be >= 0",
            ),
            (
                "list-id target-nsid x".into(),
                255,
                "\"target-nsid\" value is invalid",
            ),
            (
                "list-id nsid -1".into(),
                255,
                "\"nsid\" value should be >= 0",
            ),
            ("list-id nsid 1 nsid 2".into(), 255, "duplicate \"nsid\""),
            ("list-id nsid".into(), 255, "Command line is not complete"),
            ("add --count 3".into(), 1, "--count and --prefix"),
            (
                "add --count x --prefix t".into(),
                255,
                "Invalid \"count\" value",
            ),
        ];
        for (line, code, text) in cases {
            match p(&line) {
                Err((c, m)) => {
                    assert_eq!(c, code, "{line:?}: {m}");
                    assert!(m.contains(text), "{line:?}: {m}");
                }
                Ok(cmd) => panic!("{line:?} parsed as {cmd:?}"),
            }
        }
    }

    #[test]
    fn warren_extensions() {
        assert_eq!(
            p("add --count 3 --prefix t --lo-up"),
            Ok(Cmd::Add {
                names: s(&["t0", "t1", "t2"]),
                lo_up: true
            })
        );
        assert_eq!(
            p("add a b"),
            Ok(Cmd::Add {
                names: s(&["a", "b"]),
                lo_up: false
            })
        );
        assert_eq!(p("delete --all"), Ok(Cmd::DeleteAll));
        assert_eq!(p("-all delete"), Ok(Cmd::DeleteAll));
        assert_eq!(p("list --all"), Ok(Cmd::List { all: true }));
        assert_eq!(
            p("exec --all ip link"),
            Ok(Cmd::ExecAll {
                cmd: s(&["ip", "link"])
            })
        );
        assert_eq!(p("-all exec ip"), Ok(Cmd::ExecAll { cmd: s(&["ip"]) }));
        // Paths and pid:N are namespaces for exec, pids and identify.
        assert_eq!(
            p("exec /proc/1/ns/net true"),
            Ok(Cmd::Exec {
                spec: "/proc/1/ns/net".into(),
                cmd: s(&["true"])
            })
        );
        assert_eq!(
            p("pids pid:7"),
            Ok(Cmd::Pids {
                spec: "pid:7".into()
            })
        );
        assert_eq!(
            p("identify /proc/self/ns/net"),
            Ok(Cmd::Identify {
                target: Some("/proc/self/ns/net".into())
            })
        );
        // The command's own options are left alone.
        assert_eq!(
            p("exec x ip -j link"),
            Ok(Cmd::Exec {
                spec: "x".into(),
                cmd: s(&["ip", "-j", "link"])
            })
        );
        let parsed = parse(&s(&["list", "-j"]), false).unwrap();
        assert!(parsed.json);
        assert_eq!(parse_s32("0x10"), Some(16));
        assert_eq!(parse_s32("010"), Some(8));
        assert_eq!(parse_s32("-5"), Some(-5));
    }
}

#[cfg(test)]
mod no_panic {
    use super::*;

    /// Every sequence of up to three words from a vocabulary of ip's keywords and edge cases
    /// parses to a command or an error, never a panic.
    #[test]
    fn no_word_sequence_panics() {
        let vocab = [
            "",
            "l",
            "list",
            "list-id",
            "add",
            "set",
            "delete",
            "exec",
            "attach",
            "gc",
            "-all",
            "--all",
            "-j",
            "--count",
            "--prefix",
            "--lo-up",
            "nsid",
            "target-nsid",
            "auto",
            "0",
            "-1",
            "0x1f",
            "a/b",
            "..",
            "x",
            "pid:",
            "pid:1",
            "/",
            "--dry-run",
        ];
        let mut n = 0;
        for a in vocab {
            for b in vocab {
                for c in vocab {
                    for len in 1..=3 {
                        let words: Vec<String> =
                            [a, b, c][..len].iter().map(|w| w.to_string()).collect();
                        let _ = parse(&words, false);
                        n += 1;
                    }
                }
            }
        }
        assert!(n > 10_000);
    }
}
