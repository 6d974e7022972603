//! Kernel tests of addresses: add, list and delete IPv4 and IPv6 addresses, read back with
//! `ip -j addr`; refusals keep the object and the kernel's errno.

use std::net::IpAddr;

use nix::errno::Errno;
use serde_json::Value;
use warren_kernel::addr::{AddrSpec, Family, IpNet, Scope};
use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::{Error, Handle};
use warren_testkit::{oracle, sandbox_test};

/// A namespace `name` with a veth pair `a`/`b` inside it, both up.
fn ns_with_veth(name: &str, a: &str, b: &str) -> Handle {
    let h = Handle::new(netns::add_named(name, Source::New).unwrap()).unwrap();
    h.link_add(&Veth::new(a, b)).unwrap();
    h.link_set_up(a).unwrap();
    h.link_set_up(b).unwrap();
    h
}

fn addr_info(ns: &str, dev: &str) -> Vec<Value> {
    let v = oracle::ip_json_in(&format!("/run/netns/{ns}"), &["addr", "show", "dev", dev]);
    v[0]["addr_info"].as_array().cloned().unwrap_or_default()
}

fn find<'a>(info: &'a [Value], local: &str) -> Option<&'a Value> {
    info.iter().find(|a| a["local"] == local)
}

sandbox_test! {
    fn ipv4_and_ipv6_addresses_add_list_and_delete() {
        let h = ns_with_veth("red", "v0", "v1");
        let idx = h.link_index("v0").unwrap();
        let v4: IpNet = "10.0.0.1/24".parse().unwrap();
        let v6: IpNet = "fd00::1/64".parse().unwrap();
        h.addr_add(idx, v4).unwrap();
        h.addr_add_spec(&AddrSpec::new(idx, v6).nodad()).unwrap();

        // Our own listing.
        let mine = h.addrs(Some(idx)).unwrap();
        let a4 = mine.iter().find(|a| a.addr == v4.addr).expect("v4 listed");
        assert_eq!((a4.family, a4.prefix, a4.scope, a4.index), (Family::V4, 24, Scope::UNIVERSE, idx));
        assert_eq!(a4.broadcast, Some("10.0.0.255".parse().unwrap()));
        let a6 = mine.iter().find(|a| a.addr == v6.addr).expect("v6 listed");
        assert_eq!((a6.family, a6.prefix, a6.scope), (Family::V6, 64, Scope::UNIVERSE));
        assert!(!a6.tentative(), "nodad: usable at once");
        h.link_set_up("lo").unwrap(); // lo's addresses appear once it is up
        assert!(h.addrs(None).unwrap().iter().any(|a| a.addr == "127.0.0.1".parse::<IpAddr>().unwrap()));

        // The oracle agrees field by field.
        let info = addr_info("red", "v0");
        let o4 = find(&info, "10.0.0.1").unwrap_or_else(|| panic!("{info:?}"));
        assert_eq!(o4["family"], "inet");
        assert_eq!(o4["prefixlen"], 24);
        assert_eq!(o4["broadcast"], "10.0.0.255");
        assert_eq!(o4["scope"], "global");
        let o6 = find(&info, "fd00::1").unwrap_or_else(|| panic!("{info:?}"));
        assert_eq!(o6["family"], "inet6");
        assert_eq!(o6["prefixlen"], 64);
        assert_eq!(o6["nodad"], true, "{o6}");
        assert!(o6.get("tentative").is_none(), "{o6}");

        // As ip: 127/8 gets host scope, a /32 no broadcast, a link-local IPv6 link scope.
        let lo = h.link_index("lo").unwrap();
        h.addr_add(lo, "127.0.0.2/8".parse().unwrap()).unwrap();
        h.addr_add(idx, "10.9.9.9/32".parse().unwrap()).unwrap();
        h.addr_add_spec(&AddrSpec::new(idx, "fe80::99/64".parse().unwrap()).nodad()).unwrap();
        let o = oracle::ip_json_in("/run/netns/red", &["addr", "show", "dev", "lo"]);
        let info = o[0]["addr_info"].as_array().unwrap();
        assert_eq!(find(info, "127.0.0.2").unwrap()["scope"], "host", "{info:?}");
        let info = addr_info("red", "v0");
        assert!(find(&info, "10.9.9.9").unwrap().get("broadcast").is_none(), "{info:?}");
        assert_eq!(find(&info, "fe80::99").unwrap()["scope"], "link", "{info:?}");
        let mine = h.addrs(None).unwrap();
        let scope_of = |ip: &str| mine.iter().find(|a| a.addr == ip.parse::<IpAddr>().unwrap()).unwrap().scope;
        assert_eq!((scope_of("127.0.0.2"), scope_of("fe80::99")), (Scope::HOST, Scope::LINK));

        h.addr_del(idx, v4).unwrap();
        h.ack(AddrSpec::new(idx, v6).request_del()).unwrap();
        let info = addr_info("red", "v0");
        assert!(find(&info, "10.0.0.1").is_none() && find(&info, "fd00::1").is_none(), "{info:?}");
        assert!(h.addrs(Some(idx)).unwrap().iter().all(|a| a.addr != v4.addr && a.addr != v6.addr));
    }
}

