//! Kernel tests of neighbour entries: add, replace, list and delete, read back with
//! `ip -j neigh`.

use std::net::IpAddr;

use nix::errno::Errno;
use serde_json::Value;
use warren_kernel::Handle;
use warren_kernel::addr::AddrSpec;
use warren_kernel::link::parse_mac;
use warren_kernel::link::veth::Veth;
use warren_kernel::neigh::{NeighState, Neighbour};
use warren_kernel::netns::{self, Source};
use warren_testkit::{oracle, sandbox_test};

fn lab() -> (Handle, u32) {
    let h = Handle::new(netns::add_named("red", Source::New).unwrap()).unwrap();
    h.link_add(&Veth::new("v0", "v1")).unwrap();
    let i0 = h.link_index("v0").unwrap();
    h.addr_add(i0, "10.0.0.1/24".parse().unwrap()).unwrap();
    h.addr_add_spec(&AddrSpec::new(i0, "fd00::1/64".parse().unwrap()).nodad())
        .unwrap();
    h.link_set_up("v0").unwrap();
    h.link_set_up("v1").unwrap();
    (h, i0)
}

fn ip_neigh() -> Vec<Value> {
    let v = oracle::ip_json_in("/run/netns/red", &["neigh", "show", "dev", "v0"]);
    v.as_array().cloned().unwrap_or_default()
}

fn find<'a>(all: &'a [Value], ip: &str) -> Option<&'a Value> {
    all.iter().find(|n| n["dst"] == ip)
}

fn ipa(s: &str) -> IpAddr {
    s.parse().unwrap()
}

sandbox_test! {
    fn neighbours_add_replace_list_and_delete() {
        let (h, i0) = lab();
        let m1 = parse_mac("02:00:00:00:00:0a").unwrap();
        let m2 = parse_mac("02:00:00:00:00:0b").unwrap();
        h.neigh_add(i0, ipa("10.0.0.10"), m1, NeighState::Permanent).unwrap();
        h.neigh_add(i0, ipa("10.0.0.11"), m2, NeighState::Reachable).unwrap();
        h.neigh_add(i0, ipa("fd00::10"), m1, NeighState::Permanent).unwrap();

        let mine = h.neighs(Some(i0)).unwrap();
        let want = Neighbour { index: i0, ip: ipa("10.0.0.10"), mac: Some(m1), state: NeighState::Permanent, router: false };
        assert!(mine.contains(&want), "{mine:#?}");
        let r = mine.iter().find(|n| n.ip == ipa("10.0.0.11")).unwrap();
        assert_eq!((r.mac, r.state), (Some(m2), NeighState::Reachable));
        assert!(mine.iter().any(|n| n.ip == ipa("fd00::10") && n.state == NeighState::Permanent));

        let theirs = ip_neigh();
        for n in &mine {
            if n.state == NeighState::Noarp {
                continue; // ip hides NOARP entries by default
            }
            let o = find(&theirs, &n.ip.to_string()).unwrap_or_else(|| panic!("{n:?} not in {theirs:?}"));
            assert_eq!(o["lladdr"].as_str().map(str::to_owned), n.mac_string(), "{o}");
            assert_eq!(o["state"][0], n.state.to_string(), "{o}");
            assert_eq!(o.get("router").is_some(), n.router, "{o}");
        }

        // Add again: refused; replace: changes the MAC.
        let e = h.neigh_add(i0, ipa("10.0.0.10"), m2, NeighState::Permanent).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EEXIST), "{e}");
        assert!(e.to_string().starts_with("add neighbour 10.0.0.10 lladdr 02:00:00:00:00:0b dev #"), "{e}");
        h.neigh_replace(i0, ipa("10.0.0.10"), m2, NeighState::Permanent).unwrap();
        assert_eq!(find(&ip_neigh(), "10.0.0.10").unwrap()["lladdr"], "02:00:00:00:00:0b");

        h.neigh_del(i0, ipa("10.0.0.10")).unwrap();
        h.neigh_del(i0, ipa("fd00::10")).unwrap();
        let theirs = ip_neigh();
        assert!(find(&theirs, "10.0.0.10").is_none() && find(&theirs, "fd00::10").is_none(), "{theirs:?}");
        assert!(h.neighs(None).unwrap().iter().all(|n| n.ip != ipa("10.0.0.10")));

        let e = h.neigh_del(i0, ipa("10.0.0.99")).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOENT), "{e}");
        assert!(e.to_string().contains("delete neighbour 10.0.0.99 dev #"), "{e}");
        let e = h.neigh_add(9999, ipa("10.0.0.12"), m1, NeighState::Permanent).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENODEV), "{e}");
    }
}
