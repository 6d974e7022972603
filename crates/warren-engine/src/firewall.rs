//! warren's rules in its own nftables table (`inet warren`), kept equal to the store: which
//! bridges and subnets exist (isolation, masquerade) and which ports are published where.
//! Every change after the table exists is a set or map element change.

use std::net::IpAddr;

use warren_kernel::addr::IpNet;
use warren_kernel::nft::{Firewall, NetworkRules, Nft, PortRule, Proto as NftProto};
use warren_store::{Container, HostIp, Network};

use crate::Engine;
use crate::error::{Error, Result};
use crate::spec::Proto;

/// warren's table name (family `inet`).
pub const TABLE: &str = "warren";

/// The firewall's view of a network; macvlan networks have none (their traffic never
/// crosses the host).
pub fn network_rules(net: &Network) -> Option<NetworkRules> {
    (net.driver == "bridge").then(|| NetworkRules {
        bridge: net.iface.clone(),
        subnets: net.subnets.iter().map(|s| s.net).collect(),
        internal: net.internal,
        masquerade: !net.internal,
    })
}

fn nft_proto(p: &str) -> Result<NftProto> {
    match Proto::parse(p) {
        Some(Proto::Tcp) => Ok(NftProto::Tcp),
        Some(Proto::Udp) => Ok(NftProto::Udp),
        Some(Proto::Sctp) => Ok(NftProto::Sctp),
        None => Err(Error::invalid("protocol", p, "tcp, udp or sctp")),
    }
}

/// The DNAT rules of container `c`'s ports: each goes to its first address of the port's
/// family on a bridge network. A port on one host address needs an address of that family.
pub fn port_rules(c: &Container, nets: &[Network]) -> Result<Vec<PortRule>> {
    let target = |v4: bool| -> Option<IpAddr> {
        c.endpoints
            .iter()
            .filter(|e| {
                nets.iter()
                    .any(|n| n.id == e.network_id && n.driver == "bridge")
            })
            .flat_map(|e| e.addrs.iter())
            .find(|a| a.is_ipv4() == v4)
            .copied()
    };
    let mut out = Vec::new();
    for p in &c.ports {
        let proto = nft_proto(&p.proto)?;
        let mut push = |host_ip: Option<IpAddr>, addr: IpAddr| {
            out.push(PortRule {
                host_ip,
                proto,
                host_port: p.host_port,
                addr,
                port: p.port,
            });
        };
        match p.host_ip {
            HostIp::All => {
                let (t4, t6) = (target(true), target(false));
                if t4.is_none() && t6.is_none() {
                    return Err(no_address(c, p, "an IP address on a bridge network"));
                }
                if let Some(a) = t4 {
                    push(None, a);
                }
                if let Some(a) = t6 {
                    push(None, a);
                }
            }
            HostIp::Any4 => push(
                None,
                target(true).ok_or_else(|| no_address(c, p, "an IPv4 address"))?,
            ),
            HostIp::Any6 => push(
                None,
                target(false).ok_or_else(|| no_address(c, p, "an IPv6 address"))?,
            ),
            HostIp::Addr(h) => {
                let t = target(h.is_ipv4()).ok_or_else(|| {
                    no_address(
                        c,
                        p,
                        if h.is_ipv4() {
                            "an IPv4 address"
                        } else {
                            "an IPv6 address"
                        },
                    )
                })?;
                push(Some(h), t);
            }
        }
    }
    Ok(out)
}

fn no_address(c: &Container, p: &warren_store::Port, what: &str) -> Error {
    Error::invalid(
        "port spec",
        warren_store::describe_port(p),
        format!("{} has no {what} to publish it to", c.name),
    )
}

impl Engine {
    /// The host's nf_tables socket, opened once per engine.
    fn nft(&mut self) -> Result<&Nft> {
        if self.nft.is_none() {
            self.nft = Some(Nft::new(self.host_ns()).map_err(Error::kernel("open nftables"))?);
        }
        Ok(self.nft.as_ref().expect("just opened"))
    }

    /// The firewall of this engine's table (`warren`, or `warren-cni` for the CNI plugins).
    fn fw(&self) -> Firewall {
        Firewall::new(&self.table)
    }

