//! NAT nodes: the node masquerades its LANs out of its uplink (table `inet warren-lab` in its
//! own namespace); the host masquerades the uplink subnets (table `inet warren-lab` in the
//! host, shared by all labs, an element per uplink) and forwards while a lab needs it.
//! Everything over nf_tables netlink ([`warren_kernel::nft`]).

use warren_kernel::addr::IpNet;
use warren_kernel::nft::Nft;
use warren_kernel::nft::firewall::Firewall;
use warren_kernel::{NetNs, sysctl};
use warren_store::Store;

use crate::build::Build;
use crate::error::{Error, Result};
use crate::model::{End, Node, NodeKind};
use crate::state;

/// The labs' nftables table (family `inet`), in the host and in NAT nodes.
pub const TABLE: &str = "warren-lab";

/// The sysctl a NAT lab needs on in the host, and the meta key its saved value lives under
/// (the same key warren's networks use, so both put back the one value found first).
const FORWARD: &str = "net.ipv4.ip_forward";
const SAVED: &str = "saved:net.ipv4.ip_forward";

/// A NAT node's LAN subnets: the networks of its addresses on links that are not its uplink.
pub fn lan_subnets(lab: &crate::model::Lab, n: &Node) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = Vec::new();
    for i in &n.interfaces {
        let uplink = lab
            .links
            .get(i.link)
            .is_some_and(|l| l.ends.iter().any(|e| matches!(e, End::HostUplink { .. })));
        if uplink {
            continue;
        }
        for a in &i.addresses {
            let net = a.network();
            if !out.contains(&net) {
                out.push(net);
            }
        }
    }
    out
}

/// Masquerade in the new NAT nodes, and follow the LANs of the kept ones (a LAN address
/// changed, a LAN link added or removed); then on the host for the new uplinks (recorded
/// first), forwarding on.
pub(crate) fn apply(b: &mut Build<'_>, fresh: &[&Node], added: &[usize]) -> Result<()> {
    let lab = b.lab();
    let fw = Firewall::new(TABLE);
    let mut work: Vec<(&Node, Vec<IpNet>, Vec<IpNet>)> = Vec::new();
    for n in lab.nodes.iter().filter(|n| n.kind == NodeKind::Nat) {
        let now = lan_subnets(lab, n);
        if fresh.iter().any(|f| f.name == n.name) {
            work.push((n, now, Vec::new()));
            continue;
        }
        let before = b
            .old_lab()
            .and_then(|old| Some(lan_subnets(old, old.node(&n.name)?)))
            .unwrap_or_default();
        let gone: Vec<IpNet> = before
            .iter()
            .filter(|s| !now.contains(s))
            .copied()
            .collect();
        let new: Vec<IpNet> = now.into_iter().filter(|s| !before.contains(s)).collect();
        if !gone.is_empty() || !new.is_empty() {
            work.push((n, new, gone));
        }
    }
    for (n, add, remove) in work {
        let ns = b.open_node(&n.name)?;
        let what = format!("masquerade in NAT node {}", n.name);
        let nft = Nft::new(ns).map_err(Error::kernel(&lab.name, what.clone()))?;
        fw.ensure(&nft)
            .map_err(Error::kernel(&lab.name, what.clone()))?;
        for (subnets, on) in [(remove, false), (add, true)] {
            if subnets.is_empty() {
                continue;
            }
            let batch = fw
                .masquerade(&subnets, on)
                .map_err(Error::kernel(&lab.name, what.clone()))?;
            nft.apply(&batch)
                .map_err(Error::kernel(&lab.name, what.clone()))?;
        }
    }
    let uplinks: Vec<IpNet> = added
        .iter()
        .flat_map(|&li| lab.links[li].ends.iter())
        .filter_map(|e| match e {
            End::HostUplink { address, .. } => Some(address.network()),
            _ => None,
        })
        .collect();
    if uplinks.is_empty() {
        return Ok(());
    }
    let mut records: Vec<_> = uplinks
        .iter()
        .map(|n| state::object(state::MASQ, &n.to_string(), &()))
        .collect();
    records.push(state::object(state::FORWARDING, "ipv4", &()));
    state::record(b.store(), &lab.name, &records)?;
    let what = "masquerade the uplinks on the host";
    let nft = Nft::new(b.host().ns()).map_err(Error::kernel(&lab.name, what))?;
    fw.ensure(&nft).map_err(Error::kernel(&lab.name, what))?;
    let batch = fw
        .masquerade(&uplinks, true)
        .map_err(Error::kernel(&lab.name, what))?;
    nft.apply(&batch).map_err(Error::kernel(&lab.name, what))?;
    let host = b
        .host()
        .ns()
        .try_clone()
        .map_err(Error::kernel(&lab.name, "open the host namespace"))?;
    forwarding_on(b.store(), &lab.name, &host)
}

/// Turn IPv4 forwarding on in the host, saving the value found (once).
fn forwarding_on(store: &mut Store, lab: &str, host: &NetNs) -> Result<()> {
    let now = sysctl::get(host, FORWARD).map_err(Error::kernel(lab, format!("read {FORWARD}")))?;
    if now == "1" {
        return Ok(());
    }
    let saved = store
        .read(|tx| warren_store::get_meta(tx, SAVED))
        .map_err(Error::store(lab))?;
    if saved.is_none() {
        store
            .write(|tx| warren_store::set_meta(tx, SAVED, Some(&now)))
            .map_err(Error::store(lab))?;
    }
    sysctl::set(host, FORWARD, "1").map_err(Error::kernel(lab, format!("set {FORWARD}=1")))
}

/// After lab `lab` forgot its need: put the host's forwarding back when no lab and no
/// warren network or CNI attachment routed through the host needs it.
pub(crate) fn forwarding_release(store: &mut Store, lab: &str, host: &NetNs) -> Result<()> {
    let (others, nets, (cni4, _)) = store
        .read(|tx| {
            Ok::<_, warren_store::Error>((
                warren_store::lab_objects_of_kind(tx, state::FORWARDING)?,
                warren_store::list_networks(tx)?,
                warren_store::cni_routed_families(tx)?,
            ))
        })
        .map_err(Error::store(lab))?;
    let networks = nets.iter().any(|n| {
        n.driver == "bridge" && !n.internal && n.subnets.iter().any(|s| s.net.addr.is_ipv4())
    });
    if others.iter().any(|(l, _)| l != lab) || networks || cni4 {
        return Ok(());
    }
    let saved = store
        .read(|tx| warren_store::get_meta(tx, SAVED))
        .map_err(Error::store(lab))?;
    if let Some(v) = saved {
        sysctl::set(host, FORWARD, &v)
            .map_err(Error::kernel(lab, format!("restore {FORWARD}={v}")))?;
        store
            .write(|tx| warren_store::set_meta(tx, SAVED, None))
            .map_err(Error::store(lab))?;
    }
    Ok(())
}
