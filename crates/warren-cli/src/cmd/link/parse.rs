//! The pure stage of `warren link`: words in ip's syntax to a [`LinkCmd`], with no system
//! access, so every case is tested without privileges.

use std::fmt;
use std::net::IpAddr;

use warren_kernel::link::bridge::{BridgePortOptions, FdbAdd, FdbState, FdbTarget};
use warren_kernel::link::ipvlan::{IpVlanFlag, IpVlanMode};
use warren_kernel::link::macvlan::MacVlanMode;
use warren_kernel::link::tuntap::TunTapMode;
use warren_kernel::link::{format_mac, parse_mac, validate_ifname};

pub use crate::cmd::ParseError;

fn perr(cmd: &str, msg: impl fmt::Display) -> ParseError {
    crate::cmd::perr(&format!("link {cmd}"), msg)
}

/// What `warren link` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkCmd {
    /// `add`.
    Add(AddCmd),
    /// `del NAME`.
    Del {
        /// The link.
        name: String,
    },
    /// `set NAME ...` (link properties).
    Set(SetCmd),
    /// `set NAME type bridge_slave ...`.
    SetPort {
        /// The port.
        name: String,
        /// The flags to change.
        opts: BridgePortOptions,
    },
    /// `show [NAME]`.
    Show {
        /// Only this link.
        name: Option<String>,
    },
    /// `fdb add|append|replace|del`.
    Fdb(FdbCmd),
    /// `fdb show [dev IF]`.
    FdbShow {
        /// Only entries of this bridge or port.
        dev: Option<String>,
    },
}

/// `link add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCmd {
    /// Name of the new link.
    pub name: String,
    /// `mtu N`.
    pub mtu: Option<u32>,
    /// `address MAC`.
    pub mac: Option<[u8; 6]>,
    /// `master BR`.
    pub master: Option<String>,
    /// `netns NS`: create it inside NS (macvlan, macvtap and ipvlan, whose parent stays here).
    pub netns: Option<String>,
    /// `up`.
    pub up: bool,
    /// `type KIND ...`.
    pub kind: Kind,
}

/// The kind of link to add and its own arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `veth peer [name] P [netns NS] [address MAC]`.
    Veth {
        /// The peer's name.
        peer: String,
        /// The peer's namespace (name, path or pid:N).
        netns: Option<String>,
        /// The peer's MAC.
        mac: Option<[u8; 6]>,
    },
    /// `bridge`.
    Bridge {
        /// `stp_state 0|1`.
        stp: Option<bool>,
        /// `vlan_filtering 0|1`.
        vlan_filtering: Option<bool>,
        /// `forward_delay CS` (centiseconds, as ip).
        forward_delay: Option<u32>,
        /// `ageing_time CS` (centiseconds, as ip).
        ageing_time: Option<u32>,
    },
    /// `macvlan` or `macvtap`.
    MacVlan {
        /// `link PARENT`.
        parent: String,
        /// `mode M`.
        mode: MacVlanMode,
        /// macvtap rather than macvlan.
        tap: bool,
    },
    /// `ipvlan`.
    IpVlan {
        /// `link PARENT`.
        parent: String,
        /// `mode l2|l3|l3s`.
        mode: IpVlanMode,
        /// `bridge|private|vepa`.
        flag: IpVlanFlag,
    },
    /// `vxlan`.
    Vxlan {
        /// `id VNI`.
        vni: u32,
        /// `local IP`.
        local: Option<IpAddr>,
        /// `remote IP`.
        remote: Option<IpAddr>,
        /// `group IP`.
        group: Option<IpAddr>,
        /// `dev IF`.
        dev: Option<String>,
        /// `dstport N`.
        dstport: Option<u16>,
        /// `nolearning` gives false.
        learning: Option<bool>,
        /// `ttl N`.
        ttl: Option<u8>,
    },
    /// `tun` or `tap`.
    TunTap {
        /// Tun or tap.
        mode: TunTapMode,
        /// `user U` (name or uid).
        user: Option<String>,
        /// `group G` (name or gid).
        group: Option<String>,
        /// `multi_queue`.
        multi_queue: bool,
        /// `vnet_hdr`.
        vnet_hdr: bool,
        /// `pi`.
        packet_info: bool,
    },
}

