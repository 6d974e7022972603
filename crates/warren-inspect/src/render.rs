//! An [`Inspection`] as text: a title per section, each in the shape of the tool people know
//! for it (`ip link`, `ip addr`, `ip route`, `ip rule`, `ip neigh`, `bridge fdb`, `ss`,
//! `conntrack -L`, `nft list ruleset`, `sysctl`).

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::model::{
    AddrRow, FdbRow, Inspection, LinkRow, NeighRow, RouteRow, Section, SocketRow, SysctlRow,
};
use crate::target::Kind;

/// The whole inspection as text.
pub fn text(i: &Inspection) -> String {
    let t = &i.target;
    let kind = match t.kind {
        Kind::Namespace => "namespace",
        Kind::Process => "process",
        Kind::Container => "container",
        Kind::Pod => "pod",
        Kind::Node => "lab node",
    };
    let mut out = format!("{kind} {}", t.name);
    let mut extra = Vec::new();
    if let Some(id) = &t.id {
        extra.push(format!("id {id}"));
    }
    if let Some(n) = t.netns.as_ref().filter(|n| **n != t.name) {
        extra.push(format!("netns {n}"));
    }
    extra.push(format!("net:[{}]", t.inode));
    let _ = writeln!(out, " ({})", extra.join(", "));
    block(&mut out, "links", &i.links, |rows| {
        rows.iter().map(link).collect()
    });
    block(&mut out, "addresses", &i.addrs, |rows| {
        rows.iter().map(addr).collect()
    });
    block(&mut out, "routes", &i.routes, |rows| {
        rows.iter().map(route).collect()
    });
    block(&mut out, "rules", &i.rules, |rows| {
        rows.iter().map(|r| format!("{r}\n")).collect()
    });
    block(&mut out, "neighbours", &i.neigh, |rows| {
        rows.iter().map(neigh).collect()
    });
    block(&mut out, "bridge fdb", &i.fdb, |rows| {
        rows.iter().map(fdb).collect()
    });
    block(&mut out, "sockets", &i.sockets, |rows| sockets(rows));
    block(&mut out, "conntrack", &i.conntrack, |rows| {
        rows.iter().map(|r| format!("{}\n", r.text)).collect()
    });
    block(&mut out, "nftables", &i.nft, |n| n.text.clone());
    block(&mut out, "sysctls", &i.sysctls, |rows| {
        rows.iter()
            .map(|SysctlRow { key, value }| format!("{key} = {value}\n"))
            .collect()
    });
    out
}

fn block<T>(out: &mut String, title: &str, s: &Section<T>, body: impl FnOnce(&T) -> String) {
    match s {
        Section::Skipped => {}
        Section::Ok(t) => {
            let _ = writeln!(out, "\n== {title} ==");
            out.push_str(&body(t));
        }
        Section::Failed(e) => {
            let _ = writeln!(out, "\n== {title} ==\ncannot read: {e}");
        }
    }
}

/// `ip link` style, with the peer's namespace spelled out.
pub fn link(l: &LinkRow) -> String {
    let mut name = l.name.clone();
    if let Some(p) = &l.peer {
        match (&p.name, p.nsid) {
            (Some(n), None) => name.push_str(&format!("@{n}")),
            _ => name.push_str(&format!("@if{}", p.index)),
        }
    }
    let mut s = format!("{}: {name}: <{}> mtu {}", l.index, l.flags.join(","), l.mtu);
    if let Some(m) = &l.master {
        let _ = write!(s, " master {m}");
    }
    let _ = write!(s, " state {}", l.operstate.to_uppercase());
    s.push('\n');
    let mut second = Vec::new();
    if let Some(k) = &l.kind {
        second.push(k.clone());
    }
    if let Some(m) = &l.mac {
        let kind = if l.flags.iter().any(|f| f == "LOOPBACK") {
            "loopback"
        } else {
            "ether"
        };
        second.push(format!("link/{kind} {m}"));
    }
    if let Some(p) = &l.peer
        && p.nsid.is_some()
    {
        let who = p.name.clone().unwrap_or_else(|| format!("if{}", p.index));
        let ns = p
            .netns
            .clone()
            .unwrap_or_else(|| "an unknown namespace".into());
        let nsid = p.nsid.map(|i| format!(" (nsid {i})")).unwrap_or_default();
        second.push(format!("peer {who} in {ns}{nsid}"));
    }
    if !second.is_empty() {
        let _ = writeln!(s, "    {}", second.join("  "));
    }
    s
}

