//! Rendering: snapshots per format for a small lab, well-formedness of the SVG and the HTML
//! (parsed as XML), escaping of hostile names in every format, and the time for 1,000 nodes.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test -p warren-graph` rewrites the snapshot files under
//! `tests/snapshots/` (review the diff).

use std::time::Instant;

use warren_graph::{Edge, EdgeKind, Format, Graph, Node, NodeKind, render};

/// Two LANs and a NAT uplink: r1 routes between sw1 (h1, h2) and sw2 (h3); nat reaches the
/// host.
fn small() -> Graph {
    let mut g = Graph::new("lab demo");
    let node = |id: &str, kind, details: &[&str]| {
        let mut n = Node::new(id, kind);
        n.owner = Some("lab demo".into());
        n.details = details.iter().map(|s| s.to_string()).collect();
        n
    };
    g.nodes = vec![
        node(
            "r1",
            NodeKind::Router,
            &["netns demo-r1", "lo 10.254.0.1/32"],
        ),
        node("sw1", NodeKind::Switch, &["netns demo-sw1", "bridge br0"]),
        node("sw2", NodeKind::Switch, &["netns demo-sw2", "bridge br0"]),
        node(
            "h1",
            NodeKind::Host,
            &["netns demo-h1", "default via 10.0.0.1"],
        ),
        node("h2", NodeKind::Host, &["netns demo-h2"]),
        node("h3", NodeKind::Host, &["netns demo-h3"]),
        node("nat", NodeKind::Nat, &["netns demo-nat"]),
    ];
    let mut host = Node::new("host", NodeKind::External);
    host.label = "host (masquerade)".into();
    g.nodes.push(host);
    g.edges = vec![
        Edge::new("r1", "sw1", EdgeKind::BridgePort).ends("eth1 10.0.0.1/24", "p1"),
        Edge::new("h1", "sw1", EdgeKind::BridgePort).ends("eth0 10.0.0.2/24", "p2"),
        Edge::new("h2", "sw1", EdgeKind::BridgePort).ends("eth0 10.0.0.3/24", "p3"),
        Edge::new("r1", "sw2", EdgeKind::BridgePort)
            .ends("eth2 10.0.1.1/24", "p1")
            .label("mtu 9000"),
        Edge::new("h3", "sw2", EdgeKind::BridgePort).ends("eth0 10.0.1.2/24", "p2"),
        Edge::new("nat", "sw1", EdgeKind::BridgePort).ends("eth1 10.0.0.254/24", "p4"),
        Edge::new("nat", "host", EdgeKind::Uplink)
            .ends("up0 100.64.0.2/30", "wl-demo-nat 100.64.0.1/30")
            .label("100 Mbit/s"),
    ];
    g.check().unwrap();
    g
}

const HOSTILE: &str = "<script>alert(\"x\")</script>";
const QUOTES: &str = "a\"b'c\\d";
const CDATA_END: &str = "x]]>y&z";

fn hostile() -> Graph {
    let mut g = Graph::new(format!("t {HOSTILE}"));
    let mut a = Node::new(HOSTILE, NodeKind::Host);
    a.owner = Some(QUOTES.into());
    a.details = vec![CDATA_END.into(), "line\nbreak\u{1}".into()];
    a.group = Some(format!("group {QUOTES}"));
    let mut b = Node::new(QUOTES, NodeKind::Router);
    b.label = CDATA_END.into();
    g.nodes = vec![a, b];
    g.edges = vec![
        Edge::new(HOSTILE, QUOTES, EdgeKind::Veth)
            .ends(HOSTILE, QUOTES)
            .label(CDATA_END),
    ];
    g
}

fn snapshot(name: &str, got: &str) {
    let path = format!("{}/tests/snapshots/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(format!("{}/tests/snapshots", env!("CARGO_MANIFEST_DIR"))).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (UPDATE_SNAPSHOTS=1 writes it)"));
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{name} differs from its snapshot at line {}:\n want: {:?}\n  got: {:?}\n(UPDATE_SNAPSHOTS=1 rewrites it)",
            line + 1,
            want.lines().nth(line),
            got.lines().nth(line)
        );
    }
}

#[test]
fn snapshots_of_a_small_lab_in_every_format() {
    let g = small();
    snapshot("small.dot", &render(&g, Format::Dot));
    snapshot("small.mmd", &render(&g, Format::Mermaid));
    snapshot("small.svg", &render(&g, Format::Svg));
    snapshot("small.html", &render(&g, Format::Html));
}

