//! Pure parsing of `warren route` words into [`Cmd`]; no I/O. Interface names stay names
//! until [`RouteWords::to_spec`] resolves them.

use std::net::IpAddr;

use warren_kernel::addr::{Family, IpNet, Scope};
use warren_kernel::route::{self, Nexthop, Protocol, RoutePref, RouteSpec, RouteType};

use crate::CliError;
use crate::cmd::{ParseError, perr, value};

/// Add, replace or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `add`.
    Add,
    /// `replace`.
    Replace,
    /// `del`.
    Del,
}

/// One `nexthop` group, interface still by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NexthopWords {
    /// `via GW`.
    pub via: Option<IpAddr>,
    /// `dev IF`.
    pub dev: Option<String>,
    /// `weight N` (1-256 in ip; 1-255 here).
    pub weight: u8,
}

/// A route as typed, interface names not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteWords {
    /// Destination; `None` = `default`.
    pub dst: Option<IpNet>,
    /// `-4`/`-6`, or inferred from the addresses given.
    pub family: Option<Family>,
    /// `blackhole`, `unreachable`, `prohibit`, ...
    pub kind: Option<RouteType>,
    /// `via GW`.
    pub via: Option<IpAddr>,
    /// `dev IF`.
    pub dev: Option<String>,
    /// `metric N`.
    pub metric: Option<u32>,
    /// `table N`.
    pub table: Option<u32>,
    /// `src IP`.
    pub src: Option<IpAddr>,
    /// `proto P`.
    pub protocol: Option<Protocol>,
    /// `scope S`.
    pub scope: Option<Scope>,
    /// `nexthop ...` groups.
    pub nexthops: Vec<NexthopWords>,
    /// `onlink`.
    pub onlink: bool,
    /// `pref low|medium|high` (IPv6).
    pub pref: Option<RoutePref>,
    /// `mtu N`.
    pub mtu: Option<u32>,
}

/// What `warren route` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `add`, `replace` or `del`.
    Modify(Op, RouteWords),
    /// `show [table N|all] [-4|-6]`.
    Show {
        /// Table (`None` = main, `Some(0)` = all).
        table: Option<u32>,
        /// Family (default IPv4, as ip; a prefix given sets it).
        family: Family,
        /// Only routes to exactly this prefix (`default`, `10.0.0.0/24`; ip's `exact`).
        dst: Option<IpNet>,
        /// Only routes out of this interface (as ip: multipath routes have no single one).
        dev: Option<String>,
    },
    /// `get ADDR [from A] [iif IF] [oif IF] [mark M]`.
    Get {
        /// Destination.
        dst: IpAddr,
        /// `from`.
        from: Option<IpAddr>,
        /// `iif` by name.
        iif: Option<String>,
        /// `oif` by name.
        oif: Option<String>,
        /// `mark`.
        mark: Option<u32>,
    },
}

/// Parse the words after `warren route`.
pub fn parse(args: &[String]) -> Result<Cmd, ParseError> {
    let (words, family) = crate::cmd::take_family(args);
    let Some((verb, rest)) = words.split_first() else {
        return Ok(Cmd::Show {
            table: None,
            family: family.unwrap_or(Family::V4),
            dst: None,
            dev: None,
        });
    };
    match verb.as_str() {
        "add" | "a" => parse_modify(Op::Add, "route add", family, rest),
        "replace" | "change" => parse_modify(Op::Replace, "route replace", family, rest),
        "del" | "delete" | "d" => parse_modify(Op::Del, "route del", family, rest),
        "show" | "list" | "ls" | "lst" | "s" => parse_show(family, rest),
        "get" | "g" => parse_get(rest),
        other => Err(perr(
            "route",
            format!("unknown command {other:?} (expected add, replace, del, show or get)"),
        )),
    }
}

