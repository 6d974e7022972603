//! The runtime side of CNI: run a network configuration list's plugins the way libcni does
//! (ADD in order with each plugin's result as the next one's `prevResult`, the final result
//! cached; DEL in reverse order with the cached result; CHECK in order; GC and STATUS to
//! every plugin). `warren-cni exec` is this over the command line (like `cnitool`); the
//! tests and the benchmark drive warren's and the reference plugins through it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use serde_json::{Map, Value, json};

use crate::proto::{CniError, Command, code};

/// A network configuration list (a "conflist").
#[derive(Debug, Clone)]
pub struct ConfList {
    /// `name`.
    pub name: String,
    /// `cniVersion`.
    pub cni_version: String,
    /// `plugins`, each an object with at least `type`.
    pub plugins: Vec<Map<String, Value>>,
}

impl ConfList {
    /// Parse a conflist.
    pub fn parse(bytes: &[u8]) -> Result<ConfList, CniError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            CniError::new(
                code::DECODE,
                format!("decode network configuration list: {e}"),
            )
        })?;
        let field = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    CniError::new(
                        code::INVALID_CONFIG,
                        format!("conflist: missing string {k}"),
                    )
                })
        };
        let plugins = v
            .get("plugins")
            .and_then(Value::as_array)
            .ok_or_else(|| CniError::new(code::INVALID_CONFIG, "conflist: missing plugins"))?
            .iter()
            .map(|p| {
                p.as_object().cloned().ok_or_else(|| {
                    CniError::new(code::INVALID_CONFIG, "conflist: a plugin is not an object")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ConfList {
            name: field("name")?,
            cni_version: field("cniVersion")?,
            plugins,
        })
    }
}

/// One attachment: a container's interface in a namespace.
#[derive(Debug, Clone, Default)]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS` (may be absent for DEL).
    pub netns: Option<PathBuf>,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS`.
    pub args: Option<String>,
    /// Capability values offered (`portMappings`, `ips`, `mac`, `bandwidth`, …); a plugin
    /// gets the ones it declares in `capabilities`.
    pub capabilities: Map<String, Value>,
}

/// A plugin's failure, with the plugin named.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{plugin} {command}: {error}")]
pub struct ExecError {
    /// The plugin's type.
    pub plugin: String,
    /// The command.
    pub command: &'static str,
    /// Its error object (or an I/O failure running it).
    pub error: CniError,
}

/// Where plugins are found and results cached.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// `CNI_PATH`.
    pub path: Vec<PathBuf>,
    /// Final ADD results are kept here (libcni's `/var/lib/cni/results`).
    pub cache_dir: PathBuf,
}

impl Runtime {
    fn find(&self, kind: &str) -> Option<PathBuf> {
        self.path.iter().map(|d| d.join(kind)).find(|p| p.is_file())
    }

    fn cache_file(&self, list: &ConfList, a: &Attachment) -> PathBuf {
        self.cache_dir
            .join(format!("{}-{}-{}", list.name, a.container_id, a.ifname))
    }

    /// Run one plugin: `stdin` in, the parsed stdout out (`Null` when it printed nothing).
    pub fn exec(
        &self,
        kind: &str,
        command: Command,
        a: Option<&Attachment>,
        stdin: &Value,
    ) -> Result<Value, ExecError> {
        let fail = |error: CniError| ExecError {
            plugin: kind.to_owned(),
            command: command.as_str(),
            error,
        };
        let bin = self.find(kind).ok_or_else(|| {
            fail(CniError::new(
                code::INVALID_CONFIG,
                format!("plugin {kind} not found in CNI_PATH"),
            ))
        })?;
        let paths = std::env::join_paths(&self.path)
            .map_err(|e| fail(CniError::new(code::INVALID_ENV, e.to_string())))?;
        let mut p = Process::new(&bin);
        p.env("CNI_COMMAND", command.as_str())
            .env("CNI_PATH", paths)
            .env_remove("CNI_CONTAINERID")
            .env_remove("CNI_NETNS")
            .env_remove("CNI_IFNAME")
            .env_remove("CNI_ARGS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(a) = a {
            p.env("CNI_CONTAINERID", &a.container_id)
                .env("CNI_IFNAME", &a.ifname);
            if let Some(ns) = &a.netns {
                p.env("CNI_NETNS", ns);
            }
            if let Some(args) = &a.args {
                p.env("CNI_ARGS", args);
            }
        }
        let mut child = p.spawn().map_err(|e| {
            fail(CniError::new(
                code::IO,
                format!("run {}: {e}", bin.display()),
            ))
        })?;
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.to_string().as_bytes());
        }
        let out = child.wait_with_output().map_err(|e| {
            fail(CniError::new(
                code::IO,
                format!("run {}: {e}", bin.display()),
            ))
        })?;
        let v: Value = if out.stdout.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&out.stdout).map_err(|e| {
                fail(CniError::new(
                    code::DECODE,
                    format!(
                        "bad output ({e}): {}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ),
                ))
            })?
        };
        if !out.status.success() {
            let code = v.get("code").and_then(Value::as_u64).unwrap_or(999) as u32;
            let msg = v
                .get("msg")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned());
            let details = v.get("details").and_then(Value::as_str).unwrap_or("");
            return Err(fail(CniError::new(code, msg).details(details)));
        }
        Ok(v)
    }

    /// The request a plugin of `list` gets.
    fn request(
        list: &ConfList,
        plugin: &Map<String, Value>,
        a: Option<&Attachment>,
        prev: Option<&Value>,
    ) -> Value {
        let mut req = plugin.clone();
        req.insert("cniVersion".into(), json!(list.cni_version));
        req.insert("name".into(), json!(list.name));
        if let Some(a) = a {
            let caps = plugin.get("capabilities").and_then(Value::as_object);
            let rc: Map<String, Value> = a
                .capabilities
                .iter()
                .filter(|(k, _)| {
                    caps.and_then(|c| c.get(*k))
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !rc.is_empty() {
                req.insert("runtimeConfig".into(), Value::Object(rc));
            }
        }
        if let Some(p) = prev {
            req.insert("prevResult".into(), p.clone());
        }
        Value::Object(req)
    }

    /// ADD: every plugin in order; the final result is cached and returned.
    pub fn add(&self, list: &ConfList, a: &Attachment) -> Result<Value, ExecError> {
        let mut prev: Option<Value> = None;
        for p in &list.plugins {
            let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
            let req = Self::request(list, p, Some(a), prev.as_ref());
            prev = Some(self.exec(kind, Command::Add, Some(a), &req)?);
        }
        let result = prev.unwrap_or(Value::Null);
        let _ = std::fs::create_dir_all(&self.cache_dir);
        let _ = std::fs::write(self.cache_file(list, a), result.to_string());
        Ok(result)
    }

    /// The cached result of an attachment's ADD.
    pub fn cached(&self, list: &ConfList, a: &Attachment) -> Option<Value> {
        let bytes = std::fs::read(self.cache_file(list, a)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// DEL: every plugin in reverse order with the cached result; stops at the first error
    /// (as libcni does); the cache entry goes when all succeeded.
    pub fn del(&self, list: &ConfList, a: &Attachment) -> Result<(), ExecError> {
        let prev = self.cached(list, a);
        for p in list.plugins.iter().rev() {
            let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
            let req = Self::request(list, p, Some(a), prev.as_ref());
            self.exec(kind, Command::Del, Some(a), &req)?;
        }
        let _ = std::fs::remove_file(self.cache_file(list, a));
        Ok(())
    }

    /// CHECK: every plugin in order with the cached result.
    pub fn check(&self, list: &ConfList, a: &Attachment) -> Result<(), ExecError> {
        let prev = self.cached(list, a);
        for p in &list.plugins {
            let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
            let req = Self::request(list, p, Some(a), prev.as_ref());
            self.exec(kind, Command::Check, Some(a), &req)?;
        }
        Ok(())
    }

    /// GC: every plugin, keeping the attachments `valid` (container id, interface); goes on
    /// past errors and returns them all.
    pub fn gc(&self, list: &ConfList, valid: &[(String, String)]) -> Vec<ExecError> {
        let va: Vec<Value> = valid
            .iter()
            .map(|(c, i)| json!({"containerID": c, "ifname": i}))
            .collect();
        let mut errors = Vec::new();
        for p in &list.plugins {
            let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
            let mut req = Self::request(list, p, None, None);
            req["cni.dev/valid-attachments"] = Value::Array(va.clone());
            req["cni.dev/attachments"] = Value::Array(va.clone());
            if let Err(e) = self.exec(kind, Command::Gc, None, &req) {
                errors.push(e);
            }
        }
        errors
    }

    /// STATUS: every plugin; the first that is not ready answers.
    pub fn status(&self, list: &ConfList) -> Result<(), ExecError> {
        for p in &list.plugins {
            let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
            let req = Self::request(list, p, None, None);
            self.exec(kind, Command::Status, None, &req)?;
        }
        Ok(())
    }
}

/// `warren-cni exec COMMAND CONFLIST [CONTAINERID NETNS IFNAME] [--cap NAME=JSON]...
/// [--args CNI_ARGS] [--valid CID/IFNAME]...`: run a conflist's plugins like a runtime
/// (plugins from `$CNI_PATH`, default `/opt/cni/bin`; results cached under
/// `$WARREN_CNI_CACHE`, default `/var/lib/warren/cni-results`). Prints ADD's result.
pub fn cli(args: &[String]) -> Result<Option<Value>, String> {
    let mut pos = Vec::new();
    let mut a = Attachment::default();
    let mut valid = Vec::new();
    let mut it = args.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "--cap" => {
                let v = it.next().ok_or("--cap needs NAME=JSON")?;
                let (k, j) = v.split_once('=').ok_or("--cap needs NAME=JSON")?;
                let j: Value = serde_json::from_str(j).map_err(|e| format!("--cap {k}: {e}"))?;
                a.capabilities.insert(k.to_owned(), j);
            }
            "--args" => a.args = Some(it.next().ok_or("--args needs a value")?.clone()),
            "--valid" => {
                let v = it.next().ok_or("--valid needs CID/IFNAME")?;
                let (c, i) = v.split_once('/').ok_or("--valid needs CID/IFNAME")?;
                valid.push((c.to_owned(), i.to_owned()));
            }
            _ => pos.push(w.clone()),
        }
    }
    let (cmd, file) = match pos.as_slice() {
        [c, f, ..] => (c.parse::<Command>().map_err(|e| e.to_string())?, f),
        _ => return Err("usage: warren-cni exec COMMAND CONFLIST [CID NETNS IFNAME]".into()),
    };
    let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let list = ConfList::parse(&bytes).map_err(|e| format!("{file}: {e}"))?;
    let rt = Runtime {
        path: std::env::var_os("CNI_PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_else(|| vec![PathBuf::from(crate::install::DEFAULT_DIR)]),
        cache_dir: std::env::var_os("WARREN_CNI_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new("/var/lib/warren/cni-results").to_owned()),
    };
    let need_att = matches!(cmd, Command::Add | Command::Del | Command::Check);
    if need_att {
        match &pos[2..] {
            [cid, ns, ifname] => {
                a.container_id = cid.clone();
                a.netns = (!ns.is_empty()).then(|| PathBuf::from(ns));
                a.ifname = ifname.clone();
            }
            _ => return Err(format!("{cmd} needs CONTAINERID NETNS IFNAME")),
        }
    }
    let e = |e: ExecError| e.to_string();
    match cmd {
        Command::Add => rt.add(&list, &a).map(Some).map_err(e),
        Command::Del => rt.del(&list, &a).map(|()| None).map_err(e),
        Command::Check => rt.check(&list, &a).map(|()| None).map_err(e),
        Command::Status => rt.status(&list).map(|()| None).map_err(e),
        Command::Gc => {
            let errs = rt.gc(&list, &valid);
            if errs.is_empty() {
                Ok(None)
            } else {
                Err(errs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "))
            }
        }
        Command::Version => Err("VERSION is asked of a plugin, not a conflist".into()),
    }
}
