//! SRC and DST: the words (parsed without I/O, [`parse_endpoint`]) and what they name
//! ([`resolve`]): a namespace by name, path or `pid:N`, a warren container or pod by name or
//! id (its namespace from warren's store), a lab node (its namespace `LAB-NODE`), or an
//! address — which is found across namespaces, or, for a destination, taken as external.

use std::net::IpAddr;
use std::path::Path;

use warren_kernel::netns::NetNs;

use crate::error::{Error, Result, kernel};
use crate::walk::Proto;
use crate::world::World;

/// What an endpoint word names, before looking anything up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An address.
    Addr(IpAddr),
    /// The namespace of a process.
    Pid(i32),
    /// A namespace file.
    Path(String),
    /// A named namespace, a container or pod, or a lab node.
    Name(String),
}

/// A destination word: the endpoint and the optional `:PORT[/PROTO]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Port, when given.
    pub port: Option<u16>,
    /// Transport: TCP by default with a port, ICMP echo without.
    pub proto: Proto,
}

fn invalid(what: &'static str, word: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what,
        word: word.to_owned(),
        reason: reason.into(),
    }
}

/// Parse an endpoint (no port).
pub fn parse_endpoint(what: &'static str, word: &str) -> Result<Endpoint> {
    if word.is_empty() {
        return Err(invalid(what, word, "empty"));
    }
    if let Ok(ip) = word.parse::<IpAddr>() {
        return Ok(Endpoint::Addr(ip));
    }
    if let Some(n) = word.strip_prefix("pid:") {
        return match n.parse::<i32>() {
            Ok(p) if p > 0 => Ok(Endpoint::Pid(p)),
            _ => Err(invalid(what, word, "pid:N needs a positive process id")),
        };
    }
    if word.starts_with('/') {
        return Ok(Endpoint::Path(word.to_owned()));
    }
    if word.contains('/') || word == "." || word == ".." || word.contains('\0') {
        return Err(invalid(
            what,
            word,
            "not an address, a namespace name, a path or pid:N",
        ));
    }
    Ok(Endpoint::Name(word.to_owned()))
}

fn parse_port(word: &str, spec: &str) -> Result<(u16, Proto)> {
    let (p, proto) = match spec.split_once('/') {
        Some((p, "tcp")) => (p, Proto::Tcp),
        Some((p, "udp")) => (p, Proto::Udp),
        Some((_, other)) => {
            return Err(invalid(
                "DST",
                word,
                format!("unknown protocol '{other}' (tcp or udp)"),
            ));
        }
        None => (spec, Proto::Tcp),
    };
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok((n, proto)),
        _ => Err(invalid("DST", word, "the port must be 1-65535")),
    }
}

/// Parse `DST[:PORT[/tcp|udp]]` (`[ADDR6]:PORT` for IPv6 with a port, `DST/icmp` for an
/// explicit echo).
pub fn parse_dest(word: &str) -> Result<Dest> {
    let icmp = |endpoint| Dest {
        endpoint,
        port: None,
        proto: Proto::Icmp,
    };
    if let Some(base) = word.strip_suffix("/icmp") {
        return Ok(icmp(parse_endpoint("DST", base)?));
    }
    if let Ok(ip) = word.parse::<IpAddr>() {
        return Ok(icmp(Endpoint::Addr(ip)));
    }
    let (base, spec) = if let Some(rest) = word.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| invalid("DST", word, "missing ']'"))?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| invalid("DST", word, "not an address between [ and ]"))?;
        return match after.strip_prefix(':') {
            Some(spec) => {
                let (port, proto) = parse_port(word, spec)?;
                Ok(Dest {
                    endpoint: Endpoint::Addr(ip),
                    port: Some(port),
                    proto,
                })
            }
            None if after.is_empty() => Ok(icmp(Endpoint::Addr(ip))),
            None => Err(invalid("DST", word, "expected :PORT after ]")),
        };
    } else if let Some(n) = word.strip_prefix("pid:") {
        match n.split_once(':') {
            Some((pid, spec)) => (format!("pid:{pid}"), Some(spec)),
            None => (word.to_owned(), None),
        }
    } else {
        match word.rsplit_once(':') {
            Some((b, spec)) if !b.is_empty() => (b.to_owned(), Some(spec)),
            Some(_) => return Err(invalid("DST", word, "nothing before ':'")),
            None => (word.to_owned(), None),
        }
    };
    let endpoint = parse_endpoint("DST", &base)?;
    match spec {
        None => Ok(icmp(endpoint)),
        Some(spec) => {
            let (port, proto) = parse_port(word, spec)?;
            Ok(Dest {
                endpoint,
                port: Some(port),
                proto,
            })
        }
    }
}

/// A resolved endpoint: its namespace (an index into the world; `None` for an external
/// address) and its address, when one is named or chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// Namespace.
    pub ns: Option<usize>,
    /// Address.
    pub addr: Option<IpAddr>,
}

