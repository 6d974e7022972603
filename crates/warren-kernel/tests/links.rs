//! Kernel tests of links: each kind created over netlink and read back with `ip -j -d link`
//! (and `bridge -j fdb`), traffic checked with sockets inside namespaces, refusals checked for
//! their message and for leaving nothing behind.

use std::net::{IpAddr, SocketAddr};

use nix::errno::Errno;
use serde_json::Value;
use warren_kernel::addr::IpNet;
use warren_kernel::link::LinkSpec;
use warren_kernel::link::bridge::{Bridge, BridgePortOptions, FdbEntry, FdbState, FdbTarget};
use warren_kernel::link::ipvlan::{IpVlan, IpVlanFlag, IpVlanMode};
use warren_kernel::link::macvlan::{MacVlan, MacVlanMode};
use warren_kernel::link::set::LinkChange;
use warren_kernel::link::tuntap::{TunTapMode, TunTapOptions};
use warren_kernel::link::veth::Veth;
use warren_kernel::link::vxlan::Vxlan;
use warren_kernel::{Error, Handle, NetNs};
use warren_testkit::net::{ping, tcp_exchange};
use warren_testkit::{oracle, sandbox_test};

fn path(ns: &NetNs) -> String {
    oracle::ns_path(ns)
}

/// `ip -j -d link show NAME` in `ns`, which must exist.
fn link(ns: &NetNs, name: &str) -> Value {
    oracle::link_in(&path(ns), name).unwrap_or_else(|| panic!("no link {name} in {}", ns.label()))
}

fn info_data(l: &Value) -> &Value {
    &l["linkinfo"]["info_data"]
}

fn ip4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(h: &Handle, dev: &str, cidr: &str) {
    let idx = h.link_index(dev).unwrap();
    h.addr_add(idx, cidr.parse::<IpNet>().unwrap()).unwrap();
}

/// A new anonymous namespace with `lo` up and its handle.
fn anon(label: &str) -> Handle {
    let h = Handle::new(NetNs::new_anonymous(label).unwrap()).unwrap();
    h.link_set_up("lo").unwrap();
    h
}

