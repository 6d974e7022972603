//! What users type, parsed purely (no system access) so it can be tested and fuzzed:
//! `-p` port specs, `--net` modes, names, hostnames, `--add-host`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A transport protocol a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Proto {
    /// `tcp`, `udp`, `sctp`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }
}

/// An inclusive range of ports; a single port is `start == end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port.
    pub end: u16,
}

impl PortRange {
    /// How many ports.
    pub fn len(self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    /// Never empty; here for clippy's sake.
    pub fn is_empty(self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// One `-p [HOSTIP:][HOSTPORT[-END]:]PORT[-END][/PROTO[,PROTO]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The host address (`None`: every address, both families).
    pub host_ip: Option<IpAddr>,
    /// Host ports; `None` means "pick free ones".
    pub host: Option<PortRange>,
    /// Container ports.
    pub container: PortRange,
    /// Protocols (TCP when none given), no duplicates.
    pub protos: Vec<Proto>,
}

fn port_range(spec: &str, s: &str, what: &str) -> Result<PortRange> {
    let bad = |why: String| Error::invalid("port spec", spec, why);
    let one = |p: &str| -> Result<u16> {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("{what} {p:?} is not a port number")));
        }
        match p.parse::<u32>() {
            Ok(n @ 1..=65535) => Ok(u16::try_from(n).unwrap_or(u16::MAX)),
            _ => Err(bad(format!("{what} {p} is out of range (1-65535)"))),
        }
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => {
            let p = one(s)?;
            (p, p)
        }
    };
    if b < a {
        return Err(bad(format!("{what} range {s} ends before it starts")));
    }
    Ok(PortRange { start: a, end: b })
}

impl FromStr for PortSpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<PortSpec> {
        let bad = |why: &str| Error::invalid("port spec", spec, why);
        if spec.is_empty() {
            return Err(bad("empty"));
        }
        let (ports, protos) = match spec.rsplit_once('/') {
            Some((p, pr)) => (p, Some(pr)),
            None => (spec, None),
        };
        let mut list = Vec::new();
        for word in protos
            .map(|p| p.split(',').collect())
            .unwrap_or_else(|| vec!["tcp"])
        {
            let p = Proto::parse(word).ok_or_else(|| {
                Error::invalid(
                    "port spec",
                    spec,
                    format!("unknown protocol {word:?} (tcp, udp or sctp)"),
                )
            })?;
            if list.contains(&p) {
                return Err(Error::invalid(
                    "port spec",
                    spec,
                    format!("protocol {word} given twice"),
                ));
            }
            list.push(p);
        }
        // An IPv6 host address must be bracketed: [::1]:8080:80.
        let (host_ip, rest) = if let Some(r) = ports.strip_prefix('[') {
            let (ip, rest) = r
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ around the host address"))?;
            let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| {
                Error::invalid("port spec", spec, format!("{ip:?} is not an IPv6 address"))
            })?;
            let rest = rest
                .strip_prefix(':')
                .ok_or_else(|| bad("expected ':' after the bracketed host address"))?;
            (Some(IpAddr::V6(ip)), rest)
        } else {
            (None, ports)
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (host_ip, host, container) = match (host_ip, parts.as_slice()) {
            (None, [c]) => (None, None, *c),
            (None, [h, c]) => (None, Some(*h), *c),
            (None, [ip, h, c]) => {
                let ip: IpAddr = ip.parse().map_err(|_| {
                    Error::invalid(
                        "port spec",
                        spec,
                        format!(
                            "{ip:?} is not a host address (IPv6 goes in brackets: [::1]:8080:80)"
                        ),
                    )
                })?;
                (Some(ip), Some(*h), *c)
            }
            (Some(ip), [h, c]) => (Some(ip), Some(*h), *c),
            _ => return Err(bad("expected [HOSTIP:][HOSTPORT:]PORT[/PROTO]")),
        };
        let container = port_range(spec, container, "container port")?;
        let host = match host {
            None | Some("") => None,
            Some(h) => Some(port_range(spec, h, "host port")?),
        };
        if let Some(h) = host
            && h.len() != container.len()
            && container.len() != 1
        {
            return Err(Error::invalid(
                "port spec",
                spec,
                format!(
                    "host range {h} and container range {container} differ in length ({} vs {})",
                    h.len(),
                    container.len()
                ),
            ));
        }
        Ok(PortSpec {
            host_ip,
            host,
            container,
            protos: list,
        })
    }
}

/// One `--net` word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetArg {
    /// Share the host's namespace.
    Host,
    /// Only `lo`.
    None,
    /// Join another container's namespace.
    Container(String),
    /// Join a pod's namespace.
    Pod(String),
    /// Attach to a network (`bridge` is the default one).
    Network(String),
}

