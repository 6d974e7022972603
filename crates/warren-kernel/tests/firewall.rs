//! The container firewall (table `inet NAME`): its encoding against what `nft` itself sends for
//! the same ruleset, its read-back with `nft -j`, element-only changes that leave rule
//! handles and other tables alone, and real traffic through a lab of namespaces: published
//! ports over IPv4 and IPv6 from every kind of client, hairpin, masquerade, isolation of
//! networks, internal networks, 10,000 ports, repair after `nft flush ruleset`, and conntrack
//! flushing.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use serde_json::Value;
use warren_kernel::addr::AddrSpec;
use warren_kernel::link::bridge::{Bridge, BridgePortOptions};
use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::nft::firewall::loopback6_reply_route;
use warren_kernel::nft::{Batch, Firewall, NetworkRules, Nft, PortRule, Proto};
use warren_kernel::route::RouteSpec;
use warren_kernel::{Handle, NetNs, conntrack, sysctl};
use warren_testkit::sandbox_test;

fn have_nft() -> bool {
    if Command::new("nft").arg("--version").output().is_ok() {
        return true;
    }
    warren_testkit::skip("nft (package nftables) is not installed: no oracle");
    false
}

/// Run `nft ARGS` in the sandbox's own namespace, feeding `stdin`; stdout and stderr.
fn nft(args: &[&str], stdin: &str) -> (String, String) {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nft");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "nft {args:?}: {e}");
    // Debug output goes to stdout or stderr depending on the version: the second is both.
    let both = format!("{o}{e}");
    (o, both)
}

/// The messages nft sends, rebuilt from its `--debug=mnl` dump: (nlmsg_type, body after the
/// nfgenmsg header).
fn mnl_messages(dump: &str) -> Vec<(u16, Vec<u8>)> {
    let mut out: Vec<(u16, Vec<u8>)> = Vec::new();
    for line in dump.lines() {
        // Drop colour escapes.
        let mut clean = String::new();
        let mut esc = false;
        for c in line.chars() {
            match (esc, c) {
                (false, '\x1b') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                (false, c) => clean.push(c),
            }
        }
        let cols: Vec<&str> = clean.split('|').map(str::trim).collect();
        if clean.contains("| message length |") {
            out.push((0, Vec::new()));
        } else if clean.contains("|  type | flags  |") {
            out.last_mut().unwrap().0 = cols[1].parse().unwrap();
        } else if clean.contains("|len |flags| type|") {
            let len: u16 = cols[1].parse().unwrap();
            let mut ty: u16 = cols[3].parse().unwrap();
            if cols[2].starts_with('N') {
                ty |= 0x8000;
            }
            if cols[2].ends_with('B') {
                ty |= 0x4000;
            }
            let body = &mut out.last_mut().unwrap().1;
            body.extend_from_slice(&len.to_ne_bytes());
            body.extend_from_slice(&ty.to_ne_bytes());
        } else if clean.contains("|      data      |") {
            let body = &mut out.last_mut().unwrap().1;
            body.extend(
                cols[1]
                    .split_whitespace()
                    .map(|h| u8::from_str_radix(h, 16).unwrap()),
            );
        }
    }
    out
}

/// The messages of our batch: (nlmsg_type, body after the nfgenmsg header).
fn our_messages(b: &Batch) -> Vec<(u16, Vec<u8>)> {
    let bytes = b.to_bytes(1);
    let mut out = Vec::new();
    let mut off = 0;
    while off + 20 <= bytes.len() {
        let len = u32::from_ne_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes(bytes[off + 4..off + 6].try_into().unwrap());
        if ty & 0xff00 != 0 {
            // Not the batch's begin or end.
            out.push((ty, bytes[off + 20..off + len].to_vec()));
        }
        off += (len + 3) & !3;
    }
    out
}

