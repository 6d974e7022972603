//! The byte layouts of tc options that netlink-packet-route does not model (tbf, htb, netem),
//! encoded as iproute2's `tc` encodes them (`tc_core.c`, `q_tbf.c`, `q_htb.c`, `q_netem.c`).
//! Pure: no I/O except [`Psched::read`].

/// `TCA_TBF_PARMS`.
pub(crate) const TCA_TBF_PARMS: u16 = 1;
/// `TCA_TBF_RTAB`.
pub(crate) const TCA_TBF_RTAB: u16 = 2;
/// `TCA_TBF_RATE64`.
pub(crate) const TCA_TBF_RATE64: u16 = 4;
/// `TCA_TBF_BURST`.
pub(crate) const TCA_TBF_BURST: u16 = 6;
/// `TCA_HTB_PARMS`.
const TCA_HTB_PARMS: u16 = 1;
/// `TCA_HTB_INIT`.
const TCA_HTB_INIT: u16 = 2;
/// `TCA_HTB_CTAB`.
const TCA_HTB_CTAB: u16 = 3;
/// `TCA_HTB_RTAB`.
const TCA_HTB_RTAB: u16 = 4;
/// `TCA_HTB_RATE64`.
const TCA_HTB_RATE64: u16 = 6;
/// `TCA_HTB_CEIL64`.
const TCA_HTB_CEIL64: u16 = 7;
/// `TCA_NETEM_RATE`.
const TCA_NETEM_RATE: u16 = 6;
/// `TCA_NETEM_LATENCY64`.
const TCA_NETEM_LATENCY64: u16 = 10;
/// `TCA_NETEM_JITTER64`.
const TCA_NETEM_JITTER64: u16 = 11;
/// `TCA_NETEM_RATE64`.
const TCA_NETEM_RATE64: u16 = 13;
/// `TC_LINKLAYER_ETHERNET`.
const LINKLAYER_ETHERNET: u8 = 1;
/// `TIME_UNITS_PER_SEC` of iproute2: its times are microseconds.
const TIME_UNITS_PER_SEC: f64 = 1_000_000.0;
/// iproute2's default MTU for rate tables and htb bursts.
const DEFAULT_MTU: u32 = 1600;

/// The kernel's packet scheduler clock, from `/proc/net/psched`, as iproute2's `tc_core_init`
/// reads it: the four hex words are `t2us`, `us2t`, `clock_res` (and a fixed 1e9 or HZ).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Psched {
    /// Scheduler ticks per microsecond (`t2us / us2t * clock_res / 1e6`).
    pub tick_in_usec: f64,
    /// Clock ticks per second as iproute2's `get_hz` sees it (htb's default burst).
    pub hz: f64,
}

impl Default for Psched {
    /// Every kernel since 2.6.31 reports `000003e8 00000040 000f4240 3b9aca00`: 64 ns ticks.
    fn default() -> Self {
        Psched::parse("000003e8 00000040 000f4240 3b9aca00").unwrap_or(Psched {
            tick_in_usec: 15.625,
            hz: 1e9,
        })
    }
}

impl Psched {
    /// Parse the text of `/proc/net/psched`.
    pub fn parse(text: &str) -> Option<Psched> {
        let w: Vec<u32> = text
            .split_whitespace()
            .map(|s| u32::from_str_radix(s, 16))
            .collect::<Result<_, _>>()
            .ok()?;
        let [t2us, us2t, clock_res, hz] = w.get(..4)?.try_into().ok()?;
        if us2t == 0 {
            return None;
        }
        let clock_factor = if clock_res == 0 {
            1.0
        } else {
            f64::from(clock_res) / TIME_UNITS_PER_SEC
        };
        let hz = if clock_res == 1_000_000 && hz != 0 {
            f64::from(hz)
        } else if clock_res == 1_000_000_000 || hz == 1_000_000_000 {
            1e9
        } else {
            f64::from(hz.max(100))
        };
        Some(Psched {
            tick_in_usec: f64::from(t2us) / f64::from(us2t) * clock_factor,
            hz,
        })
    }

    /// Read this kernel's `/proc/net/psched` (the default when it cannot be read).
    pub fn read() -> Psched {
        std::fs::read_to_string("/proc/net/psched")
            .ok()
            .and_then(|t| Psched::parse(&t))
            .unwrap_or_default()
    }

    /// `tc_core_time2tick`: microseconds to scheduler ticks.
    fn time2tick(&self, usec: f64) -> f64 {
        usec * self.tick_in_usec
    }

    /// `tc_core_tick2time`: scheduler ticks to microseconds.
    fn tick2time(&self, ticks: f64) -> f64 {
        ticks / self.tick_in_usec
    }

