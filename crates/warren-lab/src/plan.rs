//! The plan of a re-apply: what differs between the lab as built and the lab in the file.
//! Pure: computed from two [`Lab`] values, never from the kernel.
//!
//! A node is identified by its name, a link by its two ends (in either order: `h1:eth0` and a
//! switch port `sw1:PORT`, `host:BRIDGE`, `macvlan:PARENT` or `host:UPLINK`). Addresses,
//! routes, sysctls, loopback addresses, MTU, MAC and shaping change in place; a node whose kind
//! or switch bridges change is re-created (with its links), and so is a link whose ends keep
//! their names but change otherwise (an interface's kernel name, a macvlan's mode).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::model::{End, Interface, Lab, Link, Node};

/// A link's identity: its two end keys, sorted.
pub type LinkKey = (String, String);

/// One property that changes, `from` → `to` (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PropChange {
    /// What (`address eth1`, `route`, `sysctl net.ipv4.ip_forward`, `mtu eth0`, `files`).
    pub what: String,
    /// Old value.
    pub from: Option<String>,
    /// New value.
    pub to: Option<String>,
}

/// In-place changes of one node or link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    /// The node name, or the link as `A -- B`.
    pub name: String,
    /// Its changes, in a stable order.
    pub changes: Vec<PropChange>,
}

/// What a re-apply does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Nodes to create.
    pub add_nodes: Vec<String>,
    /// Nodes to remove.
    pub remove_nodes: Vec<String>,
    /// Nodes removed and created again (their kind or bridges changed), with the reason.
    pub recreate_nodes: Vec<(String, String)>,
    /// Links to create (new, or of a re-created node, or changed beyond repair).
    pub add_links: Vec<LinkKey>,
    /// Links to remove.
    pub remove_links: Vec<LinkKey>,
    /// Nodes changed in place.
    pub change_nodes: Vec<Changed>,
    /// Links changed in place (MTU, shaping).
    pub change_links: Vec<Changed>,
}

impl Plan {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.add_nodes.is_empty()
            && self.remove_nodes.is_empty()
            && self.recreate_nodes.is_empty()
            && self.add_links.is_empty()
            && self.remove_links.is_empty()
            && self.change_nodes.is_empty()
            && self.change_links.is_empty()
    }

    /// The plan of building `lab` from nothing.
    pub fn build(lab: &Lab) -> Plan {
        diff(
            &Lab {
                name: lab.name.clone(),
                nodes: Vec::new(),
                links: Vec::new(),
            },
            lab,
        )
    }
}

/// The key of one end of a link.
pub fn end_key(lab: &Lab, end: &End) -> String {
    match end {
        End::Node { node, interface } => format!("{node}:{interface}"),
        End::Switch { node, port } => {
            let name = lab
                .node(node)
                .and_then(|n| n.switch.as_ref())
                .and_then(|s| s.ports.get(*port))
                .map_or_else(|| format!("#{port}"), |p| p.ifname.clone());
            format!("{node}:{name}")
        }
        End::HostBridge { bridge, ifname } => format!("host:{bridge}/{ifname}"),
        End::Macvlan { parent, .. } => format!("macvlan:{parent}"),
        End::HostUplink { ifname, .. } => format!("host:{ifname}"),
    }
}

/// A link's identity.
pub fn link_key(lab: &Lab, link: &Link) -> LinkKey {
    let a = end_key(lab, &link.ends[0]);
    let b = end_key(lab, &link.ends[1]);
    if a <= b { (a, b) } else { (b, a) }
}

/// `A -- B`.
pub fn key_text(k: &LinkKey) -> String {
    format!("{} -- {}", k.0, k.1)
}

/// The nodes a link's ends are in (switches included; host ends are not nodes).
pub fn link_nodes(link: &Link) -> Vec<&str> {
    link.ends
        .iter()
        .filter_map(|e| match e {
            End::Node { node, .. } | End::Switch { node, .. } => Some(node.as_str()),
            _ => None,
        })
        .collect()
}

/// The interface of `node` that is an end of link `index`.
pub fn iface_of(node: &Node, index: usize) -> Option<&Interface> {
    node.interfaces.iter().find(|i| i.link == index)
}

fn list<T: fmt::Display>(v: &[T]) -> Option<String> {
    if v.is_empty() {
        None
    } else {
        Some(
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        )
    }
}

fn prop(
    out: &mut Vec<PropChange>,
    what: impl Into<String>,
    from: Option<String>,
    to: Option<String>,
) {
    if from != to {
        out.push(PropChange {
            what: what.into(),
            from,
            to,
        });
    }
}

