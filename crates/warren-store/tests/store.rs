//! The store against a real SQLite file: networks, IPAM under concurrency, ports.

use std::net::IpAddr;

use warren_store::{
    Error, HostIp, Kind, NewContainer, NewEndpoint, NewNetwork, Port, Store, Subnet,
};

fn network(name: &str, subnet: &str) -> NewNetwork {
    let net = subnet.parse().unwrap();
    NewNetwork {
        name: name.into(),
        driver: "bridge".into(),
        iface: None,
        mode: None,
        mtu: None,
        internal: false,
        subnets: vec![Subnet {
            net,
            gateway: warren_store::ipam::first_host(net),
            range: None,
        }],
    }
}

fn container(id: &str, net: &str, ports: Vec<Port>) -> NewContainer {
    NewContainer {
        id: id.into(),
        name: format!("c-{id}"),
        kind: Kind::Container,
        netns: None,
        mode: "bridge".into(),
        pod: None,
        hostname: None,
        owner_pid: 1,
        owner_start: 1,
        spec: serde_json::json!({}),
        endpoints: vec![NewEndpoint {
            network: net.into(),
            ifname: "eth0".into(),
            host_ifname: Some(format!("wv{id}")),
            ..Default::default()
        }],
        ports,
    }
}

fn tcp(host_ip: HostIp, host_port: u16) -> Port {
    Port {
        host_ip,
        proto: "tcp".into(),
        host_port,
        port: 80,
    }
}

#[test]
fn sixty_four_concurrent_writers_get_distinct_addresses() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path())
        .unwrap()
        .write(|tx| warren_store::insert_network(tx, &network("n", "10.1.0.0/24")))
        .unwrap();
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let path = dir.path().to_owned();
            std::thread::spawn(move || {
                let mut s = Store::open(&path).unwrap();
                let c = s
                    .write(|tx| {
                        warren_store::insert_container(
                            tx,
                            &container(&format!("{i:08x}"), "n", vec![]),
                        )
                    })
                    .unwrap();
                c.endpoints[0].addrs[0]
            })
        })
        .collect();
    let mut got: Vec<IpAddr> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 64, "every writer got its own address");
    assert!(
        !got.contains(&"10.1.0.1".parse().unwrap()),
        "the gateway is never handed out"
    );
}

#[test]
fn overlapping_subnets_and_duplicate_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.write(|tx| warren_store::insert_network(tx, &network("a", "10.2.0.0/16")))
        .unwrap();
    let e = s
        .write(|tx| warren_store::insert_network(tx, &network("b", "10.2.3.0/24")))
        .unwrap_err();
    assert!(matches!(e, Error::Overlap { .. }), "{e}");
    assert!(e.to_string().contains("10.2.0.0/16"), "{e}");
    let e = s
        .write(|tx| warren_store::insert_network(tx, &network("a", "10.3.0.0/24")))
        .unwrap_err();
    assert!(matches!(e, Error::Exists { .. }), "{e}");
    let nets = s.read(warren_store::list_networks).unwrap();
    assert_eq!(nets.len(), 1, "nothing half-made");
    assert_eq!(nets[0].iface, format!("wbr{}", nets[0].id));
}

#[test]
fn released_addresses_are_not_reused_at_once_and_exhaustion_is_clear() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.write(|tx| warren_store::insert_network(tx, &network("n", "10.4.0.0/29")))
        .unwrap();
    let a = s
        .write(|tx| warren_store::insert_container(tx, &container("aaaa0001", "n", vec![])))
        .unwrap();
    assert_eq!(a.endpoints[0].addrs[0].to_string(), "10.4.0.2");
    s.write(|tx| warren_store::delete_container(tx, "aaaa0001"))
        .unwrap();
    let b = s
        .write(|tx| warren_store::insert_container(tx, &container("aaaa0002", "n", vec![])))
        .unwrap();
    assert_eq!(
        b.endpoints[0].addrs[0].to_string(),
        "10.4.0.3",
        "the cursor walks on"
    );
    for i in 3..=7 {
        let _ = s.write(|tx| {
            warren_store::insert_container(tx, &container(&format!("aaaa000{i}"), "n", vec![]))
        });
    }
    let e = s
        .write(|tx| warren_store::insert_container(tx, &container("aaaa0009", "n", vec![])))
        .unwrap_err();
    assert!(matches!(e, Error::Exhausted { .. }), "{e}");
    assert!(
        s.read(|tx| warren_store::find_container(tx, "aaaa0009"))
            .unwrap()
            .is_none(),
        "a failed insert leaves nothing"
    );
    // The one address freed in a full range is found by walking on from the cursor (the
    // last handed out, 10.4.0.2 after the wrap) past the ones in use.
    s.write(|tx| warren_store::delete_container(tx, "aaaa0005"))
        .unwrap();
    let c = s
        .write(|tx| warren_store::insert_container(tx, &container("aaaa0010", "n", vec![])))
        .unwrap();
    assert_eq!(c.endpoints[0].addrs[0].to_string(), "10.4.0.6");
}

