//! `warren lab down`: remove what a lab's builds recorded, never anything else. Namespaces
//! are deleted only if their inode is the one recorded (or, when an `up` crashed before the
//! inode was written, if their `lo` carries the lab's marker altname); host interfaces only
//! if they carry the lab's `warren-lab.LAB.NODE.IF` altname; the host's masquerade elements
//! of the lab are removed (the table too once no lab has one). Teardown goes on past errors
//! and reports them all; rows are forgotten only for what is gone.

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;
use warren_kernel::addr::IpNet;
use warren_kernel::nft::Nft;
use warren_kernel::nft::firewall::Firewall;
use warren_kernel::{Handle, netns};
use warren_store::{LabObject, Store};

use crate::error::{Error, Result};
use crate::model::{End, Lab, Node};
use crate::plan::{Plan, link_key};
use crate::state::{self, HostLinkRecord, NetnsRecord};

/// What `down` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DownReport {
    /// The lab.
    pub lab: String,
    /// Namespaces deleted.
    pub namespaces: usize,
    /// Host interfaces deleted.
    pub host_links: usize,
    /// Host masquerade elements removed.
    pub masquerade: usize,
    /// Objects of the lab's names that warren did not make, left alone.
    pub left_alone: Vec<String>,
    /// Wall time, in seconds.
    pub seconds: f64,
}

/// Remove lab `name` and everything its builds made (also after a crash in the middle of an
/// `up`).
pub fn down(store: &mut Store, name: &str) -> Result<DownReport> {
    let start = Instant::now();
    crate::build::timing("lab-down");
    if state::row(store, name)?.is_none() {
        return Err(Error::NoSuchLab(name.to_owned()));
    }
    let objects = store
        .read(|tx| warren_store::lab_objects(tx, name, None))
        .map_err(Error::store(name))?;
    let of =
        |k: &str| -> Vec<LabObject> { objects.iter().filter(|o| o.kind == k).cloned().collect() };
    let mut report = DownReport {
        lab: name.to_owned(),
        ..DownReport::default()
    };
    let mut errors = Vec::new();
    let host = Handle::current().map_err(Error::kernel(name, "open the host namespace"))?;
    crate::build::timing("lab-down-read");
    match remove_host_links(store, &host, name, &of(state::HOSTLINK)) {
        Ok((n, left)) => {
            report.host_links = n;
            report.left_alone.extend(left);
        }
        Err(e) => errors.push(e),
    }
    match remove_masq(store, &host, name, &of(state::MASQ)) {
        Ok(n) => report.masquerade = n,
        Err(e) => errors.push(e),
    }
    crate::build::timing("lab-down-host");
    match delete_netns_records(store, name, &of(state::NETNS), true) {
        Ok((n, left)) => {
            report.namespaces = n;
            report.left_alone.extend(left);
        }
        Err(e) => errors.push(e),
    }
    if !of(state::FORWARDING).is_empty() {
        let r = state::forget(store, name, state::FORWARDING, &["ipv4".into()])
            .and_then(|()| crate::nat::forwarding_release(store, name, host.ns()));
        if let Err(e) = r {
            errors.push(e);
        }
    }
    crate::build::timing("lab-down-netns");
    if errors.is_empty() {
        store
            .write(|tx| warren_store::lab_delete(tx, name))
            .map_err(Error::store(name))?;
        report.seconds = start.elapsed().as_secs_f64();
        crate::build::timing("lab-down-done");
        return Ok(report);
    }
    Err(Error::Teardown {
        lab: name.to_owned(),
        errors,
    })
}

