//! Labs: the lab as built (its resolved model as JSON, which this crate does not read) and
//! every kernel object its build made. Objects are recorded *before* they are made, so after a
//! crash in the middle of `warren lab up` the rows still name everything that may exist, and
//! `warren lab down` removes exactly that.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{Error, Result, sql};

/// One lab's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabRow {
    /// The lab's name.
    pub name: String,
    /// The topology file it was last applied from, if any.
    pub file: Option<String>,
    /// The lab being built or last built (JSON of the resolved lab).
    pub lab: String,
    /// The lab as last completely built (JSON), if a build ever finished.
    pub built: Option<String>,
    /// `building` while an `up` runs (or after one crashed), `up` once it finished, `failed`
    /// if it stopped with an error.
    pub state: String,
    /// The process that last changed the row.
    pub pid: i64,
    /// When the row last changed (seconds since the epoch).
    pub updated: i64,
}

/// A kernel object a lab made (or is about to make).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabObject {
    /// What it is (`netns`, `hostlink`, `masq`, ...: the lab crate's words).
    pub kind: String,
    /// Its name, unique per kind within the lab.
    pub name: String,
    /// What else identifies it (JSON: an inode, an ifindex, an altname).
    pub data: String,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LabRow> {
    Ok(LabRow {
        name: r.get(0)?,
        file: r.get(1)?,
        lab: r.get(2)?,
        built: r.get(3)?,
        state: r.get(4)?,
        pid: r.get(5)?,
        updated: r.get(6)?,
    })
}

const COLUMNS: &str = "name, file, lab, built, state, pid, updated";

/// Insert or update a lab's row (its objects are kept).
pub fn lab_put(tx: &Transaction<'_>, lab: &LabRow) -> Result<()> {
    tx.execute(
        "INSERT INTO labs (name, file, lab, built, state, pid, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(name) DO UPDATE SET file = excluded.file, lab = excluded.lab,
             built = excluded.built, state = excluded.state, pid = excluded.pid,
             updated = excluded.updated",
        params![
            lab.name,
            lab.file,
            lab.lab,
            lab.built,
            lab.state,
            lab.pid,
            lab.updated
        ],
    )
    .map_err(sql("write lab"))?;
    Ok(())
}

/// One lab by name.
pub fn lab_get(tx: &Transaction<'_>, name: &str) -> Result<Option<LabRow>> {
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM labs WHERE name = ?1"),
        [name],
        row,
    )
    .optional()
    .map_err(sql("read lab"))
}

/// Every lab, by name.
pub fn labs(tx: &Transaction<'_>) -> Result<Vec<LabRow>> {
    let mut st = tx
        .prepare(&format!("SELECT {COLUMNS} FROM labs ORDER BY name"))
        .map_err(sql("list labs"))?;
    st.query_map([], row)
        .map_err(sql("list labs"))?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql("list labs"))
}

