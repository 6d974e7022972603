//! The schema, created or upgraded inside the first write transaction.

use rusqlite::Transaction;

use crate::error::{Result, sql};

const VERSION: i64 = 1;

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS networks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    driver TEXT NOT NULL,
    iface TEXT NOT NULL UNIQUE,
    mode TEXT,
    mtu INTEGER,
    internal INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS subnets (
    network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    subnet TEXT NOT NULL,
    gateway TEXT,
    ip_range TEXT,
    cursor TEXT,
    PRIMARY KEY (network_id, seq)
);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    netns TEXT,
    mode TEXT NOT NULL,
    pod TEXT REFERENCES containers(id),
    hostname TEXT,
    state TEXT NOT NULL,
    pid INTEGER,
    pid_start INTEGER,
    owner_pid INTEGER,
    owner_start INTEGER,
    exit_code INTEGER,
    spec TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoints (
    id INTEGER PRIMARY KEY,
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    network_id INTEGER NOT NULL REFERENCES networks(id),
    ifname TEXT NOT NULL,
    host_ifname TEXT UNIQUE,
    aliases TEXT NOT NULL,
    UNIQUE (container_id, network_id),
    UNIQUE (container_id, ifname)
);
CREATE TABLE IF NOT EXISTS addresses (
    network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    addr TEXT NOT NULL,
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    PRIMARY KEY (network_id, addr)
);
CREATE TABLE IF NOT EXISTS ports (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    host_ip TEXT NOT NULL,
    proto TEXT NOT NULL,
    host_port INTEGER NOT NULL,
    port INTEGER NOT NULL,
    PRIMARY KEY (host_ip, proto, host_port)
);
CREATE INDEX IF NOT EXISTS ports_by_port ON ports (proto, host_port);
CREATE INDEX IF NOT EXISTS containers_by_pod ON containers (pod);
";

/// Whether the database already has this schema version (then opening writes nothing).
pub(crate) fn current(conn: &rusqlite::Connection) -> bool {
    conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
        r.get::<_, String>(0)
    })
    .is_ok_and(|v| v == VERSION.to_string())
}

pub(crate) fn migrate(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(SCHEMA).map_err(sql("create schema"))?;
    tx.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?1)",
        [VERSION.to_string()],
    )
    .map_err(sql("record schema version"))?;
    Ok(())
}

/// Read a `meta` value.
pub fn get_meta(tx: &Transaction<'_>, key: &str) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map_err(sql("read meta"))
}

/// Write (or with `None` delete) a `meta` value.
pub fn set_meta(tx: &Transaction<'_>, key: &str, value: Option<&str>) -> Result<()> {
    match value {
        Some(v) => tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, v],
        ),
        None => tx.execute("DELETE FROM meta WHERE key = ?1", [key]),
    }
    .map_err(sql("write meta"))?;
    Ok(())
}
