//! What a trace finds: the [`Hop`]s a packet takes, and the [`Verdict`] — it reaches its
//! destination, it leaves the namespaces warren can see, or it stops at one hop for a
//! [`Cause`].

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Why a packet stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum Cause {
    /// No route matches the destination (`ENETUNREACH`).
    NoRoute {
        /// The destination looked up.
        to: IpAddr,
    },
    /// The route found is of type unreachable, prohibit or blackhole.
    RejectRoute {
        /// `unreachable`, `prohibit` or `blackhole`.
        kind: String,
        /// The destination looked up.
        to: IpAddr,
    },
    /// The packet would be routed on, but forwarding is off on its input interface.
    ForwardingOff {
        /// Input interface.
        iface: String,
        /// The sysctl that says so.
        sysctl: String,
    },
    /// Reverse-path filtering drops the packet on its input interface.
    RpFilter {
        /// Input interface.
        iface: String,
        /// 1 strict, 2 loose.
        mode: u8,
        /// The interface the route back to the source uses, if there is one.
        back_via: Option<String>,
    },
    /// A firewall rule drops the packet.
    FirewallDrop {
        /// The rule, in nft syntax, when known.
        rule: Option<String>,
        /// The nf_tables tables of the namespace.
        tables: Vec<String>,
    },
    /// Nobody on the link answers ARP/NDP for the next hop.
    NoArpAnswer {
        /// The address asked for.
        addr: IpAddr,
        /// Out interface.
        iface: String,
        /// The neighbour entry's state, if there is one.
        state: Option<String>,
    },
    /// The route's gateway is not there: nobody on the link has it, or it is not on-link.
    WrongGateway {
        /// The gateway.
        gateway: IpAddr,
        /// What is wrong with it.
        reason: String,
    },
    /// A link on the path is down.
    LinkDown {
        /// The interface that is down.
        iface: String,
        /// Its namespace.
        ns: String,
    },
    /// A bridge port on the path does not forward.
    BridgePortDown {
        /// The bridge.
        bridge: String,
        /// The port.
        port: String,
        /// Its state (`disabled`, `blocking`, ...).
        state: String,
    },
    /// The packet is bigger than an MTU on the path (DF set).
    MtuTooSmall {
        /// The interface with the small MTU.
        iface: String,
        /// Its namespace.
        ns: String,
        /// The MTU.
        mtu: u32,
        /// The packet size traced.
        size: u32,
    },
    /// A router passes a private source on unchanged, and the destination has no route back
    /// to it: replies cannot return. Masquerading at this hop would fix it.
    MissingMasquerade {
        /// The source address the destination sees.
        src: IpAddr,
        /// The destination's namespace.
        dst_ns: String,
    },
    /// The destination has no route back to the source, and no router is in between.
    NoRouteBack {
        /// The source address.
        src: IpAddr,
        /// The destination's namespace.
        dst_ns: String,
    },
    /// The packet comes into a namespace with one of that namespace's own addresses as its
    /// source (the kernel drops such martians): it came back to where it was masqueraded.
    MartianSource {
        /// The source address.
        src: IpAddr,
    },
    /// The path comes back to an interface it already passed.
    Loop,
    /// More hops than a trace follows.
    HopLimit,
}

impl Cause {
    /// A short stable name (`no-route`, `forwarding-off`, `rp-filter`, `firewall-drop`,
    /// `no-arp-answer`, `wrong-gateway`, `link-down`, `bridge-port-down`, `mtu-too-small`,
    /// `missing-masquerade`, `no-route-back`, `reject-route`, `martian-source`, `loop`,
    /// `hop-limit`).
    pub fn code(&self) -> &'static str {
        match self {
            Cause::NoRoute { .. } => "no-route",
            Cause::RejectRoute { .. } => "reject-route",
            Cause::ForwardingOff { .. } => "forwarding-off",
            Cause::RpFilter { .. } => "rp-filter",
            Cause::FirewallDrop { .. } => "firewall-drop",
            Cause::NoArpAnswer { .. } => "no-arp-answer",
            Cause::WrongGateway { .. } => "wrong-gateway",
            Cause::LinkDown { .. } => "link-down",
            Cause::BridgePortDown { .. } => "bridge-port-down",
            Cause::MtuTooSmall { .. } => "mtu-too-small",
            Cause::MissingMasquerade { .. } => "missing-masquerade",
            Cause::NoRouteBack { .. } => "no-route-back",
            Cause::MartianSource { .. } => "martian-source",
            Cause::Loop => "loop",
            Cause::HopLimit => "hop-limit",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::NoRoute { to } => write!(f, "no route to {to}"),
            Cause::RejectRoute { kind, to } => write!(f, "{kind} route to {to}"),
            Cause::ForwardingOff { iface, sysctl } => {
                write!(f, "forwarding is off on {iface} ({sysctl}=0)")
            }
            Cause::RpFilter {
                iface,
                mode,
                back_via,
            } => {
                let m = if *mode == 2 { "loose" } else { "strict" };
                match back_via {
                    Some(b) => write!(
                        f,
                        "rp_filter ({m}) drops it on {iface}: the route back to the source leaves by {b}"
                    ),
                    None => write!(
                        f,
                        "rp_filter ({m}) drops it on {iface}: no route back to the source"
                    ),
                }
            }
            Cause::FirewallDrop { rule, tables } => {
                f.write_str("firewall drop")?;
                if let Some(r) = rule {
                    write!(f, " by rule: {r}")?;
                }
                if !tables.is_empty() {
                    write!(f, " (tables: {})", tables.join(", "))?;
                }
                Ok(())
            }
            Cause::NoArpAnswer { addr, iface, state } => {
                write!(f, "no ARP/NDP answer for {addr} on {iface}")?;
                match state {
                    Some(s) => write!(f, " (neighbour {s}; no host on the link has it)"),
                    None => f.write_str(" (no host on the link has it)"),
                }
            }
            Cause::WrongGateway { gateway, reason } => {
                write!(f, "wrong gateway {gateway}: {reason}")
            }
            Cause::LinkDown { iface, ns } => write!(f, "link {iface} in {ns} is down"),
            Cause::BridgePortDown {
                bridge,
                port,
                state,
            } => write!(f, "bridge {bridge} port {port} is {state}"),
            Cause::MtuTooSmall {
                iface,
                ns,
                mtu,
                size,
            } => write!(
                f,
                "MTU too small: {iface} in {ns} has MTU {mtu} < packet size {size} (DF set)"
            ),
            Cause::MissingMasquerade { src, dst_ns } => write!(
                f,
                "missing masquerade: {dst_ns} has no route back to {src}, and this router passes the source on unchanged"
            ),
            Cause::NoRouteBack { src, dst_ns } => {
                write!(f, "no route back: {dst_ns} has no route to {src}")
            }
            Cause::MartianSource { src } => write!(
                f,
                "martian source {src}: an address of this namespace (the packet came back to where it was masqueraded)"
            ),
            Cause::Loop => f.write_str("routing loop: the path comes back to where it was"),
            Cause::HopLimit => f.write_str("too many hops"),
        }
    }
}

