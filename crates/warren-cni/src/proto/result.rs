//! The result of ADD (and the `prevResult` of chained plugins), in every supported version's
//! shape.
//!
//! One in-memory form, [`CniResult`], reads both shapes: 0.3.x/0.4.0, where every IP carries
//! `"version": "4"` or `"6"`, and 1.x, where it does not. It writes the shape of the version
//! asked for: the 1.1.0 fields (interface `mtu`, `socketPath`, `pciID`; route `mtu`,
//! `advmss`, `priority`, `table`, `scope`) only for 1.1.0 and later. Empty lists and an empty
//! `dns` are left out, as the reference plugins do.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use warren_kernel::addr::IpNet;

use super::conf::Dns;
use super::error::{CniError, code};
use super::version::at_least;

/// A result: the interfaces, addresses, routes and DNS settings a plugin set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniResult {
    /// The interfaces, host side ones included.
    pub interfaces: Vec<Interface>,
    /// The addresses.
    pub ips: Vec<IpConfig>,
    /// The routes.
    pub routes: Vec<Route>,
    /// The DNS settings.
    pub dns: Dns,
}

/// One interface of a result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// The name (in its namespace).
    pub name: String,
    /// The hardware address.
    pub mac: Option<String>,
    /// The MTU (1.1.0).
    pub mtu: Option<u32>,
    /// The namespace path for a container-side interface; `None` on the host.
    pub sandbox: Option<String>,
    /// The path of a vhost-user or similar socket (1.1.0).
    pub socket_path: Option<String>,
    /// The PCI id of the device (1.1.0).
    pub pci_id: Option<String>,
}

/// One address of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    /// The address with its prefix length, host bits kept: `10.0.0.5/24`.
    pub address: IpNet,
    /// The default gateway of this address's subnet, if there is one.
    pub gateway: Option<IpAddr>,
    /// The index of its interface in [`CniResult::interfaces`].
    pub interface: Option<usize>,
}

