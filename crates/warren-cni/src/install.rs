//! `warren-cni install [DIR]`: put the plugins where a runtime looks for them — this binary
//! copied once into DIR (default `/opt/cni/bin`) as `warren-cni`, and every plugin name a
//! hard link to that copy (it is in DIR itself, so the links never cross file systems).
//! Also `ls`, `exec` (see [`crate::runtime`]) and `reap` (the plugins' detached deleter).

use std::io;
use std::path::{Path, PathBuf};

use crate::plugins::Plugin;

/// Where runtimes look by default.
pub const DEFAULT_DIR: &str = "/opt/cni/bin";

/// Install into `dir`: returns the paths made.
pub fn install(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let me = std::env::current_exe()?;
    let target = dir.join("warren-cni");
    let tmp = dir.join(".warren-cni.tmp");
    std::fs::copy(&me, &tmp)?;
    std::fs::rename(&tmp, &target)?;
    let mut made = vec![target.clone()];
    for p in Plugin::ALL {
        let link = dir.join(p.binary());
        match std::fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::hard_link(&target, &link)?;
        made.push(link);
    }
    Ok(made)
}

/// Every CNI attachment warren's store knows: network, container id, interface, its
/// addresses and the plugins holding a record of it (`warren-cni ls`).
pub fn list() -> Result<Vec<serde_json::Value>, String> {
    let paths = warren_engine::Paths::discover();
    let mut store = warren_store::Store::open(&paths.state).map_err(|e| e.to_string())?;
    store
        .read(|tx| {
            let mut out = Vec::new();
            for net in warren_store::cni_networks(tx)? {
                for (cid, ifname) in warren_store::cni_attachments(tx, &net)? {
                    let ips: Vec<String> = warren_store::cni_leases(tx, &net, &cid, &ifname)?
                        .iter()
                        .map(|l| format!("{}/{}", l.ip, l.prefix))
                        .collect();
                    let mut plugins = Vec::new();
                    let mut netns = None;
                    for p in Plugin::ALL {
                        if let Some(r) =
                            warren_store::cni_record_get(tx, &net, &cid, &ifname, p.name())?
                        {
                            plugins.push(p.binary());
                            netns = netns.or(r.netns);
                        }
                    }
                    out.push(serde_json::json!({
                        "network": net, "containerID": cid, "ifname": ifname,
                        "netns": netns, "ips": ips, "plugins": plugins,
                    }));
                }
            }
            Ok::<_, warren_store::Error>(out)
        })
        .map_err(|e| e.to_string())
}

/// The `warren-cni` command line (not run under a plugin's name).
pub fn cli(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("install") if args.len() <= 2 => {
            let dir = args.get(1).map_or(DEFAULT_DIR, String::as_str);
            match install(Path::new(dir)) {
                Ok(paths) => {
                    for p in paths {
                        println!("{}", p.display());
                    }
                    0
                }
                Err(e) => {
                    eprintln!("warren-cni: install into {dir}: {e}");
                    1
                }
            }
        }
        Some("exec") => match crate::runtime::cli(&args[1..]) {
            Ok(Some(v)) => {
                println!("{v}");
                0
            }
            Ok(None) => 0,
            Err(e) => {
                eprintln!("warren-cni: {e}");
                1
            }
        },
        Some("ls") if args.len() <= 2 => {
            let json = args.get(1).is_some_and(|a| a == "-j");
            match list() {
                Ok(rows) if json => {
                    println!("{}", serde_json::Value::Array(rows));
                    0
                }
                Ok(rows) => {
                    println!(
                        "{:<16} {:<24} {:<8} {:<28} PLUGINS",
                        "NETWORK", "CONTAINER", "IFNAME", "ADDRESSES"
                    );
                    for r in rows {
                        let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
                        let list = |k: &str| {
                            r[k].as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|v| v.as_str())
                                        .collect::<Vec<_>>()
                                        .join(",")
                                })
                                .unwrap_or_default()
                        };
                        let cid = s("containerID");
                        println!(
                            "{:<16} {:<24} {:<8} {:<28} {}",
                            s("network"),
                            &cid[..cid.len().min(24)],
                            s("ifname"),
                            list("ips"),
                            list("plugins")
                        );
                    }
                    0
                }
                Err(e) => {
                    eprintln!("warren-cni: {e}");
                    1
                }
            }
        }
        Some("reap") => crate::plugins::reap(&args[1..]),
        Some("--version") => {
            println!("warren-cni {}", env!("CARGO_PKG_VERSION"));
            0
        }
        _ => {
            eprintln!(
                "usage: warren-cni install [DIR]   (default {DEFAULT_DIR})\n\
                        warren-cni ls [-j]\n\
                        warren-cni exec ADD|DEL|CHECK|GC|STATUS CONFLIST [CID NETNS IFNAME] \
                 [--cap NAME=JSON]... [--args CNI_ARGS] [--valid CID/IFNAME]...\n\
                 Installs warren's CNI plugins: {}.\n\
                 Run under one of those names, this binary is that plugin.",
                Plugin::ALL.map(Plugin::binary).join(", ")
            );
            2
        }
    }
}
