//! `warren gc`: find and remove whatever a killed process left behind — containers whose
//! setup or supervisor died, namespaces, veths and bridges no row accounts for, runtime
//! directories — and put the firewall and DNS back in line with the store.
//! `warren reconcile`: re-create warren's kernel side (bridges, the whole nftables table,
//! DNS config) from the store, e.g. after `nft flush ruleset`.

use serde::Serialize;
use warren_kernel::link::Link;
use warren_store::{Container, ContainerState, Kind};

use crate::Engine;
use crate::container::{Settings, alive};
use crate::error::{Error, Result};
use crate::paths::{BRIDGE_PREFIX, DEFAULT_BRIDGE, NETNS_PREFIX, VETH_PREFIX};

/// What gc found (and, unless a dry run, removed).
#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    /// Containers and pods whose processes are gone without cleanup.
    pub containers: Vec<String>,
    /// Namespaces no container accounts for.
    pub namespaces: Vec<String>,
    /// Host links (veths, bridges) no endpoint or network accounts for.
    pub links: Vec<String>,
    /// Runtime directories of unknown containers.
    pub dirs: Vec<String>,
    /// Errors met while removing (gc goes on past them).
    pub errors: Vec<String>,
}

impl GcReport {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.namespaces.is_empty()
            && self.links.is_empty()
            && self.dirs.is_empty()
    }
}

/// Whether a container's or pod's owner is gone without cleaning up.
pub fn abandoned(c: &Container) -> bool {
    match (c.state, c.kind) {
        (ContainerState::Exited, _) => false,
        (ContainerState::Creating, _) => !alive(c.owner_pid, c.owner_start),
        (ContainerState::Running, Kind::Pod) => {
            let settings: Settings = serde_json::from_value(c.spec.clone()).unwrap_or_default();
            c.netns.as_deref().is_none_or(|p| match settings.adopted {
                // An adopted namespace is its creator's: gone when the file is no longer it.
                Some(a) => !a.is_at(p),
                None => !warren_kernel::netns::is_live_mount(std::path::Path::new(p)),
            })
        }
        (ContainerState::Running, Kind::Container) => {
            let proc_alive = alive(c.pid, c.pid_start);
            let owner_alive = alive(c.owner_pid, c.owner_start);
            // A process whose supervisor died still uses its network: keep it.
            !proc_alive && !owner_alive
        }
    }
}

impl Engine {
    /// Tear down abandoned containers and pods, freeing their addresses and ports.
    pub(crate) fn reclaim(&mut self) -> Result<()> {
        self.gc_containers(false, &mut GcReport::default())
    }

    fn gc_containers(&mut self, dry_run: bool, report: &mut GcReport) -> Result<()> {
        for c in self.containers()?.into_iter().filter(abandoned) {
            report.containers.push(c.name.clone());
            if dry_run {
                continue;
            }
            for e in self.teardown(&c) {
                report.errors.push(e.to_string());
            }
            let settings: Settings = serde_json::from_value(c.spec.clone()).unwrap_or_default();
            let r = if settings.rm || c.kind == Kind::Pod || c.state == ContainerState::Creating {
                self.store
                    .write(|tx| warren_store::delete_container(tx, &c.id))
            } else {
                self.store
                    .write(|tx| warren_store::set_exited(tx, &c.id, None))
            };
            if let Err(e) = r {
                report.errors.push(e.to_string());
            }
        }
        Ok(())
    }

    /// Find (and unless `dry_run`, remove) what crashed processes left behind.
    pub fn gc(&mut self, dry_run: bool) -> Result<GcReport> {
        // Kernel objects are listed before the rows are read: a setup running meanwhile
        // records its row before making anything, so nothing of it can look orphaned.
        let ns_names: Vec<String> = std::fs::read_dir(warren_kernel::netns::RUN_DIR)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.starts_with(NETNS_PREFIX))
                    .collect()
            })
            .unwrap_or_default();
        let links: Vec<Link> = self
            .host()
            .links()
            .map_err(Error::kernel("list host links"))?;
        let dirs: Vec<String> = std::fs::read_dir(self.paths.run.join("containers"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();

        let mut report = GcReport::default();
        self.gc_containers(dry_run, &mut report)?;
        let containers = self.containers()?;
        let networks = self.networks()?;
        let live = |id: &str| {
            containers.iter().any(|c| {
                c.id == id
                    && c.state != ContainerState::Exited
                    && !report.containers.contains(&c.name)
            })
        };
        for n in ns_names {
            let id = &n[NETNS_PREFIX.len()..];
            if !live(id) {
                if !dry_run && let Err(e) = crate::wire::delete_netns(&n) {
                    report.errors.push(e.to_string());
                }
                report.namespaces.push(n);
            }
        }
        let veths: Vec<&str> = containers
            .iter()
            .filter(|c| live(&c.id))
            .flat_map(|c| c.endpoints.iter().filter_map(|e| e.host_ifname.as_deref()))
            .collect();
        for l in &links {
            let name = l.name.as_str();
            let ours = (l.kind.as_deref() == Some("veth")
                && ((name.starts_with(VETH_PREFIX) && !veths.contains(&name))
                    // Retired by a teardown whose deleter never ran.
                    || crate::attach::is_retired(l)))
                || ((name.starts_with(BRIDGE_PREFIX) || name == DEFAULT_BRIDGE)
                    && l.kind.as_deref() == Some("bridge")
                    && !networks.iter().any(|n| n.iface == name));
            if ours {
                if !dry_run && let Err(e) = crate::wire::delete_host_link(self.host(), name) {
                    report.errors.push(e.to_string());
                }
                report.links.push(name.to_owned());
            }
        }
        for d in dirs {
            let p = self.paths.run.join("containers").join(&d);
            // Torn down with its container just above: nothing more to report.
            if live(&d) || !p.exists() {
                continue;
            }
            if !dry_run
                && let Err(e) = std::fs::remove_dir_all(&p)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                report.errors.push(format!("remove {}: {e}", p.display()));
            }
            report.dirs.push(d);
        }
        if !dry_run {
            if let Err(e) = self.fw_ensure() {
                report.errors.push(e.to_string());
            }
            if let Err(e) = self.dns_refresh() {
                report.errors.push(e.to_string());
            }
        }
        Ok(report)
    }

    /// Re-create warren's kernel side from the store: every network's bridge, the whole
    /// nftables table in one transaction, forwarding, the DNS config.
    pub fn reconcile(&mut self) -> Result<()> {
        for n in self.networks()? {
            self.network_ensure(&n)?;
        }
        self.reconcile_firewall()?;
        self.forwarding_update()?;
        self.dns_refresh()
    }
}
