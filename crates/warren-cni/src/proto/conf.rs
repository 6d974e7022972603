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
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
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
            Some(v) => Some(CniResult::from_json(v).map_err(|e| CniError {
                msg: e.msg.replacen("decode result", "decode prevResult", 1),
                ..e
            })?),
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
    /// the path of the offending field, as in ``field `ipam.ranges[0]`: …``.
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: &Value) -> Result<NetConf, CniError> {
        NetConf::parse(v.to_string().as_bytes())
    }

    fn bridge() -> Value {
        json!({
            "cniVersion": "1.0.0",
            "name": "podnet",
            "type": "warren-bridge",
            "bridge": "wbr0",
            "ipam": {"type": "warren-ipam", "ranges": [[{"subnet": "10.0.0.0/24"}]]},
            "dns": {"nameservers": ["10.0.0.1"], "domain": "pods.test"}
        })
    }

    #[test]
    fn well_known_keys_are_read() {
        let c = parse(&bridge()).unwrap();
        assert_eq!(c.cni_version, "1.0.0");
        assert_eq!(c.name, "podnet");
        assert_eq!(c.plugin_type, "warren-bridge");
        assert_eq!(c.ipam.as_ref().unwrap()["type"], "warren-ipam");
        let dns = c.dns.as_ref().unwrap();
        assert_eq!(dns.nameservers, ["10.0.0.1"]);
        assert_eq!(dns.domain.as_deref(), Some("pods.test"));
        assert!(dns.search.is_empty());
        assert_eq!(c.prev_result, None);
        assert!(c.runtime_config.is_empty());
        assert_eq!(c.args, None);
        assert_eq!(c.raw, bridge());
    }

    #[test]
    fn structured_args_and_version_lists_are_kept() {
        let mut v = bridge();
        v["args"] = json!({"cni": {"ips": ["10.0.0.7"]}});
        v["cniVersions"] = json!(["0.4.0", "1.0.0"]);
        let c = parse(&v).unwrap();
        assert_eq!(c.args.unwrap()["cni"]["ips"][0], "10.0.0.7");
        assert_eq!(c.raw["cniVersions"][1], "1.0.0");
    }

    #[test]
    fn capabilities_and_unknown_keys_are_tolerated() {
        let mut v = bridge();
        v["capabilities"] = json!({"portMappings": true, "mac": false});
        v["somethingNew"] = json!([1, 2, 3]);
        v["cni.dev/other"] = json!("x");
        let c = parse(&v).unwrap();
        assert_eq!(c.raw["capabilities"]["portMappings"], true);
    }

    #[test]
    fn decode_errors_are_code_6() {
        for bad in [&b"{not json"[..], b"", b"[1]", b"\"str\"", b"null"] {
            let e = NetConf::parse(bad).unwrap_err();
            assert_eq!(e.code, code::DECODE, "{}", String::from_utf8_lossy(bad));
            assert!(e.msg.starts_with("decode network config: "), "{}", e.msg);
        }
    }

    #[test]
    fn required_keys_are_code_7_naming_them() {
        for key in ["cniVersion", "name", "type"] {
            for replace in [None, Some(json!("")), Some(json!(3))] {
                let mut v = bridge();
                match &replace {
                    None => {
                        v.as_object_mut().unwrap().remove(key);
                    }
                    Some(r) => v[key] = r.clone(),
                }
                let e = parse(&v).unwrap_err();
                assert_eq!(e.code, code::INVALID_CONFIG, "{key} {replace:?}");
                assert!(e.msg.contains(&format!("{key:?}")), "{}", e.msg);
            }
        }
    }

    #[test]
    fn unsupported_version_is_code_1() {
        for ver in ["0.2.0", "1.2.0", "9.9.9"] {
            let mut v = bridge();
            v["cniVersion"] = json!(ver);
            let e = parse(&v).unwrap_err();
            assert_eq!(e.code, code::INCOMPATIBLE_VERSION, "{ver}");
            assert!(e.msg.contains(ver), "{}", e.msg);
        }
    }

    #[test]
    fn network_names_and_types() {
        for bad in ["-net", "net/1", "a b", ".hidden"] {
            let mut v = bridge();
            v["name"] = json!(bad);
            let e = parse(&v).unwrap_err();
            assert_eq!(e.code, code::INVALID_CONFIG, "{bad}");
            assert!(e.msg.contains("network name"), "{}", e.msg);
        }
        let mut v = bridge();
        v["name"] = json!("Net_1.a-b");
        parse(&v).unwrap();
        v["type"] = json!("../bin/x");
        assert_eq!(parse(&v).unwrap_err().code, code::INVALID_CONFIG);
    }

    #[test]
    fn prev_result_of_each_version() {
        let shapes = [
            json!({"cniVersion": "0.3.0", "ips": [{"version": "4", "address": "10.0.0.5/24"}]}),
            json!({"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.0.0.5/24"}]}),
            json!({"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.0.0.5/24"}]}),
            json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.5/24"}]}),
            json!({"cniVersion": "1.1.0", "ips": [{"address": "10.0.0.5/24"}],
                   "interfaces": [{"name": "eth0", "mtu": 9000}]}),
        ];
        for prev in shapes {
            let mut v = bridge();
            v["prevResult"] = prev.clone();
            let c = parse(&v).unwrap();
            let r = c.prev_result.unwrap();
            assert_eq!(r.ips[0].address.to_string(), "10.0.0.5/24", "{prev}");
        }
        // DEL may come with an empty prevResult.
        let mut v = bridge();
        v["prevResult"] = json!({});
        assert_eq!(parse(&v).unwrap().prev_result, Some(CniResult::default()));
        v["prevResult"] = Value::Null;
        assert_eq!(parse(&v).unwrap().prev_result, None);
    }

    #[test]
    fn bad_prev_result_is_code_6_naming_it() {
        for prev in [json!("x"), json!({"ips": [{"address": "nope"}]})] {
            let mut v = bridge();
            v["prevResult"] = prev;
            let e = parse(&v).unwrap_err();
            assert_eq!(e.code, code::DECODE);
            assert!(e.msg.starts_with("decode prevResult: "), "{}", e.msg);
        }
    }

    #[test]
    fn bad_dns_and_runtime_config_are_code_7() {
        let mut v = bridge();
        v["dns"] = json!({"nameservers": [1]});
        let e = parse(&v).unwrap_err();
        assert_eq!(e.code, code::INVALID_CONFIG);
        assert!(e.msg.contains("dns.nameservers[0]"), "{}", e.msg);
        let mut v = bridge();
        v["runtimeConfig"] = json!([1]);
        let e = parse(&v).unwrap_err();
        assert_eq!(e.code, code::INVALID_CONFIG);
        assert!(e.msg.contains("runtimeConfig"), "{}", e.msg);
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct BridgeConf {
        bridge: String,
        #[serde(default)]
        is_gateway: bool,
        #[serde(default)]
        mtu: Option<u32>,
        ipam: Ipam,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Ipam {
        ranges: Vec<Vec<Range>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Range {
        subnet: String,
    }

    #[test]
    fn plugin_config_errors_name_the_field() {
        let c = parse(&bridge()).unwrap();
        let b: BridgeConf = c.plugin().unwrap();
        assert_eq!(b.bridge, "wbr0");

        let cases = [
            ("mtu", json!("big"), "field `mtu`"),
            ("isGateway", json!("yes"), "field `isGateway`"),
            (
                "ipam",
                json!({"ranges": [[{"subnet": 5}]]}),
                "field `ipam.ranges[0][0].subnet`",
            ),
        ];
        for (key, val, want) in cases {
            let mut v = bridge();
            v[key] = val;
            let e = parse(&v).unwrap().plugin::<BridgeConf>().unwrap_err();
            assert_eq!(e.code, code::INVALID_CONFIG);
            assert!(e.msg.contains(want), "{}", e.msg);
        }
        let mut v = bridge();
        v.as_object_mut().unwrap().remove("bridge");
        let e = parse(&v).unwrap().plugin::<BridgeConf>().unwrap_err();
        assert!(e.msg.contains("missing field `bridge`"), "{}", e.msg);
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct PortMapping {
        host_port: u16,
        container_port: u16,
        protocol: String,
    }

    #[test]
    fn runtime_config_by_capability() {
        let mut v = bridge();
        v["runtimeConfig"] = json!({
            "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
            "mac": "c2:11:22:33:44:55",
            "bad": [{"hostPort": 70000, "containerPort": 80, "protocol": "tcp"}]
        });
        let c = parse(&v).unwrap();
        let pm: Vec<PortMapping> = c.runtime("portMappings").unwrap().unwrap();
        assert_eq!(pm[0].host_port, 8080);
        assert_eq!(
            c.runtime::<String>("mac").unwrap().as_deref(),
            Some("c2:11:22:33:44:55")
        );
        assert_eq!(c.runtime::<String>("ips").unwrap(), None);
        let e = c.runtime::<Vec<PortMapping>>("bad").unwrap_err();
        assert_eq!(e.code, code::INVALID_CONFIG);
        assert!(e.msg.contains("runtimeConfig.bad[0].hostPort"), "{}", e.msg);
        let e = c.runtime::<u32>("mac").unwrap_err();
        assert!(e.msg.contains("field `runtimeConfig.mac`"), "{}", e.msg);
    }

    #[test]
    fn gc_attachments_in_both_spellings() {
        let list = json!([{"containerID": "c1", "ifname": "eth0"}, {"containerID": "c2", "ifname": "net1"}]);
        let want = vec![
            Attachment {
                container_id: "c1".into(),
                ifname: "eth0".into(),
            },
            Attachment {
                container_id: "c2".into(),
                ifname: "net1".into(),
            },
        ];
        for key in [GC_ATTACHMENTS, GC_ATTACHMENTS_OLD] {
            let mut v = bridge();
            v[key] = list.clone();
            assert_eq!(
                parse(&v).unwrap().gc_valid_attachments().as_ref(),
                Some(&want),
                "{key}"
            );
        }
        // The new spelling wins when both are sent.
        let mut v = bridge();
        v[GC_ATTACHMENTS] = json!([]);
        v[GC_ATTACHMENTS_OLD] = list;
        assert_eq!(parse(&v).unwrap().gc_valid_attachments(), Some(vec![]));
        assert_eq!(parse(&bridge()).unwrap().gc_valid_attachments(), None);

        let mut v = bridge();
        v[GC_ATTACHMENTS] = json!([{"containerID": "c1"}]);
        let c = parse(&v).unwrap();
        assert_eq!(c.gc_valid_attachments(), None);
        let e = c.try_gc_valid_attachments().unwrap_err();
        assert_eq!(e.code, code::INVALID_CONFIG);
        assert!(e.msg.contains(GC_ATTACHMENTS), "{}", e.msg);
    }

    #[test]
    fn dns_serializes_without_empty_parts() {
        let d = Dns {
            nameservers: vec!["1.1.1.1".into()],
            ..Dns::default()
        };
        assert_eq!(json!(d), json!({"nameservers": ["1.1.1.1"]}));
        assert!(Dns::default().is_empty());
        assert!(!d.is_empty());
    }
}
