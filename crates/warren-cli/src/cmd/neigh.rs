//! `warren neigh`: `add|replace IP lladdr MAC dev IF [nud STATE] [router]`, `del IP dev IF` and
//! `show [dev IF] [nud STATE|all] [-4|-6]`, in ip's words. Parsing is pure ([`parse()`]);
//! [`run()`] resolves names and talks to the kernel.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use serde_json::{Value, json};
use warren_kernel::addr::Family;
use warren_kernel::link::parse_mac;
use warren_kernel::neigh::{NeighSpec, NeighState, Neighbour};

use super::{ParseError, handle, perr, take_json, value};
use crate::{CliError, Global};

/// Arguments of `warren neigh`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Subcommand and its arguments, in ip's syntax.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Which states `show` lists (`nud STATE|all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nud {
    /// As ip without `nud`: every entry but NOARP and NONE ones.
    Default,
    /// `nud all`: every entry.
    All,
    /// `nud STATE`: entries in this state.
    Only(NeighState),
}

/// What `warren neigh` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `add` (or `replace` when `replace` is true).
    Add {
        /// The neighbour's IP address.
        ip: IpAddr,
        /// `lladdr MAC`.
        mac: [u8; 6],
        /// Interface name.
        dev: String,
        /// `nud STATE` (permanent unless given, as ip).
        state: NeighState,
        /// `router`.
        router: bool,
        /// `replace` instead of `add`.
        replace: bool,
    },
    /// `del IP dev IF`.
    Del {
        /// The neighbour's IP address.
        ip: IpAddr,
        /// Interface name.
        dev: String,
    },
    /// `show [dev IF] [nud STATE|all] [-4|-6]`.
    Show {
        /// Only this interface.
        dev: Option<String>,
        /// Only this family.
        family: Option<Family>,
        /// Only these states.
        nud: Nud,
    },
}

/// Parse the words after `warren neigh`.
pub fn parse(args: &[String]) -> Result<Cmd, ParseError> {
    let (args, family) = crate::cmd::take_family(args);
    let Some((verb, rest)) = args.split_first() else {
        return Ok(Cmd::Show {
            dev: None,
            family,
            nud: Nud::Default,
        });
    };
    match verb.as_str() {
        "add" | "a" => parse_entry("neigh add", rest, false),
        "replace" => parse_entry("neigh replace", rest, true),
        "del" | "delete" | "d" => match parse_entry("neigh del", rest, false)? {
            Cmd::Add { ip, dev, .. } => Ok(Cmd::Del { ip, dev }),
            other => Ok(other),
        },
        "show" | "list" | "ls" | "lst" | "s" => {
            let cmd = "neigh show";
            let (mut dev, mut nud) = (None, Nud::Default);
            let mut it = rest.iter();
            while let Some(w) = it.next() {
                match w.as_str() {
                    "dev" => dev = Some(value(cmd, &mut it, "dev")?.to_owned()),
                    "nud" => {
                        nud = match value(cmd, &mut it, "nud")? {
                            "all" => Nud::All,
                            s => Nud::Only(parse_state(cmd, s)?),
                        }
                    }
                    w => return Err(perr(cmd, format!("unexpected {w:?}"))),
                }
            }
            Ok(Cmd::Show { dev, family, nud })
        }
        other => Err(perr(
            "neigh",
            format!("unknown command {other:?} (expected add, del, replace or show)"),
        )),
    }
}

/// The words of `add`/`replace`/`del`: `[to] IP [lladdr MAC] [dev IF] [nud STATE] [router]`.
/// `del` does not need `lladdr` (ip accepts and ignores it there; so does this).
fn parse_entry(cmd: &str, rest: &[String], replace: bool) -> Result<Cmd, ParseError> {
    let deleting = cmd == "neigh del";
    let (mut ip, mut mac, mut dev) = (None, None, None);
    let (mut state, mut router) = (NeighState::Permanent, false);
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "lladdr" => {
                let m = value(cmd, &mut it, "lladdr")?;
                mac = Some(parse_mac(m).map_err(|e| perr(cmd, e))?);
            }
            "dev" => dev = Some(value(cmd, &mut it, "dev")?.to_owned()),
            "nud" => state = parse_state(cmd, value(cmd, &mut it, "nud")?)?,
            "router" => router = true,
            "to" if ip.is_none() => ip = Some(parse_ip(cmd, value(cmd, &mut it, "to")?)?),
            w if ip.is_none() => ip = Some(parse_ip(cmd, w)?),
            w => return Err(perr(cmd, format!("unexpected {w:?}"))),
        }
    }
    let ip = ip.ok_or_else(|| perr(cmd, "missing the neighbour's address"))?;
    let dev = dev.ok_or_else(|| perr(cmd, format!("{ip}: missing \"dev IF\"")))?;
    let mac = match (mac, deleting) {
        (Some(m), _) => m,
        (None, true) => [0; 6],
        (None, false) => {
            return Err(perr(cmd, format!("{ip} dev {dev}: missing \"lladdr MAC\"")));
        }
    };
    Ok(Cmd::Add {
        ip,
        mac,
        dev,
        state,
        router,
        replace,
    })
}

