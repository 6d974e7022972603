//! Traffic control over rtnetlink (`tc qdisc|class|filter`): tbf, htb, ingress, clsact and
//! netem qdiscs, htb classes, and a u32 match-all filter with a `mirred` redirect (the way to
//! send a link's ingress through an [`Ifb`](crate::link::ifb::Ifb) and shape it there).
//!
//! Messages are netlink-packet-route's `TcMessage`; the options it does not model (tbf, htb,
//! netem) are encoded in [`wire`] as iproute2 encodes them, with the scheduler clock read from
//! `/proc/net/psched`. A qdisc, classifier or action kind this kernel lacks comes back as
//! [`Error::KernelLacks`], recognised from the kernel's own refusal.
//!
//! ```no_run
//! use warren_kernel::Handle;
//! use warren_kernel::tc::{Parent, QdiscKind, QdiscSpec};
//! let h = Handle::current()?;
//! let eth0 = h.link_index("eth0")?;
//! // tc qdisc replace dev eth0 root tbf rate 1mbit burst 32kbit limit 12500
//! let tbf = QdiscKind::Tbf { rate: 125_000, burst: 4096, limit: 12_500 };
//! h.qdisc_replace(&QdiscSpec::new(eth0, Parent::Root, tbf))?;
//! # Ok::<(), warren_kernel::Error>(())
//! ```

pub mod wire;

use netlink_packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, Nla as _};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionGeneric, TcActionMirrorOption, TcActionOption,
    TcActionType, TcAttribute, TcFilterU32Option, TcHandle, TcMessage, TcMirror,
    TcMirrorActionType, TcOption, TcU32Key, TcU32Selector, TcU32SelectorFlags,
};

use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::netlink::Request;
use wire::Psched;

/// `TCA_OPTIONS`.
const TCA_OPTIONS: u16 = 2;
/// `ETH_P_ALL`: a filter for every protocol.
const ETH_P_ALL: u16 = 0x0003;
/// `TC_H_ROOT`.
const TC_H_ROOT: u32 = 0xFFFF_FFFF;
/// `TC_H_INGRESS` (also `TC_H_CLSACT`): the parent of an ingress or clsact qdisc.
const TC_H_INGRESS: u32 = 0xFFFF_FFF1;
/// `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)`: filters on the ingress hook.
const TC_H_FILTER_INGRESS: u32 = 0xFFFF_FFF2;
/// `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)`: filters on clsact's egress hook.
const TC_H_FILTER_EGRESS: u32 = 0xFFFF_FFF3;
/// The handle of an ingress or clsact qdisc (`ffff:`).
const INGRESS_HANDLE: u32 = 0xFFFF_0000;

/// Where a qdisc or filter attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// The link's root (egress) qdisc (`root`).
    Root,
    /// The ingress hook (`ingress`: `ffff:fff1` for a qdisc, `ffff:fff2` for a filter), shared
    /// by the ingress and clsact qdiscs.
    Ingress,
    /// clsact's egress hook (`egress`, `ffff:fff3`); for filters only.
    Egress,
    /// A class or qdisc handle (`MAJOR:MINOR` as `MAJOR << 16 | MINOR`).
    Class(u32),
}

impl Parent {
    /// The `tcm_parent` of a qdisc attached here.
    pub fn qdisc_parent(self) -> u32 {
        match self {
            Parent::Root => TC_H_ROOT,
            Parent::Ingress | Parent::Egress => TC_H_INGRESS,
            Parent::Class(h) => h,
        }
    }

    /// The `tcm_parent` of a filter attached here.
    pub fn filter_parent(self) -> u32 {
        match self {
            Parent::Root => TC_H_ROOT,
            Parent::Ingress => TC_H_FILTER_INGRESS,
            Parent::Egress => TC_H_FILTER_EGRESS,
            Parent::Class(h) => h,
        }
    }
}