#[test]
fn dot_has_every_node_and_link_with_interface_names() {
    let dot = render(&small(), Format::Dot);
    assert!(dot.starts_with("graph \"lab demo\" {\n"));
    assert!(dot.ends_with("}\n"));
    for want in [
        "\"r1\" [label=\"r1\\nlab demo\", shape=ellipse",
        "\"sw1\" [label=\"sw1\\nlab demo\", shape=box3d",
        "\"host\" [label=\"host (masquerade)\", shape=note",
        "\"r1\" -- \"sw2\" [class=\"bridge-port\", label=\"mtu 9000\", taillabel=\"eth2 10.0.1.1/24\", headlabel=\"p1\"];",
        "\"nat\" -- \"host\" [class=\"uplink\", label=\"100 Mbit/s\", taillabel=\"up0 100.64.0.2/30\", headlabel=\"wl-demo-nat 100.64.0.1/30\", style=dashed];",
    ] {
        assert!(dot.contains(want), "missing {want:?} in\n{dot}");
    }
    assert_eq!(dot.matches(" -- ").count(), 7);
}

#[test]
fn mermaid_uses_safe_ids_shapes_and_classes() {
    let m = render(&small(), Format::Mermaid);
    for want in [
        "flowchart TB\n",
        "  n0([\"r1<br/><small>lab demo</small>\"]):::router\n",
        "  n1[[\"sw1<br/><small>lab demo</small>\"]]:::switch\n",
        "  n7>\"host (masquerade)\"]:::external\n",
        "  n0 ---|\"eth2 10.0.1.1/24 · mtu 9000 · p1\"| n2\n",
        "  n6 -.-|\"up0 100.64.0.2/30 · 100 Mbit/s · wl-demo-nat 100.64.0.1/30\"| n7\n",
        "  classDef router fill:#fdf0e3,stroke:#c2620a;\n",
    ] {
        assert!(m.contains(want), "missing {want:?} in\n{m}");
    }
}

/// Parse as XML, allowing the page's `<!DOCTYPE html>`.
fn parse(text: &str) -> Result<roxmltree::Document<'_>, roxmltree::Error> {
    let opt = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, opt)
}

/// Every text node of an XML document.
fn texts(doc: &roxmltree::Document<'_>) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text().map(str::to_owned))
        .collect()
}

