//! A capture on several interfaces of several namespaces at once: one packet socket each,
//! polled together; packets are merged by their kernel timestamps (each waits 10 ms for older
//! ones of other interfaces) into one stream, which is flushed after every round (so `-w - | tcpdump -r -` shows packets as
//! they come). It ends at a packet count, a duration, or when a stop descriptor becomes
//! readable (a signalfd for SIGINT, a pipe in tests), and then drains what the sockets still
//! hold before it returns.

use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use warren_kernel::NetNs;
use warren_kernel::packet::{Direction, PacketOptions, PacketSocket, wait_readable};

use crate::error::{Error, Result};
use crate::format::{Format, PacketRecord, PcapWriter};

/// Packets taken from one socket per round, so a busy interface cannot starve the others.
const BURST: usize = 256;
/// How long a packet waits for older packets of other interfaces before it is written.
const HOLD: Duration = Duration::from_millis(10);

/// One interface to capture on.
#[derive(Debug)]
pub struct Target {
    /// How the stream names it: `node:if`.
    pub name: String,
    /// Its namespace.
    pub ns: NetNs,
    /// Its name (or altname) inside the namespace.
    pub ifname: String,
}

impl Target {
    /// A target named `name`: interface `ifname` of `ns`.
    pub fn new(name: impl Into<String>, ns: NetNs, ifname: impl Into<String>) -> Target {
        Target {
            name: name.into(),
            ns,
            ifname: ifname.into(),
        }
    }
}

/// What to capture and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Bytes kept per packet.
    pub snaplen: u32,
    /// Which directions.
    pub direction: Direction,
    /// The file format.
    pub format: Format,
    /// Stop after this many packets (over all interfaces).
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            snaplen: PacketOptions::default().snaplen,
            direction: Direction::Both,
            format: Format::Pcapng,
            count: None,
            duration: None,
        }
    }
}

/// Why a capture ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopReason {
    /// The stop descriptor became readable (SIGINT).
    #[default]
    Stopped,
    /// The packet count was reached.
    Count,
    /// The duration passed.
    Duration,
    /// The reader of the stream went away (a closed pipe).
    ReaderGone,
}

/// Counters of a capture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    /// Packets written.
    pub packets: u64,
    /// Bytes on the wire of the packets written.
    pub bytes: u64,
    /// Packets written per interface, in target order.
    pub per_interface: Vec<u64>,
    /// Packets the kernel dropped because a receive buffer was full.
    pub dropped: u64,
    /// Why it ended.
    pub reason: StopReason,
}

/// Open capture sockets, ready to [`Capture::run`].
#[derive(Debug)]
pub struct Capture {
    names: Vec<String>,
    sockets: Vec<PacketSocket>,
    options: Options,
}

struct Pending {
    iface: usize,
    ts: (i64, u32),
    orig_len: u32,
    outgoing: bool,
    data: Vec<u8>,
}

impl Capture {
    /// Open one socket per target. Fails on the first target that cannot be opened, naming
    /// it (the sockets opened before it are closed).
    pub fn open(targets: Vec<Target>, options: &Options) -> Result<Capture> {
        if targets.is_empty() {
            return Err(Error::NoTarget);
        }
        let popts = PacketOptions {
            snaplen: options.snaplen,
            direction: options.direction,
            ..PacketOptions::default()
        };
        let mut names = Vec::with_capacity(targets.len());
        let mut sockets = Vec::with_capacity(targets.len());
        for t in targets {
            if names.contains(&t.name) {
                return Err(Error::Duplicate { target: t.name });
            }
            let sock =
                PacketSocket::open(&t.ns, &t.ifname, popts).map_err(|source| Error::Open {
                    target: t.name.clone(),
                    source: Box::new(source),
                })?;
            names.push(t.name);
            sockets.push(sock);
        }
        Ok(Capture {
            names,
            sockets,
            options: *options,
        })
    }

