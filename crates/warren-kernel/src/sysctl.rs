//! Per-namespace sysctls under `/proc/sys/net`, read and written from a thread inside the
//! namespace (a `/proc/sys/net` file shows the namespace of the task that opens it).

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::netns::{NetNs, io_errno};

/// Map a dotted or slashed key (`net.ipv4.ip_forward`, `net/ipv4/ip_forward`) to its path.
pub fn key_path(key: &str) -> Result<PathBuf> {
    let rel = key.replace('.', "/");
    let ok = rel.starts_with("net/")
        && !rel
            .split('/')
            .any(|c| c.is_empty() || c == ".." || c == ".")
        && rel
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b));
    if !ok {
        return Err(Error::invalid(
            "sysctl key",
            key,
            "must be a per-namespace key under net. (e.g. net.ipv4.ip_forward)",
        ));
    }
    Ok(PathBuf::from("/proc/sys").join(rel))
}

/// Write `value` to the sysctl `key` inside `ns`.
pub fn set(ns: &NetNs, key: &str, value: &str) -> Result<()> {
    let path = key_path(key)?;
    ns.run(|| write_here(&path, value))
}

/// Read the sysctl `key` inside `ns` (trimmed).
pub fn get(ns: &NetNs, key: &str) -> Result<String> {
    let path = key_path(key)?;
    ns.run(|| read_here(&path))
}

/// Read several sysctls inside `ns` from one thread, in the order of `keys`.
pub fn get_many(ns: &NetNs, keys: &[&str]) -> Result<Vec<String>> {
    let paths = keys
        .iter()
        .map(|k| key_path(k))
        .collect::<Result<Vec<_>>>()?;
    ns.run(|| paths.iter().map(|p| read_here(p)).collect())
}

/// Write several sysctls inside `ns` from one thread.
pub fn set_many(ns: &NetNs, pairs: &[(&str, &str)]) -> Result<()> {
    let paths = pairs
        .iter()
        .map(|(k, v)| key_path(k).map(|p| (p, *v)))
        .collect::<Result<Vec<_>>>()?;
    ns.run(|| paths.iter().try_for_each(|(p, v)| write_here(p, v)))
}

/// Turn IP forwarding on or off inside `ns`: `net.ipv4.ip_forward` and
/// `net.ipv6.conf.all.forwarding` together, from one thread. On a kernel booted with IPv6
/// disabled (no `net.ipv6` sysctls) only IPv4 is set.
pub fn forwarding(ns: &NetNs, on: bool) -> Result<()> {
    let v = if on { "1" } else { "0" };
    let v4 = key_path("net.ipv4.ip_forward")?;
    let v6 = key_path("net.ipv6.conf.all.forwarding")?;
    ns.run(|| {
        write_here(&v4, v)?;
        if v6.exists() {
            write_here(&v6, v)?;
        }
        Ok(())
    })
}

/// The routing sysctls of a namespace that decide whether and how it forwards: IP
/// forwarding (IPv4 globally and per interface, IPv6 per interface) and reverse-path
/// filtering (`rp_filter`; the kernel uses the larger of `all` and the interface's value).
/// Read from one thread inside `ns`; keys the kernel does not have (IPv6 disabled) are left
/// out. Keys are dotted as `sysctl` prints them, with a `.` in an interface name written
/// `/`.
pub fn routing(ns: &NetNs, ifnames: &[String]) -> Result<Vec<(String, String)>> {
    let mut keys: Vec<(String, PathBuf)> = Vec::new();
    let mut add = |parts: &[&str]| {
        let key = parts
            .iter()
            .map(|p| p.replace('.', "/"))
            .collect::<Vec<_>>()
            .join(".");
        let path = parts
            .iter()
            .fold(PathBuf::from("/proc/sys"), |acc, p| acc.join(p));
        keys.push((key, path));
    };
    add(&["net", "ipv4", "ip_forward"]);
    for dev in ["all", "default"]
        .into_iter()
        .chain(ifnames.iter().map(String::as_str))
    {
        if dev.contains('/') || dev == ".." || dev == "." || dev.is_empty() {
            continue;
        }
        add(&["net", "ipv4", "conf", dev, "forwarding"]);
        add(&["net", "ipv4", "conf", dev, "rp_filter"]);
        add(&["net", "ipv6", "conf", dev, "forwarding"]);
    }
    ns.run(move || {
        Ok(keys
            .into_iter()
            .filter_map(|(k, p)| read_here(&p).ok().map(|v| (k, v)))
            .collect())
    })
}

/// Write a sysctl in the calling thread's namespace (for code already inside one).
pub fn write_here(path: &std::path::Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| Error::os("write sysctl", path, io_errno(&e)))
}

/// Read a sysctl in the calling thread's namespace.
pub fn read_here(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| Error::os("read sysctl", path, io_errno(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_proc_paths() {
        assert_eq!(
            key_path("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            key_path("net/ipv4/conf/all/rp_filter").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/all/rp_filter")
        );
        for bad in [
            "kernel.pid_max",
            "net..x",
            "net/../../etc",
            "net.ipv4.a b",
            "",
        ] {
            assert!(key_path(bad).is_err(), "{bad}");
        }
    }
}
