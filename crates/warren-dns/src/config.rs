//! The server's configuration: the JSON file the engine writes (atomically) and the server reads
//! at start and on every SIGHUP.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
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
///   "client_upstreams": { "10.89.0.3": ["198.51.100.1:53"] },
///   "include": "names" }
/// ```
///
/// Every field may be left out; a config with no `listen` entries tells a running server to exit.
///
/// `include` names a directory (relative to the config file's own) of [`Fragment`] files,
/// `*.json`, each adding names and client upstreams. A writer that changes one container's names
/// rewrites only that container's fragment, and the server re-reads only the fragments that
/// changed, so neither side's work grows with the number of containers.
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
    /// A directory of [`Fragment`] files adding names and client upstreams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<PathBuf>,
}

/// One file of an `include` directory: more names and client upstreams, merged into the
/// config's own. Files are read in name order; names beginning with `.` (a writer's temporary
/// file) and names not ending in `.json` are ignored.
///
/// ```json
/// { "names": [ {"name": "web", "network": "front", "addrs": ["10.89.0.2"]} ],
///   "client_upstreams": { "10.89.0.2": ["198.51.100.1:53"] } }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragment {
    /// Names, as [`Config::names`].
    #[serde(default)]
    pub names: Vec<NameEntry>,
    /// Per-client upstreams, as [`Config::client_upstreams`].
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
            include: None,
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
        check_names(&self.names)
    }
}

fn check_names(names: &[NameEntry]) -> std::result::Result<(), String> {
    for n in names {
        if n.network.is_empty() {
            return Err(format!("name {:?} has an empty network", n.name));
        }
        if let Some(why) = invalid_dns_name(&n.name) {
            return Err(format!("name {:?} (network {}): {why}", n.name, n.network));
        }
    }
    Ok(())
}

/// What identifies one version of a fragment file: a writer replaces it by renaming a new
/// file over it, which gives it a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    len: u64,
}

/// Reads a config with its `include` directory, and keeps what it read: the head can be read
/// again alone, and fragment files one by one (those a directory watch reports), parsing again
/// only the files that changed.
#[derive(Debug)]
pub struct Loader {
    path: PathBuf,
    /// The config file as last read (its own names only).
    head: Config,
    /// The `include` directory, resolved against the config file's.
    dir: Option<PathBuf>,
    fragments: BTreeMap<OsString, (Stamp, Fragment)>,
    /// What changed since [`Loader::take_deltas`] was last called.
    deltas: Vec<Delta>,
    /// Fragment files parsed so far (for tests: unchanged files are not parsed again).
    parsed: usize,
}

/// What one fragment file (or the config file's own names) changed: the names it had and the
/// names it has now (a new file had none; a removed one has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// The names as last read.
    pub old: Vec<NameEntry>,
    /// The names as read now.
    pub new: Vec<NameEntry>,
}

impl Loader {
    /// A loader of the config at `path`; nothing is read yet.
    pub fn new(path: &Path) -> Loader {
        Loader {
            path: path.to_owned(),
            head: Config::default(),
            dir: None,
            fragments: BTreeMap::new(),
            deltas: Vec::new(),
            parsed: 0,
        }
    }

    /// Read the config file and every fragment of its `include` directory: [`Loader::read_head`]
    /// then [`Loader::rescan`]; the merged config and the fragments left out.
    pub fn load(&mut self) -> Result<(Config, Vec<Error>)> {
        self.read_head()?;
        let skipped = self.rescan()?;
        Ok((self.config(), skipped))
    }

    /// Read, parse and check the config file alone. A failure keeps what was read before.
    /// True if its `include` directory is not the one before (the fragments are then to be
    /// read again with [`Loader::rescan`]).
    pub fn read_head(&mut self) -> Result<bool> {
        let head = Config::load(&self.path)?;
        Ok(self.set_head(head))
    }

    /// Take `head` as the config file's contents (read and checked by the caller, with
    /// [`Config::load`]). True if its `include` directory is not the one before.
    pub fn set_head(&mut self, head: Config) -> bool {
        let dir = head
            .include
            .as_ref()
            .map(|d| self.path.parent().unwrap_or(Path::new(".")).join(d));
        let moved = dir != self.dir;
        if head.names != self.head.names {
            self.deltas.push(Delta {
                old: std::mem::take(&mut self.head.names),
                new: head.names.clone(),
            });
        }
        self.head = head;
        self.dir = dir;
        moved
    }

