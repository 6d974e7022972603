//! Parsers of the small value syntaxes of a lab file: durations, rates, percentages, MAC
//! addresses, names. Each returns a message fit for a diagnostic on error.

/// `5ms`, `1.5s`, `200us`, `2m` → microseconds.
pub(crate) fn duration_us(s: &str) -> Result<u64, String> {
    let (num, unit) = split_unit(s);
    let mult = match unit {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => {
            return Err(format!(
                "{s:?} is not a duration (a number with us, ms, s or m)"
            ));
        }
    };
    let n = number(num).ok_or_else(|| format!("{s:?} is not a duration"))?;
    let v = n * mult;
    if v > 1e15 {
        return Err(format!("{s:?} is too long"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(v.round() as u64)
}

/// `100mbit`, `1gbit`, `64kbit`, `10mbps` (bytes) → bits per second, as tc reads them.
pub(crate) fn rate_bps(s: &str) -> Result<u64, String> {
    let (num, unit) = split_unit(s);
    let mult = match unit.to_ascii_lowercase().as_str() {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "tbit" => 1e12,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => {
            return Err(format!(
                "{s:?} is not a rate (a number with bit, kbit, mbit, gbit, tbit, or bps, kbps, mbps, gbps for bytes)"
            ));
        }
    };
    let n = number(num).ok_or_else(|| format!("{s:?} is not a rate"))?;
    let v = n * mult;
    if !(1.0..=1e15).contains(&v) {
        return Err(format!("{s:?} is out of range"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(v.round() as u64)
}

/// `0.1%` or `0.1` → percent, 0 to 100.
pub(crate) fn percent(s: &str) -> Result<f64, String> {
    let num = s.strip_suffix('%').unwrap_or(s).trim();
    match number(num) {
        Some(n) if n <= 100.0 => Ok(n),
        _ => Err(format!("{s:?} is not a percentage from 0 to 100")),
    }
}

/// `02:00:00:00:00:01`: six hex bytes, not a multicast address.
pub(crate) fn mac(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(format!("{s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"));
    }
    if u8::from_str_radix(parts[0], 16).unwrap_or(1) & 1 == 1 {
        return Err(format!("{s:?} is a multicast address"));
    }
    Ok(s.to_ascii_lowercase())
}

/// A lab name: `[a-z0-9][a-z0-9-]*`, at most 16 bytes.
pub(crate) fn lab_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 16
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "lab name {s:?} must match [a-z0-9][a-z0-9-]* and be at most 16 bytes"
        ))
    }
}

/// A node or group name: `[A-Za-z0-9][A-Za-z0-9_-]*`, at most 40 bytes, not `host` or
/// `macvlan` (they name the other ends of links).
pub(crate) fn node_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(format!(
            "name {s:?} must match [A-Za-z0-9][A-Za-z0-9_-]* and be at most 40 bytes"
        ));
    }
    if s == "host" || s == "macvlan" {
        return Err(format!(
            "{s:?} is reserved (it names the host or a macvlan in links)"
        ));
    }
    Ok(())
}

/// An interface name as the file gives it: 1 to 64 bytes, no `/`, `:`, white space or
/// control characters, not `.`, `..` or `lo`.
pub(crate) fn interface_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c != '/' && c != ':' && !c.is_whitespace() && !c.is_control());
    if !ok {
        return Err(format!(
            "interface name {s:?} must be 1 to 64 bytes without '/', ':' or spaces"
        ));
    }
    if s == "lo" {
        return Err("\"lo\" is the node's loopback, not a link end".into());
    }
    Ok(())
}

fn split_unit(s: &str) -> (&str, &str) {
    let s = s.trim();
    let i = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (&s[..i], s[i..].trim())
}

fn number(s: &str) -> Option<f64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, want) in [
            ("5ms", Some(5_000)),
            ("1.5s", Some(1_500_000)),
            ("200us", Some(200)),
            ("2m", Some(120_000_000)),
            ("10", None),
            ("-1s", None),
            ("ms", None),
            ("1h", None),
        ] {
            assert_eq!(duration_us(s).ok(), want, "{s}");
        }
    }

    #[test]
    fn rates() {
        for (s, want) in [
            ("100mbit", Some(100_000_000)),
            ("1gbit", Some(1_000_000_000)),
            ("64kbit", Some(64_000)),
            ("10mbps", Some(80_000_000)),
            ("1.5Mbit", Some(1_500_000)),
            ("100", None),
            ("0bit", None),
            ("fast", None),
        ] {
            assert_eq!(rate_bps(s).ok(), want, "{s}");
        }
    }

    #[test]
    fn percents_macs_names() {
        assert_eq!(percent("0.1%").ok(), Some(0.1));
        assert_eq!(percent("5").ok(), Some(5.0));
        assert!(percent("101%").is_err());
        assert!(percent("-1%").is_err());
        assert_eq!(
            mac("02:00:00:00:00:0A").ok().as_deref(),
            Some("02:00:00:00:00:0a")
        );
        assert!(mac("01:00:00:00:00:00").is_err());
        assert!(mac("02:00:00:00:00").is_err());
        assert!(lab_name("lab-1").is_ok());
        assert!(lab_name("Lab").is_err());
        assert!(lab_name("-x").is_err());
        assert!(lab_name("a23456789012345678").is_err());
        assert!(node_name("r1_a").is_ok());
        assert!(node_name("host").is_err());
        assert!(node_name("a.b").is_err());
        assert!(interface_name("eth0").is_ok());
        assert!(interface_name("a:b").is_err());
        assert!(interface_name("lo").is_err());
    }
}
