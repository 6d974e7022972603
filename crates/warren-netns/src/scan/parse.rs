//! Pure parsers for what the scanner reads from `/proc`: mountinfo lines, `net:[INO]` links
//! and command lines. No I/O here.

/// A network namespace bind mount found in a mountinfo file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsfsMount {
    /// Device of the nsfs superblock (`major:minor` of the line).
    pub dev: u64,
    /// The namespace's inode (from the `net:[INO]` root).
    pub ino: u64,
    /// Where it is mounted, unescaped.
    pub mount_point: String,
    /// The optional fields (`shared:N`, `master:N`, ...).
    pub optional: Vec<String>,
}

/// Parse one line of `/proc/PID/mountinfo`; `Some` only for a network namespace (nsfs mount
/// whose root is `net:[INO]`).
pub fn nsfs_mount(line: &str) -> Option<NsfsMount> {
    let mut fields = line.split(' ');
    let _id = fields.next()?;
    let _parent = fields.next()?;
    let devno = fields.next()?;
    let root = fields.next()?;
    let mount_point = fields.next()?;
    let _opts = fields.next()?;
    let mut optional = Vec::new();
    for f in fields.by_ref() {
        if f == "-" {
            break;
        }
        optional.push(f.to_owned());
    }
    let fstype = fields.next()?;
    if fstype != "nsfs" {
        return None;
    }
    let ino = net_link_ino(root)?;
    let (major, minor) = devno.split_once(':')?;
    let dev = nix::sys::stat::makedev(major.parse().ok()?, minor.parse().ok()?);
    Some(NsfsMount {
        dev,
        ino,
        mount_point: unescape(mount_point),
        optional,
    })
}

/// Every network namespace mount of a mountinfo file.
pub fn nsfs_mounts(mountinfo: &str) -> Vec<NsfsMount> {
    mountinfo.lines().filter_map(nsfs_mount).collect()
}

/// Whether `path` is a mount point in this mountinfo text.
pub fn is_mount_point(mountinfo: &str, path: &str) -> bool {
    mountinfo
        .lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| unescape(m) == path))
}

/// The inode in a `net:[INO]` link target (what `/proc/PID/fd/N` and `/proc/PID/ns/net`
/// read as).
pub fn net_link_ino(s: &str) -> Option<u64> {
    s.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

/// Undo mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
pub fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/proc/PID/cmdline` as one line: arguments joined by spaces (kernel threads have none).
pub fn cmdline(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(raw);
    String::from_utf8_lossy(trimmed).replace('\0', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsfs_lines_are_found() {
        let cases = [
            (
                "65 64 0:4 net:[4026532178] /run/netns/zzq rw shared:2 - nsfs nsfs rw",
                Some((4026532178, "/run/netns/zzq", vec!["shared:2"])),
            ),
            (
                "1021 29 0:4 net:[4026532501] /run/docker/netns/1b2c3d4e5f60 rw - nsfs nsfs rw",
                Some((4026532501, "/run/docker/netns/1b2c3d4e5f60", vec![])),
            ),
            (
                "77 70 0:4 net:[4026532600] /var/run/netns/with\\040space rw shared:3 master:1 - nsfs nsfs rw",
                Some((
                    4026532600,
                    "/var/run/netns/with space",
                    vec!["shared:3", "master:1"],
                )),
            ),
            // Other namespace kinds and other filesystems are not network namespaces.
            ("80 70 0:4 mnt:[4026532700] /run/x rw - nsfs nsfs rw", None),
            (
                "22 1 0:21 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,mode=755",
                None,
            ),
            ("garbage", None),
            ("", None),
        ];
        for (line, want) in cases {
            let got = nsfs_mount(line);
            match want {
                None => assert_eq!(got, None, "{line}"),
                Some((ino, mp, opt)) => {
                    let m = got.unwrap_or_else(|| panic!("{line}"));
                    assert_eq!((m.ino, m.mount_point.as_str()), (ino, mp));
                    assert_eq!(m.optional, opt);
                    assert_eq!(m.dev, nix::sys::stat::makedev(0, 4));
                }
            }
        }
    }

    #[test]
    fn mount_points_are_matched_unescaped() {
        let mi = "22 1 0:21 / /run rw - tmpfs tmpfs rw\n23 22 0:4 net:[1] /run/a\\040b rw - nsfs nsfs rw\n";
        assert!(is_mount_point(mi, "/run"));
        assert!(is_mount_point(mi, "/run/a b"));
        assert!(!is_mount_point(mi, "/run/a"));
        assert_eq!(nsfs_mounts(mi).len(), 1);
    }

    #[test]
    fn links_and_escapes() {
        assert_eq!(net_link_ino("net:[4026531840]"), Some(4026531840));
        for bad in [
            "socket:[123]",
            "net:[]",
            "net:[12",
            "/dev/null",
            "mnt:[4026531840]",
        ] {
            assert_eq!(net_link_ino(bad), None, "{bad}");
        }
        assert_eq!(unescape("a\\011b\\012c\\134d"), "a\tb\nc\\d");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }

    #[test]
    fn command_lines() {
        assert_eq!(cmdline(b"sleep\x00100\x00"), "sleep 100");
        assert_eq!(cmdline(b""), "");
        assert_eq!(cmdline(b"nginx: worker process"), "nginx: worker process");
    }
}