fn parse_ip(cmd: &str, w: &str) -> Result<IpAddr, ParseError> {
    w.parse::<IpAddr>().map_err(|_| {
        perr(
            cmd,
            format!("invalid address {w:?}: not an IPv4 or IPv6 address"),
        )
    })
}

fn parse_state(cmd: &str, w: &str) -> Result<NeighState, ParseError> {
    w.parse::<NeighState>().map_err(|e| perr(cmd, e))
}

/// Run `warren neigh`.
pub fn run(args: Args, global: &Global) -> Result<ExitCode, CliError> {
    let (words, json) = take_json(&args.args, global);
    let cmd = parse(&words)?;
    let h = handle(global)?;
    match cmd {
        Cmd::Add {
            ip,
            mac,
            dev,
            state,
            router,
            replace,
        } => {
            let mut spec = NeighSpec::new(h.link_index(&dev)?, ip)
                .lladdr(mac)
                .state(state)
                .dev_name(&dev);
            if router {
                spec = spec.router();
            }
            h.ack(if replace {
                spec.request_replace()
            } else {
                spec.request_add()
            })?;
        }
        Cmd::Del { ip, dev } => {
            let spec = NeighSpec::new(h.link_index(&dev)?, ip).dev_name(&dev);
            h.ack(spec.request_del())?;
        }
        Cmd::Show { dev, family, nud } => {
            let index = dev.as_deref().map(|d| h.link_index(d)).transpose()?;
            // As ip: with `dev IF` the lines leave the device out.
            let names: HashMap<u32, String> = match index {
                Some(_) => HashMap::new(),
                None => h.links()?.into_iter().map(|l| (l.index, l.name)).collect(),
            };
            let rows: Vec<Row> = h
                .neighs(index)?
                .into_iter()
                .filter(|n| family.is_none_or(|f| Family::of(&n.ip) == f) && shown(nud, n.state))
                .map(|n| Row {
                    dev: index
                        .is_none()
                        .then(|| names.get(&n.index).cloned())
                        // A link gone since the dump: ip's name for it.
                        .map(|name| name.unwrap_or_else(|| format!("if{}", n.index))),
                    neigh: n,
                })
                .collect();
            let out = if json {
                json_rows(&rows).to_string() + "\n"
            } else {
                table(&rows)
            };
            std::io::stdout().write_all(out.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `NUD_*` bits of a state.
fn bits(s: NeighState) -> u16 {
    match s {
        NeighState::Incomplete => 0x01,
        NeighState::Reachable => 0x02,
        NeighState::Stale => 0x04,
        NeighState::Delay => 0x08,
        NeighState::Probe => 0x10,
        NeighState::Failed => 0x20,
        NeighState::Noarp => 0x40,
        NeighState::Permanent => 0x80,
        NeighState::None => 0,
        NeighState::Other(n) => n,
    }
}

/// Whether `show` with `nud` lists an entry in `state` (ip's filter: by default everything but
/// NOARP and NONE).
fn shown(nud: Nud, state: NeighState) -> bool {
    match nud {
        Nud::All => true,
        Nud::Default => bits(state) & 0xff & !bits(NeighState::Noarp) != 0,
        Nud::Only(NeighState::None) => bits(state) == 0,
        Nud::Only(s) => bits(state) & bits(s) != 0,
    }
}

/// The state's names as ip prints them: one per `NUD_*` bit set, none for NONE.
fn state_names(s: NeighState) -> Vec<String> {
    const ALL: [NeighState; 8] = [
        NeighState::Incomplete,
        NeighState::Reachable,
        NeighState::Stale,
        NeighState::Delay,
        NeighState::Probe,
        NeighState::Failed,
        NeighState::Noarp,
        NeighState::Permanent,
    ];
    let b = bits(s);
    let mut out: Vec<String> = ALL
        .iter()
        .filter(|k| b & bits(**k) != 0)
        .map(ToString::to_string)
        .collect();
    let rest = b & !0xff;
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    out
}

/// One neighbour entry, as shown.
#[derive(Debug, Clone)]
pub struct Row {
    /// The entry.
    pub neigh: Neighbour,
    /// Its interface's name; `None` when the listing was for one interface (ip leaves it out).
    pub dev: Option<String>,
}

/// `ip neigh show` lines: `10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 router PERMANENT`
/// (without ip's trailing blank).
pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    for r in rows {
        let n = &r.neigh;
        let mut line = n.ip.to_string();
        if let Some(d) = &r.dev {
            line += &format!(" dev {d}");
        }
        if let Some(m) = n.mac_string() {
            line += &format!(" lladdr {m}");
        }
        if n.router {
            line += " router";
        }
        for st in state_names(n.state) {
            line += &format!(" {st}");
        }
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// `ip -j neigh show` JSON: `[{dst, dev, lladdr, router: null, state: [..]}]`, each key only
/// when ip prints it (`dev` not for one interface, `router` only when set).
pub fn json_rows(rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                let n = &r.neigh;
                let mut o = json!({"dst": n.ip.to_string()});
                if let Some(d) = &r.dev {
                    o["dev"] = json!(d);
                }
                if let Some(m) = n.mac_string() {
                    o["lladdr"] = json!(m);
                }
                if n.router {
                    o["router"] = Value::Null;
                }
                let states = state_names(n.state);
                if !states.is_empty() {
                    o["state"] = json!(states);
                }
                o
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn add(ip: &str, mac: &str, dev: &str, state: NeighState, router: bool, replace: bool) -> Cmd {
        Cmd::Add {
            ip: ip.parse().unwrap(),
            mac: parse_mac(mac).unwrap(),
            dev: dev.into(),
            state,
            router,
            replace,
        }
    }

    fn show(dev: Option<&str>, family: Option<Family>, nud: Nud) -> Cmd {
        Cmd::Show {
            dev: dev.map(str::to_owned),
            family,
            nud,
        }
    }

    #[test]
    fn good_words_parse() {
        use NeighState::{Delay, Noarp, Permanent, Probe, Reachable, Stale};
        let m = "02:00:00:00:00:02";
        let del = |ip: &str, dev: &str| Cmd::Del {
            ip: ip.parse().unwrap(),
            dev: dev.into(),
        };
        for (input, want) in [
            (
                "add 10.0.0.2 lladdr 02:00:00:00:00:02 dev eth0",
                add("10.0.0.2", m, "eth0", Permanent, false, false),
            ),
            (
                "a dev eth0 lladdr 02:00:00:00:00:02 to 10.0.0.2 nud stale router",
                add("10.0.0.2", m, "eth0", Stale, true, false),
            ),
            (
                "replace fd00::2 lladdr 02:00:00:00:00:02 dev v1 nud REACHABLE",
                add("fd00::2", m, "v1", Reachable, false, true),
            ),
            (
                "add 10.0.0.2 lladdr 02:00:00:00:00:02 dev eth0 nud noarp",
                add("10.0.0.2", m, "eth0", Noarp, false, false),
            ),
            (
                "add 10.0.0.2 lladdr 02:00:00:00:00:02 dev eth0 nud delay",
                add("10.0.0.2", m, "eth0", Delay, false, false),
            ),
            (
                "add 10.0.0.2 lladdr 02:00:00:00:00:02 dev eth0 nud probe",
                add("10.0.0.2", m, "eth0", Probe, false, false),
            ),
            ("del 10.0.0.2 dev eth0", del("10.0.0.2", "eth0")),
            (
                "delete fe80::1 lladdr 02:00:00:00:00:02 dev eth0",
                del("fe80::1", "eth0"),
            ),
            ("", show(None, None, Nud::Default)),
            ("show", show(None, None, Nud::Default)),
            ("-6", show(None, Some(Family::V6), Nud::Default)),
            (
                "show dev lo -4",
                show(Some("lo"), Some(Family::V4), Nud::Default),
            ),
            ("ls nud all", show(None, None, Nud::All)),
            (
                "list nud permanent dev v0",
                show(Some("v0"), None, Nud::Only(Permanent)),
            ),
        ] {
            assert_eq!(parse(&words(input)).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn bad_words_say_what_is_wrong() {
        for (input, want) in [
            (
                "add 10.0.0.256 lladdr 02:00:00:00:00:02 dev eth0",
                "neigh add: invalid address \"10.0.0.256\": not an IPv4 or IPv6 address",
            ),
            (
                "add 10.0.0.2 lladdr 02:00:00:00:00 dev eth0",
                "neigh add: invalid MAC address \"02:00:00:00:00\"",
            ),
            (
                "add 10.0.0.2 lladdr zz:00:00:00:00:02 dev eth0",
                "invalid MAC address \"zz:00:00:00:00:02\"",
            ),
            (
                "add 10.0.0.2 dev eth0",
                "neigh add: 10.0.0.2 dev eth0: missing \"lladdr MAC\"",
            ),
            (
                "replace 10.0.0.2 lladdr 02:00:00:00:00:02",
                "neigh replace: 10.0.0.2: missing \"dev IF\"",
            ),
            (
                "add lladdr 02:00:00:00:00:02 dev eth0",
                "missing the neighbour's address",
            ),
            ("add 10.0.0.2 lladdr", "\"lladdr\" needs a value"),
            (
                "add 10.0.0.2 lladdr 02:00:00:00:00:02 dev",
                "\"dev\" needs a value",
            ),
            (
                "add 10.0.0.2 lladdr 02:00:00:00:00:02 dev eth0 nud sleepy",
                "invalid neighbour state \"sleepy\"",
            ),
            (
                "add 10.0.0.2 10.0.0.3 lladdr 02:00:00:00:00:02 dev eth0",
                "unexpected \"10.0.0.3\"",
            ),
            ("del 10.0.0.2", "neigh del: 10.0.0.2: missing \"dev IF\""),
            ("del dev eth0", "neigh del: missing the neighbour's address"),
            ("del 10.0.0.x dev eth0", "invalid address \"10.0.0.x\""),
            ("show bogus", "neigh show: unexpected \"bogus\""),
            ("show nud", "\"nud\" needs a value"),
            ("frob", "neigh: unknown command \"frob\""),
        ] {
            let e = parse(&words(input)).unwrap_err().to_string();
            assert!(e.contains(want), "{input}: {e}");
            assert!(e.starts_with("neigh"), "{input}: {e}");
            assert_eq!(e.lines().count(), 1, "{input}: {e}");
        }
    }

    #[test]
    fn show_filters_states_like_ip() {
        use NeighState::*;
        for s in [
            Reachable, Stale, Permanent, Failed, Incomplete, Delay, Probe,
        ] {
            assert!(shown(Nud::Default, s), "{s}");
        }
        assert!(!shown(Nud::Default, Noarp));
        assert!(!shown(Nud::Default, None));
        assert!(shown(Nud::All, Noarp) && shown(Nud::All, None));
        assert!(shown(Nud::Only(Noarp), Noarp));
        assert!(!shown(Nud::Only(Noarp), Permanent));
        assert!(shown(Nud::Only(None), None) && !shown(Nud::Only(None), Stale));
        assert_eq!(state_names(Other(0x84)), ["STALE", "PERMANENT"]);
        assert!(state_names(None).is_empty());
    }

    #[test]
    fn output_has_ip_words_and_keys() {
        let mac = Some(parse_mac("02:00:00:00:00:02").unwrap());
        let n = |ip: &str, state, router| Neighbour {
            index: 2,
            ip: ip.parse().unwrap(),
            mac,
            state,
            router,
        };
        let rows = [
            Row {
                neigh: n("10.0.0.2", NeighState::Permanent, false),
                dev: Some("eth0".into()),
            },
            Row {
                neigh: n("fd00::2", NeighState::Stale, true),
                dev: Some("eth0".into()),
            },
            Row {
                neigh: Neighbour {
                    mac: Option::None,
                    ..n("10.0.0.3", NeighState::Failed, false)
                },
                dev: Option::None,
            },
        ];
        assert_eq!(
            table(&rows),
            "10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 PERMANENT\n\
             fd00::2 dev eth0 lladdr 02:00:00:00:00:02 router STALE\n\
             10.0.0.3 FAILED\n"
        );
        assert_eq!(
            json_rows(&rows),
            json!([
                {"dst": "10.0.0.2", "dev": "eth0", "lladdr": "02:00:00:00:00:02",
                 "state": ["PERMANENT"]},
                {"dst": "fd00::2", "dev": "eth0", "lladdr": "02:00:00:00:00:02",
                 "router": null, "state": ["STALE"]},
                {"dst": "10.0.0.3", "state": ["FAILED"]},
            ])
        );
    }
}
