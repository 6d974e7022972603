//! Address and subnet arithmetic, pure: which subnet to give a new network, which address to
//! give a new endpoint. The store calls these inside its transactions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use warren_kernel::addr::IpNet;

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v4: bool, n: u128) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

/// First and last address of `net`.
pub fn bounds(net: IpNet) -> (u128, u128) {
    let first = to_u128(net.network().addr);
    let last = to_u128(net.last());
    (first, last)
}

/// Whether two subnets share an address.
pub fn overlaps(a: IpNet, b: IpNet) -> bool {
    if a.family() != b.family() {
        return false;
    }
    let (a0, a1) = bounds(a);
    let (b0, b1) = bounds(b);
    a0 <= b1 && b0 <= a1
}

/// The first `/prefix` inside one of `pools` that overlaps none of `taken`.
pub fn pick_subnet(pools: &[IpNet], prefix: u8, taken: &[IpNet]) -> Option<IpNet> {
    for pool in pools {
        if prefix < pool.prefix {
            continue;
        }
        let (first, last) = bounds(*pool);
        let bits = u32::from(pool.family().max_prefix() - prefix);
        let step = 1u128.checked_shl(bits)?;
        let v4 = matches!(pool.addr, IpAddr::V4(_));
        let mut at = first;
        while at <= last {
            let cand = IpNet::new(from_u128(v4, at), prefix).ok()?;
            match taken.iter().find(|t| overlaps(**t, cand)) {
                None => return Some(cand),
                // Jump past the blocking subnet (aligned to our step) rather than crawling.
                Some(t) => {
                    let (_, t_last) = bounds(*t);
                    let next = (t_last / step + 1).checked_mul(step)?;
                    at = next.max(at + step);
                }
            }
        }
    }
    None
}

/// The addresses of `subnet` that are never handed out: the network address, the gateway
/// and (IPv4) the broadcast address.
pub fn reserved(subnet: IpNet, gateway: Option<IpAddr>) -> Vec<IpAddr> {
    let mut v = vec![subnet.network().addr];
    if let Some(b) = subnet.broadcast() {
        v.push(IpAddr::V4(b));
    }
    if let Some(g) = gateway {
        v.push(g);
    }
    v
}

/// The next address of `range` after `after` (wrapping round to the start) that `taken` says
/// is free (`taken` covers reserved and used addresses alike). Walking on from the last
/// address handed out keeps a just-released address from being reused at once. `taken` is
/// asked once per address until one is free, so the caller can look addresses up one by one.
pub fn next_free<E>(
    range: IpNet,
    after: Option<IpAddr>,
    taken: impl FnMut(IpAddr) -> Result<bool, E>,
) -> Result<Option<IpAddr>, E> {
    let (first, last) = bounds(range);
    let v4 = matches!(range.addr, IpAddr::V4(_));
    next_free_in_runs(&[(from_u128(v4, first), from_u128(v4, last))], after, taken)
}

/// Whether two address runs `start..=end` share an address (never across families).
pub fn runs_overlap(a: (IpAddr, IpAddr), b: (IpAddr, IpAddr)) -> bool {
    a.0.is_ipv4() == b.0.is_ipv4() && to_u128(a.0) <= to_u128(b.1) && to_u128(b.0) <= to_u128(a.1)
}

