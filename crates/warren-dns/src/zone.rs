//! The record set and its scoping: which names a client may see. Pure: built from the config,
//! queried per packet, swapped whole on reload.
//!
//! A client sees the networks of the listener it asked on, plus every network in which one of
//! the names has the client's own source address. Only entries of those networks answer.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::config::NameEntry;
use crate::qname::normalize;

/// Names and addresses by network, indexed for the three lookups the server makes.
#[derive(Debug, Default)]
pub(crate) struct Zone {
    /// network → name → addresses (names and networks lower case).
    by_network: HashMap<String, HashMap<String, Vec<IpAddr>>>,
    /// address → the networks in which some name has it (a client's memberships).
    member_of: HashMap<IpAddr, Vec<String>>,
    /// address → (network, name) of every entry that has it (for PTR).
    reverse: HashMap<IpAddr, Vec<(String, String)>>,
}

/// The networks one client sees.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scope<'a>(Vec<&'a str>);

impl Zone {
    pub(crate) fn new(names: &[NameEntry]) -> Zone {
        let mut zone = Zone::default();
        for entry in names {
            let network = network_key(&entry.network);
            let name = normalize(&entry.name);
            let addrs = zone
                .by_network
                .entry(network.clone())
                .or_default()
                .entry(name.clone())
                .or_default();
            for &addr in &entry.addrs {
                let addr = addr.to_canonical();
                push_unique(addrs, addr);
                push_unique(zone.member_of.entry(addr).or_default(), network.clone());
                push_unique(
                    zone.reverse.entry(addr).or_default(),
                    (network.clone(), name.clone()),
                );
            }
        }
        zone
    }

    /// The networks a client at `client` sees when it asks on a listener of `listener_network`
    /// (lower case, as [`network_key`] makes it).
    pub(crate) fn scope<'a>(&'a self, listener_network: &'a str, client: IpAddr) -> Scope<'a> {
        let mut nets = vec![listener_network];
        if let Some(member) = self.member_of.get(&client.to_canonical()) {
            for n in member {
                if !nets.contains(&n.as_str()) {
                    nets.push(n);
                }
            }
        }
        Scope(nets)
    }

    /// The addresses (both families) of `qname` (normalized) in scope: as a name in any of the
    /// networks, or as `NAME.NETWORK` for a network in scope. `None` if no entry in scope has
    /// that name; `Some(empty)` if one has it but without addresses.
    pub(crate) fn addrs(&self, scope: &Scope<'_>, qname: &str) -> Option<Vec<IpAddr>> {
        let mut found: Option<Vec<IpAddr>> = None;
        for network in &scope.0 {
            let Some(names) = self.by_network.get(*network) else {
                continue;
            };
            let qualified = qname
                .strip_suffix(network)
                .and_then(|rest| rest.strip_suffix('.'));
            for candidate in [Some(qname), qualified].into_iter().flatten() {
                if let Some(addrs) = names.get(candidate) {
                    let all = found.get_or_insert_with(Vec::new);
                    for &a in addrs {
                        push_unique(all, a);
                    }
                }
            }
        }
        found
    }

