//! Print every network namespace of the host, as `warren ns list --all` does, from the
//! library: `cargo run -p warren-netns --example every_netns` (as root to see them all).

fn main() -> Result<(), warren_netns::Error> {
    let t0 = std::time::Instant::now();
    let rows = warren_netns::scan::all()?;
    for r in &rows {
        let main = r
            .main
            .as_ref()
            .map_or_else(String::new, |m| format!("{} {}", m.pid, m.comm));
        let hint = r
            .hint
            .as_ref()
            .map_or_else(String::new, ToString::to_string);
        println!(
            "net:[{}] procs={} ifaces={} nsid={:?} names={:?} main={main} {hint}",
            r.ino,
            r.processes,
            r.interfaces.map_or_else(|| "?".into(), |n| n.to_string()),
            r.nsid,
            r.names,
        );
    }
    eprintln!("{} namespaces in {:?}", rows.len(), t0.elapsed());
    Ok(())
}