sandbox_test! {
    fn veth_peer_created_inside_another_namespace_carries_traffic() {
        let here = Handle::current().unwrap();
        let red = anon("red");
        let spec = Veth::new("v0", "p0").peer_netns(red.ns()).up().peer_up().mtu(1400);
        here.link_add(&spec).unwrap();

        let v0 = link(here.ns(), "v0");
        assert_eq!(v0["linkinfo"]["info_kind"], "veth");
        assert_eq!(v0["mtu"], 1400);
        assert!(v0["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{v0}");
        assert!(oracle::link_in(&path(here.ns()), "p0").is_none(), "peer must not be here");
        let p0 = link(red.ns(), "p0");
        assert_eq!(p0["mtu"], 1400);
        assert!(p0["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{p0}");
        assert!(v0["link_netnsid"].is_number(), "peer seen through an nsid: {v0}");
        // One queue each way on both ends unless asked (the kernel's default is one per CPU).
        for l in [&v0, &p0] {
            assert_eq!((&l["num_tx_queues"], &l["num_rx_queues"]), (&1.into(), &1.into()), "{l}");
        }
        here.link_add(&Veth::new("v4", "p4").queues(4)).unwrap();
        for name in ["v4", "p4"] {
            let l = link(here.ns(), name);
            assert_eq!((&l["num_tx_queues"], &l["num_rx_queues"]), (&4.into(), &4.into()), "{l}");
        }

        addr(&here, "v0", "10.9.0.1/24");
        addr(&red, "p0", "10.9.0.2/24");
        ping(here.ns(), ip4("10.9.0.2")).unwrap();
        let seen = tcp_exchange(here.ns(), red.ns(), SocketAddr::new(ip4("10.9.0.2"), 5001)).unwrap();
        assert_eq!(seen.ip(), ip4("10.9.0.1"));
    }
}

sandbox_test! {
    fn veth_peer_index_and_macs_are_as_asked() {
        let here = Handle::current().unwrap();
        let red = anon("red");
        let spec = Veth::new("v0", "p0")
            .peer_netns(red.ns())
            .index(4241)
            .peer_index(4242)
            .mac([2, 0, 0, 0, 0, 1])
            .peer_mac([2, 0, 0, 0, 0, 2]);
        here.link_add(&spec).unwrap();
        let p0 = link(red.ns(), "p0");
        assert_eq!(p0["ifindex"], 4242);
        assert_eq!(p0["address"], "02:00:00:00:00:02");
        assert_eq!(link(here.ns(), "v0")["address"], "02:00:00:00:00:01");
        let l = here.link_get("v0").unwrap();
        assert_eq!(l.link, Some(4242));
        assert_eq!(l.kind.as_deref(), Some("veth"));
        assert_eq!(l.index, 4241);
        let e = Veth::new("v1", "p1").peer_index(4243).request().unwrap_err();
        assert!(e.to_string().contains("peer index"), "{e}");
    }
}

/// A bridge `br0` (up) with one namespace per address, each attached by a veth `hvN` whose
/// peer `eth0` is created inside the namespace with the address.
fn bridge_with(here: &Handle, addrs: &[&str]) -> Vec<Handle> {
    here.link_add(&Bridge::new("br0").stp(false).up()).unwrap();
    let br = here.link_index("br0").unwrap();
    let mut out = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let ns = anon(&format!("c{i}"));
        let spec = Veth::new(format!("hv{i}"), "eth0")
            .peer_netns(ns.ns())
            .master(br)
            .up()
            .peer_up();
        here.link_add(&spec).unwrap();
        addr(&ns, "eth0", a);
        out.push(ns);
    }
    out
}

sandbox_test! {
    fn bridge_with_three_namespaces_carries_tcp() {
        let here = Handle::current().unwrap();
        let c = bridge_with(&here, &["10.10.0.1/24", "10.10.0.2/24", "10.10.0.3/24"]);
        let br = link(here.ns(), "br0");
        assert_eq!(br["linkinfo"]["info_kind"], "bridge");
        assert_eq!(info_data(&br)["stp_state"], 0);
        for i in 0..3 {
            let hv = link(here.ns(), &format!("hv{i}"));
            assert_eq!(hv["master"], "br0", "{hv}");
            assert_eq!(hv["linkinfo"]["info_slave_kind"], "bridge");
        }
        let seen = tcp_exchange(c[0].ns(), c[1].ns(), "10.10.0.2:5002".parse().unwrap()).unwrap();
        assert_eq!(seen.ip(), ip4("10.10.0.1"));
        tcp_exchange(c[2].ns(), c[1].ns(), "10.10.0.2:5003".parse().unwrap()).unwrap();
    }
}

sandbox_test! {
    fn bridge_options_read_back() {
        let here = Handle::current().unwrap();
        let spec = Bridge::new("br1")
            .stp(true)
            .forward_delay(std::time::Duration::from_secs(4))
            .ageing_time(std::time::Duration::from_secs(120))
            .mtu(1450)
            .up();
        here.link_add(&spec).unwrap();
        let br = link(here.ns(), "br1");
        let d = info_data(&br);
        assert_eq!(d["stp_state"], 1, "{d}");
        assert_eq!(d["forward_delay"], 400);
        assert_eq!(d["ageing_time"], 12000);
        // vlan_filtering needs CONFIG_BRIDGE_VLAN_FILTERING: on or refused, never half-made.
        match here.link_add(&Bridge::new("br2").vlan_filtering(true)) {
            Ok(()) => assert_eq!(info_data(&link(here.ns(), "br2"))["vlan_filtering"], 1),
            Err(e) => {
                assert_eq!(e.errno(), Some(Errno::EOPNOTSUPP), "{e}");
                assert!(here.link_get("br2").is_err());
            }
        }
        // A bridge without ports reports the MTU it was given only once one is set; ip shows it.
        assert_eq!(br["mtu"], 1450);
    }
}

sandbox_test! {
    fn bridge_port_flags_read_back_and_isolation_blocks_traffic() {
        let here = Handle::current().unwrap();
        let c = bridge_with(&here, &["10.11.0.1/24", "10.11.0.2/24", "10.11.0.3/24"]);
        let isolated = BridgePortOptions { isolated: Some(true), ..Default::default() };
        here.bridge_port_set("hv0", &isolated).unwrap();
        here.bridge_port_set("hv1", &isolated).unwrap();
        let other = BridgePortOptions {
            hairpin: Some(true),
            learning: Some(false),
            mcast_flood: Some(false),
            ..Default::default()
        };
        here.bridge_port_set("hv2", &other).unwrap();

        let s0 = &link(here.ns(), "hv0")["linkinfo"]["info_slave_data"];
        assert_eq!(s0["isolated"], true, "{s0}");
        assert_eq!(s0["hairpin"], false);
        let s2 = &link(here.ns(), "hv2")["linkinfo"]["info_slave_data"];
        assert_eq!(s2["hairpin"], true, "{s2}");
        assert_eq!(s2["learning"], false);
        assert_eq!(s2["mcast_flood"], false);
        assert_eq!(s2["isolated"], false);

        // Isolated to non-isolated works; isolated to isolated does not.
        tcp_exchange(c[0].ns(), c[2].ns(), "10.11.0.3:5004".parse().unwrap()).unwrap();
        assert!(ping(c[0].ns(), ip4("10.11.0.2")).is_err(), "isolated ports must not talk");

        // Undo isolation on one and traffic flows.
        here.bridge_port_set("hv1", &BridgePortOptions { isolated: Some(false), ..Default::default() })
            .unwrap();
        tcp_exchange(c[0].ns(), c[1].ns(), "10.11.0.2:5005".parse().unwrap()).unwrap();
    }
}

fn fdb_json(args: &[&str]) -> Vec<Value> {
    let mut full = vec!["-j", "fdb", "show"];
    full.extend_from_slice(args);
    let out = warren_testkit::run("bridge", &full);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

sandbox_test! {
    fn fdb_entries_add_list_and_delete() {
        let here = Handle::current().unwrap();
        here.link_add(&Bridge::new("br0").up()).unwrap();
        let br = here.link_index("br0").unwrap();
        here.link_add(&Veth::new("hv0", "p0").master(br).up().peer_up()).unwrap();
        let port = here.link_index("hv0").unwrap();
        let mac = [2, 0xaa, 0, 0, 0, 1];
        let mut e = FdbEntry::new(mac, port);
        e.state = FdbState::Static;
        here.fdb_add(&e).unwrap();
        // Permanent (the default). VLAN entries need a kernel with bridge VLAN filtering,
        // which this one lacks (EINVAL).
        let v = FdbEntry::new([2, 0xaa, 0, 0, 0, 2], port);
        here.fdb_add(&v).unwrap();

        let shown = fdb_json(&["br", "br0"]);
        let one = shown.iter().find(|x| x["mac"] == "02:aa:00:00:00:01").expect("entry listed");
        assert_eq!(one["ifname"], "hv0");
        assert_eq!(one["state"], "static");
        let two = shown.iter().find(|x| x["mac"] == "02:aa:00:00:00:02").expect("second entry");
        assert_eq!(two["state"], "permanent");

        let ours = here.fdb_list(Some(br)).unwrap();
        let got = ours.iter().find(|x| x.mac == mac).expect("fdb_list has it");
        assert_eq!((got.port, got.master, got.state, got.target), (port, Some(br), FdbState::Static, FdbTarget::Master));
        assert!(ours.iter().any(|x| x.mac == v.mac && x.state == FdbState::Permanent));

        let again = here.fdb_add(&e).unwrap_err();
        assert_eq!(again.errno(), Some(Errno::EEXIST), "{again}");
        assert!(again.to_string().contains("02:aa:00:00:00:01"), "{again}");

        here.fdb_del(&e).unwrap();
        here.fdb_del(&v).unwrap();
        let left = fdb_json(&["br", "br0"]);
        assert!(!left.iter().any(|x| x["mac"] == "02:aa:00:00:00:01" || x["mac"] == "02:aa:00:00:00:02"), "{left:?}");
        assert!(here.fdb_list(Some(br)).unwrap().iter().all(|x| x.mac != mac));
    }
}

/// A veth `par`/`parp` in `here`, both up: a parent for macvlan/ipvlan/vxlan.
fn parent(here: &Handle, name: &str) -> u32 {
    here.link_add(&Veth::new(name, format!("{name}p")).up().peer_up())
        .unwrap();
    here.link_index(name).unwrap()
}

sandbox_test! {
    fn macvlan_bridge_mode_connects_two_namespaces() {
        let here = Handle::current().unwrap();
        let par = parent(&here, "par");
        let a = anon("a");
        let b = anon("b");
        here.link_add(&MacVlan::new("mv0", par, MacVlanMode::Bridge).netns(a.ns()).up()).unwrap();
        here.link_add(&MacVlan::new("mv1", par, MacVlanMode::Bridge).netns(b.ns()).up()).unwrap();
        let mv0 = link(a.ns(), "mv0");
        assert_eq!(mv0["linkinfo"]["info_kind"], "macvlan");
        assert_eq!(info_data(&mv0)["mode"], "bridge");
        addr(&a, "mv0", "10.12.0.1/24");
        addr(&b, "mv1", "10.12.0.2/24");
        let seen = tcp_exchange(a.ns(), b.ns(), "10.12.0.2:5006".parse().unwrap()).unwrap();
        assert_eq!(seen.ip(), ip4("10.12.0.1"));
    }
}

sandbox_test! {
    fn every_macvlan_mode_and_macvtap_read_back() {
        let here = Handle::current().unwrap();
        let par = parent(&here, "par");
        for mode in [MacVlanMode::Private, MacVlanMode::Vepa, MacVlanMode::Bridge] {
            let name = format!("mv-{}", mode.as_str());
            here.link_add(&MacVlan::new(name.as_str(), par, mode)).unwrap();
            assert_eq!(info_data(&link(here.ns(), &name))["mode"], mode.as_str());
        }
        let src = MacVlan::new("mv-source", par, MacVlanMode::Source)
            .source_macs(vec![[2, 0, 0, 0, 0, 0x10], [2, 0, 0, 0, 0, 0x11]]);
        here.link_add(&src).unwrap();
        let s = link(here.ns(), "mv-source");
        assert_eq!(info_data(&s)["mode"], "source");
        assert_eq!(info_data(&s)["macaddr_count"], 2, "{s}");

        let tap = MacVlan::new("mvt0", par, MacVlanMode::Vepa).tap();
        here.link_add(&tap).unwrap();
        let t = link(here.ns(), "mvt0");
        assert_eq!(t["linkinfo"]["info_kind"], "macvtap");
        assert_eq!(info_data(&t)["mode"], "vepa");

        // passthru takes the whole parent: give it one of its own.
        let solo = parent(&here, "solo");
        here.link_add(&MacVlan::new("mv-passthru", solo, MacVlanMode::Passthru)).unwrap();
        assert_eq!(info_data(&link(here.ns(), "mv-passthru"))["mode"], "passthru");
    }
}

sandbox_test! {
    fn ipvlan_is_created_or_reported_as_missing() {
        let here = Handle::current().unwrap();
        let par = parent(&here, "par");
        let spec = IpVlan::new("ipv0", par, IpVlanMode::L3).flag(IpVlanFlag::Private);
        match here.link_add(&spec) {
            Err(e) if e.is_kernel_lacks() => {
                assert!(e.to_string().starts_with("kernel lacks ipvlan"), "{e}");
                assert!(oracle::link_in(&path(here.ns()), "ipv0").is_none());
                warren_testkit::skip(&e.to_string());
            }
            Err(e) => panic!("unexpected refusal: {e}"),
            Ok(()) => {
                let l = link(here.ns(), "ipv0");
                assert_eq!(l["linkinfo"]["info_kind"], "ipvlan");
                assert_eq!(info_data(&l)["mode"], "l3");
                assert_eq!(info_data(&l)["private"], true, "{l}");
            }
        }
    }
}

sandbox_test! {
    fn vxlan_attributes_and_remote_fdb_read_back() {
        let here = Handle::current().unwrap();
        let par = parent(&here, "par");
        addr(&here, "par", "192.0.2.1/24");
        let spec = Vxlan::new("vx0", 4242)
            .local(ip4("192.0.2.1"))
            .remote(ip4("192.0.2.2"))
            .dev(par)
            .dstport(4789)
            .learning(false)
            .ttl(32)
            .port_range(40000, 41000)
            .up();
        here.link_add(&spec).unwrap();
        let l = link(here.ns(), "vx0");
        let d = info_data(&l);
        assert_eq!(l["linkinfo"]["info_kind"], "vxlan");
        assert_eq!(d["id"], 4242, "{d}");
        assert_eq!(d["remote"], "192.0.2.2");
        assert_eq!(d["local"], "192.0.2.1");
        assert_eq!(d["link"], "par");
        assert_eq!(d["port"], 4789);
        assert_eq!(d["learning"], false);
        assert_eq!(d["ttl"], 32);
        assert_eq!(d["port_range"]["low"], 40000);
        assert_eq!(d["port_range"]["high"], 41000);

        // A flooding destination in the vxlan device's own table.
        let vx = here.link_index("vx0").unwrap();
        let mut e = FdbEntry::new([0; 6], vx);
        e.target = FdbTarget::SelfDev;
        e.dst = Some(ip4("192.0.2.3"));
        here.fdb_add_with(&e, warren_kernel::link::bridge::FdbAdd::Append).unwrap();
        let shown = fdb_json(&["dev", "vx0"]);
        assert!(shown.iter().any(|x| x["mac"] == "00:00:00:00:00:00" && x["dst"] == "192.0.2.3"), "{shown:?}");
        let listed = here.fdb_list(Some(vx)).unwrap();
        assert!(listed.iter().any(|x| x.dst == Some(ip4("192.0.2.3"))), "{listed:?}");

        let group = Vxlan::new("vx1", 7).group(ip4("239.1.1.1")).dev(par).dstport(4789);
        here.link_add(&group).unwrap();
        assert_eq!(info_data(&link(here.ns(), "vx1"))["group"], "239.1.1.1");

        let v6 = Vxlan::new("vx6", 9)
            .local("2001:db8::1".parse().unwrap())
            .remote("2001:db8::2".parse().unwrap())
            .dstport(4790);
        here.link_add(&v6).unwrap();
        let d6 = info_data(&link(here.ns(), "vx6")).clone();
        assert_eq!(d6["remote6"], "2001:db8::2", "{d6}");
        assert_eq!(d6["local6"], "2001:db8::1", "{d6}");
    }
}

sandbox_test! {
    fn tap_and_tun_are_created_and_deleted() {
        let here = Handle::current().unwrap();
        let opts = TunTapOptions { owner: Some(0), group: Some(0), multi_queue: true, ..Default::default() };
        here.tuntap_add("tap0", TunTapMode::Tap, &opts).unwrap();
        here.tuntap_add("tun0", TunTapMode::Tun, &TunTapOptions::default()).unwrap();
        let tap = link(here.ns(), "tap0");
        assert_eq!(tap["linkinfo"]["info_kind"], "tun");
        let d = info_data(&tap);
        assert_eq!(d["type"], "tap", "{d}");
        assert_eq!(d["pi"], false);
        assert_eq!(d["multi_queue"], true);
        assert_eq!(d["persist"], true);
        assert_eq!(d["user"], "root");
        let tun = link(here.ns(), "tun0");
        assert_eq!(info_data(&tun)["type"], "tun");
        assert_eq!(info_data(&tun)["multi_queue"], false);

        let e = here.tuntap_add("tap0", TunTapMode::Tap, &TunTapOptions::default()).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EEXIST), "{e}");
        assert!(e.to_string().contains("tap0"), "{e}");

        here.link_del("tap0").unwrap();
        here.link_del("tun0").unwrap();
        assert!(oracle::link_in(&path(here.ns()), "tap0").is_none());
        assert!(oracle::link_in(&path(here.ns()), "tun0").is_none());
    }
}

