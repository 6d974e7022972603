//! Time `list_containers` with many rows (a development aid:
//! `cargo run --release -p warren-store --example list_bench`).

use std::time::Instant;

use warren_store::{Kind, NewContainer, NewEndpoint, NewNetwork, Store, Subnet};

fn main() {
    let dir = std::env::temp_dir().join(format!("warren-list-bench-{}", std::process::id()));
    let mut s = Store::open(&dir).unwrap();
    let net = "10.40.0.0/16".parse().unwrap();
    s.write(|tx| {
        warren_store::insert_network(
            tx,
            &NewNetwork {
                name: "n".into(),
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
            },
        )
    })
    .unwrap();
    for i in 0..120 {
        s.write(|tx| {
            warren_store::insert_container(
                tx,
                &NewContainer {
                    id: format!("{i:012x}"),
                    name: format!("c{i}"),
                    kind: Kind::Pod,
                    netns: None,
                    mode: "n".into(),
                    pod: None,
                    hostname: None,
                    owner_pid: 1,
                    owner_start: 1,
                    spec: serde_json::json!({"cmd": [], "dns": []}),
                    endpoints: vec![NewEndpoint {
                        network: "n".into(),
                        ifname: "eth0".into(),
                        ..Default::default()
                    }],
                    ports: vec![],
                },
            )
        })
        .unwrap();
    }
    for _ in 0..5 {
        let t = Instant::now();
        let n = s.read(warren_store::list_containers).unwrap().len();
        let t1 = t.elapsed();
        let t = Instant::now();
        let _ = s.read(warren_store::list_networks).unwrap();
        println!(
            "{n} containers listed in {t1:?}; networks in {:?}",
            t.elapsed()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