    /// The nf_tables socket if `fw`'s table exists: there is nothing to remove or check
    /// otherwise.
    fn nft_if_table(&mut self, fw: &Firewall) -> Result<Option<&Nft>> {
        let tn = fw.table().name.clone();
        let nft = self.nft()?;
        let exists = fw
            .exists(nft)
            .map_err(Error::kernel(format!("read table inet {tn}")))?;
        Ok(exists.then_some(nft))
    }

    /// Everything the table should hold, from the store.
    fn fw_desired(&mut self) -> Result<(Vec<NetworkRules>, Vec<PortRule>)> {
        let (nets, containers) = self.store.read(|tx| {
            Ok::<_, Error>((
                warren_store::list_networks(tx)?,
                warren_store::list_containers(tx)?,
            ))
        })?;
        let rules = nets.iter().filter_map(network_rules).collect();
        let mut ports = Vec::new();
        for c in containers.iter().filter(|c| !c.ports.is_empty()) {
            ports.extend(port_rules(c, &nets)?);
        }
        Ok((rules, ports))
    }

    /// Create the table's skeleton (chains, rules, empty sets and maps) if it is missing:
    /// first use, or after someone ran `nft flush ruleset`. Race-free between processes (the
    /// kernel refuses the second exclusive create). Elements are each setup's own business:
    /// networks add theirs idempotently before every use, containers publish their ports;
    /// `warren reconcile` rebuilds everything from the store.
    /// Returns whether the table was (re)created now.
    pub(crate) fn fw_ensure(&mut self) -> Result<bool> {
        let fw = self.fw();
        let tn = &fw.table().name;
        if self.fw_ready {
            return Ok(false);
        }
        let nft = self.nft()?;
        let created = fw
            .ensure(nft)
            .map_err(Error::kernel(format!("create table inet {tn}")))?;
        self.fw_ready = true;
        Ok(created)
    }

    /// Re-create warren's table from the store in one transaction (`warren reconcile`).
    pub fn reconcile_firewall(&mut self) -> Result<()> {
        let fw = self.fw();
        let tn = &fw.table().name;
        let (nets, ports) = self.fw_desired()?;
        let batch = fw
            .rebuild(&nets, &ports)
            .map_err(Error::kernel(format!("build table inet {tn}")))?;
        self.nft()?
            .apply(&batch)
            .map_err(Error::kernel(format!("create table inet {tn}")))
    }

    /// Add a network's bridge and subnets to the sets.
    pub(crate) fn fw_add_network(&mut self, net: &Network) -> Result<()> {
        match network_rules(net) {
            Some(r) => self.fw_add_elements(&r, &format!("network {}", net.name)),
            None => Ok(()),
        }
    }

    /// Add a network's elements given as firewall rules (the CNI plugins' networks are not
    /// in the store's network table). Adding what is there is fine.
    pub fn fw_add_rules(&mut self, r: &NetworkRules) -> Result<()> {
        self.fw_add_elements(r, &format!("bridge {}", r.bridge))
    }

    /// Add `r`'s elements; `label` names them in errors.
    fn fw_add_elements(&mut self, r: &NetworkRules, label: &str) -> Result<()> {
        let fw = self.fw();
        let tn = &fw.table().name;
        self.fw_ensure()?;
        let b = fw
            .add_network(r)
            .map_err(Error::kernel(format!("firewall for {label}")))?;
        self.nft()?
            .apply(&b)
            .map_err(Error::kernel(format!("add {label} to table inet {tn}")))
    }

    /// Remove what [`Engine::fw_add_rules`] added; elements already gone are fine.
    pub fn fw_remove_rules(&mut self, r: &NetworkRules) -> Result<()> {
        self.nft_deleted = true;
        let fw = self.fw();
        let tn = &fw.table().name;
        let Some(nft) = self.nft_if_table(&fw)? else {
            return Ok(());
        };
        let b = fw
            .remove_network(r)
            .map_err(Error::kernel(format!("firewall for bridge {}", r.bridge)))?;
        match nft.apply(&b) {
            Ok(()) => Ok(()),
            Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(Error::kernel(format!(
                "remove bridge {} from table inet {tn}",
                r.bridge
            ))(e)),
        }
    }