fn parse_show(family: Option<Family>, rest: &[String]) -> Result<Cmd, ParseError> {
    let cmd = "route show";
    let (mut table, mut dev, mut dst_word) = (None, None, None);
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "table" => table = Some(parse_table(cmd, value(cmd, &mut it, "table")?, true)?),
            "dev" | "oif" => dev = Some(value(cmd, &mut it, "dev")?.to_owned()),
            "to" | "exact" => dst_word = Some(value(cmd, &mut it, "to")?.to_owned()),
            w if dst_word.is_none() && !w.starts_with('-') => dst_word = Some(w.to_owned()),
            w => return Err(perr(cmd, format!("unexpected {w:?}"))),
        }
    }
    let dst = match dst_word.as_deref() {
        None => None,
        Some("default") => Some(IpNet::default_route(family.unwrap_or(Family::V4))),
        Some(w) => Some(w.parse::<IpNet>().map_err(|e| perr(cmd, e))?.network()),
    };
    let family = match (family, dst) {
        (Some(f), Some(d)) if d.family() != f => {
            return Err(perr(cmd, format!("{d} is not of the family asked for")));
        }
        (Some(f), _) => f,
        (None, Some(d)) => d.family(),
        (None, None) => Family::V4,
    };
    Ok(Cmd::Show {
        table,
        family,
        dst,
        dev,
    })
}

fn ip(cmd: &str, w: &str) -> Result<IpAddr, ParseError> {
    w.parse()
        .map_err(|_| perr(cmd, format!("{w:?} is not an IPv4 or IPv6 address")))
}

fn num<T: std::str::FromStr>(cmd: &str, key: &str, w: &str) -> Result<T, ParseError> {
    w.parse()
        .map_err(|_| perr(cmd, format!("invalid {key} {w:?}")))
}

fn parse_table(cmd: &str, w: &str, all_ok: bool) -> Result<u32, ParseError> {
    match w {
        "main" => Ok(route::MAIN),
        "local" => Ok(route::LOCAL),
        "default" => Ok(253),
        "all" if all_ok => Ok(route::ALL),
        _ => match w.parse::<u32>() {
            Ok(0) | Err(_) => Err(perr(cmd, format!("invalid table {w:?}"))),
            Ok(n) => Ok(n),
        },
    }
}

fn route_type(w: &str) -> Option<RouteType> {
    Some(match w {
        "unicast" => RouteType::Unicast,
        "blackhole" => RouteType::Blackhole,
        "unreachable" => RouteType::Unreachable,
        "prohibit" => RouteType::Prohibit,
        "throw" => RouteType::Throw,
        "local" => RouteType::Local,
        "broadcast" => RouteType::Broadcast,
        "anycast" => RouteType::Anycast,
        "multicast" => RouteType::Multicast,
        _ => return None,
    })
}

