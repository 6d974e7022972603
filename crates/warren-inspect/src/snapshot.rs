//! Reading one namespace, section by section: each section is read on its own and a failure
//! is kept in its place, so one unreadable part (e.g. no nf_tables) hides nothing else.

use std::collections::{HashMap, HashSet};

use warren_kernel::link::bridge::{FdbState, FdbTarget};
use warren_kernel::link::{Link, format_mac};
use warren_kernel::nft::Nft;
use warren_kernel::nft::print::ruleset_text;
use warren_kernel::route::{ALL, RouteFilter};
use warren_kernel::rule::table_name;
use warren_kernel::{Handle, conntrack, sockdiag, sysctl};

use crate::model::{
    AddrRow, CtRow, FdbRow, Inspection, LinkPeer, LinkRow, NeighRow, NftSection, NftTableRow,
    RouteRow, Section, SectionName, SocketRow, SysctlRow, TargetInfo,
};
use crate::peer;
use crate::target::Resolved;

type Names = HashMap<u32, String>;

fn section<T>(
    wanted: &[SectionName],
    name: SectionName,
    read: impl FnOnce() -> Result<T, String>,
) -> Section<T> {
    if !wanted.contains(&name) {
        return Section::Skipped;
    }
    match read() {
        Ok(t) => Section::Ok(t),
        Err(e) => Section::Failed(e),
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn name_of(names: &Names, index: u32) -> String {
    names
        .get(&index)
        .cloned()
        .unwrap_or_else(|| format!("if{index}"))
}

/// Read the `wanted` sections of the resolved target's namespace.
pub fn snapshot(r: &Resolved, wanted: &[SectionName]) -> Inspection {
    let target = TargetInfo {
        kind: r.kind,
        name: r.name.clone(),
        id: r.id.clone(),
        netns: r.netns.clone(),
        inode: r.ns.id().ino,
    };
    let handle =
        r.ns.try_clone()
            .and_then(Handle::new)
            .map_err(|e| e.to_string());
    let links: Result<Vec<Link>, String> = match &handle {
        Ok(h) => h.links().map_err(err),
        Err(e) => Err(e.clone()),
    };
    let names: Names = links
        .as_ref()
        .map(|ls| ls.iter().map(|l| (l.index, l.name.clone())).collect())
        .unwrap_or_default();
    let h = || handle.as_ref().map_err(Clone::clone);
    Inspection {
        target,
        links: section(wanted, SectionName::Links, || {
            link_rows(h()?, links.clone()?, &names)
        }),
        addrs: section(wanted, SectionName::Addrs, || {
            Ok(h()?
                .addrs(None)
                .map_err(err)?
                .into_iter()
                .map(|a| AddrRow {
                    dev: name_of(&names, a.index),
                    family: a.family.name().to_owned(),
                    local: a.net().to_string(),
                    scope: a.scope.to_string(),
                })
                .collect())
        }),
        routes: section(wanted, SectionName::Routes, || route_rows(h()?, &names)),
        rules: section(wanted, SectionName::Rules, || h()?.rules().map_err(err)),
        neigh: section(wanted, SectionName::Neigh, || {
            Ok(h()?
                .neighs(None)
                .map_err(err)?
                .into_iter()
                .map(|n| NeighRow {
                    dst: n.ip,
                    dev: name_of(&names, n.index),
                    lladdr: n.mac_string(),
                    state: n.state.to_string(),
                    router: n.router,
                })
                .collect())
        }),
        fdb: section(wanted, SectionName::Fdb, || {
            Ok(h()?
                .fdb_list(None)
                .map_err(err)?
                .into_iter()
                .map(|e| FdbRow {
                    mac: format_mac(&e.mac),
                    dev: name_of(&names, e.port),
                    master: e.master.map(|m| name_of(&names, m)),
                    vlan: e.vlan,
                    state: match e.state {
                        FdbState::Permanent => "permanent",
                        FdbState::Static => "static",
                        FdbState::Dynamic => "dynamic",
                    }
                    .to_owned(),
                    self_dev: e.target == FdbTarget::SelfDev,
                    dst: e.dst,
                })
                .collect())
        }),
        sockets: section(wanted, SectionName::Sockets, || socket_rows(r)),
        conntrack: section(wanted, SectionName::Conntrack, || {
            Ok(conntrack::entries(&r.ns)
                .map_err(err)?
                .into_iter()
                .map(|entry| CtRow {
                    text: entry.to_string(),
                    entry,
                })
                .collect())
        }),
        nft: section(wanted, SectionName::Nft, || {
            let rs = Nft::new(&r.ns).and_then(|n| n.ruleset()).map_err(err)?;
            Ok(NftSection {
                tables: rs
                    .tables
                    .iter()
                    .map(|t| NftTableRow {
                        family: t.family_name().to_owned(),
                        name: t.name.clone(),
                        chains: t.chains.len(),
                        sets: t
                            .sets
                            .iter()
                            .filter(|s| !warren_kernel::nft::print::is_anonymous(s))
                            .count(),
                        rules: t.chains.iter().map(|c| c.rules.len()).sum(),
                        warren: t.family == 1 && (t.name == "warren" || t.name == "warren-cni"),
                    })
                    .collect(),
                text: ruleset_text(&rs),
            })
        }),
        sysctls: section(wanted, SectionName::Sysctls, || {
            let mut ifs: Vec<String> = names.values().cloned().collect();
            ifs.sort();
            Ok(sysctl::routing(&r.ns, &ifs)
                .map_err(err)?
                .into_iter()
                .map(|(key, value)| SysctlRow { key, value })
                .collect())
        }),
    }
}

fn link_rows(h: &Handle, links: Vec<Link>, names: &Names) -> Result<Vec<LinkRow>, String> {
    let nsids: Vec<i32> = links.iter().filter_map(|l| l.link_netnsid).collect();
    let peers = if nsids.is_empty() {
        HashMap::new()
    } else {
        peer::resolve(h, &nsids)
    };
    // One handle per peer namespace, opened on first use.
    let mut handles: HashMap<i32, Option<Handle>> = HashMap::new();
    let mut rows = Vec::with_capacity(links.len());
    for l in links {
        let peer = match (l.link, l.link_netnsid) {
            (Some(idx), Some(nsid)) => {
                let p = peers.get(&nsid);
                let ph = handles.entry(nsid).or_insert_with(|| {
                    p.and_then(|p| p.ns.try_clone().ok())
                        .and_then(|ns| Handle::new(ns).ok())
                });
                Some(LinkPeer {
                    index: idx,
                    name: ph
                        .as_ref()
                        .and_then(|ph| ph.link_by_index(idx).ok())
                        .map(|pl| pl.name),
                    nsid: Some(nsid),
                    netns: p.map(|p| p.label.clone()),
                })
            }
            (Some(idx), None) if idx != l.index && idx != 0 => Some(LinkPeer {
                index: idx,
                name: names.get(&idx).cloned(),
                nsid: None,
                netns: None,
            }),
            _ => None,
        };
        rows.push(LinkRow {
            index: l.index,
            master: l.master.map(|m| name_of(names, m)),
            mac: l.mac_string(),
            name: l.name,
            kind: l.kind,
            flags: l.flags,
            operstate: l.operstate,
            mtu: l.mtu,
            peer,
        });
    }
    Ok(rows)
}

fn route_rows(h: &Handle, names: &Names) -> Result<Vec<RouteRow>, String> {
    let routes = h
        .routes(RouteFilter {
            table: Some(ALL),
            family: None,
        })
        .map_err(err)?;
    Ok(routes
        .into_iter()
        .map(|r| RouteRow {
            table: table_name(r.table),
            kind: r.kind.to_string(),
            dst: if r.dst.is_default() {
                "default".into()
            } else {
                r.dst.to_string()
            },
            gateway: r.gateway,
            dev: r.oif.map(|i| name_of(names, i)),
            protocol: r.protocol.to_string(),
            scope: r.scope.to_string(),
            metric: r.metric,
            prefsrc: r.prefsrc,
            nexthops: r
                .nexthops
                .iter()
                .map(|n| {
                    let mut s = String::new();
                    if let Some(v) = n.via {
                        s.push_str(&format!("via {v} "));
                    }
                    if let Some(d) = n.dev {
                        s.push_str(&format!("dev {} ", name_of(names, d)));
                    }
                    s.push_str(&format!("weight {}", n.weight));
                    s
                })
                .collect(),
        })
        .collect())
}

fn socket_rows(r: &Resolved) -> Result<Vec<SocketRow>, String> {
    let socks = sockdiag::sockets(&r.ns).map_err(err)?;
    let inodes: HashSet<u64> = socks.iter().map(|s| s.inode).filter(|i| *i != 0).collect();
    let mut owners = sockdiag::owners(&inodes);
    Ok(socks
        .into_iter()
        .map(|s| SocketRow {
            proto: s.proto.name().to_owned(),
            state: s.state_name().to_owned(),
            local: s.local,
            peer: s.peer,
            recv_q: s.rqueue,
            send_q: s.wqueue,
            processes: owners.remove(&s.inode).unwrap_or_default(),
            inode: s.inode,
        })
        .collect())
}
