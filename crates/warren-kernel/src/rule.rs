//! Policy routing rules (`ip rule show`): [`Handle::rules`] dumps `RTM_GETRULE` for IPv4 and
//! IPv6 and decodes each into a [`Rule`] (priority, selector, action), printed as `ip rule`
//! prints it.

use std::fmt;
use std::net::IpAddr;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};

use crate::addr::{Family, IpNet};
use crate::error::Result;
use crate::handle::Handle;
use crate::netlink::Request;

/// What a rule does when its selector matches (`FR_ACT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Look the route up in a table (`lookup TABLE`).
    Lookup,
    /// Jump to the rule with another priority (`goto PRIO`).
    Goto,
    /// Do nothing (`nop`).
    Nop,
    /// Drop silently (`blackhole`).
    Blackhole,
    /// Refuse with "network unreachable" (`unreachable`).
    Unreachable,
    /// Refuse with "prohibited" (`prohibit`).
    Prohibit,
    /// An action number this code does not know.
    Other(u8),
}

/// A port range selector (`sport`/`dport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port.
    pub end: u16,
}

/// A policy routing rule as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    /// IPv4 or IPv6.
    #[serde(serialize_with = "ser_family")]
    pub family: Family,
    /// Priority (`pref`): lower is consulted first.
    pub priority: u32,
    /// `not`: the selector is inverted.
    pub invert: bool,
    /// Source prefix (`from`); `None` is `all`.
    pub from: Option<IpNet>,
    /// Destination prefix (`to`).
    pub to: Option<IpNet>,
    /// Input interface (`iif`).
    pub iif: Option<String>,
    /// Output interface (`oif`).
    pub oif: Option<String>,
    /// Firewall mark (`fwmark`).
    pub fwmark: Option<u32>,
    /// Mask of the firewall mark, when not all ones.
    pub fwmask: Option<u32>,
    /// Type of service (`tos`), 0 when unset.
    pub tos: u8,
    /// IP protocol (`ipproto`).
    pub ip_proto: Option<u8>,
    /// Source ports (`sport`).
    pub sport: Option<PortRange>,
    /// Destination ports (`dport`).
    pub dport: Option<PortRange>,
    /// `suppress_prefixlength`.
    pub suppress_prefixlen: Option<u32>,
    /// The action.
    pub action: Action,
    /// The table looked up (for [`Action::Lookup`]).
    pub table: u32,
    /// Target priority (for [`Action::Goto`]).
    pub goto: Option<u32>,
}

fn ser_family<S: serde::Serializer>(f: &Family, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(f.name())
}

impl Rule {
    /// Decode a `RTM_NEWRULE` message; `None` for families other than IPv4 and IPv6.
    pub fn from_message(m: &RuleMessage) -> Option<Rule> {
        let family = Family::from_netlink(m.header.family)?;
        let mut r = Rule {
            family,
            priority: 0,
            invert: m.header.flags.contains(RuleFlags::Invert),
            from: None,
            to: None,
            iif: None,
            oif: None,
            fwmark: None,
            fwmask: None,
            tos: m.header.tos,
            ip_proto: None,
            sport: None,
            dport: None,
            suppress_prefixlen: None,
            action: match m.header.action {
                RuleAction::ToTable => Action::Lookup,
                RuleAction::Goto => Action::Goto,
                RuleAction::Nop => Action::Nop,
                RuleAction::Blackhole => Action::Blackhole,
                RuleAction::Unreachable => Action::Unreachable,
                RuleAction::Prohibit => Action::Prohibit,
                RuleAction::Other(n) => Action::Other(n),
                _ => Action::Other(0),
            },
            table: u32::from(m.header.table),
            goto: None,
        };
        let net = |ip: &IpAddr, len: u8| IpNet::new(*ip, len).ok();
        for a in &m.attributes {
            match a {
                RuleAttribute::Source(ip) => r.from = net(ip, m.header.src_len),
                RuleAttribute::Destination(ip) => r.to = net(ip, m.header.dst_len),
                RuleAttribute::Iifname(n) => r.iif = Some(n.clone()),
                RuleAttribute::Oifname(n) => r.oif = Some(n.clone()),
                RuleAttribute::Priority(p) => r.priority = *p,
                RuleAttribute::FwMark(v) => r.fwmark = Some(*v),
                RuleAttribute::FwMask(v) if *v != u32::MAX => r.fwmask = Some(*v),
                RuleAttribute::Table(t) => r.table = *t,
                RuleAttribute::Goto(p) => r.goto = Some(*p),
                RuleAttribute::SuppressPrefixLen(v) if *v != u32::MAX => {
                    r.suppress_prefixlen = Some(*v)
                }
                RuleAttribute::IpProtocol(p) => r.ip_proto = Some(i32::from(*p) as u8),
                RuleAttribute::SourcePortRange(p) => {
                    r.sport = Some(PortRange {
                        start: p.start,
                        end: p.end,
                    })
                }
                RuleAttribute::DestinationPortRange(p) => {
                    r.dport = Some(PortRange {
                        start: p.start,
                        end: p.end,
                    })
                }
                _ => {}
            }
        }
        Some(r)
    }
}