#[test]
fn svg_is_well_formed_and_names_every_node_and_link() {
    let g = small();
    let svg = render(&g, Format::Svg);
    let doc = parse(&svg).expect("SVG is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let t = texts(&doc);
    for n in &g.nodes {
        assert!(t.contains(&n.label), "no text {:?}", n.label);
    }
    for id in (0..g.nodes.len())
        .map(|i| format!("n{i}"))
        .chain((0..7).map(|j| format!("e{j}")))
    {
        assert!(
            doc.descendants()
                .any(|e| e.attribute("id") == Some(id.as_str())),
            "no element {id}"
        );
    }
    // Links know their ends by node index, for the page's script.
    let e3 = doc
        .descendants()
        .find(|e| e.attribute("id") == Some("e3"))
        .unwrap();
    assert_eq!(
        (e3.attribute("data-a"), e3.attribute("data-b")),
        (Some("0"), Some("2"))
    );
    for want in ["eth2", "10.0.1.1/24", "mtu 9000"] {
        assert!(t.contains(&want.to_owned()), "no text {want:?}");
    }
}

#[test]
fn html_is_self_contained_and_well_formed() {
    let g = small();
    let html = render(&g, Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>\n"));
    let doc = parse(&html).expect("the page is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "html");
    // Nothing is fetched: no src/href attributes, no URLs but the XML namespaces.
    for e in doc.descendants().filter(|e| e.is_element()) {
        for a in ["src", "href", "xlink:href"] {
            assert!(e.attribute(a).is_none(), "{a} on <{}>", e.tag_name().name());
        }
    }
    let without_ns = html
        .replace("http://www.w3.org/2000/svg", "")
        .replace("http://www.w3.org/1999/xhtml", "");
    assert!(!without_ns.contains("http:") && !without_ns.contains("https:"));
    assert!(!without_ns.contains("@import") && !without_ns.contains("url("));
    // The data block parses back to the graph.
    let data = doc
        .descendants()
        .find(|e| e.attribute("id") == Some("graph-data"))
        .and_then(|e| e.text())
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["nodes"].as_array().unwrap().len(), 8);
    assert_eq!(v["edges"][6]["b_label"], "wl-demo-nat 100.64.0.1/30");
    assert_eq!(v["edges"][6]["a"], 6);
    let scripts = doc
        .descendants()
        .filter(|e| e.has_tag_name("script"))
        .count();
    assert_eq!(scripts, 2);
    assert!(doc.descendants().any(|e| e.has_tag_name("svg")));
}

#[test]
fn hostile_names_are_escaped_in_every_format() {
    let g = hostile();

    // DOT: the names come back from the quoted strings; quotes on each line balance.
    let dot = render(&g, Format::Dot);
    for line in dot.lines() {
        let unescaped = line.replace("\\\\", "").replace("\\\"", "");
        assert_eq!(unescaped.matches('"').count() % 2, 0, "{line}");
    }
    assert!(
        dot.contains("\"<script>alert(\\\"x\\\")</script>\" -- \"a\\\"b'c\\\\d\""),
        "{dot}"
    );
    assert!(
        dot.contains("line\\nbreak\""),
        "control characters dropped: {dot}"
    );

    // Mermaid: no raw markup or quote inside a label.
    let m = render(&g, Format::Mermaid);
    assert!(!m.contains("<script") && !m.contains("</script"), "{m}");
    assert!(
        m.contains("#lt;script#gt;alert(#quot;x#quot;)#lt;/script#gt;"),
        "{m}"
    );
    for line in m
        .lines()
        .filter(|l| !l.starts_with("---") && !l.starts_with("title:"))
    {
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
    }

    // SVG: parses, has no script element, and the names are its text, unchanged.
    let svg = render(&g, Format::Svg);
    let doc = parse(&svg).expect("well-formed with hostile names");
    assert!(!doc.descendants().any(|e| e.has_tag_name("script")));
    let t = texts(&doc);
    for want in [HOSTILE, CDATA_END, QUOTES] {
        assert!(
            t.iter().any(|s| s == want),
            "text {want:?} not found in {t:?}"
        );
    }
    let n0 = doc
        .descendants()
        .find(|e| e.attribute("id") == Some("n0"))
        .unwrap();
    assert_eq!(n0.attribute("data-id"), Some(HOSTILE));

    // HTML: parses, exactly warren's two scripts, the data round-trips.
    let html = render(&g, Format::Html);
    let doc = parse(&html).expect("well-formed page with hostile names");
    assert_eq!(
        doc.descendants()
            .filter(|e| e.has_tag_name("script"))
            .count(),
        2
    );
    assert_eq!(
        html.matches("<script").count(),
        2,
        "no raw <script from the names"
    );
    let data = doc
        .descendants()
        .find(|e| e.attribute("id") == Some("graph-data"))
        .and_then(|e| e.text())
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["nodes"][0]["label"], HOSTILE);
    assert_eq!(v["nodes"][0]["owner"], QUOTES);
    assert_eq!(v["edges"][0]["label"], CDATA_END);
    let title = doc.descendants().find(|e| e.has_tag_name("title")).unwrap();
    assert_eq!(title.text(), Some(format!("t {HOSTILE}").as_str()));
}

#[test]
fn dangling_edges_are_reported_and_not_drawn() {
    let mut g = small();
    g.edges.push(Edge::new("r1", "ghost", EdgeKind::Veth));
    assert_eq!(
        g.check().unwrap_err().to_string(),
        "graph: edge 7 names unknown node \"ghost\""
    );
    assert!(!render(&g, Format::Dot).contains("ghost"));
    let svg = render(&g, Format::Svg);
    assert!(parse(&svg).is_ok());
    assert!(!svg.contains("id=\"e7\""));
    g.nodes.push(Node::new("r1", NodeKind::Host));
    assert_eq!(
        g.check().unwrap_err().to_string(),
        "graph: node \"r1\" appears twice"
    );
}

/// 1,000 nodes: 10 routers in a ring, 40 switches on them, 950 hosts on the switches.
fn big() -> Graph {
    let mut g = Graph::new("big");
    for r in 0..10 {
        g.nodes.push(Node::new(format!("r{r}"), NodeKind::Router));
        g.edges.push(
            Edge::new(
                format!("r{r}"),
                format!("r{}", (r + 1) % 10),
                EdgeKind::Veth,
            )
            .ends("eth0", "eth1"),
        );
    }
    for s in 0..40 {
        g.nodes.push(Node::new(format!("sw{s}"), NodeKind::Switch));
        g.edges.push(Edge::new(
            format!("r{}", s % 10),
            format!("sw{s}"),
            EdgeKind::BridgePort,
        ));
    }
    for h in 0..950 {
        let mut n = Node::new(format!("h{h}"), NodeKind::Host);
        n.owner = Some("lab big".into());
        g.nodes.push(n);
        g.edges.push(
            Edge::new(
                format!("h{h}"),
                format!("sw{}", h % 40),
                EdgeKind::BridgePort,
            )
            .ends("eth0 10.0.0.2/24", "p1"),
        );
    }
    g
}

#[test]
fn a_thousand_nodes_render_in_under_a_second() {
    let g = big();
    assert_eq!(g.nodes.len(), 1000);
    for format in [Format::Dot, Format::Mermaid, Format::Svg, Format::Html] {
        let start = Instant::now();
        let out = render(&g, format);
        let took = start.elapsed();
        println!(
            "1,000 nodes, {} links, {format:?}: {took:?}, {} bytes",
            g.edges.len(),
            out.len()
        );
        assert!(took.as_secs_f64() < 1.0, "{format:?} took {took:?}");
        if matches!(format, Format::Svg | Format::Html) {
            assert!(parse(&out).is_ok());
        }
    }
}
