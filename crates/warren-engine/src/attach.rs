//! Wiring a namespace someone else made: the building blocks the CNI plugins use, the same
//! ones `warren run` wires its own namespaces with (bridges with their gateway addresses,
//! loopback and hairpin support; veths whose peer is created directly inside; addresses
//! and routes inside).
//!
//! Every function here is one step; the caller keeps the undo log (a CNI ADD undoes what it
//! did when a later step fails).

use std::net::IpAddr;

use warren_kernel::Handle;
use warren_kernel::addr::{AddrSpec, IpNet};
use warren_kernel::link::bridge::BridgePortOptions;
use warren_kernel::link::veth::Veth;
use warren_kernel::route::RouteSpec;
use warren_store::{Network, Subnet};

use crate::error::{Error, Result};
use crate::wire;

/// A bridge as a CNI network wants it.
#[derive(Debug, Clone, Default)]
pub struct BridgeSpec {
    /// The bridge's name.
    pub name: String,
    /// Its MTU when it is created.
    pub mtu: Option<u32>,
    /// Addresses to hold (gateway with the subnet's prefix); added if missing.
    pub gateways: Vec<IpNet>,
    /// Promiscuous mode on.
    pub promisc: bool,
}

/// Make bridge `spec.name` exist and be up, holding the gateway addresses (kept if already
/// there). A bridge made now gets what published ports need (`route_localnet` for IPv4
/// loopback clients, the `::1` reply route for IPv6 ones). Returns whether it was created.
pub fn ensure_bridge(host: &Handle, spec: &BridgeSpec) -> Result<bool> {
    let net = Network {
        id: 0,
        name: spec.name.clone(),
        driver: "bridge".into(),
        iface: spec.name.clone(),
        mode: None,
        mtu: spec.mtu,
        internal: false,
        subnets: spec
            .gateways
            .iter()
            .map(|g| Subnet {
                net: g.network(),
                gateway: Some(g.addr),
                range: None,
            })
            .collect(),
        created: 0,
    };
    let created = wire::ensure_bridge(host, &net)?;
    if !created {
        // An existing bridge may lack this network's gateway (another subnet's bridge).
        let idx = host
            .link_index(&spec.name)
            .map_err(Error::kernel(format!("look up bridge {}", spec.name)))?;
        for g in &spec.gateways {
            add_address(host, idx, *g, false)?;
        }
    }
    if spec.promisc {
        host.link_set(
            &spec.name,
            &warren_kernel::link::set::LinkChange {
                promisc: Some(true),
                ..Default::default()
            },
        )
        .map_err(Error::kernel(format!("set bridge {} promisc", spec.name)))?;
    }
    Ok(created)
}

/// A veth whose peer is created inside the container's namespace.
#[derive(Debug, Clone, Default)]
pub struct VethSpec {
    /// The host side's name.
    pub host_if: String,
    /// The name inside.
    pub ifname: String,
    /// The bridge the host side joins, if any.
    pub bridge: Option<String>,
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// The MAC address inside.
    pub mac: Option<[u8; 6]>,
    /// Hairpin on the bridge port.
    pub hairpin: bool,
    /// Isolated bridge port (talks only to non-isolated ports).
    pub isolated: bool,
}

/// Create the veth of `spec`: host side up (and a port of its bridge), the peer made
/// directly inside `inner` and set up there.
pub fn add_veth(host: &Handle, inner: &Handle, spec: &VethSpec) -> Result<()> {
    let mut v = Veth::new(spec.host_if.clone(), spec.ifname.clone())
        .peer_netns(inner.ns())
        .up();
    if let Some(br) = &spec.bridge {
        let idx = host
            .link_index(br)
            .map_err(Error::kernel(format!("look up bridge {br}")))?;
        v = v.master(idx);
    }
    if let Some(mtu) = spec.mtu {
        v = v.mtu(mtu);
    }
    if let Some(mac) = spec.mac {
        v = v.peer_mac(mac);
    }
    let created = match host.link_add(&v) {
        // A DEL of the same attachment left its host side retired under this name, its
        // deleter not run yet: delete it now and create again.
        Err(e) if e.errno() == Some(nix::errno::Errno::EEXIST) => {
            clear_retired_host(host, &spec.host_if)?;
            host.link_add(&v)
        }
        r => r,
    };
    created.map_err(Error::kernel(format!(
        "create veth {} (peer {} in {})",
        spec.host_if,
        spec.ifname,
        inner.ns().label()
    )))?;
    let done = (|| {
        if spec.bridge.is_some() && (spec.hairpin || spec.isolated) {
            host.bridge_port_set(
                &spec.host_if,
                &BridgePortOptions {
                    hairpin: spec.hairpin.then_some(true),
                    isolated: spec.isolated.then_some(true),
                    ..Default::default()
                },
            )
            .map_err(Error::kernel(format!(
                "set bridge port options on {}",
                spec.host_if
            )))?;
        }
        inner
            .link_set_up(&spec.ifname)
            .map_err(Error::kernel(format!(
                "set {} up in {}",
                spec.ifname,
                inner.ns().label()
            )))
    })();
    if done.is_err() {
        let _ = host.link_del(&spec.host_if);
    }
    done
}

