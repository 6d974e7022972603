//! nf_tables over netlink: the encoder byte for byte against the uapi layout, and the kernel
//! taking warren's batches (read back with `nft -j`), real DNAT through the port map,
//! masquerade, and refused batches leaving nothing behind.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use nix::errno::Errno;
use serde_json::Value;
use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::nft::{
    Batch, Chain, ChainType, CmpOp, Expr, Family, Hook, MetaKey, Nft, PortMap, Proto, Reg, Rule,
    Table, Verdict,
};
use warren_kernel::route::RouteSpec;
use warren_kernel::{Error, Handle, NetNs, sysctl};
use warren_testkit::oracle::ns_path;
use warren_testkit::{net, sandbox_test};

/// The object message of a batch holding exactly one: without the begin and end messages.
fn only_message(b: &Batch) -> Vec<u8> {
    let all = b.to_bytes(1);
    all[20..all.len() - 20].to_vec()
}

/// nlmsghdr + nfgenmsg of an nf_tables message (little-endian host).
fn header(len: u32, msg: u8, flags: u16, seq: u32, family: u8) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&len.to_le_bytes());
    h.extend_from_slice(&[msg, 10]); // NFNL_SUBSYS_NFTABLES << 8 | msg
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&seq.to_le_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, family, 0, 0, 0]);
    h
}

#[cfg(target_endian = "little")]
#[test]
fn batch_of_a_table_is_begin_newtable_end() {
    let mut b = Batch::new();
    b.add_table(&Table::new(Family::Ip, "warren"));
    let all = b.to_bytes(1);
    // BATCH_BEGIN: type 0x10, NLM_F_REQUEST, seq 1, AF_UNSPEC, res_id NFNL_SUBSYS_NFTABLES (be).
    let begin = [
        20, 0, 0, 0, 0x10, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
    ];
    let end = [
        20, 0, 0, 0, 0x11, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
    ];
    // NEWTABLE, REQUEST|ACK|CREATE, seq 2, NFPROTO_IPV4; NFTA_TABLE_NAME, NFTA_TABLE_FLAGS 0.
    let mut table = header(40, 0, 0x405, 2, 2);
    table.extend_from_slice(&[11, 0, 1, 0, b'w', b'a', b'r', b'r', b'e', b'n', 0, 0]);
    table.extend_from_slice(&[8, 0, 2, 0, 0, 0, 0, 0]);
    let mut want = begin.to_vec();
    want.extend(table);
    want.extend(end);
    assert_eq!(all, want);
}

#[cfg(target_endian = "little")]
#[test]
fn base_chain_bytes() {
    let t = Table::new(Family::Ip, "warren");
    let mut b = Batch::new();
    b.add_chain(&Chain::base(
        &t,
        "prerouting",
        ChainType::Nat,
        Hook::Prerouting,
        -100,
    ));
    let mut want = header(20 + 12 + 16 + 20 + 8 + 8, 3, 0x405, 2, 2);
    want.extend_from_slice(&[11, 0, 1, 0, b'w', b'a', b'r', b'r', b'e', b'n', 0, 0]);
    want.extend_from_slice(&[15, 0, 3, 0]);
    want.extend_from_slice(b"prerouting\0\0");
    // NFTA_CHAIN_HOOK (nested): HOOKNUM 0 (prerouting), PRIORITY -100, both big-endian.
    want.extend_from_slice(&[
        20, 0, 4, 0x80, 8, 0, 1, 0, 0, 0, 0, 0, 8, 0, 2, 0, 0xff, 0xff, 0xff, 0x9c,
    ]);
    want.extend_from_slice(&[8, 0, 5, 0, 0, 0, 0, 1]); // NFTA_CHAIN_POLICY NF_ACCEPT
    want.extend_from_slice(&[8, 0, 7, 0, b'n', b'a', b't', 0]); // NFTA_CHAIN_TYPE
    assert_eq!(only_message(&b), want);
}