/// The next address of `runs` (each `start..=end`, all of one family, walked in order as one
/// ring) after `after` that `taken` says is free: host-local's round robin over the ranges of
/// one range set. With no `after`, or one in none of the runs, the walk starts at the first
/// run's start. `taken` is asked once per address until one is free (or every address was
/// asked), so a huge (IPv6) run costs no more than the addresses in use, and the caller can
/// look addresses up one by one instead of loading them all. Its error stops the walk.
pub fn next_free_in_runs<E>(
    runs: &[(IpAddr, IpAddr)],
    after: Option<IpAddr>,
    mut taken: impl FnMut(IpAddr) -> Result<bool, E>,
) -> Result<Option<IpAddr>, E> {
    let spans: Vec<(bool, u128, u128)> = runs
        .iter()
        .map(|(s, e)| (s.is_ipv4(), to_u128(*s), to_u128(*e)))
        .collect();
    let at = after.and_then(|a| {
        let n = to_u128(a);
        spans
            .iter()
            .position(|&(v4, s, e)| v4 == a.is_ipv4() && s <= n && n <= e)
            .map(|i| (i, n))
    });
    // The walk as segments: the rest of the cursor's run, the runs after it, the runs before
    // it, then the cursor's run up to and including the cursor.
    let mut segments = Vec::with_capacity(spans.len() + 1);
    match at {
        Some((i, n)) => {
            let (v4, s, e) = spans[i];
            if n < e {
                segments.push((v4, n + 1, e));
            }
            for j in 1..spans.len() {
                segments.push(spans[(i + j) % spans.len()]);
            }
            segments.push((v4, s, n));
        }
        None => segments.extend(spans.iter().copied()),
    }
    for (v4, s, e) in segments {
        for n in s..=e {
            let ip = from_u128(v4, n);
            if !taken(ip)? {
                return Ok(Some(ip));
            }
        }
    }
    Ok(None)
}

/// The address before `ip` (`ip` itself for `0.0.0.0` and `::`).
pub fn prev(ip: IpAddr) -> IpAddr {
    from_u128(ip.is_ipv4(), to_u128(ip).saturating_sub(1))
}