/// Remove a lab and all its object rows; `NotFound` if there is no such lab.
pub fn lab_delete(tx: &Transaction<'_>, name: &str) -> Result<()> {
    tx.execute("DELETE FROM lab_objects WHERE lab = ?1", [name])
        .map_err(sql("delete lab objects"))?;
    let n = tx
        .execute("DELETE FROM labs WHERE name = ?1", [name])
        .map_err(sql("delete lab"))?;
    if n == 0 {
        return Err(Error::NotFound {
            what: "lab",
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Record objects of `lab` (a row with the same kind and name is replaced).
pub fn lab_objects_put(tx: &Transaction<'_>, lab: &str, objects: &[LabObject]) -> Result<()> {
    let mut st = tx
        .prepare_cached(
            "INSERT INTO lab_objects (lab, kind, name, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(lab, kind, name) DO UPDATE SET data = excluded.data",
        )
        .map_err(sql("record lab object"))?;
    for o in objects {
        st.execute(params![lab, o.kind, o.name, o.data])
            .map_err(sql("record lab object"))?;
    }
    Ok(())
}

/// The objects of `lab`, optionally only those of one kind, in the order recorded.
pub fn lab_objects(tx: &Transaction<'_>, lab: &str, kind: Option<&str>) -> Result<Vec<LabObject>> {
    let mut st = tx
        .prepare_cached(
            "SELECT kind, name, data FROM lab_objects
             WHERE lab = ?1 AND (?2 IS NULL OR kind = ?2) ORDER BY rowid",
        )
        .map_err(sql("read lab objects"))?;
    st.query_map(params![lab, kind], |r| {
        Ok(LabObject {
            kind: r.get(0)?,
            name: r.get(1)?,
            data: r.get(2)?,
        })
    })
    .map_err(sql("read lab objects"))?
    .collect::<rusqlite::Result<_>>()
    .map_err(sql("read lab objects"))
}

/// Forget objects of `lab` of one kind by name (they were removed from the kernel).
pub fn lab_objects_delete(
    tx: &Transaction<'_>,
    lab: &str,
    kind: &str,
    names: &[String],
) -> Result<()> {
    let mut st = tx
        .prepare_cached("DELETE FROM lab_objects WHERE lab = ?1 AND kind = ?2 AND name = ?3")
        .map_err(sql("forget lab object"))?;
    for n in names {
        st.execute(params![lab, kind, n])
            .map_err(sql("forget lab object"))?;
    }
    Ok(())
}

/// The lab object kind that says a lab needs the host to forward IPv4 (warren's networks
/// consult it too before they put the host's forwarding back).
pub const LAB_FORWARDING: &str = "forwarding";

/// Whether some lab needs the host to forward IPv4 ([`LAB_FORWARDING`]).
pub fn labs_need_forwarding(tx: &Transaction<'_>) -> Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM lab_objects WHERE kind = ?1)")
        .and_then(|mut st| st.query_row([LAB_FORWARDING], |r| r.get(0)))
        .map_err(sql("read lab objects"))
}

/// Every object of one kind across all labs, as (lab, object): e.g. the host's masquerade
/// elements that other labs still need.
pub fn lab_objects_of_kind(tx: &Transaction<'_>, kind: &str) -> Result<Vec<(String, LabObject)>> {
    let mut st = tx
        .prepare_cached(
            "SELECT lab, kind, name, data FROM lab_objects WHERE kind = ?1 ORDER BY rowid",
        )
        .map_err(sql("read lab objects"))?;
    st.query_map([kind], |r| {
        Ok((
            r.get(0)?,
            LabObject {
                kind: r.get(1)?,
                name: r.get(2)?,
                data: r.get(3)?,
            },
        ))
    })
    .map_err(sql("read lab objects"))?
    .collect::<rusqlite::Result<_>>()
    .map_err(sql("read lab objects"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_and_its_objects_round_trip_and_go_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::Store::open(dir.path()).unwrap();
        let lab = LabRow {
            name: "l".into(),
            file: Some("/x.yaml".into()),
            lab: "{}".into(),
            built: None,
            state: "building".into(),
            pid: 1,
            updated: 2,
        };
        let o = |k: &str, n: &str| LabObject {
            kind: k.into(),
            name: n.into(),
            data: "{}".into(),
        };
        store
            .write(|tx| {
                lab_put(tx, &lab)?;
                lab_objects_put(
                    tx,
                    "l",
                    &[o("netns", "l-a"), o("netns", "l-b"), o("masq", "m")],
                )
            })
            .unwrap();
        let (got, ns, masq) = store
            .read(|tx| {
                Ok::<_, Error>((
                    lab_get(tx, "l")?,
                    lab_objects(tx, "l", Some("netns"))?,
                    lab_objects_of_kind(tx, "masq")?,
                ))
            })
            .unwrap();
        assert_eq!(got.as_ref(), Some(&lab));
        assert_eq!(ns, vec![o("netns", "l-a"), o("netns", "l-b")]);
        assert_eq!(masq, vec![("l".to_owned(), o("masq", "m"))]);
        store
            .write(|tx| lab_objects_delete(tx, "l", "netns", &["l-a".into()]))
            .unwrap();
        let left = store.read(|tx| lab_objects(tx, "l", None)).unwrap();
        assert_eq!(left.len(), 2);
        store.write(|tx| lab_delete(tx, "l")).unwrap();
        let (labs_left, objs) = store
            .read(|tx| Ok::<_, Error>((labs(tx)?, lab_objects(tx, "l", None)?)))
            .unwrap();
        assert!(labs_left.is_empty() && objs.is_empty());
        assert!(matches!(
            store.write(|tx| lab_delete(tx, "l")),
            Err(Error::NotFound { .. })
        ));
    }
}