/// `link set NAME ...` (everything but altnames goes in one request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetCmd {
    /// The link.
    pub name: String,
    /// `up` / `down`.
    pub up: Option<bool>,
    /// `mtu N`.
    pub mtu: Option<u32>,
    /// `address MAC`.
    pub mac: Option<[u8; 6]>,
    /// `name NEW`.
    pub new_name: Option<String>,
    /// `master BR` (Some(Some)) or `nomaster` (Some(None)).
    pub master: Option<Option<String>>,
    /// `netns NS`.
    pub netns: Option<String>,
    /// `txqueuelen N`.
    pub txqueuelen: Option<u32>,
    /// `altname add A`.
    pub altname_add: Vec<String>,
    /// `altname del A`.
    pub altname_del: Vec<String>,
}

/// `link fdb add|append|replace|del`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbCmd {
    /// `None` deletes; otherwise how to add.
    pub add: Option<FdbAdd>,
    /// The MAC.
    pub mac: [u8; 6],
    /// `dev PORT`.
    pub dev: String,
    /// `master` (default) or `self`.
    pub target: FdbTarget,
    /// `permanent` (default), `static`, `dynamic`.
    pub state: FdbState,
    /// `dst IP`.
    pub dst: Option<IpAddr>,
    /// `vlan N`.
    pub vlan: Option<u16>,
    /// `vni N`.
    pub vni: Option<u32>,
}

/// Words of one command, with helpers that name the command in errors.
struct Words<'a> {
    cmd: &'static str,
    it: std::slice::Iter<'a, String>,
}

impl<'a> Words<'a> {
    fn new(cmd: &'static str, args: &'a [String]) -> Self {
        Words {
            cmd,
            it: args.iter(),
        }
    }

    fn next(&mut self) -> Option<&'a str> {
        self.it.next().map(String::as_str)
    }

    fn value(&mut self, key: &str) -> Result<&'a str, ParseError> {
        self.next()
            .ok_or_else(|| perr(self.cmd, format!("{key:?} needs a value")))
    }

    fn number<T: std::str::FromStr>(&mut self, key: &str) -> Result<T, ParseError> {
        let v = self.value(key)?;
        v.parse()
            .map_err(|_| perr(self.cmd, format!("invalid {key} {v:?}")))
    }

    fn ifname(&mut self, key: &str) -> Result<String, ParseError> {
        let v = self.value(key)?;
        check_ifname(self.cmd, v)?;
        Ok(v.to_owned())
    }

    fn mac(&mut self, key: &str) -> Result<[u8; 6], ParseError> {
        let v = self.value(key)?;
        parse_mac(v).map_err(|e| perr(self.cmd, e))
    }

    fn ip(&mut self, key: &str) -> Result<IpAddr, ParseError> {
        let v = self.value(key)?;
        v.parse()
            .map_err(|_| perr(self.cmd, format!("invalid {key} address {v:?}")))
    }

    fn bool01(&mut self, key: &str) -> Result<bool, ParseError> {
        match self.value(key)? {
            "0" => Ok(false),
            "1" => Ok(true),
            v => Err(perr(self.cmd, format!("{key} takes 0 or 1, not {v:?}"))),
        }
    }

    fn on_off(&mut self, key: &str) -> Result<bool, ParseError> {
        match self.value(key)? {
            "on" => Ok(true),
            "off" => Ok(false),
            v => Err(perr(self.cmd, format!("{key} takes on or off, not {v:?}"))),
        }
    }

    fn unknown(&self, w: &str) -> ParseError {
        perr(self.cmd, format!("unknown argument {w:?}"))
    }
}

/// A name to look a link up by: an interface name, or an altname (up to 127 bytes).
fn check_lookup_name(cmd: &str, name: &str) -> Result<(), ParseError> {
    if name.len() > 15 && name.len() < 128 && !name.contains(['/', ':', '\0', ' ']) {
        return Ok(());
    }
    check_ifname(cmd, name)
}

fn check_ifname(cmd: &str, name: &str) -> Result<(), ParseError> {
    validate_ifname(name).map_err(|e| perr(cmd, e))
}