fn route_text(r: &crate::model::Route) -> String {
    let mut s = r.to.to_string();
    if let Some(v) = r.via {
        s.push_str(&format!(" via {v}"));
    }
    if let Some(d) = &r.dev {
        s.push_str(&format!(" dev {d}"));
    }
    s
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// In-place changes of a node kept (interfaces of links that are re-created are skipped:
/// they are made anew).
fn node_changes(
    old: &Node,
    new: &Node,
    kept_ifaces: &BTreeSet<String>,
    hosts_changed: bool,
) -> Vec<PropChange> {
    let mut out = Vec::new();
    prop(
        &mut out,
        "loopback",
        list(&old.loopback),
        list(&new.loopback),
    );
    for ni in &new.interfaces {
        if !kept_ifaces.contains(&ni.name) {
            continue;
        }
        let Some(oi) = old.interfaces.iter().find(|i| i.name == ni.name) else {
            continue;
        };
        prop(
            &mut out,
            format!("address {}", ni.name),
            list(&oi.addresses),
            list(&ni.addresses),
        );
        prop(
            &mut out,
            format!("mtu {}", ni.name),
            oi.mtu.map(|m| m.to_string()),
            ni.mtu.map(|m| m.to_string()),
        );
        prop(
            &mut out,
            format!("mac {}", ni.name),
            oi.mac.clone(),
            ni.mac.clone(),
        );
    }
    let (or, nr): (Vec<String>, Vec<String>) = (
        old.routes.iter().map(route_text).collect(),
        new.routes.iter().map(route_text).collect(),
    );
    for r in or.iter().filter(|r| !nr.contains(r)) {
        prop(&mut out, "route", Some(r.clone()), None);
    }
    for r in nr.iter().filter(|r| !or.contains(r)) {
        prop(&mut out, "route", None, Some(r.clone()));
    }
    let keys: BTreeSet<&String> = old.sysctls.keys().chain(new.sysctls.keys()).collect();
    for k in keys {
        prop(
            &mut out,
            format!("sysctl {k}"),
            old.sysctls.get(k).cloned(),
            new.sysctls.get(k).cloned(),
        );
    }
    for (what, o, n) in [
        ("env", json(&old.env), json(&new.env)),
        ("files", json(&old.files), json(&new.files)),
        ("exec", json(&old.exec), json(&new.exec)),
        ("daemons", json(&old.daemons), json(&new.daemons)),
        ("after", json(&old.after), json(&new.after)),
    ] {
        let hosts = what == "files" && hosts_changed && new.files.iter().any(|f| f.lab_hosts);
        if o != n || hosts {
            out.push(PropChange {
                what: what.into(),
                from: Some("(old)".into()),
                to: Some("(new)".into()),
            });
        }
    }
    out
}

fn shaping_text(l: &Link) -> Option<String> {
    let s = l.shaping.as_ref()?;
    let mut parts = Vec::new();
    if let Some(r) = s.rate_bps {
        parts.push(format!("rate {r}bit"));
    }
    if let Some(d) = s.delay_us {
        parts.push(format!("delay {d}us"));
    }
    if let Some(p) = s.loss_percent {
        parts.push(format!("loss {p}%"));
    }
    list(&parts)
}

/// Why `new` must be re-created rather than changed, if it must.
fn recreate_reason(old: &Node, new: &Node) -> Option<String> {
    if old.kind != new.kind {
        return Some(format!("kind {:?} → {:?}", old.kind, new.kind).to_lowercase());
    }
    if old.netns != new.netns {
        return Some(format!("namespace {} → {}", old.netns, new.netns));
    }
    let bridges = |n: &Node| n.switch.as_ref().map(|s| s.bridges.clone());
    if bridges(old) != bridges(new) {
        return Some("switch bridges".into());
    }
    None
}

/// Whether a link kept by key must still be re-created: an end changed beyond its name (a
/// kernel name, a macvlan mode, an uplink address, a port's bridge).
fn link_needs_recreate(
    old_lab: &Lab,
    old: &Link,
    new_lab: &Lab,
    new: &Link,
    oi: usize,
    ni: usize,
) -> bool {
    let ends = |lab: &Lab, l: &Link, idx: usize| -> Vec<String> {
        let mut v: Vec<String> = l
            .ends
            .iter()
            .map(|e| match e {
                End::Node { node, .. } => {
                    let i = lab.node(node).and_then(|n| iface_of(n, idx));
                    format!(
                        "{}/{:?}",
                        end_key(lab, e),
                        i.map(|i| (&i.ifname, &i.altnames))
                    )
                }
                End::Switch { node, port } => {
                    let p = lab
                        .node(node)
                        .and_then(|n| n.switch.as_ref())
                        .and_then(|s| s.ports.get(*port));
                    format!(
                        "{}/{:?}",
                        end_key(lab, e),
                        p.map(|p| (p.bridge, &p.altnames))
                    )
                }
                other => json(other),
            })
            .collect();
        v.sort();
        v
    };
    ends(old_lab, old, oi) != ends(new_lab, new, ni)
}

/// The plan turning `old` (as built) into `new`.
pub fn diff(old: &Lab, new: &Lab) -> Plan {
    let mut plan = Plan::default();
    let old_nodes: BTreeMap<&str, &Node> = old.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let new_nodes: BTreeMap<&str, &Node> = new.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut recreated = BTreeSet::new();
    for n in &new.nodes {
        match old_nodes.get(n.name.as_str()) {
            None => plan.add_nodes.push(n.name.clone()),
            Some(o) => {
                if let Some(why) = recreate_reason(o, n) {
                    recreated.insert(n.name.clone());
                    plan.recreate_nodes.push((n.name.clone(), why));
                }
            }
        }
    }
    for o in &old.nodes {
        if !new_nodes.contains_key(o.name.as_str()) {
            plan.remove_nodes.push(o.name.clone());
        }
    }
    let gone: BTreeSet<&str> = plan
        .remove_nodes
        .iter()
        .chain(recreated.iter())
        .map(String::as_str)
        .collect();
    let old_links: BTreeMap<LinkKey, usize> = old
        .links
        .iter()
        .enumerate()
        .map(|(i, l)| (link_key(old, l), i))
        .collect();
    let new_links: BTreeMap<LinkKey, usize> = new
        .links
        .iter()
        .enumerate()
        .map(|(i, l)| (link_key(new, l), i))
        .collect();
    // Interfaces (node, name) whose links are kept: their in-place changes count.
    let mut kept: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, l) in new.links.iter().enumerate() {
        let key = link_key(new, l);
        let touches_gone = link_nodes(l).iter().any(|n| gone.contains(n));
        match old_links.get(&key) {
            Some(&oi)
                if !touches_gone && !link_needs_recreate(old, &old.links[oi], new, l, oi, i) =>
            {
                for e in &l.ends {
                    if let End::Node { node, interface } = e {
                        kept.entry(node.clone())
                            .or_default()
                            .insert(interface.clone());
                    }
                }
                let ol = &old.links[oi];
                let mut ch = Vec::new();
                prop(
                    &mut ch,
                    "mtu",
                    ol.mtu.map(|m| m.to_string()),
                    l.mtu.map(|m| m.to_string()),
                );
                prop(&mut ch, "shaping", shaping_text(ol), shaping_text(l));
                if !ch.is_empty() {
                    plan.change_links.push(Changed {
                        name: key_text(&key),
                        changes: ch,
                    });
                }
            }
            Some(_) => {
                // The old link goes with a removed node, or is remade.
                if !link_nodes(&old.links[old_links[&key]])
                    .iter()
                    .all(|n| plan.remove_nodes.iter().any(|r| r == n))
                {
                    plan.remove_links.push(key.clone());
                }
                plan.add_links.push(key);
            }
            None => plan.add_links.push(key),
        }
    }
    for (key, &oi) in &old_links {
        if !new_links.contains_key(key) {
            let _ = oi;
            plan.remove_links.push(key.clone());
        }
    }
    plan.remove_links.sort();
    plan.remove_links.dedup();
    // The lab's /etc/hosts is made from every node: its text changes every node that has it.
    let hosts_changed = new
        .nodes
        .iter()
        .any(|n| n.files.iter().any(|f| f.lab_hosts))
        && old.hosts_file() != new.hosts_file();
    for n in &new.nodes {
        if recreated.contains(&n.name) {
            continue;
        }
        let Some(o) = old_nodes.get(n.name.as_str()) else {
            continue;
        };
        let empty = BTreeSet::new();
        let ch = node_changes(o, n, kept.get(&n.name).unwrap_or(&empty), hosts_changed);
        if !ch.is_empty() {
            plan.change_nodes.push(Changed {
                name: n.name.clone(),
                changes: ch,
            });
        }
    }
    plan
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.remove_nodes {
            writeln!(f, "- node {n}")?;
        }
        for k in &self.remove_links {
            writeln!(f, "- link {}", key_text(k))?;
        }
        for (n, why) in &self.recreate_nodes {
            writeln!(f, "± node {n} (re-created: {why})")?;
        }
        for n in &self.add_nodes {
            writeln!(f, "+ node {n}")?;
        }
        for k in &self.add_links {
            writeln!(f, "+ link {}", key_text(k))?;
        }
        for (kind, list) in [("node", &self.change_nodes), ("link", &self.change_links)] {
            for c in list {
                for p in &c.changes {
                    let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "(none)".into());
                    writeln!(
                        f,
                        "~ {kind} {}: {} {} → {}",
                        c.name,
                        p.what,
                        v(&p.from),
                        v(&p.to)
                    )?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
