//! `warren-cni install [DIR]`: put the plugins where a runtime looks for them — this binary
//! copied once into DIR (default `/opt/cni/bin`) as `warren-cni`, and every plugin name a
//! hard link to it (a symbolic link where the directory is on another file system than the
//! copy... never: the copy is in DIR itself, so hard links always work).

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
        Some("--version") => {
            println!("warren-cni {}", env!("CARGO_PKG_VERSION"));
            0
        }
        _ => {
            eprintln!(
                "usage: warren-cni install [DIR]   (default {DEFAULT_DIR})\n\
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
