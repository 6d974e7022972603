//! Inheritance: a node's effective fields are `defaults`, then its group chain from the
//! root down, then its own. Scalars and lists are replaced by the later layer; maps
//! (`interfaces`, `sysctls`, `env`, `files`) are merged key by key.

use crate::fxhash::FxMap;

use crate::load::Diags;
use crate::spec::{NodeSpec, Spec};

/// The effective spec of every node, in node order. Unknown groups and cycles in group
/// inheritance are reported (a cycle once, at the first group of it in the file).
pub(crate) fn effective(spec: &Spec, d: &mut Diags) -> Vec<NodeSpec> {
    let index: FxMap<&str, usize> = spec
        .groups
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.v.as_str(), i))
        .collect();
    // Each group's parent chain, root first; `None` when it is broken (error reported).
    let mut chains: Vec<Option<Vec<usize>>> = Vec::with_capacity(spec.groups.len());
    for (i, (_, g)) in spec.groups.iter().enumerate() {
        let mut chain = vec![i];
        let mut cur = g;
        let mut ok = true;
        while let Some(parent) = &cur.group {
            let Some(&p) = index.get(parent.v.as_str()) else {
                d.error(
                    parent.pos,
                    &parent.field,
                    format!("unknown group {:?}", parent.v),
                );
                ok = false;
                break;
            };
            if let Some(at) = chain.iter().position(|&c| c == p) {
                let cycle = &chain[at..];
                if cycle.iter().min() == Some(&i) {
                    let mut names: Vec<&str> =
                        cycle.iter().map(|&c| spec.groups[c].0.v.as_str()).collect();
                    names.push(&spec.groups[p].0.v);
                    let field = g.group.as_ref().map_or("", |f| f.field.as_str());
                    let pos = g.group.as_ref().map_or(g.pos, |f| f.pos);
                    d.error(
                        pos,
                        field,
                        format!("cycle in group inheritance: {}", names.join(" → ")),
                    );
                }
                ok = false;
                break;
            }
            chain.push(p);
            cur = &spec.groups[p].1;
        }
        chains.push(ok.then(|| {
            chain.reverse();
            chain
        }));
    }
    let mut out = Vec::with_capacity(spec.nodes.len());
    for (_, n) in &spec.nodes {
        let mut eff = spec.defaults.clone();
        if let Some(g) = &n.group {
            match index.get(g.v.as_str()) {
                None => d.error(g.pos, &g.field, format!("unknown group {:?}", g.v)),
                Some(&gi) => {
                    for &c in chains[gi].iter().flatten() {
                        overlay(&mut eff, &spec.groups[c].1);
                    }
                }
            }
        }
        overlay(&mut eff, n);
        eff.pos = n.pos;
        out.push(eff);
    }
    out
}

fn merge<T: Clone>(
    base: &mut Vec<(crate::spec::At<String>, T)>,
    top: &[(crate::spec::At<String>, T)],
) {
    for (k, v) in top {
        match base.iter_mut().find(|(bk, _)| bk.v == k.v) {
            Some(slot) => *slot = (k.clone(), v.clone()),
            None => base.push((k.clone(), v.clone())),
        }
    }
}

/// Lays `top` over `base`.
pub(crate) fn overlay(base: &mut NodeSpec, top: &NodeSpec) {
    macro_rules! replace {
        ($($f:ident),*) => { $( if top.$f.is_some() { base.$f = top.$f.clone(); } )* };
    }
    replace!(
        kind, group, loopback, gateway, routes, hosts, exec, daemons, after
    );
    merge(&mut base.interfaces, &top.interfaces);
    merge(&mut base.sysctls, &top.sysctls);
    merge(&mut base.env, &top.env);
    merge(&mut base.files, &top.files);
}
