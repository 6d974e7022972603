//! warren's packet capture: `AF_PACKET` sockets on interfaces of several namespaces, polled
//! together and merged into one pcapng stream (one Interface Description Block per interface,
//! named `node:if`, and each packet's direction), or classic pcap with nanosecond timestamps.
//! tcpdump (≥ 4.9; Debian 12's 4.99) and Wireshark read both.
//!
//! ```no_run
//! use warren_capture::{Capture, Options, Target};
//! use warren_kernel::NetNs;
//! let targets = vec![
//!     Target::new("a:eth0", NetNs::open_named("lab-a")?, "eth0"),
//!     Target::new("b:eth0", NetNs::open_named("lab-b")?, "eth0"),
//! ];
//! let opts = Options { count: Some(10), ..Options::default() };
//! let cap = Capture::open(targets, &opts)?;
//! let file = std::fs::File::create("/tmp/lab.pcapng").unwrap();
//! let stats = cap.run(file, "/tmp/lab.pcapng", None, &mut |_| {})?;
//! println!("{} packets", stats.packets);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The file formats are pure code ([`format`](mod@format) writes, [`read`](mod@read) reads them back, for tests and
//! tools); [`capture`] does the I/O.

pub mod capture;
pub mod error;
pub mod format;
pub mod read;

pub use capture::{Capture, Options, Stats, StopReason, Target};
pub use error::{Error, Result};
pub use format::{Format, PacketRecord, PcapWriter};