fn parse_modify(
    op: Op,
    cmd: &str,
    family: Option<Family>,
    rest: &[String],
) -> Result<Cmd, ParseError> {
    let mut r = RouteWords {
        family,
        ..RouteWords::default()
    };
    let mut dst_seen = false;
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "via" => {
                let mut g = value(cmd, &mut it, "via")?;
                if g == "inet" || g == "inet6" {
                    g = value(cmd, &mut it, "via")?;
                }
                r.via = Some(ip(cmd, g)?);
            }
            "dev" | "oif" => r.dev = Some(value(cmd, &mut it, "dev")?.to_owned()),
            "metric" | "priority" | "preference" => {
                r.metric = Some(num(cmd, "metric", value(cmd, &mut it, "metric")?)?)
            }
            "table" => r.table = Some(parse_table(cmd, value(cmd, &mut it, "table")?, false)?),
            "src" => r.src = Some(ip(cmd, value(cmd, &mut it, "src")?)?),
            "proto" | "protocol" => {
                let p = value(cmd, &mut it, "proto")?;
                r.protocol = Some(p.parse().map_err(|e| perr(cmd, e))?);
            }
            "scope" => {
                let s = value(cmd, &mut it, "scope")?;
                r.scope = Some(s.parse().map_err(|e| perr(cmd, e))?);
            }
            "onlink" => r.onlink = true,
            "mtu" => r.mtu = Some(num(cmd, "mtu", value(cmd, &mut it, "mtu")?)?),
            "pref" => {
                let p = value(cmd, &mut it, "pref")?;
                r.pref = Some(p.parse().map_err(|e| perr(cmd, e))?);
            }
            "nexthop" => r.nexthops.push(NexthopWords {
                weight: 1,
                ..NexthopWords::default()
            }),
            "weight" => {
                let nh = r
                    .nexthops
                    .last_mut()
                    .ok_or_else(|| perr(cmd, "\"weight\" outside a nexthop"))?;
                let v = value(cmd, &mut it, "weight")?;
                nh.weight = match v.parse::<u8>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(perr(cmd, format!("invalid weight {v:?} (1-255)"))),
                };
            }
            "to" => {
                let d = value(cmd, &mut it, "to")?;
                set_dst(cmd, &mut r, &mut dst_seen, d)?;
            }
            w if !dst_seen && r.kind.is_none() && route_type(w).is_some() => r.kind = route_type(w),
            w if !dst_seen => set_dst(cmd, &mut r, &mut dst_seen, w)?,
            w => return Err(perr(cmd, format!("unexpected {w:?}"))),
        }
        // Words after `nexthop` belong to it.
        if let Some(nh) = r.nexthops.last_mut() {
            if r.via.is_some() && w == "via" {
                nh.via = r.via.take();
            }
            if r.dev.is_some() && (w == "dev" || w == "oif") {
                nh.dev = r.dev.take();
            }
        }
    }
    if !dst_seen {
        return Err(perr(cmd, "missing destination (default or PREFIX)"));
    }
    // The family: -4/-6, else the destination's, else a gateway's.
    let fam_of_words = r
        .dst
        .map(|d| d.family())
        .or(r.via.map(|g| Family::of(&g)))
        .or(r
            .nexthops
            .iter()
            .find_map(|n| n.via)
            .map(|g| Family::of(&g)))
        .or(r.src.map(|s| Family::of(&s)));
    match (r.family, r.dst) {
        (Some(f), Some(d)) if d.family() != f => {
            return Err(perr(
                cmd,
                format!(
                    "{d} is not an {} prefix",
                    if f == Family::V4 { "IPv4" } else { "IPv6" }
                ),
            ));
        }
        (None, _) => r.family = Some(fam_of_words.unwrap_or(Family::V4)),
        _ => {}
    }
    if r.nexthops
        .iter()
        .any(|n| n.via.is_none() && n.dev.is_none())
    {
        return Err(perr(cmd, "a nexthop needs \"via GW\" or \"dev IF\""));
    }
    Ok(Cmd::Modify(op, r))
}

fn set_dst(cmd: &str, r: &mut RouteWords, seen: &mut bool, w: &str) -> Result<(), ParseError> {
    if *seen {
        return Err(perr(
            cmd,
            format!("unexpected {w:?}: destination given twice"),
        ));
    }
    *seen = true;
    if w != "default" {
        let net = w.parse::<IpNet>().map_err(|e| perr(cmd, e))?;
        if net != net.network() {
            // As ip: a prefix with host bits set is a typo more often than not.
            return Err(perr(
                cmd,
                format!(
                    "invalid prefix {w:?}: host bits set (did you mean {}?)",
                    net.network()
                ),
            ));
        }
        r.dst = Some(net);
    }
    Ok(())
}

fn parse_get(rest: &[String]) -> Result<Cmd, ParseError> {
    let cmd = "route get";
    let (mut dst, mut from, mut iif, mut oif, mut mark) = (None, None, None, None, None);
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "from" => from = Some(ip(cmd, value(cmd, &mut it, "from")?)?),
            "iif" => iif = Some(value(cmd, &mut it, "iif")?.to_owned()),
            "oif" | "dev" => oif = Some(value(cmd, &mut it, "oif")?.to_owned()),
            "mark" => {
                let v = value(cmd, &mut it, "mark")?;
                let parsed = match v.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => v.parse().ok(),
                };
                mark = Some(parsed.ok_or_else(|| perr(cmd, format!("invalid mark {v:?}")))?);
            }
            "to" => dst = Some(ip(cmd, value(cmd, &mut it, "to")?)?),
            w if dst.is_none() => {
                dst = Some(ip(
                    cmd,
                    w.strip_suffix("/32")
                        .or(w.strip_suffix("/128"))
                        .unwrap_or(w),
                )?)
            }
            w => return Err(perr(cmd, format!("unexpected {w:?}"))),
        }
    }
    let dst = dst.ok_or_else(|| perr(cmd, "missing ADDR"))?;
    Ok(Cmd::Get {
        dst,
        from,
        iif,
        oif,
        mark,
    })
}

