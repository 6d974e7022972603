//! The walk of a lab file's YAML tree (docs/lab.md's schema) into a [`Spec`]: every field
//! checked for its name and type, every value parsed, each kept with its position and field
//! path so that the resolution can point at it too. Errors are collected, never fatal.

use std::net::IpAddr;

use warren_kernel::addr::IpNet;

use crate::load::Diags;
use crate::model::{Command, NodeKind, Route};
use crate::values;
use crate::yaml::{Key, Kind, Pos, Value};

/// A value with its position and field path.
#[derive(Debug, Clone)]
pub(crate) struct At<T> {
    pub v: T,
    pub pos: Pos,
    pub field: String,
}

/// The whole file, checked but not resolved.
#[derive(Debug, Default)]
pub(crate) struct Spec {
    pub name: Option<At<String>>,
    pub pools: Pools,
    pub defaults: NodeSpec,
    pub groups: Vec<(At<String>, NodeSpec)>,
    pub nodes: Vec<(At<String>, NodeSpec)>,
    pub links: Vec<LinkSpec>,
    /// How many links the file has (some may be left out of `links` for their errors).
    pub link_count: usize,
    /// Whether interfaces without explicit addresses get addresses from the pools (off for
    /// containerlab files, whose commands address the interfaces themselves).
    pub auto_addresses: bool,
}

/// The address pools.
#[derive(Debug)]
pub(crate) struct Pools {
    pub lan: At<IpNet>,
    pub lan_prefix: At<u8>,
    pub p2p: At<IpNet>,
    pub p2p_prefix: At<u8>,
    pub loopback: At<IpNet>,
    pub uplink: At<IpNet>,
}

fn at<T>(v: T, field: &str) -> At<T> {
    At {
        v,
        pos: Pos { line: 1, column: 1 },
        field: field.to_string(),
    }
}

impl Default for Pools {
    fn default() -> Pools {
        let net = |s: &str| s.parse::<IpNet>().expect("a valid default pool");
        Pools {
            lan: at(net("10.0.0.0/16"), "pools.lan"),
            lan_prefix: at(24, "pools.lan_prefix"),
            p2p: at(net("10.255.0.0/16"), "pools.p2p"),
            p2p_prefix: at(31, "pools.p2p_prefix"),
            loopback: at(net("10.254.0.0/16"), "pools.loopback"),
            uplink: at(net("100.64.0.0/16"), "pools.uplink"),
        }
    }
}

/// `auto`, `none` or an address.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Setting<T> {
    Auto,
    None,
    Set(T),
}

/// The fields of a node (also of `defaults` and of a group), each optional.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeSpec {
    pub pos: Pos,
    pub kind: Option<At<NodeKind>>,
    pub group: Option<At<String>>,
    pub loopback: Option<At<Setting<IpNet>>>,
    pub gateway: Option<At<Setting<IpAddr>>>,
    pub interfaces: Vec<(At<String>, IfaceSpec)>,
    pub routes: Option<At<Vec<At<Route>>>>,
    pub sysctls: Vec<(At<String>, String)>,
    pub env: Vec<(At<String>, String)>,
    pub files: Vec<(At<String>, FileSpec)>,
    pub hosts: Option<At<bool>>,
    pub exec: Option<At<Vec<Command>>>,
    pub daemons: Option<At<Vec<At<DaemonSpec>>>>,
    pub after: Option<At<Vec<At<String>>>>,
}

/// `interfaces.IF`.
#[derive(Debug, Clone, Default)]
pub(crate) struct IfaceSpec {
    pub addresses: Vec<At<IpNet>>,
    pub mtu: Option<u32>,
    pub mac: Option<String>,
}

/// `files.PATH`.
#[derive(Debug, Clone)]
pub(crate) struct FileSpec {
    pub content: String,
    pub mode: u32,
}

