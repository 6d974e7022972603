//! SVG, laid out by [`crate::layout`]: nodes as rounded boxes coloured by kind (the owner on
//! a second line, everything else in a `<title>` tooltip), links as lines (curves between
//! nodes of one row, fanned out when parallel) with the interface names near each end and
//! the link's own label in the middle; a legend of the kinds present. Past 150 nodes the
//! link texts are left to the tooltips, so a big graph stays a picture.
//!
//! Every element carries ids and classes the HTML page's script uses: `n{i}` / `e{j}`,
//! `data-a`/`data-b` on links (node indices), `k-{kind}` classes.

use std::collections::HashMap;
use std::fmt::Write;

use crate::escape::xml;
use crate::layout::{Layout, layout, shown};
use crate::model::{Graph, NodeKind};

/// Above this many nodes, link texts are not drawn (they stay in tooltips).
const LABELS_UP_TO: usize = 150;

const STYLE: &str = "\
.wg-title{font:bold 16px sans-serif;fill:#222}\
.wg-legend text{font:11px sans-serif;fill:#444;dominant-baseline:central}\
.node rect{stroke-width:1.5}\
.node.k-external rect{stroke-dasharray:4 3}\
.node text{font:12px sans-serif;text-anchor:middle;dominant-baseline:central;fill:#1d2330;pointer-events:none}\
.node .owner{font-size:10px;fill:#5a6272}\
.edge path{fill:none;stroke:#8a94a6;stroke-width:1.4}\
.edge.k-uplink path,.edge.k-macvlan path,.edge.k-ipvlan path{stroke-dasharray:6 3}\
.edge.k-vxlan path{stroke-dasharray:2 3}\
.edge text{font:10px sans-serif;fill:#303644;text-anchor:middle;dominant-baseline:central;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round;pointer-events:none}\
.edge .link{fill:#6b7280;font-style:italic}";

/// Render as a standalone SVG document.
pub fn render(g: &Graph) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&element(g, &layout(g)));
    out
}

fn point(p0: (f64, f64), c: (f64, f64), p2: (f64, f64), t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    (
        u * u * p0.0 + 2.0 * u * t * c.0 + t * t * p2.0,
        u * u * p0.1 + 2.0 * u * t * c.1 + t * t * p2.1,
    )
}

fn tooltip(lines: &[String]) -> String {
    format!("<title>{}</title>", xml(&lines.join("\n")))
}