sandbox_test! {
    fn tuntap_in_another_namespace() {
        let red = anon("red");
        red.tuntap_add("tap9", TunTapMode::Tap, &TunTapOptions::default()).unwrap();
        assert_eq!(info_data(&link(red.ns(), "tap9"))["type"], "tap");
        assert!(oracle::link_in(&path(Handle::current().unwrap().ns()), "tap9").is_none());
    }
}

sandbox_test! {
    fn set_operations_read_back() {
        let here = Handle::current().unwrap();
        here.link_add(&Veth::new("a", "b")).unwrap();
        here.link_rename("a", "a2").unwrap();
        assert!(oracle::link_in(&path(here.ns()), "a").is_none());
        here.link_set_mtu("a2", 1300).unwrap();
        here.link_set_mac("a2", [2, 0, 0, 0, 0, 0x42]).unwrap();
        here.link_set_txqueuelen("a2", 321).unwrap();
        here.link_altname_add("a2", "a-long-alternative-name").unwrap();
        let l = link(here.ns(), "a2");
        assert_eq!(l["mtu"], 1300);
        assert_eq!(l["address"], "02:00:00:00:00:42");
        assert_eq!(l["txqlen"], 321);
        assert_eq!(l["altnames"][0], "a-long-alternative-name", "{l}");
        assert_eq!(here.link_get("a-long-alternative-name").unwrap().name, "a2");
        here.link_altname_del("a2", "a-long-alternative-name").unwrap();
        assert!(link(here.ns(), "a2")["altnames"].is_null());

        // Several changes in one request, master and nomaster.
        here.link_add(&Bridge::new("br0")).unwrap();
        let br = here.link_index("br0").unwrap();
        let change = LinkChange { up: Some(true), mtu: Some(1280), master: Some(Some(br)), ..Default::default() };
        here.link_set("a2", &change).unwrap();
        let l = link(here.ns(), "a2");
        assert_eq!(l["master"], "br0");
        assert_eq!(l["mtu"], 1280);
        assert!(l["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
        here.link_set_master("a2", None).unwrap();
        assert!(link(here.ns(), "a2")["master"].is_null());

        // Move to another namespace.
        let red = anon("red");
        here.link_set_netns("b", red.ns()).unwrap();
        assert!(oracle::link_in(&path(here.ns()), "b").is_none());
        assert_eq!(link(red.ns(), "b")["linkinfo"]["info_kind"], "veth");

        here.link_del("a2").unwrap();
        assert!(oracle::link_in(&path(red.ns()), "b").is_none(), "deleting a veth takes its peer");
    }
}

sandbox_test! {
    fn bad_input_is_refused_clearly_and_leaves_nothing() {
        let here = Handle::current().unwrap();
        let before = oracle::link_names_in(&path(here.ns()));

        let e = here.link_add(&Veth::new("a-name-of-16-byt", "p")).unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{e}");
        assert!(e.to_string().contains("a-name-of-16-byt"), "{e}");
        assert!(e.to_string().contains("15 bytes"), "{e}");

        here.link_add(&Bridge::new("br0")).unwrap();
        let e = here.link_add(&Bridge::new("br0")).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EEXIST), "{e}");
        assert!(e.to_string().contains("br0"), "{e}");
        assert!(e.to_string().contains("File exists"), "{e}");
        let e = here.link_add(&Veth::new("v0", "br0")).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EEXIST), "{e}");

        let e = here.link_add(&MacVlan::new("mv0", 9999, MacVlanMode::Bridge)).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENODEV), "{e}");
        assert!(e.to_string().contains("mv0 on link index 9999"), "{e}");
        let e = here.link_add(&Veth::new("v1", "p1").master(9999)).unwrap_err();
        assert!(e.errno().is_some(), "{e}");

        // EOPNOTSUPP without "Unknown device type" is not a missing kind.
        here.link_add(&Veth::new("np0", "np1")).unwrap();
        let np0 = here.link_index("np0").unwrap();
        let e = here.link_add(&Veth::new("v2", "p2").master(np0)).unwrap_err();
        assert!(!e.is_kernel_lacks(), "{e}");
        assert_eq!(e.errno(), Some(Errno::EOPNOTSUPP), "{e}");
        let e = here.link_set_master("np1", Some(np0)).unwrap_err();
        assert!(e.to_string().contains("is it a bridge?"), "{e}");
        assert!(e.to_string().contains("np1"), "{e}");
        here.link_del("np0").unwrap();

        let e = here.link_del("nothere").unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        let e = here.link_set_master("nothere", None).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");

        let mut after = oracle::link_names_in(&path(here.ns()));
        after.retain(|n| n != "br0");
        assert_eq!(after, before, "nothing but br0 left behind");
    }
}

