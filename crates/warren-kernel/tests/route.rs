//! Kernel tests of routes: each kind of route added through warren is read back with
//! `ip -j route` and compared field by field with warren's own listing; `route_get` agrees with
//! `ip -j route get`; refusals keep the object, the errno and the kernel's extack.

use std::collections::HashMap;
use std::net::IpAddr;

use nix::errno::Errno;
use serde_json::Value;
use warren_kernel::addr::{AddrSpec, Family, IpNet};
use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::route::{
    self, Nexthop, Protocol, Route, RouteFilter, RoutePref, RouteQuery, RouteSpec, RouteType,
};
use warren_kernel::{Error, Handle};
use warren_testkit::{oracle, sandbox_test};

/// Namespace `red`: veth pair v0/v1 (both ends here, up), 10.0.0.1/24 + fd00::1/64 on v0,
/// 10.0.1.1/24 + fd01::1/64 on v1.
fn lab() -> (Handle, u32, u32) {
    let h = Handle::new(netns::add_named("red", Source::New).unwrap()).unwrap();
    h.link_add(&Veth::new("v0", "v1")).unwrap();
    let (i0, i1) = (h.link_index("v0").unwrap(), h.link_index("v1").unwrap());
    for (idx, v4, v6) in [
        (i0, "10.0.0.1/24", "fd00::1/64"),
        (i1, "10.0.1.1/24", "fd01::1/64"),
    ] {
        h.addr_add(idx, v4.parse().unwrap()).unwrap();
        h.addr_add_spec(&AddrSpec::new(idx, v6.parse().unwrap()).nodad())
            .unwrap();
    }
    h.link_set_up("v0").unwrap();
    h.link_set_up("v1").unwrap();
    (h, i0, i1)
}

fn ip(args: &[&str]) -> Value {
    oracle::ip_json_in("/run/netns/red", args)
}

fn names(h: &Handle) -> HashMap<u32, String> {
    h.links()
        .unwrap()
        .into_iter()
        .map(|l| (l.index, l.name))
        .collect()
}

fn ip_dst(r: &Route) -> String {
    if r.dst.is_default() {
        "default".into()
    } else if r.dst.prefix == r.family().max_prefix() {
        r.dst.addr.to_string()
    } else {
        r.dst.to_string()
    }
}

/// Compare one of our routes with ip's JSON object for it, field by field.
fn assert_same(r: &Route, o: &Value, names: &HashMap<u32, String>) {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    assert_eq!(ip_dst(r), o["dst"], "dst of {o}");
    assert_eq!(
        r.gateway.map(|g| g.to_string()),
        s(&o["gateway"]),
        "gateway of {o}"
    );
    assert_eq!(r.oif.map(|i| names[&i].clone()), s(&o["dev"]), "dev of {o}");
    assert_eq!(
        r.metric.map(u64::from),
        o["metric"].as_u64(),
        "metric of {o}"
    );
    assert_eq!(
        r.protocol.to_string(),
        o["protocol"].as_str().unwrap_or("boot"),
        "protocol of {o}"
    );
    assert_eq!(
        r.scope.to_string(),
        o["scope"].as_str().unwrap_or("global"),
        "scope of {o}"
    );
    assert_eq!(
        r.kind.to_string(),
        o["type"].as_str().unwrap_or("unicast"),
        "type of {o}"
    );
    assert_eq!(
        r.prefsrc.map(|g| g.to_string()),
        s(&o["prefsrc"]),
        "prefsrc of {o}"
    );
    assert_eq!(r.pref.map(|p| p.to_string()), s(&o["pref"]), "pref of {o}");
    let nhs = o["nexthops"].as_array().cloned().unwrap_or_default();
    assert_eq!(r.nexthops.len(), nhs.len(), "nexthops of {o}");
    for (n, on) in r.nexthops.iter().zip(&nhs) {
        assert_eq!(
            n.via.map(|g| g.to_string()),
            s(&on["gateway"]),
            "nexthop of {o}"
        );
        assert_eq!(
            n.dev.map(|i| names[&i].clone()),
            s(&on["dev"]),
            "nexthop of {o}"
        );
        assert_eq!(
            u64::from(n.weight),
            on["weight"].as_u64().unwrap_or(1),
            "nexthop weight of {o}"
        );
    }
}