/// Parse the words after `link`.
pub fn parse(args: &[String]) -> Result<LinkCmd, ParseError> {
    let Some((first, rest)) = args.split_first() else {
        return Ok(LinkCmd::Show { name: None });
    };
    match first.as_str() {
        "add" | "a" => parse_add(rest).map(LinkCmd::Add),
        "del" | "delete" | "d" => {
            let mut w = Words::new("del", rest);
            let mut name = None;
            while let Some(word) = w.next() {
                match word {
                    "dev" | "name" => name = Some(w.ifname(word)?),
                    _ if name.is_none() => {
                        check_ifname("del", word)?;
                        name = Some(word.to_owned());
                    }
                    _ => return Err(w.unknown(word)),
                }
            }
            Ok(LinkCmd::Del {
                name: name.ok_or_else(|| perr("del", "needs the link's NAME"))?,
            })
        }
        "set" | "s" => parse_set(rest),
        "show" | "list" | "ls" | "sh" => {
            let mut w = Words::new("show", rest);
            let mut name = None;
            while let Some(word) = w.next() {
                match word {
                    "dev" => name = Some(w.value("dev")?.to_owned()),
                    _ if name.is_none() => name = Some(word.to_owned()),
                    _ => return Err(w.unknown(word)),
                }
            }
            Ok(LinkCmd::Show { name })
        }
        "property" => parse_property(rest),
        "fdb" => parse_fdb(rest),
        other => Err(ParseError(format!(
            "link: unknown command {other:?} (expected add, del, set, show, fdb)"
        ))),
    }
}

fn parse_add(args: &[String]) -> Result<AddCmd, ParseError> {
    let mut w = Words::new("add", args);
    let mut name = None;
    let mut mtu = None;
    let mut mac = None;
    let mut master = None;
    let mut up = false;
    let mut netns = None;
    let mut parent: Option<String> = None;
    let mut kind = None;
    while let Some(word) = w.next() {
        match word {
            "name" | "dev" => name = Some(w.ifname(word)?),
            "mtu" => mtu = Some(w.number("mtu")?),
            "address" => mac = Some(w.mac("address")?),
            "master" => master = Some(w.ifname("master")?),
            "link" => parent = Some(w.value("link")?.to_owned()),
            "up" => up = true,
            "netns" => netns = Some(w.value("netns")?.to_owned()),
            "type" => {
                let t = w.value("type")?;
                kind = Some(parse_kind(t, &mut w, parent.take())?);
                break;
            }
            _ if name.is_none() => {
                check_ifname("add", word)?;
                name = Some(word.to_owned());
            }
            _ => return Err(w.unknown(word)),
        }
    }
    let name = name.ok_or_else(|| perr("add", "needs the new link's NAME"))?;
    let kind = kind.ok_or_else(|| perr("add", format!("{name}: needs type KIND")))?;
    if netns.is_some() && !matches!(kind, Kind::MacVlan { .. } | Kind::IpVlan { .. }) {
        return Err(perr(
            "add",
            format!(
                "{name}: netns NS applies to macvlan, macvtap and ipvlan; move others with set NAME netns NS"
            ),
        ));
    }
    Ok(AddCmd {
        name,
        mtu,
        mac,
        master,
        netns,
        up,
        kind,
    })
}

