//! Building a lab in the kernel, or applying a [`Plan`] to the lab as built.
//!
//! Everything happens from this process over netlink (the `wire` submodule makes the links): all
//! new namespaces are made by one worker thread that opens a netlink socket inside each
//! ([`warren_kernel::netns::add_named_many`]); every veth is created with its peer put
//! straight into the far namespace by fd and both interface indexes chosen, in one batch per
//! creating namespace (a switch's ports all in one); then one batch per namespace brings the
//! far ends up and sets altnames, addresses and routes. Every object is recorded in warren's
//! store before it is made (module [`crate::state`]), so [`crate::teardown::down`] removes
//! exactly what exists, also after a crash in the middle.

mod apply;
mod wire;

pub(crate) use apply::Build;

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;
use warren_kernel::netns;
use warren_kernel::tc::{Parent, QdiscKind, QdiscSpec};
use warren_kernel::{Handle, NetNs};
use warren_store::Store;

use crate::error::{Error, Result};
use crate::model::{End, Lab, NodeKind};
use crate::plan::{self, Plan, iface_of, link_key};
use crate::state::{self, lab_state};

/// How to run an `up`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The file the lab came from (remembered for `status`).
    pub file: Option<String>,
    /// Draw a progress bar on stderr (when it is a terminal and the work is long).
    pub progress: bool,
}

/// What an `up` did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The plan it applied (everything, for a first build).
    pub plan: Plan,
    /// Wall time of the kernel work, in seconds.
    pub seconds: f64,
}

/// Test hook and timing point (see [`warren_kernel::failpoint`]): with
/// `WARREN_FAILPOINT=NAME` the process kills itself (SIGKILL) at point `NAME`, as a crash
/// would. Points: `lab-after-netns` (namespaces made and recorded), `lab-after-links` (links
/// made, before addresses and routes), `lab-after-host` (host interfaces made). With
/// `WARREN_TIMING` set, each point (and each phase) prints its time to stderr.
pub use warren_kernel::failpoint::hit as failpoint;
pub(crate) use warren_kernel::failpoint::timing;

/// The plan `up` would apply to `lab` now: against the lab as built, or everything.
pub fn plan(store: &mut Store, lab: &Lab) -> Result<Plan> {
    let row = state::row(store, &lab.name)?;
    Ok(match row.and_then(|r| r.built) {
        Some(b) => plan::diff(&state::decode(&lab.name, &b)?, lab),
        None => Plan::build(lab),
    })
}

/// Build `lab`, or, when it is built already, apply only the difference ([`plan()`]). A first
/// build that fails is undone completely; a failed re-apply leaves the lab `failed` (remove it
/// with `down`). Refused while an earlier `up` of the lab was interrupted.
pub fn up(store: &mut Store, lab: &Lab, opts: &Options) -> Result<Outcome> {
    let prepared = prepare(store, lab)?;
    apply(store, lab, prepared, opts)
}

/// What an `up` of a lab would start from: the lab as built (if it is) and the plan against
/// it. Made once by [`prepare`], used by [`apply`] (the caller may look at the plan in between,
/// e.g. to stop the processes of the nodes it changes).
#[derive(Debug)]
pub struct Prepared {
    /// The lab as built, `None` for a first build.
    pub old: Option<Lab>,
    /// What [`apply`] will do.
    pub plan: Plan,
}

/// Check `lab`, read the lab as built and diff it: the first half of [`up`]. Refused while an
/// earlier `up` of the lab was interrupted or failed.
pub fn prepare(store: &mut Store, lab: &Lab) -> Result<Prepared> {
    check(lab)?;
    let row = state::row(store, &lab.name)?;
    let old = match &row {
        Some(r) if r.state != lab_state::UP => {
            return Err(Error::Refused {
                lab: lab.name.clone(),
                message: format!(
                    "an earlier up is {} (process {}); run `warren lab down {}` first",
                    if r.state == lab_state::BUILDING {
                        "interrupted or still running"
                    } else {
                        "failed"
                    },
                    r.pid,
                    lab.name
                ),
            });
        }
        Some(r) => match &r.built {
            Some(b) => Some(state::decode(&lab.name, b)?),
            None => None,
        },
        None => None,
    };
    let plan = match &old {
        Some(o) => plan::diff(o, lab),
        None => Plan::build(lab),
    };
    Ok(Prepared { old, plan })
}

