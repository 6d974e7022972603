//! warren's own layout for the SVG: layered, like a network diagram drawn by hand.
//!
//! Leaves (a node with one link, such as a host on a switch) are not layered: they sit in a
//! block of rows under their parent, which reserves the room. The rest of each connected
//! component is rooted at the outside world if it touches it (an external
//! node at the top), else at its centre (the node with the smallest eccentricity), and split
//! into layers by distance from the root (BFS). Within a layer, nodes are ordered by the mean
//! position of their neighbours in the layer above, then below (barycentre sweeps, as in
//! Sugiyama-style layouts), which untangles most crossings. A layer wider than a row limit
//! (about 1.6·√n nodes) wraps onto several rows, so 200 hosts on one switch stay a block
//! rather than a line. Components are packed on shelves, largest first. Everything is
//! linear or `n log n` per sweep, except the exact centre search (one BFS per node), which
//! above 200 nodes in a component gives way to a linear double-sweep estimate.

use std::collections::VecDeque;

use crate::model::{Graph, NodeKind};

/// Where a node goes: its centre and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// Centre x.
    pub x: f64,
    /// Centre y.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// A laid-out graph: one [`Placed`] per node (same order as [`Graph::nodes`]) and the
/// drawing's size.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Per node.
    pub nodes: Vec<Placed>,
    /// Total width.
    pub width: f64,
    /// Total height.
    pub height: f64,
}

const HGAP: f64 = 28.0;
const VGAP: f64 = 84.0;
const MARGIN: f64 = 24.0;
/// Between a node and the block of its leaves.
const LEAF_GAP: f64 = 84.0;
/// Between rows of one block of leaves.
const LEAF_ROW_GAP: f64 = 44.0;
const TOP: f64 = 72.0;
/// Components up to this size get their exact centre (one BFS per node); bigger ones the
/// double-sweep estimate.
const EXACT_CENTRE_UP_TO: usize = 200;
/// Longest label drawn in full; longer ones are cut with an ellipsis.
pub(crate) const MAX_LABEL: usize = 32;

/// A label as drawn: at most [`MAX_LABEL`] characters.
pub(crate) fn shown(s: &str) -> String {
    if s.chars().count() <= MAX_LABEL {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX_LABEL - 1).collect();
        t.push('…');
        t
    }
}

fn size(g: &Graph, i: usize) -> (f64, f64) {
    let n = &g.nodes[i];
    let label = shown(&n.label).chars().count() as f64 * 7.4;
    let owner = n
        .owner
        .as_deref()
        .map_or(0.0, |o| shown(o).chars().count() as f64 * 6.2);
    let w = (label.max(owner) + 24.0).clamp(64.0, 280.0);
    let h = if n.owner.is_some() { 44.0 } else { 32.0 };
    (w, h)
}

