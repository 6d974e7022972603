//! Deterministic kernel names: at most 15 bytes (IFNAMSIZ - 1), the same for the same
//! input on every run and machine (FNV-1a, not the std hasher, whose seed varies).

/// The longest kernel interface name.
pub const IFNAME_MAX: usize = 15;

/// FNV-1a, 64 bits.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// `n` base-32 characters (`a-z2-7`) of the hash of `parts`.
pub fn hash32(parts: &[&str], n: usize) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut h = fnv1a(parts);
    let mut s = String::with_capacity(n);
    for _ in 0..n {
        s.push(char::from(ALPHABET[usize::try_from(h & 31).unwrap_or(0)]));
        h >>= 5;
    }
    s
}

/// The kernel name for `name`: itself when it fits in 15 bytes, else its first bytes (at
/// most 8, cut on a character boundary), `-` and 6 characters of a hash of `salt` and the
/// whole name.
pub fn short(name: &str, salt: &str) -> String {
    if name.len() <= IFNAME_MAX {
        return name.to_string();
    }
    let mut cut = 8;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{}", &name[..cut], hash32(&[salt, name], 6))
}

/// The host-side name of a lab's veth: `wl` and 13 hash characters of lab, node and
/// interface (15 bytes), so two labs never pick the same host name by design.
pub fn host_side(lab: &str, node: &str, interface: &str) -> String {
    format!("wl{}", hash32(&[lab, node, interface], 13))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_stable_and_bounded() {
        assert_eq!(short("eth0", "r1"), "eth0");
        assert_eq!(short("123456789012345", "r1"), "123456789012345");
        let long = short("uplink-to-the-core-router", "r1");
        assert_eq!(long.len(), 15);
        assert!(long.starts_with("uplink-t-"), "{long}");
        assert_eq!(long, short("uplink-to-the-core-router", "r1"));
        assert_ne!(long, short("uplink-to-the-core-router", "r2"));
        let multibyte = short("ééééééééééé", "x");
        assert!(multibyte.len() <= 15);
        assert_eq!(host_side("lab", "h1", "eth1").len(), 15);
        assert_ne!(
            host_side("lab", "h1", "eth1"),
            host_side("lab2", "h1", "eth1")
        );
        // Pinned: names must not change between releases (a lab built by one is torn
        // down by the next).
        assert_eq!(short("uplink-to-the-core-router", "r1"), "uplink-t-ot5jje");
        assert_eq!(host_side("nat", "out", "uplink"), "wlnesourgqfvpib");
        assert_ne!(hash32(&["ab", ""], 6), hash32(&["a", "b"], 6));
    }
}
