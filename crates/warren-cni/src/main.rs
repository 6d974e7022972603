//! `warren-cni`: every warren CNI plugin in one binary. Run as `warren-bridge`,
//! `warren-host-local`, … (links to this binary) it is that plugin; run as `warren-cni` it
//! installs those links: `warren-cni install [DIR]`.

use warren_cni::install;
use warren_cni::plugins::{self, Plugin};

fn main() {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    if let Some(p) = Plugin::from_program(&program) {
        std::process::exit(plugins::main(p));
    }
    let rest: Vec<String> = args.collect();
    std::process::exit(install::cli(&rest));
}