fn parse_kind(t: &str, w: &mut Words<'_>, mut parent: Option<String>) -> Result<Kind, ParseError> {
    let kind = match t {
        "veth" => {
            // Without `peer ...` the kernel names the peer (vethN), as with ip.
            let Some(word) = w.next() else {
                return Ok(Kind::Veth {
                    peer: String::new(),
                    netns: None,
                    mac: None,
                });
            };
            if word != "peer" {
                return Err(w.unknown(word));
            }
            let (mut peer, mut netns, mut mac) = (None, None, None);
            while let Some(word) = w.next() {
                match word {
                    "name" => peer = Some(w.ifname("peer name")?),
                    "netns" => netns = Some(w.value("netns")?.to_owned()),
                    "address" => mac = Some(w.mac("peer address")?),
                    _ if peer.is_none() => {
                        check_ifname("add", word)?;
                        peer = Some(word.to_owned());
                    }
                    _ => return Err(w.unknown(word)),
                }
            }
            let peer = peer.ok_or_else(|| perr("add", "peer needs a NAME"))?;
            return Ok(Kind::Veth { peer, netns, mac });
        }
        "bridge" => {
            let (mut stp, mut vlan_filtering, mut forward_delay, mut ageing_time) =
                (None, None, None, None);
            while let Some(word) = w.next() {
                match word {
                    "stp_state" => stp = Some(w.bool01("stp_state")?),
                    "vlan_filtering" => vlan_filtering = Some(w.bool01("vlan_filtering")?),
                    "forward_delay" => forward_delay = Some(w.number("forward_delay")?),
                    "ageing_time" => ageing_time = Some(w.number("ageing_time")?),
                    _ => return Err(w.unknown(word)),
                }
            }
            Kind::Bridge {
                stp,
                vlan_filtering,
                forward_delay,
                ageing_time,
            }
        }
        "macvlan" | "macvtap" => {
            let mut mode = None;
            while let Some(word) = w.next() {
                match word {
                    "link" => parent = Some(w.value("link")?.to_owned()),
                    "mode" => {
                        mode =
                            Some(MacVlanMode::parse(w.value("mode")?).map_err(|e| perr("add", e))?);
                    }
                    _ => return Err(w.unknown(word)),
                }
            }
            let parent = parent
                .take()
                .ok_or_else(|| perr("add", format!("type {t} needs link PARENT")))?;
            Kind::MacVlan {
                parent,
                mode: mode.unwrap_or(MacVlanMode::Vepa),
                tap: t == "macvtap",
            }
        }
        "ipvlan" => {
            let (mut mode, mut flag) = (IpVlanMode::L3, IpVlanFlag::Bridge);
            while let Some(word) = w.next() {
                match word {
                    "link" => parent = Some(w.value("link")?.to_owned()),
                    "mode" => {
                        mode = IpVlanMode::parse(w.value("mode")?).map_err(|e| perr("add", e))?
                    }
                    "bridge" | "private" | "vepa" => {
                        flag = IpVlanFlag::parse(word).map_err(|e| perr("add", e))?;
                    }
                    _ => return Err(w.unknown(word)),
                }
            }
            let parent = parent
                .take()
                .ok_or_else(|| perr("add", "type ipvlan needs link PARENT"))?;
            Kind::IpVlan { parent, mode, flag }
        }
        "vxlan" => {
            let mut vni = None;
            let (mut local, mut remote, mut group, mut dev) = (None, None, None, parent.take());
            let (mut dstport, mut learning, mut ttl) = (None, None, None);
            while let Some(word) = w.next() {
                match word {
                    "id" | "vni" => vni = Some(w.number::<u32>("id")?),
                    "local" => local = Some(w.ip("local")?),
                    "remote" => remote = Some(w.ip("remote")?),
                    "group" => group = Some(w.ip("group")?),
                    "dev" => dev = Some(w.value("dev")?.to_owned()),
                    "dstport" => dstport = Some(w.number("dstport")?),
                    "ttl" | "hoplimit" => ttl = Some(w.number("ttl")?),
                    "learning" => learning = Some(true),
                    "nolearning" => learning = Some(false),
                    _ => return Err(w.unknown(word)),
                }
            }
            let vni = vni.ok_or_else(|| perr("add", "type vxlan needs id VNI"))?;
            warren_kernel::link::vxlan::check(vni, remote, group).map_err(|e| perr("add", e))?;
            Kind::Vxlan {
                vni,
                local,
                remote,
                group,
                dev,
                dstport,
                learning,
                ttl,
            }
        }
        "tun" | "tap" => {
            let (mut user, mut group) = (None, None);
            let (mut multi_queue, mut vnet_hdr, mut packet_info) = (false, false, false);
            while let Some(word) = w.next() {
                match word {
                    "user" => user = Some(w.value("user")?.to_owned()),
                    "group" => group = Some(w.value("group")?.to_owned()),
                    "multi_queue" => multi_queue = true,
                    "vnet_hdr" => vnet_hdr = true,
                    "pi" => packet_info = true,
                    _ => return Err(w.unknown(word)),
                }
            }
            let mode = if t == "tun" {
                TunTapMode::Tun
            } else {
                TunTapMode::Tap
            };
            Kind::TunTap {
                mode,
                user,
                group,
                multi_queue,
                vnet_hdr,
                packet_info,
            }
        }
        other => {
            return Err(perr(
                "add",
                format!(
                    "unknown type {other:?} (expected veth, bridge, macvlan, macvtap, ipvlan, vxlan, tun, tap)"
                ),
            ));
        }
    };
    if let Some(p) = parent {
        return Err(perr(
            "add",
            format!("link {p:?} does not apply to type {t}"),
        ));
    }
    Ok(kind)
}

