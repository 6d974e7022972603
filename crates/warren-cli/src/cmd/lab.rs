//! `warren lab`: labs from topology files (see `docs/lab.md`), built and changed by
//! `warren_lab`, remembered in warren's store: up, down, diff, validate, status, inspect here;
//! exec and runtime faults in `lab_run`, capture and graph in `lab_see`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use warren_lab::model::Lab;
use warren_lab::{LoadError, Loaded, build, lifecycle, plan, state};
use warren_store::Store;

use super::{lab_run, lab_see};
use crate::exit::chain;
use crate::{CliError, Global};

/// `warren lab`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Build the lab in FILE, or apply only what changed since it was built.
    Up {
        /// The topology file.
        file: PathBuf,
    },
    /// Remove everything a lab made (by name, or the lab in FILE).
    Down {
        /// A lab name or a topology file.
        lab: String,
    },
    /// Show what `up FILE` would change.
    Diff {
        /// The topology file.
        file: PathBuf,
    },
    /// Check a topology file: every error with file, line, column and field.
    Validate {
        /// The topology file.
        file: PathBuf,
    },
    /// Labs: nodes, state, and whether the file still matches what was built.
    #[command(visible_alias = "ls")]
    Status {
        /// Only this lab.
        name: Option<String>,
    },
    /// A lab in full: nodes, namespaces, interfaces, addresses, links.
    Inspect {
        /// The lab.
        name: String,
    },
    /// Run a command in a node (its namespace, /etc files, hostname, environment).
    Exec {
        /// The lab (default: the only one up).
        #[arg(long = "lab", value_name = "NAME")]
        lab: Option<String>,
        #[command(flatten)]
        args: lab_run::ExecArgs,
    },
    /// Runtime faults on a link: down, up, bandwidth.
    Link {
        /// The lab (default: the only one up).
        #[arg(long = "lab", value_name = "NAME")]
        lab: Option<String>,
        #[command(flatten)]
        args: lab_run::LinkArgs,
    },
    /// Cut traffic between two groups of nodes: `A,B / C,D`.
    Partition {
        /// The lab (default: the only one up).
        #[arg(long = "lab", value_name = "NAME")]
        lab: Option<String>,
        #[command(flatten)]
        args: lab_run::PartitionArgs,
    },
    /// Remove every partition.
    Heal {
        /// The lab (default: the only one up).
        #[arg(long = "lab", value_name = "NAME")]
        lab: Option<String>,
    },
    /// Capture packets on node interfaces into one pcapng (or pcap) stream.
    Capture(lab_see::CaptureArgs),
    /// Draw the lab: DOT, Mermaid, SVG or a self-contained HTML page.
    Graph(lab_see::GraphArgs),
}

/// `validate` reads a file only; every other subcommand works on labs (and, for a non-root
/// user, first joins the rootless keeper).
pub fn needs_labs(args: &Args) -> bool {
    !matches!(args.cmd, Cmd::Validate { .. })
}

/// Run `warren lab`.
pub fn run(args: Args, global: &Global) -> Result<ExitCode, CliError> {
    match args.cmd {
        Cmd::Up { file } => up(&file, global),
        Cmd::Down { lab } => down(&lab, global),
        Cmd::Diff { file } => diff(&file, global),
        Cmd::Validate { file } => validate(&file, global),
        Cmd::Status { name } => status(name.as_deref(), global),
        Cmd::Inspect { name } => inspect(&name, global),
        Cmd::Exec { lab, args } => lab_run::exec(&args, &built_lab(lab.as_deref())?),
        Cmd::Link { lab, args } => lab_run::link(&args, &built_lab(lab.as_deref())?),
        Cmd::Partition { lab, args } => lab_run::partition(&args, &built_lab(lab.as_deref())?),
        Cmd::Heal { lab } => lab_run::heal(&built_lab(lab.as_deref())?),
        Cmd::Capture(a) => {
            let lab = built_lab(a.lab.as_deref())?;
            lab_see::capture(a, &lab)
        }
        Cmd::Graph(a) => {
            let lab = built_lab(a.name.as_deref())?;
            lab_see::graph(a, &lab, global)
        }
    }
}