fn addr(a: &AddrRow) -> String {
    format!("{} {} {} scope {}\n", a.dev, a.family, a.local, a.scope)
}

/// `ip route show table all` style.
pub fn route(r: &RouteRow) -> String {
    let mut s = String::new();
    if r.kind != "unicast" {
        let _ = write!(s, "{} ", r.kind);
    }
    s.push_str(&r.dst);
    if let Some(g) = r.gateway {
        let _ = write!(s, " via {g}");
    }
    if let Some(d) = &r.dev {
        let _ = write!(s, " dev {d}");
    }
    if r.table != "main" {
        let _ = write!(s, " table {}", r.table);
    }
    if r.protocol != "boot" {
        let _ = write!(s, " proto {}", r.protocol);
    }
    if r.scope != "global" {
        let _ = write!(s, " scope {}", r.scope);
    }
    if let Some(p) = r.prefsrc {
        let _ = write!(s, " src {p}");
    }
    if let Some(m) = r.metric {
        let _ = write!(s, " metric {m}");
    }
    s.push('\n');
    for nh in &r.nexthops {
        let _ = writeln!(s, "\tnexthop {nh}");
    }
    s
}

fn neigh(n: &NeighRow) -> String {
    let mut s = format!("{} dev {}", n.dst, n.dev);
    if let Some(m) = &n.lladdr {
        let _ = write!(s, " lladdr {m}");
    }
    if n.router {
        s.push_str(" router");
    }
    let _ = writeln!(s, " {}", n.state);
    s
}

fn fdb(f: &FdbRow) -> String {
    let mut s = format!("{} dev {}", f.mac, f.dev);
    if let Some(v) = f.vlan {
        let _ = write!(s, " vlan {v}");
    }
    if let Some(d) = f.dst {
        let _ = write!(s, " dst {d}");
    }
    if f.self_dev {
        s.push_str(" self");
    } else if let Some(m) = &f.master {
        let _ = write!(s, " master {m}");
    }
    let _ = writeln!(s, " {}", f.state);
    s
}

fn sock_addr(a: &SocketAddr) -> String {
    let ip = if a.ip().is_unspecified() {
        "*".to_owned()
    } else if a.is_ipv6() {
        format!("[{}]", a.ip())
    } else {
        a.ip().to_string()
    };
    let port = if a.port() == 0 {
        "*".to_owned()
    } else {
        a.port().to_string()
    };
    format!("{ip}:{port}")
}

