//! Reading captures back: classic pcap (micro- or nanosecond, either byte order) and pcapng
//! (sections, interface blocks with `if_name`/`if_tsresol`, enhanced and simple packet
//! blocks; other blocks are skipped). For tests and tools; it never panics on bad input.

use crate::format::{BT_EPB, BT_IDB, BT_SHB, BYTE_ORDER_MAGIC, PCAP_MAGIC_NSEC, PCAP_MAGIC_USEC};

/// A packet read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPacket {
    /// The interface's name (pcapng `if_name`), if the file gives one.
    pub interface: Option<String>,
    /// Timestamp in nanoseconds since the epoch.
    pub ts_nanos: u128,
    /// Length on the wire.
    pub orig_len: u32,
    /// Direction from pcapng `epb_flags`: `Some(true)` outbound, `Some(false)` inbound.
    pub outgoing: Option<bool>,
    /// The captured bytes.
    pub data: Vec<u8>,
}

/// A capture read from bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadCapture {
    /// The link type of the (first) interface.
    pub linktype: u32,
    /// Interface names in order (pcapng; empty for classic pcap).
    pub interfaces: Vec<String>,
    /// The packets in file order.
    pub packets: Vec<ReadPacket>,
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("capture file at byte {offset}: {reason}")]
pub struct ReadError {
    /// Where in the file.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

fn err<T>(offset: usize, reason: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError {
        offset,
        reason: reason.into(),
    })
}

#[derive(Clone, Copy)]
struct Endian(bool); // true: big endian

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let a: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.0 {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.0 {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }
}

/// Read a whole pcap or pcapng file.
pub fn read(bytes: &[u8]) -> Result<ReadCapture, ReadError> {
    let Some(magic) = bytes.get(0..4) else {
        return err(0, "too short for a capture file");
    };
    let le = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
    let be = u32::from_be_bytes([magic[0], magic[1], magic[2], magic[3]]);
    if le == BT_SHB {
        return read_pcapng(bytes);
    }
    for (m, big) in [(le, false), (be, true)] {
        if m == PCAP_MAGIC_NSEC || m == PCAP_MAGIC_USEC {
            return read_pcap(bytes, Endian(big), m == PCAP_MAGIC_NSEC);
        }
    }
    err(0, format!("unknown magic {le:#010x}"))
}

fn read_pcap(b: &[u8], e: Endian, nsec: bool) -> Result<ReadCapture, ReadError> {
    let Some(linktype) = e.u32(b, 20) else {
        return err(0, "truncated pcap header");
    };
    let mut cap = ReadCapture {
        linktype,
        ..ReadCapture::default()
    };
    let mut off = 24;
    while off < b.len() {
        let (Some(sec), Some(frac), Some(caplen), Some(orig)) = (
            e.u32(b, off),
            e.u32(b, off + 4),
            e.u32(b, off + 8),
            e.u32(b, off + 12),
        ) else {
            return err(off, "truncated record header");
        };
        let start = off + 16;
        let Some(data) = b.get(start..start.saturating_add(caplen as usize)) else {
            return err(off, format!("record of {caplen} bytes runs past the end"));
        };
        let frac = if nsec {
            frac
        } else {
            frac.saturating_mul(1000)
        };
        cap.packets.push(ReadPacket {
            interface: None,
            ts_nanos: u128::from(sec) * 1_000_000_000 + u128::from(frac),
            orig_len: orig,
            outgoing: None,
            data: data.to_vec(),
        });
        off = start + data.len();
    }
    Ok(cap)
}

struct Iface {
    name: Option<String>,
    /// Units per second.
    units: u128,
}

