//! The CNI state against a real SQLite file: host-local style allocation, release, records.

use std::net::IpAddr;

use warren_store::{
    CniLease, CniRange, CniRangeSet, CniRecord, Error, Store, cni_allocate, cni_attachments,
    cni_ip_owner, cni_leases, cni_networks, cni_record_count, cni_record_delete, cni_record_get,
    cni_record_put, cni_records, cni_release,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn range(subnet: &str, start: Option<&str>, end: Option<&str>, gw: Option<&str>) -> CniRange {
    CniRange::new(
        subnet.parse().unwrap(),
        start.map(ip),
        end.map(ip),
        gw.map(ip),
    )
    .unwrap()
}

fn set(subnet: &str) -> CniRangeSet {
    vec![range(subnet, None, None, None)]
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    (dir, s)
}

fn alloc(
    s: &mut Store,
    cid: &str,
    sets: &[CniRangeSet],
    req: &[&str],
) -> Result<Vec<IpAddr>, Error> {
    let req: Vec<IpAddr> = req.iter().map(|r| ip(r)).collect();
    s.write(|tx| cni_allocate(tx, "n", cid, "eth0", sets, &req))
        .map(|v| v.into_iter().map(|l| l.ip).collect())
}

fn release(s: &mut Store, cid: &str) -> Vec<IpAddr> {
    s.write(|tx| cni_release(tx, "n", cid, "eth0")).unwrap()
}

#[test]
fn range_defaults_follow_host_local() {
    for (subnet, start, end, gw) in [
        ("10.0.0.0/24", "10.0.0.1", "10.0.0.254", "10.0.0.1"),
        ("10.0.0.0/30", "10.0.0.1", "10.0.0.2", "10.0.0.1"),
        (
            "fd00::/64",
            "fd00::1",
            "fd00::ffff:ffff:ffff:ffff",
            "fd00::1",
        ),
    ] {
        let r = range(subnet, None, None, None);
        assert_eq!(
            (r.start, r.end, r.gateway),
            (ip(start), ip(end), Some(ip(gw))),
            "{subnet}"
        );
    }
    let r = range(
        "10.0.0.0/24",
        Some("10.0.0.100"),
        Some("10.0.0.200"),
        Some("10.0.0.254"),
    );
    assert_eq!(
        (r.start, r.end, r.gateway),
        (ip("10.0.0.100"), ip("10.0.0.200"), Some(ip("10.0.0.254")))
    );
}

#[test]
fn invalid_ranges_name_the_field() {
    for (subnet, start, end, gw, want) in [
        (
            "10.2.0.0/24",
            Some("10.1.0.5"),
            None,
            None,
            "rangeStart 10.1.0.5 is outside subnet 10.2.0.0/24",
        ),
        (
            "10.2.0.0/24",
            None,
            Some("10.3.0.1"),
            None,
            "rangeEnd 10.3.0.1 is outside subnet 10.2.0.0/24",
        ),
        (
            "10.2.0.0/24",
            None,
            None,
            Some("fd00::1"),
            "gateway fd00::1 is outside subnet 10.2.0.0/24",
        ),
        (
            "10.2.0.0/24",
            Some("10.2.0.9"),
            Some("10.2.0.3"),
            None,
            "rangeStart 10.2.0.9 is after rangeEnd 10.2.0.3",
        ),
        (
            "10.2.0.5/24",
            None,
            None,
            None,
            "subnet 10.2.0.5/24 has host bits set (the network is 10.2.0.0/24)",
        ),
        (
            "10.2.0.0/31",
            None,
            None,
            None,
            "subnet 10.2.0.0/31 is too small to allocate from",
        ),
    ] {
        let err = CniRange::new(
            subnet.parse().unwrap(),
            start.map(ip),
            end.map(ip),
            gw.map(ip),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn released_addresses_are_not_reused_at_once() {
    let (_d, mut s) = store();
    let sets = [set("10.0.0.0/29")];
    // .1 is the gateway, .0 and .7 network and broadcast: .2 to .6 are handed out.
    assert_eq!(alloc(&mut s, "a", &sets, &[]).unwrap(), [ip("10.0.0.2")]);
    assert_eq!(alloc(&mut s, "b", &sets, &[]).unwrap(), [ip("10.0.0.3")]);
    assert_eq!(release(&mut s, "a"), [ip("10.0.0.2")]);
    assert_eq!(alloc(&mut s, "c", &sets, &[]).unwrap(), [ip("10.0.0.4")]);
    assert_eq!(alloc(&mut s, "d", &sets, &[]).unwrap(), [ip("10.0.0.5")]);
    assert_eq!(alloc(&mut s, "e", &sets, &[]).unwrap(), [ip("10.0.0.6")]);
    // Wrapping round past the broadcast, network and gateway addresses to the freed one.
    assert_eq!(alloc(&mut s, "f", &sets, &[]).unwrap(), [ip("10.0.0.2")]);
}

#[test]
fn gateway_network_and_broadcast_are_skipped_even_inside_an_explicit_range() {
    let (_d, mut s) = store();
    let sets = [vec![range(
        "10.0.0.0/29",
        Some("10.0.0.0"),
        Some("10.0.0.7"),
        Some("10.0.0.3"),
    )]];
    let mut got = Vec::new();
    for c in ["a", "b", "c", "d", "e"] {
        got.extend(alloc(&mut s, c, &sets, &[]).unwrap());
    }
    assert_eq!(
        got,
        ["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"].map(ip)
    );
    let err = alloc(&mut s, "f", &sets, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no IP addresses available in range set: 10.0.0.0-10.0.0.7"
    );
}

#[test]
fn a_slash_30_holds_one_address_and_exhaustion_lists_the_ranges() {
    let (_d, mut s) = store();
    let sets = [set("10.0.0.0/30")];
    assert_eq!(alloc(&mut s, "a", &sets, &[]).unwrap(), [ip("10.0.0.2")]);
    let err = alloc(&mut s, "b", &sets, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no IP addresses available in range set: 10.0.0.1-10.0.0.2"
    );
    let two = [vec![
        range("10.0.0.0/30", None, None, None),
        range("10.0.1.0/30", None, None, None),
    ]];
    assert_eq!(alloc(&mut s, "b", &two, &[]).unwrap(), [ip("10.0.1.2")]);
    let err = alloc(&mut s, "c", &two, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no IP addresses available in range set: 10.0.0.1-10.0.0.2, 10.0.1.1-10.0.1.2"
    );
}

#[test]
fn requested_addresses_in_range_out_of_range_and_taken() {
    let (_d, mut s) = store();
    let sets = [set("10.0.0.0/24")];
    assert_eq!(
        alloc(&mut s, "a", &sets, &["10.0.0.50"]).unwrap(),
        [ip("10.0.0.50")]
    );
    let err = alloc(&mut s, "b", &sets, &["10.0.0.50"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "requested IP 10.0.0.50 in network n is already allocated to a/eth0"
    );
    let err = alloc(&mut s, "b", &sets, &["10.9.0.1"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "network \"n\": address 10.9.0.1 is in none of the configured ranges"
    );
    let err = alloc(&mut s, "b", &sets, &["10.0.0.1"]).unwrap_err();
    assert!(err.to_string().contains("10.0.0.1 is reserved"), "{err}");
    // The cursor followed the requested address.
    assert_eq!(alloc(&mut s, "b", &sets, &[]).unwrap(), [ip("10.0.0.51")]);
    let owner = s.read(|tx| cni_ip_owner(tx, "n", ip("10.0.0.51"))).unwrap();
    assert_eq!(owner, Some(("b".into(), "eth0".into())));
    assert_eq!(
        s.read(|tx| cni_ip_owner(tx, "n", ip("10.0.0.52"))).unwrap(),
        None
    );
}

#[test]
fn an_attachment_gets_one_allocation() {
    let (_d, mut s) = store();
    let sets = [set("10.0.0.0/24")];
    alloc(&mut s, "a", &sets, &[]).unwrap();
    let err = alloc(&mut s, "a", &sets, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "duplicate allocation is not allowed: a/eth0 already has 10.0.0.2 in network n"
    );
    // Another interface of the same container, or another network, is fine.
    s.write(|tx| cni_allocate(tx, "n", "a", "eth1", &sets, &[]))
        .unwrap();
    s.write(|tx| cni_allocate(tx, "m", "a", "eth0", &sets, &[]))
        .unwrap();
}

#[test]
fn two_range_sets_give_two_leases_and_overlapping_sets_are_refused() {
    let (_d, mut s) = store();
    let sets = [set("10.0.0.0/24"), set("fd00::/64")];
    let got = s
        .write(|tx| cni_allocate(tx, "n", "a", "eth0", &sets, &[ip("fd00::9")]))
        .unwrap();
    let want = [
        CniLease {
            ip: ip("10.0.0.2"),
            prefix: 24,
            gateway: Some(ip("10.0.0.1")),
            range_set: 0,
        },
        CniLease {
            ip: ip("fd00::9"),
            prefix: 64,
            gateway: Some(ip("fd00::1")),
            range_set: 1,
        },
    ];
    assert_eq!(got, want);
    assert_eq!(s.read(|tx| cni_leases(tx, "n", "a", "eth0")).unwrap(), want);
    let overlapping = [
        set("10.0.0.0/24"),
        vec![range("10.0.0.0/16", None, None, None)],
    ];
    let err = alloc(&mut s, "b", &overlapping, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ranges 10.0.0.1-10.0.0.254 overlaps range 10.0.0.1-10.0.255.254"
    );
}

#[test]
fn release_is_idempotent() {
    let (_d, mut s) = store();
    let sets = [set("10.0.0.0/24"), set("fd00::/64")];
    alloc(&mut s, "a", &sets, &[]).unwrap();
    assert_eq!(release(&mut s, "a"), [ip("10.0.0.2"), ip("fd00::2")]);
    assert_eq!(release(&mut s, "a"), Vec::<IpAddr>::new());
    assert_eq!(release(&mut s, "never"), Vec::<IpAddr>::new());
    assert!(
        s.read(|tx| cni_leases(tx, "n", "a", "eth0"))
            .unwrap()
            .is_empty()
    );
}

fn record(cid: &str, ifname: &str, plugin: &str) -> CniRecord {
    CniRecord {
        network: "n".into(),
        container_id: cid.into(),
        ifname: ifname.into(),
        plugin: plugin.into(),
        netns: Some(format!("/run/netns/{cid}")),
        data: r#"{"chain":"WRN-1"}"#.into(),
        created: 42,
    }
}

#[test]
fn records_put_get_delete_count() {
    let (_d, mut s) = store();
    let a = record("a", "eth0", "portmap");
    s.write(|tx| cni_record_put(tx, &a)).unwrap();
    let err = s.write(|tx| cni_record_put(tx, &a)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "CNI record \"n/a/eth0/portmap\" already exists"
    );
    s.write(|tx| cni_record_put(tx, &record("b", "eth0", "portmap")))
        .unwrap();
    s.write(|tx| cni_record_put(tx, &record("a", "eth0", "bridge")))
        .unwrap();
    s.read(|tx| {
        assert_eq!(
            cni_record_get(tx, "n", "a", "eth0", "portmap")?,
            Some(a.clone())
        );
        assert_eq!(cni_record_get(tx, "n", "a", "eth1", "portmap")?, None);
        assert_eq!(cni_record_count(tx, "n", "portmap")?, 2);
        assert_eq!(cni_record_count(tx, "m", "portmap")?, 0);
        let all = cni_records(tx, "n", "portmap")?;
        assert_eq!(all, [a.clone(), record("b", "eth0", "portmap")]);
        Ok::<_, Error>(())
    })
    .unwrap();
    let gone = s
        .write(|tx| cni_record_delete(tx, "n", "a", "eth0", "portmap"))
        .unwrap();
    assert_eq!(gone, Some(a));
    let again = s
        .write(|tx| cni_record_delete(tx, "n", "a", "eth0", "portmap"))
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(
        s.read(|tx| cni_record_count(tx, "n", "portmap")).unwrap(),
        1
    );
}

#[test]
fn attachments_and_networks_are_the_union_of_leases_and_records() {
    let (_d, mut s) = store();
    let sets = [set("10.0.0.0/24")];
    alloc(&mut s, "a", &sets, &[]).unwrap();
    s.write(|tx| cni_record_put(tx, &record("a", "eth0", "bridge")))
        .unwrap();
    s.write(|tx| cni_record_put(tx, &record("b", "net1", "bridge")))
        .unwrap();
    s.write(|tx| cni_allocate(tx, "m", "c", "eth0", &sets, &[]))
        .unwrap();
    let att = s.read(|tx| cni_attachments(tx, "n")).unwrap();
    assert_eq!(
        att,
        [("a".into(), "eth0".into()), ("b".into(), "net1".into())]
    );
    assert_eq!(s.read(cni_networks).unwrap(), ["m", "n"]);
    release(&mut s, "a");
    s.write(|tx| cni_release(tx, "m", "c", "eth0")).unwrap();
    assert_eq!(s.read(cni_networks).unwrap(), ["n"]);
}

#[test]
fn sixty_four_concurrent_writers_get_distinct_addresses() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap();
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let path = dir.path().to_owned();
            std::thread::spawn(move || {
                let mut s = Store::open(&path).unwrap();
                let sets = [set("10.1.0.0/25")];
                s.write(|tx| cni_allocate(tx, "n", &format!("{i:08x}"), "eth0", &sets, &[]))
                    .unwrap()[0]
                    .ip
            })
        })
        .collect();
    let mut got: Vec<IpAddr> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 64, "every writer got its own address");
    assert!(
        !got.contains(&ip("10.1.0.1")),
        "the gateway is never handed out"
    );
    // Handed out in order: .2 to .65.
    assert_eq!((got[0], got[63]), (ip("10.1.0.2"), ip("10.1.0.65")));
}
