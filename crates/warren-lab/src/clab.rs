//! containerlab topology files: `topology: {nodes, links}` whose nodes are `kind: linux`
//! become a lab of hosts (namespaces, no containers). `exec`, `env` and `sysctls` map to
//! warren's fields, a link's `mtu` too; every other field is ignored with one warning at
//! its position. Other kinds, and `host:`/`mgmt-net:` link ends, are errors. No address is
//! assigned automatically (a containerlab lab addresses its interfaces with `exec`).

use crate::load::Diags;
use crate::model::NodeKind;
use crate::spec::{At, EndSpec, LinkSpec, NodeSpec, Spec, Walker, join};
use crate::values;
use crate::yaml::{Kind, Value};

/// Node fields that map onto warren's.
const MAPPED: &[&str] = &["exec", "env", "sysctls"];

/// Whether `doc` is a containerlab file (it has a `topology` key).
pub(crate) fn is_containerlab(doc: &Value) -> bool {
    matches!(&doc.kind, Kind::Map(items) if items.iter().any(|(k, _)| k.name == "topology"))
}

/// Walks a containerlab file.
pub(crate) fn walk(doc: &Value, d: &mut Diags) -> Spec {
    let mut w = Walker { d };
    let mut s = Spec {
        auto_addresses: false,
        ..Spec::default()
    };
    let mut topology = None;
    for (k, v) in w.map(doc, "", &[]) {
        match k.name.as_str() {
            "name" => s.name = w.string(v, "name"),
            "topology" => topology = Some(v),
            other => ignored(&mut w, k.pos, other),
        }
    }
    if s.name.is_none() {
        w.d.error(doc.pos, "name", "missing: every lab has a name");
    }
    if let Some(n) = &s.name {
        if let Err(e) = values::lab_name(&n.v) {
            w.d.error(n.pos, "name", e);
        }
    }
    let Some(topology) = topology else {
        return s;
    };
    let mut linux: Option<NodeSpec> = None;
    let mut default_kind: Option<At<String>> = None;
    let mut nodes_value = None;
    for (k, v) in w.map(
        topology,
        "topology",
        &["nodes", "links", "defaults", "kinds", "groups"],
    ) {
        let f = join("topology", &k.name);
        match k.name.as_str() {
            "defaults" => s.defaults = node(&mut w, v, &f, &mut default_kind),
            "kinds" => {
                for (kk, kv) in w.map(v, &f, &[]) {
                    let fk = join(&f, &kk.name);
                    if kk.name == "linux" {
                        linux = Some(node(&mut w, kv, &fk, &mut None));
                    } else {
                        ignored(&mut w, kk.pos, &fk);
                    }
                }
            }
            "groups" => ignored(&mut w, k.pos, &f),
            "nodes" => nodes_value = Some((v, f)),
            "links" => {
                for (i, lv) in w.list(v, &f).iter().enumerate() {
                    s.link_count += 1;
                    if let Some(l) = link(&mut w, lv, &format!("{f}[{i}]")) {
                        s.links.push(l);
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(l) = &linux {
        crate::inherit::overlay(&mut s.defaults, l);
    }
    let Some((nodes, f)) = nodes_value else {
        w.d.error(topology.pos, "topology.nodes", "missing: a lab needs nodes");
        return s;
    };
    for (nk, nv) in w.map(nodes, &f, &[]) {
        let fnode = join(&f, &nk.name);
        if let Err(e) = values::node_name(&nk.name) {
            w.d.error(nk.pos, &fnode, e);
        }
        let mut kind = None;
        let mut n = node(&mut w, nv, &fnode, &mut kind);
        match kind.as_ref().or(default_kind.as_ref()) {
            None => w.d.error(
                nv.pos,
                &join(&fnode, "kind"),
                "missing (only kind: linux runs)",
            ),
            Some(k) if k.v == "linux" => {}
            Some(k) => w.d.error(
                k.pos,
                &k.field,
                format!(
                    "kind {:?} does not run as a namespace (only kind: linux does)",
                    k.v
                ),
            ),
        }
        n.kind = Some(At {
            v: NodeKind::Host,
            pos: nv.pos,
            field: join(&fnode, "kind"),
        });
        s.nodes.push((
            At {
                v: nk.name.clone(),
                pos: nk.pos,
                field: fnode,
            },
            n,
        ));
    }
    s
}

fn ignored(w: &mut Walker, pos: crate::yaml::Pos, field: &str) {
    w.d.warn(
        pos,
        field,
        "ignored: warren runs containerlab nodes as namespaces",
    );
}

/// A containerlab node (or `defaults`, or `kinds.linux`): the mapped fields through
/// warren's node walker, `kind` kept aside, the rest warned about.
fn node(w: &mut Walker, v: &Value, field: &str, kind: &mut Option<At<String>>) -> NodeSpec {
    let mut mapped = Vec::new();
    for (k, val) in w.map(v, field, &[]) {
        let f = join(field, &k.name);
        if k.name == "kind" {
            *kind = w.string(val, &f);
        } else if MAPPED.contains(&k.name.as_str()) {
            mapped.push((k.clone(), val.clone()));
        } else {
            ignored(w, k.pos, &f);
        }
    }
    let filtered = Value {
        pos: v.pos,
        kind: Kind::Map(mapped),
    };
    w.node(&filtered, field, MAPPED)
}

fn link(w: &mut Walker, v: &Value, field: &str) -> Option<LinkSpec> {
    let mut l = LinkSpec::empty(v.pos, field);
    let mut ends = None;
    for (k, val) in w.map(v, field, &[]) {
        let f = join(field, &k.name);
        match k.name.as_str() {
            "endpoints" => ends = Some((val, f)),
            "mtu" => {
                l.mtu = match &val.kind {
                    Kind::Str(s, _) => s.parse::<u32>().ok().filter(|m| (68..=65535).contains(m)),
                    _ => None,
                };
                if l.mtu.is_none() {
                    w.d.error(val.pos, &f, "expected an MTU from 68 to 65535");
                }
            }
            "type" if matches!(&val.kind, Kind::Str(s, _) if s == "veth") => {}
            _ => ignored(w, k.pos, &f),
        }
    }
    let Some((ev, ef)) = ends else {
        w.d.error(v.pos, &join(field, "endpoints"), "missing");
        return None;
    };
    let items = w.list(ev, &ef);
    if items.len() != 2 {
        w.d.error(
            ev.pos,
            &ef,
            format!("a link has two endpoints, not {}", items.len()),
        );
        return None;
    }
    for (i, e) in items.iter().enumerate() {
        let fe = format!("{ef}[{i}]");
        // The newer form: {node: a, interface: eth1}.
        let text = if let Kind::Map(_) = e.kind {
            let (mut n, mut f) = (None, None);
            for (k, val) in w.map(e, &fe, &["node", "interface", "mac"]) {
                match k.name.as_str() {
                    "node" => n = w.string(val, &join(&fe, "node")),
                    "interface" => f = w.string(val, &join(&fe, "interface")),
                    _ => ignored(w, k.pos, &join(&fe, &k.name)),
                }
            }
            match (n, f) {
                (Some(n), Some(f)) => format!("{}:{}", n.v, f.v),
                _ => {
                    w.d.error(e.pos, &fe, "an endpoint needs node and interface");
                    continue;
                }
            }
        } else {
            match w.string(e, &fe) {
                Some(s) => s.v,
                None => continue,
            }
        };
        let end = match text.split_once(':') {
            Some(("host" | "mgmt-net", _)) => {
                w.d.error(
                    e.pos,
                    &fe,
                    format!("{text:?}: containerlab's host and mgmt-net links are not supported (warren's host:BRIDGE joins an existing bridge)"),
                );
                continue;
            }
            Some(("macvlan", p)) => EndSpec::Macvlan(p.to_string()),
            Some((n, f)) => EndSpec::Node(n.to_string(), Some(f.to_string())),
            None => {
                w.d.error(e.pos, &fe, format!("{text:?} is not NODE:INTERFACE"));
                continue;
            }
        };
        if let EndSpec::Node(_, Some(f)) | EndSpec::Macvlan(f) = &end {
            if let Err(msg) = values::interface_name(f) {
                w.d.error(e.pos, &fe, msg);
                continue;
            }
        }
        l.ends.push(At {
            v: end,
            pos: e.pos,
            field: fe,
        });
    }
    (l.ends.len() == 2).then_some(l)
}
