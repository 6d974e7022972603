//! Networks: create (choosing a free subnet when none is given), list, inspect, remove; the
//! default network `bridge`; forwarding turned on only while a network needs it, and put
//! back as it was afterwards.

use std::net::IpAddr;

use warren_kernel::addr::IpNet;
use warren_kernel::route::RouteFilter;
use warren_kernel::sysctl;
use warren_store::{Network, NewNetwork, Subnet, ipam};

use crate::error::{Error, Result};
use crate::paths::DEFAULT_BRIDGE;
use crate::spec::validate_name;
use crate::undo::Step;
use crate::{DEFAULT_NETWORK, Engine};

/// Where subnets come from when none is given: /24s of 10.88.0.0/13 for IPv4.
pub const POOL_V4: &str = "10.88.0.0/13";
/// /64s of this ULA /48 for IPv6.
pub const POOL_V6: &str = "fd57:a44e:9c1d::/48";

/// `warren network create`.
#[derive(Debug, Clone, Default)]
pub struct NetworkCreate {
    /// The name.
    pub name: String,
    /// `bridge` (default) or `macvlan`.
    pub driver: Option<String>,
    /// Subnets; none means "pick a free IPv4 /24" (and an IPv6 /64 with `ipv6`).
    pub subnets: Vec<IpNet>,
    /// Gateways, each inside one of the subnets (default: the first host address).
    pub gateways: Vec<IpAddr>,
    /// Ranges to allocate from, each inside one of the subnets.
    pub ip_ranges: Vec<IpNet>,
    /// MTU of the bridge and the links.
    pub mtu: Option<u32>,
    /// No way out.
    pub internal: bool,
    /// Also an IPv6 subnet from the pool, when none is given.
    pub ipv6: bool,
    /// macvlan parent interface.
    pub parent: Option<String>,
    /// macvlan mode (private, vepa, bridge, passthru, source).
    pub mode: Option<String>,
}

fn check_subnets(req: &NetworkCreate) -> Result<Vec<Subnet>> {
    let mut subnets: Vec<Subnet> = Vec::new();
    for s in &req.subnets {
        if s.addr != s.network().addr {
            return Err(Error::invalid(
                "subnet",
                s.to_string(),
                format!("has host bits set (the subnet is {})", s.network()),
            ));
        }
        let min = if s.addr.is_ipv4() { 30 } else { 126 };
        if s.prefix > min {
            return Err(Error::invalid(
                "subnet",
                s.to_string(),
                format!("is too small (at most /{min})"),
            ));
        }
        if let Some(o) = subnets.iter().find(|o| ipam::overlaps(o.net, *s)) {
            return Err(Error::invalid(
                "subnet",
                s.to_string(),
                format!("overlaps {}", o.net),
            ));
        }
        subnets.push(Subnet {
            net: *s,
            gateway: None,
            range: None,
        });
    }
    for g in &req.gateways {
        let s = subnets
            .iter_mut()
            .find(|s| s.net.contains(*g))
            .ok_or_else(|| Error::invalid("gateway", g.to_string(), "is in none of the subnets"))?;
        if s.gateway.is_some() {
            return Err(Error::invalid(
                "gateway",
                g.to_string(),
                format!("a second gateway for {}", s.net),
            ));
        }
        if ipam::reserved(s.net, None).contains(g) {
            return Err(Error::invalid(
                "gateway",
                g.to_string(),
                "is the network or broadcast address",
            ));
        }
        s.gateway = Some(*g);
    }
    for r in &req.ip_ranges {
        let s = subnets
            .iter_mut()
            .find(|s| s.net.contains(r.network().addr) && r.prefix >= s.net.prefix)
            .ok_or_else(|| {
                Error::invalid("ip range", r.to_string(), "is inside none of the subnets")
            })?;
        s.range = Some(r.network());
    }
    Ok(subnets)
}