/// `MAJOR:MINOR` as tc prints a handle (`8001:`, `1:10`, `ffff:fff1`).
pub fn handle_to_string(h: u32) -> String {
    match h {
        TC_H_ROOT => "root".into(),
        _ if h & 0xFFFF == 0 => format!("{:x}:", h >> 16),
        _ => format!("{:x}:{:x}", h >> 16, h & 0xFFFF),
    }
}

/// A queueing discipline and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum QdiscKind {
    /// Token bucket filter: `rate` bytes/s, `burst` bytes of bucket, `limit` bytes queued.
    Tbf {
        /// Bytes per second.
        rate: u64,
        /// Bucket size in bytes.
        burst: u32,
        /// Bytes that may wait in the queue.
        limit: u32,
    },
    /// The ingress qdisc (parent [`Parent::Ingress`]), home of ingress filters.
    Ingress,
    /// clsact: ingress and egress filter hooks without queueing.
    Clsact,
    /// Hierarchical token bucket; unclassified traffic goes to minor `default_class`.
    Htb {
        /// The minor number of the default class (`default 10` is 0x10).
        default_class: u32,
    },
    /// Network emulator: delay, jitter, loss and rate.
    Netem {
        /// Added delay in microseconds.
        delay_us: u32,
        /// Jitter in microseconds.
        jitter_us: u32,
        /// Random loss in percent (0–100).
        loss_percent: f64,
        /// Rate limit in bytes/s.
        rate: Option<u64>,
    },
}

impl QdiscKind {
    /// The kernel's name of the kind (`TCA_KIND`).
    pub fn name(&self) -> &'static str {
        match self {
            QdiscKind::Tbf { .. } => "tbf",
            QdiscKind::Ingress => "ingress",
            QdiscKind::Clsact => "clsact",
            QdiscKind::Htb { .. } => "htb",
            QdiscKind::Netem { .. } => "netem",
        }
    }

    /// The `TCA_OPTIONS` payload, if the kind has options.
    fn options(&self, ps: &Psched) -> Result<Option<Vec<u8>>> {
        Ok(match *self {
            QdiscKind::Tbf { rate, burst, limit } => {
                if rate == 0 || burst == 0 {
                    return Err(Error::invalid(
                        "tbf",
                        format!("rate {rate} burst {burst}"),
                        "rate and burst must be positive",
                    ));
                }
                Some(wire::tbf_options(rate, burst, limit, ps))
            }
            QdiscKind::Htb { default_class } => Some(wire::htb_qdisc_options(default_class)),
            QdiscKind::Netem {
                delay_us,
                jitter_us,
                loss_percent,
                rate,
            } => {
                if !(0.0..=100.0).contains(&loss_percent) {
                    return Err(Error::invalid(
                        "netem loss",
                        loss_percent.to_string(),
                        "must be a percentage between 0 and 100",
                    ));
                }
                Some(wire::netem_options(
                    delay_us,
                    jitter_us,
                    loss_percent,
                    rate,
                    ps,
                ))
            }
            QdiscKind::Ingress | QdiscKind::Clsact => None,
        })
    }
}

/// A qdisc to add or replace (`tc qdisc add dev IFINDEX PARENT [handle H] KIND ...`).
#[derive(Debug, Clone, PartialEq)]
pub struct QdiscSpec {
    /// The link.
    pub ifindex: u32,
    /// Where it attaches. Ingress and clsact qdiscs always attach at [`Parent::Ingress`].
    pub parent: Parent,
    /// Its handle (`MAJOR << 16`); `None` lets the kernel pick (ingress and clsact: `ffff:`).
    pub handle: Option<u32>,
    /// What it is.
    pub kind: QdiscKind,
}

impl QdiscSpec {
    /// A qdisc of `kind` on `ifindex` at `parent`, handle chosen by the kernel.
    pub fn new(ifindex: u32, parent: Parent, kind: QdiscKind) -> Self {
        QdiscSpec {
            ifindex,
            parent,
            handle: None,
            kind,
        }
    }

