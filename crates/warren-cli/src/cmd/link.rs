//! `warren link`, in ip's words:
//!
//! ```text
//! warren link add NAME [mtu N] [address MAC] [master BR] [netns NS] [up] type KIND [ARGS]
//!     veth peer [name] P [netns NS] [address MAC]
//!     bridge [stp_state 0|1] [vlan_filtering 0|1] [forward_delay CS] [ageing_time CS]
//!     macvlan|macvtap link PARENT mode private|vepa|bridge|passthru|source
//!     ipvlan link PARENT mode l2|l3|l3s [bridge|private|vepa]
//!     vxlan id VNI [local IP] [remote IP] [group IP] [dev IF] [dstport N] [nolearning] [ttl N]
//!     tun|tap [user U] [group G] [multi_queue] [vnet_hdr] [pi]
//! warren link del NAME
//! warren link set NAME up|down|mtu N|address MAC|name NEW|master BR|nomaster|netns NS|
//!     txqueuelen N|altname add A|altname del A ...
//! warren link set NAME type bridge_slave hairpin|learning|flood|mcast_flood|bcast_flood|
//!     isolated|proxy_arp|neigh_suppress on|off [cost N] [priority N]
//! warren link show [NAME]
//! warren link fdb add|append|replace|del MAC dev PORT [master|self] [permanent|static|dynamic]
//!     [dst IP] [vlan N] [vni N]
//! warren link fdb show [dev IF]
//! ```
//!
//! Parsing is pure ([`parse()`], unit-tested without privileges); [`run`] resolves names and
//! namespaces, then talks to the kernel. A create that needs a second request (a tun/tap's
//! master, MTU or state; a bridge's master) deletes what it made if that second step fails.

mod parse;
mod show;

use std::process::ExitCode;

use warren_kernel::Handle;
use warren_kernel::NetNs;

use super::handle;
use warren_kernel::link::LinkSpec;
use warren_kernel::link::bridge::{Bridge, FdbEntry};
use warren_kernel::link::format_mac;
use warren_kernel::link::ipvlan::IpVlan;
use warren_kernel::link::macvlan::MacVlan;
use warren_kernel::link::set::LinkChange;
use warren_kernel::link::tuntap::TunTapOptions;
use warren_kernel::link::veth::Veth;
use warren_kernel::link::vxlan::Vxlan;

pub use parse::{AddCmd, FdbCmd, Kind, LinkCmd, SetCmd, parse};

use crate::{CliError, Global};

/// Arguments of `warren link`.
#[derive(Debug, clap::Args)]
#[command(after_help = "SYNTAX (as ip link):
  add NAME [mtu N] [address MAC] [master BR] [netns NS] [up] type KIND [ARGS]
    veth peer [name] P [netns NS] [address MAC]
    bridge [stp_state 0|1] [vlan_filtering 0|1]
    macvlan|macvtap link PARENT mode private|vepa|bridge|passthru|source
    ipvlan link PARENT mode l2|l3|l3s [bridge|private|vepa]
    vxlan id VNI [local IP] [remote IP] [group IP] [dev IF] [dstport N] [nolearning]
    tun|tap [user U] [group G] [multi_queue]
  del NAME
  set NAME up|down|mtu N|address MAC|name NEW|master BR|nomaster|netns NS
           txqueuelen N|altname add A|altname del A ...
  set NAME type bridge_slave hairpin|learning|flood|isolated on|off ...
  show [NAME]
  fdb add|del MAC dev PORT [master|self] [static] [dst IP] [vlan N]
  fdb show [dev IF]