impl Engine {
    /// Create a network: validate, record it (refusing a duplicate name or an overlapping
    /// subnet), then make its bridge, gateway addresses and firewall elements. Nothing is
    /// left behind if a step fails.
    pub fn network_create(&mut self, req: &NetworkCreate) -> Result<Network> {
        validate_name("network name", &req.name)?;
        let driver = req.driver.clone().unwrap_or_else(|| "bridge".into());
        let mut subnets = check_subnets(req)?;
        let (iface, mode) = match driver.as_str() {
            "bridge" => {
                if req.parent.is_some() || req.mode.is_some() {
                    return Err(Error::invalid(
                        "option",
                        "--parent/--mode",
                        "only for the macvlan driver",
                    ));
                }
                let iface = (req.name == DEFAULT_NETWORK).then(|| DEFAULT_BRIDGE.to_owned());
                (iface, None)
            }
            "macvlan" => {
                let parent = req.parent.clone().ok_or_else(|| {
                    Error::invalid("network", &req.name, "the macvlan driver needs --parent IF")
                })?;
                warren_kernel::link::validate_ifname(&parent)
                    .map_err(Error::kernel("parent interface"))?;
                self.host()
                    .link_index(&parent)
                    .map_err(Error::kernel(format!("parent interface {parent}")))?;
                let mode = req.mode.clone().unwrap_or_else(|| "bridge".into());
                warren_kernel::link::macvlan::MacVlanMode::parse(&mode).map_err(|_| {
                    Error::invalid(
                        "macvlan mode",
                        &mode,
                        "private, vepa, bridge, passthru or source",
                    )
                })?;
                if req.subnets.is_empty() {
                    return Err(Error::invalid(
                        "network",
                        &req.name,
                        "a macvlan network needs --subnet (the parent's LAN)",
                    ));
                }
                if req.internal {
                    return Err(Error::invalid(
                        "network",
                        &req.name,
                        "--internal is for bridge networks",
                    ));
                }
                (Some(parent), Some(mode))
            }
            other => return Err(Error::invalid("driver", other, "bridge or macvlan")),
        };
        if let Some(m) = req.mtu
            && !(68..=65535).contains(&m)
        {
            return Err(Error::invalid("mtu", m.to_string(), "must be 68 to 65535"));
        }
        let auto = subnets.is_empty();
        for s in subnets.iter_mut() {
            if s.gateway.is_none() && driver == "bridge" {
                s.gateway = ipam::first_host(s.net);
            }
        }
        let host_routes: Vec<IpNet> = if auto {
            self.host()
                .routes(RouteFilter::default())
                .map_err(Error::kernel("list the host's routes"))?
                .into_iter()
                .filter(|r| !r.dst.is_default())
                .map(|r| r.dst)
                .collect()
        } else {
            Vec::new()
        };
        let new = NewNetwork {
            name: req.name.clone(),
            driver: driver.clone(),
            iface,
            mode,
            mtu: req.mtu,
            internal: req.internal,
            subnets,
        };
        let ipv6 = req.ipv6;
        let net = self.store.write(|tx| {
            let mut new = new;
            if auto {
                let mut taken: Vec<IpNet> = warren_store::list_networks(tx)?
                    .iter()
                    .flat_map(|n| n.subnets.iter().map(|s| s.net))
                    .collect();
                taken.extend(host_routes.iter().copied());
                let pick = |pool: &str, prefix: u8, taken: &[IpNet]| {
                    let pool: IpNet = pool.parse().map_err(Error::kernel("pool"))?;
                    ipam::pick_subnet(&[pool], prefix, taken).ok_or_else(|| {
                        Error::State(format!(
                            "no free /{prefix} left in the pool {pool}: give --subnet"
                        ))
                    })
                };
                let v4 = pick(POOL_V4, 24, &taken)?;
                new.subnets.push(Subnet {
                    net: v4,
                    gateway: ipam::first_host(v4),
                    range: None,
                });
                if ipv6 {
                    let v6 = pick(POOL_V6, 64, &taken)?;
                    new.subnets.push(Subnet {
                        net: v6,
                        gateway: ipam::first_host(v6),
                        range: None,
                    });
                }
            }
            Ok::<_, Error>(warren_store::insert_network(tx, &new)?)
        })?;
        let name = net.name.clone();
        self.transaction(|e, undo| {
            undo.push(Step::NetworkRow(name.clone()));
            if net.driver == "bridge" {
                if crate::wire::ensure_bridge(e.host(), &net)? {
                    undo.push(Step::HostLink(net.iface.clone()));
                }
                undo.push(Step::FwNetwork(name.clone()));
                e.fw_add_network(&net)?;
                e.forwarding_update()?;
            }
            Ok(net)
        })
    }

    /// The network called `name`.
    pub fn network(&mut self, name: &str) -> Result<Network> {
        self.store
            .read(|tx| warren_store::get_network(tx, name))?
            .ok_or_else(|| {
                Error::Store(warren_store::Error::NotFound {
                    what: "network",
                    name: name.into(),
                })
            })
    }

    /// Every network.
    pub fn networks(&mut self) -> Result<Vec<Network>> {
        Ok(self.store.read(warren_store::list_networks)?)
    }

    /// Names of the containers and pods on network `name`.
    pub fn network_users(&mut self, name: &str) -> Result<Vec<String>> {
        let net = self.network(name)?;
        Ok(self
            .store
            .read(|tx| warren_store::network_users(tx, net.id))?)
    }

    /// The network `name`, creating the default network on first use.
    pub fn network_or_default(&mut self, name: &str) -> Result<Network> {
        match self.network(name) {
            Err(Error::Store(warren_store::Error::NotFound { .. })) if name == DEFAULT_NETWORK => {
                match self.network_create(&NetworkCreate {
                    name: name.into(),
                    ..Default::default()
                }) {
                    // Another process created it meanwhile.
                    Err(Error::Store(warren_store::Error::Exists { .. })) => self.network(name),
                    other => other,
                }
            }
            other => other,
        }
    }

