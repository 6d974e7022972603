//! The plugins: one binary, `warren-cni`, answers under every plugin's name (`warren-bridge`,
//! `warren-host-local`, …; the name it was run under picks the plugin).
//!
//! Every plugin keeps what it made for an attachment (network, container id, interface) as
//! a record in warren's store, in the same write transaction that takes its addresses. DEL
//! and GC undo from those records, so they need neither `prevResult` nor the namespace, and
//! a second DEL finds nothing to do.

use std::cell::{RefCell, RefMut};
use std::fmt::Display;
use std::path::Path;

use warren_engine::Engine;
use warren_kernel::addr::IpNet;
use warren_kernel::{Handle, NetNs};

use crate::proto::{self, CniError, CniResult, Command, Env, NetConf, code};

pub mod bandwidth;
pub mod bridge;
pub mod ipam;
pub mod loopback;
pub mod macvlan;
pub mod portmap;
pub mod ptp;
pub mod tuning;

/// The nftables table (family `inet`) the plugins keep their rules in.
pub const TABLE: &str = "warren-cni";

/// The plugins, by the name a runtime finds them under (without `warren-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    /// A Linux bridge, a veth per container.
    Bridge,
    /// A veth per container, routed (no bridge).
    Ptp,
    /// A macvlan of a host interface.
    Macvlan,
    /// An ipvlan of a host interface.
    Ipvlan,
    /// Address management.
    HostLocal,
    /// Published ports.
    Portmap,
    /// Rate limits.
    Bandwidth,
    /// Sysctls and link settings.
    Tuning,
    /// `lo` up.
    Loopback,
}

impl Plugin {
    /// Every plugin.
    pub const ALL: [Plugin; 9] = [
        Plugin::Bridge,
        Plugin::Ptp,
        Plugin::Macvlan,
        Plugin::Ipvlan,
        Plugin::HostLocal,
        Plugin::Portmap,
        Plugin::Bandwidth,
        Plugin::Tuning,
        Plugin::Loopback,
    ];