/// The `<svg>` element for `g` placed by `l` (for embedding in a page).
pub fn element(g: &Graph, l: &Layout) -> String {
    let mut out = String::with_capacity(256 + g.nodes.len() * 400 + g.edges.len() * 300);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"warren-graph\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\">",
        w = l.width,
        h = l.height
    );
    let _ = write!(
        out,
        "<title>{}</title><style>{STYLE}</style>",
        xml(&g.title)
    );
    let _ = write!(
        out,
        "<text class=\"wg-title\" x=\"24\" y=\"24\">{}</text>",
        xml(&shown(&g.title))
    );
    // Legend: the kinds present, along the top right.
    let kinds: Vec<NodeKind> = NodeKind::ALL
        .into_iter()
        .filter(|k| g.nodes.iter().any(|n| n.kind == *k))
        .collect();
    out.push_str("<g class=\"wg-legend\">");
    let mut x = 24.0;
    for k in &kinds {
        let (fill, stroke) = k.colors();
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"36\" width=\"12\" height=\"12\" rx=\"3\" fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{:.1}\" y=\"42\">{}</text>",
            x + 16.0,
            k.name()
        );
        x += 84.0;
    }
    out.push_str("</g>\n");

    let labels = g.nodes.len() <= LABELS_UP_TO;
    let mut parallel: HashMap<(usize, usize), usize> = HashMap::new();
    out.push_str("<g class=\"edges\">");
    for (j, (i, a, b)) in g.resolved_edges().into_iter().enumerate() {
        let e = &g.edges[i];
        let (pa, pb) = (l.nodes[a], l.nodes[b]);
        let p0 = (pa.x, pa.y);
        let p2 = (pb.x, pb.y);
        let nth = {
            let c = parallel.entry((a.min(b), a.max(b))).or_insert(0);
            *c += 1;
            *c - 1
        };
        // Control point: the middle, pushed sideways for parallel links and upwards for
        // links within one row (which would otherwise run through the nodes between).
        let (dx, dy) = (p2.0 - p0.0, p2.1 - p0.1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (nx, ny) = (-dy / len, dx / len);
        let mut bend = if nth == 0 {
            0.0
        } else {
            let k = nth.div_ceil(2) as f64 * 22.0;
            if nth % 2 == 1 { k } else { -k }
        };
        if dy.abs() < 1.0 && dx.abs() > pa.w.max(pb.w) + 40.0 {
            bend += 30.0 + dx.abs() * 0.12;
        }
        let c = (
            (p0.0 + p2.0) / 2.0 + nx * bend,
            (p0.1 + p2.1) / 2.0 + ny * bend,
        );
        let mut tip = vec![format!("{} — {} ({})", e.a, e.b, e.kind.name())];
        for s in [&e.a_label, &e.label, &e.b_label] {
            if !s.is_empty() {
                tip.push(s.clone());
            }
        }
        let _ = write!(
            out,
            "<g class=\"edge k-{}\" id=\"e{j}\" data-a=\"{a}\" data-b=\"{b}\">{}<path d=\"M{:.1} {:.1}Q{:.1} {:.1} {:.1} {:.1}\"/>",
            e.kind.name(),
            tooltip(&tip),
            p0.0,
            p0.1,
            c.0,
            c.1,
            p2.0,
            p2.1
        );
        if labels {
            for (text, t, class) in [
                (&e.a_label, 0.3, "end"),
                (&e.label, 0.5, "link"),
                (&e.b_label, 0.7, "end"),
            ] {
                if text.is_empty() {
                    continue;
                }
                let (x, y) = point(p0, c, p2, t);
                // An interface's name and its addresses on lines of their own, so the
                // labels of neighbouring links stay narrow.
                let lines: Vec<&str> = if class == "end" {
                    text.split(' ').filter(|s| !s.is_empty()).collect()
                } else {
                    vec![text.as_str()]
                };
                let top = y - (lines.len() as f64 - 1.0) * 6.0;
                let _ = write!(out, "<text class=\"{class}\" x=\"{x:.1}\" y=\"{top:.1}\">");
                for (k, line) in lines.iter().enumerate() {
                    let dy = if k == 0 { 0.0 } else { 12.0 };
                    let _ = write!(
                        out,
                        "<tspan x=\"{x:.1}\" dy=\"{dy}\">{}</tspan>",
                        xml(&shown(line))
                    );
                }
                out.push_str("</text>");
            }
        }
        out.push_str("</g>\n");
    }
    out.push_str("</g><g class=\"nodes\">");
    for (i, n) in g.nodes.iter().enumerate() {
        let p = l.nodes[i];
        let (fill, stroke) = n.kind.colors();
        let rx = match n.kind {
            NodeKind::Router | NodeKind::Nat => p.h / 2.0,
            NodeKind::Switch | NodeKind::Bridge => 2.0,
            _ => 7.0,
        };
        let mut tip = vec![format!("{} ({})", n.label, n.kind.name())];
        if let Some(o) = &n.owner {
            tip.push(format!("owner: {o}"));
        }
        tip.extend(n.details.iter().cloned());
        let _ = write!(
            out,
            "<g class=\"node k-{}\" id=\"n{i}\" data-id=\"{}\">{}<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{rx:.1}\" fill=\"{fill}\" stroke=\"{stroke}\"/>",
            n.kind.name(),
            xml(&n.id),
            tooltip(&tip),
            p.x - p.w / 2.0,
            p.y - p.h / 2.0,
            p.w,
            p.h
        );
        match &n.owner {
            Some(o) => {
                let _ = write!(
                    out,
                    "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text><text class=\"owner\" x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
                    p.y - 8.0,
                    xml(&shown(&n.label)),
                    p.y + 10.0,
                    xml(&shown(o)),
                    x = p.x
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    p.x,
                    p.y,
                    xml(&shown(&n.label))
                );
            }
        }
        out.push_str("</g>\n");
    }
    out.push_str("</g></svg>\n");
    out
}