/// The lab as built: lab `name`, or the only lab built when no name is given.
fn built_lab(name: Option<&str>) -> Result<Lab, CliError> {
    let mut store = open_store()?;
    let rows = store
        .read(warren_store::labs)
        .map_err(|e| CliError::fail(chain(&e)))?;
    let mut built: Vec<_> = rows
        .into_iter()
        .filter(|r| name.is_none_or(|n| n == r.name))
        .filter_map(|r| r.built.map(|b| (r.name, b)))
        .collect();
    let (lab, json) = match (name, built.len()) {
        (_, 1) => built.remove(0),
        (Some(n), _) => return Err(CliError::fail(format!("lab {n:?} is not up"))),
        (None, 0) => return Err(CliError::fail("no lab is up")),
        (None, _) => {
            let names: Vec<_> = built.iter().map(|(n, _)| n.as_str()).collect();
            return Err(CliError::fail(format!(
                "several labs are up ({}): name one with --lab",
                names.join(", ")
            )));
        }
    };
    state::decode(&lab, &json).map_err(|e| lab_err(&e))
}

/// A lab error for the user: exit 2 when the kernel refused or lacks something.
fn lab_err(e: &warren_lab::Error) -> CliError {
    let kernel = match e {
        warren_lab::Error::Kernel { source, .. } | warren_lab::Error::NoNetem { source, .. } => {
            matches!(
                **source,
                warren_kernel::Error::Netlink { .. } | warren_kernel::Error::KernelLacks { .. }
            )
        }
        _ => false,
    };
    CliError::with_code(if kernel { 2 } else { 1 }, chain(e))
}

fn open_store() -> Result<Store, CliError> {
    let dir = warren_engine::Paths::discover().state;
    Store::open(&dir).map_err(|e| CliError::fail(chain(&e)))
}

/// Load FILE; warnings go to stderr; an invalid file fails with every diagnostic.
fn load(file: &Path) -> Result<Loaded, CliError> {
    match warren_lab::load_file(file) {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!("warning: {w}");
            }
            Ok(l)
        }
        Err(LoadError::Invalid(diags)) => {
            for d in &diags[..diags.len().saturating_sub(1)] {
                eprintln!("warren: {d}");
            }
            let last = diags.last().map(ToString::to_string).unwrap_or_default();
            Err(CliError::fail(last))
        }
        Err(e) => Err(CliError::fail(chain(&e))),
    }
}