#[test]
fn ports_collide_across_host_addresses_as_the_kernel_would() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.write(|tx| warren_store::insert_network(tx, &network("n", "10.5.0.0/24")))
        .unwrap();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    s.write(|tx| {
        warren_store::insert_container(
            tx,
            &container("bbbb0001", "n", vec![tcp(HostIp::Addr(lo), 8080)]),
        )
    })
    .unwrap();
    let e = s
        .write(|tx| {
            warren_store::insert_container(
                tx,
                &container("bbbb0002", "n", vec![tcp(HostIp::All, 8080)]),
            )
        })
        .unwrap_err();
    assert!(matches!(e, Error::PortTaken { .. }), "{e}");
    assert!(e.to_string().contains("c-bbbb0001"), "names the owner: {e}");
    // Another family's wildcard does not collide with 127.0.0.1.
    s.write(|tx| {
        warren_store::insert_container(
            tx,
            &container(
                "bbbb0003",
                "n",
                vec![tcp(HostIp::from_spec(Some("::".parse().unwrap())), 8080)],
            ),
        )
    })
    .unwrap();
}

#[test]
fn a_new_database_is_in_wal_mode_and_reopening_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Store::open(dir.path()).unwrap();
        s.write(|tx| warren_store::insert_network(tx, &network("n1", "10.9.0.0/24")))
            .unwrap();
    }
    let raw = rusqlite::Connection::open(dir.path().join("warren.db")).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "set once, when the schema is created");
    drop(raw);
    // Opening an existing database only sets the per-connection options.
    let mut s = Store::open(dir.path()).unwrap();
    let n = s.read(|tx| warren_store::get_network(tx, "n1")).unwrap();
    assert!(n.is_some());
}

/// Short-lived processes never let SQLite's own checkpoint start the WAL over (each first
/// connection re-reads the WAL and counts none of it as checkpointed): commits keep it
/// under the limit by truncating it.
#[test]
fn the_wal_stays_short_across_many_short_lived_connections() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("warren.db-wal");
    for i in 0..300 {
        // One connection per "process", dropped without a checkpoint on close.
        let mut s = Store::open(dir.path()).unwrap();
        s.write(|tx| {
            warren_store::set_meta(tx, &format!("k{i}"), Some(&"x".repeat(3000)))?;
            Ok::<_, warren_store::Error>(())
        })
        .unwrap();
        let len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(
            len <= warren_store::WAL_LIMIT + 64 * 1024,
            "WAL {len} bytes after {i}"
        );
    }
    // Nothing was lost on the way.
    let mut s = Store::open(dir.path()).unwrap();
    let v = s.read(|tx| warren_store::get_meta(tx, "k0")).unwrap();
    assert_eq!(v.as_deref().map(str::len), Some(3000));
    let v = s.read(|tx| warren_store::get_meta(tx, "k299")).unwrap();
    assert!(v.is_some());
}

#[test]
fn an_inserted_record_is_what_reading_it_back_gives() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let mut dual = network("d", "fd09::/64");
    dual.subnets
        .push(network("x", "10.6.0.0/24").subnets.remove(0));
    s.write(|tx| warren_store::insert_network(tx, &dual))
        .unwrap();
    s.write(|tx| warren_store::insert_network(tx, &network("n", "10.7.0.0/24")))
        .unwrap();
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let mut new = container(
        "cccc0001",
        "n",
        vec![
            tcp(HostIp::All, 9000),
            tcp(HostIp::Addr(lo), 8081),
            tcp(HostIp::All, 80),
        ],
    );
    new.ports.push(Port {
        proto: "udp".into(),
        ..tcp(HostIp::All, 53)
    });
    // Endpoints given out of interface order, one of them dual stack.
    new.endpoints.insert(
        0,
        NewEndpoint {
            network: "d".into(),
            ifname: "eth1".into(),
            host_ifname: Some("wvcccc00011".into()),
            aliases: vec!["api".into()],
            ..Default::default()
        },
    );
    let inserted = s
        .write(|tx| warren_store::insert_container(tx, &new))
        .unwrap();
    let read = s
        .read(|tx| warren_store::get_container(tx, "cccc0001"))
        .unwrap();
    assert_eq!(inserted, read);
    assert_eq!(read.endpoints[1].addrs.len(), 2, "{read:?}");
    // Names and ids stay unambiguous: a taken name, another's id, a unique id prefix.
    for taken in ["c-cccc0001", "cccc0001", "cccc"] {
        let mut again = container("dddd0001", "n", vec![]);
        again.name = taken.into();
        let e = s
            .write(|tx| warren_store::insert_container(tx, &again))
            .unwrap_err();
        assert!(matches!(e, Error::Exists { .. }), "{taken}: {e}");
    }
}
