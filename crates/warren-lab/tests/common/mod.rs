//! Helpers shared by the lab loader's tests.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

use warren_lab::model::{End, Lab};

/// A compact text rendering of a resolved lab, for snapshots.
pub fn render(lab: &Lab) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "lab {}", lab.name);
    for n in &lab.nodes {
        let _ = writeln!(s, "{} {:?} {}", n.name, n.kind, n.netns);
        for a in &n.loopback {
            let _ = writeln!(s, "  lo {a}");
        }
        for f in &n.interfaces {
            let addrs: Vec<String> = f.addresses.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                s,
                "  if {} ({}) [{}] link {}{}",
                f.name,
                f.ifname,
                addrs.join(" "),
                f.link,
                f.mtu.map(|m| format!(" mtu {m}")).unwrap_or_default()
            );
        }
        for r in &n.routes {
            let _ = writeln!(
                s,
                "  route {}{}{}",
                r.to,
                r.via.map(|v| format!(" via {v}")).unwrap_or_default(),
                r.dev
                    .as_ref()
                    .map(|d| format!(" dev {d}"))
                    .unwrap_or_default()
            );
        }
        for (k, v) in &n.sysctls {
            let _ = writeln!(s, "  sysctl {k}={v}");
        }
        if let Some(sw) = &n.switch {
            let _ = writeln!(s, "  bridges {}", sw.bridges.join(" "));
            for p in sw.ports.iter().take(8) {
                let _ = writeln!(
                    s,
                    "  port {} br{} link {} {}",
                    p.ifname,
                    p.bridge,
                    p.link,
                    p.altnames.join(",")
                );
            }
        }
        if !n.after.is_empty() {
            let _ = writeln!(s, "  after {}", n.after.join(" "));
        }
    }
    for (i, l) in lab.links.iter().enumerate() {
        let ends: Vec<String> = l
            .ends
            .iter()
            .map(|e| match e {
                End::Node { node, interface } => format!("{node}:{interface}"),
                End::Switch { node, port } => format!("{node}#{port}"),
                End::HostBridge { bridge, ifname } => format!("host:{bridge}({ifname})"),
                End::Macvlan { parent, mode } => format!("macvlan:{parent}({mode})"),
                End::HostUplink { ifname, address } => format!("uplink({ifname} {address})"),
            })
            .collect();
        let _ = writeln!(s, "link {i} {}", ends.join(" -- "));
    }
    s
}

/// Loads `text` as `lab.yaml` and renders it, or panics with the errors.
pub fn resolve(text: &str) -> String {
    match warren_lab::load_str(text, Path::new("lab.yaml")) {
        Ok(l) => render(&l.lab),
        Err(e) => panic!("{e}"),
    }
}

/// The errors of `text` (as `lab.yaml`), one per line; empty when it loads.
pub fn errors(text: &str) -> String {
    match warren_lab::load_str(text, Path::new("lab.yaml")) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}
