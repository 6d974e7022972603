//! What to inspect: parsed from the user's word first ([`Target::parse`], pure), then
//! resolved against the system ([`resolve`]) to an open namespace.

use std::path::{Path, PathBuf};

use serde::Serialize;
use warren_kernel::NetNs;
use warren_store::{Container, Store};

use crate::error::{Error, Result};

/// A target as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The namespace of the calling process (no word given).
    Current,
    /// A namespace file (`/run/netns/x`, `/proc/42/ns/net`).
    Path(PathBuf),
    /// `pid:N`: the namespace of process N.
    Pid(i32),
    /// `LAB/NODE`: a lab node.
    LabNode {
        /// The lab.
        lab: String,
        /// The node.
        node: String,
    },
    /// A bare word: a namespace under `/run/netns`, else a warren container or pod (name or
    /// id), else a lab node's namespace `LAB-NODE`.
    Name(String),
}

impl Target {
    /// Read a target word (pure: nothing is looked up).
    pub fn parse(word: Option<&str>) -> Result<Target> {
        let Some(w) = word else {
            return Ok(Target::Current);
        };
        let bad = |reason: &str| Error::BadTarget {
            target: w.to_owned(),
            reason: reason.to_owned(),
        };
        if w.is_empty() {
            return Err(bad("empty"));
        }
        if let Some(pid) = w.strip_prefix("pid:") {
            return match pid.parse::<i32>() {
                Ok(n) if n > 0 => Ok(Target::Pid(n)),
                _ => Err(bad("pid:N needs a positive process id")),
            };
        }
        if w.starts_with('/') || w.starts_with("./") || w.starts_with("../") {
            return Ok(Target::Path(PathBuf::from(w)));
        }
        if let Some((lab, node)) = w.split_once('/') {
            if lab.is_empty() || node.is_empty() || node.contains('/') {
                return Err(bad("a lab node is LAB/NODE; a path starts with / or ./"));
            }
            return Ok(Target::LabNode {
                lab: lab.to_owned(),
                node: node.to_owned(),
            });
        }
        if w == "." || w == ".." || w.contains('\0') {
            return Err(bad("not a namespace name"));
        }
        Ok(Target::Name(w.to_owned()))
    }
}

/// What kind of thing a target turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A namespace (named, a path, or the current one).
    Namespace,
    /// A process's namespace.
    Process,
    /// A warren container.
    Container,
    /// A warren pod.
    Pod,
    /// A lab node.
    Node,
}

/// A target resolved to an open namespace.
#[derive(Debug)]
pub struct Resolved {
    /// The namespace.
    pub ns: NetNs,
    /// What the target is.
    pub kind: Kind,
    /// How to call it in output: the namespace name, container name, `pid:N`, path.
    pub name: String,
    /// The container's or pod's id.
    pub id: Option<String>,
    /// The namespace's name under `/run/netns`, when it has one.
    pub netns: Option<String>,
}

fn open_err(target: &str) -> impl Fn(warren_kernel::Error) -> Error + '_ {
    move |source| Error::Open {
        target: target.to_owned(),
        source: Box::new(source),
    }
}

fn named_exists(name: &str) -> bool {
    warren_kernel::netns::validate_name(name).is_ok()
        && warren_kernel::netns::named_path(name).exists()
}

fn open_named(name: &str, kind: Kind, shown: &str) -> Result<Resolved> {
    Ok(Resolved {
        ns: NetNs::open_named(name).map_err(open_err(shown))?,
        kind,
        name: shown.to_owned(),
        id: None,
        netns: Some(name.to_owned()),
    })
}

