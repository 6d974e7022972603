//! The schema, created or upgraded inside the first write transaction.

use rusqlite::Transaction;

use crate::error::{Result, sql};

const VERSION: i64 = 4;

/// Version 1: warren's own networks, containers, endpoints, addresses and ports.
const SCHEMA_V1: &str = r"
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

/// Version 2 adds the CNI plugin's state: host-local style leases with a round-robin cursor
/// per range set, and what each plugin made for an attachment. Addresses are stored in their
/// canonical text form (`Display` of `IpAddr`), so equality lookups are exact.
const SCHEMA_V2: &str = r"
CREATE TABLE IF NOT EXISTS cni_leases (
    network TEXT NOT NULL,
    ip TEXT NOT NULL,
    prefix INTEGER NOT NULL,
    gateway TEXT,
    range_set INTEGER NOT NULL,
    container_id TEXT NOT NULL,
    ifname TEXT NOT NULL,
    PRIMARY KEY (network, ip)
);
CREATE INDEX IF NOT EXISTS cni_leases_by_attachment
    ON cni_leases (network, container_id, ifname);
CREATE TABLE IF NOT EXISTS cni_cursors (
    network TEXT NOT NULL,
    range_set INTEGER NOT NULL,
    last TEXT NOT NULL,
    PRIMARY KEY (network, range_set)
);
CREATE TABLE IF NOT EXISTS cni_records (
    network TEXT NOT NULL,
    container_id TEXT NOT NULL,
    ifname TEXT NOT NULL,
    plugin TEXT NOT NULL,
    netns TEXT,
    data TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (network, container_id, ifname, plugin)
);
CREATE INDEX IF NOT EXISTS cni_records_by_plugin ON cni_records (network, plugin);
";

/// Version 3: labs (the lab as built, as JSON) and every kernel object a lab's build made,
/// recorded before it is made, so `warren lab down` removes exactly that, also after a crash.
const SCHEMA_V3: &str = r"
CREATE TABLE IF NOT EXISTS labs (
    name TEXT PRIMARY KEY,
    file TEXT,
    lab TEXT NOT NULL,
    built TEXT,
    state TEXT NOT NULL,
    pid INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lab_objects (
    lab TEXT NOT NULL REFERENCES labs (name) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (lab, kind, name)
);
";

/// Version 4: indexes on the columns rows are looked up and cascaded by that had none, each
/// a scan of its whole table per container: a container's addresses (DNS, teardown: the
/// cascade from `endpoints`), its ports (`ports_of`, the cascade from `containers`), and a
/// network's endpoints (`network_users`).
const SCHEMA_V4: &str = r"
CREATE INDEX IF NOT EXISTS addresses_by_endpoint ON addresses (endpoint_id);
CREATE INDEX IF NOT EXISTS ports_by_container ON ports (container_id);
CREATE INDEX IF NOT EXISTS endpoints_by_network ON endpoints (network_id);
";

/// Whether the database already has this schema version (then opening writes nothing).
pub(crate) fn current(conn: &rusqlite::Connection) -> bool {
    conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
        r.get::<_, String>(0)
    })
    .is_ok_and(|v| v == VERSION.to_string())
}

/// Create the schema or bring an older one up to date: every statement is `IF NOT EXISTS`, so
/// an older database just gains the tables and indexes added since.
pub(crate) fn migrate(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(SCHEMA_V1).map_err(sql("create schema"))?;
    tx.execute_batch(SCHEMA_V2)
        .map_err(sql("create schema version 2"))?;
    tx.execute_batch(SCHEMA_V3)
        .map_err(sql("create schema version 3"))?;
    tx.execute_batch(SCHEMA_V4)
        .map_err(sql("create schema version 4"))?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('schema', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = rusqlite::Connection::open(dir.path().join(crate::DB_FILE)).unwrap();
            conn.execute_batch(SCHEMA_V1).unwrap();
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema', '1')", [])
                .unwrap();
        }
        let mut store = crate::Store::open(dir.path()).unwrap();
        let (version, tables, indexes) = store
            .read(|tx| {
                let count = |sql_text: &str| -> crate::Result<i64> {
                    tx.query_row(sql_text, [], |r| r.get(0))
                        .map_err(sql("count schema objects"))
                };
                let tables = count(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table'
                     AND name IN ('cni_leases', 'cni_cursors', 'cni_records', 'labs',
                     'lab_objects')",
                )?;
                let indexes = count(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index'
                     AND name IN ('addresses_by_endpoint', 'ports_by_container',
                     'endpoints_by_network')",
                )?;
                Ok::<_, crate::Error>((get_meta(tx, "schema")?, tables, indexes))
            })
            .unwrap();
        assert_eq!(version.as_deref(), Some("4"));
        assert_eq!((tables, indexes), (5, 3));
        // A container's addresses are found through the index, not by scanning them all.
        let plan: Vec<String> = store
            .read(|tx| {
                let mut st = tx
                    .prepare(
                        "EXPLAIN QUERY PLAN SELECT a.addr FROM endpoints e
                         JOIN addresses a ON a.endpoint_id = e.id WHERE e.container_id = 'c'",
                    )
                    .map_err(sql("plan"))?;
                let rows = st
                    .query_map([], |r| r.get::<_, String>(3))
                    .map_err(sql("plan"))?;
                rows.map(|r| r.map_err(sql("plan")))
                    .collect::<crate::Result<Vec<_>>>()
            })
            .unwrap();
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN")),
            "{plan:?}"
        );
        // And the new tables work.
        let set =
            vec![crate::CniRange::new("10.0.0.0/24".parse().unwrap(), None, None, None).unwrap()];
        let got = store
            .write(|tx| crate::cni_allocate(tx, "n", "c", "eth0", &[set], &[]))
            .unwrap();
        assert_eq!(got[0].ip, "10.0.0.2".parse::<std::net::IpAddr>().unwrap());
    }
}