/// Add `addr` (with its prefix) to the link with index `idx`; an address already there is
/// fine. IPv6 addresses skip duplicate address detection unless `dad`.
pub fn add_address(h: &Handle, idx: u32, addr: IpNet, dad: bool) -> Result<()> {
    let spec = AddrSpec::new(idx, addr);
    let spec = if addr.addr.is_ipv6() && !dad {
        spec.nodad()
    } else {
        spec
    };
    match h.addr_add_spec(&spec) {
        Ok(()) => Ok(()),
        Err(e) if e.errno() == Some(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(Error::kernel(format!(
            "add {}/{} in {}",
            addr.addr,
            addr.prefix,
            h.ns().label()
        ))(e)),
    }
}

/// A route to add inside: `dst` via `gw` (or directly on the link when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTo {
    /// Destination.
    pub dst: IpNet,
    /// Next hop.
    pub gw: Option<IpAddr>,
}

/// Give `ifname` inside `inner` its addresses, then its routes (in order: a route via a
/// gateway needs the gateway's subnet first). An address already there is fine; a route
/// already there is an error.
pub fn configure(
    inner: &Handle,
    ifname: &str,
    addrs: &[IpNet],
    routes: &[RouteTo],
    dad: bool,
) -> Result<()> {
    let idx = inner.link_index(ifname).map_err(Error::kernel(format!(
        "look up {ifname} in {}",
        inner.ns().label()
    )))?;
    for a in addrs {
        add_address(inner, idx, *a, dad)?;
    }
    for r in routes {
        let mut spec = RouteSpec::to(r.dst).dev(idx);
        if let Some(gw) = r.gw {
            spec = spec.via(gw);
        }
        inner.route_add(&spec).map_err(Error::kernel(format!(
            "add route {}/{}{} on {ifname} in {}",
            r.dst.addr,
            r.dst.prefix,
            r.gw.map(|g| format!(" via {g}")).unwrap_or_default(),
            inner.ns().label()
        )))?;
    }
    Ok(())
}

/// Delete link `ifname` inside the namespace file `ns_path`; a missing namespace or link is
/// fine.
pub fn delete_inner_link(ns_path: &str, ifname: &str) -> Result<()> {
    wire::delete_inner_link(ns_path, ifname)
}

/// Delete a host link; a missing one is fine.
pub fn delete_host_link(host: &Handle, name: &str) -> Result<()> {
    wire::delete_host_link(host, name)
}

/// Prefix of veths taken out of service and renamed while waiting to be deleted
/// ([`retire_veth`], when the host side is no bridge port).
pub const RETIRED_PREFIX: &str = "wz";

/// The alias ([`warren_kernel::link::Link::alias`]) of a veth's host side that
/// [`retire_veth`] took out of service; `ip link` shows it.
pub const RETIRED_ALIAS: &str = "warren: retired, to be deleted";

/// A veth taken out of service by [`retire_veth`], waiting to be deleted: its host side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    /// The host side's index (deletion goes by index: the name may be taken again).
    pub index: u32,
    /// The host side's name now.
    pub name: String,
}

impl Retired {
    /// `INDEX:NAME`, as the deleter process takes it on its command line.
    pub fn to_arg(&self) -> String {
        format!("{}:{}", self.index, self.name)
    }

