//! The `CNI_*` environment variables: which command, which container, which interface.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::args::CniArgs;
use super::error::{CniError, code};

/// The operation the runtime asks for (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Create or adjust the interface.
    Add,
    /// Undo what ADD did, as far as possible.
    Del,
    /// Check that what ADD did is still in place.
    Check,
    /// Can the plugin service ADD now? (1.1)
    Status,
    /// Release everything not in the list of valid attachments. (1.1)
    Gc,
    /// Report the supported versions.
    Version,
}

impl Command {
    /// The name as the runtime spells it: `ADD`, `DEL`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Command {
    type Err = CniError;

    /// One of `ADD`, `DEL`, `CHECK`, `STATUS`, `GC`, `VERSION`; anything else is code 4.
    fn from_str(s: &str) -> Result<Command, CniError> {
        Ok(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            "VERSION" => Command::Version,
            _ => {
                return Err(CniError::new(
                    code::INVALID_ENV,
                    format!(
                        "unknown CNI_COMMAND {s:?}: expected ADD, DEL, CHECK, STATUS, GC or VERSION"
                    ),
                ));
            }
        })
    }
}

/// The environment of one plugin invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// `CNI_COMMAND`.
    pub command: Command,
    /// `CNI_CONTAINERID`; empty for GC, STATUS and VERSION.
    pub container_id: String,
    /// `CNI_NETNS`; `None` when absent or empty (allowed for DEL only).
    pub netns: Option<PathBuf>,
    /// `CNI_IFNAME`; empty for GC, STATUS and VERSION.
    pub ifname: String,
    /// `CNI_ARGS`, parsed; empty unless the command is ADD, DEL or CHECK.
    pub args: CniArgs,
    /// `CNI_PATH`, split at `:` (empty entries dropped).
    pub path: Vec<PathBuf>,
}

/// The longest interface name Linux accepts (`IFNAMSIZ` - 1).
pub const IFNAME_MAX: usize = 15;

impl Env {
    /// Reads the invocation from the process environment.
    pub fn from_env() -> Result<Env, CniError> {
        Env::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the invocation through `get` (a variable set to the empty string counts as
    /// missing). Missing variables are reported together, with code 4.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Env, CniError> {
        let var = |k: &str| get(k).filter(|v| !v.is_empty());
        let Some(cmd) = var("CNI_COMMAND") else {
            return Err(missing(&["CNI_COMMAND"]));
        };
        let command: Command = cmd.parse()?;
        let (needs_attachment, needs_netns, needs_path) = match command {
            Command::Add | Command::Check => (true, true, true),
            Command::Del => (true, false, true),
            Command::Gc => (false, false, true),
            Command::Status | Command::Version => (false, false, false),
        };
        let mut required = Vec::new();
        if needs_attachment {
            required.push("CNI_CONTAINERID");
        }
        if needs_netns {
            required.push("CNI_NETNS");
        }
        if needs_attachment {
            required.push("CNI_IFNAME");
        }
        if needs_path {
            required.push("CNI_PATH");
        }
        let absent: Vec<&str> = required
            .iter()
            .copied()
            .filter(|k| var(k).is_none())
            .collect();
        if !absent.is_empty() {
            return Err(missing(&absent));
        }

        let mut env = Env {
            command,
            container_id: String::new(),
            netns: None,
            ifname: String::new(),
            args: CniArgs::default(),
            path: var("CNI_PATH")
                .map(|p| {
                    p.split(':')
                        .filter(|s| !s.is_empty())
                        .map(PathBuf::from)
                        .collect()
                })
                .unwrap_or_default(),
        };
        if needs_attachment {
            env.container_id = var("CNI_CONTAINERID").unwrap_or_default();
            validate_container_id(&env.container_id)?;
            env.ifname = var("CNI_IFNAME").unwrap_or_default();
            validate_ifname(&env.ifname)?;
            env.netns = var("CNI_NETNS").map(PathBuf::from);
            if let Some(a) = var("CNI_ARGS") {
                env.args = CniArgs::parse(&a)?;
            }
        }
        Ok(env)
    }
}

fn missing(vars: &[&str]) -> CniError {
    CniError::new(
        code::INVALID_ENV,
        format!("required env variables [{}] missing", vars.join(" ")),
    )
}

/// Whether `s` matches `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`, the shape of container ids and
/// network names.
pub fn is_valid_id(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn validate_container_id(id: &str) -> Result<(), CniError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(CniError::new(
            code::INVALID_ENV,
            format!("invalid CNI_CONTAINERID {id:?}: must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$"),
        ))
    }
}

