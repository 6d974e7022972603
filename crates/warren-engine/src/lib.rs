//! warren's container networking engine.
//!
//! One library serves the `warren` CLI (networks, `run`, pods) and the CNI plugins: it keeps
//! warren's intent in the SQLite store ([`warren_store`]) and makes the kernel match it
//! through [`warren_kernel`] — bridges and veths, addresses and routes, port publishing and
//! masquerade in warren's own nftables table, DNS records for the embedded server.
//!
//! Setup is a transaction: the store records the container (state `creating`, with the
//! process doing it) and its addresses and ports first; each kernel step is then logged in an
//! undo list, and any failure undoes all of them, the failing step included, and releases
//! the rows. Teardown goes on past errors and reports them all. Whatever a killed process
//! left behind is found by [`Engine::gc`].

pub mod attach;
pub mod container;
pub mod dns;
mod error;
pub mod files;
pub mod firewall;
pub mod gc;
pub mod network;
pub mod paths;
pub mod pod;
pub mod spec;
mod undo;
mod wire;

pub use error::{Error, Result};
pub use paths::Paths;

use warren_kernel::{Handle, NetNs};
use warren_store::Store;

/// The default network's name (Docker's `bridge`).
pub const DEFAULT_NETWORK: &str = "bridge";

/// An open engine: the state database, the host namespace and warren's firewall.
#[derive(Debug)]
pub struct Engine {
    store: Store,
    paths: Paths,
    host: Handle,
    /// nf_tables socket in the host namespace, opened on first use.
    nft: Option<warren_kernel::nft::Nft>,
    /// Whether warren's table is known to exist (checked once per container setup, see
    /// `network_ensure`).
    fw_ready: bool,
    /// The nftables table (family `inet`) this engine's rules live in.
    table: String,
    /// Elements were deleted through `nft` (its socket's last close will wait for the
    /// kernel's deferred frees: see [`Engine::hand_off_nft`]).
    nft_deleted: bool,
    /// Veths this engine's teardowns retired instead of deleting (see [`Engine::hand_off`]).
    retired: Vec<attach::Retired>,
}

/// What a short-lived process should leave to a detached child at its end, so that neither
/// wait is on its caller's path ([`Engine::hand_off`]).
#[derive(Debug, Default)]
pub struct HandOff {
    /// Veths to delete (a synchronous deletion waits for RCU grace periods).
    pub veths: Vec<attach::Retired>,
    /// The nf_tables socket is inheritable and should outlive this process (its last close
    /// waits for the kernel's deferred frees).
    pub nft: bool,
}

impl HandOff {
    /// Nothing to hand off.
    pub fn is_empty(&self) -> bool {
        self.veths.is_empty() && !self.nft
    }

    /// Start the caller's deleter, `cmd` (the caller's own binary and subcommand), with each
    /// veth as an `INDEX:NAME` argument, detached (own process group, no standard streams), so
    /// it inherits the nf_tables socket and outlives the caller. If it cannot be started, the
    /// veths are deleted here in the namespace `host` gives (asked for only then). Nothing is
    /// started when there is nothing to hand off.
    pub fn start<H: std::borrow::Borrow<Handle>>(
        self,
        mut cmd: std::process::Command,
        host: impl FnOnce() -> Option<H>,
    ) {
        use std::os::unix::process::CommandExt;
        use std::process::Stdio;
        if self.is_empty() {
            return;
        }
        let spawned = cmd
            .args(self.veths.iter().map(attach::Retired::to_arg))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        if spawned.is_err()
            && let Some(host) = host()
        {
            for r in &self.veths {
                let _ = attach::delete_retired(host.borrow(), r);
            }
        }
    }
}

impl Engine {
    /// Open the engine for the state found by [`Paths::discover`], acting on the calling
    /// thread's network namespace as "the host".
    pub fn open() -> Result<Engine> {
        Engine::open_at(Paths::discover())
    }

    /// Open the engine with explicit paths.
    pub fn open_at(paths: Paths) -> Result<Engine> {
        failpoint("open");
        let store = Store::open(&paths.state)?;
        failpoint("store-open");
        let host = Handle::current().map_err(Error::kernel("open the host namespace"))?;
        Ok(Engine {
            store,
            paths,
            host,
            nft: None,
            fw_ready: false,
            table: firewall::TABLE.to_owned(),
            nft_deleted: false,
            retired: Vec::new(),
        })
    }

    /// The same engine with its rules in table `inet TABLE` instead of `inet warren` (the CNI
    /// plugins keep theirs in `inet warren-cni`, so `warren reconcile`, which rebuilds
    /// `inet warren` from the store, never drops them).
    pub fn with_table(mut self, table: &str) -> Engine {
        self.table = table.to_owned();
        self.fw_ready = false;
        self
    }

    /// If this engine deleted nftables elements, let the next program the process starts
    /// inherit the nf_tables socket, so that the socket's last close — which waits for the
    /// kernel to free what the deletions left (an RCU grace period) — happens when that
    /// program exits, not when this process does. Returns whether there was such a socket.
    pub fn hand_off_nft(&self) -> Result<bool> {
        match &self.nft {
            Some(nft) if self.nft_deleted => {
                nft.inherit_on_exec()
                    .map_err(Error::kernel("hand the nf_tables socket on"))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// At the end of a short-lived process: what to hand to a detached child (started with
    /// the sockets it inherits) — the veths teardowns retired, and the nf_tables socket made
    /// inheritable when elements were deleted. A caller that cannot start the child deletes
    /// the veths itself ([`attach::delete_retired`]).
    pub fn hand_off(&mut self) -> HandOff {
        HandOff {
            nft: self.hand_off_nft().unwrap_or(false),
            veths: std::mem::take(&mut self.retired),
        }
    }

    /// Delete now, in this process, the veths this engine's teardowns retired (those of pods
    /// wired into a namespace given with `--adopt-netns`). A short-lived process hands them to
    /// a detached child instead ([`Engine::hand_off`]); an engine kept open (a runtime
    /// embedding the library) calls this when it can wait: each deletion waits for the
    /// kernel's grace periods. Returns the failures; the others are deleted.
    pub fn delete_retired(&mut self) -> Vec<Error> {
        std::mem::take(&mut self.retired)
            .iter()
            .filter_map(|r| attach::delete_retired(&self.host, r).err())
            .collect()
    }

    /// The paths in use.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The state database.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The host namespace's handle.
    pub fn host(&self) -> &Handle {
        &self.host
    }

    /// The host namespace.
    pub fn host_ns(&self) -> &NetNs {
        self.host.ns()
    }
}

/// Test hook and timing point (`WARREN_FAILPOINT`, `WARREN_TIMING`): see
/// [`warren_kernel::failpoint`]. The engine's points name the steps of a setup, so a test can
/// prove that `warren gc` cleans up after a crash at any of them.
pub use warren_kernel::failpoint::hit as failpoint;
