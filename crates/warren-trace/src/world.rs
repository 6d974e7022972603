//! The namespaces a trace can walk through: the host (the caller's namespace), every named
//! namespace under `/run/netns`, and the endpoints given. Each is opened once, with one
//! netlink handle; links and addresses are read on first need and kept.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::net::IpAddr;

use warren_kernel::addr::Address;
use warren_kernel::link::Link;
use warren_kernel::netns::{NetNs, NsId};
use warren_kernel::nft::Nft;
use warren_kernel::nft::dump::{Ruleset, TableInfo};
use warren_kernel::{Handle, sysctl};

use crate::error::{Result, kernel};

/// One namespace of the world.
#[derive(Debug)]
pub struct Ns {
    /// How it is named in output.
    pub label: String,
    /// The handle (namespace + socket).
    pub h: Handle,
    links: OnceCell<Vec<Link>>,
    addrs: OnceCell<Vec<Address>>,
    nft: OnceCell<Option<Nft>>,
    ruleset: OnceCell<Ruleset>,
    /// nsid (as seen from here) → index into the world, filled on first need.
    nsids: OnceCell<HashMap<i32, usize>>,
}

impl Ns {
    fn new(label: String, ns: NetNs) -> Result<Ns> {
        let h = Handle::new(ns).map_err(kernel(format!("open namespace {label}")))?;
        Ok(Ns {
            label,
            h,
            links: OnceCell::new(),
            addrs: OnceCell::new(),
            nft: OnceCell::new(),
            ruleset: OnceCell::new(),
            nsids: OnceCell::new(),
        })
    }

    /// Its links.
    pub fn links(&self) -> Result<&[Link]> {
        if let Some(l) = self.links.get() {
            return Ok(l);
        }
        let l = self
            .h
            .links()
            .map_err(kernel(format!("list links in {}", self.label)))?;
        Ok(self.links.get_or_init(|| l))
    }

    /// Its addresses.
    pub fn addrs(&self) -> Result<&[Address]> {
        if let Some(a) = self.addrs.get() {
            return Ok(a);
        }
        let a = self
            .h
            .addrs(None)
            .map_err(kernel(format!("list addresses in {}", self.label)))?;
        Ok(self.addrs.get_or_init(|| a))
    }

    /// The link with index `index`.
    pub fn link(&self, index: u32) -> Result<Option<&Link>> {
        Ok(self.links()?.iter().find(|l| l.index == index))
    }

    /// The name of link `index` (or `#index`).
    pub fn name(&self, index: u32) -> String {
        match self.link(index) {
            Ok(Some(l)) => l.name.clone(),
            _ => format!("#{index}"),
        }
    }

    /// The interface holding address `ip`, if any.
    pub fn owner_of(&self, ip: IpAddr) -> Result<Option<u32>> {
        Ok(self.addrs()?.iter().find(|a| a.addr == ip).map(|a| a.index))
    }

    /// nf_tables of this namespace (`None` when it cannot be opened).
    pub fn nft(&self) -> Option<&Nft> {
        self.nft.get_or_init(|| Nft::new(self.h.ns()).ok()).as_ref()
    }

    /// The nf_tables ruleset here, read once (empty when it cannot be read).
    pub fn ruleset(&self) -> &Ruleset {
        self.ruleset.get_or_init(|| {
            self.nft()
                .and_then(|n| n.ruleset().ok())
                .unwrap_or_default()
        })
    }

    /// The nf_tables tables here.
    pub fn tables(&self) -> &[TableInfo] {
        &self.ruleset().tables
    }

    /// Read sysctl files (paths relative to `/proc/sys/net/`) from inside the namespace;
    /// a missing file reads as `None`.
    pub fn sysctls(&self, rel: &[String]) -> Result<Vec<Option<String>>> {
        let paths: Vec<std::path::PathBuf> = rel
            .iter()
            .map(|r| std::path::Path::new("/proc/sys/net").join(r))
            .collect();
        self.h
            .ns()
            .run(|| Ok(paths.iter().map(|p| sysctl::read_here(p).ok()).collect()))
            .map_err(kernel(format!("read sysctls in {}", self.label)))
    }
}

/// Every namespace a trace may visit.
#[derive(Debug)]
pub struct World {
    /// The namespaces; index 0 is the host.
    pub list: Vec<Ns>,
}

impl World {
    /// The host (the calling thread's namespace, labelled `host`) and every named namespace.
    pub fn load() -> Result<World> {
        let host = NetNs::current().map_err(kernel("open the current namespace"))?;
        let mut w = World { list: Vec::new() };
        w.add("host".into(), host)?;
        let mut names: Vec<String> = std::fs::read_dir(warren_kernel::netns::RUN_DIR)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names {
            // Placeholders and stale entries are skipped: they are no namespaces.
            if let Ok(ns) = NetNs::open_named(&name) {
                w.add(name, ns)?;
            }
        }
        Ok(w)
    }

    /// Add a namespace (if it is not known yet); its index either way.
    pub fn add(&mut self, label: String, ns: NetNs) -> Result<usize> {
        if let Some(i) = self.find(ns.id()) {
            return Ok(i);
        }
        self.list.push(Ns::new(label, ns)?);
        Ok(self.list.len() - 1)
    }

    /// The index of the namespace with identity `id`.
    pub fn find(&self, id: NsId) -> Option<usize> {
        self.list.iter().position(|n| n.h.ns().id() == id)
    }

    /// The namespace that `nsid` names, as seen from namespace `from`.
    pub fn by_nsid(&self, from: usize, nsid: i32) -> Option<usize> {
        let map = self.list[from].nsids.get_or_init(|| {
            let mut m = HashMap::new();
            for (i, other) in self.list.iter().enumerate() {
                if let Ok(Some(id)) = self.list[from].h.nsid_of(other.h.ns()) {
                    m.insert(id, i);
                }
            }
            m
        });
        map.get(&nsid).copied()
    }

    /// Every (namespace, interface) holding address `ip`.
    pub fn owners_of(&self, ip: IpAddr) -> Vec<(usize, u32)> {
        self.list
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.owner_of(ip).ok().flatten().map(|x| (i, x)))
            .collect()
    }
}