    /// The names (lower case, no trailing dot) that `addr` has in the client's scope.
    pub(crate) fn names_of(&self, scope: &Scope<'_>, addr: IpAddr) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        if let Some(entries) = self.reverse.get(&addr.to_canonical()) {
            for (network, name) in entries {
                if scope.0.contains(&network.as_str()) && !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }
}

/// How a network's name is compared: without regard to case (it is also a DNS suffix).
pub(crate) fn network_key(network: &str) -> String {
    network.to_ascii_lowercase()
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, network: &str, addrs: &[&str]) -> NameEntry {
        NameEntry {
            name: name.into(),
            network: network.into(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ips(v: &[&str]) -> Option<Vec<IpAddr>> {
        Some(v.iter().map(|s| ip(s)).collect())
    }

    fn zone() -> Zone {
        Zone::new(&[
            entry("web", "front", &["10.89.0.2", "fd89::2"]),
            entry("www", "front", &["10.89.0.2"]),
            entry("db", "back", &["10.90.0.2"]),
            entry("api", "front", &["10.89.0.3"]),
            // One address in two networks (as with a routed, not bridged, network).
            entry("api", "back", &["10.89.0.3"]),
            entry("Empty", "front", &[]),
        ])
    }

    #[test]
    fn scope_is_the_listener_network_plus_the_clients_memberships() {
        let z = zone();
        assert_eq!(z.scope("front", ip("10.89.0.9")), Scope(vec!["front"]));
        assert_eq!(
            z.scope("front", ip("10.89.0.3")),
            Scope(vec!["front", "back"])
        );
        assert_eq!(
            z.scope("back", ip("10.89.0.3")),
            Scope(vec!["back", "front"])
        );
        // An IPv4-mapped source is the same client.
        assert_eq!(
            z.scope("x", ip("::ffff:10.90.0.2")),
            Scope(vec!["x", "back"])
        );
    }

    #[test]
    fn lookups_by_scope() {
        let z = zone();
        // (listener network, client, query, expected)
        let table: &[(&str, &str, &str, Option<Vec<IpAddr>>)] = &[
            ("front", "10.89.0.9", "web", ips(&["10.89.0.2", "fd89::2"])),
            (
                "front",
                "10.89.0.9",
                "web.front",
                ips(&["10.89.0.2", "fd89::2"]),
            ),
            ("front", "10.89.0.9", "db", None),
            ("front", "10.89.0.9", "db.back", None),
            ("back", "10.90.0.9", "web", None),
            ("back", "10.90.0.9", "db", ips(&["10.90.0.2"])),
            // api has entries in both: as a client it sees both networks.
            ("front", "10.89.0.3", "db", ips(&["10.90.0.2"])),
            ("front", "10.89.0.3", "api", ips(&["10.89.0.3"])),
            ("front", "10.89.0.3", "api.back", ips(&["10.89.0.3"])),
            ("back", "10.90.0.9", "api", ips(&["10.89.0.3"])),
            ("front", "10.89.0.9", "api", ips(&["10.89.0.3"])),
            ("front", "10.89.0.9", "empty", Some(vec![])),
            ("front", "10.89.0.9", "web.back", None),
            ("front", "10.89.0.9", "front", None),
            ("front", "10.89.0.9", ".front", None),
            ("nowhere", "127.0.0.1", "web", None),
        ];
        for (net, client, q, want) in table {
            let scope = z.scope(net, ip(client));
            assert_eq!(&z.addrs(&scope, q), want, "{net} {client} {q}");
        }
    }

    #[test]
    fn reverse_lookups_are_scoped_and_give_every_name() {
        let z = zone();
        let front = z.scope("front", ip("10.89.0.9"));
        assert_eq!(z.names_of(&front, ip("10.89.0.2")), vec!["web", "www"]);
        assert_eq!(z.names_of(&front, ip("fd89::2")), vec!["web"]);
        assert!(z.names_of(&front, ip("10.90.0.2")).is_empty());
        let both = z.scope("front", ip("10.89.0.3"));
        assert_eq!(z.names_of(&both, ip("10.90.0.2")), vec!["db"]);
    }

    #[test]
    fn network_names_match_without_regard_to_case() {
        let z = Zone::new(&[entry("web", "Front", &["10.89.0.2"])]);
        let scope = z.scope("front", ip("10.89.0.9"));
        assert_eq!(z.addrs(&scope, "web.front"), ips(&["10.89.0.2"]));
        let listener = network_key("FRONT");
        let scope = z.scope(&listener, ip("10.89.0.9"));
        assert_eq!(z.addrs(&scope, "web.front"), ips(&["10.89.0.2"]));
    }
}
