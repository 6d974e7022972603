//! The work of the `wiring` benchmark, identical for every contender: names, bridges and
//! addresses of N containers.

use std::net::Ipv4Addr;

/// Prefix length of every bridge's subnet.
pub const PREFIX: u8 = 16;
/// Name of the container end of each veth, inside its namespace.
pub const PEER: &str = "eth0";

/// N namespaces spread over bridges of at most `per_bridge` ports.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Number of namespaces (containers).
    pub n: usize,
    /// Ports per bridge (the kernel allows at most 1023).
    pub per_bridge: usize,
}

impl Plan {
    /// Number of bridges.
    pub fn bridges(&self) -> usize {
        self.n.div_ceil(self.per_bridge.max(1)).max(1)
    }

    /// The bridge of namespace `i`.
    pub fn bridge_of(&self, i: usize) -> usize {
        i / self.per_bridge
    }

    /// Name of namespace `i` (under `/run/netns`).
    pub fn ns(&self, i: usize) -> String {
        format!("wb{i}")
    }

    /// Name of the host end of namespace `i`'s veth.
    pub fn host_veth(&self, i: usize) -> String {
        format!("wv{i}")
    }

    /// Name of bridge `b`.
    pub fn bridge(&self, b: usize) -> String {
        format!("wbr{b}")
    }

    /// Gateway (the bridge's own address) of bridge `b`: 10.(100+b).0.1.
    pub fn gw(&self, b: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 100 + b as u8, 0, 1)
    }

    /// Address of namespace `i` on its bridge's /16.
    pub fn addr(&self, i: usize) -> Ipv4Addr {
        let b = self.bridge_of(i);
        let j = i % self.per_bridge + 2;
        Ipv4Addr::new(10, 100 + b as u8, (j >> 8) as u8, (j & 255) as u8)
    }

    /// Check the plan fits the addressing and the bridge limit.
    pub fn validate(&self) -> Result<(), String> {
        if self.per_bridge == 0 || self.per_bridge > 1023 {
            return Err(format!(
                "--per-bridge {}: a bridge takes 1..=1023 ports",
                self.per_bridge
            ));
        }
        if self.bridges() > 100 {
            return Err(format!(
                "{} bridges: at most 100 are supported",
                self.bridges()
            ));
        }
        Ok(())
    }
}