/// The first host address of `subnet`: the default gateway.
pub fn first_host(subnet: IpNet) -> Option<IpAddr> {
    subnet.network().nth(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn overlap_table() {
        for (a, b, want) in [
            ("10.0.0.0/24", "10.0.0.128/25", true),
            ("10.0.0.0/24", "10.0.1.0/24", false),
            ("10.0.0.0/8", "10.200.0.0/16", true),
            ("fd00::/64", "fd00::/48", true),
            ("fd00::/64", "10.0.0.0/8", false),
            ("0.0.0.0/0", "192.168.1.0/24", true),
        ] {
            assert_eq!(overlaps(net(a), net(b)), want, "{a} {b}");
        }
    }

    #[test]
    fn subnets_are_picked_around_taken_ones() {
        let pools = [net("10.88.0.0/16"), net("10.89.0.0/16")];
        assert_eq!(pick_subnet(&pools, 24, &[]), Some(net("10.88.0.0/24")));
        let taken = [net("10.88.0.0/24"), net("10.88.1.0/25")];
        assert_eq!(pick_subnet(&pools, 24, &taken), Some(net("10.88.2.0/24")));
        let taken = [net("10.88.0.0/16")];
        assert_eq!(pick_subnet(&pools, 24, &taken), Some(net("10.89.0.0/24")));
        let taken = [net("10.0.0.0/8")];
        assert_eq!(pick_subnet(&pools, 24, &taken), None);
        // A host route to one address blocks just its /24.
        let taken = [net("10.88.0.5/32")];
        assert_eq!(pick_subnet(&pools, 24, &taken), Some(net("10.88.1.0/24")));
        let v6 = [net("fd42::/48")];
        assert_eq!(
            pick_subnet(&v6, 64, &[net("fd42::/64")]),
            Some(net("fd42:0:0:1::/64"))
        );
    }

    #[test]
    fn addresses_skip_reserved_and_used_and_wrap() {
        let s = net("10.0.0.0/29");
        let res = reserved(s, Some(ip("10.0.0.1")));
        let mut used = HashSet::new();
        assert_eq!(free(s, &res, &used, None), Some(ip("10.0.0.2")));
        used.insert(ip("10.0.0.2"));
        assert_eq!(
            free(s, &res, &used, Some(ip("10.0.0.2"))),
            Some(ip("10.0.0.3"))
        );
        // After the last one, wrap round past the reserved ones.
        assert_eq!(
            free(s, &res, &used, Some(ip("10.0.0.6"))),
            Some(ip("10.0.0.3"))
        );
        for i in 3..=6 {
            used.insert(ip(&format!("10.0.0.{i}")));
        }
        assert_eq!(
            free(s, &res, &used, None),
            None,
            "/29 holds six hosts minus the gateway"
        );
        let v6 = net("fd00::/120");
        assert_eq!(
            free(
                v6,
                &reserved(v6, Some(ip("fd00::1"))),
                &HashSet::new(),
                None
            ),
            Some(ip("fd00::2"))
        );
    }

    /// The question `next_free` and `next_free_in_runs` ask, over sets.
    fn taken<'a>(
        reserved: &'a [IpAddr],
        used: &'a HashSet<IpAddr>,
    ) -> impl FnMut(IpAddr) -> Result<bool, std::convert::Infallible> + 'a {
        |ip| Ok(reserved.contains(&ip) || used.contains(&ip))
    }

    fn free(r: IpNet, res: &[IpAddr], used: &HashSet<IpAddr>, a: Option<IpAddr>) -> Option<IpAddr> {
        next_free(r, a, taken(res, used)).unwrap()
    }

    fn walk(
        runs: &[(IpAddr, IpAddr)],
        res: &[IpAddr],
        used: &HashSet<IpAddr>,
        a: Option<IpAddr>,
    ) -> Option<IpAddr> {
        next_free_in_runs(runs, a, taken(res, used)).unwrap()
    }

    #[test]
    fn runs_are_walked_round_robin_across_ranges() {
        let runs = [
            (ip("10.0.0.2"), ip("10.0.0.3")),
            (ip("10.0.1.10"), ip("10.0.1.11")),
        ];
        let mut used = HashSet::new();
        let res = [ip("10.0.1.10")];
        assert_eq!(walk(&runs, &res, &used, None), Some(ip("10.0.0.2")));
        // From the end of the first run on into the second, skipping the reserved address.
        assert_eq!(
            walk(&runs, &res, &used, Some(ip("10.0.0.3"))),
            Some(ip("10.0.1.11"))
        );
        // From the last address, wrap to the first run.
        assert_eq!(
            walk(&runs, &res, &used, Some(ip("10.0.1.11"))),
            Some(ip("10.0.0.2"))
        );
        // A cursor outside every run starts at the beginning.
        assert_eq!(
            walk(&runs, &res, &used, Some(ip("192.168.0.1"))),
            Some(ip("10.0.0.2"))
        );
        used.extend([ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.1.11")]);
        assert_eq!(walk(&runs, &res, &used, None), None);
        // Only the cursor itself is left: it is handed out last.
        used.remove(&ip("10.0.0.3"));
        assert_eq!(
            walk(&runs, &res, &used, Some(ip("10.0.0.3"))),
            Some(ip("10.0.0.3"))
        );
        // A whole IPv6 /64 costs only the used addresses.
        let v6 = [(ip("fd00::1"), ip("fd00::ffff:ffff:ffff:ffff"))];
        assert_eq!(
            walk(
                &v6,
                &[],
                &HashSet::new(),
                Some(ip("fd00::ffff:ffff:ffff:ffff"))
            ),
            Some(ip("fd00::1"))
        );
    }

    #[test]
    fn run_overlap_table() {
        for (a, b, want) in [
            (("10.0.0.1", "10.0.0.9"), ("10.0.0.9", "10.0.0.20"), true),
            (("10.0.0.1", "10.0.0.9"), ("10.0.0.10", "10.0.0.20"), false),
            (("10.0.0.5", "10.0.0.6"), ("10.0.0.1", "10.0.0.200"), true),
            (("10.0.0.1", "10.0.0.9"), ("::1", "::ffff"), false),
        ] {
            assert_eq!(
                runs_overlap((ip(a.0), ip(a.1)), (ip(b.0), ip(b.1))),
                want,
                "{a:?} {b:?}"
            );
        }
    }
}