sandbox_test! {
    fn the_1024th_bridge_port_fails_clearly_and_atomically() {
        let here = Handle::current().unwrap();
        let peers = anon("peers");
        here.link_add(&Bridge::new("br0")).unwrap();
        let br = here.link_index("br0").unwrap();
        let reqs: Vec<_> = (0..1023)
            .map(|i| Veth::new(format!("v{i}"), format!("p{i}")).peer_netns(peers.ns()).master(br).request().unwrap())
            .collect();
        for (i, r) in here.execute(reqs).into_iter().enumerate() {
            r.unwrap_or_else(|e| panic!("port {i}: {e}"));
        }
        let spec = Veth::new("v1023", "p1023").peer_netns(peers.ns()).master(br).up().peer_up();
        let e = here.link_add(&spec).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EXFULL), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("v1023") && msg.contains("1023 ports"), "{msg}");
        assert!(here.link_get("v1023").is_err(), "no stray veth here");
        assert!(peers.link_get("p1023").is_err(), "no stray peer there");
        let ports = here.links().unwrap().iter().filter(|l| l.master == Some(br)).count();
        assert_eq!(ports, 1023);
    }
}

sandbox_test! {
    fn link_add_all_batches_creates_and_brings_peers_up() {
        let here = Handle::current().unwrap();
        let red = anon("red");
        let specs: Vec<Veth<'_>> =
            (0..20).map(|i| Veth::new(format!("b{i}"), format!("q{i}")).peer_netns(red.ns()).up().peer_up()).collect();
        let bad = Veth::new("this-name-is-too-long", "x");
        let mut all: Vec<&dyn LinkSpec> = specs.iter().map(|s| s as &dyn LinkSpec).collect();
        all.push(&bad);
        let results = here.link_add_all(&all);
        assert_eq!(results.len(), 21);
        assert!(results[..20].iter().all(Result::is_ok), "{results:?}");
        assert!(matches!(results[20], Err(Error::Invalid { .. })));
        for i in 0..20 {
            let q = link(red.ns(), &format!("q{i}"));
            assert!(q["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{q}");
        }
    }
}

/// A veth whose follow-up is bound to fail, to check that link_add undoes the create.
struct FailingFollowUp<'a>(Veth<'a>);