    /// Masquerade traffic from `subnets` leaving the host (add) or stop (remove; elements
    /// already gone are fine).
    pub fn fw_masquerade(&mut self, subnets: &[IpNet], add: bool) -> Result<()> {
        self.nft_deleted |= !add;
        let fw = self.fw();
        let tn = &fw.table().name;
        if add {
            self.fw_ensure()?;
        }
        let nft = if add {
            self.nft()?
        } else {
            let Some(nft) = self.nft_if_table(&fw)? else {
                return Ok(());
            };
            nft
        };
        let b = fw
            .masquerade(subnets, add)
            .map_err(Error::kernel("masquerade elements"))?;
        match nft.apply(&b) {
            Ok(()) => Ok(()),
            Err(e) if !add && e.errno() == Some(nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(Error::kernel(format!("masquerade in table inet {tn}"))(e)),
        }
    }

    /// Whether every port of `rules` is published (checked by deleting and re-adding them
    /// in one atomic transaction: the kernel refuses the delete of a missing one and the
    /// whole transaction with it, and traffic never sees the others go).
    pub fn fw_published(&mut self, rules: &[PortRule]) -> Result<bool> {
        self.nft_deleted = true;
        let fw = self.fw();
        let tn = &fw.table().name;
        let Some(nft) = self.nft_if_table(&fw)? else {
            return Ok(false);
        };
        let mut b = fw
            .unpublish(rules)
            .map_err(Error::kernel("build port map elements"))?;
        b.append(
            fw.publish(rules)
                .map_err(Error::kernel("build port map elements"))?,
        );
        match nft.apply(&b) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => Ok(false),
            Err(e) => Err(Error::kernel(format!("check ports in table inet {tn}"))(e)),
        }
    }

    /// Remove a network's elements.
    pub(crate) fn fw_remove_network(&mut self, net: &Network) -> Result<()> {
        self.nft_deleted = true;
        let fw = self.fw();
        let tn = &fw.table().name;
        let Some(r) = network_rules(net) else {
            return Ok(());
        };
        let Some(nft) = self.nft_if_table(&fw)? else {
            return Ok(());
        };
        let b = fw
            .remove_network(&r)
            .map_err(Error::kernel(format!("firewall for network {}", net.name)))?;
        nft.apply(&b).map_err(Error::kernel(format!(
            "remove network {} from table inet {tn}",
            net.name
        )))
    }

    /// Publish ports (all or none).
    pub fn fw_publish(&mut self, rules: &[PortRule]) -> Result<()> {
        let fw = self.fw();
        let tn = &fw.table().name;
        if rules.is_empty() {
            return Ok(());
        }
        self.fw_ensure()?;
        let b = fw
            .publish(rules)
            .map_err(Error::kernel("build port map elements"))?;
        self.nft()?
            .apply(&b)
            .map_err(Error::kernel(format!("publish ports in table inet {tn}")))?;
        self.flush_udp(rules);
        Ok(())
    }

    /// Stop publishing ports; ports not published are skipped.
    pub fn fw_unpublish(&mut self, rules: &[PortRule]) -> Result<()> {
        self.nft_deleted = true;
        let fw = self.fw();
        let tn = &fw.table().name;
        if rules.is_empty() {
            return Ok(());
        }
        let Some(nft) = self.nft_if_table(&fw)? else {
            return Ok(());
        };
        let b = fw
            .unpublish(rules)
            .map_err(Error::kernel("build port map elements"))?;
        match nft.apply(&b) {
            Ok(()) => {}
            // Some were never published (a setup killed half way): one by one, skipping those.
            Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => {
                for r in rules {
                    let b = fw
                        .unpublish(std::slice::from_ref(r))
                        .map_err(Error::kernel("build port map elements"))?;
                    match nft.apply(&b) {
                        Ok(()) => {}
                        Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => {}
                        Err(e) => {
                            return Err(Error::kernel(format!(
                                "unpublish ports in table inet {tn}"
                            ))(e));
                        }
                    }
                }
            }
            Err(e) => return Err(Error::kernel(format!("unpublish ports in table inet {tn}"))(e)),
        }
        self.flush_udp(rules);
        Ok(())
    }

    /// UDP has no connection to end: drop conntrack entries of these ports so the next
    /// datagram is NATed by the new rules, not by a stale entry.
    fn flush_udp(&self, rules: &[PortRule]) {
        let mut done = Vec::new();
        for r in rules.iter().filter(|r| r.proto == NftProto::Udp) {
            if !done.contains(&r.host_port) {
                done.push(r.host_port);
                // Best effort: a failure leaves entries that time out on their own.
                let _ = warren_kernel::conntrack::flush_port(
                    self.host_ns(),
                    NftProto::Udp,
                    r.host_port,
                );
            }
        }
    }
}