fn ours(h: &Handle, filter: RouteFilter, dst: &str) -> Route {
    let all = h.routes(filter).unwrap();
    all.iter()
        .find(|r| ip_dst(r) == dst)
        .unwrap_or_else(|| panic!("{dst} not in {all:#?}"))
        .clone()
}

fn theirs(args: &[&str], dst: &str) -> Value {
    let v = ip(args);
    v.as_array()
        .and_then(|a| a.iter().find(|o| o["dst"] == dst).cloned())
        .unwrap_or_else(|| panic!("{dst} not in ip {args:?}: {v}"))
}

const V4: RouteFilter = RouteFilter {
    table: None,
    family: Some(Family::V4),
};
const V6: RouteFilter = RouteFilter {
    table: None,
    family: Some(Family::V6),
};

fn ipa(s: &str) -> IpAddr {
    s.parse().unwrap()
}

sandbox_test! {
    fn default_dev_only_and_metric_routes_read_back() {
        let (h, i0, i1) = lab();
        let n = names(&h);
        h.route_add(&RouteSpec::default_v4().via(ipa("10.0.0.254"))).unwrap();
        h.route_add(&RouteSpec::to("10.2.0.0/16".parse().unwrap()).dev(i1)).unwrap();
        h.route_add(&RouteSpec::to("10.3.0.0/16".parse().unwrap()).via(ipa("10.0.1.254")).metric(50)).unwrap();
        h.route_add(&RouteSpec::to("10.3.0.0/16".parse().unwrap()).via(ipa("10.0.0.254")).metric(70)).unwrap();
        h.route_add(
            &RouteSpec::to("10.7.0.9/32".parse().unwrap())
                .dev(i0)
                .src(ipa("10.0.0.1"))
                .protocol(Protocol::STATIC),
        )
        .unwrap();
        h.route_add(&RouteSpec::default_v6().via(ipa("fd00::fe")).dev(i0)).unwrap();

        let d = ours(&h, V4, "default");
        assert_eq!((d.gateway, d.oif, d.table, d.protocol, d.kind), (Some(ipa("10.0.0.254")), Some(i0), route::MAIN, Protocol::BOOT, RouteType::Unicast));
        assert_same(&d, &theirs(&["route", "show"], "default"), &n);
        let dev = ours(&h, V4, "10.2.0.0/16");
        assert_eq!((dev.gateway, dev.oif, dev.scope.to_string().as_str()), (None, Some(i1), "link"));
        assert_same(&dev, &theirs(&["route", "show"], "10.2.0.0/16"), &n);
        let host = ours(&h, V4, "10.7.0.9");
        assert_eq!((host.prefsrc, host.protocol), (Some(ipa("10.0.0.1")), Protocol::STATIC));
        assert_same(&host, &theirs(&["route", "show"], "10.7.0.9"), &n);

        // Two routes to one prefix, told apart by metric.
        let both: Vec<Route> = h.routes(V4).unwrap().into_iter().filter(|r| ip_dst(r) == "10.3.0.0/16").collect();
        assert_eq!(both.iter().map(|r| r.metric).collect::<Vec<_>>(), vec![Some(50), Some(70)]);
        let o = ip(&["route", "show", "10.3.0.0/16"]);
        for (r, o) in both.iter().zip(o.as_array().unwrap()) {
            assert_same(r, o, &n);
        }

        h.route_add(&RouteSpec::to("fd09::/64".parse().unwrap()).dev(i0).pref(RoutePref::High))
            .unwrap();
        let p6 = ours(&h, V6, "fd09::/64");
        assert_eq!(p6.pref, Some(RoutePref::High));
        let o = theirs(&["-6", "route", "show"], "fd09::/64");
        assert_eq!(o["pref"], "high", "{o}");
        assert_same(&p6, &o, &n);
        let e = h.route_add(&RouteSpec::to("10.10.0.0/16".parse().unwrap()).dev(i0).pref(RoutePref::Low)).unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{e}");
        h.route_add(&RouteSpec::to("10.61.0.0/16".parse().unwrap()).via(ipa("10.0.0.254")).mtu(1400))
            .unwrap();
        let m = ours(&h, V4, "10.61.0.0/16");
        assert_eq!(m.mtu, Some(1400));
        let o = theirs(&["route", "show"], "10.61.0.0/16");
        assert_eq!(o["metrics"][0]["mtu"], 1400, "{o}");
        assert_same(&m, &o, &n);
        let d6 = ours(&h, V6, "default");
        assert_eq!((d6.gateway, d6.oif, d6.metric), (Some(ipa("fd00::fe")), Some(i0), Some(1024)));
        assert_same(&d6, &theirs(&["-6", "route", "show"], "default"), &n);
        // Every route ip shows, we show too (and the same).
        for fam in ["-4", "-6"] {
            let o = ip(&[fam, "route", "show"]);
            let filter = if fam == "-4" { V4 } else { V6 };
            assert_eq!(h.routes(filter).unwrap().len(), o.as_array().unwrap().len(), "{fam}: {o}");
        }

        // Delete by metric: the other stays.
        h.route_del(&RouteSpec::to("10.3.0.0/16".parse().unwrap()).metric(50)).unwrap();
        let o = ip(&["route", "show", "10.3.0.0/16"]);
        assert_eq!(o.as_array().unwrap().len(), 1);
        assert_eq!(o[0]["metric"], 70);
    }
}

