//! `warren-tuning`: sysctls inside the container's namespace and settings of its interface
//! (MAC, MTU, promiscuous, all-multicast, transmit queue length). What was there before is
//! kept in the store and put back on DEL. Sysctls are limited to `net.*` (a namespace's
//! own), and to the patterns of `/etc/cni/tuning/allowlist.conf` when that file exists.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use warren_kernel::link::set::LinkChange;
use warren_kernel::{Handle, sysctl};

use super::{Answer, Ctx, gc_result, gc_valid, internal, prev_result};
use crate::proto::{CniError, Command, code};

const PLUGIN: &str = "tuning";
const ALLOWLIST: &str = "/etc/cni/tuning/allowlist.conf";

/// tuning's configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TuningConf {
    /// Sysctls (`IFNAME` in a key stands for the interface's name).
    pub sysctl: BTreeMap<String, String>,
    /// MAC address.
    pub mac: Option<String>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Promiscuous mode.
    pub promisc: Option<bool>,
    /// All-multicast mode.
    pub allmulti: Option<bool>,
    /// Transmit queue length.
    #[serde(rename = "txQLen")]
    pub tx_qlen: Option<u32>,
    /// Data directory of the reference plugin: accepted; warren keeps the saved values in its store.
    pub data_dir: Option<String>,
}

/// What was there before, to put back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Saved {
    sysctl: Vec<(String, String)>,
    mac: Option<[u8; 6]>,
    mtu: Option<u32>,
    promisc: Option<bool>,
    allmulti: Option<bool>,
    tx_qlen: Option<u32>,
}

/// Settings from `args.cni` override the config's.
fn merged(ctx: &Ctx) -> Result<TuningConf, CniError> {
    let mut c: TuningConf = ctx.conf.plugin()?;
    if let Some(a) = ctx.conf.args.as_ref().and_then(|a| a.get("cni")) {
        let over: TuningConf = super::from_value(a, "args.cni")?;
        c.sysctl.extend(over.sysctl);
        c.mac = over.mac.or(c.mac);
        c.mtu = over.mtu.or(c.mtu);
        c.promisc = over.promisc.or(c.promisc);
        c.allmulti = over.allmulti.or(c.allmulti);
        c.tx_qlen = over.tx_qlen.or(c.tx_qlen);
    }
    Ok(c)
}

fn check_sysctls(keys: &[String]) -> Result<(), CniError> {
    let allow: Option<Vec<String>> = std::fs::read_to_string(ALLOWLIST).ok().map(|t| {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    });
    for k in keys {
        sysctl::key_path(k).map_err(|e| {
            CniError::new(code::INVALID_CONFIG, format!("invalid sysctl {k:?}: {e}"))
        })?;
        if let Some(allow) = &allow
            && !allow.iter().any(|p| glob_match(p, k))
        {
            return Err(CniError::new(
                code::INVALID_CONFIG,
                format!("sysctl {k:?} is not allowed by {ALLOWLIST}"),
            ));
        }
    }
    Ok(())
}

/// The allowlist's patterns: regular expressions in the reference plugin; warren takes the
/// common forms — literal keys, `.*` and `[^.]*`/`[a-z0-9]*` for one component — as globs.
fn glob_match(pattern: &str, key: &str) -> bool {
    let p = pattern
        .trim_start_matches('^')
        .trim_end_matches('$')
        .replace("[^.]*", "\u{1}")
        .replace(".*", "\u{2}")
        .replace("\\.", ".");
    fn go(p: &[char], k: &[char]) -> bool {
        match p.first() {
            None => k.is_empty(),
            Some('\u{2}') => (0..=k.len()).any(|i| go(&p[1..], &k[i..])),
            Some('\u{1}') => (0..=k.len())
                .take_while(|&i| i == 0 || k[i - 1] != '.')
                .any(|i| go(&p[1..], &k[i..])),
            Some(c) => k.first() == Some(c) && go(&p[1..], &k[1..]),
        }
    }
    let p: Vec<char> = p.chars().collect();
    let k: Vec<char> = key.chars().collect();
    go(&p, &k)
}

fn apply(inner: &Handle, ifname: &str, c: &TuningConf) -> Result<Saved, CniError> {
    let mut saved = Saved::default();
    let keys: Vec<String> = c
        .sysctl
        .keys()
        .map(|k| k.replace("IFNAME", ifname))
        .collect();
    check_sysctls(&keys)?;
    for (key, value) in keys.iter().zip(c.sysctl.values()) {
        let old = sysctl::get(inner.ns(), key).map_err(internal)?;
        sysctl::set(inner.ns(), key, value).map_err(internal)?;
        saved.sysctl.push((key.clone(), old));
    }
    let link = inner.link_get(ifname).map_err(internal)?;
    let mac = match &c.mac {
        Some(m) => Some(
            warren_kernel::link::parse_mac(m)
                .map_err(|_| CniError::new(code::INVALID_CONFIG, format!("invalid mac {m:?}")))?,
        ),
        None => None,
    };
    let has = |f: &str| link.flags.iter().any(|x| x == f);
    if mac.is_some() {
        saved.mac = link.mac;
    }
    if c.mtu.is_some() {
        saved.mtu = Some(link.mtu);
    }
    if c.promisc.is_some() {
        saved.promisc = Some(has("PROMISC"));
    }
    if c.allmulti.is_some() {
        saved.allmulti = Some(has("ALLMULTI"));
    }
    if c.tx_qlen.is_some() {
        saved.tx_qlen = link.txqueuelen;
    }
    let change = LinkChange {
        mac,
        mtu: c.mtu,
        promisc: c.promisc,
        allmulti: c.allmulti,
        txqueuelen: c.tx_qlen,
        ..LinkChange::default()
    };
    inner.link_set(ifname, &change).map_err(internal)?;
    Ok(saved)
}

