//! One module per command. Each parses its arguments in two stages (pure parsing, tested
//! without privileges; then resolution against the system) and prints tables or JSON.

pub mod addr;
pub mod link;
pub mod ns;
pub mod route;
pub mod sysctl;

use crate::CliError;

/// `-n NS`: switch this (still single-threaded) process into the namespace before the command
/// runs, exactly as `ip -n` does (including the /sys remount and /etc/netns binds).
pub fn enter_netns(spec: &str) -> Result<(), CliError> {
    let (ns, etc_name) = open_ns_spec(spec)?;
    let report = warren_kernel::netns::switch_for_exec(&ns, etc_name.as_deref())?;
    for w in report.warnings {
        eprintln!("{w}");
    }
    Ok(())
}

/// Open a namespace given as a name under /run/netns, a path (contains '/'), or `pid:N`.
/// Returns the namespace and, for names, the name (for /etc/netns binds).
pub fn open_ns_spec(spec: &str) -> Result<(warren_kernel::NetNs, Option<String>), CliError> {
    if let Some(pid) = spec.strip_prefix("pid:") {
        let pid: i32 = pid
            .parse()
            .map_err(|_| CliError::fail(format!("invalid netns {spec:?}: pid:N needs a number")))?;
        return Ok((warren_kernel::NetNs::open_pid(pid)?, None));
    }
    if spec.contains('/') {
        return Ok((
            warren_kernel::NetNs::open_path(std::path::Path::new(spec))?,
            None,
        ));
    }
    Ok((
        warren_kernel::NetNs::open_named(spec)?,
        Some(spec.to_owned()),
    ))
}