/// One route of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination: `0.0.0.0/0`, `::/0`, `10.1.0.0/16`.
    pub dst: IpNet,
    /// The next hop; `None` means the gateway of the interface's address.
    pub gw: Option<IpAddr>,
    /// The route MTU (1.1.0).
    pub mtu: Option<u32>,
    /// The advertised MSS (1.1.0).
    pub advmss: Option<u32>,
    /// The route priority/metric (1.1.0).
    pub priority: Option<u32>,
    /// The routing table (1.1.0).
    pub table: Option<u32>,
    /// The route scope (1.1.0).
    pub scope: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResult {
    #[serde(default)]
    interfaces: Option<Vec<WireInterface>>,
    #[serde(default)]
    ips: Option<Vec<WireIp>>,
    #[serde(default)]
    routes: Option<Vec<WireRoute>>,
    #[serde(default)]
    dns: Option<Dns>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireInterface {
    name: String,
    mac: Option<String>,
    mtu: Option<u32>,
    sandbox: Option<String>,
    socket_path: Option<String>,
    #[serde(rename = "pciID")]
    pci_id: Option<String>,
}

#[derive(Deserialize)]
struct WireIp {
    version: Option<String>,
    address: String,
    gateway: Option<IpAddr>,
    interface: Option<usize>,
}

#[derive(Deserialize)]
struct WireRoute {
    dst: String,
    gw: Option<IpAddr>,
    mtu: Option<u32>,
    advmss: Option<u32>,
    priority: Option<u32>,
    table: Option<u32>,
    scope: Option<u32>,
}

fn decode_err(what: impl std::fmt::Display) -> CniError {
    CniError::new(code::DECODE, format!("decode result: {what}"))
}

/// Parses `ADDR/PLEN` (the prefix is required), naming `field` when it is not one.
fn cidr(field: &str, s: &str) -> Result<IpNet, CniError> {
    if !s.contains('/') {
        return Err(decode_err(format!(
            "{field}: {s:?} is not an address with a prefix length"
        )));
    }
    s.parse()
        .map_err(|e| decode_err(format!("{field}: {s:?}: {e}")))
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl CniResult {
    /// Reads a result of any supported version (the `version` of 0.3.x/0.4.0 addresses is
    /// checked against the address, then dropped). Errors have code 6 and name the field.
    pub fn from_json(v: &Value) -> Result<CniResult, CniError> {
        if !v.is_object() {
            return Err(decode_err(format!("expected a JSON object, found {v}")));
        }
        let w: WireResult = serde_path_to_error::deserialize(v)
            .map_err(|e| decode_err(format!("{}: {}", e.path(), e.inner())))?;
        let interfaces = w
            .interfaces
            .unwrap_or_default()
            .into_iter()
            .map(|i| Interface {
                name: i.name,
                mac: non_empty(i.mac),
                mtu: i.mtu.filter(|m| *m != 0),
                sandbox: non_empty(i.sandbox),
                socket_path: non_empty(i.socket_path),
                pci_id: non_empty(i.pci_id),
            })
            .collect();
        let mut ips = Vec::new();
        for (n, ip) in w.ips.unwrap_or_default().into_iter().enumerate() {
            let address = cidr(&format!("ips[{n}].address"), &ip.address)?;
            let family = if address.addr.is_ipv4() { "4" } else { "6" };
            if let Some(v) = ip.version.as_deref().filter(|v| *v != family) {
                return Err(decode_err(format!(
                    "ips[{n}].version: {v:?} does not match address {address}"
                )));
            }
            ips.push(IpConfig {
                address,
                gateway: ip.gateway,
                interface: ip.interface,
            });
        }
        let mut routes = Vec::new();
        for (n, r) in w.routes.unwrap_or_default().into_iter().enumerate() {
            routes.push(Route {
                dst: cidr(&format!("routes[{n}].dst"), &r.dst)?,
                gw: r.gw,
                mtu: r.mtu,
                advmss: r.advmss,
                priority: r.priority,
                table: r.table,
                scope: r.scope,
            });
        }
        Ok(CniResult {
            interfaces,
            ips,
            routes,
            dns: w.dns.unwrap_or_default(),
        })
    }

    /// The result in the shape of `cni_version`, with `cniVersion` at the top.
    pub fn to_json(&self, cni_version: &str) -> Value {
        let v1 = at_least(cni_version, "1.0.0");
        let v11 = at_least(cni_version, "1.1.0");
        let mut m = Map::new();
        m.insert("cniVersion".into(), json!(cni_version));
        if !self.interfaces.is_empty() {
            let list = self.interfaces.iter().map(|i| i.to_json(v11)).collect();
            m.insert("interfaces".into(), Value::Array(list));
        }
        if !self.ips.is_empty() {
            let list = self.ips.iter().map(|i| i.to_json(!v1)).collect();
            m.insert("ips".into(), Value::Array(list));
        }
        if !self.routes.is_empty() {
            let list = self.routes.iter().map(|r| r.to_json(v11)).collect();
            m.insert("routes".into(), Value::Array(list));
        }
        if !self.dns.is_empty() {
            m.insert("dns".into(), json!(self.dns));
        }
        Value::Object(m)
    }
}

fn put<T: serde::Serialize>(m: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(k.into(), json!(v));
    }
}

impl Interface {
    fn to_json(&self, v11: bool) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        put(&mut m, "mac", self.mac.as_ref());
        if v11 {
            put(&mut m, "mtu", self.mtu);
        }
        put(&mut m, "sandbox", self.sandbox.as_ref());
        if v11 {
            put(&mut m, "socketPath", self.socket_path.as_ref());
            put(&mut m, "pciID", self.pci_id.as_ref());
        }
        Value::Object(m)
    }
}

impl IpConfig {
    fn to_json(&self, with_version: bool) -> Value {
        let mut m = Map::new();
        if with_version {
            let family = if self.address.addr.is_ipv4() {
                "4"
            } else {
                "6"
            };
            m.insert("version".into(), json!(family));
        }
        m.insert("address".into(), json!(self.address.to_string()));
        put(&mut m, "gateway", self.gateway);
        put(&mut m, "interface", self.interface);
        Value::Object(m)
    }
}

impl IpConfig {
    /// An address with neither gateway nor interface.
    pub fn new(address: IpNet) -> IpConfig {
        IpConfig {
            address,
            gateway: None,
            interface: None,
        }
    }
}