/// Delete the host interfaces recorded in `objs` that carry their marker; returns how many
/// were deleted and the ones left alone. Rows of interfaces gone or not ours are forgotten.
fn remove_host_links(
    store: &mut Store,
    host: &Handle,
    lab: &str,
    objs: &[LabObject],
) -> Result<(usize, Vec<String>)> {
    let mut reqs = Vec::new();
    let mut forget = Vec::new();
    let mut left = Vec::new();
    for o in objs {
        let rec: HostLinkRecord = match serde_json::from_str(&o.data) {
            Ok(r) => r,
            Err(_) => HostLinkRecord {
                altname: String::new(),
                ifindex: None,
            },
        };
        match host.link_get(&o.name) {
            Ok(l) if !rec.altname.is_empty() && l.altnames.contains(&rec.altname) => {
                reqs.push(warren_kernel::link::set::del_index_request(
                    l.index, &o.name,
                ));
            }
            Ok(_) => left.push(format!("host interface {}", o.name)),
            Err(warren_kernel::Error::NotFound { .. }) => {}
            Err(e) => {
                return Err(Error::kernel(
                    lab,
                    format!("find host interface {}", o.name),
                )(e));
            }
        }
        forget.push(o.name.clone());
    }
    let n = reqs.len();
    for r in host.execute(reqs) {
        match r {
            Err(e) if e.errno() != Some(nix::errno::Errno::ENODEV) => {
                return Err(Error::kernel(lab, "delete host interfaces")(e));
            }
            _ => {}
        }
    }
    state::forget(store, lab, state::HOSTLINK, &forget)?;
    Ok((n, left))
}

/// Remove the lab's uplink subnets from the host's masquerade set (those no other lab also
/// has), and the table once no lab has any.
fn remove_masq(store: &mut Store, host: &Handle, lab: &str, objs: &[LabObject]) -> Result<usize> {
    if objs.is_empty() {
        return Ok(0);
    }
    let all = store
        .read(|tx| warren_store::lab_objects_of_kind(tx, state::MASQ))
        .map_err(Error::store(lab))?;
    let mine: BTreeSet<&str> = objs.iter().map(|o| o.name.as_str()).collect();
    // Elements that stay: other labs' (the same subnet may be theirs too) and this lab's
    // other uplinks.
    let others: BTreeSet<&str> = all
        .iter()
        .filter(|(l, o)| l != lab || !mine.contains(o.name.as_str()))
        .map(|(_, o)| o.name.as_str())
        .collect();
    let fw = Firewall::new(crate::nat::TABLE);
    let what = "remove the lab's masquerade from the host";
    let nft = Nft::new(host.ns()).map_err(Error::kernel(lab, what))?;
    let mut n = 0;
    if fw.exists(&nft).map_err(Error::kernel(lab, what))? {
        for o in objs.iter().filter(|o| !others.contains(o.name.as_str())) {
            let Ok(net) = o.name.parse::<IpNet>() else {
                continue;
            };
            let batch = fw
                .masquerade(&[net], false)
                .map_err(Error::kernel(lab, what))?;
            match nft.apply(&batch) {
                Ok(()) => n += 1,
                // Already gone (someone flushed the table's elements).
                Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => {}
                Err(e) => return Err(Error::kernel(lab, what)(e)),
            }
        }
        if others.is_empty() {
            nft.apply(&fw.uninstall())
                .map_err(Error::kernel(lab, "remove table inet warren-lab"))?;
        }
    }
    let names: Vec<String> = objs.iter().map(|o| o.name.clone()).collect();
    state::forget(store, lab, state::MASQ, &names)?;
    Ok(n)
}