    /// The retired link `l`, as it is now.
    pub fn of(l: &warren_kernel::link::Link) -> Retired {
        Retired {
            index: l.index,
            name: l.name.clone(),
        }
    }

    /// Parse [`Retired::to_arg`]'s form.
    pub fn from_arg(s: &str) -> Option<Retired> {
        let (i, n) = s.split_once(':')?;
        Some(Retired {
            index: i.parse().ok().filter(|&i| i > 0)?,
            name: n.to_owned(),
        })
    }
}

/// Take a veth out of service at once, leaving only its deletion for later. Deleting a veth
/// costs tens of milliseconds (the kernel waits for RCU while unregistering it), so callers
/// on a latency-critical path (CNI DEL) hand the result to a process that deletes it
/// ([`delete_retired`]); a veth whose namespace is deleted goes with the namespace anyway.
///
/// - A host side that is a bridge port gets the alias [`RETIRED_ALIAS`] and its port is
///   disabled: the bridge forwards nothing to or from it (the container is cut off), and
///   neither step waits for the kernel. It keeps its name until it is deleted: an ADD that
///   needs the name deletes it first ([`clear_retired_host`]).
/// - Any other host side (ptp), or a port the kernel will not disable (the bridge runs the
///   kernel's STP), is set down (the container side loses its carrier) and renamed to `wz` +
///   12 hex digits, which frees its name at once; each step waits for an RCU grace period.
///
/// The container side keeps its name until the deletion: an ADD that finds it there and
/// retired ([`is_retired_peer`]) deletes the pair itself. A missing host side is fine
/// (`None`: nothing left to delete).
pub fn retire_veth(host: &Handle, host_if: &str) -> Result<Option<Retired>> {
    use warren_kernel::link::port::PortState;
    use warren_kernel::link::set::LinkChange;
    let what = format!("retire {host_if} in {}", host.ns().label());
    let link = match host.link_get(host_if) {
        Ok(l) => l,
        Err(e) if wire::gone(&e) => return Ok(None),
        Err(e) => return Err(Error::kernel(what)(e)),
    };
    if link.master.is_some() {
        // The alias first: setting it notifies NETDEV_CHANGE, on which the bridge enables
        // a disabled port whose link is up.
        let mark = LinkChange {
            alias: Some(RETIRED_ALIAS.into()),
            ..LinkChange::default()
        };
        let marked = warren_kernel::link::set::change_request(link.index, host_if, &mark)
            .and_then(|req| host.ack(req));
        match marked {
            Ok(()) => {}
            Err(e) if wire::gone(&e) => return Ok(None),
            Err(e) => return Err(Error::kernel(what)(e)),
        }
        match host.link_set_port_state(link.index, host_if, PortState::Disabled) {
            Ok(()) => return Ok(Some(Retired::of(&link))),
            Err(e) if wire::gone(&e) => return Ok(None),
            // EBUSY under the kernel's STP: set down and renamed instead.
            Err(_) => {}
        }
    }
    let doomed = retired_name();
    Ok(retire_link(host, &link, &doomed)?.then_some(Retired {
        index: link.index,
        name: doomed,
    }))
}

/// Whether `l`, a host-side link, was retired by [`retire_veth`].
pub fn is_retired(l: &warren_kernel::link::Link) -> bool {
    (l.name.starts_with(RETIRED_PREFIX) && l.name.len() == 14 && !l.up)
        || l.alias.as_deref() == Some(RETIRED_ALIAS)
}

/// Whether `ifname` inside `inner` is a veth whose host side (in `host`) was retired: the
/// leftover of a DEL whose deleter has not run yet. Deleting it is then safe.
pub fn is_retired_peer(host: &Handle, inner: &Handle, ifname: &str) -> bool {
    let Ok(l) = inner.link_get(ifname) else {
        return false;
    };
    if l.kind.as_deref() != Some("veth") {
        return false;
    }
    l.link
        .and_then(|peer| host.link_by_index(peer).ok())
        .is_some_and(|p| is_retired(&p))
}