/// Open the namespace a target names.
pub fn resolve(t: &Target) -> Result<Resolved> {
    match t {
        Target::Current => Ok(Resolved {
            ns: NetNs::current().map_err(open_err("current namespace"))?,
            kind: Kind::Namespace,
            name: "current".into(),
            id: None,
            netns: None,
        }),
        Target::Path(p) => Ok(Resolved {
            ns: NetNs::open_path(p).map_err(open_err(&p.display().to_string()))?,
            kind: Kind::Namespace,
            name: p.display().to_string(),
            id: None,
            netns: None,
        }),
        Target::Pid(pid) => {
            let name = format!("pid:{pid}");
            Ok(Resolved {
                ns: NetNs::open_pid(*pid).map_err(open_err(&name))?,
                kind: Kind::Process,
                name,
                id: None,
                netns: None,
            })
        }
        Target::LabNode { lab, node } => {
            let ns = format!("{lab}-{node}");
            if !named_exists(&ns) {
                return Err(Error::NotFound {
                    target: format!("{lab}/{node}"),
                    tried: format!("lab node namespace /run/netns/{ns}"),
                });
            }
            open_named(&ns, Kind::Node, &format!("{lab}/{node}"))
        }
        Target::Name(n) => {
            if named_exists(n) {
                return open_named(n, Kind::Namespace, n);
            }
            if let Some(c) = find_container(n)? {
                return open_container(n, &c);
            }
            Err(Error::NotFound {
                target: n.clone(),
                tried: "namespaces under /run/netns, warren containers and pods".into(),
            })
        }
    }
}

/// Look a container or pod up in warren's store, if warren has one here (nothing is
/// created when it has none).
fn find_container(key: &str) -> Result<Option<Container>> {
    let paths = warren_engine::paths::Paths::discover();
    if !paths.state.join("warren.db").exists() {
        return Ok(None);
    }
    let store_err = |source| Error::Store {
        target: key.to_owned(),
        source: Box::new(source),
    };
    let mut store = Store::open(&paths.state).map_err(store_err)?;
    store
        .read(|tx| warren_store::find_container(tx, key))
        .map_err(store_err)
}

fn open_container(key: &str, c: &Container) -> Result<Resolved> {
    let kind = match c.kind {
        warren_store::Kind::Pod => Kind::Pod,
        _ => Kind::Container,
    };
    // Joined another container's or a pod's namespace: inspect that one.
    for prefix in ["container:", "pod:"] {
        if let Some(other) = c.mode.strip_prefix(prefix)
            && let Some(o) = find_container(other)?
            && o.id != c.id
        {
            let mut r = open_container(other, &o)?;
            r.kind = kind;
            r.name = c.name.clone();
            r.id = Some(c.id.clone());
            return Ok(r);
        }
    }
    let ns = if let Some(path) = &c.netns {
        NetNs::open_path(Path::new(path)).map_err(open_err(key))?
    } else if c.mode == "host" {
        NetNs::open_pid(1).map_err(open_err(key))?
    } else if let Some(pid) = c.pid {
        NetNs::open_pid(pid).map_err(open_err(key))?
    } else {
        return Err(Error::NoNetns {
            target: key.to_owned(),
            mode: c.mode.clone(),
        });
    };
    let netns = c
        .netns
        .as_deref()
        .and_then(|p| p.strip_prefix("/run/netns/"))
        .map(str::to_owned);
    Ok(Resolved {
        ns,
        kind,
        name: c.name.clone(),
        id: Some(c.id.clone()),
        netns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let ok: &[(Option<&str>, Target)] = &[
            (None, Target::Current),
            (Some("red"), Target::Name("red".into())),
            (Some("pid:42"), Target::Pid(42)),
            (
                Some("/run/netns/red"),
                Target::Path("/run/netns/red".into()),
            ),
            (Some("./ns"), Target::Path("./ns".into())),
            (
                Some("lab1/r1"),
                Target::LabNode {
                    lab: "lab1".into(),
                    node: "r1".into(),
                },
            ),
        ];
        for (w, want) in ok {
            assert_eq!(&Target::parse(*w).unwrap(), want, "{w:?}");
        }
        for bad in [
            "", "pid:", "pid:x", "pid:-1", "pid:0", "a/b/c", "/", "lab/", "..", ".",
        ] {
            if bad == "/" {
                // A path: opening it fails later, with the path named.
                assert!(matches!(Target::parse(Some(bad)), Ok(Target::Path(_))));
                continue;
            }
            assert!(Target::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_words_never_panic() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let len = (s % 12) as usize;
            let w: String = (0..len)
                .map(|i| b"ab/:.pid0-9\0"[((s >> (i * 4)) % 12) as usize] as char)
                .collect();
            let _ = Target::parse(Some(&w));
        }
    }
}