/// A table id as `ip` names it (`local`, `main`, `default`, or the number).
pub fn table_name(id: u32) -> String {
    match id {
        253 => "default".into(),
        254 => "main".into(),
        255 => "local".into(),
        n => n.to_string(),
    }
}

impl fmt::Display for Rule {
    /// `ip rule show` style: `100:\tfrom 10.0.0.0/24 iif eth0 lookup 100`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:\t", self.priority)?;
        if self.invert {
            f.write_str("not ")?;
        }
        match &self.from {
            Some(n) => write!(f, "from {n}")?,
            None => f.write_str("from all")?,
        }
        if let Some(n) = &self.to {
            write!(f, " to {n}")?;
        }
        if self.tos != 0 {
            write!(f, " tos {:#x}", self.tos)?;
        }
        if let Some(m) = self.fwmark {
            write!(f, " fwmark {m:#x}")?;
            if let Some(mask) = self.fwmask {
                write!(f, "/{mask:#x}")?;
            }
        }
        if let Some(i) = &self.iif {
            write!(f, " iif {i}")?;
        }
        if let Some(o) = &self.oif {
            write!(f, " oif {o}")?;
        }
        if let Some(p) = self.ip_proto {
            write!(f, " ipproto {p}")?;
        }
        for (word, range) in [("sport", self.sport), ("dport", self.dport)] {
            match range {
                Some(r) if r.start == r.end => write!(f, " {word} {}", r.start)?,
                Some(r) => write!(f, " {word} {}-{}", r.start, r.end)?,
                None => {}
            }
        }
        match self.action {
            Action::Lookup => write!(f, " lookup {}", table_name(self.table))?,
            Action::Goto => match self.goto {
                Some(p) => write!(f, " goto {p}")?,
                None => f.write_str(" goto none")?,
            },
            Action::Nop => f.write_str(" nop")?,
            Action::Blackhole => f.write_str(" blackhole")?,
            Action::Unreachable => f.write_str(" unreachable")?,
            Action::Prohibit => f.write_str(" prohibit")?,
            Action::Other(n) => write!(f, " action {n}")?,
        }
        if let Some(l) = self.suppress_prefixlen {
            write!(f, " suppress_prefixlength {l}")?;
        }
        Ok(())
    }
}

impl Handle {
    /// The policy routing rules of this namespace, IPv4 then IPv6, each by priority (the
    /// kernel's order), as `ip rule show` and `ip -6 rule show` list them.
    pub fn rules(&self) -> Result<Vec<Rule>> {
        let mut out = Vec::new();
        for family in [Family::V4, Family::V6] {
            let mut m = RuleMessage::default();
            m.header.family = family.to_netlink();
            let req = Request::new(RouteNetlinkMessage::GetRule(m), 0, "list rules", "*");
            out.extend(self.dump(req)?.iter().filter_map(|m| match m {
                RouteNetlinkMessage::NewRule(r) => Rule::from_message(r),
                _ => None,
            }));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(action: RuleAction, table: u8, attrs: Vec<RuleAttribute>) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = netlink_packet_route::AddressFamily::Inet;
        m.header.action = action;
        m.header.table = table;
        m.header.src_len = 24;
        m.attributes = attrs;
        m
    }

    #[test]
    fn decodes_and_prints_like_ip_rule() {
        let cases: Vec<(RuleMessage, &str)> = vec![
            (
                msg(
                    RuleAction::ToTable,
                    255,
                    vec![RuleAttribute::Priority(0), RuleAttribute::Table(255)],
                ),
                "0:\tfrom all lookup local",
            ),
            (
                msg(
                    RuleAction::ToTable,
                    100,
                    vec![
                        RuleAttribute::Priority(1000),
                        RuleAttribute::Source("10.1.0.0".parse().unwrap()),
                        RuleAttribute::Iifname("eth0".into()),
                        RuleAttribute::FwMark(0x10),
                        RuleAttribute::FwMask(0xff),
                        RuleAttribute::Table(100),
                    ],
                ),
                "1000:\tfrom 10.1.0.0/24 fwmark 0x10/0xff iif eth0 lookup 100",
            ),
            (
                msg(
                    RuleAction::Goto,
                    0,
                    vec![RuleAttribute::Priority(5), RuleAttribute::Goto(32766)],
                ),
                "5:\tfrom all goto 32766",
            ),
            (
                msg(
                    RuleAction::Blackhole,
                    0,
                    vec![
                        RuleAttribute::Priority(7),
                        RuleAttribute::Oifname("wbr0".into()),
                    ],
                ),
                "7:\tfrom all oif wbr0 blackhole",
            ),
        ];
        for (m, want) in cases {
            let r = Rule::from_message(&m).unwrap();
            assert_eq!(r.to_string(), want);
        }
    }

    #[test]
    fn other_families_are_skipped() {
        let mut m = msg(RuleAction::ToTable, 254, vec![]);
        m.header.family = netlink_packet_route::AddressFamily::Bridge;
        assert!(Rule::from_message(&m).is_none());
    }
}