/// Before an ADD creates the host side `host_if`: a retired veth still holding that name (a
/// DEL of the same attachment whose deleter has not run yet) is deleted now. Anything else
/// with the name is left for the creation to report.
pub fn clear_retired_host(host: &Handle, host_if: &str) -> Result<()> {
    match host.link_get(host_if) {
        Ok(l) if is_retired(&l) => delete_by_index(host, &Retired::of(&l)),
        _ => Ok(()),
    }
}

/// Delete a veth [`retire_veth`] retired, by index, if the link there still has the name and
/// is still retired (so nothing else is ever deleted); a missing one is fine.
pub fn delete_retired(host: &Handle, r: &Retired) -> Result<()> {
    let l = match host.link_by_index(r.index) {
        Ok(l) => l,
        Err(e) if wire::gone(&e) => return Ok(()),
        Err(e) => {
            return Err(Error::kernel(format!(
                "look up retired {} in {}",
                r.name,
                host.ns().label()
            ))(e));
        }
    };
    if l.name != r.name || !is_retired(&l) {
        return Ok(());
    }
    delete_by_index(host, r)
}

/// Delete the link at `r.index`, which the caller just saw retired; a missing one is fine.
fn delete_by_index(host: &Handle, r: &Retired) -> Result<()> {
    let req = warren_kernel::link::set::del_index_request(r.index, &r.name);
    match host.ack(req) {
        Ok(()) => Ok(()),
        Err(e) if wire::gone(&e) => Ok(()),
        Err(e) => Err(Error::kernel(format!(
            "delete retired {} in {}",
            r.name,
            host.ns().label()
        ))(e)),
    }
}

/// Set `link` down and rename it to `new` (two requests: the kernel renames no running
/// link); false when it is gone.
fn retire_link(h: &Handle, link: &warren_kernel::link::Link, new: &str) -> Result<bool> {
    use warren_kernel::link::set::{LinkChange, change_request};
    let name = &link.name;
    let what = format!("retire {name} in {}", h.ns().label());
    match h.ack(warren_kernel::link::up_request(link.index, false, name)) {
        Ok(()) => {}
        Err(e) if wire::gone(&e) => return Ok(false),
        Err(e) => return Err(Error::kernel(what)(e)),
    }
    let rename = LinkChange {
        name: Some(new.to_owned()),
        ..LinkChange::default()
    };
    match change_request(link.index, name, &rename).and_then(|req| h.ack(req)) {
        Ok(()) => Ok(true),
        Err(e) if wire::gone(&e) => Ok(false),
        Err(e) => Err(Error::kernel(what)(e)),
    }
}

/// A fresh `wz…` name: 48 bits from the clock and the process id, mixed.
fn retired_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut x = nanos ^ (u64::from(std::process::id()) << 32);
    // splitmix64 finalizer.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    format!("{RETIRED_PREFIX}{:012x}", x & 0xffff_ffff_ffff)
}

/// Delete every retired veth ([`is_retired`]) in the host namespace: what a deleter process
/// did not get to (GC). Returns the names deleted.
pub fn reap_retired(host: &Handle) -> Result<Vec<String>> {
    let links = host.links().map_err(Error::kernel("list links"))?;
    let mut done = Vec::new();
    for l in links.into_iter().filter(is_retired) {
        delete_by_index(host, &Retired::of(&l))?;
        done.push(l.name);
    }
    Ok(done)
}

/// The body of a detached deleter (`warren __reap`, `warren-cni reap`): delete the retired
/// veths given as `INDEX:NAME` ([`Retired::to_arg`]), then wait for an RCU grace period so
/// that the close of an nf_tables socket inherited from the command holds no lock for long
/// ([`warren_kernel::nft::Nft::settle_before_close`]). Problems go to stderr, prefixed with
/// `who`. Exit status: 0, 1 if a deletion failed, 2 if an argument was not `INDEX:NAME`.
pub fn reap(who: &str, args: &[String]) -> u8 {
    let mut status = 0;
    let host = Handle::current();
    for arg in args {
        let Some(r) = Retired::from_arg(arg) else {
            eprintln!("{who}: {arg:?} is not INDEX:NAME of a retired veth");
            status = 2;
            continue;
        };
        let deleted = match &host {
            Ok(h) => delete_retired(h, &r).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = deleted {
            eprintln!("{who} {}: {e}", r.name);
            status = status.max(1);
        }
    }
    warren_kernel::nft::Nft::settle_before_close();
    status
}