impl LinkSpec for FailingFollowUp<'_> {
    fn request(&self) -> warren_kernel::Result<warren_kernel::Request> {
        self.0.request()
    }

    fn follow_up(&self) -> Option<warren_kernel::link::FollowUp<'_>> {
        Some(warren_kernel::link::FollowUp {
            ns: None,
            request: warren_kernel::link::up_request(99_999, true, "nosuch"),
            undo: warren_kernel::link::set::del_request(self.0.name()).ok(),
        })
    }
}

sandbox_test! {
    fn a_failed_follow_up_removes_the_created_link() {
        let here = Handle::current().unwrap();
        let red = anon("red");
        let spec = FailingFollowUp(Veth::new("u0", "u1").peer_netns(red.ns()));
        let e = here.link_add(&spec).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENODEV), "{e}");
        assert!(here.link_get("u0").is_err(), "u0 left behind");
        assert!(red.link_get("u1").is_err(), "u1 left behind");
    }
}

sandbox_test! {
    fn link_index_finds_names_and_altnames_in_the_handles_namespace_only() {
        let here = Handle::current().unwrap();
        let red = anon("red");
        here.link_add(&Veth::new("v0", "p0").peer_netns(red.ns())).unwrap();
        let want = |ns: &NetNs, name: &str| link(ns, name)["ifindex"].as_u64().unwrap() as u32;
        assert_eq!(red.link_index("p0").unwrap(), want(red.ns(), "p0"));
        assert_eq!(here.link_index("v0").unwrap(), want(here.ns(), "v0"));
        // A short altname and one longer than an interface name both resolve.
        red.link_altname_add("p0", "short0").unwrap();
        red.link_altname_add("p0", "a-much-longer-altname").unwrap();
        assert_eq!(red.link_index("short0").unwrap(), want(red.ns(), "p0"));
        assert_eq!(red.link_index("a-much-longer-altname").unwrap(), want(red.ns(), "p0"));
        // The lookup is the handle's namespace's, not the caller's.
        let e = here.link_index("p0").unwrap_err();
        assert!(matches!(e, warren_kernel::Error::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("\"p0\"") && e.to_string().contains(here.ns().label()), "{e}");
        let e = red.link_index("v0").unwrap_err();
        assert!(e.to_string().contains("\"v0\"") && e.to_string().contains("red"), "{e}");
        assert!(red.link_index("").is_err());
    }
}

sandbox_test! {
    fn a_link_told_no_ipv6_addresses_before_up_gets_none_and_still_carries_ipv4() {
        let red = anon("red");
        let blue = anon("blue");
        red.link_add(&Veth::new("v0", "v1").peer_netns(blue.ns())).unwrap();
        for (h, dev) in [(&red, "v0"), (&blue, "v1")] {
            let idx = h.link_index(dev).unwrap();
            h.execute_all(vec![
                warren_kernel::link::no_ipv6_addresses_request(idx, dev),
                warren_kernel::link::up_request(idx, true, dev),
            ])
            .unwrap();
        }
        // Both up, so both have carrier (a link-local would be there by now).
        for (h, dev) in [(&red, "v0"), (&blue, "v1")] {
            let l = link(h.ns(), dev);
            assert_eq!(l["inet6_addr_gen_mode"], "none", "{l}");
            let v6 = oracle::ip_json_in(&path(h.ns()), &["-6", "addr", "show", "dev", dev]);
            assert!(v6.as_array().unwrap().iter().all(|l| l["addr_info"].as_array().is_none_or(Vec::is_empty)), "{v6}");
        }
        // A link brought up without it has its link-local, as always.
        red.link_add(&Veth::new("w0", "w1").up().peer_up()).unwrap();
        let v6 = oracle::ip_json_in(&path(red.ns()), &["-6", "addr", "show", "dev", "w0"]);
        assert!(v6.to_string().contains("fe80::"), "{v6}");
        addr(&red, "v0", "10.60.0.1/24");
        addr(&blue, "v1", "10.60.0.2/24");
        tcp_exchange(blue.ns(), red.ns(), SocketAddr::new(ip4("10.60.0.1"), 7300)).unwrap();
        // Naming the link in the error when the kernel refuses (no such index).
        let e = red.ack(warren_kernel::link::no_ipv6_addresses_request(9999, "nope0")).unwrap_err();
        assert!(e.to_string().contains("nope0"), "{e}");
    }
}
