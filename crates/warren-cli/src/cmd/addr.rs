//! `warren addr`: `add|del ADDR/PLEN dev IF [nodad] [scope S] [label L] [noprefixroute]`,
//! `show [dev IF] [-4|-6]` and `flush dev IF [-4|-6]`, in ip's words. Parsing is pure ([`parse`]);
//! [`run`] resolves names and talks to the kernel.

use std::io::Write;
use std::process::ExitCode;

use serde_json::{Value, json};
use warren_kernel::addr::{AddrSpec, Address, Family, IpNet, Scope};

use super::{ParseError, handle, perr, take_json, value};
use crate::{CliError, Global};

/// Arguments of `warren addr`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Subcommand and its arguments, in ip's syntax.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// What `warren addr` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `add` (or `replace` when `replace` is true).
    Add {
        /// The address.
        net: IpNet,
        /// Interface name.
        dev: String,
        /// `nodad`.
        nodad: bool,
        /// `noprefixroute`.
        noprefixroute: bool,
        /// `scope S`.
        scope: Option<Scope>,
        /// `label L`.
        label: Option<String>,
        /// `replace` instead of `add`.
        replace: bool,
    },
    /// `del ADDR dev IF`.
    Del {
        /// The address.
        net: IpNet,
        /// Interface name.
        dev: String,
    },
    /// `show [dev IF] [-4|-6]`.
    Show {
        /// Only this interface.
        dev: Option<String>,
        /// Only this family.
        family: Option<Family>,
    },
    /// `flush dev IF [-4|-6]`.
    Flush {
        /// Interface name.
        dev: String,
        /// Only this family.
        family: Option<Family>,
    },
}

/// Parse the words after `warren addr`.
pub fn parse(args: &[String]) -> Result<Cmd, ParseError> {
    let (args, family) = crate::cmd::take_family(args);
    let Some((verb, rest)) = args.split_first() else {
        return Ok(Cmd::Show { dev: None, family });
    };
    match verb.as_str() {
        "add" | "a" | "replace" | "change" => {
            parse_add(verb == "replace" || verb == "change", rest)
        }
        "del" | "delete" | "d" => match parse_add(false, rest)? {
            Cmd::Add { net, dev, .. } => Ok(Cmd::Del { net, dev }),
            other => Ok(other),
        },
        "show" | "list" | "ls" | "lst" | "s" => {
            let mut dev = None;
            let mut it = rest.iter();
            while let Some(w) = it.next() {
                match w.as_str() {
                    "dev" => dev = Some(value("addr show", &mut it, "dev")?.to_owned()),
                    w if dev.is_none() && !w.starts_with('-') => dev = Some(w.to_owned()),
                    w => return Err(perr("addr show", format!("unexpected {w:?}"))),
                }
            }
            Ok(Cmd::Show { dev, family })
        }
        "flush" | "f" => {
            let mut dev = None;
            let mut it = rest.iter();
            while let Some(w) = it.next() {
                match w.as_str() {
                    "dev" => dev = Some(value("addr flush", &mut it, "dev")?.to_owned()),
                    w if dev.is_none() && !w.starts_with('-') => dev = Some(w.to_owned()),
                    w => return Err(perr("addr flush", format!("unexpected {w:?}"))),
                }
            }
            let dev = dev.ok_or_else(|| perr("addr flush", "missing \"dev IF\""))?;
            Ok(Cmd::Flush { dev, family })
        }
        other => Err(perr(
            "addr",
            format!("unknown command {other:?} (expected add, del, replace, show or flush)"),
        )),
    }
}