/// Find what `e` names, adding namespaces opened by path, PID or container to `w`.
pub fn resolve(w: &mut World, what: &'static str, word: &str, e: &Endpoint) -> Result<Resolved> {
    let ns = match e {
        Endpoint::Addr(ip) => {
            let owners = w.owners_of(*ip);
            // An address many namespaces hold (a loopback one) is taken as the host's.
            let ns = owners
                .iter()
                .find(|(n, _)| *n != 0)
                .or(owners.first())
                .map(|(n, _)| *n);
            if ns.is_none() && what == "SRC" {
                return Err(Error::NotFound {
                    what,
                    word: word.to_owned(),
                    reason: "no namespace has this address".into(),
                });
            }
            return Ok(Resolved {
                ns,
                addr: Some(*ip),
            });
        }
        Endpoint::Pid(p) => {
            let ns = NetNs::open_pid(*p).map_err(kernel(format!("open {what} {word}")))?;
            w.add(word.to_owned(), ns)?
        }
        Endpoint::Path(p) => {
            let ns =
                NetNs::open_path(Path::new(p)).map_err(kernel(format!("open {what} {word}")))?;
            w.add(word.to_owned(), ns)?
        }
        Endpoint::Name(name) => {
            match NetNs::open_named(name) {
                Ok(ns) => w.add(name.clone(), ns)?,
                Err(_) => match container_netns(name)? {
                    Some(path) => {
                        let ns = NetNs::open_path(Path::new(&path))
                            .map_err(kernel(format!("open the namespace of container {name}")))?;
                        let i = w.add(name.clone(), ns)?;
                        // Known already by its namespace's name: show the container's too.
                        if w.list[i].label != *name {
                            w.list[i].label = format!("{name} ({})", w.list[i].label);
                        }
                        i
                    }
                    None => {
                        return Err(Error::NotFound {
                        what,
                        word: word.to_owned(),
                        reason: "no namespace under /run/netns nor warren container or pod of this name".into(),
                    });
                    }
                },
            }
        }
    };
    Ok(Resolved {
        ns: Some(ns),
        addr: None,
    })
}

/// The namespace file of warren container or pod `name`, if warren's store knows it. A
/// missing store is not created.
fn container_netns(name: &str) -> Result<Option<String>> {
    let state = warren_engine::Paths::discover().state;
    if !state.join(warren_store::DB_FILE).exists() {
        return Ok(None);
    }
    let store_err = |source| Error::Store {
        word: name.to_owned(),
        source: Box::new(source),
    };
    let mut store = warren_store::Store::open(&state).map_err(store_err)?;
    let c = store
        .read(|tx| warren_store::find_container(tx, name))
        .map_err(store_err)?;
    Ok(c.and_then(|c| c.netns))
}

/// The address to trace to in namespace `ns` when DST names a namespace: its first global
/// IPv4 address, else its first global IPv6 one.
pub fn pick_addr(w: &World, ns: usize) -> Result<Option<IpAddr>> {
    let addrs = w.list[ns].addrs()?;
    let usable = |a: &&warren_kernel::addr::Address| {
        !a.addr.is_loopback() && !warren_kernel::link::is_link_local(&a.addr)
    };
    Ok(addrs
        .iter()
        .filter(usable)
        .find(|a| a.addr.is_ipv4())
        .or_else(|| addrs.iter().find(usable))
        .map(|a| a.addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse() {
        let name = |s: &str| Endpoint::Name(s.into());
        let ip = |s: &str| Endpoint::Addr(s.parse().unwrap());
        let table: Vec<(&str, Endpoint, Option<u16>, Proto)> = vec![
            ("red", name("red"), None, Proto::Icmp),
            ("red:80", name("red"), Some(80), Proto::Tcp),
            ("red:53/udp", name("red"), Some(53), Proto::Udp),
            ("10.0.0.2", ip("10.0.0.2"), None, Proto::Icmp),
            ("10.0.0.2:443", ip("10.0.0.2"), Some(443), Proto::Tcp),
            ("fd00::1", ip("fd00::1"), None, Proto::Icmp),
            ("[fd00::1]:8080/udp", ip("fd00::1"), Some(8080), Proto::Udp),
            ("pid:42", Endpoint::Pid(42), None, Proto::Icmp),
            ("pid:42:22", Endpoint::Pid(42), Some(22), Proto::Tcp),
            (
                "/proc/1/ns/net",
                Endpoint::Path("/proc/1/ns/net".into()),
                None,
                Proto::Icmp,
            ),
            ("lab1-r1/icmp", name("lab1-r1"), None, Proto::Icmp),
        ];
        for (word, e, port, proto) in table {
            let d = parse_dest(word).unwrap();
            assert_eq!((d.endpoint, d.port, d.proto), (e, port, proto), "{word}");
        }
        for bad in [
            "",
            ":80",
            "red:0",
            "red:99999",
            "red:80/sctp",
            "pid:x",
            "pid:-1",
            "[fd00::1",
            "[nope]:80",
            "a/b",
            "red:http",
        ] {
            assert!(parse_dest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_words_do_not_panic() {
        let alphabet = b"ab:/[]0129.-pid:xtcpudp";
        let mut x: u32 = 12345;
        for _ in 0..5000 {
            let len = (x % 14) as usize;
            let word: String = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    alphabet[(x >> 16) as usize % alphabet.len()] as char
                })
                .collect();
            x = x.wrapping_add(7);
            let _ = parse_dest(&word);
            let _ = parse_endpoint("SRC", &word);
        }
    }
}
