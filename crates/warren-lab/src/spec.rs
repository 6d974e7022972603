//! The walk of a lab file's YAML tree (docs/lab.md's schema) into a [`Spec`]: every field
//! checked for its name and type, every value parsed, each kept with its position and field
//! path so that the resolution can point at it too. Errors are collected, never fatal.

use std::net::IpAddr;

use warren_kernel::addr::IpNet;

use crate::load::Diags;
use crate::model::{Command, NodeKind, Route};
use crate::values;
use crate::yaml::{Key, Kind, Pos, Value};

pub(crate) use crate::links::{EndSpec, LinkSpec};
pub(crate) use crate::walker::Walker;

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
    /// IPv6 pools, each off unless the file names it: a /64 per LAN, a /127 per
    /// router-to-router link, a /128 loopback per router.
    pub lan6: Option<At<IpNet>>,
    pub p2p6: Option<At<IpNet>>,
    pub loopback6: Option<At<IpNet>>,
}

/// The prefix of the subnets an IPv6 pool gives: LANs, point-to-point links, loopbacks.
pub(crate) const LAN6_PREFIX: u8 = 64;
pub(crate) const P2P6_PREFIX: u8 = 127;

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
            lan6: None,
            p2p6: None,
            loopback6: None,
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

impl Walker<'_> {
    /// A pool of family `fam` whose subnets are `/sub` (at most).
    fn pool(
        &mut self,
        v: &Value,
        field: &str,
        fam: warren_kernel::addr::Family,
        sub: u8,
    ) -> Option<At<IpNet>> {
        let n = self.net(v, field)?;
        if n.v.family() != fam {
            let msg = match fam {
                warren_kernel::addr::Family::V4 => {
                    "this pool is IPv4 (IPv6 pools are lan6, p2p6 and loopback6)"
                }
                warren_kernel::addr::Family::V6 => "this pool is IPv6",
            };
            self.d.error(v.pos, field, msg);
            return None;
        }
        if n.v.prefix > sub {
            self.d.error(
                v.pos,
                field,
                format!("{} is smaller than one /{sub} it gives", n.v),
            );
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
            "lan6",
            "p2p6",
            "loopback6",
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
            use warren_kernel::addr::Family::{V4, V6};
            match k.name.as_str() {
                "lan" => p.lan = self.pool(val, &field, V4, 30).unwrap_or(p.lan),
                "p2p" => p.p2p = self.pool(val, &field, V4, 31).unwrap_or(p.p2p),
                "loopback" => p.loopback = self.pool(val, &field, V4, 32).unwrap_or(p.loopback),
                "uplink" => p.uplink = self.pool(val, &field, V4, 30).unwrap_or(p.uplink),
                "lan6" => p.lan6 = self.pool(val, &field, V6, LAN6_PREFIX),
                "p2p6" => p.p2p6 = self.pool(val, &field, V6, P2P6_PREFIX),
                "loopback6" => p.loopback6 = self.pool(val, &field, V6, 128),
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
