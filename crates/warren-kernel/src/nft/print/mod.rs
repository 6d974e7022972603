//! A [`Ruleset`] read back over netlink printed in `nft list ruleset`'s syntax (nft 1.0.6):
//! tables, named sets and maps with their elements, chains with hook, priority and policy,
//! and each rule's expressions turned back into statements ([`rule_text`]). Anonymous sets
//! are written inline, protocol dependencies nft adds by itself (`meta nfproto ipv4` before
//! `ip saddr`, `meta l4proto tcp` before `tcp dport`) are left out as nft leaves them out,
//! and xtables compat expressions of iptables-nft show as `xt match "NAME"` / `xt target
//! "NAME"` (nft's own spelling when it is built without libxtables).

use std::fmt::Write as _;

use super::dump::{
    ChainInfo, DData, ELEM_INTERVAL_END, ElemInfo, Ruleset, SetInfo, TableInfo, set_flags,
};

mod rule;
pub mod value;

pub use rule::rule_text;
use value::{Ty, as_prefix, concat_parts, format, type_len, type_name, uint};

/// The whole ruleset as `nft list ruleset` prints it.
pub fn ruleset_text(rs: &Ruleset) -> String {
    rs.tables.iter().map(table_text).collect()
}

/// One table as `nft list table FAMILY NAME` prints it.
pub fn table_text(t: &TableInfo) -> String {
    let mut out = format!("table {} {} {{\n", t.family_name(), t.name);
    let mut blocks: Vec<String> = Vec::new();
    if t.flags & 1 != 0 {
        out.push_str("\tflags dormant\n");
    }
    for s in t.sets.iter().filter(|s| !is_anonymous(s)) {
        blocks.push(set_text(s));
    }
    for c in &t.chains {
        blocks.push(chain_text(t, c));
    }
    out.push_str(&blocks.join("\n"));
    out.push_str("}\n");
    out
}

/// Whether a set is an anonymous one (printed inline in its rule).
pub fn is_anonymous(s: &SetInfo) -> bool {
    s.flags & set_flags::ANONYMOUS != 0
}

fn hook_name(family: u8, hook: u32) -> String {
    let names: &[&str] = match family {
        3 => &["input", "output"],
        5 => &["ingress", "egress"],
        _ => &[
            "prerouting",
            "input",
            "forward",
            "output",
            "postrouting",
            "ingress",
        ],
    };
    names
        .get(hook as usize)
        .map_or_else(|| hook.to_string(), |s| (*s).to_owned())
}

/// A chain priority as nft 1.0.6 prints it: a standard name within ±10 (`filter`,
/// `dstnat`, `srcnat + 5`), `dstnat` only on prerouting and `srcnat` only on postrouting,
/// else the number.
pub fn priority_text(family: u8, hook: u32, prio: i32) -> String {
    let table: &[(i32, &str)] = if family == 7 {
        &[
            (-300, "dstnat"),
            (-200, "filter"),
            (100, "out"),
            (300, "srcnat"),
        ]
    } else {
        &[
            (-300, "raw"),
            (-150, "mangle"),
            (-100, "dstnat"),
            (0, "filter"),
            (50, "security"),
            (100, "srcnat"),
        ]
    };
    let inet_like = matches!(family, 1 | 2 | 10);
    for (std, name) in table {
        let offset = prio - std;
        if !(-10..=10).contains(&offset) {
            continue;
        }
        let ok = match (family, *name) {
            (7, "dstnat") => hook == 0,
            (7, "srcnat") => hook == 4,
            (7, _) => true,
            (_, "dstnat") => inet_like && hook == 0,
            (_, "srcnat") => inet_like && hook == 4,
            (5, "filter") => true,
            (_, "filter") => true,
            _ => inet_like,
        };
        if !ok {
            continue;
        }
        return match offset {
            0 => (*name).to_owned(),
            o if o > 0 => format!("{name} + {o}"),
            o => format!("{name} - {}", -o),
        };
    }
    prio.to_string()
}

fn chain_text(t: &TableInfo, c: &ChainInfo) -> String {
    let mut out = format!("\tchain {} {{\n", c.name);
    if let Some(h) = &c.hook {
        let _ = write!(
            out,
            "\t\ttype {} hook {}",
            c.kind.as_deref().unwrap_or("filter"),
            hook_name(t.family, h.hooknum)
        );
        if let Some(d) = &h.dev {
            let _ = write!(out, " device \"{d}\"");
        }
        let _ = write!(
            out,
            " priority {};",
            priority_text(t.family, h.hooknum, h.priority)
        );
        match c.policy {
            Some(0) => out.push_str(" policy drop;"),
            Some(_) | None => out.push_str(" policy accept;"),
        }
        out.push('\n');
    }
    for r in &c.rules {
        let _ = writeln!(out, "\t\t{}", rule_text(t, r));
    }
    out.push_str("\t}\n");
    out
}

/// The key types of a set, one per concatenated part.
pub fn key_types(s: &SetInfo) -> Vec<Ty> {
    concat_parts(s.key_type)
        .into_iter()
        .map(Ty::of_set)
        .collect()
}

