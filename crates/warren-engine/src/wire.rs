//! The kernel side of networks and endpoints: bridges with their gateway addresses, a
//! container's namespace, its veth (or macvlan) with addresses and default routes.

use std::net::IpAddr;
use std::path::Path;

use nix::errno::Errno;
use warren_kernel::addr::{AddrSpec, IpNet};
use warren_kernel::link::bridge::Bridge;
use warren_kernel::link::bridge::{BridgePortOptions, port_set_request};
use warren_kernel::link::macvlan::{MacVlan, MacVlanMode};
use warren_kernel::link::veth::Veth;
use warren_kernel::link::{no_ipv6_addresses_request, up_request};
use warren_kernel::netns::{self, Source};
use warren_kernel::route::RouteSpec;
use warren_kernel::{Handle, NetNs, sysctl};
use warren_store::{Endpoint, Network};

use crate::error::{Error, Result};

pub(crate) fn gone(e: &warren_kernel::Error) -> bool {
    matches!(e, warren_kernel::Error::NotFound { .. })
        || matches!(e.errno(), Some(Errno::ENODEV | Errno::ENOENT))
}

fn exists(e: &warren_kernel::Error) -> bool {
    e.errno() == Some(Errno::EEXIST)
}

/// Create the named namespace `name` with `lo` up. IPv6 duplicate address detection is not
/// turned off namespace-wide (a first write under `/proc/sys` in a new namespace costs about
/// a millisecond): the addresses warren gives are unique by IPAM and added with `nodad`, and
/// packets leave from them, so the link-local's DAD holds nothing up.
pub(crate) fn create_netns(name: &str) -> Result<(NetNs, Handle)> {
    let mut out = netns::add_named_many(&[name], Source::New, |ns| {
        let h = Handle::here(ns)?;
        h.link_set_up("lo")?;
        Ok(h)
    });
    match out.pop() {
        Some(r) => r.map_err(Error::kernel(format!("create namespace {name}"))),
        None => Err(Error::State(format!(
            "create namespace {name}: nothing created"
        ))),
    }
}

/// Delete the named namespace `name` (its links go with it); a missing one is fine.
pub(crate) fn delete_netns(name: &str) -> Result<()> {
    match netns::delete_named(name) {
        Ok(()) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(Error::kernel(format!("delete namespace {name}"))(e)),
    }
}

/// Delete a host link; a missing one is fine.
pub(crate) fn delete_host_link(host: &Handle, name: &str) -> Result<()> {
    match host.link_del(name) {
        Ok(()) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(Error::kernel(format!("delete link {name}"))(e)),
    }
}

/// Set a host link down; a missing one is fine.
pub(crate) fn host_link_down(host: &Handle, name: &str) -> Result<()> {
    match host.link_set_down(name) {
        Ok(()) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(Error::kernel(format!("set link {name} down"))(e)),
    }
}

/// Delete link `ifname` inside the namespace file `ns_path`; a missing one is fine.
pub(crate) fn delete_inner_link(ns_path: &str, ifname: &str) -> Result<()> {
    match NetNs::open_path(Path::new(ns_path)) {
        Ok(ns) => delete_link_in(ns, ifname),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(Error::kernel(format!("open namespace {ns_path}"))(e)),
    }
}

/// Delete link `ifname` inside the open namespace `ns`; a missing one is fine.
pub(crate) fn delete_link_in(ns: NetNs, ifname: &str) -> Result<()> {
    let label = ns.label().to_owned();
    let h = Handle::new(ns).map_err(Error::kernel(format!("open namespace {label}")))?;
    match h.link_del(ifname) {
        Ok(()) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(Error::kernel(format!("delete link {ifname} in {label}"))(e)),
    }
}

