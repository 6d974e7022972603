//! Per-plugin records: what a plugin made for one attachment, in JSON of its choosing, so DEL
//! and GC can undo it without `prevResult`.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{Error, Result, sql};

/// What a plugin made for one attachment, in JSON of the plugin's choosing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniRecord {
    /// The CNI network name.
    pub network: String,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// The plugin (`bridge`, `portmap`, ...).
    pub plugin: String,
    /// `CNI_NETNS` at ADD, if any.
    pub netns: Option<String>,
    /// The plugin's data.
    pub data: String,
    /// Seconds since the epoch.
    pub created: i64,
}

const RECORD_COLUMNS: &str = "network, container_id, ifname, plugin, netns, data, created";

fn record_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CniRecord> {
    Ok(CniRecord {
        network: r.get(0)?,
        container_id: r.get(1)?,
        ifname: r.get(2)?,
        plugin: r.get(3)?,
        netns: r.get(4)?,
        data: r.get(5)?,
        created: r.get(6)?,
    })
}

/// Store what a plugin made for an attachment; refused if the plugin already has a record for
/// it.
pub fn cni_record_put(tx: &Transaction<'_>, rec: &CniRecord) -> Result<()> {
    if cni_record_get(
        tx,
        &rec.network,
        &rec.container_id,
        &rec.ifname,
        &rec.plugin,
    )?
    .is_some()
    {
        return Err(Error::Exists {
            what: "CNI record",
            name: format!(
                "{}/{}/{}/{}",
                rec.network, rec.container_id, rec.ifname, rec.plugin
            ),
        });
    }
    tx.execute(
        &format!("INSERT INTO cni_records ({RECORD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            rec.network,
            rec.container_id,
            rec.ifname,
            rec.plugin,
            rec.netns,
            rec.data,
            rec.created
        ],
    )
    .map_err(sql("insert CNI record"))?;
    Ok(())
}

/// The record `plugin` keeps for an attachment.
pub fn cni_record_get(
    tx: &Transaction<'_>,
    network: &str,
    container_id: &str,
    ifname: &str,
    plugin: &str,
) -> Result<Option<CniRecord>> {
    tx.prepare_cached(&format!(
        "SELECT {RECORD_COLUMNS} FROM cni_records
         WHERE network = ?1 AND container_id = ?2 AND ifname = ?3 AND plugin = ?4"
    ))
    .and_then(|mut st| {
        st.query_row(params![network, container_id, ifname, plugin], record_row)
            .optional()
    })
    .map_err(sql("read CNI record"))
}

/// Delete the record `plugin` keeps for an attachment, returning it (`None` if there was none).
pub fn cni_record_delete(
    tx: &Transaction<'_>,
    network: &str,
    container_id: &str,
    ifname: &str,
    plugin: &str,
) -> Result<Option<CniRecord>> {
    let rec = cni_record_get(tx, network, container_id, ifname, plugin)?;
    if rec.is_some() {
        tx.execute(
            "DELETE FROM cni_records
             WHERE network = ?1 AND container_id = ?2 AND ifname = ?3 AND plugin = ?4",
            params![network, container_id, ifname, plugin],
        )
        .map_err(sql("delete CNI record"))?;
    }
    Ok(rec)
}

/// Every record `plugin` keeps in `network`, by container id and interface.
pub fn cni_records(tx: &Transaction<'_>, network: &str, plugin: &str) -> Result<Vec<CniRecord>> {
    let mut st = tx
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM cni_records WHERE network = ?1 AND plugin = ?2
             ORDER BY container_id, ifname"
        ))
        .map_err(sql("read CNI records"))?;
    st.query_map(params![network, plugin], record_row)
        .and_then(Iterator::collect)
        .map_err(sql("read CNI records"))
}

/// How many records `plugin` keeps in `network`.
pub fn cni_record_count(tx: &Transaction<'_>, network: &str, plugin: &str) -> Result<usize> {
    tx.query_row(
        "SELECT count(*) FROM cni_records WHERE network = ?1 AND plugin = ?2",
        params![network, plugin],
        |r| r.get(0),
    )
    .map_err(sql("count CNI records"))
}