    /// Make a network's kernel side exist (after a reboot, a crash or a flushed ruleset):
    /// bridge, addresses, firewall elements. Idempotent, and cheap enough to run before every
    /// container joins.
    pub(crate) fn network_ensure(&mut self, net: &Network) -> Result<()> {
        if net.driver == "bridge" {
            // Re-created (after a reboot): the host's sysctls were reset with it, and its
            // elements are missing if the table went too.
            let new_bridge = crate::wire::ensure_bridge(self.host(), net)?;
            if new_bridge {
                self.forwarding_update()?;
            }
            // Looked at again for every container, not once per engine: an engine kept
            // open (a runtime embedding the library) must notice a table flushed since.
            self.fw_ready = false;
            if self.fw_ensure()? || new_bridge {
                self.fw_add_network(net)?;
            }
        }
        Ok(())
    }

    /// Remove a network. While containers or pods use it this is refused, unless `force`,
    /// which disconnects them first.
    pub fn network_remove(&mut self, name: &str, force: bool) -> Result<()> {
        let net = self.network(name)?;
        let users = self
            .store
            .read(|tx| warren_store::network_users(tx, net.id))?;
        if !users.is_empty() {
            if !force {
                return Err(warren_store::Error::InUse {
                    network: name.into(),
                    users: users.join(", "),
                }
                .into());
            }
            for u in users {
                self.disconnect(name, &u)?;
            }
        }
        let mut errors = Vec::new();
        if let Err(e) = self.fw_remove_network(&net) {
            errors.push(e);
        }
        if net.driver == "bridge"
            && let Err(e) = crate::wire::delete_host_link(self.host(), &net.iface)
        {
            errors.push(e);
        }
        if let Err(e) = self
            .store
            .write(|tx| warren_store::delete_network(tx, name))
        {
            errors.push(e.into());
        }
        if let Err(e) = self.forwarding_update() {
            errors.push(e);
        }
        if let Err(e) = self.dns_refresh() {
            errors.push(e);
        }
        Error::teardown(format!("network {name}"), errors)
    }

    /// Turn forwarding on in the host namespace while some non-internal bridge network needs
    /// it (IPv6 forwarding only for IPv6 networks), and bridged IPv6 out of netfilter while an
    /// IPv6 network exists, saving the values found; put the saved values back when no
    /// network needs them any more.
    ///
    /// CNI attachments routed through the host (bridge with `isGateway`, ptp) count too, so
    /// `warren` and the CNI plugins share the one saved value; so do labs with a NAT node
    /// (which share it as well), so removing the last network leaves forwarding on for them.
    pub fn forwarding_update(&mut self) -> Result<()> {
        let nets = self.networks()?;
        let (cni4, cni6) = self.store.read(warren_store::cni_routed_families)?;
        // A lab with a NAT node needs IPv4 forwarding too; it puts the value back itself.
        let labs4 = self.store.read(warren_store::labs_need_forwarding)?;
        let outward = |v4: bool| {
            (if v4 { cni4 || labs4 } else { cni6 })
                || nets.iter().any(|n| {
                    n.driver == "bridge"
                        && !n.internal
                        && n.subnets.iter().any(|s| s.net.addr.is_ipv4() == v4)
                })
        };
        let v6 = cni6
            || nets
                .iter()
                .any(|n| n.driver == "bridge" && n.subnets.iter().any(|s| s.net.addr.is_ipv6()));
        // (key, value wanted, whether some network needs it now)
        for (key, want, needed) in [
            ("net.ipv4.ip_forward", "1", outward(true)),
            ("net.ipv6.conf.all.forwarding", "1", outward(false)),
            // Replies to [::1] clients of a published port must not be run through the
            // bridge's own netfilter hooks (see warren_kernel::nft::firewall).
            ("net.bridge.bridge-nf-call-ip6tables", "0", v6),
        ] {
            let saved_key = format!("saved:{key}");
            let saved = self
                .store
                .read(|tx| warren_store::get_meta(tx, &saved_key))?;
            let ns = self.host_ns();
            if needed {
                let now = match sysctl::get(ns, key) {
                    Ok(v) => v,
                    // Not in this kernel (no IPv6, no br_netfilter): nothing to change.
                    Err(_) if !key.starts_with("net.ipv4") => continue,
                    Err(e) => return Err(Error::kernel(format!("read {key}"))(e)),
                };
                if now.trim() != want {
                    if saved.is_none() {
                        let v = now.trim().to_owned();
                        self.store
                            .write(|tx| warren_store::set_meta(tx, &saved_key, Some(&v)))?;
                    }
                    sysctl::set(self.host_ns(), key, want)
                        .map_err(Error::kernel(format!("set {key}={want}")))?;
                }
            } else if let Some(v) = saved {
                sysctl::set(ns, key, &v).map_err(Error::kernel(format!("restore {key}={v}")))?;
                self.store
                    .write(|tx| warren_store::set_meta(tx, &saved_key, None))?;
            }
        }
        Ok(())
    }
}
