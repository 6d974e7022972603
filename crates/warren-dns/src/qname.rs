//! Query names as the record set sees them: lower case, no trailing dot; and reverse-lookup
//! names (`in-addr.arpa`, `ip6.arpa`) turned back into addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `Web.Front.` → `web.front`.
pub(crate) fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// The address a reverse-lookup name stands for, if `name` (normalized) is a complete one:
/// `2.0.89.10.in-addr.arpa` → 10.89.0.2, 32 nibbles `….ip6.arpa` → an IPv6 address. Partial
/// names (a network, not an address) are `None`.
pub(crate) fn parse_reverse(name: &str) -> Option<IpAddr> {
    if let Some(v4) = name.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let mut parts = v4.split('.');
        for slot in octets.iter_mut().rev() {
            let part = parts.next()?;
            // Decimal without leading zeros, as a reverse name is written.
            if part.is_empty() || (part.len() > 1 && part.starts_with('0')) {
                return None;
            }
            *slot = part.parse().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let v6 = name.strip_suffix(".ip6.arpa")?;
    let mut value: u128 = 0;
    let mut count = 0;
    for (i, nibble) in v6.split('.').enumerate() {
        if i >= 32 || nibble.len() != 1 {
            return None;
        }
        let digit = u128::from(char::from(nibble.as_bytes()[0]).to_digit(16)?);
        value |= digit << (4 * i);
        count = i + 1;
    }
    (count == 32).then(|| IpAddr::V6(Ipv6Addr::from(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn normalize_drops_case_and_the_trailing_dot() {
        assert_eq!(normalize("Web.FRONT."), "web.front");
        assert_eq!(normalize("web"), "web");
        assert_eq!(normalize("."), "");
    }

    #[test]
    fn reverse_names() {
        let v6 = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.8.d.f.ip6.arpa";
        let table = [
            ("2.0.89.10.in-addr.arpa", ip("10.89.0.2")),
            ("1.0.0.127.in-addr.arpa", ip("127.0.0.1")),
            ("255.255.255.255.in-addr.arpa", ip("255.255.255.255")),
            (v6, ip("fd89::2")),
            ("0.89.10.in-addr.arpa", None),
            ("1.2.0.89.10.in-addr.arpa", None),
            ("256.0.89.10.in-addr.arpa", None),
            ("02.0.89.10.in-addr.arpa", None),
            ("a.0.89.10.in-addr.arpa", None),
            ("..89.10.in-addr.arpa", None),
            ("9.8.d.f.ip6.arpa", None),
            ("in-addr.arpa", None),
            ("web", None),
        ];
        for (name, want) in table {
            assert_eq!(parse_reverse(name), want, "{name}");
        }
        let too_long = format!("0.{v6}");
        assert_eq!(parse_reverse(&too_long), None);
        let bad_nibble = v6.replacen('2', "g", 1);
        assert_eq!(parse_reverse(&bad_nibble), None);
    }
}