    /// `tc_calc_xmittime`: ticks to send `size` bytes at `rate` bytes/s.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn xmittime(&self, rate: u64, size: u32) -> u32 {
        let t = self
            .time2tick(TIME_UNITS_PER_SEC * (f64::from(size) / rate as f64))
            .ceil();
        t.min(f64::from(u32::MAX)) as u32
    }

    /// `tc_calc_xmitsize`: bytes sent at `rate` bytes/s in `ticks`, rounded to the nearest.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn xmitsize(&self, rate: u64, ticks: u32) -> u32 {
        let s = (rate as f64 * self.tick2time(f64::from(ticks)) / TIME_UNITS_PER_SEC).round();
        s.min(f64::from(u32::MAX)) as u32
    }
}

/// This kernel's clock, read once per process.
pub(crate) fn psched() -> Psched {
    static PSCHED: std::sync::OnceLock<Psched> = std::sync::OnceLock::new();
    *PSCHED.get_or_init(Psched::read)
}

/// One netlink attribute, padded to 4 bytes.
pub(crate) fn attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = u16::try_from(4 + payload.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// The attributes in `data`: (type without flags, payload).
pub(crate) fn attrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes(data.get(0..2)?.try_into().ok()?));
        let ty = u16::from_ne_bytes(data.get(2..4)?.try_into().ok()?) & 0x3fff;
        let payload = data.get(4..len.max(4))?;
        data = data.get(len.next_multiple_of(4)..).unwrap_or_default();
        Some((ty, payload))
    })
}

/// `u32` rate field of a `tc_ratespec`: rates from 2^32 bytes/s on go in a `*_RATE64`
/// attribute and the field says `~0`.
fn rate32(rate: u64) -> u32 {
    u32::try_from(rate).unwrap_or(u32::MAX)
}

/// `struct tc_ratespec` and its 256-entry rate table, as `tc_calc_rtable_64` fills them for
/// an ethernet link layer, MTU 0 (2047) and no overhead.
fn ratespec(rate: u64, ps: &Psched) -> ([u8; 12], Vec<u8>) {
    let mtu: u32 = 2047;
    let mut cell_log = 0u8;
    while (mtu >> cell_log) > 255 {
        cell_log += 1;
    }
    let mut table = Vec::with_capacity(1024);
    for i in 0..256u32 {
        let size = (i + 1) << cell_log;
        table.extend_from_slice(&ps.xmittime(rate, size).to_ne_bytes());
    }
    let mut spec = [0u8; 12];
    spec[0] = cell_log;
    spec[1] = LINKLAYER_ETHERNET;
    // overhead 0 (2..4), cell_align -1 (4..6), mpu 0 (6..8), rate (8..12).
    spec[4..6].copy_from_slice(&(-1i16).to_ne_bytes());
    spec[8..12].copy_from_slice(&rate32(rate).to_ne_bytes());
    (spec, table)
}

/// The `TCA_OPTIONS` payload of a tbf qdisc: `TCA_TBF_PARMS` (`struct tc_tbf_qopt`, the
/// buffer in ticks), `TCA_TBF_BURST` (the burst in bytes, so the kernel takes it exactly),
/// `TCA_TBF_RATE64` when the rate does not fit 32 bits, and `TCA_TBF_RTAB`.
pub fn tbf_options(rate: u64, burst: u32, limit: u32, ps: &Psched) -> Vec<u8> {
    let (spec, rtab) = ratespec(rate, ps);
    let mut qopt = Vec::with_capacity(36);
    qopt.extend_from_slice(&spec);
    qopt.extend_from_slice(&[0; 12]); // peakrate: none
    qopt.extend_from_slice(&limit.to_ne_bytes());
    qopt.extend_from_slice(&ps.xmittime(rate, burst).to_ne_bytes()); // buffer
    qopt.extend_from_slice(&0u32.to_ne_bytes()); // mtu: only with a peak rate
    let mut out = Vec::new();
    attr(&mut out, TCA_TBF_PARMS, &qopt);
    attr(&mut out, TCA_TBF_BURST, &burst.to_ne_bytes());
    if rate > u64::from(u32::MAX) {
        attr(&mut out, TCA_TBF_RATE64, &rate.to_ne_bytes());
    }
    attr(&mut out, TCA_TBF_RTAB, &rtab);
    out
}