    /// With handle `handle` (`MAJOR << 16`, e.g. `0x1_0000` for `1:`).
    #[must_use]
    pub fn handle(mut self, handle: u32) -> Self {
        self.handle = Some(handle);
        self
    }

    fn message(&self, ps: &Psched) -> Result<TcMessage> {
        let (parent, handle) = match self.kind {
            QdiscKind::Ingress | QdiscKind::Clsact => {
                (TC_H_INGRESS, self.handle.unwrap_or(INGRESS_HANDLE))
            }
            _ => (self.parent.qdisc_parent(), self.handle.unwrap_or(0)),
        };
        let mut msg = header(self.ifindex, parent, handle, 0)?;
        msg.attributes
            .push(TcAttribute::Kind(self.kind.name().to_owned()));
        if let Some(opts) = self.kind.options(ps)? {
            msg.attributes
                .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, opts)));
        }
        Ok(msg)
    }

    fn object(&self) -> String {
        format!(
            "{} on link index {} parent {}",
            self.kind.name(),
            self.ifindex,
            handle_to_string(self.parent.qdisc_parent())
        )
    }
}

/// An htb class (`tc class add dev IFINDEX parent P classid C htb rate R [ceil C] ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSpec {
    /// The link.
    pub ifindex: u32,
    /// The parent qdisc or class handle (`1:` is `0x1_0000`).
    pub parent: u32,
    /// The class id (`1:10` is `0x1_0010`).
    pub classid: u32,
    /// Guaranteed rate in bytes/s.
    pub rate: u64,
    /// Ceiling in bytes/s (`None`: the rate).
    pub ceil: Option<u64>,
    /// Burst in bytes at the rate (`None`: tc's default, an MTU plus a tick's worth).
    pub burst: Option<u32>,
    /// Burst in bytes at the ceiling (`None`: as for `burst`).
    pub cburst: Option<u32>,
}

impl ClassSpec {
    /// An htb class `classid` under `parent` with `rate` bytes/s, ceiling = rate.
    pub fn htb(ifindex: u32, parent: u32, classid: u32, rate: u64) -> Self {
        ClassSpec {
            ifindex,
            parent,
            classid,
            rate,
            ceil: None,
            burst: None,
            cburst: None,
        }
    }

    fn message(&self, ps: &Psched) -> Result<TcMessage> {
        let ceil = self.ceil.unwrap_or(self.rate);
        if self.rate == 0 || ceil == 0 {
            return Err(Error::invalid(
                "htb class rate",
                format!("rate {} ceil {ceil}", self.rate),
                "rate and ceil must be positive",
            ));
        }
        let burst = self
            .burst
            .unwrap_or_else(|| wire::htb_default_burst(self.rate, ps));
        let cburst = self
            .cburst
            .unwrap_or_else(|| wire::htb_default_burst(ceil, ps));
        let mut msg = header(self.ifindex, self.parent, self.classid, 0)?;
        msg.attributes.push(TcAttribute::Kind("htb".into()));
        msg.attributes.push(TcAttribute::Other(DefaultNla::new(
            TCA_OPTIONS,
            wire::htb_class_options(self.rate, ceil, burst, cburst, ps),
        )));
        Ok(msg)
    }
}

/// What a filter does with what it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAction {
    /// `action mirred egress redirect dev IFINDEX`.
    Mirred {
        /// The link packets are redirected to (out of its egress).
        egress_redirect_to: u32,
    },
}

/// What a filter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// Every packet: `u32 match u32 0 0` (the kernel here has no `matchall` classifier, and u32
    /// does the same job everywhere).
    MatchAll {
        /// What to do with them.
        action: FilterAction,
    },
}

