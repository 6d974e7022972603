//! A lab's whole life as `warren lab up` and `down` run it: the kernel part ([`build`],
//! [`teardown`]) and what lives in the nodes ([`runtime`]: their `/etc` files, one-shot
//! commands and supervised daemons), in the right order.
//!
//! - `up`: processes of nodes about to be removed, re-created or changed are stopped first;
//!   then the kernel is brought in line with the file; then the files of new and changed
//!   nodes are written and their commands and daemons started (in `after` order, readiness
//!   awaited).
//! - `down`: every process of the lab is stopped and its files removed before the
//!   namespaces go.

use warren_store::Store;

use crate::build::{self, Options, Outcome};
use crate::error::{Error, Result};
use crate::model::Lab;
use crate::plan::Plan;
use crate::runtime::{self, Dirs, RuntimeError};
use crate::teardown::{self, DownReport};

fn runtime_err(lab: &str) -> impl Fn(RuntimeError) -> Error + '_ {
    move |e| Error::Runtime {
        lab: lab.to_owned(),
        source: Box::new(e),
    }
}

/// Nodes whose processes must stop before the kernel changes: removed, re-created, changed.
fn to_stop(plan: &Plan) -> Vec<&str> {
    let mut v: Vec<&str> = plan.remove_nodes.iter().map(String::as_str).collect();
    v.extend(plan.recreate_nodes.iter().map(|(n, _)| n.as_str()));
    v.extend(plan.change_nodes.iter().map(|c| c.name.as_str()));
    v
}

/// Nodes whose files and processes start after the kernel work: every node of a first
/// build, else the added, re-created and changed ones.
fn to_start<'a>(lab: &'a Lab, plan: &'a Plan, first: bool) -> Vec<&'a str> {
    if first {
        return lab.nodes.iter().map(|n| n.name.as_str()).collect();
    }
    let mut v: Vec<&str> = plan.add_nodes.iter().map(String::as_str).collect();
    v.extend(plan.recreate_nodes.iter().map(|(n, _)| n.as_str()));
    v.extend(plan.change_nodes.iter().map(|c| c.name.as_str()));
    v
}

/// Build `lab` (or apply what changed) and start what runs in its nodes.
pub fn up(store: &mut Store, lab: &Lab, opts: &Options) -> Result<Outcome> {
    // The lab as built is read and diffed once; the plan says which nodes' processes to stop.
    let prepared = build::prepare(store, lab)?;
    let first = prepared.old.is_none();
    if prepared.plan.is_empty() {
        return build::apply(store, lab, prepared, opts);
    }
    let dirs = Dirs::discover();
    let stopping = to_stop(&prepared.plan);
    if !first && !stopping.is_empty() {
        runtime::stop_nodes(&lab.name, &stopping, &dirs)
            .map_err(|mut errs| runtime_err(&lab.name)(errs.remove(0)))?;
    }
    let out = build::apply(store, lab, prepared, opts)?;
    let plan = &out.plan;
    let starting = to_start(lab, plan, first);
    crate::build::timing("lab-built");
    let with_hosts = starting
        .iter()
        .filter_map(|n| lab.node(n))
        .any(|n| n.files.iter().any(|f| f.lab_hosts));
    let hosts = if with_hosts {
        Some(runtime::write_lab_hosts(lab, &dirs).map_err(runtime_err(&lab.name))?)
    } else {
        None
    };
    for name in &starting {
        if let Some(node) = lab.node(name) {
            runtime::prepare_files_with(lab, node, &dirs, hosts.as_deref())
                .map_err(runtime_err(&lab.name))?;
        }
    }
    crate::build::timing("lab-files");
    runtime::start(lab, &starting, &dirs).map_err(runtime_err(&lab.name))?;
    crate::build::timing("lab-started");
    Ok(out)
}

/// Stop what runs in lab `name`, remove its files, then remove everything its builds made.
/// Goes on past errors and reports them all.
pub fn down(store: &mut Store, name: &str) -> Result<DownReport> {
    crate::build::timing("lab-down-start");
    let dirs = Dirs::discover();
    let mut errors: Vec<Error> = Vec::new();
    if let Err(errs) = runtime::stop(name, &dirs) {
        errors.extend(errs.into_iter().map(runtime_err(name)));
    }
    crate::build::timing("lab-down-stopped");
    if let Err(e) = runtime::remove_files(name, &dirs) {
        errors.push(runtime_err(name)(e));
    }
    crate::build::timing("lab-down-files");
    let report = teardown::down(store, name)?;
    if errors.is_empty() {
        Ok(report)
    } else {
        Err(Error::Teardown {
            lab: name.to_owned(),
            errors,
        })
    }
}