impl RouteWords {
    /// Resolve interface names with `index` and build the kernel's spec.
    pub fn to_spec(
        &self,
        index: &mut dyn FnMut(&str) -> Result<u32, CliError>,
    ) -> Result<RouteSpec, CliError> {
        let fam = self.family.unwrap_or(Family::V4);
        let mut spec = RouteSpec::to(self.dst.unwrap_or(IpNet::default_route(fam)));
        spec.via = self.via;
        spec.metric = self.metric;
        spec.table = self.table;
        spec.src = self.src;
        spec.scope = self.scope;
        spec.protocol = self.protocol;
        spec.kind = self.kind;
        spec.onlink = self.onlink;
        spec.pref = self.pref;
        spec.mtu = self.mtu;
        if let Some(d) = &self.dev {
            let i = index(d)?;
            spec = spec.dev(i).dev_name(i, d);
        }
        for nh in &self.nexthops {
            let dev = match &nh.dev {
                Some(d) => {
                    let i = index(d)?;
                    spec = spec.dev_name(i, d);
                    Some(i)
                }
                None => None,
            };
            spec = spec.nexthop(Nexthop {
                via: nh.via,
                dev,
                weight: nh.weight,
            });
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn modify(s: &str) -> (Op, RouteWords) {
        match parse(&words(s)).unwrap() {
            Cmd::Modify(op, w) => (op, w),
            other => panic!("{s}: {other:?}"),
        }
    }

    fn ipa(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn add_forms_parse() {
        let (op, w) = modify("add default via 10.0.0.1");
        assert_eq!(op, Op::Add);
        assert_eq!(
            (w.dst, w.via, w.family),
            (None, Some(ipa("10.0.0.1")), Some(Family::V4))
        );
        let (_, w) = modify("add default via fd00::1 dev eth0");
        assert_eq!(
            (w.family, w.dev.as_deref()),
            (Some(Family::V6), Some("eth0"))
        );
        let (_, w) = modify("add -6 default dev eth0");
        assert_eq!(w.family, Some(Family::V6));
        let (op, w) = modify(
            "replace 10.1.0.0/24 via 10.0.0.254 dev eth0 metric 50 table 100 src 10.0.0.1 proto static scope link",
        );
        assert_eq!(op, Op::Replace);
        assert_eq!(w.dst, Some("10.1.0.0/24".parse().unwrap()));
        assert_eq!(
            (w.metric, w.table, w.src),
            (Some(50), Some(100), Some(ipa("10.0.0.1")))
        );
        assert_eq!(
            (w.protocol, w.scope),
            (Some(Protocol::STATIC), Some(Scope::LINK))
        );
        let (_, w) = modify("add blackhole 10.9.0.0/16");
        assert_eq!(w.kind, Some(RouteType::Blackhole));
        let (_, w) = modify("add unreachable 10.8.0.0/16 table main");
        assert_eq!((w.kind, w.table), (Some(RouteType::Unreachable), Some(254)));
        let (op, w) = modify("del 10.1.0.0/24");
        assert_eq!((op, w.via), (Op::Del, None));
    }

    #[test]
    fn nexthops_collect_their_own_words() {
        let (_, w) = modify(
            "add 10.5.0.0/24 nexthop via 10.0.0.1 dev v0 weight 2 nexthop via 10.0.1.1 dev v1",
        );
        assert_eq!(w.via, None);
        assert_eq!(w.dev, None);
        assert_eq!(
            w.nexthops,
            vec![
                NexthopWords {
                    via: Some(ipa("10.0.0.1")),
                    dev: Some("v0".into()),
                    weight: 2
                },
                NexthopWords {
                    via: Some(ipa("10.0.1.1")),
                    dev: Some("v1".into()),
                    weight: 1
                },
            ]
        );
        let mut idx = |n: &str| Ok(if n == "v0" { 2 } else { 3 });
        let spec = w.to_spec(&mut idx).unwrap();
        assert_eq!(
            spec.nexthops[0],
            Nexthop {
                via: Some(ipa("10.0.0.1")),
                dev: Some(2),
                weight: 2
            }
        );
        assert_eq!(
            spec.describe(),
            "10.5.0.0/24 nexthop via 10.0.0.1 dev v0 nexthop via 10.0.1.1 dev v1"
        );
    }

    #[test]
    fn show_and_get_parse() {
        assert_eq!(
            parse(&[]).unwrap(),
            Cmd::Show {
                table: None,
                family: Family::V4,
                dst: None,
                dev: None
            }
        );
        assert_eq!(
            parse(&words("show table all -6")).unwrap(),
            Cmd::Show {
                table: Some(0),
                family: Family::V6,
                dst: None,
                dev: None
            }
        );
        assert_eq!(
            parse(&words("show fd00::/64 dev eth0")).unwrap(),
            Cmd::Show {
                table: None,
                family: Family::V6,
                dst: Some("fd00::/64".parse().unwrap()),
                dev: Some("eth0".into())
            }
        );
        assert_eq!(
            parse(&words("show -6 default")).unwrap(),
            Cmd::Show {
                table: None,
                family: Family::V6,
                dst: Some(IpNet::default_route(Family::V6)),
                dev: None
            }
        );
        assert_eq!(
            parse(&words("get 10.0.2.2 from 10.0.1.2 oif eth0 mark 0x10")).unwrap(),
            Cmd::Get {
                dst: ipa("10.0.2.2"),
                from: Some(ipa("10.0.1.2")),
                iif: None,
                oif: Some("eth0".into()),
                mark: Some(16)
            }
        );
    }

    #[test]
    fn bad_words_say_what_is_wrong() {
        for (input, want) in [
            (
                "add 10.0.0.0/33 via 10.0.0.1",
                "prefix length 33 is longer than 32",
            ),
            (
                "add 10.0.0/24 dev eth0",
                "\"10.0.0\" is not an IPv4 or IPv6 address",
            ),
            ("add via 10.0.0.1", "missing destination"),
            (
                "add default via 10.0.0.x",
                "\"10.0.0.x\" is not an IPv4 or IPv6 address",
            ),
            ("add default metric lots", "invalid metric \"lots\""),
            ("add default dev eth0 table all", "invalid table \"all\""),
            ("add 10.0.0.0/8 weight 3", "\"weight\" outside a nexthop"),
            ("add 10.0.0.0/8 nexthop weight 3", "a nexthop needs"),
            ("add 10.0.0.0/8 10.1.0.0/16", "unexpected \"10.1.0.0/16\""),
            ("add 10.0.0.0/8 to 10.1.0.0/16", "destination given twice"),
            (
                "add 10.0.0.1/24 dev eth0",
                "host bits set (did you mean 10.0.0.0/24?)",
            ),
            ("add -6 10.0.0.0/8 dev eth0", "is not an IPv6 prefix"),
            ("add default via", "\"via\" needs a value"),
            ("show table", "\"table\" needs a value"),
            ("get", "missing ADDR"),
            ("frob", "unknown command \"frob\""),
        ] {
            let e = parse(&words(input)).unwrap_err().to_string();
            assert!(e.contains(want), "{input}: {e}");
            assert!(e.starts_with("route"), "{input}: {e}");
        }
    }

    #[test]
    fn onlink_is_a_flag() {
        let (_, w) = modify("add default via 169.254.1.1 dev eth0 onlink");
        assert!(w.onlink);
        let spec = w.to_spec(&mut |_| Ok(7)).unwrap();
        assert!(spec.onlink);
        assert_eq!(spec.describe(), "default via 169.254.1.1 dev eth0 onlink");
    }

    /// Every sequence of up to four words from ip's vocabulary (and some junk) parses or fails
    /// cleanly: never a panic.
    #[test]
    fn no_word_sequence_panics() {
        let vocab = [
            "add",
            "del",
            "replace",
            "show",
            "get",
            "default",
            "via",
            "dev",
            "metric",
            "table",
            "all",
            "src",
            "proto",
            "scope",
            "nexthop",
            "weight",
            "blackhole",
            "onlink",
            "to",
            "from",
            "iif",
            "oif",
            "mark",
            "-6",
            "10.0.0.0/8",
            "fd00::1",
            "0",
            "999999999999",
            "",
            "/",
            "eth0",
        ];
        let n = vocab.len();
        for len in 0..=4u32 {
            for mut code in 0..n.pow(len) {
                let mut words = Vec::new();
                for _ in 0..len {
                    words.push(vocab[code % n].to_string());
                    code /= n;
                }
                if let Ok(Cmd::Modify(_, w)) = parse(&words) {
                    let _ = w.to_spec(&mut |_| Ok(1));
                }
            }
        }
    }
}
