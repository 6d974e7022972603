//! Reading the whole host: every namespace `warren ns list --all` finds, one link dump in
//! each (on the scan's worker threads, inside the namespace), then the nsids its veths and
//! macvlans name resolved into namespaces by asking the kernel (see [`crate::resolve`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use warren_kernel::link::Link;
use warren_kernel::{Handle, NetNs};
use warren_netns::scan::{self, NsRow, Scan};

use crate::error::{Error, Result};
use crate::model::{self, Iface, Namespace, Topology};
use crate::owner::{self, WarrenOwners};
use crate::resolve::{self, Bindings};

/// Threads that enter namespaces to check candidate nsids.
const WORKERS: usize = 4;

/// What one namespace's visit read.
struct Visited {
    links: Vec<Link>,
    /// This namespace's nsid for the namespace the scan runs in.
    host_id_here: Option<i32>,
}

/// Scan the host: every namespace with its owner and interfaces, every veth's peer and
/// macvlan's parent resolved to a namespace, every port's bridge named.
pub fn scan() -> Result<Topology> {
    scan_with(&owner::warren_owners())
}

/// [`scan()`] with warren's owners given (for callers that read the store themselves).
pub fn scan_with(warren: &WarrenOwners) -> Result<Topology> {
    let host = NetNs::current().map_err(|source| Error::Kernel {
        what: "open the current namespace".into(),
        source: Box::new(source),
    })?;
    let scan = scan::visit(|_, h: &Handle, links| Visited {
        host_id_here: if h.ns().id() == host.id() {
            None
        } else {
            h.nsid_of(&host).ok().flatten()
        },
        links,
    })
    .map_err(|e| Error::Scan {
        source: Box::new(e),
    })?;
    let mut host_id_here = Vec::with_capacity(scan.rows.len());
    let mut topo = Topology::default();
    for (row, seen) in scan.rows.iter().zip(&scan.visited) {
        host_id_here.push(seen.as_ref().and_then(|v| v.host_id_here));
        topo.namespaces.push(namespace(row, seen.as_ref(), warren));
    }
    let mut bindings = resolve::initial(&topo, &host_id_here);
    let missing = resolve::unresolved(&topo, &bindings);
    if !missing.is_empty() {
        bindings.extend(check_candidates(&scan, &topo, &missing));
    }
    resolve::apply(&mut topo, &bindings);
    Ok(topo)
}

fn namespace(row: &NsRow, seen: Option<&Visited>, warren: &WarrenOwners) -> Namespace {
    let links = seen.map(|v| v.links.as_slice()).unwrap_or_default();
    let names: HashMap<u32, &str> = links.iter().map(|l| (l.index, l.name.as_str())).collect();
    let interfaces = links
        .iter()
        .map(|l| Iface {
            index: l.index,
            name: l.name.clone(),
            kind: l.kind.clone(),
            up: l.up,
            operstate: l.operstate.clone(),
            mac: l.mac_string(),
            master: l.master.map(|m| {
                names
                    .get(&m)
                    .map_or_else(|| format!("if{m}"), |n| (*n).to_owned())
            }),
            raw_link: l.link.map(|k| (k, l.link_netnsid)),
            peer: None,
        })
        .collect();
    Namespace {
        ino: row.ino,
        label: model::label(&row.names, row.current, row.ino),
        names: row.names.clone(),
        current: row.current,
        nsid: row.nsid,
        pid: row.main.as_ref().map(|m| m.pid),
        owner: owner::owner_of(row, warren),
        interfaces,
        readable: seen.is_some(),
    }
}

/// Bind the nsids the scan's answers left open: inside each namespace that uses one, ask the
/// kernel for its nsid of each candidate until one matches. Every answer binds something, so
/// the matches found on the way are kept too. A few threads, each entering namespaces in turn.
fn check_candidates(scan: &Scan<Visited>, topo: &Topology, missing: &[(usize, i32)]) -> Bindings {
    let mut by_ns: Vec<(usize, Vec<i32>)> = Vec::new();
    for &(a, id) in missing {
        match by_ns.last_mut() {
            Some((last, ids)) if *last == a => ids.push(id),
            _ => by_ns.push((a, vec![id])),
        }
    }
    let next = AtomicUsize::new(0);
    let found = Mutex::new(Bindings::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(by_ns.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((a, ids)) = by_ns.get(i) else { break };
                    let local = check_one(scan, topo, *a, ids);
                    found
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend(local);
                }
            });
        }
    });
    found.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// On this (worker) thread: enter namespace `a` for good and bind each of `ids`.
fn check_one(scan: &Scan<Visited>, topo: &Topology, a: usize, ids: &[i32]) -> Bindings {
    let mut out = Bindings::new();
    let Some(ns) = scan.open(a) else {
        return out;
    };
    if ns.enter().is_err() {
        return out;
    }
    let Ok(h) = Handle::here(&ns) else {
        return out;
    };
    let mut asked = vec![false; topo.namespaces.len()];
    for &id in ids {
        if out.contains_key(&(a, id)) {
            continue;
        }
        for j in resolve::candidates(topo, a, id) {
            if std::mem::replace(&mut asked[j], true) {
                continue;
            }
            let Some(peer) = scan.open(j) else { continue };
            if let Ok(Some(got)) = h.nsid_of(&peer) {
                out.insert((a, got), j);
                if got == id {
                    break;
                }
            }
        }
    }
    out
}