fn read_pcapng(b: &[u8]) -> Result<ReadCapture, ReadError> {
    let mut cap = ReadCapture::default();
    let mut e = Endian(false);
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut off = 0;
    while off < b.len() {
        // A section header decides the byte order of what follows.
        if b.get(off..off + 4) == Some(&BT_SHB.to_le_bytes()[..]) {
            match (Endian(false).u32(b, off + 8), Endian(true).u32(b, off + 8)) {
                (Some(BYTE_ORDER_MAGIC), _) => e = Endian(false),
                (_, Some(BYTE_ORDER_MAGIC)) => e = Endian(true),
                _ => return err(off, "section header without byte-order magic"),
            }
            ifaces.clear();
        }
        let (Some(kind), Some(total)) = (e.u32(b, off), e.u32(b, off + 4)) else {
            return err(off, "truncated block header");
        };
        let total = total as usize;
        if total < 12 || total % 4 != 0 {
            return err(off, format!("bad block length {total}"));
        }
        let Some(block) = b.get(off..off.saturating_add(total)) else {
            return err(off, format!("block of {total} bytes runs past the end"));
        };
        let body = &block[8..total - 4];
        match kind {
            BT_IDB => {
                let Some(linktype) = e.u16(body, 0) else {
                    return err(off, "truncated interface block");
                };
                if ifaces.is_empty() && cap.interfaces.is_empty() {
                    cap.linktype = u32::from(linktype);
                }
                let mut iface = Iface {
                    name: None,
                    units: 1_000_000,
                };
                for (code, value) in options(e, body.get(8..).unwrap_or(&[])) {
                    match code {
                        2 => iface.name = Some(String::from_utf8_lossy(value).into_owned()),
                        9 => {
                            if let Some(&r) = value.first() {
                                let exp = u32::from(r & 0x7f);
                                let base: u128 = if r & 0x80 != 0 { 2 } else { 10 };
                                iface.units = base.checked_pow(exp).unwrap_or(1).max(1);
                            }
                        }
                        _ => {}
                    }
                }
                cap.interfaces.push(iface.name.clone().unwrap_or_default());
                ifaces.push(iface);
            }
            BT_EPB => {
                let (Some(id), Some(hi), Some(lo), Some(caplen), Some(orig)) = (
                    e.u32(body, 0),
                    e.u32(body, 4),
                    e.u32(body, 8),
                    e.u32(body, 12),
                    e.u32(body, 16),
                ) else {
                    return err(off, "truncated packet block");
                };
                let Some(iface) = ifaces.get(id as usize) else {
                    return err(off, format!("packet of undeclared interface {id}"));
                };
                let padded = (caplen as usize).div_ceil(4) * 4;
                let Some(data) = body.get(20..20usize.saturating_add(caplen as usize)) else {
                    return err(off, format!("packet of {caplen} bytes runs past its block"));
                };
                let mut outgoing = None;
                for (code, value) in options(e, body.get(20 + padded..).unwrap_or(&[])) {
                    if code == 2 {
                        outgoing = match e.u32(value, 0).map(|f| f & 3) {
                            Some(1) => Some(false),
                            Some(2) => Some(true),
                            _ => None,
                        };
                    }
                }
                let ts = (u128::from(hi) << 32) | u128::from(lo);
                cap.packets.push(ReadPacket {
                    interface: iface.name.clone(),
                    ts_nanos: ts * 1_000_000_000 / iface.units,
                    orig_len: orig,
                    outgoing,
                    data: data.to_vec(),
                });
            }
            _ => {}
        }
        off += total;
    }
    Ok(cap)
}