impl FromStr for NetArg {
    type Err = Error;

    fn from_str(s: &str) -> Result<NetArg> {
        let named = |kind: &'static str, n: &str| -> Result<String> {
            validate_name(kind, n)?;
            Ok(n.to_owned())
        };
        Ok(match s {
            "host" => NetArg::Host,
            "none" => NetArg::None,
            _ => match s.split_once(':') {
                Some(("container", n)) => NetArg::Container(named("container name", n)?),
                Some(("pod", n)) => NetArg::Pod(named("pod name", n)?),
                Some((k, _)) => {
                    return Err(Error::invalid(
                        "network mode",
                        s,
                        format!("unknown mode {k:?} (container:NAME or pod:NAME)"),
                    ));
                }
                None => NetArg::Network(named("network name", s)?),
            },
        })
    }
}

/// How a container gets its network, after checking the `--net` words go together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    /// The host's namespace.
    Host,
    /// Its own namespace with only `lo`.
    None,
    /// Another container's namespace.
    Container(String),
    /// A pod's namespace.
    Pod(String),
    /// Its own namespace on these networks (in interface order).
    Networks(Vec<String>),
}

/// Combine `--net` words: host, none, container: and pod: stand alone; networks may repeat.
/// No words means the default network.
pub fn net_mode(args: &[NetArg]) -> Result<NetMode> {
    let alone = |a: &NetArg| !matches!(a, NetArg::Network(_));
    if args.len() > 1 && args.iter().any(alone) {
        return Err(Error::invalid(
            "network mode",
            args.iter().map(describe_arg).collect::<Vec<_>>().join(" "),
            "host, none, container: and pod: cannot be combined with other --net values",
        ));
    }
    Ok(match args.first() {
        None => NetMode::Networks(vec![crate::DEFAULT_NETWORK.to_owned()]),
        Some(NetArg::Host) => NetMode::Host,
        Some(NetArg::None) => NetMode::None,
        Some(NetArg::Container(c)) => NetMode::Container(c.clone()),
        Some(NetArg::Pod(p)) => NetMode::Pod(p.clone()),
        Some(NetArg::Network(_)) => {
            let mut nets: Vec<String> = Vec::new();
            for a in args {
                if let NetArg::Network(n) = a {
                    if nets.contains(n) {
                        return Err(Error::invalid("network", n, "given twice"));
                    }
                    nets.push(n.clone());
                }
            }
            NetMode::Networks(nets)
        }
    })
}

fn describe_arg(a: &NetArg) -> String {
    match a {
        NetArg::Host => "host".into(),
        NetArg::None => "none".into(),
        NetArg::Container(c) => format!("container:{c}"),
        NetArg::Pod(p) => format!("pod:{p}"),
        NetArg::Network(n) => n.clone(),
    }
}

/// Names of networks, containers, pods and aliases: a letter or digit, then letters, digits,
/// `_`, `.`, `-`; at most 63 bytes. No `/`, no `..`, nothing a path or a shell could misread.
pub fn validate_name(what: &'static str, name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(what, name, why));
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.len() > 63 {
        return bad("is longer than 63 bytes");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("must start with a letter or digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        return bad("may only hold letters, digits, '_', '.' and '-'");
    }
    Ok(())
}

/// A hostname: dot-separated labels of letters, digits and inner hyphens, each at most 63
/// bytes, at most 253 in all.
pub fn validate_hostname(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid("hostname", name, why));
    if name.is_empty() || name.len() > 253 {
        return bad("must be 1 to 253 bytes");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("each dot-separated label must be 1 to 63 bytes");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label may not start or end with '-'");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad("may only hold letters, digits, '-' and '.'");
        }
    }
    Ok(())
}

