//! The server's configuration: the JSON file the engine writes (atomically) and the server reads
//! at start and on every SIGHUP.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The DNS port, used when the config names none.
pub const DEFAULT_PORT: u16 = 53;

/// Everything the server needs: where to listen, the names to answer, where to forward the rest.
///
/// ```json
/// { "listen": [ {"network": "front", "addr": "10.89.0.1"} ],
///   "port": 53,
///   "upstreams": ["192.0.2.53:53"],
///   "names": [ {"name": "web", "network": "front", "addrs": ["10.89.0.2", "fd89::2"]} ],
///   "client_upstreams": { "10.89.0.3": ["198.51.100.1:53"] } }
/// ```
///
/// Every field may be left out; a config with no `listen` entries tells a running server to exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The addresses to serve on (UDP and TCP), each belonging to one network.
    #[serde(default)]
    pub listen: Vec<Listen>,
    /// The port for every listen address; 53 when left out.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Where to forward what is not a known name, tried in order.
    #[serde(default)]
    pub upstreams: Vec<SocketAddr>,
    /// The names to answer, each visible in one network.
    #[serde(default)]
    pub names: Vec<NameEntry>,
    /// Per client source address: upstreams used for that client instead of `upstreams`.
    #[serde(default)]
    pub client_upstreams: BTreeMap<IpAddr, Vec<SocketAddr>>,
}

/// One address the server listens on, and the network whose clients reach it there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Listen {
    /// The network's name (as in [`NameEntry::network`]).
    pub network: String,
    /// The address (typically the network's gateway on the host).
    pub addr: IpAddr,
}

/// A name (a container, an alias) with its addresses in one network.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NameEntry {
    /// A DNS name: `web`, or several labels such as `db.internal`. Matched without regard to
    /// case, with or without a trailing dot, and also as `NAME.NETWORK`.
    pub name: String,
    /// The network the name is visible in.
    pub network: String,
    /// Its addresses in that network (IPv4 and IPv6).
    #[serde(default)]
    pub addrs: Vec<IpAddr>,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

/// Nothing to serve, on port 53 (as `{}` parses).
impl Default for Config {
    fn default() -> Config {
        Config {
            listen: Vec::new(),
            port: DEFAULT_PORT,
            upstreams: Vec::new(),
            names: Vec::new(),
            client_upstreams: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Read, parse and check the config at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read(path).map_err(|source| Error::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        let config: Config =
            serde_json::from_slice(&text).map_err(|source| Error::ParseConfig {
                path: path.to_owned(),
                source,
            })?;
        config.check().map_err(|reason| Error::InvalidConfig {
            path: path.to_owned(),
            reason,
        })?;
        Ok(config)
    }

    /// Check the config, then write it to `path` atomically: to a temporary file in the same
    /// directory, flushed, then renamed over `path`, so a server reading it (on SIGHUP) sees
    /// either the old config or the new one, never a part.
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        self.check().map_err(|reason| Error::InvalidConfig {
            path: path.to_owned(),
            reason,
        })?;
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| Error::Write {
            path: path.to_owned(),
            source: e.into(),
        })?;
        json.push(b'\n');
        write_file_atomic(path, &json)
    }

    /// Check what serde cannot: names are DNS names, networks are named, the port is not 0, and
    /// no address listens for two networks. Returns what is wrong.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if self.port == 0 {
            return Err("port 0".into());
        }
        let mut seen: HashMap<IpAddr, &str> = HashMap::new();
        for l in &self.listen {
            if l.network.is_empty() {
                return Err(format!("listen address {} has an empty network", l.addr));
            }
            if let Some(other) = seen.insert(l.addr, &l.network) {
                if other != l.network {
                    return Err(format!(
                        "listen address {} is in two networks ({other}, {})",
                        l.addr, l.network
                    ));
                }
            }
        }
        for n in &self.names {
            if n.network.is_empty() {
                return Err(format!("name {:?} has an empty network", n.name));
            }
            if let Some(why) = invalid_dns_name(&n.name) {
                return Err(format!("name {:?} (network {}): {why}", n.name, n.network));
            }
        }
        Ok(())
    }
}