fn parse_set(args: &[String]) -> Result<LinkCmd, ParseError> {
    let mut w = Words::new("set", args);
    let mut s = SetCmd::default();
    let mut any = false;
    while let Some(word) = w.next() {
        if s.name.is_empty() {
            let name = if word == "dev" { w.value("dev")? } else { word };
            check_lookup_name("set", name)?;
            s.name = name.to_owned();
            continue;
        }
        any = true;
        match word {
            "up" => s.up = Some(true),
            "down" => s.up = Some(false),
            "mtu" => s.mtu = Some(w.number("mtu")?),
            "address" => s.mac = Some(w.mac("address")?),
            "name" => s.new_name = Some(w.ifname("name")?),
            "master" => s.master = Some(Some(w.ifname("master")?)),
            "nomaster" => s.master = Some(None),
            "netns" => s.netns = Some(w.value("netns")?.to_owned()),
            "txqueuelen" | "txqlen" => s.txqueuelen = Some(w.number("txqueuelen")?),
            "altname" => {
                let op = w.value("altname")?;
                let alt = w.value("altname")?.to_owned();
                match op {
                    "add" => s.altname_add.push(alt),
                    "del" | "delete" => s.altname_del.push(alt),
                    _ => return Err(perr("set", format!("altname takes add or del, not {op:?}"))),
                }
            }
            "type" => {
                let t = w.value("type")?;
                if t != "bridge_slave" {
                    return Err(perr(
                        "set",
                        format!("type {t:?}: only bridge_slave can be set"),
                    ));
                }
                if s != (SetCmd {
                    name: s.name.clone(),
                    ..SetCmd::default()
                }) {
                    return Err(perr(
                        "set",
                        "type bridge_slave cannot be mixed with other changes",
                    ));
                }
                return parse_port(&s.name, &mut w);
            }
            _ => return Err(w.unknown(word)),
        }
    }
    if s.name.is_empty() {
        return Err(perr("set", "needs the link's NAME"));
    }
    if !any {
        return Err(perr("set", format!("{}: nothing to change", s.name)));
    }
    Ok(LinkCmd::Set(s))
}

fn parse_port(name: &str, w: &mut Words<'_>) -> Result<LinkCmd, ParseError> {
    let mut o = BridgePortOptions::default();
    while let Some(word) = w.next() {
        let flag = match word {
            "hairpin" => &mut o.hairpin,
            "learning" => &mut o.learning,
            "flood" => &mut o.flood,
            "mcast_flood" => &mut o.mcast_flood,
            "bcast_flood" => &mut o.bcast_flood,
            "isolated" => &mut o.isolated,
            "proxy_arp" => &mut o.proxy_arp,
            "neigh_suppress" => &mut o.neigh_suppress,
            "cost" => {
                o.cost = Some(w.number("cost")?);
                continue;
            }
            "priority" => {
                o.priority = Some(w.number("priority")?);
                continue;
            }
            _ => return Err(w.unknown(word)),
        };
        *flag = Some(w.on_off(word)?);
    }
    if o == BridgePortOptions::default() {
        return Err(perr(
            "set",
            format!("{name}: type bridge_slave needs at least one flag"),
        ));
    }
    Ok(LinkCmd::SetPort {
        name: name.to_owned(),
        opts: o,
    })
}