sandbox_test! {
    fn routes_in_other_tables_stay_out_of_main() {
        let (h, i0, _) = lab();
        let n = names(&h);
        h.route_add(&RouteSpec::to("10.4.0.0/16".parse().unwrap()).via(ipa("10.0.0.254")).table(100)).unwrap();
        h.route_add(&RouteSpec::default_v4().dev(i0).table(1000)).unwrap();
        assert!(h.routes(V4).unwrap().iter().all(|r| ip_dst(r) != "10.4.0.0/16" && !r.dst.is_default()));
        let t100 = RouteFilter { table: Some(100), family: Some(Family::V4) };
        let r = ours(&h, t100, "10.4.0.0/16");
        assert_eq!(r.table, 100);
        assert_same(&r, &theirs(&["route", "show", "table", "100"], "10.4.0.0/16"), &n);
        let t1000 = RouteFilter { table: Some(1000), family: None };
        let r = ours(&h, t1000, "default");
        assert_eq!(r.table, 1000);
        assert_same(&r, &theirs(&["route", "show", "table", "1000"], "default"), &n);
        // "all" sees both, with their tables, as ip does.
        let all = h.routes(RouteFilter { table: Some(route::ALL), family: Some(Family::V4) }).unwrap();
        let o = ip(&["-4", "route", "show", "table", "all"]);
        let o = o.as_array().unwrap();
        assert_eq!(all.len(), o.len(), "{o:?}");
        for (t, name) in [(100, "100"), (1000, "1000")] {
            assert!(all.iter().any(|r| r.table == t));
            assert!(o.iter().any(|r| r["table"] == name), "{o:?}");
        }
        // Deleting needs the table: in main there is no such route.
        let e = h.route_del(&RouteSpec::to("10.4.0.0/16".parse().unwrap())).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ESRCH), "{e}");
        h.route_del(&RouteSpec::to("10.4.0.0/16".parse().unwrap()).table(100)).unwrap();
        assert!(ip(&["route", "show", "table", "100"]).as_array().unwrap().is_empty());
        // A listed route names itself for deletion.
        for r in h.routes(t1000).unwrap() {
            h.route_del(&r.to_spec()).unwrap();
        }
        assert!(ip(&["route", "show", "table", "1000"]).as_array().unwrap().is_empty());
    }
}