fn restore(inner: &Handle, ifname: &str, s: &Saved) -> Result<(), CniError> {
    for (k, v) in &s.sysctl {
        sysctl::set(inner.ns(), k, v).map_err(internal)?;
    }
    let change = LinkChange {
        mac: s.mac,
        mtu: s.mtu,
        promisc: s.promisc,
        allmulti: s.allmulti,
        txqueuelen: s.tx_qlen,
        ..LinkChange::default()
    };
    match inner.link_set(ifname, &change) {
        Ok(()) => Ok(()),
        // The interface is gone (an earlier plugin's DEL): nothing to restore.
        Err(warren_kernel::Error::NotFound { .. }) => Ok(()),
        Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => Ok(()),
        Err(e) => Err(internal(e)),
    }
}

/// `warren-tuning`.
pub fn run(ctx: &mut Ctx, cmd: Command) -> Answer {
    let ctx = &*ctx;
    let ifname = ctx.env.ifname.clone();
    match cmd {
        Command::Add => {
            let c = merged(ctx)?;
            let prev = prev_result(ctx, "warren-tuning")?;
            let inner = ctx.open_netns()?;
            let saved = apply(&inner, &ifname, &c)?;
            let row = super::record_row(ctx, PLUGIN, &saved)?;
            if let Err(e) = ctx
                .engine()?
                .store()
                .write(|tx| warren_store::cni_record_put(tx, &row))
            {
                let _ = restore(&inner, &ifname, &saved);
                return Err(internal(format!("{e} (DEL it first)")));
            }
            let mut out = prev;
            if let Some(m) = c.mac.as_ref()
                && let Some(i) = out
                    .interfaces
                    .iter_mut()
                    .find(|i| i.name == ifname && i.sandbox.is_some())
            {
                i.mac = Some(m.to_ascii_lowercase());
            }
            Ok(Some(out))
        }
        Command::Del => {
            let rec = ctx.engine()?.store().write(|tx| {
                warren_store::cni_record_delete(
                    tx,
                    ctx.network(),
                    &ctx.env.container_id,
                    &ifname,
                    PLUGIN,
                )
            })?;
            if let (Some(rec), Some(inner)) = (rec, ctx.netns_if_any()) {
                let saved: Saved = serde_json::from_str(&rec.data).map_err(internal)?;
                restore(&inner, &ifname, &saved)?;
            }
            Ok(None)
        }
        Command::Check => {
            let c = merged(ctx)?;
            let inner = ctx.open_netns()?;
            for (k, v) in &c.sysctl {
                let key = k.replace("IFNAME", &ifname);
                let now = sysctl::get(inner.ns(), &key).map_err(internal)?;
                if now.trim() != v.trim() {
                    return Err(internal(format!("sysctl {key} is {now}, not {v}")));
                }
            }
            let link = inner.link_get(&ifname).map_err(internal)?;
            if let Some(m) = c.mtu
                && link.mtu != m
            {
                return Err(internal(format!("{ifname} has MTU {}, not {m}", link.mtu)));
            }
            Ok(None)
        }
        Command::Gc => {
            // Settings live and die with the container's namespace: drop stale records.
            let valid = gc_valid(ctx);
            let res = ctx.engine()?.store().write(|tx| {
                for r in warren_store::cni_records(tx, ctx.network(), PLUGIN)? {
                    if !valid
                        .iter()
                        .any(|(c, i)| *c == r.container_id && *i == r.ifname)
                    {
                        warren_store::cni_record_delete(
                            tx,
                            ctx.network(),
                            &r.container_id,
                            &r.ifname,
                            PLUGIN,
                        )?;
                    }
                }
                Ok::<_, CniError>(())
            });
            gc_result(res.err().into_iter().collect())
        }
        Command::Status | Command::Version => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn allowlist_patterns() {
        assert!(glob_match(
            "^net.ipv4.conf.other.*$",
            "net.ipv4.conf.other.rp_filter"
        ));
        assert!(glob_match("net.core.somaxconn", "net.core.somaxconn"));
        assert!(!glob_match("net.core.somaxconn", "net.core.somaxconnx"));
        assert!(glob_match(
            "^net.ipv4.conf.[^.]*.rp_filter$",
            "net.ipv4.conf.eth0.rp_filter"
        ));
        assert!(!glob_match(
            "^net.ipv4.conf.[^.]*.rp_filter$",
            "net.ipv4.conf.a.b.rp_filter"
        ));
    }
}