/// Make a bridge network's bridge exist, up, with its gateway addresses. Returns whether
/// the bridge was created now.
pub(crate) fn ensure_bridge(host: &Handle, net: &Network) -> Result<bool> {
    let name = &net.iface;
    let created = match host.link_get(name) {
        // There and up: the common case, one round trip. (Addresses and sysctls went in when
        // it was made; `warren reconcile` repairs a bridge someone changed by hand.)
        Ok(l) if l.flags.iter().any(|f| f == "UP") => return Ok(false),
        Ok(_) => false,
        Err(e) if gone(&e) => {
            let mut b = Bridge::new(name.clone()).up();
            if let Some(mtu) = net.mtu {
                b = b.mtu(mtu);
            }
            match host.link_add(&b) {
                Ok(()) => true,
                // Another process made it meanwhile (concurrent first uses): it finishes
                // what only a creator does; here, as for any existing bridge.
                Err(e) if exists(&e) => false,
                Err(e) => {
                    return Err(Error::kernel(format!(
                        "create bridge {name} for network {}",
                        net.name
                    ))(e));
                }
            }
        }
        Err(e) => return Err(Error::kernel(format!("look up bridge {name}"))(e)),
    };
    let step = || -> Result<()> {
        let idx = host
            .link_index(name)
            .map_err(Error::kernel(format!("look up bridge {name}")))?;
        if !created {
            host.link_set_up(name)
                .map_err(Error::kernel(format!("set bridge {name} up")))?;
        }
        for s in &net.subnets {
            let Some(gw) = s.gateway else { continue };
            let spec = AddrSpec::new(
                idx,
                IpNet::new(gw, s.net.prefix).map_err(Error::kernel("gateway"))?,
            );
            let spec = if gw.is_ipv6() { spec.nodad() } else { spec };
            match host.addr_add_spec(&spec) {
                Ok(()) => {}
                Err(e) if exists(&e) => {}
                Err(e) => {
                    return Err(Error::kernel(format!(
                        "add {gw}/{} to bridge {name}",
                        s.net.prefix
                    ))(e));
                }
            }
        }
        if created && net.subnets.iter().any(|s| s.net.addr.is_ipv6()) {
            // Replies to [::1] clients of published ports arrive on the bridge addressed to ::1.
            match host.route_add(&warren_kernel::nft::firewall::loopback6_reply_route(idx)) {
                Ok(()) => {}
                Err(e) if exists(&e) => {}
                Err(e) => return Err(Error::kernel(format!("add local ::1 route on {name}"))(e)),
            }
        }
        if created && net.subnets.iter().any(|s| s.net.addr.is_ipv4()) {
            // Ports published on 127.0.0.1 are DNATed to this bridge: the kernel must accept
            // a loopback source routed out of it (masquerade then rewrites it).
            sysctl::set(
                host.ns(),
                &format!("net.ipv4.conf.{name}.route_localnet"),
                "1",
            )
            .map_err(Error::kernel(format!("set route_localnet on {name}")))?;
        }
        Ok(())
    };
    match step() {
        Ok(()) => Ok(created),
        Err(e) => {
            if created {
                let _ = host.link_del(name);
            }
            Err(e)
        }
    }
}

fn addr_spec(idx: u32, ip: IpAddr, net: &Network) -> Result<AddrSpec> {
    let prefix = net
        .subnets
        .iter()
        .find(|s| s.net.contains(ip))
        .map(|s| s.net.prefix)
        .ok_or_else(|| {
            Error::State(format!(
                "address {ip} is in no subnet of network {}",
                net.name
            ))
        })?;
    let spec = AddrSpec::new(
        idx,
        IpNet::new(ip, prefix).map_err(Error::kernel("address"))?,
    );
    Ok(if ip.is_ipv6() { spec.nodad() } else { spec })
}

/// Give the endpoint's interface inside its addresses and (if `default_route`) default
/// routes via the network's gateways.
fn configure_inside(
    inner: &Handle,
    net: &Network,
    ep: &Endpoint,
    default_route: bool,
) -> Result<()> {
    let what = |s: &str| {
        format!(
            "{s} {} in container namespace {}",
            ep.ifname,
            inner.ns().label()
        )
    };
    let idx = inner
        .link_index(&ep.ifname)
        .map_err(Error::kernel(what("look up")))?;
    for ip in &ep.addrs {
        inner
            .addr_add_spec(&addr_spec(idx, *ip, net)?)
            .map_err(Error::kernel(what(&format!("add {ip} to"))))?;
    }
    if default_route {
        for s in &net.subnets {
            let Some(gw) = s.gateway else { continue };
            if !ep.addrs.iter().any(|a| a.is_ipv4() == gw.is_ipv4()) {
                continue;
            }
            let r = if gw.is_ipv4() {
                RouteSpec::default_v4()
            } else {
                RouteSpec::default_v6()
            };
            inner
                .route_add(&r.via(gw))
                .map_err(Error::kernel(what(&format!(
                    "add default route via {gw} on"
                ))))?;
        }
    }
    Ok(())
}