/// The options of a block: (code, value) until `opt_endofopt` or the end.
fn options(e: Endian, mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while let (Some(code), Some(len)) = (e.u16(b, 0), e.u16(b, 2)) {
        if code == 0 {
            break;
        }
        let len = usize::from(len);
        let Some(value) = b.get(4..4 + len) else {
            break;
        };
        out.push((code, value));
        b = b.get(4 + len.div_ceil(4) * 4..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Format, PacketRecord, PcapWriter};

    fn sample(format: Format) -> Vec<u8> {
        let ifaces = vec![("a:eth0".to_owned(), 262_144), ("sw1:p1".to_owned(), 96)];
        let mut w = PcapWriter::new(Vec::new(), format, &ifaces).unwrap();
        let frame: Vec<u8> = (0..61u8).collect();
        w.write(&PacketRecord {
            interface: 0,
            ts_sec: 1_700_000_000,
            ts_nsec: 123_456_789,
            orig_len: 61,
            outgoing: true,
            data: &frame,
        })
        .unwrap();
        w.write(&PacketRecord {
            interface: 1,
            ts_sec: 1_700_000_001,
            ts_nsec: 5,
            orig_len: 1500,
            outgoing: false,
            data: &frame[..7],
        })
        .unwrap();
        w.into_inner()
    }

    #[test]
    fn pcapng_round_trips_interfaces_times_and_directions() {
        let cap = read(&sample(Format::Pcapng)).unwrap();
        assert_eq!(cap.linktype, 1);
        assert_eq!(cap.interfaces, vec!["a:eth0", "sw1:p1"]);
        let p = &cap.packets;
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].interface.as_deref(), Some("a:eth0"));
        assert_eq!(p[0].ts_nanos, 1_700_000_000_123_456_789);
        assert_eq!(p[0].outgoing, Some(true));
        assert_eq!(p[0].data, (0..61u8).collect::<Vec<_>>());
        assert_eq!(p[1].interface.as_deref(), Some("sw1:p1"));
        assert_eq!(p[1].ts_nanos, 1_700_000_001_000_000_005);
        assert_eq!(p[1].orig_len, 1500);
        assert_eq!(p[1].outgoing, Some(false));
        assert_eq!(p[1].data.len(), 7);
    }

    #[test]
    fn pcap_round_trips_with_nanoseconds() {
        let bytes = sample(Format::Pcap);
        assert_eq!(&bytes[..4], &PCAP_MAGIC_NSEC.to_ne_bytes());
        let cap = read(&bytes).unwrap();
        assert!(cap.interfaces.is_empty());
        assert_eq!(cap.packets.len(), 2);
        assert_eq!(cap.packets[0].ts_nanos, 1_700_000_000_123_456_789);
        assert_eq!(cap.packets[1].orig_len, 1500);
        assert_eq!(cap.packets[0].outgoing, None);
    }

    #[test]
    fn a_microsecond_big_endian_pcap_is_read() {
        let mut b = Vec::new();
        b.extend_from_slice(&PCAP_MAGIC_USEC.to_be_bytes());
        b.extend_from_slice(&[0, 2, 0, 4]);
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&65535u32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&10u32.to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes());
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&[0xab, 0xcd]);
        let cap = read(&b).unwrap();
        assert_eq!(cap.linktype, 1);
        assert_eq!(cap.packets[0].ts_nanos, 10_000_007_000);
        assert_eq!(cap.packets[0].data, vec![0xab, 0xcd]);
    }

    #[test]
    fn bad_files_are_errors_with_offsets() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "too short"),
            (vec![1, 2, 3, 4, 5], "unknown magic"),
            (
                PCAP_MAGIC_NSEC.to_ne_bytes().to_vec(),
                "truncated pcap header",
            ),
        ];
        for (bytes, want) in cases {
            let e = read(&bytes).unwrap_err();
            assert!(e.to_string().contains(want), "{e} should say {want}");
        }
        let good = sample(Format::Pcapng);
        let e = read(&good[..good.len() - 3]).unwrap_err();
        assert!(e.reason.contains("runs past the end"), "{e}");
    }

    #[test]
    fn random_and_mangled_input_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let bases = [sample(Format::Pcapng), sample(Format::Pcap)];
        for i in 0..4000 {
            let mut b = bases[i % 2].clone();
            for _ in 0..(next() % 8) {
                let at = (next() as usize) % b.len();
                b[at] = next() as u8;
            }
            b.truncate((next() as usize) % (b.len() + 1));
            let _ = read(&b);
            let junk: Vec<u8> = (0..(next() % 64)).map(|_| next() as u8).collect();
            let _ = read(&junk);
        }
    }
}
