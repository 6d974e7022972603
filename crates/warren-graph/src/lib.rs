//! warren's topology graphs: a small model ([`Graph`]: nodes such as namespaces, routers,
//! switches and bridges; edges such as veths and bridge ports, with the interface names at
//! each end) and four renderers:
//!
//! - [`dot`]: Graphviz DOT (`dot -Tsvg`), clusters per group;
//! - [`mermaid`]: a Mermaid flowchart, for Markdown;
//! - [`svg`]: an SVG picture laid out by warren itself ([`layout`]: layered, no external tool);
//! - [`html`]: one self-contained page (the SVG inline, a little CSS and JavaScript for pan,
//!   zoom and hover; no network fetch).
//!
//! Everything here is pure: no kernel, no I/O. Names from users are escaped for every format.
//!
//! ```
//! use warren_graph::{Edge, EdgeKind, Format, Graph, Node, NodeKind};
//! let mut g = Graph::new("demo");
//! g.nodes.push(Node::new("r1", NodeKind::Router));
//! g.nodes.push(Node::new("h1", NodeKind::Host));
//! g.edges.push(Edge::new("r1", "h1", EdgeKind::Veth).ends("eth1", "eth0"));
//! let dot = warren_graph::render(&g, Format::Dot);
//! assert!(dot.contains("\"r1\" -- \"h1\""));
//! ```

pub mod dot;
mod escape;
pub mod html;
pub mod layout;
pub mod mermaid;
pub mod model;
pub mod svg;

pub use model::{Edge, EdgeKind, Graph, GraphError, Node, NodeKind};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// SVG, laid out by warren.
    Svg,
    /// A self-contained HTML page.
    Html,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dot" => Ok(Format::Dot),
            "mermaid" => Ok(Format::Mermaid),
            "svg" => Ok(Format::Svg),
            "html" => Ok(Format::Html),
            _ => Err(format!(
                "unknown graph format {s:?} (dot, mermaid, svg or html)"
            )),
        }
    }
}

/// Render `g` in `format`.
pub fn render(g: &Graph, format: Format) -> String {
    match format {
        Format::Dot => dot::render(g),
        Format::Mermaid => mermaid::render(g),
        Format::Svg => svg::render(g),
        Format::Html => html::render(g),
    }
}