/// The body without its top-level attributes of the types in `drop`.
fn without(body: &[u8], drop: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 4 <= body.len() {
        let len = usize::from(u16::from_ne_bytes([body[off], body[off + 1]]));
        let ty = u16::from_ne_bytes([body[off + 2], body[off + 3]]) & 0x3fff;
        let end = (off + ((len + 3) & !3)).min(body.len());
        if !drop.contains(&ty) {
            out.extend_from_slice(&body[off..end]);
        }
        off = end;
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.chunks(4)
        .map(|c| c.iter().map(|x| format!("{x:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

const NEWCHAIN: u16 = 10 << 8 | 3;
const NEWRULE: u16 = 10 << 8 | 6;
const NEWSET: u16 = 10 << 8 | 9;
const NEWSETELEM: u16 = 10 << 8 | 12;

fn of_type(msgs: &[(u16, Vec<u8>)], ty: u16) -> Vec<Vec<u8>> {
    msgs.iter()
        .filter(|(t, _)| *t == ty)
        .map(|(_, b)| b.clone())
        .collect()
}

#[cfg(target_endian = "little")]
#[test]
fn ifname_concatenation_element_bytes() {
    let fw = Firewall::new("w");
    let net = NetworkRules {
        bridge: "wbr0".into(),
        subnets: vec![],
        internal: false,
        masquerade: true,
    };
    let b = fw.add_network(&net).unwrap();
    let msgs = our_messages(&b);
    // bridges { "wbr0" }, same { "wbr0" . "wbr0" }.
    assert_eq!(msgs.len(), 2);
    let mut want = vec![6, 0, 1, 0, b'w', 0, 0, 0]; // NFTA_SET_ELEM_LIST_TABLE "w"
    want.extend_from_slice(&[9, 0, 2, 0]); // NFTA_SET_ELEM_LIST_SET "same"
    want.extend_from_slice(b"same\0\0\0\0");
    // ELEMENTS { LIST_ELEM { KEY { VALUE: 32 bytes } } }
    want.extend_from_slice(&[48, 0, 3, 0x80, 44, 0, 1, 0x80, 40, 0, 1, 0x80, 36, 0, 1, 0]);
    for _ in 0..2 {
        want.extend_from_slice(b"wbr0");
        want.extend_from_slice(&[0; 12]);
    }
    assert_eq!(msgs[1], (NEWSETELEM, want));
}

#[cfg(target_endian = "little")]
#[test]
fn dnat_rule_bytes() {
    // `meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @ports4`
    // as nft 1.0.6 sends it (from its --debug=mnl dump), set id included: ports4 is the
    // eighth set of the table.
    let fw = Firewall::new("w");
    let rule = fw.rules()[1].clone();
    assert_eq!(rule.chain.name, "prerouting");
    let mut b = Batch::new();
    for s in fw.sets() {
        b.add_set(&s);
    }
    b.add_rule(&rule);
    let (ty, body) = our_messages(&b).pop().unwrap();
    assert_eq!(ty, NEWRULE);
    let want = concat(&[
        "06000100 77000000",                   // table "w"
        "0f000200 70726572 6f757469 6e670000", // chain "prerouting"
        "68010480",                            // expressions
        "24000180 09000100 6d657461 00000000 14000280 08000200 0000000f 08000100 00000001", // meta nfproto => reg 1
        "2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000000 0c000380 05000100 02000000", // cmp eq reg 1 2
        "28000180 08000100 66696200 1c000280 08000300 00000002 08000200 00000003 08000100 00000001", // fib daddr type => reg 1
        "2c000180 08000100 636d7000 20000280 08000100 00000001 08000200 00000000 0c000380 08000100 02000000", // cmp eq reg 1 RTN_LOCAL
        "24000180 09000100 6d657461 00000000 14000280 08000200 00000010 08000100 00000001", // meta l4proto => reg 1
        "34000180 0c000100 7061796c 6f616400 24000280 08000100 00000009 08000200 00000002 08000300 00000002 08000400 00000002", // th dport => reg 9
        "38000180 0b000100 6c6f6f6b 75700000 28000280 08000200 00000001 08000300 00000001 0b000100 706f7274 73340000 08000400 00000008", // lookup
        "30000180 08000100 6e617400 24000280 08000100 00000001 08000200 00000002 08000300 00000001 08000500 00000009", // nat dnat ip
    ]);
    assert_eq!(hex(&body), hex(&want));
}

fn concat(parts: &[&str]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|p| p.split_whitespace())
        .flat_map(|w| {
            (0..w.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&w[i..i + 2], 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

sandbox_test! {
    fn encoding_is_what_nft_sends_for_the_same_ruleset() {
        if !have_nft() {
            return;
        }
        let fw = Firewall::new("fwtest");
        let (_, dump) = nft(&["--debug=mnl", "-c", "-f", "-"], &fw.nft_text());
        let theirs = mnl_messages(&dump);
        let ours = our_messages(&fw.skeleton());
        // Rules and chains: byte for byte, set ids included.
        for (ty, what) in [(NEWRULE, "rule"), (NEWCHAIN, "chain")] {
            let (a, b) = (of_type(&ours, ty), of_type(&theirs, ty));
            assert_eq!(a.len(), b.len(), "{what}s");
            for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                assert_eq!(hex(a), hex(b), "{what} {i}");
            }
        }
        // Sets too, nft's user data (how it prints keys) included.
        let (a, b) = (of_type(&ours, NEWSET), of_type(&theirs, NEWSET));
        assert_eq!((a.len(), b.len()), (11, 11));
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert_eq!(hex(a), hex(b), "set {i}");
        }

        // Elements: install ours, then compare nft's `add element` for a concatenation of
        // interface names and a port (minus the set id nft adds from its cache).
        let ns = NetNs::current().unwrap();
        let n = Nft::new(&ns).unwrap();
        n.apply(&fw.skeleton()).unwrap();
        let net = NetworkRules {
            bridge: "wbr0".into(),
            subnets: vec![],
            internal: false,
            masquerade: true,
        };
        let (_, dump) = nft(
            &["--debug=mnl", "-c", "add", "element", "inet", "fwtest", "same", "{ \"wbr0\" . \"wbr0\" }"],
            "",
        );
        let theirs = of_type(&mnl_messages(&dump), NEWSETELEM);
        let ours = of_type(&our_messages(&fw.add_network(&net).unwrap()), NEWSETELEM);
        assert_eq!(hex(&ours[1]), hex(&without(&theirs[0], &[4])));
        let port = PortRule {
            host_ip: Some("::1".parse().unwrap()),
            proto: Proto::Tcp,
            host_port: 8080,
            addr: "fd88::2".parse().unwrap(),
            port: 80,
        };
        let (_, dump) = nft(
            &["--debug=mnl", "-c", "add", "element", "inet", "fwtest", "ports6a", "{ ::1 . tcp . 8080 : fd88::2 . 80 }"],
            "",
        );
        let theirs = of_type(&mnl_messages(&dump), NEWSETELEM);
        let ours = of_type(&our_messages(&fw.publish(&[port]).unwrap()), NEWSETELEM);
        assert_eq!(hex(&ours[0]), hex(&without(&theirs[0], &[4])));
    }
}

/// `nft -j list ruleset` objects of `kind` in table `table`.
fn objects(kind: &str, table: &str) -> Vec<Value> {
    let out = warren_testkit::run("nft", &["-j", "list", "ruleset"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get(kind).cloned())
        .filter(|o| o["table"] == table || (kind == "table" && o["name"] == table))
        .collect()
}

fn names(objs: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = objs
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

/// The handles of every rule of `table`, in order.
fn rule_handles(table: &str) -> Vec<u64> {
    objects("rule", table)
        .iter()
        .map(|r| r["handle"].as_u64().unwrap())
        .collect()
}

fn port(host_ip: Option<&str>, proto: Proto, host_port: u16, addr: &str, to: u16) -> PortRule {
    PortRule {
        host_ip: host_ip.map(|h| h.parse().unwrap()),
        proto,
        host_port,
        addr: addr.parse().unwrap(),
        port: to,
    }
}

fn network(bridge: &str, subnets: &[&str], internal: bool) -> NetworkRules {
    NetworkRules {
        bridge: bridge.into(),
        subnets: subnets.iter().map(|s| s.parse().unwrap()).collect(),
        internal,
        masquerade: !internal,
    }
}

sandbox_test! {
    fn installs_in_its_own_table_and_changes_only_elements() {
        if !have_nft() {
            return;
        }
        // Someone else's table, which must stay byte for byte as it is.
        nft(
            &["-f", "-"],
            "table ip other {\n chain input { type filter hook input priority 0; policy accept;\n \
             tcp dport 22 counter accept\n }\n}\n",
        );
        let theirs = || warren_testkit::run("nft", &["list", "table", "ip", "other"]);
        let before = theirs();

        let ns = NetNs::current().unwrap();
        let n = Nft::new(&ns).unwrap();
        let fw = Firewall::new("warren");
        assert!(!fw.exists(&n).unwrap());
        assert!(fw.ensure(&n).unwrap(), "built when missing");
        assert!(fw.exists(&n).unwrap());
        let net = network("wbr0", &["10.88.0.0/24", "fd88::/64"], false);
        n.apply(&fw.add_network(&net).unwrap()).unwrap();
        // Adding the same network again is harmless.
        n.apply(&fw.add_network(&net).unwrap()).unwrap();
        assert!(!fw.ensure(&n).unwrap(), "an existing table is left alone");
        // ... with its elements.
        let text = warren_testkit::run("nft", &["list", "set", "inet", "warren", "masq4"]);
        assert!(text.contains("10.88.0.0/24"), "{text}");
        assert!(fw.skeleton().len() > 1);
        let e = n.apply(&fw.skeleton()).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EEXIST), "{e}");

        assert_eq!(names(&objects("table", "warren")), ["warren"]);
        assert_eq!(objects("table", "warren")[0]["family"], "inet");
        assert_eq!(
            names(&objects("chain", "warren")),
            ["forward", "output", "postrouting", "prerouting"]
        );
        for c in objects("chain", "warren") {
            assert_eq!(c["policy"], "accept");
            let (ty, prio) = match c["name"].as_str().unwrap() {
                "forward" => ("filter", 0),
                "postrouting" => ("nat", 100),
                _ => ("nat", -100),
            };
            assert_eq!(c["type"], ty, "{c}");
            assert_eq!(c["prio"], prio, "{c}");
        }
        assert_eq!(
            names(&objects("set", "warren")),
            ["bridges", "internal", "masq4", "masq6", "same", "subnets4", "subnets6"]
        );
        assert_eq!(names(&objects("map", "warren")), ["ports4", "ports4a", "ports6", "ports6a"]);
        // The rules read back as the ruleset's text says.
        let text = warren_testkit::run("nft", &["list", "table", "inet", "warren"]);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for want in [
            // nft leaves out the `meta nfproto` the address implies.
            "dnat ip to ip daddr . meta l4proto . th dport map @ports4a",
            "meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @ports4",
            "dnat ip6 to ip6 daddr . meta l4proto . th dport map @ports6a",
            "meta nfproto ipv6 fib daddr type local dnat ip6 to meta l4proto . th dport map @ports6",
            "elements = { \"wbr0\" }",
            "ct status dnat ip saddr 127.0.0.0/8 masquerade",
            "ct status dnat ip6 saddr ::1 masquerade",
            "ct status dnat oifname @bridges ip saddr @subnets4 masquerade",
            "ct status dnat oifname @bridges ip6 saddr @subnets6 masquerade",
            "ip saddr @masq4 ip daddr != @masq4 oifname != @bridges masquerade",
            "ip6 saddr @masq6 ip6 daddr != @masq6 oifname != @bridges masquerade",
            "iifname . oifname @same accept",
            "iifname @internal drop",
            "oifname @internal drop",
            "ct status dnat accept",
            "iifname @bridges oifname @bridges drop",
            "elements = { \"wbr0\" . \"wbr0\" }",
            "elements = { 10.88.0.0/24 }",
            "elements = { fd88::/64 }",
        ] {
            let n = lines.iter().filter(|l| **l == want).count();
            let expected = if want.contains("dnat ip") && !want.contains("ct status") { 2 } else { 1 };
            assert!(n >= 1, "missing {want:?} in:\n{text}");
            if want.contains(" to ") {
                assert_eq!(n, expected, "{want:?} once per DNAT chain:\n{text}");
            }
        }
        assert_eq!(rule_handles("warren").len(), 4 + 4 + 6 + 5);

        // From here on every change is elements only: the rule handles never change.
        let handles = rule_handles("warren");
        let ports = [
            port(None, Proto::Tcp, 8080, "10.88.0.2", 80),
            port(None, Proto::Udp, 5353, "10.88.0.3", 53),
            port(Some("127.0.0.1"), Proto::Tcp, 8081, "10.88.0.2", 81),
            port(None, Proto::Sctp, 9000, "fd88::2", 9000),
            port(Some("::1"), Proto::Tcp, 8080, "fd88::2", 80),
        ];
        n.apply(&fw.publish(&ports).unwrap()).unwrap();
        assert_eq!(theirs(), before);
        let net2 = network("wbr1", &["10.89.0.0/24"], true);
        n.apply(&fw.add_network(&net2).unwrap()).unwrap();
        assert_eq!(rule_handles("warren"), handles);
        let map = |name| warren_testkit::run("nft", &["list", "map", "inet", "warren", name]);
        let m = map("ports4");
        assert!(m.contains("tcp . 8080 : 10.88.0.2 . 80"), "{m}");
        assert!(m.contains("udp . 5353 : 10.88.0.3 . 53"), "{m}");
        let m = map("ports4a");
        assert!(m.contains("127.0.0.1 . tcp . 8081 : 10.88.0.2 . 81"), "{m}");
        let m = map("ports6");
        assert!(m.contains("sctp . 9000 : fd88::2 . 9000"), "{m}");
        let m = map("ports6a");
        assert!(m.contains("::1 . tcp . 8080 : fd88::2 . 80"), "{m}");
        let text = warren_testkit::run("nft", &["list", "set", "inet", "warren", "internal"]);
        assert!(text.contains("\"wbr1\""), "{text}");
        let text = warren_testkit::run("nft", &["list", "set", "inet", "warren", "masq4"]);
        assert!(!text.contains("10.89.0.0/24"), "internal networks do not masquerade: {text}");

        // A taken key is refused with the map named, and nothing of the batch applies.
        let again = [port(None, Proto::Tcp, 7000, "10.88.0.9", 70), port(None, Proto::Tcp, 8080, "10.88.0.9", 80)];
        let e = n.apply(&fw.publish(&again).unwrap()).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EEXIST), "{e}");
        assert!(e.to_string().contains("map inet warren ports4"), "{e}");
        assert!(!map("ports4").contains("7000"));

        n.apply(&fw.unpublish(&ports[1..2]).unwrap()).unwrap();
        assert!(!map("ports4").contains("5353"));
        let e = n.apply(&fw.unpublish(&ports[1..2]).unwrap()).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOENT), "{e}");
        n.apply(&fw.remove_network(&net2).unwrap()).unwrap();
        let text = warren_testkit::run("nft", &["list", "set", "inet", "warren", "subnets4"]);
        assert!(text.contains("10.88.0.0/24") && !text.contains("10.89"), "{text}");
        assert_eq!(rule_handles("warren"), handles);
        assert_eq!(theirs(), before);

        // Rebuilding replaces the table atomically; removing it leaves the other alone.
        n.apply(&fw.rebuild(&[net], &ports).unwrap()).unwrap();
        assert!(map("ports4").contains("5353"));
        n.apply(&fw.uninstall()).unwrap();
        assert!(!fw.exists(&n).unwrap());
        assert_eq!(theirs(), before);
    }
}

// ---------------------------------------------------------------------------------------
// The lab: the sandbox's own namespace is the host.
//
//   outside 203.0.113.2 / 2001:db8::2 -- vout 203.0.113.1 / 2001:db8::1 | host |
//     wbr0 10.88.0.1/24 fd88::1/64 -- ctr  10.88.0.2 fd88::2      (network "a")
//     wbr1 10.89.0.1/24 fd89::1/64 -- ctr2 10.89.0.2 fd89::2      (network "b")
//     wbr2 10.90.0.1/24 fd90::1/64 -- ctr3 10.90.0.2 fd90::2      (network "i", internal)
// The outside has no route to the containers' subnets: only masquerade lets them talk.

struct Lab {
    host: Handle,
    outside: Handle,
    ctr: Vec<Handle>,
    nft: Nft,
    fw: Firewall,
    nets: Vec<NetworkRules>,
}

const HOST4: &str = "203.0.113.1";
const HOST6: &str = "2001:db8::1";
const OUT4: &str = "203.0.113.2";
const OUT6: &str = "2001:db8::2";

fn addr(h: &Handle, dev: &str, net: &str) {
    let idx = h.link_index(dev).unwrap();
    h.addr_add_spec(&AddrSpec::new(idx, net.parse().unwrap()).nodad())
        .unwrap();
}

fn lab() -> Lab {
    let host = Handle::current().unwrap();
    let open = |name| Handle::new(netns::add_named(name, Source::New).unwrap()).unwrap();
    let outside = open("outside");
    host.link_set_up("lo").unwrap();
    outside.link_set_up("lo").unwrap();
    host.link_add(
        &Veth::new("vout", "eth0")
            .peer_netns(outside.ns())
            .up()
            .peer_up(),
    )
    .unwrap();
    addr(&host, "vout", &format!("{HOST4}/24"));
    addr(&host, "vout", &format!("{HOST6}/64"));
    addr(&outside, "eth0", &format!("{OUT4}/24"));
    addr(&outside, "eth0", &format!("{OUT6}/64"));
    let mut ctr = Vec::new();
    let mut nets = Vec::new();
    for (i, (third, internal)) in [(88, false), (89, false), (90, true)]
        .into_iter()
        .enumerate()
    {
        let br = format!("wbr{i}");
        let c = open(["ctr", "ctr2", "ctr3"][i]);
        c.link_set_up("lo").unwrap();
        host.link_add(&Bridge::new(br.as_str()).up()).unwrap();
        let bidx = host.link_index(&br).unwrap();
        let port = format!("vc{i}");
        host.link_add(
            &Veth::new(port.as_str(), "eth0")
                .peer_netns(c.ns())
                .master(bidx)
                .up()
                .peer_up(),
        )
        .unwrap();
        // Hairpin: a container reaching its own published port through the host.
        let hairpin = BridgePortOptions {
            hairpin: Some(true),
            ..Default::default()
        };
        host.bridge_port_set(&port, &hairpin).unwrap();
        addr(&host, &br, &format!("10.{third}.0.1/24"));
        addr(&host, &br, &format!("fd{third}::1/64"));
        addr(&c, "eth0", &format!("10.{third}.0.2/24"));
        addr(&c, "eth0", &format!("fd{third}::2/64"));
        c.route_add(&RouteSpec::default_v4().via(format!("10.{third}.0.1").parse().unwrap()))
            .unwrap();
        c.route_add(&RouteSpec::default_v6().via(format!("fd{third}::1").parse().unwrap()))
            .unwrap();
        sysctl::set(
            host.ns(),
            &format!("net.ipv4.conf.{br}.route_localnet"),
            "1",
        )
        .unwrap();
        ctr.push(c);
        nets.push(network(
            &br,
            &[&format!("10.{third}.0.0/24"), &format!("fd{third}::/64")],
            internal,
        ));
    }
    sysctl::forwarding(host.ns(), true).unwrap();
    let nft = Nft::new(host.ns()).unwrap();
    let fw = Firewall::new("warren");
    nft.apply(&fw.rebuild(&nets, &[]).unwrap()).unwrap();
    // IPv6 neighbours need a moment even without DAD; wait until the gateway answers.
    for (i, c) in ctr.iter().enumerate() {
        let gw: IpAddr = format!("fd{}::1", 88 + i).parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while warren_testkit::net::ping(c.ns(), gw).is_err() && Instant::now() < deadline {}
    }
    Lab {
        host,
        outside,
        ctr,
        nft,
        fw,
        nets,
    }
}

const WAIT: Duration = Duration::from_secs(2);

/// A TCP server in `ns` on `port` (of `v6`'s family) accepting one connection for a while.
fn tcp_server(ns: &NetNs, port: u16, v6: bool) -> std::thread::JoinHandle<Option<SocketAddr>> {
    let any: IpAddr = if v6 {
        "::".parse().unwrap()
    } else {
        "0.0.0.0".parse().unwrap()
    };
    let l = ns
        .run(|| Ok(TcpListener::bind(SocketAddr::new(any, port))))
        .unwrap()
        .unwrap_or_else(|e| panic!("listen on {port}: {e}"));
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT + WAIT;
        while Instant::now() < deadline {
            match l.accept() {
                Ok((mut s, peer)) => {
                    s.set_nonblocking(false).ok()?;
                    s.set_read_timeout(Some(WAIT)).ok()?;
                    let mut buf = [0u8; 5];
                    s.read_exact(&mut buf).ok()?;
                    s.write_all(b"pong\n").ok()?;
                    return Some(peer);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        None
    })
}

/// Connect from `from` to `to` while a server in `server` listens on `port`; the address the
/// server saw, or the client's error.
fn tcp(from: &NetNs, to: &str, server: &NetNs, port: u16) -> std::io::Result<IpAddr> {
    let to: SocketAddr = to.parse().unwrap();
    let srv = tcp_server(server, port, to.is_ipv6());
    let client = from
        .run(|| {
            Ok((|| -> std::io::Result<()> {
                let mut c = TcpStream::connect_timeout(&to, WAIT)?;
                c.set_read_timeout(Some(WAIT))?;
                c.write_all(b"ping\n")?;
                let mut buf = [0u8; 5];
                c.read_exact(&mut buf)?;
                Ok(())
            })())
        })
        .unwrap();
    let peer = srv.join().unwrap();
    client?;
    peer.map(|p| p.ip())
        .ok_or_else(|| std::io::Error::other("the server saw no connection"))
}

/// A UDP exchange from `from` to `to`, echoed by a server in `server` on `port`; the
/// address the server saw.
fn udp(from: &NetNs, to: &str, server: &NetNs, port: u16) -> std::io::Result<IpAddr> {
    let to: SocketAddr = to.parse().unwrap();
    let any: IpAddr = if to.is_ipv6() {
        "::".parse().unwrap()
    } else {
        "0.0.0.0".parse().unwrap()
    };
    let srv = server
        .run(|| Ok(UdpSocket::bind(SocketAddr::new(any, port))))
        .unwrap()?;
    srv.set_read_timeout(Some(WAIT))?;
    let cli = from
        .run(|| Ok(UdpSocket::bind(SocketAddr::new(any, 0))))
        .unwrap()?;
    cli.set_read_timeout(Some(WAIT))?;
    cli.send_to(b"ping", to)?;
    let mut buf = [0u8; 16];
    let (n, peer) = srv.recv_from(&mut buf)?;
    srv.send_to(&buf[..n], peer)?;
    let (m, _) = cli.recv_from(&mut buf)?;
    assert_eq!(&buf[..m], b"ping");
    Ok(peer.ip())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn publish(l: &Lab, ports: &[PortRule]) {
    l.nft.apply(&l.fw.publish(ports).unwrap()).unwrap();
}

sandbox_test! {
    fn published_ports_reach_the_container_from_everywhere() {
        let l = lab();
        let (host, out, ctr) = (l.host.ns(), l.outside.ns(), l.ctr[0].ns());
        assert!(tcp(out, &format!("{HOST4}:8080"), ctr, 80).is_err(), "nothing published yet");
        publish(&l, &[
            port(None, Proto::Tcp, 8080, "10.88.0.2", 80),
            port(None, Proto::Tcp, 8080, "fd88::2", 80),
            port(None, Proto::Udp, 5300, "10.88.0.2", 53),
            port(None, Proto::Udp, 5300, "fd88::2", 53),
            port(Some("127.0.0.1"), Proto::Tcp, 8081, "10.88.0.2", 81),
            port(Some("::1"), Proto::Tcp, 8081, "fd88::2", 81),
        ]);
        // From the outside: the container sees the client's real address.
        assert_eq!(tcp(out, &format!("{HOST4}:8080"), ctr, 80).unwrap(), ip(OUT4));
        assert_eq!(tcp(out, &format!("[{HOST6}]:8080"), ctr, 80).unwrap(), ip(OUT6));
        assert_eq!(udp(out, &format!("{HOST4}:5300"), ctr, 53).unwrap(), ip(OUT4));
        assert_eq!(udp(out, &format!("[{HOST6}]:5300"), ctr, 53).unwrap(), ip(OUT6));
        // From the host, on its own outside address and on loopback (masqueraded to the
        // bridge's address: a 127/8 or ::1 source cannot leave the host).
        assert_eq!(tcp(host, &format!("{HOST4}:8080"), ctr, 80).unwrap(), ip(HOST4));
        assert_eq!(tcp(host, "127.0.0.1:8080", ctr, 80).unwrap(), ip("10.88.0.1"));
        assert_eq!(tcp(host, "127.0.0.1:8081", ctr, 81).unwrap(), ip("10.88.0.1"));
        // ::1 needs the bridge not to run IPv6 netfilter hooks, and a route letting the
        // reply (translated back to ::1) in on the bridge; without them it fails.
        assert!(tcp(host, "[::1]:8080", ctr, 80).is_err());
        sysctl::set(host, "net.bridge.bridge-nf-call-ip6tables", "0").unwrap();
        assert!(tcp(host, "[::1]:8080", ctr, 80).is_err());
        let wbr0 = l.host.link_index("wbr0").unwrap();
        l.host.route_add(&loopback6_reply_route(wbr0)).unwrap();
        assert_eq!(tcp(host, "[::1]:8080", ctr, 80).unwrap(), ip("fd88::1"));
        assert_eq!(tcp(host, "[::1]:8081", ctr, 81).unwrap(), ip("fd88::1"));
        assert_eq!(tcp(host, "[::1]:8080", ctr, 80).unwrap(), ip("fd88::1"));
        // Hairpin: the container reaches itself through the host's address, and sees the
        // host as the client (else its reply would bypass the translation).
        assert_eq!(tcp(ctr, &format!("{HOST4}:8080"), ctr, 80).unwrap(), ip("10.88.0.1"));
        assert_eq!(tcp(ctr, &format!("[{HOST6}]:8080"), ctr, 80).unwrap(), ip("fd88::1"));
        // Published on 127.0.0.1 / ::1 only: not reachable through the host's other addresses.
        assert!(tcp(out, &format!("{HOST4}:8081"), ctr, 81).is_err());
        assert!(tcp(out, &format!("[{HOST6}]:8081"), ctr, 81).is_err());
        assert!(tcp(host, &format!("{HOST4}:8081"), ctr, 81).is_err());

        // Unpublished: refused.
        l.nft
            .apply(&l.fw.unpublish(&[port(None, Proto::Tcp, 8080, "10.88.0.2", 80)]).unwrap())
            .unwrap();
        let e = tcp(out, &format!("{HOST4}:8080"), ctr, 80).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        assert_eq!(tcp(out, &format!("[{HOST6}]:8080"), ctr, 80).unwrap(), ip(OUT6));
    }
}

sandbox_test! {
    fn ten_thousand_ports_cost_one_lookup() {
        let l = lab();
        let many: Vec<PortRule> = (20000..30000u16)
            .map(|p| port(None, Proto::Tcp, p, "10.88.0.3", p))
            .collect();
        let b = l.fw.publish(&many).unwrap();
        let t = Instant::now();
        l.nft.apply(&b).unwrap();
        eprintln!("10,000 ports published in one transaction in {:?}", t.elapsed());
        publish(&l, &[port(None, Proto::Tcp, 8080, "10.88.0.2", 80)]);
        assert_eq!(
            tcp(l.outside.ns(), &format!("{HOST4}:8080"), l.ctr[0].ns(), 80).unwrap(),
            ip(OUT4)
        );
        let t = Instant::now();
        l.nft.apply(&l.fw.unpublish(&many).unwrap()).unwrap();
        eprintln!("and unpublished in {:?}", t.elapsed());
    }
}

sandbox_test! {
    fn masquerade_isolation_and_internal_networks() {
        let l = lab();
        let out = l.outside.ns();
        let (a, b, i) = (l.ctr[0].ns(), l.ctr[1].ns(), l.ctr[2].ns());
        // Outbound: the outside sees the host's address (it has no route to the subnets).
        assert_eq!(tcp(a, &format!("{OUT4}:9000"), out, 9000).unwrap(), ip(HOST4));
        assert_eq!(tcp(a, &format!("[{OUT6}]:9000"), out, 9000).unwrap(), ip(HOST6));
        assert_eq!(tcp(b, &format!("{OUT4}:9000"), out, 9000).unwrap(), ip(HOST4));
        assert_eq!(udp(b, &format!("[{OUT6}]:9001"), out, 9001).unwrap(), ip(HOST6));
        // Between networks: nothing, either way, either family.
        assert!(tcp(a, "10.89.0.2:9000", b, 9000).is_err());
        assert!(tcp(b, "10.88.0.2:9000", a, 9000).is_err());
        assert!(tcp(a, "[fd89::2]:9000", b, 9000).is_err());
        assert!(tcp(b, "10.90.0.2:9000", i, 9000).is_err());
        // Internal: no way out, no way in from other networks; the host itself still talks
        // to it (that is not forwarding).
        assert!(tcp(i, &format!("{OUT4}:9000"), out, 9000).is_err());
        assert!(tcp(i, &format!("[{OUT6}]:9000"), out, 9000).is_err());
        assert!(tcp(i, "10.88.0.2:9000", a, 9000).is_err());
        assert_eq!(tcp(l.host.ns(), "10.90.0.2:9000", i, 9000).unwrap(), ip("10.90.0.1"));
        assert_eq!(tcp(i, "10.90.0.1:9000", l.host.ns(), 9000).unwrap(), ip("10.90.0.2"));

        // A published port of network b is reachable from network a through the host's
        // address (as from anywhere), masqueraded like hairpin traffic; not from internal.
        publish(&l, &[port(None, Proto::Tcp, 8080, "10.89.0.2", 80)]);
        assert_eq!(tcp(a, &format!("{HOST4}:8080"), b, 80).unwrap(), ip("10.89.0.1"));
        assert_eq!(tcp(out, &format!("{HOST4}:8080"), b, 80).unwrap(), ip(OUT4));
        assert!(tcp(i, &format!("{HOST4}:8080"), b, 80).is_err());

        // Removing network b: its traffic is no longer masqueraded nor isolated.
        l.nft.apply(&l.fw.remove_network(&l.nets[1]).unwrap()).unwrap();
        assert!(tcp(b, &format!("{OUT4}:9000"), out, 9000).is_err(), "no masquerade: no route back");
        // (a's traffic to it now counts as leaving a's network: masqueraded.)
        assert_eq!(tcp(a, "10.89.0.2:9000", b, 9000).unwrap(), ip("10.89.0.1"));
    }
}

sandbox_test! {
    fn rebuild_after_a_flushed_ruleset_restores_everything() {
        if !have_nft() {
            return;
        }
        let l = lab();
        let ports = [port(None, Proto::Tcp, 8080, "10.88.0.2", 80)];
        publish(&l, &ports);
        let (out, ctr) = (l.outside.ns(), l.ctr[0].ns());
        assert_eq!(tcp(out, &format!("{HOST4}:8080"), ctr, 80).unwrap(), ip(OUT4));
        warren_testkit::run("nft", &["flush", "ruleset"]);
        assert!(!l.fw.exists(&l.nft).unwrap());
        assert!(tcp(out, &format!("{HOST4}:8080"), ctr, 80).is_err());
        assert!(tcp(ctr, &format!("{OUT4}:9000"), out, 9000).is_err());
        l.nft.apply(&l.fw.rebuild(&l.nets, &ports).unwrap()).unwrap();
        assert_eq!(tcp(out, &format!("{HOST4}:8080"), ctr, 80).unwrap(), ip(OUT4));
        assert_eq!(tcp(ctr, &format!("{OUT4}:9000"), out, 9000).unwrap(), ip(HOST4));
    }
}

sandbox_test! {
    fn flush_port_deletes_the_conntrack_entries_of_a_port() {
        let l = lab();
        publish(&l, &[
            port(None, Proto::Udp, 5300, "10.88.0.2", 53),
            port(None, Proto::Udp, 5300, "fd88::2", 53),
        ]);
        let (out, ctr) = (l.outside.ns(), l.ctr[0].ns());
        udp(out, &format!("{HOST4}:5300"), ctr, 53).unwrap();
        udp(out, &format!("[{HOST6}]:5300"), ctr, 53).unwrap();
        udp(out, &format!("{HOST4}:5301"), ctr, 5301).unwrap_err();
        let entries = conntrack::list(l.host.ns()).unwrap();
        let of_port = |p: u16| {
            conntrack::list(l.host.ns())
                .unwrap()
                .into_iter()
                .filter(|t| t.proto == 17 && t.dport == p)
                .count()
        };
        assert_eq!(of_port(5300), 2, "{entries:?}");
        let other = of_port(5301);
        assert_eq!(conntrack::flush_port(l.host.ns(), Proto::Tcp, 5300).unwrap(), 0);
        assert_eq!(conntrack::flush_port(l.host.ns(), Proto::Udp, 5300).unwrap(), 2);
        assert_eq!(of_port(5300), 0);
        assert_eq!(of_port(5301), other, "other ports' entries stay");
        assert_eq!(conntrack::flush_port(l.host.ns(), Proto::Udp, 5300).unwrap(), 0);
    }
}