NS is a name under /run/netns, a path, or pid:N.")]
pub struct Args {
    /// Subcommand and its arguments, in ip's syntax.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Run `warren link`.
pub fn run(args: Args, global: &Global) -> Result<ExitCode, CliError> {
    let cmd = parse(&args.args)?;
    let h = handle(global)?;
    match cmd {
        LinkCmd::Add(a) => add(&h, &a)?,
        LinkCmd::Del { name } => h.link_del(&name)?,
        LinkCmd::Set(s) => set(&h, &s)?,
        LinkCmd::SetPort { name, opts } => h.bridge_port_set(&name, &opts)?,
        LinkCmd::Show { name } => show::show(&h, name.as_deref(), global.json)?,
        LinkCmd::Fdb(f) => fdb(&h, &f)?,
        LinkCmd::FdbShow { dev } => show::fdb_show(&h, dev.as_deref(), global.json)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Open `netns NS` (a name, a path or pid:N), if given.
fn open_ns(spec: Option<&str>) -> Result<Option<NetNs>, CliError> {
    Ok(spec.map(super::open_ns_spec).transpose()?.map(|(ns, _)| ns))
}

fn index_of(h: &Handle, name: &str) -> Result<u32, CliError> {
    Ok(h.link_index(name)?)
}

fn add(h: &Handle, a: &AddCmd) -> Result<(), CliError> {
    let master = a.master.as_deref().map(|m| index_of(h, m)).transpose()?;
    let link_ns = open_ns(a.netns.as_deref())?;
    match &a.kind {
        Kind::Veth { peer, netns, mac } => {
            let ns = open_ns(netns.as_deref())?;
            let mut spec = Veth::new(a.name.as_str(), peer.as_str());
            if let Some(ns) = &ns {
                spec = spec.peer_netns(ns);
            }
            if let Some(m) = mac {
                spec = spec.peer_mac(*m);
            }
            if let Some(m) = master {
                spec = spec.master(m);
            }
            let spec = common(spec, a, Veth::mtu, Veth::mac, Veth::up);
            h.link_add(&spec)?;
        }
        Kind::Bridge {
            stp,
            vlan_filtering,
            forward_delay,
            ageing_time,
        } => {
            let cs = |c: u32| std::time::Duration::from_millis(u64::from(c) * 10);
            let mut spec = Bridge::new(a.name.as_str());
            if let Some(on) = stp {
                spec = spec.stp(*on);
            }
            if let Some(on) = vlan_filtering {
                spec = spec.vlan_filtering(*on);
            }
            if let Some(c) = forward_delay {
                spec = spec.forward_delay(cs(*c));
            }
            if let Some(c) = ageing_time {
                spec = spec.ageing_time(cs(*c));
            }
            let spec = common(spec, a, Bridge::mtu, Bridge::mac, |b| b);
            create_then(h, &a.name, &spec, master, a.up)?;
        }
        Kind::MacVlan { parent, mode, tap } => {
            let mut spec = MacVlan::new(a.name.as_str(), index_of(h, parent)?, *mode);
            if let Some(ns) = &link_ns {
                spec = spec.netns(ns);
            }
            if *tap {
                spec = spec.tap();
            }
            if let Some(m) = master {
                spec = spec.master(m);
            }
            let spec = common(spec, a, MacVlan::mtu, MacVlan::mac, MacVlan::up);
            h.link_add(&spec)?;
        }
        Kind::IpVlan { parent, mode, flag } => {
            let mut spec = IpVlan::new(a.name.as_str(), index_of(h, parent)?, *mode).flag(*flag);
            if let Some(ns) = &link_ns {
                spec = spec.netns(ns);
            }
            if let Some(m) = master {
                spec = spec.master(m);
            }
            if let Some(m) = a.mac {
                return Err(CliError::fail(format!(
                    "link add {}: ipvlan takes its parent's address, not {}",
                    a.name,
                    format_mac(&m)
                )));
            }
            let spec = common(spec, a, IpVlan::mtu, |s, _| s, IpVlan::up);
            h.link_add(&spec)?;
        }
        Kind::Vxlan {
            vni,
            local,
            remote,
            group,
            dev,
            dstport,
            learning,
            ttl,
        } => {
            let mut spec = Vxlan::new(a.name.as_str(), *vni);
            if let Some(ip) = local {
                spec = spec.local(*ip);
            }
            if let Some(ip) = remote {
                spec = spec.remote(*ip);
            }
            if let Some(ip) = group {
                spec = spec.group(*ip);
            }
            if let Some(d) = dev {
                spec = spec.dev(index_of(h, d)?);
            }
            if let Some(p) = dstport {
                spec = spec.dstport(*p);
            }
            if let Some(l) = learning {
                spec = spec.learning(*l);
            }
            if let Some(t) = ttl {
                spec = spec.ttl(*t);
            }
            if let Some(m) = master {
                spec = spec.master(m);
            }
            let spec = common(spec, a, Vxlan::mtu, Vxlan::mac, Vxlan::up);
            h.link_add(&spec)?;
        }
        Kind::TunTap {
            mode,
            user,
            group,
            multi_queue,
            vnet_hdr,
            packet_info,
        } => {
            let opts = TunTapOptions {
                owner: user
                    .as_deref()
                    .map(|u| resolve_user(&a.name, u))
                    .transpose()?,
                group: group
                    .as_deref()
                    .map(|g| resolve_group(&a.name, g))
                    .transpose()?,
                multi_queue: *multi_queue,
                vnet_hdr: *vnet_hdr,
                packet_info: *packet_info,
            };
            h.tuntap_add(&a.name, *mode, &opts)?;
            let change = LinkChange {
                up: a.up.then_some(true),
                mtu: a.mtu,
                mac: a.mac,
                master: master.map(Some),
                ..LinkChange::default()
            };
            finish_or_undo(h, &a.name, &change)?;
        }
    }
    Ok(())
}

/// Apply `mtu`, `address` and `up` of the add command through a kind's own builder methods.
fn common<S>(
    spec: S,
    a: &AddCmd,
    mtu: fn(S, u32) -> S,
    mac: fn(S, [u8; 6]) -> S,
    up: fn(S) -> S,
) -> S {
    let mut spec = spec;
    if let Some(m) = a.mtu {
        spec = mtu(spec, m);
    }
    if let Some(m) = a.mac {
        spec = mac(spec, m);
    }
    if a.up {
        spec = up(spec);
    }
    spec
}

/// Create, then set the master and up state the create message cannot carry for this kind.
fn create_then(
    h: &Handle,
    name: &str,
    spec: &dyn LinkSpec,
    master: Option<u32>,
    up: bool,
) -> Result<(), CliError> {
    h.link_add(spec)?;
    let change = LinkChange {
        up: up.then_some(true),
        master: master.map(Some),
        ..LinkChange::default()
    };
    finish_or_undo(h, name, &change)
}

/// Apply `change` to the link just created; on failure delete it so nothing is left behind.
fn finish_or_undo(h: &Handle, name: &str, change: &LinkChange<'_>) -> Result<(), CliError> {
    if change.up.is_none()
        && change.mtu.is_none()
        && change.mac.is_none()
        && change.master.is_none()
    {
        return Ok(());
    }
    if let Err(e) = h.link_set(name, change) {
        let undo = h.link_del(name);
        let mut err = CliError::from(e);
        if let Err(u) = undo {
            err.message
                .push_str(&format!("; and removing {name} again failed: {u}"));
        }
        return Err(err);
    }
    Ok(())
}

fn resolve_user(link: &str, u: &str) -> Result<u32, CliError> {
    if let Ok(n) = u.parse() {
        return Ok(n);
    }
    match nix::unistd::User::from_name(u) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        _ => Err(CliError::fail(format!(
            "link add {link}: unknown user {u:?}"
        ))),
    }
}

fn resolve_group(link: &str, g: &str) -> Result<u32, CliError> {
    if let Ok(n) = g.parse() {
        return Ok(n);
    }
    match nix::unistd::Group::from_name(g) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        _ => Err(CliError::fail(format!(
            "link add {link}: unknown group {g:?}"
        ))),
    }
}

fn set(h: &Handle, s: &SetCmd) -> Result<(), CliError> {
    let ns = open_ns(s.netns.as_deref())?;
    let master = match &s.master {
        None => None,
        Some(None) => Some(None),
        Some(Some(br)) => Some(Some(index_of(h, br)?)),
    };
    let mut change = LinkChange {
        up: s.up,
        name: s.new_name.clone(),
        mtu: s.mtu,
        mac: s.mac,
        master,
        txqueuelen: s.txqueuelen,
        ..LinkChange::default()
    };
    if let Some(ns) = &ns {
        change = change.netns(ns);
    }
    let touched = change.up.is_some()
        || change.name.is_some()
        || change.mtu.is_some()
        || change.mac.is_some()
        || change.master.is_some()
        || change.txqueuelen.is_some()
        || change.netns.is_some();
    // Altnames first: they need the link under its current name and in this namespace.
    for a in &s.altname_add {
        h.link_altname_add(&s.name, a)?;
    }
    for a in &s.altname_del {
        h.link_altname_del(&s.name, a)?;
    }
    if touched {
        h.link_set(&s.name, &change)?;
    }
    Ok(())
}

fn fdb(h: &Handle, f: &FdbCmd) -> Result<(), CliError> {
    let mut e = FdbEntry::new(f.mac, index_of(h, &f.dev)?);
    e.target = f.target;
    e.state = f.state;
    e.dst = f.dst;
    e.vlan = f.vlan;
    e.vni = f.vni;
    match f.add {
        Some(how) => h.fdb_add_with(&e, how)?,
        None => h.fdb_del(&e)?,
    }
    Ok(())
}
