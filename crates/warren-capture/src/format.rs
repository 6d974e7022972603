//! Writing captures: pcapng (the default) and classic pcap, both `LINKTYPE_ETHERNET` with
//! nanosecond timestamps, in this machine's byte order (readers detect it from the magic).
//!
//! pcapng is the default because one file then holds several interfaces *by name*: one
//! Interface Description Block per interface with `if_name` = `node:if` and `if_tsresol` = 9,
//! and an Enhanced Packet Block per packet naming its interface and carrying its direction
//! (`epb_flags`). Wireshark shows both; tcpdump ≥ 4.9 reads the file. Classic pcap (magic
//! `0xa1b23c4d`, nanoseconds) is offered for older tools: there the interfaces are merged
//! anonymously.

use std::io::{self, Write};

/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u16 = 1;
/// Classic pcap's magic for nanosecond timestamps.
pub const PCAP_MAGIC_NSEC: u32 = 0xa1b2_3c4d;
/// Classic pcap's magic for microsecond timestamps.
pub const PCAP_MAGIC_USEC: u32 = 0xa1b2_c3d4;
/// pcapng block types.
pub(crate) const BT_SHB: u32 = 0x0A0D_0D0A;
pub(crate) const BT_IDB: u32 = 1;
pub(crate) const BT_EPB: u32 = 6;
/// pcapng's byte-order magic.
pub(crate) const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// The file format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// pcapng: interfaces named, directions kept.
    #[default]
    Pcapng,
    /// Classic pcap, nanosecond timestamps.
    Pcap,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pcapng" => Ok(Format::Pcapng),
            "pcap" => Ok(Format::Pcap),
            _ => Err(format!("unknown capture format {s:?} (pcapng or pcap)")),
        }
    }
}

/// One packet to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRecord<'a> {
    /// Index of its interface in the list given to [`PcapWriter::new`].
    pub interface: u32,
    /// Seconds since the epoch.
    pub ts_sec: i64,
    /// Nanoseconds within the second.
    pub ts_nsec: u32,
    /// Length on the wire.
    pub orig_len: u32,
    /// Sent (true) or received (false) by its interface's namespace.
    pub outgoing: bool,
    /// The captured bytes, from the Ethernet header on.
    pub data: &'a [u8],
}

/// A capture stream being written.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    format: Format,
}

impl<W: Write> PcapWriter<W> {
    /// Start a stream on `out`: the file header and, for pcapng, one interface block per
    /// `(name, snaplen)`.
    pub fn new(mut out: W, format: Format, interfaces: &[(String, u32)]) -> io::Result<Self> {
        let snaplen = interfaces.iter().map(|i| i.1).max().unwrap_or(262_144);
        match format {
            Format::Pcap => {
                let mut h = Vec::with_capacity(24);
                h.extend_from_slice(&PCAP_MAGIC_NSEC.to_ne_bytes());
                h.extend_from_slice(&2u16.to_ne_bytes());
                h.extend_from_slice(&4u16.to_ne_bytes());
                h.extend_from_slice(&0i32.to_ne_bytes()); // thiszone
                h.extend_from_slice(&0u32.to_ne_bytes()); // sigfigs
                h.extend_from_slice(&snaplen.to_ne_bytes());
                h.extend_from_slice(&u32::from(LINKTYPE_ETHERNET).to_ne_bytes());
                out.write_all(&h)?;
            }
            Format::Pcapng => {
                let mut body = Vec::new();
                body.extend_from_slice(&BYTE_ORDER_MAGIC.to_ne_bytes());
                body.extend_from_slice(&1u16.to_ne_bytes());
                body.extend_from_slice(&0u16.to_ne_bytes());
                body.extend_from_slice(&(-1i64).to_ne_bytes()); // section length unknown
                option(&mut body, 4, b"warren"); // shb_userappl
                end_of_options(&mut body);
                out.write_all(&block(BT_SHB, &body))?;
                for (name, snaplen) in interfaces {
                    let mut body = Vec::new();
                    body.extend_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
                    body.extend_from_slice(&0u16.to_ne_bytes());
                    body.extend_from_slice(&snaplen.to_ne_bytes());
                    option(&mut body, 2, name.as_bytes()); // if_name
                    option(&mut body, 9, &[9]); // if_tsresol: 10^-9
                    end_of_options(&mut body);
                    out.write_all(&block(BT_IDB, &body))?;
                }
            }
        }
        Ok(PcapWriter { out, format })
    }

    /// Append one packet.
    pub fn write(&mut self, p: &PacketRecord<'_>) -> io::Result<()> {
        let caplen = u32::try_from(p.data.len()).unwrap_or(u32::MAX);
        let orig_len = p.orig_len.max(caplen);
        match self.format {
            Format::Pcap => {
                let mut h = [0u8; 16];
                let sec = u32::try_from(p.ts_sec).unwrap_or(0);
                h[0..4].copy_from_slice(&sec.to_ne_bytes());
                h[4..8].copy_from_slice(&p.ts_nsec.to_ne_bytes());
                h[8..12].copy_from_slice(&caplen.to_ne_bytes());
                h[12..16].copy_from_slice(&orig_len.to_ne_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(p.data)
            }
            Format::Pcapng => {
                let ts =
                    u64::try_from(p.ts_sec).unwrap_or(0) * 1_000_000_000 + u64::from(p.ts_nsec);
                let mut body = Vec::with_capacity(p.data.len() + 40);
                body.extend_from_slice(&p.interface.to_ne_bytes());
                body.extend_from_slice(&((ts >> 32) as u32).to_ne_bytes());
                body.extend_from_slice(&(ts as u32).to_ne_bytes());
                body.extend_from_slice(&caplen.to_ne_bytes());
                body.extend_from_slice(&orig_len.to_ne_bytes());
                body.extend_from_slice(p.data);
                pad4(&mut body);
                // epb_flags: bits 0-1 are the direction, 1 inbound, 2 outbound.
                let flags: u32 = if p.outgoing { 2 } else { 1 };
                option(&mut body, 2, &flags.to_ne_bytes());
                end_of_options(&mut body);
                self.out.write_all(&block(BT_EPB, &body))
            }
        }
    }

    /// Flush the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A pcapng block: type, total length, body (already padded), total length again.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let total = u32::try_from(body.len() + 12).unwrap_or(u32::MAX);
    let mut b = Vec::with_capacity(body.len() + 12);
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(&total.to_ne_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&total.to_ne_bytes());
    b
}

fn option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    body.extend_from_slice(&code.to_ne_bytes());
    body.extend_from_slice(&len.to_ne_bytes());
    body.extend_from_slice(&value[..usize::from(len)]);
    pad4(body);
}

fn end_of_options(body: &mut Vec<u8>) {
    body.extend_from_slice(&[0; 4]);
}

fn pad4(v: &mut Vec<u8>) {
    while v.len() % 4 != 0 {
        v.push(0);
    }
}
