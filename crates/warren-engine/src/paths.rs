//! Where warren keeps things: persistent state (the database, container logs) and runtime
//! state under `/run` that a reboot clears (generated files, the DNS server's config).

use std::path::PathBuf;

/// Runtime directory (cleared by a reboot).
pub const RUN_DIR: &str = warren_store::RUN_DIR;
/// Default persistent state directory.
pub const DEFAULT_STATE_DIR: &str = warren_store::DEFAULT_STATE_DIR;
/// Prefix of the named namespaces warren holds for containers and pods (in `/run/netns`,
/// so `ip netns` sees them).
pub const NETNS_PREFIX: &str = "warren-";
/// Prefix of the host side of containers' veths.
pub const VETH_PREFIX: &str = "wv";
/// Prefix of the bridges of networks other than the default one.
pub const BRIDGE_PREFIX: &str = "wbr";
/// The default network's bridge.
pub const DEFAULT_BRIDGE: &str = "warren0";

/// The directories of one warren installation.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Persistent state: `warren.db`, `logs/`.
    pub state: PathBuf,
    /// Runtime state: `containers/ID/`, `dns/`.
    pub run: PathBuf,
}

impl Paths {
    /// `$WARREN_STATE_DIR`, else the directory named in `/run/warren/state-dir` (how the
    /// test sandbox points warren at its tmpfs), else `/var/lib/warren`.
    pub fn discover() -> Paths {
        Paths {
            state: warren_store::state_dir(),
            run: PathBuf::from(RUN_DIR),
        }
    }

    /// Runtime files of one container: resolv.conf, hosts, hostname.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.run.join("containers").join(id)
    }

    /// Where a detached container's output goes.
    pub fn log_file(&self, id: &str) -> PathBuf {
        self.state.join("logs").join(format!("{id}.log"))
    }

    /// The DNS server's directory (config, pid file).
    pub fn dns_dir(&self) -> PathBuf {
        self.run.join("dns")
    }
}

/// The named namespace of container or pod `id`.
pub fn netns_name(id: &str) -> String {
    format!("{NETNS_PREFIX}{id}")
}

/// The host-side veth name of endpoint `n` of container `id`: `wv` + 8 hex digits + n.
pub fn veth_name(id: &str, n: usize) -> String {
    format!("{VETH_PREFIX}{}{n}", &id[..id.len().min(8)])
}
