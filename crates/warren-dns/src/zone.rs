//! The record set and its scoping: which names a client may see. Pure: built from the config,
//! queried per packet, changed in place by the names a fragment had and has ([`Zone::remove`],
//! [`Zone::add`]), so a reload costs what changed, not every name.
//!
//! A client sees the networks of the listener it asked on, plus every network in which one of
//! the names has the client's own source address. Only entries of those networks answer.
//!
//! Several entries may give the same name, address or membership (two containers with one
//! alias, a pod's name in each member's fragment): each is counted, and goes away with the
//! last entry that gave it.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::config::NameEntry;
use crate::qname::normalize;

/// Names and addresses by network, indexed for the three lookups the server makes.
#[derive(Debug, Default, Clone)]
pub(crate) struct Zone {
    /// network → name → the name's entries and addresses (names and networks lower case).
    by_network: HashMap<String, HashMap<String, Named>>,
    /// address → the networks in which some name has it (a client's memberships).
    member_of: HashMap<IpAddr, Counted<String>>,
    /// address → (network, name) of every entry that has it (for PTR).
    reverse: HashMap<IpAddr, Counted<(String, String)>>,
    /// Entries added and not removed.
    entries: usize,
}

/// Values with how many entries give each, in the order first given.
type Counted<T> = Vec<(T, u32)>;

/// One name in one network: how many entries give it, and their addresses (each with how many
/// of those entries give it), in the order first given.
#[derive(Debug, Default, Clone)]
struct Named {
    entries: u32,
    addrs: Counted<IpAddr>,
}

/// The networks one client sees.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scope<'a>(Vec<&'a str>);

impl Zone {
    #[cfg(test)]
    pub(crate) fn new(names: &[NameEntry]) -> Zone {
        let mut zone = Zone::default();
        zone.add(names);
        zone
    }

    /// How many entries the zone holds.
    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    /// Add `names` (e.g. a fragment's, read anew).
    pub(crate) fn add(&mut self, names: &[NameEntry]) {
        for entry in names {
            let network = network_key(&entry.network);
            let name = normalize(&entry.name);
            let named = self
                .by_network
                .entry(network.clone())
                .or_default()
                .entry(name.clone())
                .or_default();
            named.entries += 1;
            for &addr in &entry.addrs {
                let addr = addr.to_canonical();
                count_up(&mut named.addrs, addr);
                count_up(self.member_of.entry(addr).or_default(), network.clone());
                count_up(
                    self.reverse.entry(addr).or_default(),
                    (network.clone(), name.clone()),
                );
            }
        }
        self.entries += names.len();
    }

    /// Remove `names`, which must have been added before (e.g. a fragment's as last read).
    pub(crate) fn remove(&mut self, names: &[NameEntry]) {
        for entry in names {
            let network = network_key(&entry.network);
            let name = normalize(&entry.name);
            let Some(in_network) = self.by_network.get_mut(&network) else {
                continue;
            };
            let Some(named) = in_network.get_mut(&name) else {
                continue;
            };
            named.entries = named.entries.saturating_sub(1);
            for &addr in &entry.addrs {
                let addr = addr.to_canonical();
                count_down(&mut named.addrs, &addr);
                if let Some(nets) = self.member_of.get_mut(&addr) {
                    count_down(nets, &network);
                    if nets.is_empty() {
                        self.member_of.remove(&addr);
                    }
                }
                if let Some(pairs) = self.reverse.get_mut(&addr) {
                    count_down(pairs, &(network.clone(), name.clone()));
                    if pairs.is_empty() {
                        self.reverse.remove(&addr);
                    }
                }
            }
            if named.entries == 0 {
                in_network.remove(&name);
                if in_network.is_empty() {
                    self.by_network.remove(&network);
                }
            }
        }
        self.entries = self.entries.saturating_sub(names.len());
    }