/// A filter (`tc filter add dev IFINDEX PARENT protocol all prio PRIO u32 match u32 0 0 ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// The link.
    pub ifindex: u32,
    /// Where it attaches, e.g. [`Parent::Ingress`].
    pub parent: Parent,
    /// Ethernet protocol in host order (`0x0003`, `ETH_P_ALL`, for all).
    pub protocol: u16,
    /// Priority (`pref`); 0 lets the kernel pick.
    pub prio: u16,
    /// Match and action.
    pub kind: FilterKind,
}

impl FilterSpec {
    /// A filter on `ifindex` at `parent` for every protocol, priority 1.
    pub fn new(ifindex: u32, parent: Parent, kind: FilterKind) -> Self {
        FilterSpec {
            ifindex,
            parent,
            protocol: ETH_P_ALL,
            prio: 1,
            kind,
        }
    }

    fn message(&self) -> Result<TcMessage> {
        let info = (u32::from(self.prio) << 16) | u32::from(self.protocol.to_be());
        let mut msg = header(self.ifindex, self.parent.filter_parent(), 0, info)?;
        msg.attributes.push(TcAttribute::Kind("u32".into()));
        let FilterKind::MatchAll { action } = self.kind;
        let mut sel = TcU32Selector::default();
        sel.flags = TcU32SelectorFlags::Terminal;
        sel.nkeys = 1;
        sel.keys = vec![TcU32Key::default()];
        msg.attributes.push(TcAttribute::Options(vec![
            TcOption::U32(TcFilterU32Option::Selector(sel)),
            TcOption::U32(TcFilterU32Option::Action(vec![action_message(action)])),
        ]));
        Ok(msg)
    }
}

/// The `TCA_ACT_*` nest of one action, first in its list.
fn action_message(action: FilterAction) -> TcAction {
    let FilterAction::Mirred { egress_redirect_to } = action;
    let mut generic = TcActionGeneric::default();
    generic.action = TcActionType::Stolen;
    let mut mirror = TcMirror::default();
    mirror.generic = generic;
    mirror.eaction = TcMirrorActionType::EgressRedir;
    mirror.ifindex = egress_redirect_to;
    let mut act = TcAction::default();
    act.tab = 1;
    act.attributes = vec![
        TcActionAttribute::Kind("mirred".into()),
        TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(
            mirror,
        ))]),
    ];
    act
}

/// A `TcMessage` for `ifindex` with the given parent, handle and `tcm_info`.
fn header(ifindex: u32, parent: u32, handle: u32, info: u32) -> Result<TcMessage> {
    let index = i32::try_from(ifindex)
        .map_err(|_| Error::invalid("ifindex", ifindex.to_string(), "out of range"))?;
    let mut msg = TcMessage::with_index(index);
    msg.header.parent = TcHandle::from(parent);
    msg.header.handle = TcHandle::from(handle);
    msg.header.info = info;
    Ok(msg)
}

/// A qdisc as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdiscInfo {
    /// The link.
    pub ifindex: u32,
    /// The kind (`tbf`, `noqueue`, `ingress`, ...).
    pub kind: String,
    /// Its handle (`MAJOR << 16`).
    pub handle: u32,
    /// Its parent (`0xffffffff` for root, `0xfffffff1` for ingress).
    pub parent: u32,
    /// For tbf: (rate bytes/s, burst bytes, limit bytes), as `tc` would show them.
    pub tbf: Option<(u64, u32, u32)>,
}

/// A filter as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterInfo {
    /// The link.
    pub ifindex: u32,
    /// The classifier (`u32`, `bpf`, ...).
    pub kind: String,
    /// Its handle (`800::800` is `0x8000_0800`; the u32 hash table entries have minor 0).
    pub handle: u32,
    /// Priority (`pref`).
    pub prio: u16,
    /// Ethernet protocol in host order.
    pub protocol: u16,
    /// The link a `mirred` action of this filter sends to, if it has one.
    pub mirred_to: Option<u32>,
}