/// Apply what [`prepare`] found: the second half of [`up`].
pub fn apply(store: &mut Store, lab: &Lab, prepared: Prepared, opts: &Options) -> Result<Outcome> {
    let Prepared { old, plan } = prepared;
    let start = Instant::now();
    if plan.is_empty() {
        return Ok(Outcome { plan, seconds: 0.0 });
    }
    probe_netem(lab, &plan)?;
    state::put_row(
        store,
        lab,
        opts.file.as_deref(),
        old.as_ref(),
        lab_state::BUILDING,
    )?;
    let result =
        Build::new(store, lab, old.as_ref(), opts.progress).and_then(|mut b| b.apply(&plan));
    match result {
        Ok(()) => {
            state::put_row(store, lab, opts.file.as_deref(), Some(lab), lab_state::UP)?;
            Ok(Outcome {
                plan,
                seconds: start.elapsed().as_secs_f64(),
            })
        }
        Err(e) if old.is_none() => {
            // A first build leaves nothing behind.
            match crate::teardown::down(store, &lab.name) {
                Ok(_) => Err(e),
                Err(t) => Err(Error::Teardown {
                    lab: lab.name.clone(),
                    errors: vec![e, t],
                }),
            }
        }
        Err(e) => {
            state::put_row(
                store,
                lab,
                opts.file.as_deref(),
                old.as_ref(),
                lab_state::FAILED,
            )?;
            Err(e)
        }
    }
}

/// Refuse a model whose indexes or names point nowhere, before anything is touched.
fn check(lab: &Lab) -> Result<()> {
    let err = |o: String, m: &str| Error::model(&lab.name, o, m);
    let mut names = BTreeSet::new();
    for n in &lab.nodes {
        if !names.insert(n.name.as_str()) {
            return Err(err(format!("node {}", n.name), "defined twice"));
        }
        netns::validate_name(&n.netns)
            .map_err(|e| err(format!("node {}", n.name), &e.to_string()))?;
        for i in &n.interfaces {
            if i.link >= lab.links.len() {
                return Err(err(
                    format!("interface {}:{}", n.name, i.name),
                    "no such link",
                ));
            }
        }
        if n.kind == NodeKind::Switch && n.switch.is_none() {
            return Err(err(format!("node {}", n.name), "a switch without bridges"));
        }
    }
    for (li, l) in lab.links.iter().enumerate() {
        for e in &l.ends {
            match e {
                End::Node { node, interface } => {
                    let ok = lab
                        .node(node)
                        .and_then(|n| iface_of(n, li))
                        .is_some_and(|i| &i.name == interface);
                    if !ok {
                        return Err(err(
                            format!("link {node}:{interface}"),
                            "no such interface on the node",
                        ));
                    }
                }
                End::Switch { node, port } => {
                    let ok = lab
                        .node(node)
                        .and_then(|n| n.switch.as_ref())
                        .and_then(|s| s.ports.get(*port))
                        .is_some_and(|p| p.link == li);
                    if !ok {
                        return Err(err(format!("link {node}#{port}"), "no such switch port"));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The links of the plan that want netem (delay or loss).
fn netem_links(lab: &Lab, plan: &Plan) -> Vec<String> {
    let wanted: BTreeSet<String> = plan
        .add_links
        .iter()
        .map(plan::key_text)
        .chain(plan.change_links.iter().map(|c| c.name.clone()))
        .collect();
    lab.links
        .iter()
        .filter(|l| {
            l.shaping
                .as_ref()
                .is_some_and(|s| s.delay_us.is_some() || s.loss_percent.is_some())
        })
        .map(|l| plan::key_text(&link_key(lab, l)))
        .filter(|k| wanted.contains(k))
        .collect()
}

/// Ask the kernel for a netem qdisc on `lo` of a throwaway namespace before touching
/// anything: a kernel without netem refuses here, and the lab is left unbuilt.
fn probe_netem(lab: &Lab, plan: &Plan) -> Result<()> {
    let links = netem_links(lab, plan);
    let Some(first) = links.first() else {
        return Ok(());
    };
    let probe = || -> warren_kernel::Result<()> {
        let h = Handle::new(NetNs::new_anonymous("netem probe")?)?;
        h.qdisc_add(&QdiscSpec::new(
            1,
            Parent::Root,
            QdiscKind::Netem {
                delay_us: 1000,
                jitter_us: 0,
                loss_percent: 0.0,
                rate: None,
            },
        ))
    };
    match probe() {
        Ok(()) => Ok(()),
        Err(e) if e.is_kernel_lacks() => Err(Error::NoNetem {
            lab: lab.name.clone(),
            link: first.clone(),
            source: Box::new(e),
        }),
        Err(e) => Err(Error::kernel(&lab.name, "probe for netem")(e)),
    }
}
