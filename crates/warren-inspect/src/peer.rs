//! Which namespace an nsid stands for. A link's `IFLA_LINK_NETNSID` is an id the inspected
//! namespace gave to another one; the kernel answers `RTM_GETNSID` for a namespace we hold
//! open, so candidates are opened and asked in turn: the named namespaces under
//! `/run/netns`, the host's (PID 1's), and — only while an id is still unknown — every
//! namespace a host-wide scan finds (through its main process).

use std::collections::HashMap;

use warren_kernel::{Handle, NetNs};

/// A namespace an nsid was found to stand for.
pub(crate) struct Peer {
    /// How to call it.
    pub label: String,
    /// It, open.
    pub ns: NetNs,
}

/// Find the namespaces behind `nsids` (as seen from `h`'s namespace).
pub(crate) fn resolve(h: &Handle, nsids: &[i32]) -> HashMap<i32, Peer> {
    let mut out: HashMap<i32, Peer> = HashMap::new();
    let mut want: Vec<i32> = nsids.to_vec();
    want.sort_unstable();
    want.dedup();
    let try_ns = |label: String, ns: NetNs, out: &mut HashMap<i32, Peer>| {
        if let Ok(Some(id)) = h.nsid_of(&ns)
            && want.contains(&id)
            && !out.contains_key(&id)
        {
            out.insert(id, Peer { label, ns });
        }
    };
    let mut names = warren_netns::named::names().unwrap_or_default();
    names.sort();
    for name in names {
        if out.len() == want.len() {
            return out;
        }
        if let Ok(ns) = NetNs::open_named(&name) {
            try_ns(name, ns, &mut out);
        }
    }
    if out.len() < want.len()
        && let Ok(ns) = NetNs::open_pid(1)
    {
        try_ns("host".into(), ns, &mut out);
    }
    if out.len() < want.len()
        && let Ok(rows) = warren_netns::scan::all()
    {
        for row in rows {
            if out.len() == want.len() {
                break;
            }
            let Some(main) = &row.main else { continue };
            let Ok(ns) = NetNs::open_pid(main.pid) else {
                continue;
            };
            let label = match &row.hint {
                Some(hint) => match &hint.id {
                    Some(id) => format!("{} {}", hint.runtime, &id[..id.len().min(12)]),
                    None => format!("pid:{}", main.pid),
                },
                None => format!("pid:{}", main.pid),
            };
            try_ns(label, ns, &mut out);
        }
    }
    out
}