#[cfg(target_endian = "little")]
#[test]
fn rule_bytes() {
    let t = Table::new(Family::Ip, "warren");
    let c = Chain::regular(&t, "c");
    let rule = Rule::new(
        &c,
        vec![
            Expr::Meta {
                key: MetaKey::L4Proto,
                dreg: Reg::R0,
            },
            Expr::Cmp {
                sreg: Reg::R0,
                op: CmpOp::Eq,
                data: vec![6],
            },
            Expr::verdict(Verdict::Accept),
        ],
    );
    let mut b = Batch::new();
    b.add_rule(&rule);
    // NEWRULE, REQUEST|ACK|CREATE|APPEND.
    let mut want = header(20 + 12 + 8 + 132, 6, 0xc05, 2, 2);
    want.extend_from_slice(&[11, 0, 1, 0, b'w', b'a', b'r', b'r', b'e', b'n', 0, 0]);
    want.extend_from_slice(&[6, 0, 2, 0, b'c', 0, 0, 0]);
    want.extend_from_slice(&[132, 0, 4, 0x80]); // NFTA_RULE_EXPRESSIONS
    // [ meta load l4proto => reg 1 ] (NFT_REG32_00 = 8, NFT_META_L4PROTO = 16)
    want.extend_from_slice(&[
        36, 0, 1, 0x80, 9, 0, 1, 0, b'm', b'e', b't', b'a', 0, 0, 0, 0,
    ]);
    want.extend_from_slice(&[
        20, 0, 2, 0x80, 8, 0, 1, 0, 0, 0, 0, 8, 8, 0, 2, 0, 0, 0, 0, 16,
    ]);
    // [ cmp eq reg 1 0x06 ]
    want.extend_from_slice(&[44, 0, 1, 0x80, 8, 0, 1, 0, b'c', b'm', b'p', 0]);
    want.extend_from_slice(&[
        32, 0, 2, 0x80, 8, 0, 1, 0, 0, 0, 0, 8, 8, 0, 2, 0, 0, 0, 0, 0,
    ]);
    want.extend_from_slice(&[12, 0, 3, 0x80, 5, 0, 1, 0, 6, 0, 0, 0]);
    // [ immediate reg 0 accept ]
    want.extend_from_slice(&[48, 0, 1, 0x80, 14, 0, 1, 0]);
    want.extend_from_slice(b"immediate\0\0\0");
    want.extend_from_slice(&[28, 0, 2, 0x80, 8, 0, 1, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[16, 0, 2, 0x80, 12, 0, 2, 0x80, 8, 0, 1, 0, 0, 0, 0, 1]);
    assert_eq!(only_message(&b), want);
}

/// `nft -j ARGS` inside `ns`.
fn nft_json(ns: &NetNs, args: &[&str]) -> Value {
    let path = format!("--net={}", ns_path(ns));
    let mut full = vec![path.as_str(), "nft", "-j"];
    full.extend_from_slice(args);
    let out = warren_testkit::run("nsenter", &full);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("nft -j {args:?}: {e}: {out}"))
}