/// Wire endpoint `ep` of a bridge network: a veth whose peer is made directly inside the
/// container's namespace, its host side a bridge port with hairpin on (a container reaching
/// its own published port through the host comes back out of the same port).
///
/// Both ends are made down and set up after: the host side (a bridge port, which needs no
/// address) and, on an IPv4-only network, the container's side get no IPv6 addresses of their
/// own, so a new container sends no IPv6 link-local chatter (DAD, router solicitations, MLD
/// reports) that the bridge would flood to every other container.
pub(crate) fn attach_bridge(
    host: &Handle,
    inner: &Handle,
    net: &Network,
    ep: &Endpoint,
    default_route: bool,
) -> Result<()> {
    let host_if = ep.host_ifname.as_deref().ok_or_else(|| {
        Error::State(format!("endpoint {} has no host interface name", ep.ifname))
    })?;
    let br = host.link_index(&net.iface).map_err(Error::kernel(format!(
        "look up bridge {} of network {}",
        net.iface, net.name
    )))?;
    let mut v = Veth::new(host_if, ep.ifname.clone())
        .peer_netns(inner.ns())
        .master(br);
    if let Some(mtu) = net.mtu {
        v = v.mtu(mtu);
    }
    host.link_add(&v).map_err(Error::kernel(format!(
        "create veth {host_if} on bridge {}",
        net.iface
    )))?;
    // One round trip for the host side's three changes, in order.
    let port = host
        .link_index(host_if)
        .map_err(Error::kernel(format!("look up {host_if}")))?;
    let hairpin = BridgePortOptions {
        hairpin: Some(true),
        ..Default::default()
    };
    host.execute_all(vec![
        no_ipv6_addresses_request(port, host_if),
        port_set_request(port, host_if, &hairpin),
        up_request(port, true, host_if),
    ])
    .map_err(Error::kernel(format!(
        "set {host_if} up as a hairpin port of {}",
        net.iface
    )))?;
    set_up_inside(inner, net, ep)?;
    configure_inside(inner, net, ep, default_route)
}

/// Whether a container on `net` needs IPv6 addresses of its own on its interface there: only
/// when the network has an IPv6 subnet (Docker, too, gives a container on an IPv4-only network
/// no IPv6).
fn container_needs_ipv6(net: &Network) -> bool {
    net.subnets.iter().any(|s| s.net.addr.is_ipv6())
}

/// Set the container's interface of endpoint `ep` up, with no IPv6 addresses of its own unless
/// the network has IPv6 (one round trip).
fn set_up_inside(inner: &Handle, net: &Network, ep: &Endpoint) -> Result<()> {
    let what = format!("set {} up in {}", ep.ifname, inner.ns().label());
    let idx = inner
        .link_index(&ep.ifname)
        .map_err(Error::kernel(what.clone()))?;
    let mut reqs = Vec::with_capacity(2);
    if !container_needs_ipv6(net) {
        reqs.push(no_ipv6_addresses_request(idx, &ep.ifname));
    }
    reqs.push(up_request(idx, true, &ep.ifname));
    inner.execute_all(reqs).map_err(Error::kernel(what))
}

/// Wire endpoint `ep` of a macvlan network: a macvlan of the parent, made inside.
pub(crate) fn attach_macvlan(
    host: &Handle,
    inner: &Handle,
    net: &Network,
    ep: &Endpoint,
    default_route: bool,
) -> Result<()> {
    let parent = host.link_index(&net.iface).map_err(Error::kernel(format!(
        "look up parent {} of network {}",
        net.iface, net.name
    )))?;
    let mode = MacVlanMode::parse(net.mode.as_deref().unwrap_or("bridge"))
        .map_err(Error::kernel("macvlan mode"))?;
    // Made up at once when it keeps IPv6; otherwise down, to lose it first.
    let ipv6 = container_needs_ipv6(net);
    let mut m = MacVlan::new(ep.ifname.clone(), parent, mode).netns(inner.ns());
    if ipv6 {
        m = m.up();
    }
    if let Some(mtu) = net.mtu {
        m = m.mtu(mtu);
    }
    host.link_add(&m).map_err(Error::kernel(format!(
        "create macvlan {} on {}",
        ep.ifname, net.iface
    )))?;
    if !ipv6 {
        set_up_inside(inner, net, ep)?;
    }
    configure_inside(inner, net, ep, default_route)
}