fn print_json<T: Serialize>(v: &T) -> Result<ExitCode, CliError> {
    let s = serde_json::to_string_pretty(v).map_err(|e| CliError::fail(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    Ok(ExitCode::SUCCESS)
}

fn up(file: &Path, global: &Global) -> Result<ExitCode, CliError> {
    let loaded = load(file)?;
    let mut store = open_store()?;
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    let opts = build::Options {
        file: Some(abs.display().to_string()),
        progress: !global.json,
    };
    let out = lifecycle::up(&mut store, &loaded.lab, &opts).map_err(|e| lab_err(&e))?;
    if global.json {
        return print_json(&out);
    }
    let name = &loaded.lab.name;
    if out.plan.is_empty() {
        println!("lab {name}: up to date");
    } else {
        print!("{}", out.plan);
        println!("lab {name}: up in {:.2} s", out.seconds);
    }
    Ok(ExitCode::SUCCESS)
}

fn down(target: &str, global: &Global) -> Result<ExitCode, CliError> {
    let name = if Path::new(target).is_file() {
        load(Path::new(target))?.lab.name
    } else {
        target.to_owned()
    };
    let mut store = open_store()?;
    let rep = lifecycle::down(&mut store, &name).map_err(|e| lab_err(&e))?;
    for o in &rep.left_alone {
        eprintln!("warning: lab {name}: {o} exists but warren did not create it: left alone");
    }
    if global.json {
        return print_json(&rep);
    }
    println!(
        "lab {name}: down in {:.2} s ({} namespaces, {} host interfaces)",
        rep.seconds, rep.namespaces, rep.host_links
    );
    Ok(ExitCode::SUCCESS)
}

fn diff(file: &Path, global: &Global) -> Result<ExitCode, CliError> {
    let loaded = load(file)?;
    let mut store = open_store()?;
    let p = build::plan(&mut store, &loaded.lab).map_err(|e| lab_err(&e))?;
    if global.json {
        return print_json(&p);
    }
    if p.is_empty() {
        println!("lab {}: no changes", loaded.lab.name);
    } else {
        print!("{p}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Validation {
    file: String,
    valid: bool,
    errors: Vec<String>,
    warnings: Vec<String>,
    nodes: usize,
    links: usize,
}

fn validate(file: &Path, global: &Global) -> Result<ExitCode, CliError> {
    if !global.json {
        let l = load(file)?;
        println!(
            "{}: valid: lab {} ({} nodes, {} links)",
            file.display(),
            l.lab.name,
            l.lab.nodes.len(),
            l.lab.links.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut v = Validation {
        file: file.display().to_string(),
        valid: true,
        errors: Vec::new(),
        warnings: Vec::new(),
        nodes: 0,
        links: 0,
    };
    match warren_lab::load_file(file) {
        Ok(l) => {
            v.warnings = l.warnings.iter().map(ToString::to_string).collect();
            v.nodes = l.lab.nodes.len();
            v.links = l.lab.links.len();
        }
        Err(LoadError::Invalid(d)) => {
            v.valid = false;
            v.errors = d.iter().map(ToString::to_string).collect();
        }
        Err(e) => {
            v.valid = false;
            v.errors = vec![chain(&e)];
        }
    }
    print_json(&v)?;
    Ok(if v.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One lab in `status`.
#[derive(Serialize)]
struct Status {
    name: String,
    state: String,
    nodes: usize,
    links: usize,
    file: Option<String>,
    /// `in sync`, `file changed`, `file missing`, `file invalid`, or `-` (no file).
    file_state: String,
}

fn file_state(file: Option<&str>, built: Option<&Lab>) -> String {
    let Some(f) = file else {
        return "-".into();
    };
    if !Path::new(f).exists() {
        return "file missing".into();
    }
    match (warren_lab::load_file(Path::new(f)), built) {
        (Err(_), _) => "file invalid".into(),
        (Ok(l), Some(b)) if plan::diff(b, &l.lab).is_empty() => "in sync".into(),
        (Ok(_), Some(_)) => "file changed".into(),
        (Ok(_), None) => "not built".into(),
    }
}

fn status(name: Option<&str>, global: &Global) -> Result<ExitCode, CliError> {
    let mut store = open_store()?;
    let rows = store
        .read(warren_store::labs)
        .map_err(|e| CliError::fail(chain(&e)))?;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| name.is_none_or(|n| n == r.name))
        .collect();
    if let Some(n) = name
        && rows.is_empty()
    {
        return Err(CliError::fail(format!("no lab {n:?}")));
    }
    let mut out = Vec::new();
    for r in rows {
        let lab = state::decode(&r.name, &r.lab).map_err(|e| lab_err(&e))?;
        let built = r
            .built
            .as_deref()
            .and_then(|b| state::decode(&r.name, b).ok());
        out.push(Status {
            file_state: file_state(r.file.as_deref(), built.as_ref()),
            name: r.name,
            state: r.state,
            nodes: lab.nodes.len(),
            links: lab.links.len(),
            file: r.file,
        });
    }
    if global.json {
        return print_json(&out);
    }
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "{:<16} {:<9} {:>6} {:>6}  {:<13} FILE",
        "NAME", "STATE", "NODES", "LINKS", "FILE STATE"
    );
    for s in out {
        let _ = writeln!(
            o,
            "{:<16} {:<9} {:>6} {:>6}  {:<13} {}",
            s.name,
            s.state,
            s.nodes,
            s.links,
            s.file_state,
            s.file.as_deref().unwrap_or("-")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `inspect`'s view of one node.
#[derive(Serialize)]
struct NodeView {
    name: String,
    kind: String,
    netns: String,
    /// Whether the namespace is there now.
    present: bool,
    loopback: Vec<String>,
    interfaces: Vec<IfaceView>,
    routes: Vec<String>,
}

#[derive(Serialize)]
struct IfaceView {
    name: String,
    ifname: String,
    addresses: Vec<String>,
    mtu: Option<u32>,
    mac: Option<String>,
    link: String,
}

#[derive(Serialize)]
struct InspectView {
    name: String,
    state: String,
    file: Option<String>,
    nodes: Vec<NodeView>,
    links: Vec<String>,
}

fn inspect(name: &str, global: &Global) -> Result<ExitCode, CliError> {
    let mut store = open_store()?;
    let row = state::row(&mut store, name)
        .map_err(|e| lab_err(&e))?
        .ok_or_else(|| CliError::fail(format!("no lab {name:?}")))?;
    let lab = state::decode(name, &row.lab).map_err(|e| lab_err(&e))?;
    let links: Vec<String> = lab
        .links
        .iter()
        .map(|l| plan::key_text(&plan::link_key(&lab, l)))
        .collect();
    let nodes = lab
        .nodes
        .iter()
        .map(|n| NodeView {
            name: n.name.clone(),
            kind: format!("{:?}", n.kind).to_lowercase(),
            netns: n.netns.clone(),
            present: warren_kernel::netns::is_live_mount(&warren_kernel::netns::named_path(
                &n.netns,
            )),
            loopback: n.loopback.iter().map(ToString::to_string).collect(),
            interfaces: n
                .interfaces
                .iter()
                .map(|i| IfaceView {
                    name: i.name.clone(),
                    ifname: i.ifname.clone(),
                    addresses: i.addresses.iter().map(ToString::to_string).collect(),
                    mtu: i.mtu.or_else(|| lab.links.get(i.link).and_then(|l| l.mtu)),
                    mac: i.mac.clone(),
                    link: links.get(i.link).cloned().unwrap_or_default(),
                })
                .collect(),
            routes: n
                .routes
                .iter()
                .map(|r| {
                    let mut s = r.to.to_string();
                    if let Some(v) = r.via {
                        s.push_str(&format!(" via {v}"));
                    }
                    if let Some(d) = &r.dev {
                        s.push_str(&format!(" dev {d}"));
                    }
                    s
                })
                .collect(),
        })
        .collect();
    let view = InspectView {
        name: lab.name.clone(),
        state: row.state,
        file: row.file,
        nodes,
        links,
    };
    if global.json {
        return print_json(&view);
    }
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "lab {} ({}){}",
        view.name,
        view.state,
        view.file.map(|f| format!(" from {f}")).unwrap_or_default()
    );
    for n in &view.nodes {
        let _ = writeln!(
            o,
            "node {} ({}) netns {}{}",
            n.name,
            n.kind,
            n.netns,
            if n.present { "" } else { " (missing)" }
        );
        if !n.loopback.is_empty() {
            let _ = writeln!(o, "  lo {}", n.loopback.join(" "));
        }
        for i in &n.interfaces {
            let _ = writeln!(o, "  {} {} [{}]", i.ifname, i.addresses.join(" "), i.link);
        }
        for r in &n.routes {
            let _ = writeln!(o, "  route {r}");
        }
    }
    for l in &view.links {
        let _ = writeln!(o, "link {l}");
    }
    Ok(ExitCode::SUCCESS)
}