/// Delete the namespaces recorded in `objs` that are provably the lab's; returns how many
/// were deleted and those left alone.
pub(crate) fn delete_netns_records(
    store: &mut Store,
    lab: &str,
    objs: &[LabObject],
    whole: bool,
) -> Result<(usize, Vec<String>)> {
    let group = state::netns_group(lab);
    let mut deleted = 0;
    let mut left = Vec::new();
    let mut forget = Vec::new();
    let mut errors = Vec::new();
    // Which are provably ours (cheap checks, in order), then those deleted all together: the
    // lab's own (linked to its group) and any made directly under /run/netns (by warren
    // before groups).
    let mut grouped = Vec::new();
    let mut direct = Vec::new();
    let mut dissolved = BTreeSet::new();
    if whole {
        // One unmount for all of them; a leftover of a crashed `up` goes with them.
        match group.dissolve() {
            Ok(names) => dissolved.extend(names),
            Err(e) => errors.push(Error::kernel(
                lab,
                format!("remove the namespace directory {}", group.dir().display()),
            )(e)),
        }
    }
    for o in objs {
        if dissolved.contains(&o.name) {
            deleted += 1;
            forget.push(o.name.clone());
            continue;
        }
        if group.holds(&o.name) {
            grouped.push(o.name.as_str());
            continue;
        }
        let rec: NetnsRecord = state::data(o);
        let path = netns::named_path(&o.name);
        let ours = match (rec.inode, state::ns_inode(&path)) {
            (_, None) => {
                forget.push(o.name.clone());
                continue;
            }
            (Some(want), Some(have)) => want == have && netns::is_live_mount(&path),
            (None, Some(_)) => netns::is_live_mount(&path) && marked(lab, &rec.node, &o.name),
        };
        if ours {
            direct.push(o.name.as_str());
        } else {
            left.push(format!("namespace {}", o.name));
            forget.push(o.name.clone());
        }
    }
    let mut outcome = |name: &str, r: warren_kernel::Result<()>| match r {
        Ok(()) => {
            deleted += 1;
            forget.push(name.to_owned());
        }
        Err(e) => errors.push(Error::kernel(lab, format!("delete namespace {name}"))(e)),
    };
    for (name, r) in direct.iter().zip(netns::delete_named_many(&direct)) {
        outcome(name, r);
    }
    for (name, r) in grouped.iter().zip(group.delete_many(&grouped)) {
        outcome(name, r);
    }
    state::forget(store, lab, state::NETNS, &forget)?;
    if errors.is_empty() {
        Ok((deleted, left))
    } else {
        Err(Error::Teardown {
            lab: lab.to_owned(),
            errors,
        })
    }
}

/// Whether namespace `name`'s `lo` carries lab `lab`'s marker for `node`.
fn marked(lab: &str, node: &str, name: &str) -> bool {
    let want = state::netns_marker(lab, node);
    netns::NetNs::open_named(name)
        .and_then(Handle::new)
        .and_then(|h| h.link_get("lo"))
        .is_ok_and(|l| l.altnames.contains(&want))
}

/// Delete the namespaces of `nodes` (removed or re-created by a re-apply), by their records.
pub(crate) fn delete_namespaces(store: &mut Store, lab: &str, nodes: &[&Node]) -> Result<()> {
    if nodes.is_empty() {
        return Ok(());
    }
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.netns.as_str()).collect();
    let objs: Vec<LabObject> = store
        .read(|tx| warren_store::lab_objects(tx, lab, Some(state::NETNS)))
        .map_err(Error::store(lab))?
        .into_iter()
        .filter(|o| names.contains(o.name.as_str()))
        .collect();
    let (_, left) = delete_netns_records(store, lab, &objs, false)?;
    match left.first() {
        Some(o) => Err(Error::NotOurs {
            lab: lab.to_owned(),
            object: o.clone(),
        }),
        None => Ok(()),
    }
}

/// The host side of links a re-apply removes: their host interfaces (by their records and
/// markers) and their uplinks' masquerade elements.
pub(crate) fn remove_links_host_side(
    store: &mut Store,
    host: &Handle,
    old: &Lab,
    plan: &Plan,
) -> Result<()> {
    let mut ifnames = BTreeSet::new();
    let mut masq = BTreeSet::new();
    for l in &old.links {
        if !plan.remove_links.contains(&link_key(old, l)) {
            continue;
        }
        for e in &l.ends {
            match e {
                End::HostBridge { ifname, .. } => {
                    ifnames.insert(ifname.clone());
                }
                End::HostUplink { ifname, address } => {
                    ifnames.insert(ifname.clone());
                    masq.insert(address.network().to_string());
                }
                _ => {}
            }
        }
    }
    if ifnames.is_empty() {
        return Ok(());
    }
    let objs = store
        .read(|tx| warren_store::lab_objects(tx, &old.name, None))
        .map_err(Error::store(&old.name))?;
    let links: Vec<LabObject> = objs
        .iter()
        .filter(|o| o.kind == state::HOSTLINK && ifnames.contains(&o.name))
        .cloned()
        .collect();
    let masqs: Vec<LabObject> = objs
        .iter()
        .filter(|o| o.kind == state::MASQ && masq.contains(&o.name))
        .cloned()
        .collect();
    remove_host_links(store, host, &old.name, &links)?;
    remove_masq(store, host, &old.name, &masqs)?;
    Ok(())
}
