//! Printing links and FDB entries: a table for people, ip-shaped JSON with `-j`.

use serde_json::{Value, json};
use warren_kernel::Handle;
use warren_kernel::link::bridge::{FdbState, FdbTarget};
use warren_kernel::link::{Link, format_mac};

use crate::CliError;

/// `name@peer` as ip prints it: the peer's or parent's name when it is here, `ifN` otherwise.
fn display_name(l: &Link, all: &[Link]) -> String {
    match l.link {
        Some(i) if l.link_netnsid.is_none() => match all.iter().find(|o| o.index == i) {
            Some(o) => format!("{}@{}", l.name, o.name),
            None => format!("{}@if{i}", l.name),
        },
        Some(i) => format!("{}@if{i}", l.name),
        None => l.name.clone(),
    }
}

fn name_of(all: &[Link], index: u32) -> Option<&str> {
    all.iter()
        .find(|o| o.index == index)
        .map(|o| o.name.as_str())
}

/// The JSON object of one link, with ip's keys.
pub fn link_json(l: &Link, all: &[Link]) -> Value {
    let mut o = json!({
        "ifindex": l.index,
        "ifname": l.name,
        "flags": l.flags,
        "mtu": l.mtu,
        "operstate": l.operstate.to_uppercase(),
    });
    if let Some(q) = l.txqueuelen {
        o["txqlen"] = json!(q);
    }
    if let Some(m) = l.mac_string() {
        o["address"] = json!(m);
    }
    if let Some(m) = l.master {
        o["master"] = json!(name_of(all, m).map_or_else(|| m.to_string(), str::to_owned));
    }
    if let Some(i) = l.link {
        o["link_index"] = json!(i);
        if l.link_netnsid.is_none()
            && let Some(n) = name_of(all, i)
        {
            o["link"] = json!(n);
        }
    }
    if let Some(n) = l.link_netnsid {
        o["link_netnsid"] = json!(n);
    }
    if let Some(k) = &l.kind {
        o["info_kind"] = json!(k);
    }
    if !l.altnames.is_empty() {
        o["altnames"] = json!(l.altnames);
    }
    o
}

pub(super) fn show(h: &Handle, name: Option<&str>, as_json: bool) -> Result<(), CliError> {
    let all = h.links()?;
    let shown: Vec<&Link> = match name {
        Some(n) => {
            let l = h.link_get(n)?;
            all.iter().filter(|o| o.index == l.index).collect()
        }
        None => all.iter().collect(),
    };
    let mut out = String::new();
    if as_json {
        let v: Vec<Value> = shown.iter().map(|l| link_json(l, &all)).collect();
        out.push_str(&Value::Array(v).to_string());
        out.push('\n');
    } else {
        let rows: Vec<[String; 7]> = shown
            .iter()
            .map(|l| {
                [
                    l.index.to_string(),
                    display_name(l, &all),
                    l.kind.clone().unwrap_or_else(|| "-".into()),
                    l.operstate.to_uppercase(),
                    l.mtu.to_string(),
                    l.mac_string().unwrap_or_else(|| "-".into()),
                    l.master.map_or_else(
                        || "-".into(),
                        |m| name_of(&all, m).unwrap_or("?").to_owned(),
                    ),
                ]
            })
            .collect();
        out.push_str(&table(
            &["INDEX", "NAME", "KIND", "STATE", "MTU", "MAC", "MASTER"],
            &rows,
        ));
    }
    print(&out)
}

fn table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let mut width: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(head.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

fn print(s: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(s.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

pub(super) fn fdb_show(h: &Handle, dev: Option<&str>, as_json: bool) -> Result<(), CliError> {
    let all = h.links()?;
    let filter = dev.map(|d| h.link_index(d)).transpose()?;
    let entries = h.fdb_list(filter)?;
    let state = |s: FdbState| match s {
        FdbState::Permanent => "permanent",
        FdbState::Static => "static",
        FdbState::Dynamic => "dynamic",
    };
    let port_name = |i: u32| name_of(&all, i).map_or_else(|| format!("if{i}"), str::to_owned);
    let mut out = String::new();
    if as_json {
        let v: Vec<Value> = entries
            .iter()
            .map(|e| {
                let mut o = json!({ "mac": format_mac(&e.mac), "ifname": port_name(e.port), "state": state(e.state) });
                if e.target == FdbTarget::SelfDev {
                    o["flags"] = json!(["self"]);
                }
                if let Some(m) = e.master {
                    o["master"] = json!(port_name(m));
                }
                if let Some(v) = e.vlan {
                    o["vlan"] = json!(v);
                }
                if let Some(d) = e.dst {
                    o["dst"] = json!(d.to_string());
                }
                if let Some(n) = e.vni {
                    o["vni"] = json!(n);
                }
                o
            })
            .collect();
        out.push_str(&Value::Array(v).to_string());
        out.push('\n');
    } else {
        for e in &entries {
            let mut l = format!("{} dev {}", format_mac(&e.mac), port_name(e.port));
            if let Some(v) = e.vlan {
                l.push_str(&format!(" vlan {v}"));
            }
            if let Some(d) = e.dst {
                l.push_str(&format!(" dst {d}"));
            }
            if let Some(n) = e.vni {
                l.push_str(&format!(" vni {n}"));
            }
            if e.target == FdbTarget::SelfDev {
                l.push_str(" self");
            }
            if let Some(m) = e.master {
                l.push_str(&format!(" master {}", port_name(m)));
            }
            l.push(' ');
            l.push_str(state(e.state));
            out.push_str(&l);
            out.push('\n');
        }
    }
    print(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(&["A", "BB"], &[["long".into(), "x".into()]]);
        assert_eq!(t, "A     BB\nlong  x\n");
    }
}