sandbox_test! {
    fn multipath_with_weights_reads_back() {
        let (h, i0, i1) = lab();
        let n = names(&h);
        let spec = RouteSpec::to("10.5.0.0/24".parse().unwrap())
            .nexthop(Nexthop { via: Some(ipa("10.0.0.254")), dev: Some(i0), weight: 1 })
            .nexthop(Nexthop { via: Some(ipa("10.0.1.254")), dev: Some(i1), weight: 3 });
        h.route_add(&spec).unwrap();
        let r = ours(&h, V4, "10.5.0.0/24");
        assert_eq!(r.nexthops, spec.nexthops);
        assert_eq!((r.gateway, r.oif), (None, None));
        let o = theirs(&["route", "show"], "10.5.0.0/24");
        assert_eq!(o["nexthops"][1]["weight"], 3, "{o}");
        assert_same(&r, &o, &n);

        let spec6 = RouteSpec::to("fd05::/64".parse().unwrap())
            .nexthop(Nexthop::via(ipa("fd00::fe")).dev(i0).weight(2))
            .nexthop(Nexthop::via(ipa("fd01::fe")).dev(i1).weight(5));
        h.route_add(&spec6).unwrap();
        let r6 = ours(&h, V6, "fd05::/64");
        assert_eq!(r6.nexthops, spec6.nexthops);
        assert_same(&r6, &theirs(&["-6", "route", "show"], "fd05::/64"), &n);

        // Lookups land on one of the two paths.
        let got = h.route_get(ipa("10.5.0.9"), RouteQuery::default()).unwrap();
        assert!([ipa("10.0.0.254"), ipa("10.0.1.254")].contains(&got.gateway.unwrap()), "{got:?}");

        // Listed multipath routes delete themselves exactly.
        h.route_del(&r.to_spec()).unwrap();
        h.route_del(&r6.to_spec()).unwrap();
        assert!(ip(&["route", "show", "10.5.0.0/24"]).as_array().unwrap().is_empty());
        assert!(ip(&["-6", "route", "show", "fd05::/64"]).as_array().unwrap().is_empty());
    }
}

sandbox_test! {
    fn blackhole_unreachable_and_prohibit_read_back_and_refuse_lookups() {
        let (h, _, _) = lab();
        let n = names(&h);
        for (dst, spec, errno) in [
            ("10.6.0.0/16", RouteSpec::to("10.6.0.0/16".parse().unwrap()).blackhole(), Errno::EINVAL),
            ("10.7.0.0/16", RouteSpec::to("10.7.0.0/16".parse().unwrap()).unreachable(), Errno::EHOSTUNREACH),
            ("10.8.0.0/16", RouteSpec::to("10.8.0.0/16".parse().unwrap()).prohibit(), Errno::EACCES),
        ] {
            h.route_add(&spec).unwrap();
            let r = ours(&h, V4, dst);
            assert_eq!(Some(r.kind), spec.kind);
            assert_same(&r, &theirs(&["route", "show"], dst), &n);
            let probe = ipa(&dst.replace(".0/16", ".1"));
            let e = h.route_get(probe, RouteQuery::default()).unwrap_err();
            assert_eq!(e.errno(), Some(errno), "{e}");
            assert!(e.to_string().starts_with(&format!("look up route to {probe} (netns red)")), "{e}");
        }
        h.route_add(&RouteSpec::to("fd06::/64".parse().unwrap()).blackhole()).unwrap();
        let r = ours(&h, V6, "fd06::/64");
        assert_eq!(r.kind, RouteType::Blackhole);
        assert_same(&r, &theirs(&["-6", "route", "show"], "fd06::/64"), &n);
        // Delete by type.
        h.route_del(&RouteSpec::to("10.6.0.0/16".parse().unwrap()).blackhole()).unwrap();
        assert!(ip(&["route", "show", "10.6.0.0/16"]).as_array().unwrap().is_empty());
    }
}

