//! `warren-dns --config PATH [--pid-file PATH]`: warren's DNS server (see the library docs).
//! Exit codes: 0 stopped (SIGTERM, SIGINT, or a config without listen addresses), 1 could not
//! start, 2 bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: warren-dns --config PATH [--pid-file PATH]";

fn main() -> ExitCode {
    let mut config: Option<PathBuf> = None;
    let mut pid_file: Option<PathBuf> = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.to_str() {
            Some("--config") => &mut config,
            Some("--pid-file") => &mut pid_file,
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return usage(&format!("unexpected argument {}", arg.to_string_lossy())),
        };
        match args.next() {
            Some(value) => *slot = Some(value.into()),
            None => return usage(&format!("{} needs a value", arg.to_string_lossy())),
        }
    }
    let Some(config) = config else {
        return usage("--config is required");
    };
    match warren_dns::run(&config, pid_file.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warren-dns: {}", warren_dns::error_chain(&e));
            ExitCode::from(1)
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("warren-dns: {problem}\n{USAGE}");
    ExitCode::from(2)
}
