//! Graphviz DOT: an undirected `graph`, one cluster per group, shapes and colours per kind,
//! interface names as `taillabel`/`headlabel`, details as tooltips.

use std::fmt::Write;

use crate::escape::dot as q;
use crate::model::{Graph, Node, NodeKind};

fn shape(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Router => "ellipse",
        NodeKind::Switch | NodeKind::Bridge => "box3d",
        NodeKind::Nat => "hexagon",
        NodeKind::External => "note",
        NodeKind::Pod => "folder",
        NodeKind::Container => "component",
        NodeKind::Host | NodeKind::Namespace => "box",
    }
}

fn node_line(out: &mut String, indent: &str, n: &Node) {
    let (fill, stroke) = n.kind.colors();
    let mut label = n.label.clone();
    if let Some(o) = &n.owner {
        label.push('\n');
        label.push_str(o);
    }
    let mut tip = vec![format!("{} ({})", n.label, n.kind.name())];
    tip.extend(n.details.iter().cloned());
    let _ = writeln!(
        out,
        "{indent}\"{}\" [label=\"{}\", shape={}, fillcolor=\"{fill}\", color=\"{stroke}\", tooltip=\"{}\"];",
        q(&n.id),
        q(&label),
        shape(n.kind),
        q(&tip.join("\n")),
    );
}

/// Render as DOT.
pub fn render(g: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "graph \"{}\" {{", q(&g.title));
    let _ = writeln!(
        out,
        "  graph [label=\"{}\", labelloc=t, fontname=\"Helvetica\", overlap=false, splines=true];",
        q(&g.title)
    );
    out.push_str("  node [fontname=\"Helvetica\", fontsize=10, style=filled];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=8, labelfontsize=8];\n");
    for (i, group) in g.groups().iter().enumerate() {
        let _ = writeln!(out, "  subgraph \"cluster_{i}\" {{");
        let _ = writeln!(out, "    label=\"{}\";", q(group));
        for n in g.nodes.iter().filter(|n| n.group.as_deref() == Some(group)) {
            node_line(&mut out, "    ", n);
        }
        out.push_str("  }\n");
    }
    for n in g.nodes.iter().filter(|n| n.group.is_none()) {
        node_line(&mut out, "  ", n);
    }
    for (i, _, _) in g.resolved_edges() {
        let e = &g.edges[i];
        let mut attrs = vec![format!("class=\"{}\"", e.kind.name())];
        if !e.label.is_empty() {
            attrs.push(format!("label=\"{}\"", q(&e.label)));
        }
        if !e.a_label.is_empty() {
            attrs.push(format!("taillabel=\"{}\"", q(&e.a_label)));
        }
        if !e.b_label.is_empty() {
            attrs.push(format!("headlabel=\"{}\"", q(&e.b_label)));
        }
        if e.kind == crate::EdgeKind::Uplink || e.kind == crate::EdgeKind::Macvlan {
            attrs.push("style=dashed".into());
        }
        let _ = writeln!(
            out,
            "  \"{}\" -- \"{}\" [{}];",
            q(&e.a),
            q(&e.b),
            attrs.join(", ")
        );
    }
    out.push_str("}\n");
    out
}