sandbox_test! {
    fn route_get_agrees_with_ip_route_get() {
        let (h, i0, i1) = lab();
        let n = names(&h);
        h.route_add(&RouteSpec::default_v4().via(ipa("10.0.0.254"))).unwrap();
        h.route_add(&RouteSpec::to("10.2.0.0/16".parse().unwrap()).dev(i1)).unwrap();
        h.route_add(&RouteSpec::to("10.9.0.0/16".parse().unwrap()).via(ipa("10.0.1.254")).src(ipa("10.0.0.1"))).unwrap();
        h.route_add(&RouteSpec::default_v6().via(ipa("fd01::fe")).dev(i1)).unwrap();
        let cases: [(&str, RouteQuery, Vec<&str>); 7] = [
            ("8.8.8.8", RouteQuery::default(), vec![]),
            ("10.2.3.4", RouteQuery::default(), vec![]),
            ("10.0.0.77", RouteQuery::default(), vec![]),
            ("10.9.1.1", RouteQuery::default(), vec![]),
            ("8.8.4.4", RouteQuery { from: Some(ipa("10.0.1.1")), ..Default::default() }, vec!["from", "10.0.1.1"]),
            ("10.0.1.9", RouteQuery { oif: Some(i0), ..Default::default() }, vec!["oif", "v0"]),
            ("2001:db8::1", RouteQuery::default(), vec![]),
        ];
        for (dst, q, extra) in cases {
            let got = h.route_get(ipa(dst), q).unwrap();
            let mut args = vec!["route", "get", dst];
            args.extend(extra);
            let o = ip(&args);
            let o = &o[0];
            let s = |v: &Value| v.as_str().map(str::to_owned);
            assert_eq!(got.dst, IpNet::host(ipa(dst)), "{dst}");
            assert_eq!(got.oif.map(|i| n[&i].clone()), s(&o["dev"]), "{dst}: {o}");
            assert_eq!(got.gateway.map(|g| g.to_string()), s(&o["gateway"]), "{dst}: {o}");
            assert_eq!(got.prefsrc.map(|g| g.to_string()), s(&o["prefsrc"]), "{dst}: {o}");
            assert_eq!(got.kind, RouteType::Unicast);
            assert_eq!(got.table, route::MAIN, "{dst}");
        }
        // Local addresses are delivered here (the kernel merges the local table into main while
        // there are no policy rules, so the table it reports is main).
        let local = h.route_get(ipa("10.0.0.1"), RouteQuery::default()).unwrap();
        assert_eq!(local.kind, RouteType::Local);
    }
}

sandbox_test! {
    fn unroutable_destination_is_the_kernels_errno() {
        let h = Handle::new(netns::add_named("red", Source::New).unwrap()).unwrap();
        let e = h.route_get(ipa("192.0.2.1"), RouteQuery::default()).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENETUNREACH), "{e}");
        assert_eq!(e.to_string(), "look up route to 192.0.2.1 (netns red): Network is unreachable");
    }
}

sandbox_test! {
    fn replace_changes_the_route_in_place() {
        let (h, _, i1) = lab();
        let spec = RouteSpec::to("10.3.0.0/16".parse().unwrap());
        h.route_add(&spec.clone().via(ipa("10.0.0.254"))).unwrap();
        let e = h.route_add(&spec.clone().via(ipa("10.0.1.254"))).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EEXIST), "{e}");
        h.route_replace(&spec.clone().via(ipa("10.0.1.254")).dev(i1)).unwrap();
        let o = ip(&["route", "show", "10.3.0.0/16"]);
        assert_eq!(o.as_array().unwrap().len(), 1, "{o}");
        assert_eq!(o[0]["gateway"], "10.0.1.254");
        assert_eq!(o[0]["dev"], "v1");
        h.route_replace(&RouteSpec::to("10.4.0.0/16".parse().unwrap()).dev(i1)).unwrap();
        assert_eq!(ip(&["route", "show", "10.4.0.0/16"]).as_array().unwrap().len(), 1, "replace creates");
    }
}

