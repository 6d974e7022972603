//! tun and tap devices (`ip tuntap add NAME mode tun|tap [user U] [group G] [multi_queue]`).
//!
//! Netlink cannot create these: on a thread inside the handle's namespace we open
//! `/dev/net/tun`, ask for the device with `TUNSETIFF`, set its owner and group, make it
//! persistent and close the descriptor. Deleting is an ordinary [`Handle::link_del`].

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

use nix::errno::Errno;

use super::validate_ifname;
use crate::error::{Error, Result};
use crate::handle::Handle;

/// The clone device.
pub const TUN_DEVICE: &str = "/dev/net/tun";

/// Layer 3 (tun) or layer 2 (tap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunTapMode {
    /// IP packets.
    Tun,
    /// Ethernet frames.
    Tap,
}

/// Options of a tun/tap device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunTapOptions {
    /// User allowed to attach (`TUNSETOWNER`), as a uid in the caller's user namespace.
    pub owner: Option<u32>,
    /// Group allowed to attach (`TUNSETGROUP`).
    pub group: Option<u32>,
    /// Several queues (`IFF_MULTI_QUEUE`).
    pub multi_queue: bool,
    /// Virtio-net headers on packets (`IFF_VNET_HDR`).
    pub vnet_hdr: bool,
    /// Prepend packet information (off by default, as in ip: `IFF_NO_PI`).
    pub packet_info: bool,
}

const IFF_TUN: i16 = 0x0001;
const IFF_TAP: i16 = 0x0002;
const IFF_MULTI_QUEUE: i16 = 0x0100;
const IFF_NO_PI: i16 = 0x1000;
const IFF_VNET_HDR: i16 = 0x4000;
/// Fail with `EBUSY` if the device exists, instead of attaching to it.
const IFF_TUN_EXCL: i16 = -0x8000; // 0x8000 as a C short

/// `struct ifreq` as `TUNSETIFF` reads it: name, then flags in the union (40 bytes in all).
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: i16,
    _pad: [u8; 22],
}

mod ioctl {
    use super::IfReq;

    nix::ioctl_write_ptr_bad!(
        tunsetiff,
        nix::request_code_write!(b'T', 202, std::mem::size_of::<libc::c_int>()),
        IfReq
    );
    nix::ioctl_write_int!(tunsetpersist, b'T', 203);
    nix::ioctl_write_int!(tunsetowner, b'T', 204);
    nix::ioctl_write_int!(tunsetgroup, b'T', 206);
}

/// The flags `TUNSETIFF` gets for `mode` and `opts`.
fn iff_flags(mode: TunTapMode, opts: &TunTapOptions) -> i16 {
    let mut flags = match mode {
        TunTapMode::Tun => IFF_TUN,
        TunTapMode::Tap => IFF_TAP,
    } | IFF_TUN_EXCL;
    if !opts.packet_info {
        flags |= IFF_NO_PI;
    }
    if opts.multi_queue {
        flags |= IFF_MULTI_QUEUE;
    }
    if opts.vnet_hdr {
        flags |= IFF_VNET_HDR;
    }
    flags
}

impl Handle {
    /// Create a persistent tun or tap device called `name` in this handle's namespace.
    /// Fails with `EEXIST` if a link of that name exists.
    pub fn tuntap_add(&self, name: &str, mode: TunTapMode, opts: &TunTapOptions) -> Result<()> {
        validate_ifname(name)?;
        let label = self.ns().label().to_owned();
        let what = format!("{TUN_DEVICE} ({name}, netns {label})");
        let fail = |op: &'static str, e: Errno| Error::os(op, what.clone(), e);
        let mut req = IfReq {
            name: [0; 16],
            flags: iff_flags(mode, opts),
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        self.ns().run(|| {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(TUN_DEVICE)
                .map_err(|e| {
                    fail(
                        "open",
                        Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                    )
                })?;
            let fd = file.as_raw_fd();
            // SAFETY: `fd` is an open /dev/net/tun descriptor owned by `file`, and `req` is a
            // live, properly laid out `struct ifreq` that the kernel only reads.
            let set = unsafe { ioctl::tunsetiff(fd, &req) };
            set.map_err(|e| {
                fail(
                    "create tun/tap (TUNSETIFF)",
                    if e == Errno::EBUSY { Errno::EEXIST } else { e },
                )
            })?;
            // From here the device exists (until the descriptor closes, unless persistent):
            // a failure below closes the descriptor, which removes it again.
            if let Some(uid) = opts.owner {
                // SAFETY: `fd` is the open tun descriptor; the argument is passed by value.
                unsafe { ioctl::tunsetowner(fd, libc::c_ulong::from(uid)) }
                    .map_err(|e| fail("set tun/tap owner (TUNSETOWNER)", e))?;
            }
            if let Some(gid) = opts.group {
                // SAFETY: as above, a by-value argument on the open tun descriptor.
                unsafe { ioctl::tunsetgroup(fd, libc::c_ulong::from(gid)) }
                    .map_err(|e| fail("set tun/tap group (TUNSETGROUP)", e))?;
            }
            // SAFETY: as above; 1 turns persistence on.
            unsafe { ioctl::tunsetpersist(fd, 1) }
                .map_err(|e| fail("make tun/tap persistent (TUNSETPERSIST)", e))?;
            drop(file);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_has_the_kernel_size() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
    }

    #[test]
    fn flags_follow_ip_defaults() {
        let tap = iff_flags(TunTapMode::Tap, &TunTapOptions::default()) as u16;
        assert_eq!(tap, 0x0002 | 0x1000 | 0x8000);
        let tun = iff_flags(
            TunTapMode::Tun,
            &TunTapOptions {
                multi_queue: true,
                packet_info: true,
                ..Default::default()
            },
        );
        assert_eq!(tun as u16, 0x0001 | 0x0100 | 0x8000);
    }
}