/// `ss -tuwanp` style columns.
pub fn sockets(rows: &[SocketRow]) -> String {
    let mut lines = vec![[
        "Netid".to_owned(),
        "State".into(),
        "Recv-Q".into(),
        "Send-Q".into(),
        "Local Address:Port".into(),
        "Peer Address:Port".into(),
        "Process".into(),
    ]];
    for r in rows {
        let procs = if r.processes.is_empty() {
            String::new()
        } else {
            format!(
                "users:({})",
                r.processes
                    .iter()
                    .map(|o| format!("(\"{}\",pid={},fd={})", o.comm, o.pid, o.fd))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        lines.push([
            r.proto.clone(),
            r.state.clone(),
            r.recv_q.to_string(),
            r.send_q.to_string(),
            sock_addr(&r.local),
            sock_addr(&r.peer),
            procs,
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| lines.iter().map(|l| l[c].len()).max().unwrap_or(0))
        .collect();
    lines
        .iter()
        .map(|l| {
            let mut s = l
                .iter()
                .zip(&widths)
                .map(|(v, w)| format!("{v:<w$}"))
                .collect::<Vec<_>>()
                .join(" ");
            s.truncate(s.trim_end().len());
            s.push('\n');
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LinkPeer;

    fn veth(peer: LinkPeer) -> LinkRow {
        LinkRow {
            index: 2,
            name: "eth0".into(),
            kind: Some("veth".into()),
            flags: vec!["BROADCAST".into(), "UP".into()],
            operstate: "up".into(),
            mtu: 1500,
            mac: Some("02:00:00:00:00:01".into()),
            master: None,
            peer: Some(peer),
        }
    }

    #[test]
    fn links_print_with_their_peer() {
        let cases = [
            (
                LinkPeer {
                    index: 7,
                    name: Some("wv1".into()),
                    nsid: Some(0),
                    netns: Some("host".into()),
                },
                "2: eth0@if7: <BROADCAST,UP> mtu 1500 state UP\n    veth  link/ether 02:00:00:00:00:01  peer wv1 in host (nsid 0)\n",
            ),
            (
                LinkPeer {
                    index: 3,
                    name: Some("b".into()),
                    nsid: None,
                    netns: None,
                },
                "2: eth0@b: <BROADCAST,UP> mtu 1500 state UP\n    veth  link/ether 02:00:00:00:00:01\n",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(link(&veth(p)), want);
        }
    }

    #[test]
    fn routes_print_like_ip_route() {
        let r = RouteRow {
            table: "100".into(),
            kind: "unicast".into(),
            dst: "default".into(),
            gateway: Some("10.0.0.1".parse().unwrap()),
            dev: Some("eth0".into()),
            protocol: "boot".into(),
            scope: "global".into(),
            metric: Some(5),
            prefsrc: None,
            nexthops: vec![],
        };
        assert_eq!(
            route(&r),
            "default via 10.0.0.1 dev eth0 table 100 metric 5\n"
        );
    }

    #[test]
    fn sockets_print_like_ss() {
        let rows = [SocketRow {
            proto: "tcp".into(),
            state: "LISTEN".into(),
            local: "127.0.0.1:80".parse().unwrap(),
            peer: "0.0.0.0:0".parse().unwrap(),
            recv_q: 0,
            send_q: 128,
            inode: 9,
            processes: vec![warren_kernel::sockdiag::Owner {
                pid: 42,
                comm: "nginx".into(),
                fd: 6,
            }],
        }];
        let t = sockets(&rows);
        let last = t.lines().nth(1).unwrap();
        assert_eq!(
            last.split_whitespace().collect::<Vec<_>>(),
            [
                "tcp",
                "LISTEN",
                "0",
                "128",
                "127.0.0.1:80",
                "*:*",
                "users:((\"nginx\",pid=42,fd=6))"
            ]
        );
    }

    #[test]
    fn a_failed_section_shows_its_error_and_the_rest_is_still_there() {
        use crate::model::{Inspection, TargetInfo};
        let i = Inspection {
            target: TargetInfo {
                kind: Kind::Container,
                name: "web".into(),
                id: Some("0123456789ab".into()),
                netns: Some("warren-0123456789ab".into()),
                inode: 4026532000,
            },
            links: Section::Skipped,
            addrs: Section::Ok(vec![AddrRow {
                dev: "eth0".into(),
                family: "inet".into(),
                local: "10.88.0.2/24".into(),
                scope: "global".into(),
            }]),
            routes: Section::Skipped,
            rules: Section::Skipped,
            neigh: Section::Skipped,
            fdb: Section::Skipped,
            sockets: Section::Skipped,
            conntrack: Section::Skipped,
            nft: Section::Failed("dump nf_tables tables (netns x): Operation not permitted".into()),
            sysctls: Section::Skipped,
        };
        assert_eq!(
            text(&i),
            "container web (id 0123456789ab, netns warren-0123456789ab, net:[4026532000])\n\
             \n== addresses ==\neth0 inet 10.88.0.2/24 scope global\n\
             \n== nftables ==\ncannot read: dump nf_tables tables (netns x): Operation not permitted\n"
        );
    }
}