/// Why `name` is not a DNS name we can answer for, or `None` if it is fine. One trailing dot is
/// allowed; labels are 1 to 63 letters, digits, `-` or `_`; at most 253 characters in all.
fn invalid_dns_name(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Some("empty");
    }
    if name.len() > 253 {
        return Some("longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("empty label");
        }
        if label.len() > 63 {
            return Some("label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Some("only letters, digits, '-' and '_' are allowed");
        }
    }
    None
}

/// Write `data` to `path` through a temporary file in the same directory and a rename.
pub(crate) fn write_file_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = temp_path(path);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(data)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

/// `DIR/.NAME.tmp.PID`: hidden, unique per process, on the same filesystem as `path`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "warren-dns".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let c: Config = serde_json::from_str(
            r#"{
              "listen": [ {"network": "front", "addr": "10.89.0.1"}, {"network": "front", "addr": "fd89::1"} ],
              "port": 53,
              "upstreams": ["192.0.2.53:53"],
              "names": [ {"name": "web", "network": "front", "addrs": ["10.89.0.2", "fd89::2"]},
                         {"name": "www", "network": "front", "addrs": ["10.89.0.2"]} ],
              "client_upstreams": { "10.89.0.3": ["198.51.100.1:53"] }
            }"#,
        )
        .unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.names[0].addrs[1], "fd89::2".parse::<IpAddr>().unwrap());
        let client: IpAddr = "10.89.0.3".parse().unwrap();
        assert_eq!(c.client_upstreams[&client][0].port(), 53);
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn port_defaults_to_53_and_everything_else_to_empty() {
        let c: Config = serde_json::from_str("{}").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.port, 53);
        assert!(c.listen.is_empty() && c.names.is_empty() && c.upstreams.is_empty());
    }

    #[test]
    fn check_names_the_problem() {
        let bad = [
            (r#"{"port": 0}"#, "port 0"),
            (
                r#"{"listen": [{"network": "", "addr": "10.0.0.1"}]}"#,
                "empty network",
            ),
            (
                r#"{"listen": [{"network": "a", "addr": "10.0.0.1"}, {"network": "b", "addr": "10.0.0.1"}]}"#,
                "two networks",
            ),
            (
                r#"{"names": [{"name": "a b", "network": "n"}]}"#,
                "only letters",
            ),
            (
                r#"{"names": [{"name": "a..b", "network": "n"}]}"#,
                "empty label",
            ),
            (r#"{"names": [{"name": "", "network": "n"}]}"#, "empty"),
            (
                r#"{"names": [{"name": "web", "network": ""}]}"#,
                "empty network",
            ),
        ];
        for (json, want) in bad {
            let c: Config = serde_json::from_str(json).unwrap();
            let got = c.check().unwrap_err();
            assert!(got.contains(want), "{json}: {got}");
        }
        let ok: Config =
            serde_json::from_str(r#"{"names": [{"name": "Web_1.internal.", "network": "n"}]}"#)
                .unwrap();
        assert_eq!(ok.check(), Ok(()));
    }

    #[test]
    fn write_atomic_then_load_round_trips() {
        let dir = std::env::temp_dir().join(format!("warren-dns-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dns.json");
        let mut c = Config {
            port: 5353,
            ..Config::default()
        };
        c.listen.push(Listen {
            network: "front".into(),
            addr: "127.0.0.1".parse().unwrap(),
        });
        c.client_upstreams.insert(
            "10.89.0.3".parse().unwrap(),
            vec!["[2001:db8::1]:53".parse().unwrap()],
        );
        c.write_atomic(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), c);
        // Nothing but the config is left in the directory.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn load_errors_name_the_file() {
        let missing = Path::new("/nonexistent/warren-dns.json");
        let e = Config::load(missing).unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent/warren-dns.json"),
            "{e}"
        );
    }
}