    /// The networks a client at `client` sees when it asks on a listener of `listener_network`
    /// (lower case, as [`network_key`] makes it).
    pub(crate) fn scope<'a>(&'a self, listener_network: &'a str, client: IpAddr) -> Scope<'a> {
        let mut nets = vec![listener_network];
        if let Some(member) = self.member_of.get(&client.to_canonical()) {
            for (n, _) in member {
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
                if let Some(named) = names.get(candidate) {
                    let all = found.get_or_insert_with(Vec::new);
                    for &(a, _) in &named.addrs {
                        if !all.contains(&a) {
                            all.push(a);
                        }
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
            for ((network, name), _) in entries {
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

/// Count one more `x` (kept in the order first counted).
fn count_up<T: PartialEq>(v: &mut Counted<T>, x: T) {
    match v.iter_mut().find(|(y, _)| *y == x) {
        Some((_, n)) => *n += 1,
        None => v.push((x, 1)),
    }
}

/// Count one `x` less, dropping it at zero.
fn count_down<T: PartialEq>(v: &mut Counted<T>, x: &T) {
    if let Some(i) = v.iter().position(|(y, _)| y == x) {
        v[i].1 -= 1;
        if v[i].1 == 0 {
            v.remove(i);
        }
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

    /// Every answer a zone gives to the clients and names of `probe`, sorted (the order of
    /// addresses first given may differ between zones built in other orders).
    fn answers(z: &Zone) -> Vec<String> {
        let mut out = Vec::new();
        for net in ["front", "back", "x"] {
            for client in ["10.89.0.9", "10.89.0.3", "10.90.0.2", "10.89.0.2"] {
                let scope = z.scope(net, ip(client));
                let mut nets = scope.0.clone();
                nets.sort_unstable();
                for q in [
                    "web",
                    "www",
                    "db",
                    "api",
                    "api.back",
                    "empty",
                    "web.front",
                    "new",
                ] {
                    let mut a = z.addrs(&scope, q);
                    if let Some(a) = a.as_mut() {
                        a.sort_unstable();
                    }
                    out.push(format!("{net} {client} {nets:?} {q} {a:?}"));
                }
                for addr in ["10.89.0.2", "10.89.0.3", "fd89::2", "10.90.0.2"] {
                    let mut n = z.names_of(&scope, ip(addr));
                    n.sort_unstable();
                    out.push(format!("{net} {client} PTR {addr} {n:?}"));
                }
            }
        }
        out
    }

    #[test]
    fn removing_entries_leaves_what_other_entries_still_give() {
        let web = vec![entry("web", "front", &["10.89.0.2", "fd89::2"])];
        // A second container answering to the same name with one of the same addresses.
        let twin = vec![
            entry("web", "front", &["10.89.0.2"]),
            entry("new", "back", &["10.89.0.2"]),
        ];
        let mut z = Zone::new(&web);
        z.add(&twin);
        assert_eq!(z.len(), 3);
        z.remove(&web);
        assert_eq!(z.len(), 2);
        let front = z.scope("front", ip("10.89.0.9"));
        assert_eq!(z.addrs(&front, "web"), ips(&["10.89.0.2"]));
        assert!(z.names_of(&front, ip("fd89::2")).is_empty());
        // 10.89.0.2 is still a member of back through `new`.
        assert_eq!(
            z.scope("front", ip("10.89.0.2")),
            Scope(vec!["front", "back"])
        );
        z.remove(&twin);
        assert_eq!(z.len(), 0);
        let front = z.scope("front", ip("10.89.0.9"));
        assert_eq!(z.addrs(&front, "web"), None);
        assert_eq!(z.scope("front", ip("10.89.0.2")), Scope(vec!["front"]));
        assert!(z.by_network.is_empty() && z.member_of.is_empty() && z.reverse.is_empty());
    }

    #[test]
    fn changes_applied_one_fragment_at_a_time_answer_as_a_zone_built_whole() {
        // Fragments as a pod and containers would write them; overlapping on purpose.
        let frags: Vec<Vec<NameEntry>> = vec![
            vec![
                entry("web", "front", &["10.89.0.2", "fd89::2"]),
                entry("www", "front", &["10.89.0.2"]),
            ],
            vec![entry("db", "back", &["10.90.0.2"])],
            vec![
                entry("api", "front", &["10.89.0.3"]),
                entry("api", "back", &["10.89.0.3"]),
            ],
            vec![
                entry("Empty", "front", &[]),
                entry("web", "front", &["10.89.0.2"]),
            ],
            vec![entry("new", "back", &["10.89.0.2"])],
        ];
        // Add them all, then replace and remove some, comparing with a whole rebuild each time.
        let mut live: Vec<Option<Vec<NameEntry>>> = vec![None; frags.len()];
        let mut z = Zone::default();
        let steps: &[(usize, Option<usize>)] = &[
            (0, Some(0)),
            (1, Some(1)),
            (2, Some(2)),
            (3, Some(3)),
            (0, None),
            (4, Some(4)),
            (3, Some(1)),
            (2, None),
            (0, Some(0)),
            (1, None),
        ];
        for &(slot, with) in steps {
            if let Some(old) = live[slot].take() {
                z.remove(&old);
            }
            if let Some(f) = with {
                z.add(&frags[f]);
                live[slot] = Some(frags[f].clone());
            }
            let all: Vec<NameEntry> = live.iter().flatten().flatten().cloned().collect();
            assert_eq!(
                answers(&z),
                answers(&Zone::new(&all)),
                "after slot {slot} -> {with:?}"
            );
            assert_eq!(z.len(), all.len());
        }
    }
}