/// The objects of kind `kind` ("table", "chain", "set", "map", "rule") in the ruleset.
fn objects(ns: &NetNs, kind: &str) -> Vec<Value> {
    nft_json(ns, &["list", "ruleset"])["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get(kind).cloned())
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

fn have_nft() -> bool {
    if std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    warren_testkit::skip("nft (package nftables) is not installed: no oracle");
    false
}

sandbox_test! {
    fn port_map_installs_in_its_own_table() {
        if !have_nft() {
            return;
        }
        let ns = NetNs::current().unwrap();
        // Someone else's table, which warren must leave alone.
        let other = Table::new(Family::Inet, "theirs");
        let nft = Nft::new(&ns).unwrap();
        let mut b = Batch::new();
        b.add_table(&other)
            .add_chain(&Chain::base(&other, "input", ChainType::Filter, Hook::Input, 0));
        nft.apply(&b).unwrap();

        let pm = PortMap::new("warren");
        nft.apply(&pm.install()).unwrap();
        // Installing again replaces the table atomically instead of failing or duplicating.
        nft.apply(&pm.install()).unwrap();
        nft.apply(&pm.publish(Proto::Tcp, 8080, Ipv4Addr::new(10, 88, 0, 2), 80)).unwrap();
        nft.apply(&pm.publish(Proto::Udp, 5353, Ipv4Addr::new(10, 88, 0, 3), 53)).unwrap();

        // The DNAT rule's expressions are the ones `nft` itself sends for
        // `fib daddr type local dnat ip to meta l4proto . th dport map @ports`.
        let path = format!("--net={}", ns_path(&ns));
        let debug = warren_testkit::run(
            "nsenter",
            &[&path, "nft", "--debug=netlink", "list", "table", "ip", "warren"],
        );
        let want = [
            "[ fib daddr type => reg 1 ]",
            "[ cmp eq reg 1 0x00000002 ]",
            "[ meta load l4proto => reg 1 ]",
            "[ payload load 2b @ transport header + 2 => reg 9 ]",
            "[ lookup reg 1 set ports dreg 1 0x0 ]",
            "[ nat dnat ip addr_min reg 1 addr_max reg 1 proto_min reg 9 proto_max reg 9 flags 0x3 ]",
        ];
        for chain in ["prerouting", "output"] {
            let start = debug.find(&format!("ip warren {chain} ")).unwrap_or_else(|| panic!("{debug}"));
            let got: Vec<&str> = debug[start..].lines().skip(1).take(6).map(str::trim).collect();
            assert_eq!(got, want, "{debug}");
        }
        let tables = objects(&ns, "table");
        assert_eq!(names(&tables), ["theirs", "warren"]);
        let chains: Vec<Value> = objects(&ns, "chain")
            .into_iter()
            .filter(|c| c["table"] == "warren")
            .collect();
        assert_eq!(names(&chains), ["output", "postrouting", "prerouting"]);
        for c in &chains {
            assert_eq!(c["type"], "nat");
            assert_eq!(c["policy"], "accept");
        }
        let pre = chains.iter().find(|c| c["name"] == "prerouting").unwrap();
        assert_eq!(pre["hook"], "prerouting");
        assert_eq!(pre["prio"], -100);
        let maps = objects(&ns, "map");
        assert_eq!(names(&maps), ["ports"]);
        assert_eq!(maps[0]["family"], "ip");
        let rules: Vec<Value> = objects(&ns, "rule")
            .into_iter()
            .filter(|r| r["table"] == "warren")
            .collect();
        assert_eq!(rules.len(), 2, "one DNAT rule in prerouting and one in output: {rules:?}");
        // nft 1.0.6 cannot print values of a concatenated map type in JSON; the text form
        // shows the elements.
        let text = warren_testkit::run("nsenter", &[&path, "nft", "list", "map", "ip", "warren", "ports"]);
        assert!(text.contains("tcp . 8080 : 10.88.0.2 . 80"), "{text}");
        assert!(text.contains("udp . 5353 : 10.88.0.3 . 53"), "{text}");

        // Publishing the same host port twice is refused and names the map.
        let e = nft.apply(&pm.publish(Proto::Tcp, 8080, Ipv4Addr::new(10, 88, 0, 9), 80)).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EEXIST), "{e}");
        assert!(e.to_string().contains("add element to map ip warren ports"), "{e}");

        nft.apply(&pm.unpublish(Proto::Udp, 5353)).unwrap();
        let text = warren_testkit::run("nsenter", &[&path, "nft", "list", "map", "ip", "warren", "ports"]);
        assert!(!text.contains("5353"), "{text}");
        let e = nft.apply(&pm.unpublish(Proto::Udp, 5353)).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOENT), "{e}");

        nft.apply(&pm.uninstall()).unwrap();
        assert_eq!(names(&objects(&ns, "table")), ["theirs"]);
        let theirs = objects(&ns, "chain");
        assert_eq!(theirs.len(), 1);
        assert_eq!(theirs[0]["policy"], "accept");
    }
}

sandbox_test! {
    fn failing_batch_names_the_object_and_changes_nothing() {
        if !have_nft() {
            return;
        }
        let ns = NetNs::current().unwrap();
        let nft = Nft::new(&ns).unwrap();

        let long = "t".repeat(300);
        let e = nft.apply(Batch::new().add_table(&Table::new(Family::Inet, &long))).unwrap_err();
        assert!(matches!(e, Error::Netlink { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("add table inet {long}")), "{e}");
        assert_eq!(e.errno(), Some(Errno::ERANGE), "{e}");

        let t = Table::new(Family::Inet, "partial");
        let c = Chain::regular(&t, "c");
        let mut b = Batch::new();
        b.add_table(&t)
            .add_chain(&c)
            .add_rule(&Rule::new(&c, vec![Expr::verdict(Verdict::Jump("nowhere".into()))]));
        let e = nft.apply(&b).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOENT), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("add rule in chain inet partial c [immediate]"), "{msg}");
        assert!(objects(&ns, "table").is_empty(), "the transaction left state behind");
    }
}

/// Accept one TCP connection on `listener`'s thread, exchange a line, return the peer.
fn serve_once(ns: &NetNs, port: u16) -> std::thread::JoinHandle<std::io::Result<SocketAddr>> {
    let listener = net::tcp_listen(ns, SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    std::thread::spawn(move || {
        let (mut s, peer) = listener.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf)?;
        s.write_all(b"pong\n")?;
        Ok(peer)
    })
}