/// `daemons[i]`.
#[derive(Debug, Clone)]
pub(crate) struct DaemonSpec {
    pub name: At<String>,
    pub command: Command,
    pub ready: Option<Command>,
    pub ready_timeout_ms: u64,
}

/// One end of a link as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EndSpec {
    /// `node` or `node:if`.
    Node(String, Option<String>),
    /// `host:BRIDGE`.
    Host(String),
    /// `macvlan:PARENT`.
    Macvlan(String),
}

/// `links[i]`.
#[derive(Debug, Clone)]
pub(crate) struct LinkSpec {
    pub pos: Pos,
    pub field: String,
    pub ends: Vec<At<EndSpec>>,
    pub mtu: Option<u32>,
    pub rate_bps: Option<u64>,
    pub delay_us: Option<u64>,
    pub loss_percent: Option<f64>,
    /// One per end (`None`: from the pools).
    pub addresses: Vec<Option<At<IpNet>>>,
    pub mode: Option<At<String>>,
}

pub(crate) const NODE_FIELDS: &[&str] = &[
    "kind",
    "group",
    "loopback",
    "gateway",
    "interfaces",
    "routes",
    "sysctls",
    "env",
    "files",
    "hosts",
    "exec",
    "daemons",
    "after",
];

const MACVLAN_MODES: &[&str] = &["bridge", "private", "vepa", "passthru", "source"];

/// Joins a field path and a key.
pub(crate) fn join(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_string()
    } else {
        format!("{field}.{key}")
    }
}

/// Walks a warren lab file.
pub(crate) fn walk(doc: &Value, d: &mut Diags) -> Spec {
    let mut w = Walker { d };
    let mut spec = Spec {
        auto_addresses: true,
        ..Spec::default()
    };
    let top = w.map(
        doc,
        "",
        &["name", "pools", "defaults", "groups", "nodes", "links"],
    );
    let mut has_nodes = false;
    for (k, v) in &top {
        match k.name.as_str() {
            "name" => spec.name = w.string(v, "name"),
            "pools" => spec.pools = w.pools(v),
            "defaults" => {
                let fields: Vec<&str> = NODE_FIELDS
                    .iter()
                    .copied()
                    .filter(|f| *f != "group")
                    .collect();
                spec.defaults = w.node(v, "defaults", &fields);
            }
            "groups" => {
                for (gk, gv) in w.map(v, "groups", &[]) {
                    let field = join("groups", &gk.name);
                    if let Err(e) = values::node_name(&gk.name) {
                        w.d.error(gk.pos, &field, e);
                    }
                    let g = w.node(gv, &field, NODE_FIELDS);
                    spec.groups.push((key_at(gk, &field), g));
                }
            }
            "nodes" => {
                has_nodes = true;
                for (nk, nv) in w.map(v, "nodes", &[]) {
                    let field = join("nodes", &nk.name);
                    if let Err(e) = values::node_name(&nk.name) {
                        w.d.error(nk.pos, &field, e);
                    }
                    let n = w.node(nv, &field, NODE_FIELDS);
                    spec.nodes.push((key_at(nk, &field), n));
                }
            }
            "links" => {
                for (i, lv) in w.list(v, "links").iter().enumerate() {
                    spec.link_count += 1;
                    if let Some(l) = w.link(lv, &format!("links[{i}]")) {
                        spec.links.push(l);
                    }
                }
            }
            _ => {}
        }
    }
    if matches!(doc.kind, Kind::Map(_)) {
        if spec.name.is_none() {
            w.d.error(doc.pos, "name", "missing: every lab has a name");
        }
        if !has_nodes {
            w.d.error(doc.pos, "nodes", "missing: a lab needs nodes");
        }
    }
    if let Some(n) = &spec.name {
        if let Err(e) = values::lab_name(&n.v) {
            w.d.error(n.pos, "name", e);
        }
    }
    spec
}

fn key_at(k: &Key, field: &str) -> At<String> {
    At {
        v: k.name.clone(),
        pos: k.pos,
        field: field.to_string(),
    }
}

