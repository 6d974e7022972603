//! What a lab's build made, as rows of warren's store (`labs`, `lab_objects`): written
//! before the kernel is touched, so `down` after a crash finds everything that may exist.

use serde::{Deserialize, Serialize};
use warren_store::{LabObject, LabRow, Store};

use crate::error::{Error, Result};
use crate::model::Lab;

/// Object kind: a named namespace of a node.
pub const NETNS: &str = "netns";
/// Object kind: an interface in the host namespace (an uplink or a host-bridge port).
pub const HOSTLINK: &str = "hostlink";
/// Object kind: a subnet in the host's masquerade set of table `inet warren-lab`.
pub const MASQ: &str = "masq";
/// Object kind: the lab needs the host to forward (one row, name `ipv4`).
pub const FORWARDING: &str = warren_store::LAB_FORWARDING;
/// A sysctl a node's file sets, with the value it had before (`NODE KEY`, data: the value):
/// put back when a re-apply drops the key from the file.
pub const SYSCTL: &str = "sysctl";

/// Lab states in the `labs` table.
pub mod lab_state {
    /// An `up` runs, or crashed.
    pub const BUILDING: &str = "building";
    /// Built as `lab` says.
    pub const UP: &str = "up";
    /// An `up` stopped with an error.
    pub const FAILED: &str = "failed";
}

/// A namespace record: its inode once made (`None` while it is being made).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsRecord {
    /// The node.
    pub node: String,
    /// The nsfs inode and device of the namespace made.
    pub inode: Option<(u64, u64)>,
}

/// A host interface record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLinkRecord {
    /// The altname marking it as the lab's.
    pub altname: String,
    /// Its index in the host namespace once made.
    pub ifindex: Option<u32>,
}

/// The altname marking a host interface as lab `lab`'s: `warren-lab.LAB.NODE.IF`.
pub fn host_marker(lab: &str, node: &str, iface: &str) -> String {
    format!("warren-lab.{lab}.{node}.{iface}")
}

/// The altname set on `lo` of every namespace a lab makes: `warren-lab.LAB.NODE`. It proves
/// ownership of a namespace whose inode was not recorded yet when an `up` crashed.
pub fn netns_marker(lab: &str, node: &str) -> String {
    format!("warren-lab.{lab}.{node}")
}

/// The group holding lab `lab`'s namespace files: `/run/warren/netns/LAB/NAME`, each linked
/// from `/run/netns/NAME`, so that `down` removes them all behind one grace period
/// ([`warren_kernel::netns::Group`]). A lab name is one path component (`values::LabName`).
pub fn netns_group(lab: &str) -> warren_kernel::netns::Group {
    warren_kernel::netns::Group::new(
        std::path::Path::new(warren_store::RUN_DIR)
            .join("netns")
            .join(lab),
    )
}

/// An altname as the kernel takes it: names may not contain `:` (nor `/`), so the model's
/// `NODE:IF` becomes `NODE.IF`.
pub fn kernel_altname(name: &str) -> String {
    name.replace([':', '/'], ".")
}

/// A row to record.
pub fn object<T: Serialize>(kind: &str, name: &str, data: &T) -> LabObject {
    LabObject {
        kind: kind.to_owned(),
        name: name.to_owned(),
        data: serde_json::to_string(data).unwrap_or_else(|_| "null".into()),
    }
}

/// Decode an object's data (a row from an older or broken write decodes to the default).
pub fn data<T: for<'de> Deserialize<'de> + Default>(o: &LabObject) -> T {
    serde_json::from_str(&o.data).unwrap_or_default()
}

/// Record objects of `lab`.
pub fn record(store: &mut Store, lab: &str, objects: &[LabObject]) -> Result<()> {
    if objects.is_empty() {
        return Ok(());
    }
    store
        .write(|tx| warren_store::lab_objects_put(tx, lab, objects))
        .map_err(Error::store(lab))
}

/// Forget objects of one kind (removed from the kernel, or never made).
pub fn forget(store: &mut Store, lab: &str, kind: &str, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    store
        .write(|tx| warren_store::lab_objects_delete(tx, lab, kind, names))
        .map_err(Error::store(lab))
}

/// A lab's row, if any.
pub fn row(store: &mut Store, lab: &str) -> Result<Option<LabRow>> {
    store
        .read(|tx| warren_store::lab_get(tx, lab))
        .map_err(Error::store(lab))
}

/// Decode a lab stored as JSON.
pub fn decode(lab: &str, json: &str) -> Result<Lab> {
    serde_json::from_str(json).map_err(|e| Error::model(lab, "stored lab", e.to_string()))
}

/// Write the lab's row.
pub fn put_row(
    store: &mut Store,
    lab: &Lab,
    file: Option<&str>,
    built: Option<&Lab>,
    state: &str,
) -> Result<()> {
    let enc = |l: &Lab| {
        serde_json::to_string(l).map_err(|e| Error::model(&lab.name, "lab", e.to_string()))
    };
    let row = LabRow {
        name: lab.name.clone(),
        file: file.map(str::to_owned),
        lab: enc(lab)?,
        built: built.map(enc).transpose()?,
        state: state.to_owned(),
        pid: i64::from(std::process::id()),
        updated: warren_store::now(),
    };
    store
        .write(|tx| warren_store::lab_put(tx, &row))
        .map_err(Error::store(&lab.name))
}

/// The `(inode, device)` of the namespace file at `path`, if it is there.
pub fn ns_inode(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.ino(), m.dev()))
}