/// `property add|del dev NAME altname A` (ip's spelling of altnames).
fn parse_property(args: &[String]) -> Result<LinkCmd, ParseError> {
    let mut w = Words::new("property", args);
    let add = match w.value("property")? {
        "add" => true,
        "del" | "delete" => false,
        op => return Err(perr("property", format!("expected add or del, not {op:?}"))),
    };
    let mut s = SetCmd::default();
    while let Some(word) = w.next() {
        match word {
            "dev" => s.name = w.value("dev")?.to_owned(),
            "altname" => {
                let a = w.value("altname")?.to_owned();
                if add {
                    s.altname_add.push(a)
                } else {
                    s.altname_del.push(a)
                }
            }
            _ => return Err(w.unknown(word)),
        }
    }
    if s.name.is_empty() || (s.altname_add.is_empty() && s.altname_del.is_empty()) {
        return Err(perr("property", "needs dev NAME and altname A"));
    }
    Ok(LinkCmd::Set(s))
}

fn parse_fdb(args: &[String]) -> Result<LinkCmd, ParseError> {
    let Some((op, rest)) = args.split_first() else {
        return Ok(LinkCmd::FdbShow { dev: None });
    };
    let add = match op.as_str() {
        "show" | "list" | "ls" => {
            let mut w = Words::new("fdb show", rest);
            let mut dev = None;
            while let Some(word) = w.next() {
                match word {
                    "dev" | "br" => dev = Some(w.value(word)?.to_owned()),
                    _ => return Err(w.unknown(word)),
                }
            }
            return Ok(LinkCmd::FdbShow { dev });
        }
        "add" => Some(FdbAdd::Exclusive),
        "append" => Some(FdbAdd::Append),
        "replace" => Some(FdbAdd::Replace),
        "del" | "delete" => None,
        other => {
            return Err(perr(
                "fdb",
                format!("unknown command {other:?} (expected add, append, replace, del, show)"),
            ));
        }
    };
    let mut w = Words::new("fdb", rest);
    let mac = w.mac("MAC")?;
    let mut c = FdbCmd {
        add,
        mac,
        dev: String::new(),
        target: FdbTarget::Master,
        state: FdbState::Permanent,
        dst: None,
        vlan: None,
        vni: None,
    };
    let mut target = None;
    while let Some(word) = w.next() {
        match word {
            "dev" => c.dev = w.ifname("dev")?,
            "master" => target = Some(FdbTarget::Master),
            "self" => target = Some(FdbTarget::SelfDev),
            "permanent" | "local" => c.state = FdbState::Permanent,
            "static" => c.state = FdbState::Static,
            "dynamic" => c.state = FdbState::Dynamic,
            "dst" => c.dst = Some(w.ip("dst")?),
            "vlan" => c.vlan = Some(w.number("vlan")?),
            "vni" => c.vni = Some(w.number("vni")?),
            _ => return Err(w.unknown(word)),
        }
    }
    if c.dev.is_empty() {
        return Err(perr(
            "fdb",
            format!("{}: needs dev PORT", format_mac(&c.mac)),
        ));
    }
    // A remote (vxlan) entry belongs to the device itself unless told otherwise.
    c.target = target.unwrap_or(if c.dst.is_some() {
        FdbTarget::SelfDev
    } else {
        FdbTarget::Master
    });
    Ok(LinkCmd::Fdb(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<LinkCmd, ParseError> {
        let args: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        parse(&args)
    }

    fn add(s: &str) -> AddCmd {
        match p(s) {
            Ok(LinkCmd::Add(a)) => a,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn veth_add_with_everything() {
        let a = add(
            "add v0 mtu 1400 address 02:00:00:00:00:01 master br0 up type veth peer name p0 netns red address 02:00:00:00:00:02",
        );
        assert_eq!(a.name, "v0");
        assert_eq!(a.mtu, Some(1400));
        assert_eq!(a.mac, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(a.master.as_deref(), Some("br0"));
        assert!(a.up);
        assert_eq!(
            a.kind,
            Kind::Veth {
                peer: "p0".into(),
                netns: Some("red".into()),
                mac: Some([2, 0, 0, 0, 0, 2])
            }
        );
        // `peer P` without `name`, and `name NAME` for the link.
        let b = add("add name v1 type veth peer p1");
        assert_eq!(
            b.kind,
            Kind::Veth {
                peer: "p1".into(),
                netns: None,
                mac: None
            }
        );
    }

    #[test]
    fn every_kind_parses() {
        let table: &[(&str, Kind)] = &[
            (
                "add br0 type bridge stp_state 1 vlan_filtering 0",
                Kind::Bridge {
                    stp: Some(true),
                    vlan_filtering: Some(false),
                    forward_delay: None,
                    ageing_time: None,
                },
            ),
            (
                "add mv0 type macvlan link eth0 mode bridge",
                Kind::MacVlan {
                    parent: "eth0".into(),
                    mode: MacVlanMode::Bridge,
                    tap: false,
                },
            ),
            (
                "add mv0 link eth0 type macvtap mode passthru",
                Kind::MacVlan {
                    parent: "eth0".into(),
                    mode: MacVlanMode::Passthru,
                    tap: true,
                },
            ),
            (
                "add i0 type ipvlan link eth0 mode l3s private",
                Kind::IpVlan {
                    parent: "eth0".into(),
                    mode: IpVlanMode::L3s,
                    flag: IpVlanFlag::Private,
                },
            ),
            (
                "add vx0 type vxlan id 42 local 10.0.0.1 remote 10.0.0.2 dev eth0 dstport 4789 nolearning",
                Kind::Vxlan {
                    vni: 42,
                    local: Some("10.0.0.1".parse().unwrap()),
                    remote: Some("10.0.0.2".parse().unwrap()),
                    group: None,
                    dev: Some("eth0".into()),
                    dstport: Some(4789),
                    learning: Some(false),
                    ttl: None,
                },
            ),
            (
                "add t0 type tap user 1000 group kvm multi_queue",
                Kind::TunTap {
                    mode: TunTapMode::Tap,
                    user: Some("1000".into()),
                    group: Some("kvm".into()),
                    multi_queue: true,
                    vnet_hdr: false,
                    packet_info: false,
                },
            ),
        ];
        for (line, want) in table {
            assert_eq!(&add(line).kind, want, "{line}");
        }
    }

    #[test]
    fn set_takes_several_changes_like_ip() {
        let Ok(LinkCmd::Set(s)) = p(
            "set dev v0 down mtu 1300 address 02:00:00:00:00:09 name v9 master br0 netns red txqueuelen 5 altname add long-name-here altname del old",
        ) else {
            panic!()
        };
        assert_eq!(s.name, "v0");
        assert_eq!(s.up, Some(false));
        assert_eq!(s.mtu, Some(1300));
        assert_eq!(s.new_name.as_deref(), Some("v9"));
        assert_eq!(s.master, Some(Some("br0".into())));
        assert_eq!(s.netns.as_deref(), Some("red"));
        assert_eq!(s.txqueuelen, Some(5));
        assert_eq!(s.altname_add, vec!["long-name-here".to_string()]);
        assert_eq!(s.altname_del, vec!["old".to_string()]);
        let Ok(LinkCmd::Set(n)) = p("set v0 nomaster up") else {
            panic!()
        };
        assert_eq!((n.master, n.up), (Some(None), Some(true)));
    }

    #[test]
    fn bridge_slave_flags() {
        let got =
            p("set hv0 type bridge_slave hairpin on learning off flood off isolated on").unwrap();
        let want = BridgePortOptions {
            hairpin: Some(true),
            learning: Some(false),
            flood: Some(false),
            isolated: Some(true),
            ..BridgePortOptions::default()
        };
        assert_eq!(
            got,
            LinkCmd::SetPort {
                name: "hv0".into(),
                opts: want
            }
        );
    }

    #[test]
    fn show_del_fdb() {
        assert_eq!(p("").unwrap(), LinkCmd::Show { name: None });
        assert_eq!(
            p("show v0").unwrap(),
            LinkCmd::Show {
                name: Some("v0".into())
            }
        );
        assert_eq!(p("del dev v0").unwrap(), LinkCmd::Del { name: "v0".into() });
        let LinkCmd::Fdb(f) = p("fdb add 02:00:00:00:00:01 dev hv0 static vlan 3").unwrap() else {
            panic!()
        };
        assert_eq!(
            (f.add, f.target, f.state, f.vlan),
            (
                Some(FdbAdd::Exclusive),
                FdbTarget::Master,
                FdbState::Static,
                Some(3)
            )
        );
        let LinkCmd::Fdb(f) = p("fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.3").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (f.add, f.target),
            (Some(FdbAdd::Append), FdbTarget::SelfDev)
        );
        let LinkCmd::Fdb(f) = p("fdb del 02:00:00:00:00:01 dev hv0 self").unwrap() else {
            panic!()
        };
        assert_eq!((f.add, f.target), (None, FdbTarget::SelfDev));
        assert_eq!(
            p("fdb show dev br0").unwrap(),
            LinkCmd::FdbShow {
                dev: Some("br0".into())
            }
        );
    }

    #[test]
    fn bad_input_names_the_problem() {
        let cases = [
            ("add a-name-of-16-byt type bridge", "longer than 15 bytes"),
            ("add b0 netns red type bridge", "applies to macvlan"),
            ("add v0 type veth peer", "peer needs a NAME"),
            ("add v0 type veth peer netns red", "peer needs a NAME"),
            ("add v0", "needs type KIND"),
            ("add v0 type dummy", "unknown type \"dummy\""),
            ("add mv0 type macvlan mode bridge", "needs link PARENT"),
            ("add mv0 type macvlan link e mode sideways", "macvlan mode"),
            ("add i0 type ipvlan link e mode l4", "ipvlan mode"),
            ("add vx0 type vxlan", "needs id VNI"),
            ("add vx0 type vxlan id 16777216", "above"),
            (
                "add vx0 type vxlan id 1 remote 10.0.0.1 group 239.0.0.1",
                "exclusive",
            ),
            ("add b0 type bridge stp_state 2", "0 or 1"),
            ("add v0 mtu lots type bridge", "invalid mtu"),
            ("add v0 address 02:00 type bridge", "MAC address"),
            ("set v0", "nothing to change"),
            ("set v0 mtu", "needs a value"),
            ("set v0 name this-is-far-too-long", "longer than 15"),
            ("set v0 altname move x", "add or del"),
            ("set v0 type bridge_slave hairpin maybe", "on or off"),
            ("set v0 type vlan", "only bridge_slave"),
            ("frobnicate", "unknown command"),
            ("fdb add 02:00:00:00:00:01", "needs dev PORT"),
            ("fdb add zz dev x", "MAC address"),
            ("del", "needs the link's NAME"),
        ];
        for (line, needle) in cases {
            let e = p(line).unwrap_err();
            assert!(e.0.contains(needle), "{line}: {e}");
            assert!(e.0.starts_with("link"), "{line}: {e}");
        }
    }

    #[test]
    fn random_word_salads_never_panic() {
        // A cheap deterministic fuzzer: sequences of keywords, values and junk.
        const VOCAB: &[&str] = &[
            "add",
            "del",
            "set",
            "show",
            "fdb",
            "property",
            "type",
            "veth",
            "bridge",
            "macvlan",
            "macvtap",
            "ipvlan",
            "vxlan",
            "tun",
            "tap",
            "peer",
            "name",
            "netns",
            "address",
            "mtu",
            "master",
            "nomaster",
            "up",
            "down",
            "link",
            "mode",
            "id",
            "remote",
            "group",
            "local",
            "dev",
            "dstport",
            "altname",
            "bridge_slave",
            "hairpin",
            "on",
            "off",
            "0",
            "1",
            "42",
            "-1",
            "99999999999",
            "v0",
            "02:00:00:00:00:01",
            "10.0.0.1",
            "::1",
            "self",
            "append",
            "vlan",
            "a-name-of-16-byt",
            "",
            "l2",
            "private",
            "user",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let words: Vec<String> = (0..len)
                .map(|_| VOCAB[(next() % VOCAB.len() as u64) as usize].to_owned())
                .collect();
            if let Ok(LinkCmd::Add(a)) = parse(&words) {
                assert!(validate_ifname(&a.name).is_ok(), "{words:?}");
            }
        }
    }
}
