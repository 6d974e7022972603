//! warren's state, in an embedded SQLite database.
//!
//! Networks, containers (and pods), their endpoints, the addresses IPAM handed out and the
//! published ports live here, and so do the CNI plugin's state (module [`cni`]) and the labs
//! with every object their builds made. Every change is one transaction taken with the write lock (`BEGIN IMMEDIATE`), so concurrent
//! `warren run`s never hand out the same address or port, and a crash leaves either all of a
//! change or none of it. Rows of a setup still in progress carry the pid and start time of the
//! process doing it, so `warren gc` can tell an abandoned setup from a live one.
//!
//! The kernel is not touched here: this crate only knows what warren intends.

pub mod cni;
mod containers;
mod error;
pub mod ipam;
mod labs;
mod model;
mod networks;
mod ports;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub use cni::{
    CniLease, CniRange, CniRangeSet, CniRecord, cni_allocate, cni_attachments, cni_ip_owner,
    cni_leases, cni_networks, cni_record_count, cni_record_delete, cni_record_get, cni_record_put,
    cni_records, cni_release, cni_routed_families,
};
pub use error::{Error, Result};
pub use labs::{
    LAB_FORWARDING, LabObject, LabRow, lab_delete, lab_get, lab_objects, lab_objects_delete,
    lab_objects_of_kind, lab_objects_put, lab_put, labs, labs_need_forwarding,
};
pub use model::{
    Container, ContainerState, Endpoint, Kind, Network, NewContainer, NewEndpoint, NewNetwork,
    Port, Subnet,
};
pub use ports::{HostIp, port_conflicts};

/// The database file's name inside the state directory.
pub const DB_FILE: &str = "warren.db";

/// warren's runtime directory (cleared by a reboot).
pub const RUN_DIR: &str = "/run/warren";
/// The default persistent state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/warren";

/// Where warren's state lives: `$WARREN_STATE_DIR`, else the directory named in
/// `/run/warren/state-dir` (how the test sandbox and the rootless keeper point warren at their
/// tmpfs), else `/var/lib/warren`. The engine, the CNI plugins and labs all find it here.
pub fn state_dir() -> std::path::PathBuf {
    use std::path::{Path, PathBuf};
    std::env::var_os("WARREN_STATE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::fs::read_to_string(Path::new(RUN_DIR).join("state-dir"))
                .ok()
                .map(|s| PathBuf::from(s.trim()))
                .filter(|p| p.is_absolute())
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// An open state database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            op: "create state directory",
            path: dir.to_owned(),
            source: e,
        })?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::db("open", &path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| Error::db("set busy timeout", &path, e))?;
        let mut store = Store { conn, path };
        store.init()?;
        Ok(store)
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&mut self) -> Result<()> {
        let path = self.path.clone();
        // Per-connection settings, in one batch (each is a statement to parse and run):
        // - foreign keys enforced;
        // - synchronous NORMAL: in WAL mode a process crash loses nothing, and a power loss
        //   at most the commits since the last checkpoint, never consistency;
        // - no automatic checkpoint: the WAL is kept short by truncating it instead (see
        //   `truncate_long_wal`);
        // - pages read straight from the page cache (mmap) instead of one pread each.
        self.conn
            .execute_batch(
                "PRAGMA foreign_keys = ON;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA wal_autocheckpoint = 0;
                 PRAGMA mmap_size = 67108864;",
            )
            .map_err(|e| Error::db("set connection options", &path, e))?;
        // Each warren command is a short process: checkpointing the WAL back into the database
        // on every close would cost more than the command's own work. SQLite still
        // checkpoints automatically as the WAL grows.
        self.conn
            .set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )
            .map_err(|e| Error::db("keep the WAL on close", &path, e))?;
        if schema::current(&self.conn) {
            // WAL mode is a property of the file, set when the schema was created.
            return Ok(());
        }
        // Switching to WAL takes the database exclusively and SQLite does not wait for it
        // (no busy handler): processes creating the database at once retry, and one that finds
        // WAL set by another is done.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match self.conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(e) => {
                    let wal = self
                        .conn
                        .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                        .is_ok_and(|m| m.eq_ignore_ascii_case("wal"));
                    if wal {
                        break;
                    }
                    if std::time::Instant::now() >= deadline {
                        return Err(Error::db("set WAL journal", &path, e));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        self.write::<_, Error>(schema::migrate)
    }

    /// Run `f` in a write transaction (taken with the write lock up front), committing if it
    /// returns `Ok`. The closure's error type only has to take the store's errors in, so
    /// callers can fail a transaction with their own errors.
    pub fn write<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.transaction(TransactionBehavior::Immediate, f)
    }

    /// Run `f` in a read transaction (a consistent snapshot).
    pub fn read<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.transaction(TransactionBehavior::Deferred, f)
    }

    fn transaction<T, E: From<Error>>(
        &mut self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(behavior)
            .map_err(|e| Error::db("begin transaction", &path, e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| Error::db("commit", &path, e))?;
        if matches!(behavior, TransactionBehavior::Immediate) {
            self.truncate_long_wal();
        }
        Ok(out)
    }

    /// After a commit: when the WAL has grown past [`WAL_LIMIT`] bytes, checkpoint it into
    /// the database and truncate it to nothing, without waiting for anyone (another process
    /// reading or writing makes this one give up; a later commit does it).
    ///
    /// Every warren command is a fresh process, and the first connection to a database
    /// rebuilds the WAL's index by reading the whole WAL file — and then counts none of it
    /// as checkpointed. So SQLite's automatic checkpoint never lets the WAL start over: it
    /// grew without bound (5 MB after 100 CNI calls, each opening the store then taking
    /// 2.7–4.8 ms instead of 1.1, and each commit copying the whole WAL again). A truncated
    /// WAL starts from nothing.
    fn truncate_long_wal(&mut self) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let long = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_LIMIT);
        if !long {
            return;
        }
        // A failure here loses nothing: the WAL just stays long until a later commit.
        let _ = self.conn.busy_timeout(Duration::ZERO);
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
    }
}

/// The WAL's size past which a commit truncates it (about 64 pages).
pub const WAL_LIMIT: u64 = 256 * 1024;

/// How long a transaction waits for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Seconds since the epoch, for `created` columns.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub use containers::{
    DnsEndpoint, NetnsHolder, PodMembers, add_endpoint, delete_container, dns_view, dns_view_of,
    find_container, get_container, insert_container, list_containers, netns_holders,
    networks_with_live_addresses, pod_members, release, remove_endpoint, set_exited, set_running,
};
pub use networks::{
    delete_network, get_network, get_network_by_id, insert_network, list_networks, network_users,
};
pub use ports::{delete_ports, describe as describe_port, insert_ports, ports_of};
pub use schema::{get_meta, set_meta};
