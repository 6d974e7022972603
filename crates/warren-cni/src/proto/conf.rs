//! The network configuration a plugin reads on stdin: the plugin object of the runtime's
//! configuration list, with `cniVersion`, `name` and the runtime's own keys added.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::env::is_valid_id;
use super::error::{CniError, code};
use super::result::CniResult;
use super::version::check_version;

/// The key under which a GC request lists the attachments to keep (1.1.0 as released says
/// [`GC_ATTACHMENTS_OLD`]; libcni sends both).
pub const GC_ATTACHMENTS: &str = "cni.dev/valid-attachments";
/// The older spelling of [`GC_ATTACHMENTS`].
pub const GC_ATTACHMENTS_OLD: &str = "cni.dev/attachments";

/// A parsed request: the well-known keys, and the whole object for the plugin's own keys.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    /// `cniVersion`: the version the runtime speaks (one of the supported ones).
    pub cni_version: String,
    /// `name`: the network's name.
    pub name: String,
    /// `type`: the plugin's binary name.
    pub plugin_type: String,
    /// `ipam`: the IPAM plugin's configuration, when there is one.
    pub ipam: Option<Value>,
    /// `dns`: the DNS settings of the configuration.
    pub dns: Option<Dns>,
    /// `prevResult`: the result of the previous plugin of the chain (of any supported version).
    pub prev_result: Option<CniResult>,
    /// `runtimeConfig`: capability name to value; empty when absent.
    pub runtime_config: Map<String, Value>,
    /// `args`: the structured arguments, when given.
    pub args: Option<Value>,
    /// The whole request object.
    pub raw: Value,
}

/// One attachment of a GC request: a container and one of its interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attachment {
    /// The container id.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// The interface name.
    pub ifname: String,
}

/// DNS settings, as in a configuration and in a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Dns {
    /// Name servers, in order of preference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// The local domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_none()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::new(code::INVALID_CONFIG, msg)
}

/// `serde_path_to_error` error → "field `a.b[0]`: message" (no path at the root).
fn with_path(e: &serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> String {
    let path = e.path().to_string();
    let full = match (prefix.is_empty(), path == ".") {
        (true, true) => String::new(),
        (true, false) => path,
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{path}"),
    };
    if full.is_empty() {
        e.inner().to_string()
    } else {
        format!("field `{full}`: {}", e.inner())
    }
}

fn string_key<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, CniError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(invalid(format!(
            "network config is missing required key {key:?}"
        ))),
        Some(Value::String(s)) if s.is_empty() => {
            Err(invalid(format!("network config key {key:?} is empty")))
        }
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(invalid(format!(
            "network config key {key:?} must be a string, not {other}"
        ))),
    }
}

impl NetConf {
    /// Parses a request. Bad JSON, or JSON that is not an object, is code 6; a missing or
    /// empty `cniVersion`, `name` or `type` is code 7 naming the key; an unsupported
    /// `cniVersion` is code 1; a `prevResult` that is not a result is code 6 naming it.
    /// `capabilities` and unknown keys are tolerated.
    pub fn parse(bytes: &[u8]) -> Result<NetConf, CniError> {
        let raw: Value = serde_json::from_slice(bytes)
            .map_err(|e| CniError::new(code::DECODE, format!("decode network config: {e}")))?;
        let Value::Object(obj) = &raw else {
            return Err(CniError::new(
                code::DECODE,
                format!("decode network config: expected a JSON object, found {raw}"),
            ));
        };
        let cni_version = string_key(obj, "cniVersion")?.to_owned();
        check_version(&cni_version)?;
        let name = string_key(obj, "name")?.to_owned();
        if !is_valid_id(&name) {
            return Err(invalid(format!(
                "invalid network name {name:?}: must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$"
            )));
        }
        let plugin_type = string_key(obj, "type")?.to_owned();
        if plugin_type.contains('/') {
            return Err(invalid(format!(
                "invalid plugin type {plugin_type:?}: may not contain '/'"
            )));
        }
        let present = |k: &str| obj.get(k).filter(|v| !v.is_null()).cloned();
        let dns = match present("dns") {
            None => None,
            Some(v) => Some(
                serde_path_to_error::deserialize(v)
                    .map_err(|e| invalid(format!("invalid {}", with_path(&e, "dns"))))?,
            ),
        };
        let prev_result = match obj.get("prevResult").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(
                CniResult::from_json(v)
                    .map_err(|e| CniError::new(code::DECODE, format!("decode prevResult: {e}")))?,
            ),
        };
        let runtime_config = match present("runtimeConfig") {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(invalid(format!(
                    "field `runtimeConfig` must be an object, not {other}"
                )));
            }
        };
        Ok(NetConf {
            cni_version,
            name,
            plugin_type,
            ipam: present("ipam"),
            dns,
            prev_result,
            runtime_config,
            args: present("args"),
            raw,
        })
    }

    /// The request read as a plugin's own configuration type. An error has code 7 and names
    /// the path of the offending field (`field \`ipam.ranges[0]\`: …`).
    pub fn plugin<T: DeserializeOwned>(&self) -> Result<T, CniError> {
        serde_path_to_error::deserialize(&self.raw)
            .map_err(|e| invalid(format!("invalid network config: {}", with_path(&e, ""))))
    }

    /// `runtimeConfig[capability]`, read as `T`; `None` when the runtime did not send it. An
    /// error has code 7 and names `runtimeConfig.<capability>`.
    pub fn runtime<T: DeserializeOwned>(&self, capability: &str) -> Result<Option<T>, CniError> {
        match self.runtime_config.get(capability) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_path_to_error::deserialize(v).map(Some).map_err(|e| {
                invalid(format!(
                    "invalid {}",
                    with_path(&e, &format!("runtimeConfig.{capability}"))
                ))
            }),
        }
    }

    /// The attachments a GC request says are still valid: [`GC_ATTACHMENTS`], else
    /// [`GC_ATTACHMENTS_OLD`]; `None` when neither is present or well formed (so a plugin
    /// that gets `None` must release nothing).
    pub fn gc_valid_attachments(&self) -> Option<Vec<Attachment>> {
        self.try_gc_valid_attachments().ok().flatten()
    }

    /// Like [`NetConf::gc_valid_attachments`], but a malformed list is an error (code 7)
    /// naming the key.
    pub fn try_gc_valid_attachments(&self) -> Result<Option<Vec<Attachment>>, CniError> {
        for key in [GC_ATTACHMENTS, GC_ATTACHMENTS_OLD] {
            if let Some(v) = self.raw.get(key).filter(|v| !v.is_null()) {
                return serde_path_to_error::deserialize(v)
                    .map(Some)
                    .map_err(|e| invalid(format!("invalid {}", with_path(&e, key))));
            }
        }
        Ok(None)
    }
}