/// Checks an interface name as Linux and the CNI library do: non-empty, at most 15 bytes, not
/// `.` or `..`, without `/`, `:` or whitespace. The error (code 4) names the rule broken.
pub fn validate_ifname(name: &str) -> Result<(), CniError> {
    let bad_char = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace());
    let broken = if name.is_empty() {
        Some("it is empty".to_owned())
    } else if name.len() > IFNAME_MAX {
        Some(format!(
            "it is {} bytes long, at most {IFNAME_MAX} are allowed",
            name.len()
        ))
    } else if name == "." || name == ".." {
        Some("it may not be \".\" or \"..\"".to_owned())
    } else {
        bad_char.map(|c| format!("it contains {c:?}"))
    };
    match broken {
        None => Ok(()),
        Some(why) => Err(CniError::new(
            code::INVALID_ENV,
            format!("invalid CNI_IFNAME {name:?}: {why}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const FULL: &[(&str, &str)] = &[
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", "/run/netns/x"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
    ];

    fn env_of(cmd: &str, vars: &[(&str, &str)]) -> Result<Env, CniError> {
        let mut m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        m.insert("CNI_COMMAND".into(), cmd.into());
        Env::from_vars(|k| m.get(k).cloned())
    }

    fn without(drop: &[&str]) -> Vec<(&'static str, &'static str)> {
        FULL.iter()
            .copied()
            .filter(|(k, _)| !drop.contains(k))
            .collect()
    }

    #[test]
    fn full_environment_parses_for_every_command() {
        for (cmd, want) in [
            ("ADD", Command::Add),
            ("DEL", Command::Del),
            ("CHECK", Command::Check),
            ("STATUS", Command::Status),
            ("GC", Command::Gc),
            ("VERSION", Command::Version),
        ] {
            let e = env_of(cmd, FULL).unwrap();
            assert_eq!(e.command, want);
            assert_eq!(e.command.to_string(), cmd);
            assert_eq!(
                e.path,
                [PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]
            );
            let attached = matches!(want, Command::Add | Command::Del | Command::Check);
            assert_eq!(e.container_id, if attached { "c1" } else { "" }, "{cmd}");
            assert_eq!(e.ifname, if attached { "eth0" } else { "" }, "{cmd}");
            assert_eq!(e.netns.is_some(), attached, "{cmd}");
        }
    }

    #[test]
    fn missing_variables_are_named_together() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("ADD", &["CNI_PATH"], "[CNI_PATH]"),
            (
                "ADD",
                &["CNI_CONTAINERID", "CNI_IFNAME"],
                "[CNI_CONTAINERID CNI_IFNAME]",
            ),
            ("ADD", &["CNI_NETNS"], "[CNI_NETNS]"),
            ("CHECK", &["CNI_NETNS"], "[CNI_NETNS]"),
            (
                "DEL",
                &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
                "[CNI_CONTAINERID CNI_IFNAME CNI_PATH]",
            ),
            ("GC", &["CNI_PATH"], "[CNI_PATH]"),
        ];
        for (cmd, drop, named) in cases {
            let e = env_of(cmd, &without(drop)).unwrap_err();
            assert_eq!(e.code, code::INVALID_ENV, "{cmd} {drop:?}");
            assert_eq!(e.msg, format!("required env variables {named} missing"));
        }
    }

    #[test]
    fn optional_variables_may_be_absent() {
        let e = env_of("DEL", &without(&["CNI_NETNS"])).unwrap();
        assert_eq!(e.netns, None);
        let e = env_of(
            "DEL",
            &[
                ("CNI_NETNS", ""),
                ("CNI_CONTAINERID", "c"),
                ("CNI_IFNAME", "e"),
                ("CNI_PATH", "/b"),
            ],
        )
        .unwrap();
        assert_eq!(e.netns, None);
        let all = ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"];
        for cmd in ["STATUS", "VERSION"] {
            let e = env_of(cmd, &[]).unwrap();
            assert!(e.path.is_empty());
        }
        let e = env_of("GC", &without(&all[..3])).unwrap();
        assert_eq!(e.container_id, "");
        assert_eq!(e.netns, None);
    }

    #[test]
    fn empty_counts_as_missing() {
        let e = env_of(
            "ADD",
            &[
                ("CNI_CONTAINERID", ""),
                ("CNI_NETNS", "/n"),
                ("CNI_IFNAME", "e"),
                ("CNI_PATH", "/b"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.msg, "required env variables [CNI_CONTAINERID] missing");
    }

    #[test]
    fn command_missing_or_unknown() {
        let e = Env::from_vars(|_| None).unwrap_err();
        assert_eq!(e.code, code::INVALID_ENV);
        assert_eq!(e.msg, "required env variables [CNI_COMMAND] missing");
        let e = env_of("add", FULL).unwrap_err();
        assert_eq!(e.code, code::INVALID_ENV);
        assert!(e.msg.contains("\"add\""), "{}", e.msg);
    }

    #[test]
    fn container_ids() {
        for ok in ["c1", "A", "0abc", "a_b.c-d", "deadbeef"] {
            let mut v = without(&["CNI_CONTAINERID"]);
            v.push(("CNI_CONTAINERID", ok));
            assert_eq!(env_of("ADD", &v).unwrap().container_id, ok);
        }
        for bad in ["-a", "_a", ".a", "a/b", "a b", "é", "a:b"] {
            let mut v = without(&["CNI_CONTAINERID"]);
            v.push(("CNI_CONTAINERID", bad));
            let e = env_of("DEL", &v).unwrap_err();
            assert_eq!(e.code, code::INVALID_ENV, "{bad}");
            assert!(e.msg.contains("CNI_CONTAINERID"), "{}", e.msg);
            assert!(e.msg.contains(&format!("{bad:?}")), "{}", e.msg);
        }
    }

    #[test]
    fn interface_names() {
        for ok in ["eth0", "a", "net1.100", "123456789012345", "veth-x_y"] {
            let mut v = without(&["CNI_IFNAME"]);
            v.push(("CNI_IFNAME", ok));
            assert_eq!(env_of("ADD", &v).unwrap().ifname, ok);
        }
        let bad = [
            ("1234567890123456", "16 bytes long"),
            (".", "\".\" or \"..\""),
            ("..", "\".\" or \"..\""),
            ("a/b", "'/'"),
            ("a:b", "':'"),
            ("a b", "' '"),
            ("a\tb", "'\\t'"),
        ];
        for (name, rule) in bad {
            let mut v = without(&["CNI_IFNAME"]);
            v.push(("CNI_IFNAME", name));
            let e = env_of("CHECK", &v).unwrap_err();
            assert_eq!(e.code, code::INVALID_ENV, "{name}");
            assert!(e.msg.contains("CNI_IFNAME"), "{}", e.msg);
            assert!(e.msg.contains(rule), "{name}: {}", e.msg);
        }
        let e = validate_ifname("").unwrap_err();
        assert!(e.msg.contains("empty"), "{}", e.msg);
    }

    #[test]
    fn cni_args_are_parsed_for_attachment_commands() {
        let mut v = without(&[]);
        v.push(("CNI_ARGS", "IgnoreUnknown=1;IP=10.0.0.5"));
        let e = env_of("ADD", &v).unwrap();
        assert_eq!(e.args.get("IP"), Some("10.0.0.5"));
        assert!(e.args.ignore_unknown());

        let mut v = without(&[]);
        v.push(("CNI_ARGS", "junk"));
        assert_eq!(env_of("DEL", &v).unwrap_err().code, code::INVALID_ENV);
        // Not looked at where it has no meaning.
        assert!(env_of("VERSION", &v).unwrap().args.is_empty());
    }

    #[test]
    fn path_drops_empty_entries() {
        let e = env_of("STATUS", &[("CNI_PATH", ":/a::/b:")]).unwrap();
        assert_eq!(e.path, [PathBuf::from("/a"), PathBuf::from("/b")]);
    }
}