    /// The names that changed since the last call, in the order they changed: applied in that
    /// order to what the names were (the old ones removed, the new ones added), they give the
    /// names [`Loader::config`] has now, at the cost of what changed only. Changes are kept
    /// until taken: a long-lived user that never reads them (one that only calls
    /// [`Loader::load`]) should call this after each load to let them go.
    pub fn take_deltas(&mut self) -> Vec<Delta> {
        std::mem::take(&mut self.deltas)
    }

    /// The config file as last read.
    pub fn head(&self) -> &Config {
        &self.head
    }

    /// Per-client upstreams of the config file and every fragment merged (as in
    /// [`Loader::config`]; fragments in file name order, a later one winning).
    pub fn client_upstreams(&self) -> BTreeMap<IpAddr, Vec<SocketAddr>> {
        let mut all = self.head.client_upstreams.clone();
        for (_, f) in self.fragments.values() {
            for (client, ups) in &f.client_upstreams {
                all.insert(*client, ups.clone());
            }
        }
        all
    }

    /// Forget fragment `name`, recording the names it had.
    fn forget(&mut self, name: &OsString) {
        if let Some((_, f)) = self.fragments.remove(name) {
            self.deltas.push(Delta {
                old: f.names,
                new: Vec::new(),
            });
        }
    }

    /// The config file this loader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `include` directory of the config as last read.
    pub fn include_dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// List the `include` directory and read every fragment in it that changed (all of them
    /// the first time); forget those no longer there. An `include` directory that cannot be
    /// listed is an error (a missing one has no fragments). A fragment that cannot be read,
    /// parsed or checked is left out and returned with the reason, so one bad file does not
    /// hold back every other change.
    pub fn rescan(&mut self) -> Result<Vec<Error>> {
        let mut skipped = Vec::new();
        let Some(dir) = self.dir.clone() else {
            self.forget_all_but(&BTreeSet::new());
            return Ok(skipped);
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.forget_all_but(&BTreeSet::new());
                return Ok(skipped);
            }
            Err(source) => return Err(Error::ReadConfig { path: dir, source }),
        };
        let mut names = BTreeSet::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::ReadConfig {
                path: dir.clone(),
                source,
            })?;
            names.insert(entry.file_name());
        }
        self.forget_all_but(&names);
        for name in &names {
            if let Some(e) = self.read_one(&dir, name) {
                skipped.push(e);
            }
        }
        Ok(skipped)
    }

    /// Forget every fragment whose file name is not in `keep`.
    fn forget_all_but(&mut self, keep: &BTreeSet<OsString>) {
        let gone: Vec<OsString> = self
            .fragments
            .keys()
            .filter(|n| !keep.contains(*n))
            .cloned()
            .collect();
        for name in &gone {
            self.forget(name);
        }
    }

    /// Read again the fragment files `names` of the `include` directory (names a directory
    /// watch reported): a changed file is parsed, a removed one forgotten. The fragments left
    /// out, with the reason.
    pub fn update<'a>(&mut self, names: impl IntoIterator<Item = &'a OsString>) -> Vec<Error> {
        let Some(dir) = self.dir.clone() else {
            return Vec::new();
        };
        names
            .into_iter()
            .filter_map(|name| self.read_one(&dir, name))
            .collect()
    }

    /// Bring the fragment `name` of `dir` up to date; the reason if it had to be left out.
    fn read_one(&mut self, dir: &Path, name: &OsString) -> Option<Error> {
        let text = name.to_string_lossy();
        if text.starts_with('.') || !text.ends_with(".json") {
            return None;
        }
        let file = dir.join(name);
        let meta = match std::fs::metadata(&file) {
            Ok(m) if m.is_file() => m,
            // Removed, or not a file: not a fragment.
            _ => {
                self.forget(name);
                return None;
            }
        };
        let stamp = Stamp {
            ino: meta.ino(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            len: meta.len(),
        };
        if self
            .fragments
            .get(name)
            .is_some_and(|(old, _)| *old == stamp)
        {
            return None;
        }
        self.parsed += 1;
        match read_fragment(&file) {
            Ok(Some(f)) => {
                let new = f.names.clone();
                let old = self
                    .fragments
                    .insert(name.clone(), (stamp, f))
                    .map(|(_, f)| f.names)
                    .unwrap_or_default();
                if old != new {
                    self.deltas.push(Delta { old, new });
                }
                None
            }
            Ok(None) => {
                self.forget(name);
                None
            }
            Err(e) => {
                self.forget(name);
                Some(e)
            }
        }
    }

    /// The config file's contents with every fragment's names and client upstreams merged in
    /// (fragments in file name order; `include` kept as it was).
    pub fn config(&self) -> Config {
        let mut config = self.head.clone();
        for (_, f) in self.fragments.values() {
            config.names.extend(f.names.iter().cloned());
            for (client, ups) in &f.client_upstreams {
                config.client_upstreams.insert(*client, ups.clone());
            }
        }
        config
    }
}

