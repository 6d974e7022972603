//! Upstream servers from the host's resolv.conf, seeing through systemd-resolved's stub.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6};
use std::path::Path;

/// Where systemd-resolved lists the real upstream servers behind its 127.0.0.53 stub.
pub const SYSTEMD_RESOLVED_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// systemd-resolved's stub listener: useless to forward to from a server that is itself
/// resolving for containers (and the upstream list is in [`SYSTEMD_RESOLVED_CONF`]).
const RESOLVED_STUB: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53));

/// The `nameserver` entries of the resolv.conf at `path`, port 53. When they are only the
/// systemd-resolved stub (127.0.0.53), the servers in `resolved_conf` (normally
/// [`SYSTEMD_RESOLVED_CONF`]) instead. 127.0.0.53 is always left out; other loopback servers are
/// kept (the DNS server runs on the host, where they answer). A file that cannot be read gives
/// no servers.
pub fn upstreams_from_resolv_conf(path: &Path, resolved_conf: &Path) -> Vec<SocketAddr> {
    let listed = nameservers(&std::fs::read_to_string(path).unwrap_or_default());
    let only_stub = !listed.is_empty() && listed.iter().all(|a| a.ip() == RESOLVED_STUB);
    let listed = if only_stub {
        nameservers(&std::fs::read_to_string(resolved_conf).unwrap_or_default())
    } else {
        listed
    };
    listed
        .into_iter()
        .filter(|a| a.ip() != RESOLVED_STUB)
        .collect()
}

/// The servers of `nameserver ADDR` lines, in order, without duplicates. A link-local IPv6
/// address keeps a numeric zone (`fe80::1%2`); one with an interface name is skipped, since it
/// cannot be used without resolving the name.
fn nameservers(text: &str) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next().and_then(parse_server) else {
            continue;
        };
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

fn parse_server(word: &str) -> Option<SocketAddr> {
    let (ip, zone) = match word.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (word, None),
    };
    match (ip.parse::<IpAddr>().ok()?, zone) {
        (IpAddr::V6(v6), Some(zone)) => {
            Some(SocketAddrV6::new(v6, 53, 0, zone.parse().ok()?).into())
        }
        (_, Some(_)) => None,
        (ip, None) => Some(SocketAddr::new(ip, 53)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(v: &[&str]) -> Vec<SocketAddr> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn nameserver_lines() {
        let text = "# generated\nsearch example.com\nnameserver 192.0.2.1\n  nameserver   2001:db8::1 # v6\n\
                    nameserver 192.0.2.1\nnameserver fe80::1%2\nnameserver fe80::2%eth0\n\
                    ; nameserver 192.0.2.9\nnameserver bogus\noptions edns0\nnameserver 127.0.0.1\n";
        assert_eq!(
            nameservers(text),
            addrs(&[
                "192.0.2.1:53",
                "[2001:db8::1]:53",
                "[fe80::1%2]:53",
                "127.0.0.1:53"
            ])
        );
    }

    fn with_files(resolv: &str, resolved: Option<&str>, check: impl FnOnce(&Path, &Path)) {
        let dir = std::env::temp_dir().join(format!(
            "warren-dns-resolv-{}-{}",
            std::process::id(),
            resolv.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("resolv.conf"), dir.join("resolved.conf"));
        std::fs::write(&a, resolv).unwrap();
        if let Some(r) = resolved {
            std::fs::write(&b, r).unwrap();
        }
        check(&a, &b);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_resolved_stub_is_seen_through() {
        with_files(
            "nameserver 127.0.0.53\noptions edns0 trust-ad\n",
            Some("nameserver 192.0.2.7\n"),
            |a, b| {
                assert_eq!(upstreams_from_resolv_conf(a, b), addrs(&["192.0.2.7:53"]));
            },
        );
    }

    #[test]
    fn the_stub_is_dropped_but_other_servers_and_loopback_kept() {
        with_files(
            "nameserver 127.0.0.53\nnameserver 127.0.0.1\nnameserver 192.0.2.8\n",
            Some("nameserver 192.0.2.7\n"),
            |a, b| {
                assert_eq!(
                    upstreams_from_resolv_conf(a, b),
                    addrs(&["127.0.0.1:53", "192.0.2.8:53"])
                );
            },
        );
    }

    #[test]
    fn missing_files_give_no_servers() {
        with_files("nameserver 127.0.0.53\n", None, |a, b| {
            assert!(upstreams_from_resolv_conf(a, b).is_empty());
        });
        let none = Path::new("/nonexistent/resolv.conf");
        assert!(upstreams_from_resolv_conf(none, none).is_empty());
    }
}