    /// The targets' names, in order (pcapng interface ids).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Capture into `out` (named `dest` in errors) until the count, the duration, or `stop`
    /// becomes readable. `progress` is called after every round with the counters so far.
    pub fn run<W: Write>(
        &self,
        out: W,
        dest: &str,
        stop: Option<BorrowedFd<'_>>,
        progress: &mut dyn FnMut(&Stats),
    ) -> Result<Stats> {
        let werr = |source| Error::Write {
            dest: dest.to_owned(),
            source,
        };
        let ifaces: Vec<(String, u32)> = self
            .names
            .iter()
            .zip(&self.sockets)
            .map(|(n, s)| (n.clone(), s.snaplen()))
            .collect();
        let mut stats = Stats {
            per_interface: vec![0; self.sockets.len()],
            ..Stats::default()
        };
        let mut w = match PcapWriter::new(out, self.options.format, &ifaces) {
            Ok(w) => w,
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                stats.reason = StopReason::ReaderGone;
                return Ok(stats);
            }
            Err(e) => return Err(werr(e)),
        };
        if let Err(e) = w.flush() {
            if e.kind() == ErrorKind::BrokenPipe {
                stats.reason = StopReason::ReaderGone;
                return Ok(stats);
            }
            return Err(werr(e));
        }
        let deadline = self.options.duration.map(|d| Instant::now() + d);
        let mut fds: Vec<BorrowedFd<'_>> = self.sockets.iter().map(AsFd::as_fd).collect();
        if let Some(s) = stop {
            fds.push(s);
        }
        let mut buf = Vec::new();
        let mut pool: Vec<Pending> = Vec::new();
        let mut reason = None;
        while reason.is_none() {
            let mut timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !pool.is_empty() {
                timeout = Some(timeout.map_or(HOLD, |t| t.min(HOLD)));
            }
            let ready = wait_readable(&fds, timeout).map_err(|e| Error::Poll(Box::new(e)))?;
            if stop.is_some() && ready.last() == Some(&true) {
                reason = Some(StopReason::Stopped);
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                reason = Some(StopReason::Duration);
            }
            // Every socket, ready or not: a packet that raced the poll is not left behind a
            // later one of another interface.
            self.take(&mut pool, &mut buf)?;
            pool.sort_by_key(|p| p.ts);
            // Packets younger than HOLD wait for a round, so a late one of another interface
            // still goes before them; at the end everything goes.
            let cut = if reason.is_some() {
                pool.len()
            } else {
                let horizon = wall_clock_nanos().saturating_sub(HOLD.as_nanos());
                pool.partition_point(|p| ts_nanos(p.ts) <= horizon)
            };
            let batch: Vec<Pending> = pool.drain(..cut).collect();
            match self.write_batch(&mut w, batch, &mut stats) {
                Ok(true) => reason = reason.or(Some(StopReason::Count)),
                Ok(false) => {}
                Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                    reason = Some(StopReason::ReaderGone);
                }
                Err(e) => return Err(werr(e)),
            }
            progress(&stats);
        }
        stats.reason = reason.unwrap_or_default();
        for s in &self.sockets {
            if let Ok(st) = s.stats() {
                stats.dropped += u64::from(st.drops);
            }
        }
        Ok(stats)
    }

    /// Up to [`BURST`] packets from each socket into `pool`.
    fn take(&self, pool: &mut Vec<Pending>, buf: &mut Vec<u8>) -> Result<()> {
        for (i, sock) in self.sockets.iter().enumerate() {
            for _ in 0..BURST {
                let got = sock.recv(buf).map_err(|source| Error::Receive {
                    target: self.names[i].clone(),
                    source: Box::new(source),
                })?;
                let Some(meta) = got else { break };
                pool.push(Pending {
                    iface: i,
                    ts: (meta.ts_sec, meta.ts_nsec),
                    orig_len: meta.orig_len,
                    outgoing: meta.outgoing,
                    data: buf.clone(),
                });
            }
        }
        Ok(())
    }

    /// Write a batch; true when the packet count is reached.
    fn write_batch<W: Write>(
        &self,
        w: &mut PcapWriter<W>,
        batch: Vec<Pending>,
        stats: &mut Stats,
    ) -> std::io::Result<bool> {
        let mut done = false;
        for p in batch {
            if self.options.count.is_some_and(|c| stats.packets >= c) {
                done = true;
                break;
            }
            w.write(&PacketRecord {
                interface: u32::try_from(p.iface).unwrap_or(u32::MAX),
                ts_sec: p.ts.0,
                ts_nsec: p.ts.1,
                orig_len: p.orig_len,
                outgoing: p.outgoing,
                data: &p.data,
            })?;
            stats.packets += 1;
            stats.bytes += u64::from(p.orig_len);
            stats.per_interface[p.iface] += 1;
        }
        w.flush()?;
        Ok(done || self.options.count.is_some_and(|c| stats.packets >= c))
    }
}

fn ts_nanos((sec, nsec): (i64, u32)) -> u128 {
    u128::try_from(sec).unwrap_or(0) * 1_000_000_000 + u128::from(nsec)
}

fn wall_clock_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