/// Decode a tbf qdisc's `TCA_OPTIONS` payload as the kernel dumps it: (rate bytes/s, burst
/// bytes, limit bytes). The burst is the buffer's ticks at the rate, as `tc` prints it.
pub fn tbf_decode(options: &[u8], ps: &Psched) -> Option<(u64, u32, u32)> {
    let mut qopt = None;
    let mut rate64 = None;
    for (ty, p) in attrs(options) {
        match ty {
            TCA_TBF_PARMS if p.len() >= 36 => qopt = Some(p),
            TCA_TBF_RATE64 if p.len() >= 8 => {
                rate64 = Some(u64::from_ne_bytes(p[..8].try_into().ok()?));
            }
            _ => {}
        }
    }
    let q = qopt?;
    let word = |at: usize| q[at..at + 4].try_into().ok().map(u32::from_ne_bytes);
    let rate = rate64.unwrap_or(u64::from(word(8)?));
    let limit = word(24)?;
    let buffer = word(28)?;
    Some((rate, ps.xmitsize(rate, buffer), limit))
}

/// The `TCA_OPTIONS` payload of an htb qdisc: `TCA_HTB_INIT` (`struct tc_htb_glob`: version 3,
/// rate2quantum 10, the default class's minor number).
pub fn htb_qdisc_options(default_class: u32) -> Vec<u8> {
    let mut glob = Vec::with_capacity(20);
    for w in [3u32, 10, default_class, 0, 0] {
        glob.extend_from_slice(&w.to_ne_bytes());
    }
    let mut out = Vec::new();
    attr(&mut out, TCA_HTB_INIT, &glob);
    out
}

/// An htb class's default burst, as `tc` picks it: a tick's worth of bytes plus an MTU.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn htb_default_burst(rate: u64, ps: &Psched) -> u32 {
    let b = rate as f64 / ps.hz + f64::from(DEFAULT_MTU);
    b.min(f64::from(u32::MAX)) as u32
}

/// The `TCA_OPTIONS` payload of an htb class: `TCA_HTB_PARMS` (`struct tc_htb_opt`, buffers
/// in ticks), the 64-bit rates when needed, then the ceil and rate tables.
pub fn htb_class_options(rate: u64, ceil: u64, burst: u32, cburst: u32, ps: &Psched) -> Vec<u8> {
    let (rspec, rtab) = ratespec(rate, ps);
    let (cspec, ctab) = ratespec(ceil, ps);
    let mut opt = Vec::with_capacity(44);
    opt.extend_from_slice(&rspec);
    opt.extend_from_slice(&cspec);
    opt.extend_from_slice(&ps.xmittime(rate, burst).to_ne_bytes());
    opt.extend_from_slice(&ps.xmittime(ceil, cburst).to_ne_bytes());
    opt.extend_from_slice(&[0; 12]); // quantum (kernel computes), level, prio
    let mut out = Vec::new();
    attr(&mut out, TCA_HTB_PARMS, &opt);
    if rate > u64::from(u32::MAX) {
        attr(&mut out, TCA_HTB_RATE64, &rate.to_ne_bytes());
    }
    if ceil > u64::from(u32::MAX) {
        attr(&mut out, TCA_HTB_CEIL64, &ceil.to_ne_bytes());
    }
    attr(&mut out, TCA_HTB_CTAB, &ctab);
    attr(&mut out, TCA_HTB_RTAB, &rtab);
    out
}

/// The `TCA_OPTIONS` payload of a netem qdisc: `struct tc_netem_qopt` itself (not nested:
/// netem is the exception), then `TCA_NETEM_LATENCY64`/`JITTER64` in nanoseconds and the rate.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn netem_options(
    delay_us: u32,
    jitter_us: u32,
    loss_percent: f64,
    rate: Option<u64>,
    ps: &Psched,
) -> Vec<u8> {
    let ticks = |us: u32| ps.time2tick(f64::from(us)).min(f64::from(u32::MAX)) as u32;
    let loss = (loss_percent.clamp(0.0, 100.0) / 100.0 * f64::from(u32::MAX)).round() as u32;
    let mut out = Vec::with_capacity(64);
    // latency, limit (tc's default 1000 packets), loss, gap, duplicate, jitter.
    for w in [ticks(delay_us), 1000, loss, 0, 0, ticks(jitter_us)] {
        out.extend_from_slice(&w.to_ne_bytes());
    }
    attr(
        &mut out,
        TCA_NETEM_LATENCY64,
        &(i64::from(delay_us) * 1000).to_ne_bytes(),
    );
    attr(
        &mut out,
        TCA_NETEM_JITTER64,
        &(i64::from(jitter_us) * 1000).to_ne_bytes(),
    );
    if let Some(rate) = rate {
        // struct tc_netem_rate: rate, packet_overhead, cell_size, cell_overhead.
        let mut r = Vec::with_capacity(16);
        r.extend_from_slice(&rate32(rate).to_ne_bytes());
        r.extend_from_slice(&[0; 12]);
        attr(&mut out, TCA_NETEM_RATE, &r);
        if rate > u64::from(u32::MAX) {
            attr(&mut out, TCA_NETEM_RATE64, &rate.to_ne_bytes());
        }
    }
    out
}