    /// The reference plugin's name (`bridge`, `host-local`, …).
    pub fn name(self) -> &'static str {
        match self {
            Plugin::Bridge => "bridge",
            Plugin::Ptp => "ptp",
            Plugin::Macvlan => "macvlan",
            Plugin::Ipvlan => "ipvlan",
            Plugin::HostLocal => "host-local",
            Plugin::Portmap => "portmap",
            Plugin::Bandwidth => "bandwidth",
            Plugin::Tuning => "tuning",
            Plugin::Loopback => "loopback",
        }
    }

    /// The name a runtime finds it under: `warren-` + [`Plugin::name`].
    pub fn binary(self) -> String {
        format!("warren-{}", self.name())
    }

    /// The plugin a program name stands for (`/opt/cni/bin/warren-bridge` → bridge).
    pub fn from_program(program: &str) -> Option<Plugin> {
        let base = Path::new(program).file_name()?.to_str()?;
        let name = base.strip_prefix("warren-").unwrap_or(base);
        Plugin::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Turn any error into CNI's "internal" error (code 999, as the reference plugins use for
/// runtime failures), keeping its whole message.
pub(crate) fn internal(e: impl Display) -> CniError {
    CniError::new(code::INTERNAL, e.to_string())
}

impl From<warren_store::Error> for CniError {
    fn from(e: warren_store::Error) -> CniError {
        internal(e)
    }
}

impl From<warren_engine::Error> for CniError {
    fn from(e: warren_engine::Error) -> CniError {
        internal(e)
    }
}

impl From<warren_kernel::Error> for CniError {
    fn from(e: warren_kernel::Error) -> CniError {
        internal(e)
    }
}

/// One invocation: the environment, the request, and the engine (opened on first use).
pub struct Ctx {
    /// The CNI environment.
    pub env: Env,
    /// The request read from stdin.
    pub conf: NetConf,
    /// The request's bytes (passed on to a delegated IPAM plugin).
    pub raw: Vec<u8>,
    engine: RefCell<Option<Engine>>,
    /// Retired veths to delete after the answer ([`finish`]).
    deferred: RefCell<Vec<warren_engine::attach::Retired>>,
}

impl Ctx {
    /// A context for `env` and the request `raw`.
    pub fn new(env: Env, conf: NetConf, raw: Vec<u8>) -> Ctx {
        Ctx {
            env,
            conf,
            raw,
            engine: RefCell::new(None),
            deferred: RefCell::new(Vec::new()),
        }
    }

    /// The engine, with its rules in [`TABLE`].
    pub fn engine(&self) -> Result<RefMut<'_, Engine>, CniError> {
        let mut slot = self.engine.borrow_mut();
        if slot.is_none() {
            let e = Engine::open().map_err(|e| {
                CniError::new(code::NOT_AVAILABLE, "warren's state store is unusable")
                    .details(e.to_string())
            })?;
            *slot = Some(e.with_table(TABLE));
        }
        Ok(RefMut::map(slot, |e| e.as_mut().expect("just opened")))
    }

    /// Delete the retired veth `r` after the answer, off the runtime's path.
    pub fn delete_later(&self, r: warren_engine::attach::Retired) {
        self.deferred.borrow_mut().push(r);
    }

    /// The network's name.
    pub fn network(&self) -> &str {
        &self.conf.name
    }

    /// The container's namespace, opened, with a handle inside.
    pub fn open_netns(&self) -> Result<Handle, CniError> {
        let path = self.env.netns.as_deref().ok_or_else(|| {
            CniError::new(
                code::INVALID_ENV,
                "required env variables [CNI_NETNS] missing",
            )
        })?;
        let ns = NetNs::open_path(path)
            .map_err(|e| internal(format!("failed to open netns {}: {e}", path.display())))?;
        Handle::new(ns).map_err(internal)
    }

    /// The container's namespace if it still exists (DEL may come after it is gone).
    pub fn netns_if_any(&self) -> Option<Handle> {
        let path = self.env.netns.as_deref()?;
        let ns = NetNs::open_path(path).ok()?;
        Handle::new(ns).ok()
    }

    /// The namespace path as results and records name it.
    pub fn netns_str(&self) -> Option<String> {
        self.env.netns.as_ref().map(|p| p.display().to_string())
    }

    /// The MAC address asked for: `runtimeConfig.mac`, `args.cni.mac`, `CNI_ARGS` `MAC=`,
    /// then the config's own `mac`.
    pub fn requested_mac(&self, config_mac: Option<&str>) -> Result<Option<[u8; 6]>, CniError> {
        let from_runtime: Option<String> = self.conf.runtime("mac")?;
        let from_args = self
            .conf
            .args
            .as_ref()
            .and_then(|a| a.pointer("/cni/mac"))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let from_env = self.env.args.get("MAC").map(str::to_owned);
        let (what, mac) = match (from_runtime, from_args, from_env, config_mac) {
            (Some(m), _, _, _) => ("runtimeConfig.mac", m),
            (_, Some(m), _, _) => ("args.cni.mac", m),
            (_, _, Some(m), _) => ("CNI_ARGS MAC", m),
            (_, _, _, Some(m)) => ("mac", m.to_owned()),
            _ => return Ok(None),
        };
        warren_kernel::link::parse_mac(&mac).map(Some).map_err(|_| {
            CniError::new(code::INVALID_CONFIG, format!("invalid {what} {mac:?}"))
                .details("expected six hex bytes like c2:11:22:33:44:55")
        })
    }
}

/// Deserialize a part of the request (`what` names it in errors, e.g. `ipam`).
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(
    v: &serde_json::Value,
    what: &str,
) -> Result<T, CniError> {
    serde_json::from_value(v.clone())
        .map_err(|e| CniError::new(code::INVALID_CONFIG, format!("invalid {what} config: {e}")))
}

