//! The graph: nodes and the links between them, as plain data.

use std::collections::HashMap;

use serde::Serialize;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A network namespace (no more specific role known).
    Namespace,
    /// The host's own namespace, or a lab's end host.
    Host,
    /// A router.
    Router,
    /// A switch (a bridge in a namespace of its own).
    Switch,
    /// A NAT router.
    Nat,
    /// A Linux bridge.
    Bridge,
    /// A container.
    Container,
    /// A pod.
    Pod,
    /// Something outside: a host interface, the host, the world.
    External,
}

impl NodeKind {
    /// Lower-case name (`router`), as in CSS classes and JSON.
    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Namespace => "namespace",
            NodeKind::Host => "host",
            NodeKind::Router => "router",
            NodeKind::Switch => "switch",
            NodeKind::Nat => "nat",
            NodeKind::Bridge => "bridge",
            NodeKind::Container => "container",
            NodeKind::Pod => "pod",
            NodeKind::External => "external",
        }
    }

    /// Every kind, in legend order.
    pub const ALL: [NodeKind; 9] = [
        NodeKind::External,
        NodeKind::Nat,
        NodeKind::Router,
        NodeKind::Switch,
        NodeKind::Bridge,
        NodeKind::Host,
        NodeKind::Namespace,
        NodeKind::Pod,
        NodeKind::Container,
    ];

    /// Fill and stroke colours shared by the renderers.
    pub fn colors(self) -> (&'static str, &'static str) {
        match self {
            NodeKind::Namespace => ("#eef2f7", "#5b6b82"),
            NodeKind::Host => ("#e8f1fd", "#2f6db5"),
            NodeKind::Router => ("#fdf0e3", "#c2620a"),
            NodeKind::Switch => ("#e6f6ec", "#23864a"),
            NodeKind::Nat => ("#fbe9ef", "#b2335f"),
            NodeKind::Bridge => ("#e7f5f5", "#1d7f80"),
            NodeKind::Container => ("#f1ecfb", "#6a47b8"),
            NodeKind::Pod => ("#f6eafa", "#8d3aa8"),
            NodeKind::External => ("#f4f4f4", "#777777"),
        }
    }
}

/// What a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// A veth pair.
    Veth,
    /// A port of a bridge or switch.
    BridgePort,
    /// A macvlan on a parent interface.
    Macvlan,
    /// An ipvlan on a parent interface.
    Ipvlan,
    /// A VXLAN tunnel.
    Vxlan,
    /// A NAT node's uplink to the host.
    Uplink,
    /// Anything else.
    Other,
}

impl EdgeKind {
    /// Kebab-case name (`bridge-port`).
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Veth => "veth",
            EdgeKind::BridgePort => "bridge-port",
            EdgeKind::Macvlan => "macvlan",
            EdgeKind::Ipvlan => "ipvlan",
            EdgeKind::Vxlan => "vxlan",
            EdgeKind::Uplink => "uplink",
            EdgeKind::Other => "other",
        }
    }
}

/// A node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// Unique within the graph; edges refer to it.
    pub id: String,
    /// What is shown.
    pub label: String,
    /// What it is.
    pub kind: NodeKind,
    /// Who made it or holds it (`lab demo`, `container web`, `ip netns`), if known.
    pub owner: Option<String>,
    /// More lines shown on hover (namespace, addresses, routes).
    pub details: Vec<String>,
    /// A group drawn around its members (a lab, a network), if any.
    pub group: Option<String>,
}

impl Node {
    /// A node whose label is its id.
    pub fn new(id: impl Into<String>, kind: NodeKind) -> Node {
        let id = id.into();
        Node {
            label: id.clone(),
            id,
            kind,
            owner: None,
            details: Vec::new(),
            group: None,
        }
    }
}

/// A link between two nodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    /// One end's node id.
    pub a: String,
    /// The other end's node id.
    pub b: String,
    /// The interface at `a` (name and addresses).
    pub a_label: String,
    /// The interface at `b`.
    pub b_label: String,
    /// About the link itself (MTU, bandwidth).
    pub label: String,
    /// What it is.
    pub kind: EdgeKind,
}

impl Edge {
    /// A link without labels.
    pub fn new(a: impl Into<String>, b: impl Into<String>, kind: EdgeKind) -> Edge {
        Edge {
            a: a.into(),
            b: b.into(),
            a_label: String::new(),
            b_label: String::new(),
            label: String::new(),
            kind,
        }
    }

    /// With interface labels at both ends.
    pub fn ends(mut self, a_label: impl Into<String>, b_label: impl Into<String>) -> Edge {
        self.a_label = a_label.into();
        self.b_label = b_label.into();
        self
    }

    /// With a label on the link.
    pub fn label(mut self, label: impl Into<String>) -> Edge {
        self.label = label.into();
        self
    }
}

/// A graph.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Graph {
    /// Its title.
    pub title: String,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The links.
    pub edges: Vec<Edge>,
}

/// What is wrong with a graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// Two nodes share an id.
    DuplicateNode(String),
    /// An edge names a node that is not there.
    UnknownNode {
        /// The edge's index.
        edge: usize,
        /// The missing id.
        id: String,
    },
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GraphError::DuplicateNode(id) => write!(f, "graph: node {id:?} appears twice"),
            GraphError::UnknownNode { edge, id } => {
                write!(f, "graph: edge {edge} names unknown node {id:?}")
            }
        }
    }
}

impl std::error::Error for GraphError {}

impl Graph {
    /// An empty graph.
    pub fn new(title: impl Into<String>) -> Graph {
        Graph {
            title: title.into(),
            ..Graph::default()
        }
    }

    /// Node index by id (the first one, if ids repeat).
    pub fn index(&self) -> HashMap<&str, usize> {
        let mut m = HashMap::with_capacity(self.nodes.len());
        for (i, n) in self.nodes.iter().enumerate() {
            m.entry(n.id.as_str()).or_insert(i);
        }
        m
    }

    /// The edges whose ends both exist, as `(edge index, a index, b index)`. Renderers draw
    /// only these.
    pub fn resolved_edges(&self) -> Vec<(usize, usize, usize)> {
        let idx = self.index();
        self.edges
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i, *idx.get(e.a.as_str())?, *idx.get(e.b.as_str())?)))
            .collect()
    }

    /// Every node id unique, every edge between existing nodes.
    pub fn check(&self) -> Result<(), GraphError> {
        let mut seen = std::collections::HashSet::new();
        for n in &self.nodes {
            if !seen.insert(n.id.as_str()) {
                return Err(GraphError::DuplicateNode(n.id.clone()));
            }
        }
        for (i, e) in self.edges.iter().enumerate() {
            for id in [&e.a, &e.b] {
                if !seen.contains(id.as_str()) {
                    return Err(GraphError::UnknownNode {
                        edge: i,
                        id: id.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The distinct groups, in first-seen order.
    pub fn groups(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for n in &self.nodes {
            if let Some(g) = n.group.as_deref() {
                if !out.contains(&g) {
                    out.push(g);
                }
            }
        }
        out
    }
}