impl Interface {
    /// An interface with only a name (a host-side one, without sandbox).
    pub fn named(name: impl Into<String>) -> Interface {
        Interface {
            name: name.into(),
            ..Interface::default()
        }
    }
}

impl Route {
    /// A route to `dst` with no other attribute.
    pub fn to(dst: IpNet) -> Route {
        Route {
            dst,
            gw: None,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        }
    }

    fn to_json(&self, v11: bool) -> Value {
        let mut m = Map::new();
        m.insert("dst".into(), json!(self.dst.to_string()));
        put(&mut m, "gw", self.gw);
        if v11 {
            put(&mut m, "mtu", self.mtu);
            put(&mut m, "advmss", self.advmss);
            put(&mut m, "priority", self.priority);
            put(&mut m, "table", self.table);
            put(&mut m, "scope", self.scope);
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bridge-shaped result as each version writes it.
    fn v031() -> Value {
        json!({
            "cniVersion": "0.3.1",
            "interfaces": [
                {"name": "cni0", "mac": "aa:bb:cc:00:00:01"},
                {"name": "veth1234", "mac": "aa:bb:cc:00:00:02"},
                {"name": "eth0", "mac": "aa:bb:cc:00:00:03", "sandbox": "/run/netns/x"}
            ],
            "ips": [
                {"version": "4", "address": "10.0.0.5/24", "gateway": "10.0.0.1", "interface": 2},
                {"version": "6", "address": "fd00::5/64", "gateway": "fd00::1", "interface": 2}
            ],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}, {"dst": "::/0"}],
            "dns": {"nameservers": ["10.0.0.1"], "search": ["example.test"]}
        })
    }

    fn v100() -> Value {
        let mut v = v031();
        v["cniVersion"] = json!("1.0.0");
        for ip in v["ips"].as_array_mut().unwrap() {
            ip.as_object_mut().unwrap().remove("version");
        }
        v
    }

    fn v110() -> Value {
        json!({
            "cniVersion": "1.1.0",
            "interfaces": [
                {"name": "cni0", "mac": "aa:bb:cc:00:00:01", "mtu": 1500},
                {"name": "veth1234", "mac": "aa:bb:cc:00:00:02", "mtu": 1500},
                {"name": "eth0", "mac": "aa:bb:cc:00:00:03", "mtu": 1500, "sandbox": "/run/netns/x",
                 "socketPath": "/run/vhost.sock", "pciID": "0000:00:1f.6"}
            ],
            "ips": [
                {"address": "10.0.0.5/24", "gateway": "10.0.0.1", "interface": 2},
                {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 2}
            ],
            "routes": [
                {"dst": "0.0.0.0/0", "gw": "10.0.0.1", "mtu": 1400, "advmss": 1360,
                 "priority": 100, "table": 200, "scope": 0},
                {"dst": "::/0"}
            ],
            "dns": {"nameservers": ["10.0.0.1"], "search": ["example.test"]}
        })
    }

