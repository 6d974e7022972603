//! The links of a lab file: `[END, END]` or `{endpoints: [END, END], mtu, bandwidth,
//! delay, loss, addresses, mode}`, an end being `node`, `node:if`, `host:BRIDGE` or
//! `macvlan:PARENT`.

use warren_kernel::addr::IpNet;

use crate::spec::{At, join};
use crate::values;
use crate::walker::Walker;
use crate::yaml::{Kind, Pos, Value};

/// One end of a link as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EndSpec {
    /// `node` or `node:if`.
    Node(String, Option<String>),
    /// `host:BRIDGE`.
    Host(String),
    /// `macvlan:PARENT`.
    Macvlan(String),
}

/// `links[i]`.
#[derive(Debug, Clone)]
pub(crate) struct LinkSpec {
    pub pos: Pos,
    pub field: String,
    pub ends: Vec<At<EndSpec>>,
    pub mtu: Option<u32>,
    pub rate_bps: Option<u64>,
    pub delay_us: Option<u64>,
    pub loss_percent: Option<f64>,
    /// One per end (`None`: from the pools).
    pub addresses: Vec<Option<At<IpNet>>>,
    pub mode: Option<At<String>>,
}

impl LinkSpec {
    /// A link at `pos` with nothing read yet: no ends, no properties.
    pub(crate) fn empty(pos: Pos, field: &str) -> LinkSpec {
        LinkSpec {
            pos,
            field: field.to_string(),
            ends: Vec::new(),
            mtu: None,
            rate_bps: None,
            delay_us: None,
            loss_percent: None,
            addresses: Vec::new(),
            mode: None,
        }
    }
}

const MACVLAN_MODES: &[&str] = &["bridge", "private", "vepa", "passthru", "source"];

impl Walker<'_> {
    fn endpoint(&mut self, v: &Value, field: &str) -> Option<At<EndSpec>> {
        let s = self.string(v, field)?;
        let end = match s.v.split_once(':') {
            Some(("host", b)) => EndSpec::Host(b.to_string()),
            Some(("macvlan", p)) => EndSpec::Macvlan(p.to_string()),
            Some((n, i)) => EndSpec::Node(n.to_string(), Some(i.to_string())),
            None => EndSpec::Node(s.v.clone(), None),
        };
        let check = match &end {
            EndSpec::Host(i) | EndSpec::Macvlan(i) | EndSpec::Node(_, Some(i)) => {
                if i.len() > 15 && !matches!(end, EndSpec::Node(..)) {
                    Err(format!("host interface {i:?} is longer than 15 bytes"))
                } else {
                    values::interface_name(i)
                }
            }
            EndSpec::Node(_, None) => Ok(()),
        };
        if let Err(e) = check {
            self.d.error(v.pos, field, e);
            return None;
        }
        Some(At {
            v: end,
            pos: v.pos,
            field: field.to_string(),
        })
    }

    pub(crate) fn link(&mut self, v: &Value, field: &str) -> Option<LinkSpec> {
        let mut l = LinkSpec::empty(v.pos, field);
        let mut ends_value = None;
        match &v.kind {
            Kind::Seq(_) => ends_value = Some((v, field.to_string())),
            Kind::Map(_) => {
                let allowed = [
                    "endpoints",
                    "mtu",
                    "bandwidth",
                    "delay",
                    "loss",
                    "addresses",
                    "mode",
                ];
                for (k, val) in self.map(v, field, &allowed) {
                    let f = join(field, &k.name);
                    match k.name.as_str() {
                        "endpoints" => ends_value = Some((val, f)),
                        #[allow(clippy::cast_possible_truncation)]
                        "mtu" => l.mtu = self.uint(val, &f, 68, 65535).map(|n| n as u32),
                        "bandwidth" => l.rate_bps = self.parsed(val, &f, values::rate_bps),
                        "delay" => l.delay_us = self.parsed(val, &f, values::duration_us),
                        "loss" => l.loss_percent = self.parsed(val, &f, values::percent),
                        "mode" => {
                            l.mode = self.string(val, &f);
                            if let Some(m) = &l.mode {
                                if !MACVLAN_MODES.contains(&m.v.as_str()) {
                                    self.d.error(
                                        val.pos,
                                        &f,
                                        format!(
                                            "unknown macvlan mode {:?} (allowed: {})",
                                            m.v,
                                            MACVLAN_MODES.join(", ")
                                        ),
                                    );
                                }
                            }
                        }
                        "addresses" => {
                            for (i, av) in self.list(val, &f).iter().enumerate() {
                                let fa = format!("{f}[{i}]");
                                let a = match &av.kind {
                                    Kind::Null => None,
                                    Kind::Str(s, _) if s == "auto" => None,
                                    _ => self.net(av, &fa),
                                };
                                l.addresses.push(a);
                            }
                            if l.addresses.len() != 2 {
                                self.d.error(
                                    val.pos,
                                    &f,
                                    "one address per endpoint (two; `auto` or ~ for one from the pools)",
                                );
                                l.addresses.clear();
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                self.d.error(
                    v.pos,
                    field,
                    format!(
                        "expected [END, END] or a map with endpoints, found {}",
                        v.type_name()
                    ),
                );
                return None;
            }
        }
        let Some((ev, ef)) = ends_value else {
            self.d.error(v.pos, &join(field, "endpoints"), "missing");
            return None;
        };
        let items = self.list(ev, &ef);
        if items.len() != 2 {
            if matches!(ev.kind, Kind::Seq(_)) {
                self.d.error(
                    ev.pos,
                    &ef,
                    format!("a link has two endpoints, not {}", items.len()),
                );
            }
            return None;
        }
        for (i, e) in items.iter().enumerate() {
            if let Some(end) = self.endpoint(e, &format!("{ef}[{i}]")) {
                l.ends.push(end);
            }
        }
        (l.ends.len() == 2).then_some(l)
    }
}