sandbox_test! {
    fn refusals_are_clear_and_leave_nothing_behind() {
        let (h, i0, _) = lab();
        let before = ip(&["route", "show", "table", "all"]);

        // Gateway not on a connected network: the kernel's extack is kept.
        let spec = RouteSpec::to("10.1.0.0/24".parse().unwrap()).via(ipa("10.99.0.254"));
        let e = h.route_add(&spec).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENETUNREACH), "{e}");
        let Error::Netlink { source, .. } = &e else { panic!("{e:?}") };
        assert!(source.extack.as_deref().is_some_and(|m| m.contains("gateway")), "{e}");
        let text = e.to_string();
        assert!(text.starts_with("add route 10.1.0.0/24 via 10.99.0.254 (netns red): "), "{text}");
        assert!(text.ends_with("(Network is unreachable)"), "{text}");

        // Unknown device.
        let e = h.route_add(&RouteSpec::to("10.1.0.0/24".parse().unwrap()).dev(9999).dev_name(9999, "ghost0")).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENODEV), "{e}");
        assert!(e.to_string().contains("10.1.0.0/24 dev ghost0"), "{e}");

        // Deleting a route that is not there.
        let e = h.route_del(&RouteSpec::to("10.77.0.0/16".parse().unwrap()).dev(i0)).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ESRCH), "{e}");
        assert!(e.to_string().starts_with("delete route 10.77.0.0/16 dev #"), "{e}");

        // Refused before sending.
        let e = h.route_add(&RouteSpec::default_v6().via(ipa("10.0.0.254"))).unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{e}");
        for bad in ["10.0.0.0/33", "fd00::/200", "10.0.0/8", "nonsense"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }

        // A batch with one bad route: the others are answered on their own, nothing half-done.
        let good = RouteSpec::to("10.20.0.0/16".parse().unwrap()).via(ipa("10.0.0.254"));
        let out = h.execute(vec![good.request_add(), spec.request_add()]);
        assert!(out[0].is_ok() && out[1].is_err());
        h.route_del(&good).unwrap();
        assert_eq!(ip(&["route", "show", "table", "all"]), before);
    }
}

sandbox_test! {
    fn onlink_gateway_and_ipv6_gateway_for_ipv4() {
        let (h, i0, _) = lab();
        let n = names(&h);
        // Outside every connected network: refused, unless onlink (as Calico and Docker's
        // macvlan setups use it).
        let spec = RouteSpec::default_v4().via(ipa("169.254.1.1")).dev(i0);
        let e = h.route_add(&spec).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENETUNREACH), "{e}");
        h.route_add(&spec.clone().onlink()).unwrap();
        let r = ours(&h, V4, "default");
        assert!(r.onlink(), "{r:?}");
        let o = theirs(&["route", "show"], "default");
        assert_eq!(o["flags"], serde_json::json!(["onlink"]), "{o}");
        assert_same(&r, &o, &n);

        // An IPv4 route through an IPv6 gateway goes out as RTA_VIA.
        h.route_add(&RouteSpec::to("10.50.0.0/16".parse().unwrap()).via(ipa("fd00::fe")).dev(i0)).unwrap();
        let r = ours(&h, V4, "10.50.0.0/16");
        assert_eq!(r.gateway, Some(ipa("fd00::fe")));
        let o = theirs(&["route", "show"], "10.50.0.0/16");
        assert_eq!(o["via"]["host"], "fd00::fe", "{o}");
        assert_eq!(o["via"]["family"], "inet6", "{o}");
    }
}

sandbox_test! {
    fn thousands_of_routes_in_one_batch_and_one_dump() {
        let (h, i0, _) = lab();
        let specs: Vec<RouteSpec> = (0..3000u32)
            .map(|i| {
                let dst = IpNet::host(IpAddr::V4(std::net::Ipv4Addr::from(0x0a64_0000 + i)));
                RouteSpec::to(dst).via(ipa("10.0.0.254")).table(200)
            })
            .collect();
        h.execute_all(specs.iter().map(RouteSpec::request_add).collect()).unwrap();
        let t200 = RouteFilter { table: Some(200), family: Some(Family::V4) };
        let listed = h.routes(t200).unwrap();
        assert_eq!(listed.len(), 3000);
        assert!(listed.iter().all(|r| r.oif == Some(i0) && r.gateway == Some(ipa("10.0.0.254"))));
        let o = ip(&["route", "show", "table", "200"]);
        assert_eq!(o.as_array().unwrap().len(), 3000);
        h.execute_all(listed.iter().map(|r| r.to_spec().request_del()).collect()).unwrap();
        assert!(h.routes(t200).unwrap().is_empty());
    }
}