/// The host side's name of an attachment's veth: `wc` + 12 hex digits of a hash of the
/// network, container id and interface name — the same on every call, so DEL and GC find it
/// without being told.
pub fn host_ifname(prefix: &str, network: &str, container_id: &str, ifname: &str) -> String {
    // FNV-1a, 64 bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in network
        .bytes()
        .chain([0])
        .chain(container_id.bytes())
        .chain([0])
        .chain(ifname.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{prefix}{:012x}", h & 0xffff_ffff_ffff)
}

/// Turn on `arp_notify` on a container interface that gets IPv4 addresses, as the reference
/// plugins do (their `ConfigureIface`): the kernel then announces the address with a
/// gratuitous ARP when the link comes up or its address changes, so neighbours drop a stale
/// entry for an address that was just reused by another container.
pub(crate) fn arp_notify(inner: &Handle, ifname: &str, addrs: &[IpNet]) -> Result<(), CniError> {
    if !addrs.iter().any(|a| a.addr.is_ipv4()) {
        return Ok(());
    }
    let path = Path::new("/proc/sys/net/ipv4/conf")
        .join(ifname)
        .join("arp_notify");
    inner
        .ns()
        .run_here(|| warren_kernel::sysctl::write_here(&path, "1"))
        .map_err(|e| internal(format!("arp_notify on {ifname}: {e}")))
}

/// At the end of a plugin run: start `warren-cni reap INDEX:NAME…` detached (output discarded,
/// own process group) for what this run left to delete — retired veths (see
/// [`warren_engine::attach::retire_veth`]) and, when nftables elements were deleted, the
/// last reference to the nf_tables socket, whose close waits for an RCU grace period (see
/// [`warren_engine::Engine::hand_off_nft`]). So neither wait is on the runtime's path. If the
/// child cannot be started, the veths are deleted here.
pub(crate) fn finish(ctx: &Ctx) {
    use std::process::Command as Process;
    // (Yielding the CPU after the deletions so the kernel's worker takes the list first
    // does not help: measured 17–33 ms against 6–7 ms with the hand-off.)
    let h = warren_engine::HandOff {
        veths: std::mem::take(&mut *ctx.deferred.borrow_mut()),
        nft: ctx
            .engine
            .borrow()
            .as_ref()
            .is_some_and(|e| e.hand_off_nft().unwrap_or(false)),
    };
    if h.is_empty() {
        return;
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let mut cmd = Process::new(exe);
    std::os::unix::process::CommandExt::arg0(&mut cmd, "warren-cni").arg("reap");
    h.start(cmd, || Handle::current().ok());
}

/// Before an ADD: `ifname` must be free inside the namespace. The container side of a
/// veth an earlier DEL retired (its deleter has not run yet) is deleted now; anything else
/// there is an error naming `CNI_IFNAME` (code 4).
pub(crate) fn ensure_ifname_free(ctx: &Ctx, inner: &Handle, ifname: &str) -> Result<(), CniError> {
    if inner.link_get(ifname).is_err() {
        return Ok(());
    }
    let retired = warren_engine::attach::is_retired_peer(ctx.engine()?.host(), inner, ifname);
    if retired {
        return match inner.link_del(ifname) {
            Ok(()) => Ok(()),
            Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => Ok(()),
            Err(e) => Err(internal(e)),
        };
    }
    Err(CniError::new(
        code::INVALID_ENV,
        format!(
            "CNI_IFNAME {ifname} already exists in netns {}",
            inner.ns().label()
        ),
    ))
}

/// `warren-cni reap INDEX:NAME…`: delete retired veths (see
/// [`warren_engine::attach::delete_retired`]: only a link that still has that index, name
/// and retired mark). It may also hold an inherited nf_tables socket, closed when it exits:
/// it first waits out the grace period the deletions' frees need
/// ([`warren_kernel::nft::Nft::settle_before_close`]), so the close does not stall the
/// next nftables transaction.
pub fn reap(args: &[String]) -> i32 {
    // `ps` and the kernel's traces tell the deleter from the plugin that started it.
    let _ = nix::sys::prctl::set_name(c"warren-cni-reap");
    i32::from(warren_engine::attach::reap("warren-cni: reap", args))
}

/// The MAC address of link `name` as CNI prints it.
pub(crate) fn mac_of(h: &Handle, name: &str) -> Option<String> {
    h.link_get(name).ok().and_then(|l| l.mac_string())
}

/// Run `plugin` for the request on stdin and the environment; prints the result (or the
/// error) and returns the exit status.
pub fn main(plugin: Plugin) -> i32 {
    warren_engine::failpoint("cni-main");
    let raw = match proto::read_stdin() {
        Ok(r) => r,
        Err(e) => return proto::emit(Err(e), proto::SUPPORTED[4]),
    };
    let env = match Env::from_env() {
        Ok(env) => env,
        Err(e) => {
            let v = NetConf::parse(&raw)
                .map(|c| c.cni_version)
                .unwrap_or_else(|_| "1.1.0".into());
            return proto::emit(Err(e), &v);
        }
    };
    if env.command == Command::Version {
        println!("{}", proto::version_output(&raw));
        return 0;
    }
    let conf = match NetConf::parse(&raw) {
        Ok(c) => c,
        Err(e) => return proto::emit(Err(e), "1.1.0"),
    };
    let version = conf.cni_version.clone();
    let mut ctx = Ctx::new(env, conf, raw);
    let out = dispatch(plugin, &mut ctx).map(|r| r.map(|r| r.to_json(&version)));
    warren_engine::failpoint("cni-done");
    let status = match out {
        Ok(Some(v)) => proto::emit(Ok(v), &version),
        Ok(None) => 0,
        Err(e) => proto::emit(Err(e), &version),
    };
    finish(&ctx);
    warren_engine::failpoint("cni-finished");
    status
}

/// What a command answers: a result for ADD, nothing for the others.
type Answer = Result<Option<CniResult>, CniError>;

fn dispatch(plugin: Plugin, ctx: &mut Ctx) -> Answer {
    let cmd = ctx.env.command;
    if cmd == Command::Check && !proto::at_least(&ctx.conf.cni_version, "0.4.0") {
        return Err(CniError::new(
            code::INCOMPATIBLE_VERSION,
            format!(
                "CHECK is not supported in cniVersion {}",
                ctx.conf.cni_version
            ),
        ));
    }
    if matches!(cmd, Command::Gc | Command::Status)
        && !proto::at_least(&ctx.conf.cni_version, "1.1.0")
    {
        return Err(CniError::new(
            code::INCOMPATIBLE_VERSION,
            format!(
                "{} needs cniVersion 1.1.0, not {}",
                if cmd == Command::Gc { "GC" } else { "STATUS" },
                ctx.conf.cni_version
            ),
        ));
    }
    match plugin {
        Plugin::Bridge => bridge::run(ctx, cmd),
        Plugin::Ptp => ptp::run(ctx, cmd),
        Plugin::Macvlan => macvlan::run(ctx, cmd, macvlan::Kind::Macvlan),
        Plugin::Ipvlan => macvlan::run(ctx, cmd, macvlan::Kind::Ipvlan),
        Plugin::HostLocal => ipam::run(ctx, cmd),
        Plugin::Portmap => portmap::run(ctx, cmd),
        Plugin::Bandwidth => bandwidth::run(ctx, cmd),
        Plugin::Tuning => tuning::run(ctx, cmd),
        Plugin::Loopback => loopback::run(ctx, cmd),
    }
}

/// STATUS of a plugin whose state is in the store: ready if the store opens and reads.
pub(crate) fn status_store(ctx: &Ctx) -> Result<(), CniError> {
    let mut eng = ctx.engine()?;
    eng.store().read(warren_store::cni_networks).map_err(|e| {
        CniError::new(code::NOT_AVAILABLE, "warren's state store is unusable")
            .details(e.to_string())
    })?;
    Ok(())
}

/// The prevResult a chained plugin needs.
pub(crate) fn prev_result(ctx: &Ctx, plugin: &str) -> Result<CniResult, CniError> {
    ctx.conf.prev_result.clone().ok_or_else(|| {
        CniError::new(
            code::INVALID_CONFIG,
            format!("{plugin} must be chained after an interface plugin: prevResult missing"),
        )
    })
}

/// The attachments GC must keep.
pub(crate) fn gc_valid(ctx: &Ctx) -> Vec<(String, String)> {
    ctx.conf
        .gc_valid_attachments()
        .unwrap_or_default()
        .into_iter()
        .map(|a| (a.container_id, a.ifname))
        .collect()
}

/// GC of one plugin's records in this network: `undo` every attachment not in the valid
/// list (`cni.dev/valid-attachments`), going on past errors; returns them all.
pub(crate) fn gc_records(
    ctx: &Ctx,
    plugin: &str,
    mut undo: impl FnMut(&warren_store::CniRecord) -> Result<(), CniError>,
) -> Vec<CniError> {
    let valid = gc_valid(ctx);
    let recs = match ctx.engine().and_then(|mut e| {
        Ok(e.store()
            .read(|tx| warren_store::cni_records(tx, ctx.network(), plugin))?)
    }) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    recs.iter()
        .filter(|r| {
            !valid
                .iter()
                .any(|(c, i)| *c == r.container_id && *i == r.ifname)
        })
        .filter_map(|r| undo(r).err())
        .collect()
}

/// The first half of undoing a veth attachment (bridge, ptp): its record and addresses go
/// in one transaction, then its veth is retired — the host side named by the record, or by
/// the deterministic name with `prefix` when there is no record (an ADD killed half way).
/// Returns the record (parsed) and how many attachments of `plugin` the network still has.
pub(crate) fn forget_veth<R: serde::de::DeserializeOwned>(
    ctx: &Ctx,
    plugin: &str,
    prefix: &str,
    (cid, ifname): (&str, &str),
    host_if_of: impl Fn(&R) -> String,
    errors: &mut Vec<CniError>,
) -> Result<(Option<R>, usize), CniError> {
    let net = ctx.network().to_owned();
    let (rec, remaining) = ctx.engine()?.store().write(|tx| {
        let rec = warren_store::cni_record_delete(tx, &net, cid, ifname, plugin)?;
        warren_store::cni_release(tx, &net, cid, ifname)?;
        let n = warren_store::cni_record_count(tx, &net, plugin)?;
        Ok::<_, CniError>((rec, n))
    })?;
    let rec: Option<R> = rec.and_then(|r| serde_json::from_str(&r.data).ok());
    let host_if = rec
        .as_ref()
        .map(&host_if_of)
        .unwrap_or_else(|| host_ifname(prefix, &net, cid, ifname));
    warren_engine::failpoint("cni-del-stored");
    match warren_engine::attach::retire_veth(ctx.engine()?.host(), &host_if) {
        Ok(Some(retired)) => ctx.delete_later(retired),
        Ok(None) => {}
        Err(e) => errors.push(e.into()),
    }
    warren_engine::failpoint("cni-del-retired");
    Ok((rec, remaining))
}

/// The store row recording what `plugin` made for this attachment (`data` as JSON).
pub(crate) fn record_row(
    ctx: &Ctx,
    plugin: &str,
    data: &impl serde::Serialize,
) -> Result<warren_store::CniRecord, CniError> {
    Ok(warren_store::CniRecord {
        network: ctx.network().to_owned(),
        container_id: ctx.env.container_id.clone(),
        ifname: ctx.env.ifname.clone(),
        plugin: plugin.into(),
        netns: ctx.netns_str(),
        data: serde_json::to_string(data).map_err(internal)?,
        created: warren_store::now(),
    })
}

/// Join the errors GC met into one (GC goes on past errors and reports them all).
pub(crate) fn gc_result(errors: Vec<CniError>) -> Answer {
    if errors.is_empty() {
        return Ok(None);
    }
    let msg = errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    Err(CniError::new(
        code::INTERNAL,
        format!("GC: {} error(s): {msg}", errors.len()),
    ))
}

/// `Vec<IpNet>` as a list of `ADDR/PREFIX` strings in records.
pub(crate) mod nets {
    use serde::{Deserialize, Deserializer, Serializer};
    use warren_kernel::addr::IpNet;

    pub fn serialize<S: Serializer>(v: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|n| format!("{}/{}", n.addr, n.prefix)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| s.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}