fn kind_of(attrs: &[TcAttribute]) -> String {
    attrs
        .iter()
        .find_map(|a| match a {
            TcAttribute::Kind(k) => Some(k.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn qdisc_info(msg: TcMessage, ps: &Psched) -> QdiscInfo {
    let kind = kind_of(&msg.attributes);
    let tbf = if kind == "tbf" {
        msg.attributes.iter().find_map(|a| match a {
            TcAttribute::Options(opts) => opts.iter().find_map(|o| match o {
                TcOption::Other(nla) => wire::tbf_decode(&nla_value(nla), ps),
                _ => None,
            }),
            TcAttribute::Other(nla) if nla.kind() == TCA_OPTIONS => {
                wire::tbf_decode(&nla_value(nla), ps)
            }
            _ => None,
        })
    } else {
        None
    };
    QdiscInfo {
        ifindex: u32::try_from(msg.header.index).unwrap_or_default(),
        kind,
        handle: msg.header.handle.into(),
        parent: msg.header.parent.into(),
        tbf,
    }
}

/// The payload of an attribute the crate keeps undecoded.
fn nla_value(nla: &DefaultNla) -> Vec<u8> {
    let mut v = vec![0; nla.value_len()];
    nla.emit_value(&mut v);
    v
}

fn filter_info(msg: TcMessage) -> FilterInfo {
    let mirred_to = msg.attributes.iter().find_map(|a| match a {
        TcAttribute::Options(opts) => opts.iter().find_map(|o| match o {
            TcOption::U32(TcFilterU32Option::Action(acts)) => acts.iter().find_map(mirred_target),
            _ => None,
        }),
        _ => None,
    });
    FilterInfo {
        ifindex: u32::try_from(msg.header.index).unwrap_or_default(),
        kind: kind_of(&msg.attributes),
        handle: msg.header.handle.into(),
        prio: u16::try_from(msg.header.info >> 16).unwrap_or_default(),
        protocol: u16::from_be(u16::try_from(msg.header.info & 0xFFFF).unwrap_or_default()),
        mirred_to,
    }
}

fn mirred_target(act: &TcAction) -> Option<u32> {
    act.attributes.iter().find_map(|a| match a {
        TcActionAttribute::Options(opts) => opts.iter().find_map(|o| match o {
            TcActionOption::Mirror(TcActionMirrorOption::Parms(m)) => Some(m.ifindex),
            _ => None,
        }),
        _ => None,
    })
}

/// The request of [`Handle::qdisc_add`] (`NLM_F_CREATE | NLM_F_EXCL`).
pub fn qdisc_add_request(q: &QdiscSpec) -> Result<Request> {
    let msg = q.message(&wire::psched())?;
    Ok(Request::new(
        RouteNetlinkMessage::NewQueueDiscipline(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        "add qdisc",
        q.object(),
    )
    .creating_kind(q.kind.name()))
}

/// The request of [`Handle::qdisc_replace`] (`NLM_F_CREATE | NLM_F_REPLACE`).
pub fn qdisc_replace_request(q: &QdiscSpec) -> Result<Request> {
    let msg = q.message(&wire::psched())?;
    Ok(Request::new(
        RouteNetlinkMessage::NewQueueDiscipline(msg),
        NLM_F_CREATE | NLM_F_REPLACE,
        "replace qdisc",
        q.object(),
    )
    .creating_kind(q.kind.name()))
}

/// The request of [`Handle::qdisc_del`].
pub fn qdisc_del_request(ifindex: u32, parent: Parent) -> Result<Request> {
    let msg = header(ifindex, parent.qdisc_parent(), 0, 0)?;
    Ok(Request::new(
        RouteNetlinkMessage::DelQueueDiscipline(msg),
        0,
        "delete qdisc",
        format!(
            "on link index {ifindex} parent {}",
            handle_to_string(parent.qdisc_parent())
        ),
    ))
}

/// The request of [`Handle::class_add`].
pub fn class_add_request(c: &ClassSpec) -> Result<Request> {
    let msg = c.message(&wire::psched())?;
    Ok(Request::new(
        RouteNetlinkMessage::NewTrafficClass(msg),
        NLM_F_CREATE | NLM_F_EXCL,
        "add class",
        format!(
            "htb {} on link index {}",
            handle_to_string(c.classid),
            c.ifindex
        ),
    )
    .creating_kind("htb"))
}

/// The request of [`Handle::filter_add`].
pub fn filter_add_request(f: &FilterSpec) -> Result<Request> {
    Ok(Request::new(
        RouteNetlinkMessage::NewTrafficFilter(f.message()?),
        NLM_F_CREATE | NLM_F_EXCL,
        "add filter",
        format!(
            "u32 prio {} on link index {} parent {}",
            f.prio,
            f.ifindex,
            handle_to_string(f.parent.filter_parent())
        ),
    )
    .creating_kind("u32"))
}

impl Handle {
    /// `tc qdisc add`: fails if a qdisc is already there. A kind this kernel lacks is
    /// [`Error::KernelLacks`].
    pub fn qdisc_add(&self, q: &QdiscSpec) -> Result<()> {
        self.ack(qdisc_add_request(q)?)
    }

    /// `tc qdisc replace`: create, or replace what is there.
    pub fn qdisc_replace(&self, q: &QdiscSpec) -> Result<()> {
        self.ack(qdisc_replace_request(q)?)
    }

    /// `tc qdisc del dev IFINDEX PARENT`. Nothing there (the default root qdisc, or no
    /// ingress qdisc) is the kernel's refusal, [`Error::errno`] `ENOENT` or `EINVAL`: see
    /// [`is_gone`].
    pub fn qdisc_del(&self, ifindex: u32, parent: Parent) -> Result<()> {
        self.ack(qdisc_del_request(ifindex, parent)?)
    }

    /// `tc qdisc show [dev IFINDEX]`.
    pub fn qdisc_list(&self, ifindex: Option<u32>) -> Result<Vec<QdiscInfo>> {
        let msg = header(ifindex.unwrap_or(0), 0, 0, 0)?;
        let req = Request::new(
            RouteNetlinkMessage::GetQueueDiscipline(msg),
            0,
            "list qdiscs",
            "",
        );
        let ps = wire::psched();
        Ok(self
            .dump(req)?
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewQueueDiscipline(m) => Some(qdisc_info(m, &ps)),
                _ => None,
            })
            .filter(|q| ifindex.is_none_or(|i| q.ifindex == i))
            .collect())
    }

    /// `tc class add ... htb`.
    pub fn class_add(&self, c: &ClassSpec) -> Result<()> {
        self.ack(class_add_request(c)?)
    }

    /// `tc filter add`.
    pub fn filter_add(&self, f: &FilterSpec) -> Result<()> {
        self.ack(filter_add_request(f)?)
    }

    /// `tc filter show dev IFINDEX PARENT`: every filter node (u32 also lists its hash table
    /// nodes, which have no action).
    pub fn filter_list(&self, ifindex: u32, parent: Parent) -> Result<Vec<FilterInfo>> {
        let msg = header(ifindex, parent.filter_parent(), 0, 0)?;
        let req = Request::new(
            RouteNetlinkMessage::GetTrafficFilter(msg),
            0,
            "list filters",
            format!("on link index {ifindex}"),
        );
        Ok(self
            .dump(req)?
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewTrafficFilter(m) => Some(filter_info(m)),
                _ => None,
            })
            .collect())
    }
}

/// Whether `e` is the kernel saying there is nothing to delete (`ENOENT`, or `EINVAL` for a
/// handle that does not match).
pub fn is_gone(e: &Error) -> bool {
    use nix::errno::Errno;
    matches!(e, Error::Netlink { .. }) && matches!(e.errno(), Some(Errno::ENOENT | Errno::EINVAL))
}

#[cfg(test)]
mod tests;