/// `--add-host NAME:IP` (the address may be IPv6: split at the first ':').
pub fn parse_add_host(s: &str) -> Result<(String, IpAddr)> {
    let (name, ip) = s
        .split_once(':')
        .ok_or_else(|| Error::invalid("--add-host", s, "expected NAME:IP"))?;
    validate_hostname(name)
        .map_err(|_| Error::invalid("--add-host", s, format!("{name:?} is not a hostname")))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| Error::invalid("--add-host", s, format!("{ip:?} is not an IP address")))?;
    Ok((name.to_owned(), ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PortSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn r(a: u16, b: u16) -> PortRange {
        PortRange { start: a, end: b }
    }

    /// (spec, host ip, host ports, container ports, protocols)
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<PortRange>,
        PortRange,
        &'static [Proto],
    );

    #[test]
    fn port_specs() {
        let cases: &[Case] = &[
            ("80", None, None, r(80, 80), &[Proto::Tcp]),
            (
                "8080:80",
                None,
                Some(r(8080, 8080)),
                r(80, 80),
                &[Proto::Tcp],
            ),
            (
                "127.0.0.1:8080:80/udp",
                Some("127.0.0.1"),
                Some(r(8080, 8080)),
                r(80, 80),
                &[Proto::Udp],
            ),
            (
                "[::1]:8080:80",
                Some("::1"),
                Some(r(8080, 8080)),
                r(80, 80),
                &[Proto::Tcp],
            ),
            (
                "8000-8009:9000-9009/tcp,udp",
                None,
                Some(r(8000, 8009)),
                r(9000, 9009),
                &[Proto::Tcp, Proto::Udp],
            ),
            (
                "8000-8009:80",
                None,
                Some(r(8000, 8009)),
                r(80, 80),
                &[Proto::Tcp],
            ),
            (
                "0.0.0.0::53/udp",
                Some("0.0.0.0"),
                None,
                r(53, 53),
                &[Proto::Udp],
            ),
            ("9/sctp", None, None, r(9, 9), &[Proto::Sctp]),
        ];
        for (s, ip, host, c, protos) in cases {
            let got = p(s);
            assert_eq!(got.host_ip, ip.map(|i| i.parse().unwrap()), "{s}");
            assert_eq!(got.host, *host, "{s}");
            assert_eq!(got.container, *c, "{s}");
            assert_eq!(got.protos, *protos, "{s}");
        }
    }

    #[test]
    fn bad_port_specs_say_what_is_wrong() {
        for (s, why) in [
            ("", "empty"),
            ("0:80", "out of range"),
            ("8080:70000", "out of range"),
            ("80/icmp", "unknown protocol"),
            ("80/tcp,tcp", "twice"),
            ("8000-8010:9000-9001", "differ in length"),
            ("90-80:80", "ends before"),
            ("::1:8080:80", "expected"),
            ("localhost:80:80", "not a host address"),
            ("[::1:80:80", "unclosed"),
            ("1:2:3:4", "expected"),
            ("a:80", "not a port number"),
        ] {
            let e = s.parse::<PortSpec>().unwrap_err().to_string();
            assert!(e.contains(why), "{s:?}: {e}");
            assert!(e.contains("port spec"), "{e}");
        }
    }

    #[test]
    fn net_modes() {
        let m = |words: &[&str]| {
            let args: Result<Vec<NetArg>> = words.iter().map(|w| w.parse()).collect();
            net_mode(&args?)
        };
        assert_eq!(m(&[]).unwrap(), NetMode::Networks(vec!["bridge".into()]));
        assert_eq!(m(&["host"]).unwrap(), NetMode::Host);
        assert_eq!(
            m(&["container:web"]).unwrap(),
            NetMode::Container("web".into())
        );
        assert_eq!(
            m(&["a", "b"]).unwrap(),
            NetMode::Networks(vec!["a".into(), "b".into()])
        );
        assert!(
            m(&["host", "a"])
                .unwrap_err()
                .to_string()
                .contains("cannot be combined")
        );
        assert!(m(&["a", "a"]).unwrap_err().to_string().contains("twice"));
        assert!(
            m(&["foo:bar"])
                .unwrap_err()
                .to_string()
                .contains("unknown mode")
        );
        assert!(m(&["../x"]).is_err());
    }

    #[test]
    fn names_and_hosts() {
        for ok in ["web", "a.b-c_d", "9lives"] {
            validate_name("name", ok).unwrap();
        }
        for bad in ["", "-x", "a/b", "..", "x y", &"a".repeat(64)] {
            assert!(validate_name("name", bad).is_err(), "{bad:?}");
        }
        validate_hostname("db.example").unwrap();
        assert!(validate_hostname("a..b").is_err());
        assert!(validate_hostname("-a").is_err());
        assert_eq!(
            parse_add_host("db:10.0.0.5").unwrap().1.to_string(),
            "10.0.0.5"
        );
        assert_eq!(
            parse_add_host("db:fd00::5").unwrap().1.to_string(),
            "fd00::5"
        );
        assert!(parse_add_host("db").is_err());
        assert!(parse_add_host("db:nope").is_err());
    }

    #[test]
    fn random_words_never_panic() {
        let alphabet = [
            "1",
            ":",
            "-",
            "/",
            "[",
            "]",
            "::",
            "tcp",
            "udp",
            ",",
            "65536",
            "0",
            "a",
            "127.0.0.1",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 8) as usize;
            let mut x = seed;
            for _ in 0..n {
                s.push_str(alphabet[(x % alphabet.len() as u64) as usize]);
                x /= alphabet.len() as u64;
            }
            let _ = s.parse::<PortSpec>();
            let _ = s.parse::<NetArg>();
        }
    }
}