fn parse_add(replace: bool, rest: &[String]) -> Result<Cmd, ParseError> {
    let cmd = if replace { "addr replace" } else { "addr add" };
    let (mut net, mut dev, mut scope, mut label) = (None, None, None, None);
    let (mut nodad, mut noprefixroute) = (false, false);
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "dev" => dev = Some(value(cmd, &mut it, "dev")?.to_owned()),
            "nodad" => nodad = true,
            "noprefixroute" => noprefixroute = true,
            "scope" => {
                let s = value(cmd, &mut it, "scope")?;
                scope = Some(s.parse::<Scope>().map_err(|e| perr(cmd, e))?);
            }
            "label" => label = Some(value(cmd, &mut it, "label")?.to_owned()),
            "local" => net = Some(parse_net(cmd, value(cmd, &mut it, "local")?)?),
            w if net.is_none() => net = Some(parse_net(cmd, w)?),
            w => return Err(perr(cmd, format!("unexpected {w:?}"))),
        }
    }
    let net = net.ok_or_else(|| perr(cmd, "missing ADDR/PLEN"))?;
    let dev = dev.ok_or_else(|| perr(cmd, format!("{net}: missing \"dev IF\"")))?;
    Ok(Cmd::Add {
        net,
        dev,
        nodad,
        noprefixroute,
        scope,
        label,
        replace,
    })
}

fn parse_net(cmd: &str, w: &str) -> Result<IpNet, ParseError> {
    w.parse::<IpNet>().map_err(|e| perr(cmd, e))
}