    #[test]
    fn host_bits_are_kept() {
        let r = CniResult::from_json(&v031()).unwrap();
        assert_eq!(r.ips[0].address.addr, "10.0.0.5".parse::<IpAddr>().unwrap());
        assert_eq!(r.ips[0].address.prefix, 24);
        assert_eq!(r.ips[0].gateway, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(r.ips[0].interface, Some(2));
        assert_eq!(r.routes[0].dst.prefix, 0);
        assert_eq!(r.routes[1].dst.to_string(), "::/0");
        assert_eq!(r.interfaces[2].sandbox.as_deref(), Some("/run/netns/x"));
        assert_eq!(r.interfaces[0].sandbox, None);
    }

    #[test]
    fn each_version_round_trips_exactly() {
        for (v, input) in [("0.3.1", v031()), ("1.0.0", v100()), ("1.1.0", v110())] {
            let r = CniResult::from_json(&input).unwrap();
            assert_eq!(r.to_json(v), input, "{v}");
        }
    }

    #[test]
    fn versions_convert_into_each_other() {
        let old = CniResult::from_json(&v031()).unwrap();
        assert_eq!(old.to_json("1.0.0"), v100());
        assert_eq!(
            CniResult::from_json(&v100()).unwrap().to_json("0.3.1"),
            v031()
        );
        let mut v030 = v031();
        v030["cniVersion"] = json!("0.3.0");
        assert_eq!(old.to_json("0.3.0"), v030);
        let mut v040 = v031();
        v040["cniVersion"] = json!("0.4.0");
        assert_eq!(old.to_json("0.4.0"), v040);

        // Going down from 1.1.0 drops the 1.1.0 fields and adds `version` to addresses.
        let new = CniResult::from_json(&v110()).unwrap();
        assert_eq!(new.interfaces[2].pci_id.as_deref(), Some("0000:00:1f.6"));
        assert_eq!(new.routes[0].table, Some(200));
        assert_eq!(new.to_json("1.0.0"), v100());
        assert_eq!(new.to_json("0.3.1"), v031());
        // Going up from 0.3.1 leaves them absent.
        let mut up = v100();
        up["cniVersion"] = json!("1.1.0");
        assert_eq!(old.to_json("1.1.0"), up);
    }

    #[test]
    fn empty_parts_are_left_out() {
        let r = CniResult::from_json(&json!({"cniVersion": "1.0.0"})).unwrap();
        assert_eq!(r, CniResult::default());
        assert_eq!(r.to_json("1.1.0"), json!({"cniVersion": "1.1.0"}));
        let r = CniResult::from_json(&json!({
            "ips": [], "interfaces": null, "dns": {},
            "routes": [{"dst": "10.1.0.0/16"}]
        }))
        .unwrap();
        assert_eq!(
            r.to_json("1.0.0"),
            json!({"cniVersion": "1.0.0", "routes": [{"dst": "10.1.0.0/16"}]})
        );
    }

    #[test]
    fn ipam_results_have_no_interfaces() {
        let v = json!({
            "cniVersion": "0.4.0",
            "ips": [{"version": "4", "address": "10.0.0.5/24", "gateway": "10.0.0.1"}],
            "routes": [{"dst": "0.0.0.0/0"}]
        });
        let r = CniResult::from_json(&v).unwrap();
        assert_eq!(r.ips[0].interface, None);
        assert_eq!(r.to_json("0.4.0"), v);
    }

    #[test]
    fn bad_results_are_code_6_naming_the_field() {
        let cases = [
            (json!({"ips": [{"address": "10.0.0.5"}]}), "ips[0].address"),
            (
                json!({"ips": [{"address": "10.0.0.5/33"}]}),
                "ips[0].address",
            ),
            (json!({"ips": [{"address": "bogus/24"}]}), "ips[0].address"),
            (
                json!({"ips": [{"version": "6", "address": "10.0.0.5/24"}]}),
                "ips[0].version",
            ),
            (
                json!({"ips": [{"address": "10.0.0.5/24", "gateway": "x"}]}),
                "ips[0].gateway",
            ),
            (json!({"routes": [{"gw": "10.0.0.1"}]}), "routes[0]"),
            (json!({"routes": [{}, {"dst": "0.0.0.0"}]}), "routes[0]"),
            (
                json!({"routes": [{"dst": "::/0"}, {"dst": "0.0.0.0"}]}),
                "routes[1].dst",
            ),
            (
                json!({"interfaces": [{"name": "a", "mtu": "big"}]}),
                "interfaces[0].mtu",
            ),
            (
                json!({"dns": {"nameservers": "1.1.1.1"}}),
                "dns.nameservers",
            ),
            (json!([1, 2]), "expected a JSON object"),
        ];
        for (v, field) in cases {
            let e = CniResult::from_json(&v).unwrap_err();
            assert_eq!(e.code, code::DECODE, "{v}");
            assert!(e.msg.contains(field), "{v}: {}", e.msg);
        }
    }

    #[test]
    fn constructors_set_only_what_they_name() {
        let r = CniResult {
            interfaces: vec![Interface::named("eth0")],
            ips: vec![IpConfig::new("fd00::5/64".parse().unwrap())],
            ..CniResult::default()
        };
        assert_eq!(
            r.to_json("1.1.0"),
            json!({"cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}],
                   "ips": [{"address": "fd00::5/64"}]})
        );
    }

    #[test]
    fn route_to_sets_only_the_destination() {
        let r = Route::to("0.0.0.0/0".parse().unwrap());
        assert_eq!(r.to_json(true), json!({"dst": "0.0.0.0/0"}));
    }
}
