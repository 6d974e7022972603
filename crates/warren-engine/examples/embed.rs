//! A runtime embedding warren's engine: one [`Engine`] kept open, pods wired and unwired in
//! the runtime's own process, with no `warren` process per container.
//!
//! ```sh
//! cargo build --release -p warren-engine --example embed
//! sudo target/release/examples/embed 20        # 20 pods with one published port each
//! ```
//!
//! It makes the network `embed0` (10.99.0.0/16) unless it exists, creates pods `embed-0`,
//! `embed-1`, ... each with port 40000+I published to its port 80, removes them (and the
//! network, if it made it), and prints the time of each step. `WARREN_STATE_DIR` chooses the state directory as for the CLI;
//! `warren-dns` is found beside this program's directory (`target/release`), as the CLI finds
//! it beside itself. Everything it makes is warren's ordinary state: `warren ps` lists the
//! pods while they exist, and `warren gc` removes what a killed run left.
//!
//! A runtime that makes the namespaces itself gives each with `RunSpec::netns` (the CLI's
//! `--adopt-netns`); removing such a pod retires its veth rather than waiting for the
//! kernel to delete it, and the runtime calls `Engine::delete_retired` when it can wait.

use std::time::{Duration, Instant};

use warren_engine::container::RunSpec;
use warren_engine::network::NetworkCreate;
use warren_engine::spec::{NetArg, PortSpec};
use warren_engine::{Engine, Result};

const NETWORK: &str = "embed0";

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    if let Err(e) = run(n) {
        eprintln!("embed: {e}");
        std::process::exit(1);
    }
}

fn run(n: usize) -> Result<()> {
    let t = Instant::now();
    let mut engine = Engine::open()?;
    println!("engine opened in {:.2} ms", ms(t.elapsed()));
    let made_network = engine.network(NETWORK).is_err();
    if made_network {
        engine.network_create(&NetworkCreate {
            name: NETWORK.into(),
            subnets: vec!["10.99.0.0/16".parse().expect("a subnet")],
            ..NetworkCreate::default()
        })?;
    }
    let mut made = Vec::new();
    for i in 0..n {
        let port: PortSpec = format!("{}:80/tcp", 40_000 + i).parse()?;
        let spec = RunSpec {
            name: Some(format!("embed-{i}")),
            nets: vec![NetArg::Network(NETWORK.into())],
            ports: vec![port],
            ..RunSpec::default()
        };
        let t = Instant::now();
        let pod = engine.pod_create(&spec)?;
        let took = t.elapsed();
        let addr = pod
            .endpoints
            .first()
            .and_then(|e| e.addrs.first())
            .map_or_else(String::new, |a| a.to_string());
        println!(
            "pod {} ({}) {addr}: wired in {:.2} ms",
            pod.name,
            pod.netns.as_deref().unwrap_or("-"),
            ms(took)
        );
        made.push(pod.name);
    }
    for name in &made {
        let t = Instant::now();
        engine.pod_remove(name, false)?;
        println!("pod {name}: removed in {:.2} ms", ms(t.elapsed()));
    }
    if made_network {
        engine.network_remove(NETWORK, false)?;
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