/// Run `warren addr`.
pub fn run(args: Args, global: &Global) -> Result<ExitCode, CliError> {
    let (words, json) = take_json(&args.args, global);
    let cmd = parse(&words)?;
    let h = handle(global)?;
    match cmd {
        Cmd::Add {
            net,
            dev,
            nodad,
            noprefixroute,
            scope,
            label,
            replace,
        } => {
            let mut spec = AddrSpec::new(h.link_index(&dev)?, net).dev_name(&dev);
            if nodad {
                spec = spec.nodad();
            }
            if noprefixroute {
                spec = spec.noprefixroute();
            }
            if let Some(s) = scope {
                spec = spec.scope(s);
            }
            if let Some(l) = label {
                spec = spec.label(l);
            }
            h.ack(if replace {
                spec.request_replace()
            } else {
                spec.request_add()
            })?;
        }
        Cmd::Del { net, dev } => {
            let spec = AddrSpec::new(h.link_index(&dev)?, net).dev_name(&dev);
            h.ack(spec.request_del())?;
        }
        Cmd::Flush { dev, family } => {
            h.addr_flush(h.link_index(&dev)?, family)?;
        }
        Cmd::Show { dev, family } => {
            let links = match &dev {
                Some(d) => vec![h.link_get(d)?],
                None => h.links()?,
            };
            let index = links.first().filter(|_| dev.is_some()).map(|l| l.index);
            let addrs = h.addrs(index)?;
            let rows: Vec<Row> = links
                .into_iter()
                .map(|l| Row {
                    addrs: addrs
                        .iter()
                        .filter(|a| a.index == l.index && family.is_none_or(|f| a.family == f))
                        .cloned()
                        .collect(),
                    index: l.index,
                    name: l.name,
                    state: l.operstate.to_uppercase(),
                })
                // As ip: with a family asked for, links without such an address are left out.
                .filter(|r| family.is_none() || !r.addrs.is_empty())
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

/// One interface and its addresses, as shown.
#[derive(Debug, Clone)]
pub struct Row {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Operational state, upper-case.
    pub state: String,
    /// Its addresses.
    pub addrs: Vec<Address>,
}

/// `ip -br addr`-like lines: name, state, addresses.
pub fn table(rows: &[Row]) -> String {
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(16);
    let mut s = String::new();
    for r in rows {
        let nets: Vec<String> = r.addrs.iter().map(|a| a.net().to_string()).collect();
        let line = format!("{:<w$} {:<14} {}", r.name, r.state, nets.join(" "));
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// `ip -j addr`-like JSON: `[{ifindex, ifname, operstate, addr_info: [{family, local,
/// prefixlen, scope, ...}]}]`.
pub fn json_rows(rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                let info: Vec<Value> = r.addrs.iter().map(addr_json).collect();
                json!({"ifindex": r.index, "ifname": r.name, "operstate": r.state, "addr_info": info})
            })
            .collect(),
    )
}

fn addr_json(a: &Address) -> Value {
    let mut o = json!({
        "family": a.family.name(),
        "local": a.addr.to_string(),
        "prefixlen": a.prefix,
        "scope": a.scope.to_string(),
    });
    if let Some(b) = a.broadcast {
        o["broadcast"] = json!(b.to_string());
    }
    if let Some(l) = &a.label {
        o["label"] = json!(l);
    }
    if a.family == Family::V6 && a.flags & warren_kernel::addr::IFA_F_NODAD != 0 {
        o["nodad"] = json!(true);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn add_del_show_parse() {
        let net: IpNet = "10.0.0.1/24".parse().unwrap();
        assert_eq!(
            parse(&words("add 10.0.0.1/24 dev eth0")).unwrap(),
            Cmd::Add {
                net,
                dev: "eth0".into(),
                nodad: false,
                noprefixroute: false,
                scope: None,
                label: None,
                replace: false
            }
        );
        let Cmd::Add {
            nodad, scope, dev, ..
        } = parse(&words("add dev eth1 fd00::1/64 nodad scope link")).unwrap()
        else {
            panic!()
        };
        assert!(nodad);
        assert_eq!(scope, Some(Scope::LINK));
        assert_eq!(dev, "eth1");
        assert_eq!(
            parse(&words("del 10.0.0.1/24 dev eth0")).unwrap(),
            Cmd::Del {
                net,
                dev: "eth0".into()
            }
        );
        assert_eq!(
            parse(&[]).unwrap(),
            Cmd::Show {
                dev: None,
                family: None
            }
        );
        assert_eq!(
            parse(&words("show dev lo")).unwrap(),
            Cmd::Show {
                dev: Some("lo".into()),
                family: None
            }
        );
        assert_eq!(
            parse(&words("show lo -6")).unwrap(),
            Cmd::Show {
                dev: Some("lo".into()),
                family: Some(Family::V6)
            }
        );
        assert_eq!(
            parse(&words("-4")).unwrap(),
            Cmd::Show {
                dev: None,
                family: Some(Family::V4)
            }
        );
    }

    #[test]
    fn bad_words_say_what_is_wrong() {
        for (input, want) in [
            (
                "add 10.0.0.1/33 dev eth0",
                "prefix length 33 is longer than 32",
            ),
            ("add 10.0.0.1/24", "missing \"dev IF\""),
            ("add dev eth0", "missing ADDR/PLEN"),
            ("add 10.0.0.1/24 dev", "\"dev\" needs a value"),
            ("add 10.0.0.1/24 dev eth0 bogus", "unexpected \"bogus\""),
            (
                "add 10.0.0.1/24 dev eth0 scope galaxy",
                "invalid scope \"galaxy\"",
            ),
            ("frob", "unknown command \"frob\""),
            ("flush", "missing \"dev IF\""),
            (
                "add 10.0.0.256/24 dev eth0",
                "\"10.0.0.256\" is not an IPv4 or IPv6 address",
            ),
        ] {
            let e = parse(&words(input)).unwrap_err().to_string();
            assert!(e.contains(want), "{input}: {e}");
            assert!(e.starts_with("addr"), "{input}: {e}");
        }
    }

    #[test]
    fn json_has_ip_keys() {
        let a = Address {
            index: 2,
            family: Family::V4,
            addr: "10.0.0.1".parse().unwrap(),
            prefix: 24,
            scope: Scope::UNIVERSE,
            flags: 0x80,
            label: Some("eth0".into()),
            broadcast: Some("10.0.0.255".parse().unwrap()),
        };
        let rows = [Row {
            index: 2,
            name: "eth0".into(),
            state: "UP".into(),
            addrs: vec![a],
        }];
        let v = json_rows(&rows);
        assert_eq!(
            v,
            json!([{"ifindex": 2, "ifname": "eth0", "operstate": "UP", "addr_info": [
                {"family": "inet", "local": "10.0.0.1", "prefixlen": 24, "scope": "global",
                 "broadcast": "10.0.0.255", "label": "eth0"}]}])
        );
        assert_eq!(
            table(&rows),
            "eth0             UP             10.0.0.1/24\n"
        );
    }
}