/// One fragment file; `None` if it was removed before it could be read.
fn read_fragment(path: &Path) -> Result<Option<Fragment>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::ReadConfig {
                path: path.to_owned(),
                source,
            });
        }
    };
    let f: Fragment = serde_json::from_slice(&text).map_err(|source| Error::ParseConfig {
        path: path.to_owned(),
        source,
    })?;
    check_names(&f.names).map_err(|reason| Error::InvalidConfig {
        path: path.to_owned(),
        reason,
    })?;
    Ok(Some(f))
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

    /// A fresh directory for a config file with an `include` directory `names` in it: the
    /// directory, the `names` directory (made) and the config file's path.
    fn config_dir(tag: &str) -> (PathBuf, PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("warren-dns-{tag}-{}", std::process::id()));
        let names = dir.join("names");
        std::fs::create_dir_all(&names).unwrap();
        let path = dir.join("config.json");
        (dir, names, path)
    }

    #[test]
    fn a_loader_merges_the_fragments_and_parses_only_those_that_changed() {
        let (dir, names, path) = config_dir("inc");
        std::fs::write(
            &path,
            r#"{"listen": [{"network": "front", "addr": "127.0.0.1"}], "include": "names",
                "names": [{"name": "own", "network": "front", "addrs": ["10.0.0.9"]}]}"#,
        )
        .unwrap();
        let frag = |name: &str, addr: &str| {
            format!(
                r#"{{"names": [{{"name": "{name}", "network": "front", "addrs": ["{addr}"]}}],
                    "client_upstreams": {{"{addr}": ["192.0.2.1:53"]}}}}"#
            )
        };
        let put = |file: &str, text: &str| {
            let tmp = names.join(format!(".{file}.tmp"));
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, names.join(file)).unwrap();
        };
        let names_of =
            |c: &Config| -> Vec<String> { c.names.iter().map(|n| n.name.clone()).collect() };
        put("b.json", &frag("bee", "10.0.0.2"));
        put("a.json", &frag("ay", "10.0.0.1"));
        // Neither a writer's temporary file nor a file not ending in .json is a fragment.
        std::fs::write(names.join(".c.json.tmp.1"), "{").unwrap();
        std::fs::write(names.join("notes.txt"), "{").unwrap();

        let mut loader = Loader::new(&path);
        let (c, skipped) = loader.load().unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(names_of(&c), ["own", "ay", "bee"]);
        assert_eq!(c.client_upstreams.len(), 2);
        assert_eq!(c.include.as_deref(), Some(Path::new("names")));
        assert_eq!(loader.parsed, 2);

        // One fragment replaced, one removed, one added: only the new files are parsed.
        put("b.json", &frag("bee", "10.0.0.22"));
        std::fs::remove_file(names.join("a.json")).unwrap();
        put("c.json", &frag("sea", "10.0.0.3"));
        let (c, _) = loader.load().unwrap();
        assert_eq!(names_of(&c), ["own", "bee", "sea"]);
        assert_eq!(c.names[1].addrs, ["10.0.0.22".parse::<IpAddr>().unwrap()]);
        assert_eq!(loader.parsed, 4);
        let (_, _) = loader.load().unwrap();
        assert_eq!(loader.parsed, 4, "nothing changed, nothing parsed");

        // Updated by name (as a directory watch reports them): only the files named are read.
        put("b.json", &frag("bee", "10.0.0.23"));
        put("c.json", &frag("sea", "10.0.0.33"));
        assert!(loader.update([&OsString::from("c.json")]).is_empty());
        let c = loader.config();
        assert_eq!(
            c.names[1].addrs,
            ["10.0.0.22".parse::<IpAddr>().unwrap()],
            "b not named"
        );
        assert_eq!(c.names[2].addrs, ["10.0.0.33".parse::<IpAddr>().unwrap()]);
        std::fs::remove_file(names.join("c.json")).unwrap();
        let tmp = OsString::from(".c.json.tmp");
        assert!(loader.update([&OsString::from("c.json"), &tmp]).is_empty());
        assert_eq!(names_of(&loader.config()), ["own", "bee"]);
        assert_eq!(loader.parsed, 5);
        put("c.json", &frag("sea", "10.0.0.3"));
        let (_, _) = loader.load().unwrap();

        // A broken fragment is left out, named, and does not hold back the others.
        put(
            "d.json",
            r#"{"names": [{"name": "bad name", "network": "front"}]}"#,
        );
        put("e.json", "{");
        let (c, skipped) = loader.load().unwrap();
        assert_eq!(names_of(&c), ["own", "bee", "sea"]);
        let why: Vec<String> = skipped.iter().map(ToString::to_string).collect();
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(
            why[0].contains("d.json") || why[1].contains("d.json"),
            "{why:?}"
        );
        assert!(
            why[0].contains("e.json") || why[1].contains("e.json"),
            "{why:?}"
        );

        // Without the directory there are no fragments.
        std::fs::remove_dir_all(&names).unwrap();
        let (c, skipped) = loader.load().unwrap();
        assert!(skipped.is_empty());
        assert_eq!(names_of(&c), ["own"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_loader_says_what_each_change_added_and_removed() {
        let (dir, names, path) = config_dir("delta");
        let head = |own: &str| {
            format!(
                r#"{{"listen": [{{"network": "n", "addr": "127.0.0.1"}}], "include": "names",
                    "names": [{{"name": "{own}", "network": "n"}}]}}"#
            )
        };
        let entry = |name: &str| NameEntry {
            name: name.into(),
            network: "n".into(),
            addrs: vec![],
        };
        let put = |file: &str, name: &str| {
            let text = format!(r#"{{"names": [{{"name": "{name}", "network": "n"}}]}}"#);
            let tmp = names.join(format!(".{file}.tmp"));
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, names.join(file)).unwrap();
        };
        let delta = |old: &[&str], new: &[&str]| Delta {
            old: old.iter().map(|n| entry(n)).collect(),
            new: new.iter().map(|n| entry(n)).collect(),
        };
        std::fs::write(&path, head("own")).unwrap();
        put("a.json", "ay");
        let mut loader = Loader::new(&path);
        loader.load().unwrap();
        assert_eq!(
            loader.take_deltas(),
            [delta(&[], &["own"]), delta(&[], &["ay"])]
        );
        assert!(loader.take_deltas().is_empty(), "taken once");

        put("a.json", "ay2");
        put("b.json", "bee");
        let (a, b) = (OsString::from("a.json"), OsString::from("b.json"));
        loader.update([&a, &b]);
        assert_eq!(
            loader.take_deltas(),
            [delta(&["ay"], &["ay2"]), delta(&[], &["bee"])]
        );
        // The same file again, unchanged: nothing.
        loader.update([&a]);
        assert!(loader.take_deltas().is_empty());

        std::fs::remove_file(names.join("a.json")).unwrap();
        std::fs::write(&path, head("own2")).unwrap();
        loader.read_head().unwrap();
        loader.rescan().unwrap();
        assert_eq!(
            loader.take_deltas(),
            [delta(&["own"], &["own2"]), delta(&["ay2"], &[])]
        );
        // A fragment that breaks takes its names away until it is fixed.
        std::fs::write(names.join("b.json"), "{").unwrap();
        assert_eq!(loader.update([&b]).len(), 1);
        assert_eq!(loader.take_deltas(), [delta(&["bee"], &[])]);
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
