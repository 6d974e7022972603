//! `warren route show` and `get` output: ip's lines and ip's JSON keys.

use std::collections::HashMap;

use serde_json::{Value, json};
use warren_kernel::Handle;
use warren_kernel::addr::Scope;
use warren_kernel::route::{self, Protocol, Route, RouteType};

use crate::CliError;

pub(super) fn names(h: &Handle) -> Result<HashMap<u32, String>, CliError> {
    Ok(h.links()?.into_iter().map(|l| (l.index, l.name)).collect())
}

fn dev_name(names: &HashMap<u32, String>, i: u32) -> String {
    names.get(&i).cloned().unwrap_or_else(|| format!("if{i}"))
}

/// The destination as ip prints it: `default`, a host address without `/32`, or the prefix.
pub fn dst_text(r: &Route) -> String {
    if r.dst.is_default() {
        "default".into()
    } else if r.dst.prefix == r.family().max_prefix() {
        r.dst.addr.to_string()
    } else {
        r.dst.to_string()
    }
}

/// A table id as ip names it.
pub fn table_text(t: u32) -> String {
    match t {
        route::MAIN => "main".into(),
        route::LOCAL => "local".into(),
        253 => "default".into(),
        n => n.to_string(),
    }
}

/// One route in ip's words (`default via 10.0.0.1 dev eth0 metric 50`), nexthops on further
/// tab-indented lines.
pub fn route_line(r: &Route, names: &HashMap<u32, String>, show_table: bool) -> String {
    let mut s = String::new();
    if r.kind != RouteType::Unicast {
        s.push_str(&format!("{} ", r.kind));
    }
    s.push_str(&dst_text(r));
    if let Some(g) = r.gateway {
        s.push_str(&format!(" via {g}"));
    }
    if let Some(i) = r.oif {
        s.push_str(&format!(" dev {}", dev_name(names, i)));
    }
    if show_table && r.table != route::MAIN {
        s.push_str(&format!(" table {}", table_text(r.table)));
    }
    if r.protocol != Protocol::BOOT && r.protocol != Protocol::UNSPEC {
        s.push_str(&format!(" proto {}", r.protocol));
    }
    if r.scope != Scope::UNIVERSE {
        s.push_str(&format!(" scope {}", r.scope));
    }
    if let Some(p) = r.prefsrc {
        s.push_str(&format!(" src {p}"));
    }
    if let Some(m) = r.metric {
        s.push_str(&format!(" metric {m}"));
    }
    if r.onlink() {
        s.push_str(" onlink");
    }
    if let Some(m) = r.mtu {
        s.push_str(&format!(" mtu {m}"));
    }
    if let Some(p) = r.pref {
        s.push_str(&format!(" pref {p}"));
    }
    for nh in &r.nexthops {
        s.push_str("\n\tnexthop");
        if let Some(g) = nh.via {
            s.push_str(&format!(" via {g}"));
        }
        if let Some(i) = nh.dev {
            s.push_str(&format!(" dev {}", dev_name(names, i)));
        }
        s.push_str(&format!(" weight {}", nh.weight));
    }
    s
}

/// One route as JSON with ip's keys: `dst`, `type`, `table`, `protocol`, `scope`, `flags`, and
/// when set `gateway`, `dev`, `prefsrc`, `metric`, `pref`, `metrics: [{mtu}]`,
/// `nexthops: [{gateway, dev, weight}]`.
pub fn route_json(r: &Route, names: &HashMap<u32, String>) -> Value {
    let mut o = json!({
        "dst": dst_text(r),
        "type": r.kind.to_string(),
        "table": table_text(r.table),
        "protocol": r.protocol.to_string(),
        "scope": r.scope.to_string(),
        "flags": if r.onlink() { json!(["onlink"]) } else { json!([]) },
    });
    if let Some(g) = r.gateway {
        o["gateway"] = json!(g.to_string());
    }
    if let Some(i) = r.oif {
        o["dev"] = json!(dev_name(names, i));
    }
    if let Some(p) = r.prefsrc {
        o["prefsrc"] = json!(p.to_string());
    }
    if let Some(m) = r.metric {
        o["metric"] = json!(m);
    }
    if let Some(p) = r.pref {
        o["pref"] = json!(p.to_string());
    }
    if let Some(m) = r.mtu {
        o["metrics"] = json!([{"mtu": m}]);
    }
    if !r.nexthops.is_empty() {
        let nhs: Vec<Value> = r
            .nexthops
            .iter()
            .map(|nh| {
                let mut n = json!({"weight": nh.weight});
                if let Some(g) = nh.via {
                    n["gateway"] = json!(g.to_string());
                }
                if let Some(i) = nh.dev {
                    n["dev"] = json!(dev_name(names, i));
                }
                n
            })
            .collect();
        o["nexthops"] = Value::Array(nhs);
    }
    o
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use warren_kernel::addr::{Family, IpNet};

    use super::*;

    fn ipa(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lines_and_json_read_like_ip() {
        let names: HashMap<u32, String> = [(2, "eth0".to_string())].into();
        let r = Route {
            dst: IpNet::default_route(Family::V4),
            gateway: Some(ipa("10.0.0.1")),
            oif: Some(2),
            metric: Some(50),
            table: 254,
            protocol: Protocol::BOOT,
            scope: Scope::UNIVERSE,
            kind: RouteType::Unicast,
            prefsrc: None,
            nexthops: vec![],
            flags: 0,
            pref: None,
            mtu: None,
        };
        assert_eq!(
            route_line(&r, &names, false),
            "default via 10.0.0.1 dev eth0 metric 50"
        );
        assert_eq!(
            route_json(&r, &names),
            json!({"dst": "default", "type": "unicast", "table": "main", "protocol": "boot",
                   "scope": "global", "flags": [], "gateway": "10.0.0.1", "dev": "eth0", "metric": 50})
        );
        let bh = Route {
            kind: RouteType::Blackhole,
            gateway: None,
            oif: None,
            metric: None,
            table: 100,
            dst: "10.9.0.0/16".parse().unwrap(),
            ..r
        };
        assert_eq!(
            route_line(&bh, &names, true),
            "blackhole 10.9.0.0/16 table 100"
        );
    }
}
