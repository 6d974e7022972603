//! Who owns a namespace: a warren container or pod, or a node of a warren lab (from warren's
//! store), a container of another runtime (from the cgroup of the namespace's main process),
//! else that process.

use std::collections::HashMap;
use std::path::Path;

use warren_engine::paths::{Paths, netns_name};
use warren_netns::scan::NsRow;
use warren_store::{Kind, Store};

use crate::model::Owner;

/// warren's containers, pods and lab nodes by the name of their namespace under `/run/netns`.
pub type WarrenOwners = HashMap<String, Owner>;

/// warren's containers, pods and lab nodes, read from its store if there is one (never
/// creating it).
/// A store that cannot be read gives none: owners are a courtesy of the listing.
pub fn warren_owners() -> WarrenOwners {
    let paths = Paths::discover();
    if !paths.state.join(warren_store::DB_FILE).exists() {
        return WarrenOwners::new();
    }
    let Ok(mut store) = Store::open(&paths.state) else {
        return WarrenOwners::new();
    };
    let list = store
        .read::<_, warren_store::Error>(warren_store::list_containers)
        .unwrap_or_default();
    let mut out = WarrenOwners::new();
    for c in list {
        let kind = match c.kind {
            Kind::Container => "warren-container",
            Kind::Pod => "warren-pod",
        };
        let owner = Owner {
            kind: kind.to_owned(),
            name: c.name.clone(),
            id: Some(c.id.clone()),
        };
        if let Some(file) = c.netns.as_deref().and_then(|p| Path::new(p).file_name()) {
            out.insert(file.to_string_lossy().into_owned(), owner.clone());
        }
        out.insert(netns_name(&c.id), owner);
    }
    // Lab nodes: the namespaces each lab's builds recorded (`LAB-NODE`).
    let nodes = store
        .read::<_, warren_store::Error>(|tx| warren_store::lab_objects_of_kind(tx, "netns"))
        .unwrap_or_default();
    for (lab, o) in nodes {
        let node = o
            .name
            .strip_prefix(&format!("{lab}-"))
            .unwrap_or(&o.name)
            .to_owned();
        out.insert(
            o.name.clone(),
            Owner {
                kind: "lab-node".to_owned(),
                name: format!("{lab}/{node}"),
                id: None,
            },
        );
    }
    out
}

/// The owner of one scanned namespace.
pub fn owner_of(row: &NsRow, warren: &WarrenOwners) -> Option<Owner> {
    if let Some(o) = row.names.iter().find_map(|n| warren.get(n)) {
        return Some(o.clone());
    }
    if let Some(h) = &row.hint {
        let name = match (&h.id, &h.pod) {
            (Some(id), _) => short_id(id),
            (None, Some(pod)) => format!("pod {pod}"),
            (None, None) => String::new(),
        };
        return Some(Owner {
            kind: h.runtime.to_owned(),
            name,
            id: h.id.clone().or_else(|| h.pod.clone()),
        });
    }
    if row.current || !row.names.is_empty() {
        return None;
    }
    row.main.as_ref().map(|m| Owner {
        kind: "process".to_owned(),
        name: m.comm.clone(),
        id: Some(m.pid.to_string()),
    })
}

/// A long hex id cut to 12 characters, as Docker prints it.
fn short_id(id: &str) -> String {
    if id.len() > 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        id[..12].to_owned()
    } else {
        id.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids() {
        for (id, want) in [
            ("0123456789abcdef0123", "0123456789ab"),
            ("0123456789ab", "0123456789ab"),
            ("web-1", "web-1"),
            ("0123456789abcdefXYZ", "0123456789abcdefXYZ"),
        ] {
            assert_eq!(short_id(id), want, "{id}");
        }
    }
}
