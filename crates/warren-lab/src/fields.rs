//! The readers of a node's compound fields: `interfaces.IF`, `routes`, `files`, commands
//! (`exec`, a daemon's `cmd` and `ready`) and `daemons`.

use std::net::IpAddr;

use warren_kernel::addr::{Family, IpNet};

use crate::model::{Command, Route};
use crate::spec::{DaemonSpec, FileSpec, IfaceSpec, join};
use crate::values;
use crate::walker::Walker;
use crate::yaml::{Kind, Value};

impl Walker<'_> {
    pub(crate) fn iface(&mut self, v: &Value, field: &str) -> IfaceSpec {
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

    pub(crate) fn route(&mut self, v: &Value, field: &str) -> Option<Route> {
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
                Some(IpAddr::V6(_)) => Family::V6,
                _ => Family::V4,
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
            if to.family() != Family::of(&g) {
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

    pub(crate) fn file(&mut self, v: &Value, field: &str) -> Option<FileSpec> {
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

    pub(crate) fn daemon(&mut self, v: &Value, field: &str) -> Option<DaemonSpec> {
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
}
