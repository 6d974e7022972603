//! A node's `/etc` files on disk, and its sysctls.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::dirs::bad_component;
use super::{Dirs, RuntimeError};
use crate::model::{Lab, Node};

/// Write `node`'s files under [`Dirs::node_etc`], replacing what an earlier call wrote (a
/// re-apply shows exactly the new set). Paths must be absolute, under `/etc`, with no `.`
/// or `..` component; each file gets its mode. Nothing is written when a path is refused.
pub fn prepare_files(lab: &Lab, node: &Node, dirs: &Dirs) -> Result<(), RuntimeError> {
    let hosts = if node.files.iter().any(|f| f.lab_hosts) {
        Some(write_lab_hosts(lab, dirs)?)
    } else {
        None
    };
    prepare_files_with(lab, node, dirs, hosts.as_deref())
}

/// Write the lab's `/etc/hosts` ([`Lab::hosts_file`]) once, as `RUN/labs/LAB/.hosts` (a
/// temporary file renamed into place, mode 0644), for [`prepare_files_with`] to link into
/// every node that has it: one copy instead of one per node.
pub fn write_lab_hosts(lab: &Lab, dirs: &Dirs) -> Result<PathBuf, RuntimeError> {
    let dir = dirs.lab_run(&lab.name);
    let io = |op, path: &Path, source| RuntimeError::Io {
        lab: lab.name.clone(),
        op,
        path: path.to_owned(),
        source,
    };
    if let Some(reason) = bad_component(&lab.name) {
        return Err(RuntimeError::Invalid {
            lab: lab.name.clone(),
            node: "(every node)".into(),
            what: "lab name",
            value: lab.name.clone(),
            reason,
        });
    }
    std::fs::create_dir_all(&dir).map_err(|e| io("create directory", &dir, e))?;
    let path = dir.join(".hosts");
    let tmp = dir.join(format!(".hosts.{}", std::process::id()));
    std::fs::write(&tmp, lab.hosts_file()).map_err(|e| io("write", &tmp, e))?;
    set_mode(&tmp, 0o644).map_err(|e| io("chmod", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("rename into place", &path, e)
    })?;
    Ok(path)
}

/// [`prepare_files`] with the lab's `/etc/hosts` already written by [`write_lab_hosts`]
/// (`None` if no node has it), hard-linked into the node (copied where it cannot be linked).
pub fn prepare_files_with(
    lab: &Lab,
    node: &Node,
    dirs: &Dirs,
    hosts: Option<&Path>,
) -> Result<(), RuntimeError> {
    let invalid = |what, value: &str, reason| RuntimeError::Invalid {
        lab: lab.name.clone(),
        node: node.name.clone(),
        what,
        value: value.to_owned(),
        reason,
    };
    for (what, name) in [("lab name", &lab.name), ("node name", &node.name)] {
        if let Some(reason) = bad_component(name) {
            return Err(invalid(what, name, reason));
        }
    }
    let mut rels = Vec::with_capacity(node.files.len());
    for f in &node.files {
        let rel = etc_relative(&f.path).ok_or_else(|| {
            invalid(
                "file path",
                &f.path,
                "must be under /etc, without . or .. components",
            )
        })?;
        rels.push(rel);
    }
    let io = |op, path: &Path, source| RuntimeError::Io {
        lab: lab.name.clone(),
        op,
        path: path.to_owned(),
        source,
    };
    let etc = dirs.node_etc(&lab.name, &node.name);
    match std::fs::remove_dir_all(&etc) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("remove", &etc, e)),
    }
    if node.files.is_empty() {
        // No view over its /etc at all: the node sees the host's, as an empty view would show.
        return Ok(());
    }
    std::fs::create_dir_all(&etc).map_err(|e| io("create directory", &etc, e))?;
    // Directories must be searchable by whoever runs inside the node.
    set_mode(&etc, 0o755).map_err(|e| io("chmod", &etc, e))?;
    for (f, rel) in node.files.iter().zip(rels) {
        let path = etc.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("create directory", parent, e))?;
        }
        if f.lab_hosts {
            let Some(shared) = hosts else {
                return Err(invalid(
                    "file",
                    &f.path,
                    "is the lab's /etc/hosts, which was not written",
                ));
            };
            if std::fs::hard_link(shared, &path).is_err() {
                std::fs::copy(shared, &path).map_err(|e| io("copy", &path, e))?;
            }
            continue;
        }
        std::fs::write(&path, &f.content).map_err(|e| io("write", &path, e))?;
        set_mode(&path, f.mode & 0o7777).map_err(|e| io("chmod", &path, e))?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// `/etc/a/b` → `a/b`; `None` for anything not strictly below `/etc` or with `.`/`..`.
