//! Startup order: nodes in levels, each level after every node its members name in `after`.

use crate::model::Lab;

/// The nodes of `selected` in start levels: a node is in the level after the latest of its
/// `after` nodes that are also selected (others are taken as already running). Nodes keep the
/// file's order within a level; nodes of one level may start in parallel. The loader refuses
/// cycles; should one get here anyway, its nodes go in a last level rather than be dropped.
pub fn levels<'a>(lab: &'a Lab, selected: &[&str]) -> Vec<Vec<&'a str>> {
    let chosen: Vec<&crate::model::Node> = lab
        .nodes
        .iter()
        .filter(|n| selected.contains(&n.name.as_str()))
        .collect();
    let mut level: Vec<Option<usize>> = vec![None; chosen.len()];
    let index = |name: &str| chosen.iter().position(|n| n.name == name);
    // Relaxation: at most one pass per node settles every acyclic chain.
    for _ in 0..=chosen.len() {
        let mut changed = false;
        for (i, n) in chosen.iter().enumerate() {
            let mut mine = Some(0);
            for dep in &n.after {
                if let Some(j) = index(dep) {
                    mine = match (mine, level[j]) {
                        (Some(m), Some(l)) => Some(m.max(l + 1)),
                        _ => None,
                    };
                }
            }
            if mine.is_some() && level[i] != mine {
                level[i] = mine;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let depth = level.iter().flatten().max().map_or(0, |m| m + 1);
    let mut out: Vec<Vec<&str>> = vec![Vec::new(); depth];
    let mut unresolved = Vec::new();
    for (n, l) in chosen.iter().zip(&level) {
        match l {
            Some(l) => out[*l].push(n.name.as_str()),
            None => unresolved.push(n.name.as_str()),
        }
    }
    if !unresolved.is_empty() {
        out.push(unresolved);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Node, NodeKind};

    fn lab(nodes: &[(&str, &[&str])]) -> Lab {
        Lab {
            name: "t".into(),
            nodes: nodes
                .iter()
                .map(|(name, after)| Node {
                    name: (*name).into(),
                    kind: NodeKind::Host,
                    netns: format!("t-{name}"),
                    loopback: vec![],
                    interfaces: vec![],
                    routes: vec![],
                    sysctls: Default::default(),
                    env: Default::default(),
                    files: vec![],
                    exec: vec![],
                    daemons: vec![],
                    after: after.iter().map(|s| (*s).into()).collect(),
                    switch: None,
                })
                .collect(),
            links: vec![],
        }
    }

    #[test]
    fn levels_follow_after() {
        type Case<'a> = (
            &'a [(&'a str, &'a [&'a str])],
            &'a [&'a str],
            Vec<Vec<&'a str>>,
        );
        let cases: Vec<Case> = vec![
            (&[("a", &[]), ("b", &[])], &["a", "b"], vec![vec!["a", "b"]]),
            (
                &[("a", &["b"]), ("b", &[]), ("c", &["a"])],
                &["a", "b", "c"],
                vec![vec!["b"], vec!["a"], vec!["c"]],
            ),
            // A dependency outside the selection is already running.
            (&[("a", &["b"]), ("b", &[])], &["a"], vec![vec!["a"]]),
            (
                &[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])],
                &["a", "b", "c", "d"],
                vec![vec!["a"], vec!["b", "c"], vec!["d"]],
            ),
            // A cycle (refused by the loader) still starts every node, last.
            (
                &[("a", &["b"]), ("b", &["a"]), ("c", &[])],
                &["a", "b", "c"],
                vec![vec!["c"], vec!["a", "b"]],
            ),
            (&[("a", &[])], &[], vec![]),
        ];
        for (nodes, selected, want) in cases {
            let l = lab(nodes);
            assert_eq!(levels(&l, selected), want, "{nodes:?} {selected:?}");
        }
    }
}
