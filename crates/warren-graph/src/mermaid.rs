//! A Mermaid flowchart: nodes get safe ids (`n0`, `n1`, …) and quoted labels, one
//! `subgraph` per group, a shape and a `classDef` per kind, interface names on the links.

use std::fmt::Write;

use crate::escape::mermaid as q;
use crate::model::{Graph, NodeKind};

fn shape(kind: NodeKind) -> (&'static str, &'static str) {
    match kind {
        NodeKind::Router => ("([", "])"),
        NodeKind::Switch => ("[[", "]]"),
        NodeKind::Bridge => ("[/", "/]"),
        NodeKind::Nat => ("{{", "}}"),
        NodeKind::External => (">", "]"),
        NodeKind::Pod => ("[(", ")]"),
        NodeKind::Container => ("(", ")"),
        NodeKind::Host | NodeKind::Namespace => ("[", "]"),
    }
}

/// Render as a Mermaid flowchart.
pub fn render(g: &Graph) -> String {
    let mut out = String::new();
    // YAML single quotes: only a quote needs doubling.
    let _ = writeln!(
        out,
        "---\ntitle: '{}'\n---",
        q(&g.title).replace('\'', "''")
    );
    out.push_str("flowchart TB\n");
    let node = |out: &mut String, indent: &str, i: usize| {
        let n = &g.nodes[i];
        let (open, close) = shape(n.kind);
        let mut label = q(&n.label);
        if let Some(o) = &n.owner {
            label.push_str("<br/><small>");
            label.push_str(&q(o));
            label.push_str("</small>");
        }
        let _ = writeln!(
            out,
            "{indent}n{i}{open}\"{label}\"{close}:::{}",
            n.kind.name()
        );
    };
    for (gi, group) in g.groups().iter().enumerate() {
        let _ = writeln!(out, "  subgraph g{gi}[\"{}\"]", q(group));
        for (i, n) in g.nodes.iter().enumerate() {
            if n.group.as_deref() == Some(group) {
                node(&mut out, "    ", i);
            }
        }
        out.push_str("  end\n");
    }
    for (i, n) in g.nodes.iter().enumerate() {
        if n.group.is_none() {
            node(&mut out, "  ", i);
        }
    }
    for (i, a, b) in g.resolved_edges() {
        let e = &g.edges[i];
        let parts: Vec<String> = [&e.a_label, &e.label, &e.b_label]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| q(s))
            .collect();
        let arrow = match e.kind {
            crate::EdgeKind::Uplink | crate::EdgeKind::Macvlan => "-.-",
            _ => "---",
        };
        if parts.is_empty() {
            let _ = writeln!(out, "  n{a} {arrow} n{b}");
        } else {
            let _ = writeln!(out, "  n{a} {arrow}|\"{}\"| n{b}", parts.join(" · "));
        }
    }
    for kind in NodeKind::ALL {
        let (fill, stroke) = kind.colors();
        let _ = writeln!(
            out,
            "  classDef {} fill:{fill},stroke:{stroke};",
            kind.name()
        );
    }
    out
}