/// The typed readers of YAML values; each reports its own errors.
pub(crate) struct Walker<'a> {
    pub d: &'a mut Diags,
}

impl Walker<'_> {
    /// The entries of a map; unknown keys (when `allowed` is not empty) and duplicates are
    /// reported and left out. `Null` is an empty map.
    pub(crate) fn map<'v>(
        &mut self,
        v: &'v Value,
        field: &str,
        allowed: &[&str],
    ) -> Vec<(&'v Key, &'v Value)> {
        let items = match &v.kind {
            Kind::Map(items) => items,
            Kind::Null => return Vec::new(),
            _ => {
                self.d.error(
                    v.pos,
                    field,
                    format!("expected a map, found {}", v.type_name()),
                );
                return Vec::new();
            }
        };
        let mut out: Vec<(&Key, &Value)> = Vec::with_capacity(items.len());
        let mut seen = crate::fxhash::map(items.len());
        for (k, val) in items {
            if !allowed.is_empty() && !allowed.contains(&k.name.as_str()) {
                self.d.error(
                    k.pos,
                    &join(field, &k.name),
                    format!(
                        "unknown field {:?} (allowed: {})",
                        k.name,
                        allowed.join(", ")
                    ),
                );
                continue;
            }
            if let Some(first) = seen.insert(k.name.as_str(), k.pos) {
                self.d.error(
                    k.pos,
                    &join(field, &k.name),
                    format!(
                        "duplicate key (first at line {}, column {})",
                        first.line, first.column
                    ),
                );
                continue;
            }
            out.push((k, val));
        }
        out
    }

    /// A list (`Null` is empty).
    pub(crate) fn list<'v>(&mut self, v: &'v Value, field: &str) -> &'v [Value] {
        match &v.kind {
            Kind::Seq(items) => items,
            Kind::Null => &[],
            _ => {
                self.d.error(
                    v.pos,
                    field,
                    format!("expected a list, found {}", v.type_name()),
                );
                &[]
            }
        }
    }

    /// A scalar's text.
    pub(crate) fn string(&mut self, v: &Value, field: &str) -> Option<At<String>> {
        match &v.kind {
            Kind::Str(s, _) => Some(At {
                v: s.clone(),
                pos: v.pos,
                field: field.to_string(),
            }),
            _ => {
                self.d.error(
                    v.pos,
                    field,
                    format!("expected a string, found {}", v.type_name()),
                );
                None
            }
        }
    }

    fn parsed<T>(
        &mut self,
        v: &Value,
        field: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.string(v, field)?;
        match f(&s.v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.d.error(v.pos, field, e);
                None
            }
        }
    }

    fn boolean(&mut self, v: &Value, field: &str) -> Option<bool> {
        match &v.kind {
            Kind::Str(s, true) if matches!(s.as_str(), "true" | "True" | "TRUE") => Some(true),
            Kind::Str(s, true) if matches!(s.as_str(), "false" | "False" | "FALSE") => Some(false),
            _ => {
                self.d.error(v.pos, field, "expected true or false");
                None
            }
        }
    }

    fn uint(&mut self, v: &Value, field: &str, min: u64, max: u64) -> Option<u64> {
        match &v.kind {
            Kind::Str(s, _) if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => {
                match s.parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => Some(n),
                    _ => {
                        self.d.error(
                            v.pos,
                            field,
                            format!("{s} is out of range ({min} to {max})"),
                        );
                        None
                    }
                }
            }
            _ => {
                self.d.error(v.pos, field, "expected a whole number");
                None
            }
        }
    }

    fn net(&mut self, v: &Value, field: &str) -> Option<At<IpNet>> {
        let n = self.parsed(v, field, |s| {
            s.parse::<IpNet>()
                .map_err(|_| format!("{s:?} is not an address with a prefix length (10.0.0.1/24)"))
        })?;
        Some(At {
            v: n,
            pos: v.pos,
            field: field.to_string(),
        })
    }

    fn pool(&mut self, v: &Value, field: &str) -> Option<At<IpNet>> {
        let n = self.net(v, field)?;
        if n.v.family() != warren_kernel::addr::Family::V4 {
            self.d
                .error(v.pos, field, "pools are IPv4 (IPv6 addresses are explicit)");
            return None;
        }
        if n.v.network() != n.v {
            self.d.error(
                v.pos,
                field,
                format!("{} has host bits set (the pool is {})", n.v, n.v.network()),
            );
            return None;
        }
        Some(n)
    }

    fn pools(&mut self, v: &Value) -> Pools {
        let mut p = Pools::default();
        let fields = [
            "lan",
            "lan_prefix",
            "p2p",
            "p2p_prefix",
            "loopback",
            "uplink",
        ];
        for (k, val) in self.map(v, "pools", &fields) {
            let field = join("pools", &k.name);
            let prefix = |w: &mut Self, lo, hi| {
                #[allow(clippy::cast_possible_truncation)]
                w.uint(val, &field, lo, hi).map(|n| At {
                    v: n as u8,
                    pos: val.pos,
                    field: field.clone(),
                })
            };
            match k.name.as_str() {
                "lan" => p.lan = self.pool(val, &field).unwrap_or(p.lan),
                "p2p" => p.p2p = self.pool(val, &field).unwrap_or(p.p2p),
                "loopback" => p.loopback = self.pool(val, &field).unwrap_or(p.loopback),
                "uplink" => p.uplink = self.pool(val, &field).unwrap_or(p.uplink),
                "lan_prefix" => p.lan_prefix = prefix(self, 8, 30).unwrap_or(p.lan_prefix),
                "p2p_prefix" => {
                    if let Some(n) = prefix(self, 30, 31) {
                        p.p2p_prefix = n;
                    }
                }
                _ => {}
            }
        }
        for (pool, plen) in [(&p.lan, &p.lan_prefix), (&p.p2p, &p.p2p_prefix)] {
            if pool.v.prefix > plen.v {
                self.d.error(
                    plen.pos,
                    &plen.field,
                    format!(
                        "/{} subnets do not fit in the pool {} ({})",
                        plen.v, pool.v, pool.field
                    ),
                );
            }
        }
        p
    }

    /// A node, a group or `defaults`.
    pub(crate) fn node(&mut self, v: &Value, field: &str, allowed: &[&str]) -> NodeSpec {
        let mut n = NodeSpec {
            pos: v.pos,
            ..NodeSpec::default()
        };
        for (k, val) in self.map(v, field, allowed) {
            let f = join(field, &k.name);
            macro_rules! here {
                () => {
                    |t| At {
                        v: t,
                        pos: val.pos,
                        field: f.clone(),
                    }
                };
            }
            match k.name.as_str() {
                "kind" => {
                    n.kind = self
                        .parsed(val, &f, |s| match s {
                            "host" => Ok(NodeKind::Host),
                            "router" => Ok(NodeKind::Router),
                            "switch" => Ok(NodeKind::Switch),
                            "nat" => Ok(NodeKind::Nat),
                            _ => Err(format!(
                                "unknown kind {s:?} (allowed: host, router, switch, nat)"
                            )),
                        })
                        .map(here!());
                }
                "group" => n.group = self.string(val, &f),
                "loopback" => {
                    n.loopback = self
                        .parsed(val, &f, |s| match s {
                            "auto" => Ok(Setting::Auto),
                            "none" => Ok(Setting::None),
                            _ => s
                                .parse::<IpNet>()
                                .map(Setting::Set)
                                .map_err(|_| format!("{s:?} is not auto, none or an address")),
                        })
                        .map(here!());
                }
                "gateway" => {
                    n.gateway = self
                        .parsed(val, &f, |s| match s {
                            "auto" => Ok(Setting::Auto),
                            "none" => Ok(Setting::None),
                            _ => s
                                .parse::<IpAddr>()
                                .map(Setting::Set)
                                .map_err(|_| format!("{s:?} is not auto, none or an IP address")),
                        })
                        .map(here!());
                }
                "interfaces" => {
                    for (ik, iv) in self.map(val, &f, &[]) {
                        let fi = join(&f, &ik.name);
                        if let Err(e) = values::interface_name(&ik.name) {
                            self.d.error(ik.pos, &fi, e);
                            continue;
                        }
                        let spec = self.iface(iv, &fi);
                        n.interfaces.push((key_at(ik, &fi), spec));
                    }
                }
                "routes" => {
                    let mut routes = Vec::new();
                    for (i, rv) in self.list(val, &f).iter().enumerate() {
                        let fr = format!("{f}[{i}]");
                        if let Some(r) = self.route(rv, &fr) {
                            routes.push(At {
                                v: r,
                                pos: rv.pos,
                                field: fr,
                            });
                        }
                    }
                    n.routes = Some(here!()(routes));
                }
                "sysctls" | "env" => {
                    let mut out = Vec::new();
                    for (sk, sv) in self.map(val, &f, &[]) {
                        let fs = join(&f, &sk.name);
                        if k.name == "sysctls" && !valid_sysctl(&sk.name) {
                            self.d.error(
                                sk.pos,
                                &fs,
                                format!("{:?} is not a sysctl name (net.ipv4.ip_forward)", sk.name),
                            );
                            continue;
                        }
                        if k.name == "env" && !valid_env(&sk.name) {
                            self.d.error(
                                sk.pos,
                                &fs,
                                format!("{:?} is not an environment variable name", sk.name),
                            );
                            continue;
                        }
                        if let Some(s) = self.string(sv, &fs) {
                            out.push((key_at(sk, &fs), s.v));
                        }
                    }
                    if k.name == "sysctls" {
                        n.sysctls = out;
                    } else {
                        n.env = out;
                    }
                }
                "files" => {
                    for (fk, fv) in self.map(val, &f, &[]) {
                        let ff = join(&f, &fk.name);
                        if let Err(e) = etc_path(&fk.name) {
                            self.d.error(fk.pos, &ff, e);
                            continue;
                        }
                        if let Some(spec) = self.file(fv, &ff) {
                            n.files.push((key_at(fk, &ff), spec));
                        }
                    }
                }
                "hosts" => n.hosts = self.boolean(val, &f).map(here!()),
                "exec" => {
                    let mut cmds = Vec::new();
                    for (i, cv) in self.list(val, &f).iter().enumerate() {
                        if let Some(c) = self.command(cv, &format!("{f}[{i}]")) {
                            cmds.push(c);
                        }
                    }
                    n.exec = Some(here!()(cmds));
                }
                "daemons" => {
                    let mut ds = Vec::new();
                    for (i, dv) in self.list(val, &f).iter().enumerate() {
                        let fd = format!("{f}[{i}]");
                        if let Some(dm) = self.daemon(dv, &fd) {
                            ds.push(At {
                                v: dm,
                                pos: dv.pos,
                                field: fd,
                            });
                        }
                    }
                    n.daemons = Some(here!()(ds));
                }
                "after" => {
                    let mut names = Vec::new();
                    for (i, av) in self.list(val, &f).iter().enumerate() {
                        if let Some(s) = self.string(av, &format!("{f}[{i}]")) {
                            names.push(s);
                        }
                    }
                    n.after = Some(here!()(names));
                }
                _ => {}
            }
        }
        n
    }

    fn iface(&mut self, v: &Value, field: &str) -> IfaceSpec {
        let mut s = IfaceSpec::default();
        for (k, val) in self.map(v, field, &["addresses", "mtu", "mac"]) {
            let f = join(field, &k.name);
            match k.name.as_str() {
                "addresses" => {
                    for (i, av) in self.list(val, &f).iter().enumerate() {
                        if let Some(a) = self.net(av, &format!("{f}[{i}]")) {
                            s.addresses.push(a);
                        }
                    }
                }
                #[allow(clippy::cast_possible_truncation)]
                "mtu" => s.mtu = self.uint(val, &f, 68, 65535).map(|n| n as u32),
                "mac" => s.mac = self.parsed(val, &f, values::mac),
                _ => {}
            }
        }
        s
    }

    fn route(&mut self, v: &Value, field: &str) -> Option<Route> {
        let (to, via, dev) = match &v.kind {
            Kind::Map(_) => {
                let (mut to, mut via, mut dev) = (None, None, None);
                for (k, val) in self.map(v, field, &["to", "via", "dev"]) {
                    let f = join(field, &k.name);
                    let s = self.string(val, &f)?;
                    match k.name.as_str() {
                        "to" => to = Some(s.v),
                        "via" => via = Some(s.v),
                        _ => dev = Some(s.v),
                    }
                }
                let Some(to) = to else {
                    self.d.error(v.pos, &join(field, "to"), "missing");
                    return None;
                };
                (to, via, dev)
            }
            _ => {
                let s = self.string(v, field)?.v;
                let words: Vec<&str> = s.split_whitespace().collect();
                let (mut via, mut dev) = (None, None);
                let mut i = 1;
                while i < words.len() {
                    match (words[i], words.get(i + 1)) {
                        ("via", Some(g)) if via.is_none() => via = Some((*g).to_string()),
                        ("dev", Some(d)) if dev.is_none() => dev = Some((*d).to_string()),
                        _ => {
                            self.d.error(
                                v.pos,
                                field,
                                format!("{s:?} is not \"DEST via GW\", \"DEST dev IF\" or both"),
                            );
                            return None;
                        }
                    }
                    i += 2;
                }
                let Some(to) = words.first() else {
                    self.d.error(v.pos, field, "an empty route");
                    return None;
                };
                ((*to).to_string(), via, dev)
            }
        };
        let via = match via {
            Some(g) => match g.parse::<IpAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    self.d
                        .error(v.pos, field, format!("{g:?} is not an IP address"));
                    return None;
                }
            },
            None => None,
        };
        let to = if to == "default" {
            IpNet::default_route(match via {
                Some(IpAddr::V6(_)) => warren_kernel::addr::Family::V6,
                _ => warren_kernel::addr::Family::V4,
            })
        } else {
            match to.parse::<IpNet>() {
                Ok(n) => n.network(),
                Err(_) => {
                    self.d.error(
                        v.pos,
                        field,
                        format!("{to:?} is not a destination (default or 10.9.0.0/16)"),
                    );
                    return None;
                }
            }
        };
        if via.is_none() && dev.is_none() {
            self.d
                .error(v.pos, field, "a route needs `via`, `dev` or both");
            return None;
        }
        if let Some(g) = via {
            if to.family() != warren_kernel::addr::Family::of(&g) {
                self.d.error(
                    v.pos,
                    field,
                    format!("{to} and {g} are of different families"),
                );
                return None;
            }
        }
        Some(Route { to, via, dev })
    }

    fn file(&mut self, v: &Value, field: &str) -> Option<FileSpec> {
        if let Kind::Str(s, _) = &v.kind {
            return Some(FileSpec {
                content: s.clone(),
                mode: 0o644,
            });
        }
        if !matches!(v.kind, Kind::Map(_)) {
            self.d.error(
                v.pos,
                field,
                format!(
                    "expected the content (a string) or {{content, mode}}, found {}",
                    v.type_name()
                ),
            );
            return None;
        }
        let mut content = None;
        let mut mode = 0o644;
        for (k, val) in self.map(v, field, &["content", "mode"]) {
            let f = join(field, &k.name);
            if k.name == "content" {
                content = self.string(val, &f).map(|s| s.v);
            } else if let Some(m) = self.parsed(val, &f, |s| {
                u32::from_str_radix(s.trim_start_matches("0o"), 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| format!("{s:?} is not an octal mode (0644)"))
            }) {
                mode = m;
            }
        }
        let Some(content) = content else {
            self.d.error(v.pos, &join(field, "content"), "missing");
            return None;
        };
        Some(FileSpec { content, mode })
    }

    /// A command: a string (`sh -c`) or a non-empty list of strings.
    pub(crate) fn command(&mut self, v: &Value, field: &str) -> Option<Command> {
        match &v.kind {
            Kind::Str(s, _) => {
                if s.trim().is_empty() {
                    self.d.error(v.pos, field, "an empty command");
                    return None;
                }
                Some(Command {
                    argv: vec!["/bin/sh".into(), "-c".into(), s.clone()],
                })
            }
            Kind::Seq(items) => {
                let mut argv = Vec::with_capacity(items.len());
                for (i, a) in items.iter().enumerate() {
                    argv.push(self.string(a, &format!("{field}[{i}]"))?.v);
                }
                if argv.is_empty() {
                    self.d.error(v.pos, field, "an empty command");
                    return None;
                }
                Some(Command { argv })
            }
            _ => {
                self.d.error(
                    v.pos,
                    field,
                    format!(
                        "expected a command (a string or a list), found {}",
                        v.type_name()
                    ),
                );
                None
            }
        }
    }

    fn daemon(&mut self, v: &Value, field: &str) -> Option<DaemonSpec> {
        let (mut name, mut command, mut ready) = (None, None, None);
        let mut timeout = Some(10_000);
        let mut failed = false;
        let mut has_cmd = false;
        let entries = self.map(v, field, &["name", "cmd", "ready", "ready_timeout"]);
        if !matches!(v.kind, Kind::Map(_)) {
            return None;
        }
        for (k, val) in entries {
            let f = join(field, &k.name);
            match k.name.as_str() {
                "name" => {
                    name = self.string(val, &f);
                    if let Some(n) = &name {
                        if let Err(e) = values::interface_name(&n.v).map_err(|_| {
                            format!(
                                "daemon name {:?} must be 1 to 64 bytes without '/', ':' or spaces",
                                n.v
                            )
                        }) {
                            self.d.error(val.pos, &f, e);
                            failed = true;
                        }
                    }
                }
                "cmd" => {
                    command = self.command(val, &f);
                    failed |= command.is_none();
                    has_cmd = true;
                }
                "ready" => {
                    ready = self.command(val, &f);
                    failed |= ready.is_none();
                }
                "ready_timeout" => {
                    timeout = self
                        .parsed(val, &f, values::duration_us)
                        .map(|us| us / 1000);
                }
                _ => {}
            }
        }
        for (missing, what) in [(name.is_none(), "name"), (!has_cmd, "cmd")] {
            if missing {
                self.d.error(v.pos, &join(field, what), "missing");
            }
        }
        if failed {
            return None;
        }
        Some(DaemonSpec {
            name: name?,
            command: command?,
            ready,
            ready_timeout_ms: timeout?,
        })
    }

    fn endpoint(&mut self, v: &Value, field: &str) -> Option<At<EndSpec>> {
        let s = self.string(v, field)?;
        let end = match s.v.split_once(':') {
            Some(("host", b)) => EndSpec::Host(b.to_string()),
            Some(("macvlan", p)) => EndSpec::Macvlan(p.to_string()),
            Some((n, i)) => EndSpec::Node(n.to_string(), Some(i.to_string())),
            None => EndSpec::Node(s.v.clone(), None),
        };
        let check = match &end {
            EndSpec::Host(i) | EndSpec::Macvlan(i) | EndSpec::Node(_, Some(i)) => {
                if i.len() > 15 && !matches!(end, EndSpec::Node(..)) {
                    Err(format!("host interface {i:?} is longer than 15 bytes"))
                } else {
                    values::interface_name(i)
                }
            }
            EndSpec::Node(_, None) => Ok(()),
        };
        if let Err(e) = check {
            self.d.error(v.pos, field, e);
            return None;
        }
        Some(At {
            v: end,
            pos: v.pos,
            field: field.to_string(),
        })
    }

    fn link(&mut self, v: &Value, field: &str) -> Option<LinkSpec> {
        let mut l = LinkSpec {
            pos: v.pos,
            field: field.to_string(),
            ends: Vec::new(),
            mtu: None,
            rate_bps: None,
            delay_us: None,
            loss_percent: None,
            addresses: Vec::new(),
            mode: None,
        };
        let mut ends_value = None;
        match &v.kind {
            Kind::Seq(_) => ends_value = Some((v, field.to_string())),
            Kind::Map(_) => {
                let allowed = [
                    "endpoints",
                    "mtu",
                    "bandwidth",
                    "delay",
                    "loss",
                    "addresses",
                    "mode",
                ];
                for (k, val) in self.map(v, field, &allowed) {
                    let f = join(field, &k.name);
                    match k.name.as_str() {
                        "endpoints" => ends_value = Some((val, f)),
                        #[allow(clippy::cast_possible_truncation)]
                        "mtu" => l.mtu = self.uint(val, &f, 68, 65535).map(|n| n as u32),
                        "bandwidth" => l.rate_bps = self.parsed(val, &f, values::rate_bps),
                        "delay" => l.delay_us = self.parsed(val, &f, values::duration_us),
                        "loss" => l.loss_percent = self.parsed(val, &f, values::percent),
                        "mode" => {
                            l.mode = self.string(val, &f);
                            if let Some(m) = &l.mode {
                                if !MACVLAN_MODES.contains(&m.v.as_str()) {
                                    self.d.error(
                                        val.pos,
                                        &f,
                                        format!(
                                            "unknown macvlan mode {:?} (allowed: {})",
                                            m.v,
                                            MACVLAN_MODES.join(", ")
                                        ),
                                    );
                                }
                            }
                        }
                        "addresses" => {
                            for (i, av) in self.list(val, &f).iter().enumerate() {
                                let fa = format!("{f}[{i}]");
                                let a = match &av.kind {
                                    Kind::Null => None,
                                    Kind::Str(s, _) if s == "auto" => None,
                                    _ => self.net(av, &fa),
                                };
                                l.addresses.push(a);
                            }
                            if l.addresses.len() != 2 {
                                self.d.error(
                                    val.pos,
                                    &f,
                                    "one address per endpoint (two; `auto` or ~ for one from the pools)",
                                );
                                l.addresses.clear();
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                self.d.error(
                    v.pos,
                    field,
                    format!(
                        "expected [END, END] or a map with endpoints, found {}",
                        v.type_name()
                    ),
                );
                return None;
            }
        }
        let Some((ev, ef)) = ends_value else {
            self.d.error(v.pos, &join(field, "endpoints"), "missing");
            return None;
        };
        let items = self.list(ev, &ef);
        if items.len() != 2 {
            if matches!(ev.kind, Kind::Seq(_)) {
                self.d.error(
                    ev.pos,
                    &ef,
                    format!("a link has two endpoints, not {}", items.len()),
                );
            }
            return None;
        }
        for (i, e) in items.iter().enumerate() {
            if let Some(end) = self.endpoint(e, &format!("{ef}[{i}]")) {
                l.ends.push(end);
            }
        }
        (l.ends.len() == 2).then_some(l)
    }
}

fn valid_sysctl(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        && !s.contains("/..")
}

fn valid_env(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn etc_path(p: &str) -> Result<(), String> {
    let rest = p.strip_prefix("/etc/").unwrap_or("");
    if rest.is_empty()
        || rest.ends_with('/')
        || rest
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        || p.contains('\0')
    {
        return Err(format!(
            "{p:?} is not a file path under /etc (files go into the node's own /etc)"
        ));
    }
    Ok(())
}