fn connect(from: &NetNs, to: SocketAddr) -> std::io::Result<()> {
    from.run(|| {
        Ok((|| {
            let mut c = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
            c.set_read_timeout(Some(Duration::from_secs(3)))?;
            c.write_all(b"ping\n")?;
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf)?;
            Ok(())
        })())
    })
    .unwrap()
}

struct Lab {
    host: Handle,
    ctr: Handle,
    client: Handle,
}

/// client eth0 192.168.5.2 -- h-cl 192.168.5.1 | host | h-c 10.88.0.1 -- eth0 10.88.0.2 ctr
fn wire() -> Lab {
    let open = |name| Handle::new(netns::add_named(name, Source::New).unwrap()).unwrap();
    let (host, ctr, client) = (open("host"), open("ctr"), open("client"));
    for h in [&host, &ctr, &client] {
        h.link_set_up("lo").unwrap();
    }
    host.link_add(&Veth::new("h-c", "eth0").peer_netns(ctr.ns()).up().peer_up())
        .unwrap();
    host.link_add(
        &Veth::new("h-cl", "eth0")
            .peer_netns(client.ns())
            .up()
            .peer_up(),
    )
    .unwrap();
    for (h, dev, a) in [
        (&host, "h-c", "10.88.0.1/24"),
        (&host, "h-cl", "192.168.5.1/24"),
        (&ctr, "eth0", "10.88.0.2/24"),
        (&client, "eth0", "192.168.5.2/24"),
    ] {
        let idx = h.link_index(dev).unwrap();
        h.addr_add(idx, a.parse().unwrap()).unwrap();
    }
    ctr.route_add(&RouteSpec::default_v4().via("10.88.0.1".parse().unwrap()))
        .unwrap();
    sysctl::forwarding(host.ns(), true).unwrap();
    Lab { host, ctr, client }
}

sandbox_test! {
    fn published_port_reaches_the_container_with_the_client_address() {
        let lab = wire();
        let nft = Nft::new(lab.host.ns()).unwrap();
        let pm = PortMap::new("warren");
        nft.apply(&pm.install()).unwrap();
        let published: SocketAddr = "192.168.5.1:8080".parse().unwrap();
        assert!(connect(lab.client.ns(), published).is_err(), "nothing published yet");

        nft.apply(&pm.publish(Proto::Tcp, 8080, Ipv4Addr::new(10, 88, 0, 2), 80)).unwrap();
        // Many other published ports cost nothing per connection: one map lookup.
        let many: Vec<_> = (20000..30000u16)
            .map(|p| (Proto::Tcp, p, Ipv4Addr::new(10, 88, 0, 3), p))
            .collect();
        let many = pm.publish_many(&many);
        nft.apply(&many).unwrap();

        let server = serve_once(lab.ctr.ns(), 80);
        connect(lab.client.ns(), published).unwrap();
        let peer = server.join().unwrap().unwrap();
        assert_eq!(peer.ip(), "192.168.5.2".parse::<IpAddr>().unwrap(), "real client address");

        // From the host itself, through the output chain.
        let server = serve_once(lab.ctr.ns(), 80);
        connect(lab.host.ns(), published).unwrap();
        server.join().unwrap().unwrap();

        nft.apply(&pm.unpublish(Proto::Tcp, 8080)).unwrap();
        let server = serve_once(lab.ctr.ns(), 80);
        let e = connect(lab.client.ns(), published).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
        // Unblock the acceptor.
        connect(lab.ctr.ns(), "127.0.0.1:80".parse().unwrap()).unwrap();
        server.join().unwrap().unwrap();
    }
}

sandbox_test! {
    fn masquerade_rewrites_the_source_leaving_the_host() {
        let lab = wire();
        let nft = Nft::new(lab.host.ns()).unwrap();
        let pm = PortMap::new("warren");
        nft.apply(&pm.install()).unwrap();
        let to: SocketAddr = "192.168.5.2:9000".parse().unwrap();
        // The client has no route back to 10.88.0.0/24: without masquerade, no answer.
        let server = serve_once(lab.client.ns(), 9000);
        assert!(connect(lab.ctr.ns(), to).is_err());
        connect(lab.client.ns(), to).unwrap();
        server.join().unwrap().unwrap();

        assert!(pm.masquerade(Ipv4Addr::new(10, 88, 0, 0), 33, "h-c").is_err());
        assert!(pm.masquerade(Ipv4Addr::new(10, 88, 0, 0), 24, "sixteen-chars-xx").is_err());
        nft.apply(&pm.masquerade(Ipv4Addr::new(10, 88, 0, 0), 24, "h-c").unwrap()).unwrap();
        let server = serve_once(lab.client.ns(), 9000);
        connect(lab.ctr.ns(), to).unwrap();
        let peer = server.join().unwrap().unwrap();
        assert_eq!(peer.ip(), "192.168.5.1".parse::<IpAddr>().unwrap());
    }
}