/// One namespace the packet passes through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Hop {
    /// The namespace (name, path, `pid:N`, or `host`).
    pub ns: String,
    /// Interface it comes in by (none in the source).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    /// Interface it leaves by (none where it is delivered or stops before routing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    /// The route used, in ip's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The routing table, when not main (a policy rule chose it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// The next hop's address on the link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<IpAddr>,
    /// Link-layer steps to the next namespace (veth peer, bridge and port, FDB).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link: Vec<String>,
    /// Address translation applied here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nat: Vec<String>,
    /// Other observations (neighbour state, foreign firewall tables, conntrack).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The outcome of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Delivered locally in the last hop's namespace.
    Reaches {
        /// The destination's namespace.
        ns: String,
    },
    /// Leaves the namespaces warren can see (an external destination).
    Leaves {
        /// The last namespace.
        ns: String,
        /// The interface it leaves by.
        iface: String,
    },
    /// Stops at hop `hop` (an index into the hops).
    Stops {
        /// Index of the hop.
        hop: usize,
        /// Why.
        #[serde(flatten)]
        cause: Cause,
    },
}

/// A whole trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// Source address used.
    pub src: Option<IpAddr>,
    /// Destination address (after resolution).
    pub dst: IpAddr,
    /// Packet size traced (bytes, DF).
    pub size: u32,
    /// The hops.
    pub hops: Vec<Hop>,
    /// The outcome.
    pub verdict: Verdict,
}

impl Trace {
    /// The cause, when the packet stops.
    pub fn cause(&self) -> Option<&Cause> {
        match &self.verdict {
            Verdict::Stops { cause, .. } => Some(cause),
            _ => None,
        }
    }

    /// The namespace of the hop where the packet stops.
    pub fn stop_ns(&self) -> Option<&str> {
        match &self.verdict {
            Verdict::Stops { hop, .. } => self.hops.get(*hop).map(|h| h.ns.as_str()),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Reaches { ns } => write!(f, "reaches {ns}"),
            Verdict::Leaves { ns, iface } => {
                write!(f, "leaves {ns} by {iface} (beyond what warren can see)")
            }
            Verdict::Stops { hop, cause } => write!(f, "stops at hop {}: {cause}", hop + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_have_distinct_codes_and_say_what_stopped() {
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let table: Vec<(Cause, &str, &str)> = vec![
            (
                Cause::NoRoute { to: ip },
                "no-route",
                "no route to 10.0.0.9",
            ),
            (
                Cause::ForwardingOff {
                    iface: "eth0".into(),
                    sysctl: "net.ipv4.conf.eth0.forwarding".into(),
                },
                "forwarding-off",
                "forwarding is off on eth0",
            ),
            (
                Cause::RpFilter {
                    iface: "eth1".into(),
                    mode: 1,
                    back_via: Some("eth2".into()),
                },
                "rp-filter",
                "leaves by eth2",
            ),
            (
                Cause::MtuTooSmall {
                    iface: "r1".into(),
                    ns: "r".into(),
                    mtu: 1400,
                    size: 1500,
                },
                "mtu-too-small",
                "MTU 1400 < packet size 1500",
            ),
            (
                Cause::BridgePortDown {
                    bridge: "br0".into(),
                    port: "vb".into(),
                    state: "disabled".into(),
                },
                "bridge-port-down",
                "bridge br0 port vb is disabled",
            ),
            (
                Cause::MissingMasquerade {
                    src: ip,
                    dst_ns: "ext".into(),
                },
                "missing-masquerade",
                "no route back to 10.0.0.9",
            ),
        ];
        let mut codes = std::collections::HashSet::new();
        for (cause, code, text) in table {
            assert_eq!(cause.code(), code);
            assert!(cause.to_string().contains(text), "{cause}");
            assert!(codes.insert(code));
            let v = serde_json::to_value(Verdict::Stops { hop: 1, cause }).unwrap();
            assert_eq!(v["verdict"], "stops");
            assert_eq!(v["cause"], code);
        }
    }
}