fn set_text(s: &SetInfo) -> String {
    let kind = if s.is_map() { "map" } else { "set" };
    let join = |id: u32| {
        concat_parts(id)
            .into_iter()
            .map(type_name)
            .collect::<Vec<_>>()
            .join(" . ")
    };
    let mut out = format!("\t{kind} {} {{\n\t\ttype {}", s.name, join(s.key_type));
    if let Some(d) = s.data_type.filter(|_| s.is_map()) {
        let _ = write!(out, " : {}", join(d));
    }
    out.push('\n');
    let flags: Vec<&str> = [
        (set_flags::CONSTANT, "constant"),
        (set_flags::INTERVAL, "interval"),
        (set_flags::TIMEOUT, "timeout"),
        (set_flags::EVAL, "dynamic"),
    ]
    .iter()
    .filter(|(f, _)| s.flags & f != 0)
    .map(|(_, n)| *n)
    .collect();
    if !flags.is_empty() {
        let _ = writeln!(out, "\t\tflags {}", flags.join(","));
    }
    let elems = elements_text(s);
    if !elems.is_empty() {
        let _ = writeln!(out, "\t\telements = {{ {} }}", elems.join(", "));
    }
    out.push_str("\t}\n");
    out
}

/// A map element's data as nft prints it.
fn data_text(s: &SetInfo, d: &DData) -> String {
    match d {
        DData::Verdict { code, chain } => rule::verdict_text(*code, chain.as_deref()),
        DData::Value(v) => {
            let types: Vec<Ty> = concat_parts(s.data_type.unwrap_or(0))
                .into_iter()
                .map(Ty::of_set)
                .collect();
            concat_text(&types, v)
        }
    }
}

/// Bytes of a (concatenated) key split into its parts, each part padded to 4 bytes.
pub fn split_parts<'a>(types: &[Ty], b: &'a [u8]) -> Vec<&'a [u8]> {
    if types.len() <= 1 {
        return vec![b];
    }
    let mut out = Vec::new();
    let mut off = 0;
    for t in types {
        let len = type_len(t.id).max(1);
        let end = (off + len).min(b.len());
        out.push(&b[off.min(end)..end]);
        off += len.div_ceil(4) * 4;
    }
    out
}

/// A (concatenated) value: parts joined by ` . `.
pub fn concat_text(types: &[Ty], b: &[u8]) -> String {
    split_parts(types, b)
        .iter()
        .zip(types)
        .map(|(p, t)| format(*t, p))
        .collect::<Vec<_>>()
        .join(" . ")
}

fn range_text(t: Ty, start: &[u8], end: &[u8]) -> String {
    if start == end {
        return format(t, start);
    }
    as_prefix(t, start, end).unwrap_or_else(|| format!("{}-{}", format(t, start), format(t, end)))
}

/// The elements of a set as nft prints them, in value order: intervals merged back from
/// their start and end elements and shown as prefixes or ranges.
pub fn elements_text(s: &SetInfo) -> Vec<String> {
    let types = key_types(s);
    let with_data = |e: &ElemInfo, key: String| match (&e.data, s.is_map()) {
        (Some(d), true) => format!("{key} : {}", data_text(s, d)),
        _ => key,
    };
    let mut elems: Vec<&ElemInfo> = s.elements.iter().collect();
    elems.sort_by(|a, b| a.key.cmp(&b.key).then(b.flags.cmp(&a.flags)));
    let interval = s.flags & set_flags::INTERVAL != 0;
    if !interval {
        return elems
            .iter()
            .map(|e| with_data(e, concat_text(&types, &e.key)))
            .collect();
    }
    if types.len() > 1 || elems.iter().any(|e| e.key_end.is_some()) {
        // Concatenated intervals: each element carries its inclusive end.
        return elems
            .iter()
            .filter(|e| e.flags & ELEM_INTERVAL_END == 0)
            .map(|e| {
                let end = e.key_end.as_deref().unwrap_or(&e.key);
                let key = split_parts(&types, &e.key)
                    .into_iter()
                    .zip(split_parts(&types, end))
                    .zip(&types)
                    .map(|((a, b), t)| range_text(*t, a, b))
                    .collect::<Vec<_>>()
                    .join(" . ");
                with_data(e, key)
            })
            .collect();
    }
    let t = types[0];
    let len = s.key_len as usize;
    let mut out = Vec::new();
    for (i, e) in elems.iter().enumerate() {
        if e.flags & ELEM_INTERVAL_END != 0 {
            continue;
        }
        // The end of this interval is the next element if it is an end mark (exclusive),
        // else the top of the type's range.
        let end = match elems.get(i + 1) {
            Some(n) if n.flags & ELEM_INTERVAL_END != 0 => {
                value::be_bytes(uint(&n.key, true).wrapping_sub(1), len)
            }
            _ => vec![0xff; len],
        };
        out.push(with_data(e, range_text(t, &e.key, &end)));
    }
    out
}

#[cfg(test)]
mod tests;