/// Lay `g` out.
pub fn layout(g: &Graph) -> Layout {
    let n = g.nodes.len();
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (_, a, b) in g.resolved_edges() {
        if a != b {
            adj[a].push(b);
            adj[b].push(a);
        }
    }
    for l in &mut adj {
        l.sort_unstable();
        l.dedup();
    }
    let sizes: Vec<(f64, f64)> = (0..n).map(|i| size(g, i)).collect();
    // Leaves (a host on one switch) are not layered: they sit in a block under their parent.
    let leaf_of: Vec<Option<usize>> = (0..n)
        .map(|v| {
            let p = *adj[v].first()?;
            (adj[v].len() == 1 && adj[p].len() > 1 && g.nodes[v].kind != NodeKind::External)
                .then_some(p)
        })
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (v, p) in leaf_of.iter().enumerate() {
        if let Some(p) = p {
            children[*p].push(v);
        }
    }
    let core_adj: Vec<Vec<usize>> = adj
        .iter()
        .map(|l| {
            l.iter()
                .copied()
                .filter(|&u| leaf_of[u].is_none())
                .collect()
        })
        .collect();
    let row_limit = ((n as f64).sqrt() * 1.6).ceil().max(8.0) as usize;

    let mut comps = components(&adj);
    comps.sort_by_key(|c| std::cmp::Reverse(c.len()));
    let mut placed = vec![
        Placed {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        n
    ];
    // Lay out each component at the origin, then pack them on shelves.
    let mut boxes = Vec::with_capacity(comps.len());
    for comp in &comps {
        let core: Vec<usize> = comp
            .iter()
            .copied()
            .filter(|&v| leaf_of[v].is_none())
            .collect();
        let (w, h) = component(
            g,
            &core_adj,
            &core,
            &children,
            &sizes,
            row_limit,
            &mut placed,
        );
        boxes.push((w, h));
    }
    let area: f64 = boxes.iter().map(|(w, h)| (w + HGAP) * (h + VGAP)).sum();
    let widest = boxes.iter().map(|b| b.0).fold(0.0, f64::max);
    let shelf_width = widest.max(area.sqrt() * 1.4);
    let (mut x, mut y, mut shelf_h, mut width) = (0.0, 0.0, 0.0f64, 0.0f64);
    for (comp, (w, h)) in comps.iter().zip(&boxes) {
        if x > 0.0 && x + w > shelf_width {
            x = 0.0;
            y += shelf_h + VGAP;
            shelf_h = 0.0;
        }
        for &v in comp {
            placed[v].x += x + MARGIN;
            placed[v].y += y + TOP;
        }
        x += w + HGAP * 2.0;
        width = width.max(x - HGAP * 2.0);
        shelf_h = shelf_h.max(*h);
    }
    Layout {
        nodes: placed,
        // Wide enough for the title and the legend of the kinds present.
        width: (width + 2.0 * MARGIN)
            .max(2.0 * MARGIN + 84.0 * kinds_present(g) as f64)
            .max(2.0 * MARGIN + 9.0 * shown(&g.title).chars().count() as f64),
        height: y + shelf_h + TOP + MARGIN,
    }
}

fn kinds_present(g: &Graph) -> usize {
    NodeKind::ALL
        .iter()
        .filter(|k| g.nodes.iter().any(|n| n.kind == **k))
        .count()
}

fn components(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut seen = vec![false; adj.len()];
    let mut out = Vec::new();
    for s in 0..adj.len() {
        if seen[s] {
            continue;
        }
        seen[s] = true;
        let mut comp = vec![s];
        let mut i = 0;
        while i < comp.len() {
            let v = comp[i];
            i += 1;
            for &u in &adj[v] {
                if !seen[u] {
                    seen[u] = true;
                    comp.push(u);
                }
            }
        }
        out.push(comp);
    }
    out
}

/// BFS distances from `root` (usize::MAX where unreachable).
fn bfs(adj: &[Vec<usize>], root: usize, dist: &mut [usize], order: &mut Vec<usize>) {
    order.clear();
    dist[root] = 0;
    let mut q = VecDeque::from([root]);
    while let Some(v) = q.pop_front() {
        order.push(v);
        for &u in &adj[v] {
            if dist[u] == usize::MAX {
                dist[u] = dist[v] + 1;
                q.push_back(u);
            }
        }
    }
}

fn root_of(g: &Graph, adj: &[Vec<usize>], comp: &[usize]) -> usize {
    let by_degree = |c: &[usize]| {
        c.iter()
            .copied()
            .max_by_key(|&v| (adj[v].len(), std::cmp::Reverse(v)))
            .unwrap_or(c[0])
    };
    let externals: Vec<usize> = comp
        .iter()
        .copied()
        .filter(|&v| g.nodes[v].kind == NodeKind::External)
        .collect();
    if !externals.is_empty() {
        return by_degree(&externals);
    }
    let mut dist = vec![usize::MAX; adj.len()];
    let mut order = Vec::new();
    if comp.len() > EXACT_CENTRE_UP_TO {
        return double_sweep_centre(adj, by_degree(comp), &mut dist, &mut order);
    }
    let mut best = (usize::MAX, 0, comp[0]);
    for &v in comp {
        bfs(adj, v, &mut dist, &mut order);
        let ecc = order.iter().map(|&u| dist[u]).max().unwrap_or(0);
        let key = (ecc, usize::MAX - adj[v].len(), v);
        if key < best {
            best = key;
        }
        for &u in &order {
            dist[u] = usize::MAX;
        }
    }
    best.2
}

/// The middle of a long shortest path (BFS to the farthest node, then from there to the
/// farthest again): the centre of a tree, and close to it in most networks. Linear.
fn double_sweep_centre(
    adj: &[Vec<usize>],
    start: usize,
    dist: &mut [usize],
    order: &mut Vec<usize>,
) -> usize {
    bfs(adj, start, dist, order);
    let u = *order.last().unwrap_or(&start);
    for &x in order.iter() {
        dist[x] = usize::MAX;
    }
    bfs(adj, u, dist, order);
    let v = *order.last().unwrap_or(&u);
    // Walk back from v towards u half the distance.
    let mut cur = v;
    for _ in 0..dist[v] / 2 {
        match adj[cur].iter().find(|&&w| dist[w] + 1 == dist[cur]) {
            Some(&w) => cur = w,
            None => break,
        }
    }
    for &x in order.iter() {
        dist[x] = usize::MAX;
    }
    cur
}

/// Lay out one component with its top-left at the origin; returns its size.
fn component(
    g: &Graph,
    adj: &[Vec<usize>],
    comp: &[usize],
    children: &[Vec<usize>],
    sizes: &[(f64, f64)],
    row_limit: usize,
    placed: &mut [Placed],
) -> (f64, f64) {
    // Each core node's box: itself, and the block of its leaves under it.
    let blocks: Vec<(usize, f64, f64, f64, f64)> = comp
        .iter()
        .map(|&v| leaf_block(&children[v], sizes))
        .collect();
    let mut eff = vec![(0.0, 0.0); adj.len()];
    for (k, &v) in comp.iter().enumerate() {
        let (_, _, _, bw, bh) = blocks[k];
        eff[v] = if children[v].is_empty() {
            sizes[v]
        } else {
            (sizes[v].0.max(bw), sizes[v].1 + LEAF_GAP + bh)
        };
    }
    let root = root_of(g, adj, comp);
    let mut dist = vec![usize::MAX; adj.len()];
    let mut order = Vec::new();
    bfs(adj, root, &mut dist, &mut order);
    let depth = order.iter().map(|&v| dist[v]).max().unwrap_or(0);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); depth + 1];
    for &v in &order {
        layers[dist[v]].push(v);
    }
    // Barycentre sweeps: down, then up, twice.
    let mut pos = vec![0.0f64; adj.len()];
    let set_pos = |layer: &[usize], pos: &mut [f64]| {
        for (i, &v) in layer.iter().enumerate() {
            pos[v] = i as f64;
        }
    };
    for l in &layers {
        set_pos(l, &mut pos);
    }
    for _ in 0..2 {
        for down in [true, false] {
            let range: Vec<usize> = if down {
                (1..layers.len()).collect()
            } else {
                (0..layers.len().saturating_sub(1)).rev().collect()
            };
            for li in range {
                let other = if down { li - 1 } else { li + 1 };
                let mut keyed: Vec<(f64, usize)> = layers[li]
                    .iter()
                    .map(|&v| {
                        let (sum, cnt) = adj[v]
                            .iter()
                            .filter(|&&u| dist[u] == other)
                            .fold((0.0, 0usize), |(s, c), &u| (s + pos[u], c + 1));
                        let key = if cnt == 0 { pos[v] } else { sum / cnt as f64 };
                        (key, v)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
                layers[li] = keyed.into_iter().map(|(_, v)| v).collect();
                set_pos(&layers[li], &mut pos);
            }
        }
    }
    // Rows: each layer, wrapped; centred on x = 0. Core nodes sit at the top of their box,
    // their leaves in rows under them.
    let mut y = 0.0;
    let mut minx = f64::MAX;
    let mut maxx = f64::MIN;
    for layer in &layers {
        for row in layer.chunks(row_limit) {
            let total: f64 =
                row.iter().map(|&v| eff[v].0).sum::<f64>() + HGAP * (row.len() - 1) as f64;
            let h = row.iter().map(|&v| eff[v].1).fold(0.0, f64::max);
            let mut x = -total / 2.0;
            for &v in row {
                let (w, nh) = sizes[v];
                let cx = x + eff[v].0 / 2.0;
                placed[v] = Placed {
                    x: cx,
                    y: y + nh / 2.0,
                    w,
                    h: nh,
                };
                place_leaves(&children[v], sizes, cx, y + nh + LEAF_GAP, placed);
                x += eff[v].0 + HGAP;
            }
            minx = minx.min(-total / 2.0);
            maxx = maxx.max(total / 2.0);
            y += h + VGAP;
        }
    }
    for &v in comp {
        placed[v].x -= minx;
        for &c in &children[v] {
            placed[c].x -= minx;
        }
    }
    (maxx - minx, y - VGAP)
}

/// Columns, cell width and height, block width and height of a block of leaves.
fn leaf_block(leaves: &[usize], sizes: &[(f64, f64)]) -> (usize, f64, f64, f64, f64) {
    let k = leaves.len();
    if k == 0 {
        return (0, 0.0, 0.0, 0.0, 0.0);
    }
    let cols = if k <= 8 {
        k
    } else {
        ((3 * k) as f64).sqrt().ceil() as usize
    };
    let rows = k.div_ceil(cols);
    let cw = leaves.iter().map(|&v| sizes[v].0).fold(0.0, f64::max);
    let ch = leaves.iter().map(|&v| sizes[v].1).fold(0.0, f64::max);
    let bw = cols as f64 * cw + (cols - 1) as f64 * HGAP;
    let bh = rows as f64 * ch + (rows - 1) as f64 * LEAF_ROW_GAP;
    (cols, cw, ch, bw, bh)
}

fn place_leaves(leaves: &[usize], sizes: &[(f64, f64)], cx: f64, top: f64, placed: &mut [Placed]) {
    let (cols, cw, ch, bw, _) = leaf_block(leaves, sizes);
    for (i, &v) in leaves.iter().enumerate() {
        let (r, c) = (i / cols.max(1), i % cols.max(1));
        placed[v] = Placed {
            x: cx - bw / 2.0 + c as f64 * (cw + HGAP) + cw / 2.0,
            y: top + r as f64 * (ch + LEAF_ROW_GAP) + ch / 2.0,
            w: sizes[v].0,
            h: sizes[v].1,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Edge, EdgeKind, Node};

    fn overlaps(a: &Placed, b: &Placed) -> bool {
        (a.x - b.x).abs() * 2.0 < a.w + b.w && (a.y - b.y).abs() * 2.0 < a.h + b.h
    }

    #[test]
    fn the_outside_is_on_top_and_hosts_under_their_switch() {
        let mut g = Graph::new("t");
        for (id, k) in [
            ("h1", NodeKind::Host),
            ("sw", NodeKind::Switch),
            ("nat", NodeKind::Nat),
            ("host", NodeKind::External),
            ("h2", NodeKind::Host),
        ] {
            g.nodes.push(Node::new(id, k));
        }
        for (a, b) in [("h1", "sw"), ("h2", "sw"), ("nat", "sw"), ("nat", "host")] {
            g.edges.push(Edge::new(a, b, EdgeKind::Veth));
        }
        let l = layout(&g);
        let y = |i: usize| l.nodes[i].y;
        assert!(y(3) < y(2) && y(2) < y(1) && y(1) < y(0), "{l:?}");
        assert_eq!(y(0), y(4));
        for i in 0..5 {
            for j in i + 1..5 {
                assert!(
                    !overlaps(&l.nodes[i], &l.nodes[j]),
                    "{i} {j} overlap: {l:?}"
                );
            }
            assert!(l.nodes[i].x - l.nodes[i].w / 2.0 >= 0.0);
            assert!(l.nodes[i].x + l.nodes[i].w / 2.0 <= l.width);
            assert!(l.nodes[i].y + l.nodes[i].h / 2.0 <= l.height);
        }
    }

    #[test]
    fn a_big_layer_wraps_and_nothing_overlaps() {
        let mut g = Graph::new("star");
        g.nodes.push(Node::new("sw", NodeKind::Switch));
        for i in 0..300 {
            g.nodes.push(Node::new(format!("h{i}"), NodeKind::Host));
            g.edges
                .push(Edge::new(format!("h{i}"), "sw", EdgeKind::BridgePort));
        }
        g.nodes.push(Node::new("alone", NodeKind::Namespace));
        let l = layout(&g);
        let rows: std::collections::BTreeSet<i64> = l.nodes.iter().map(|p| p.y as i64).collect();
        assert!(rows.len() > 5, "300 hosts wrap onto rows: {}", rows.len());
        assert!(l.width < 6000.0, "{}", l.width);
        let mut sorted: Vec<&Placed> = l.nodes.iter().collect();
        sorted.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
        for w in sorted.windows(2) {
            assert!(!overlaps(w[0], w[1]), "{:?}", w);
        }
    }

    #[test]
    fn long_labels_are_cut() {
        assert_eq!(shown("short"), "short");
        let long = "x".repeat(50);
        assert_eq!(shown(&long).chars().count(), MAX_LABEL);
        assert!(shown(&long).ends_with('…'));
    }
}