sandbox_test! {
    fn filter_rules_read_back_as_nft_would_write_them() {
        if !have_nft() {
            return;
        }
        use warren_kernel::nft::expr::ct_state;
        use warren_kernel::nft::{CtKey, DataType, Element, MapTo, PayloadBase, Set};
        let ns = NetNs::current().unwrap();
        let nft = Nft::new(&ns).unwrap();
        let t = Table::new(Family::Ip, "wf");
        let fwd = Chain::base(&t, "forward", ChainType::Filter, Hook::Forward, 0);
        let inbound = Chain::regular(&t, "inbound");
        let blocked = Set::new(&t, "blocked", &[DataType::Ipv4Addr]);
        let svc = Set::new(&t, "svc", &[DataType::InetService]).map_to(MapTo::Verdict);
        let mut ifname = [0u8; 16];
        ifname[..4].copy_from_slice(b"eth0");
        let mut b = Batch::new();
        b.add_table(&t)
            .add_chain(&inbound)
            .add_chain(&fwd)
            .add_set(&blocked)
            .add_set(&svc)
            .add_elements(&blocked, &[Element::key(vec![192, 0, 2, 7])], false)
            .add_elements(
                &svc,
                &[
                    Element::verdict(22u16.to_be_bytes().to_vec(), Verdict::Accept),
                    Element::verdict(23u16.to_be_bytes().to_vec(), Verdict::Drop),
                ],
                false,
            )
            .add_rule(&Rule::new(
                &fwd,
                vec![
                    Expr::Ct { key: CtKey::State, dreg: Reg::R0 },
                    Expr::Bitwise {
                        sreg: Reg::R0,
                        dreg: Reg::R0,
                        mask: (ct_state::ESTABLISHED | ct_state::RELATED).to_ne_bytes().to_vec(),
                        xor: vec![0; 4],
                    },
                    Expr::Cmp { sreg: Reg::R0, op: CmpOp::Neq, data: vec![0; 4] },
                    Expr::verdict(Verdict::Accept),
                ],
            ))
            .add_rule(&Rule::new(
                &fwd,
                vec![
                    Expr::Meta { key: MetaKey::IifName, dreg: Reg::R0 },
                    Expr::Cmp { sreg: Reg::R0, op: CmpOp::Eq, data: ifname.to_vec() },
                    Expr::verdict(Verdict::Jump("inbound".into())),
                ],
            ))
            .add_rule(&Rule::new(
                &inbound,
                vec![
                    Expr::Payload { base: PayloadBase::Network, offset: 12, len: 4, dreg: Reg::R0 },
                    Expr::Lookup {
                        set: "blocked".into(),
                        sreg: Reg::R0,
                        dreg: None,
                        verdict: false,
                        invert: false,
                    },
                    Expr::Counter,
                    Expr::verdict(Verdict::Drop),
                ],
            ))
            .add_rule(&Rule::new(
                &inbound,
                vec![
                    Expr::Meta { key: MetaKey::L4Proto, dreg: Reg::R0 },
                    Expr::Cmp { sreg: Reg::R0, op: CmpOp::Eq, data: vec![6] },
                    Expr::Payload { base: PayloadBase::Transport, offset: 2, len: 2, dreg: Reg::R0 },
                    Expr::Lookup {
                        set: "svc".into(),
                        sreg: Reg::R0,
                        dreg: None,
                        verdict: true,
                        invert: false,
                    },
                ],
            ))
            .add_rule(&Rule::new(&inbound, vec![Expr::verdict(Verdict::Return)]));
        nft.apply(&b).unwrap();

        let path = format!("--net={}", ns_path(&ns));
        let text = warren_testkit::run("nsenter", &[&path, "nft", "list", "table", "ip", "wf"]);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for want in [
            "type filter hook forward priority filter; policy accept;",
            "ct state established,related accept",
            "iifname \"eth0\" jump inbound",
            "ip saddr @blocked counter packets 0 bytes 0 drop",
            "tcp dport vmap @svc",
            "return",
            "elements = { 192.0.2.7 }",
        ] {
            assert!(lines.contains(&want), "missing {want:?} in:\n{text}");
        }
        assert!(text.contains("22 : accept") && text.contains("23 : drop"), "{text}");
    }
}