sandbox_test! {
    fn batch_of_addresses_on_two_links() {
        let h = ns_with_veth("red", "v0", "v1");
        let (i0, i1) = (h.link_index("v0").unwrap(), h.link_index("v1").unwrap());
        let reqs = (1..=20)
            .map(|n| {
                let idx = if n % 2 == 0 { i0 } else { i1 };
                warren_kernel::addr::addr_add_request(idx, format!("10.1.{n}.1/24").parse().unwrap())
            })
            .collect();
        h.execute_all(reqs).unwrap();
        assert_eq!(h.addrs(Some(i0)).unwrap().iter().filter(|a| a.family == Family::V4).count(), 10);
        assert_eq!(addr_info("red", "v1").iter().filter(|a| a["family"] == "inet").count(), 10);
    }
}

sandbox_test! {
    fn refusals_name_the_address_and_keep_the_errno() {
        let h = ns_with_veth("red", "v0", "v1");
        let idx = h.link_index("v0").unwrap();
        let net: IpNet = "10.0.0.1/24".parse().unwrap();
        h.addr_add(idx, net).unwrap();

        let e = h.addr_add(idx, net).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EEXIST), "{e}");
        assert!(e.to_string().starts_with("add address 10.0.0.1/24 dev #"), "{e}");
        assert!(e.to_string().contains("(netns red)"), "{e}");

        let e = h.addr_del(idx, "10.0.0.2/24".parse().unwrap()).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EADDRNOTAVAIL), "{e}");
        assert!(e.to_string().contains("delete address 10.0.0.2/24"), "{e}");

        let e = h.addr_add_spec(&AddrSpec::new(9999, "10.9.0.1/24".parse().unwrap()).dev_name("nope0")).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENODEV), "{e}");
        assert!(e.to_string().contains("10.9.0.1/24 dev nope0"), "{e}");

        // Nothing half-done: still exactly the one address.
        let v4: Vec<_> = addr_info("red", "v0").into_iter().filter(|a| a["family"] == "inet").collect();
        assert_eq!(v4.len(), 1, "{v4:?}");

        for bad in ["10.0.0.1/33", "fd00::1/129", "10.0.0/24", "10.0.0.1/abc"] {
            let e = bad.parse::<IpNet>().unwrap_err();
            assert!(matches!(e, Error::Invalid { .. }), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}

sandbox_test! {
    fn flush_deletes_every_address_of_one_link() {
        let h = ns_with_veth("red", "v0", "v1");
        let (i0, i1) = (h.link_index("v0").unwrap(), h.link_index("v1").unwrap());
        for n in ["10.0.0.1/24", "10.0.0.2/24", "10.0.9.1/16"] {
            h.addr_add(i0, n.parse().unwrap()).unwrap();
        }
        h.addr_add_spec(&AddrSpec::new(i0, "fd00::1/64".parse().unwrap()).nodad()).unwrap();
        h.addr_add(i1, "10.1.0.1/24".parse().unwrap()).unwrap();

        // IPv4 only: 10.0.0.2 goes with its primary, and that is not an error.
        let n = h.addr_flush(i0, Some(Family::V4)).unwrap();
        assert!((2..=3).contains(&n), "{n}");
        let left = addr_info("red", "v0");
        assert!(left.iter().all(|a| a["family"] == "inet6"), "{left:?}");
        assert!(find(&left, "fd00::1").is_some());
        h.addr_flush(i0, None).unwrap();
        assert!(addr_info("red", "v0").is_empty());
        assert!(find(&addr_info("red", "v1"), "10.1.0.1").is_some(), "other links untouched");
    }
}