fn etc_relative(path: &str) -> Option<PathBuf> {
    let rest = Path::new(path).strip_prefix("/etc").ok()?;
    let mut out = PathBuf::new();
    for c in rest.components() {
        match c {
            Component::Normal(part) if !part.as_encoded_bytes().contains(&0) => out.push(part),
            _ => return None,
        }
    }
    // A trailing `/.` is dropped by `components()`; refuse it explicitly.
    let raw_bad = path.ends_with('/') || path.split('/').any(|p| p == "." || p == "..");
    (!out.as_os_str().is_empty() && !raw_bad).then_some(out)
}

/// Remove the lab's runtime files (every node's `/etc` view, the records): after [`super::stop`].
pub fn remove_files(lab_name: &str, dirs: &Dirs) -> Result<(), RuntimeError> {
    if bad_component(lab_name).is_some() {
        return Ok(());
    }
    let dir = dirs.lab_run(lab_name);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RuntimeError::Io {
            lab: lab_name.to_owned(),
            op: "remove",
            path: dir,
            source,
        }),
    }
}

/// Write `node`'s sysctls inside its namespace (opened by its name in `/run/netns`).
pub fn apply_sysctls(lab: &Lab, node: &Node) -> Result<(), RuntimeError> {
    if node.sysctls.is_empty() {
        return Ok(());
    }
    let kernel = |source| RuntimeError::Kernel {
        lab: lab.name.clone(),
        node: node.name.clone(),
        source: Box::new(source),
    };
    let ns = warren_kernel::NetNs::open_named(&node.netns).map_err(kernel)?;
    let pairs: Vec<(&str, &str)> = node
        .sysctls
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    warren_kernel::sysctl::set_many(&ns, &pairs).map_err(kernel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_etc() {
        for (path, want) in [
            ("/etc/hosts", Some("hosts")),
            ("/etc/bird/bird.conf", Some("bird/bird.conf")),
            ("/etc//frr/daemons", Some("frr/daemons")),
            ("/etc", None),
            ("/etc/", None),
            ("/etcx/hosts", None),
            ("/etc/../passwd", None),
            ("/etc/a/./b", None),
            ("/etc/a/", None),
            ("etc/hosts", None),
            ("/var/etc/hosts", None),
            ("", None),
        ] {
            assert_eq!(etc_relative(path), want.map(PathBuf::from), "{path:?}");
        }
    }

    #[test]
    fn a_node_without_files_gets_no_view_and_loses_an_old_one() {
        let tmp = std::env::temp_dir().join(format!("warren-files-{}", std::process::id()));
        let dirs = Dirs {
            run: tmp.join("run"),
            state: tmp.join("state"),
            supervisor: Vec::new(),
        };
        let mut lab = crate::sample::two_lans("fl");
        let idx = lab.nodes.iter().position(|n| n.name == "r").unwrap();
        lab.nodes[idx].files.push(crate::model::File {
            path: "/etc/motd".into(),
            content: "hi\n".into(),
            mode: 0o644,
            lab_hosts: false,
        });
        let etc = dirs.node_etc("fl", "r");
        prepare_files(&lab, &lab.nodes[idx], &dirs).unwrap();
        assert_eq!(std::fs::read_to_string(etc.join("motd")).unwrap(), "hi\n");
        // The file leaves the lab: the view goes too (the node sees its /etc as is).
        lab.nodes[idx].files.clear();
        prepare_files(&lab, &lab.nodes[idx], &dirs).unwrap();
        assert!(!etc.exists(), "{}", etc.display());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn random_paths_never_escape() {
        let alphabet = ["/", "etc", ".", "..", "a", "\0", "//", "é"];
        let mut seed = 0x2545_f491_u64;
        for _ in 0..5000 {
            let mut p = String::new();
            for _ in 0..(seed % 7) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                p.push_str(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            seed = seed.wrapping_add(1);
            if let Some(rel) = etc_relative(&p) {
                let joined = Path::new("/x/etc").join(&rel);
                assert!(joined.starts_with("/x/etc/"), "{p:?}");
                assert!(
                    rel.components().all(|c| matches!(c, Component::Normal(_))),
                    "{p:?}"
                );
            }
        }
    }
}
