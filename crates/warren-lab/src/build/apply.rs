//! The build itself: one pass over a plan, namespace by namespace (see the parent module).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use warren_kernel::addr::{AddrSpec, IpNet};
use warren_kernel::link::set::{LinkChange, altname_request, change_request};
use warren_kernel::link::up_request;
use warren_kernel::netns::Source;
use warren_kernel::tc::{self, Parent, QdiscKind, QdiscSpec};
use warren_kernel::{Handle, NetNs, Request};
use warren_store::Store;

use super::{failpoint, timing, wire};
use crate::error::{Error, Result};
use crate::model::{End, Lab, Link, Node, NodeKind, Route, Shaping};
use crate::plan::{self, Plan, iface_of, link_key};
use crate::progress::Progress;
use crate::state::{self, NetnsRecord};

/// One namespace being worked on: its handle, the interface indexes known in it and the next
/// index to hand out.
pub(super) struct Ns {
    pub(super) handle: Handle,
    pub(super) index: HashMap<String, u32>,
    pub(super) next: u32,
    /// Requests to send after every link is created, in order.
    pub(super) post: Vec<Request>,
    /// Routes to delete, sent first (one already gone with its address is no error).
    route_dels: Vec<Request>,
    /// Requests to send after `post` (routes: they need the addresses).
    routes: Vec<Request>,
}

impl Ns {
    fn new(handle: Handle, links: &[warren_kernel::link::Link]) -> Ns {
        let index: HashMap<String, u32> = links.iter().map(|l| (l.name.clone(), l.index)).collect();
        let next = links.iter().map(|l| l.index).max().unwrap_or(1) + 1;
        Ns {
            handle,
            index,
            next,
            post: Vec::new(),
            route_dels: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// A fresh index for a new interface `name`.
    pub(super) fn alloc(&mut self, name: &str) -> u32 {
        let i = self.next;
        self.next += 1;
        self.index.insert(name.to_owned(), i);
        i
    }
}

/// A host end moved into the host namespace: what it still needs there.
pub(super) struct HostEnd {
    pub(super) ifname: String,
    pub(super) marker: String,
    /// The host bridge to join.
    pub(super) bridge: Option<String>,
    /// The address to give it.
    pub(super) address: Option<IpNet>,
}

/// A build in progress.
pub(crate) struct Build<'a> {
    pub(super) store: &'a mut Store,
    pub(super) lab: &'a Lab,
    pub(super) old: Option<&'a Lab>,
    pub(super) host: Handle,
    pub(super) ns: HashMap<String, Ns>,
    pub(super) host_post: Vec<Request>,
    /// Host interfaces made by this build, to look up after their move into the host.
    pub(super) host_moved: Vec<HostEnd>,
    /// Host interfaces looked up (macvlan parents).
    pub(super) parents: wire::Parents,
    /// Namespaces whose fd numbers are in queued requests.
    pub(super) keep: Vec<NetNs>,
    pub(super) progress: Progress,
}

impl<'a> Build<'a> {
    pub(super) fn new(
        store: &'a mut Store,
        lab: &'a Lab,
        old: Option<&'a Lab>,
        progress: bool,
    ) -> Result<Build<'a>> {
        let host =
            Handle::current().map_err(Error::kernel(&lab.name, "open the host namespace"))?;
        let units = lab.nodes.len() + lab.links.len();
        Ok(Build {
            store,
            lab,
            old,
            host,
            ns: HashMap::new(),
            host_post: Vec::new(),
            host_moved: Vec::new(),
            parents: wire::Parents::new(),
            keep: Vec::new(),
            progress: Progress::new(units, progress),
        })
    }

    fn name(&self) -> &str {
        &self.lab.name
    }

    fn node(&self, name: &str) -> Result<&'a Node> {
        self.lab
            .node(name)
            .ok_or_else(|| Error::model(&self.lab.name, format!("node {name}"), "no such node"))
    }

    pub(super) fn apply(&mut self, plan: &Plan) -> Result<()> {
        timing("lab-apply");
        if let Some(old) = self.old {
            self.remove(old, plan)?;
        }
        let fresh: Vec<&'a Node> = plan
            .add_nodes
            .iter()
            .chain(plan.recreate_nodes.iter().map(|(n, _)| n))
            .map(|n| self.node(n))
            .collect::<Result<_>>()?;
        self.namespaces(&fresh)?;
        failpoint("lab-after-netns");
        self.progress.advance(fresh.len(), "namespaces");
        self.open_touched(plan)?;
        timing("lab-opened");
        for n in &fresh {
            self.switch_bridges(n)?;
        }
        let wanted: BTreeSet<&plan::LinkKey> = plan.add_links.iter().collect();
        let added: Vec<usize> = self
            .lab
            .links
            .iter()
            .enumerate()
            .filter(|(_, l)| wanted.contains(&link_key(self.lab, l)))
            .map(|(i, _)| i)
            .collect();
        timing("lab-bridges");
        self.links(&added)?;
        failpoint("lab-after-links");
        self.progress.advance(added.len(), "links");
        for n in &fresh {
            self.node_settings(n)?;
        }
        if let Some(old) = self.old {
            for c in &plan.change_nodes {
                let (Some(o), n) = (old.node(&c.name), self.node(&c.name)?) else {
                    continue;
                };
                self.node_changes(o, n)?;
            }
        }
        timing("lab-node-changes");
        self.send_posts()?;
        timing("lab-posts");
        self.switches_up(&fresh)?;
        timing("lab-switches-up");
        self.host_side()?;
        failpoint("lab-after-host");
        self.shaping(plan, &added)?;
        timing("lab-shaping");
        self.sysctls(plan, &fresh)?;
        timing("lab-sysctls");
        crate::nat::apply(self, &fresh, &added)?;
        self.progress.finish();
        Ok(())
    }

    /// Remove what the plan removes: links first (their interfaces in surviving nodes, their
    /// host ends), then namespaces of removed and re-created nodes.
    fn remove(&mut self, old: &Lab, plan: &Plan) -> Result<()> {
        let gone: BTreeSet<&str> = plan
            .remove_nodes
            .iter()
            .chain(plan.recreate_nodes.iter().map(|(n, _)| n))
            .map(String::as_str)
            .collect();
        let mut by_ns: HashMap<String, Vec<Request>> = HashMap::new();
        for (li, l) in old.links.iter().enumerate() {
            if !plan.remove_links.contains(&link_key(old, l)) {
                continue;
            }
            for e in &l.ends {
                let (node, ifname) = match e {
                    End::Node { node, .. } => {
                        let i = old.node(node).and_then(|n| iface_of(n, li));
                        (node, i.map(|i| i.ifname.clone()))
                    }
                    End::Switch { node, port } => {
                        let p = old
                            .node(node)
                            .and_then(|n| n.switch.as_ref())
                            .and_then(|s| s.ports.get(*port));
                        (node, p.map(|p| p.ifname.clone()))
                    }
                    _ => continue,
                };
                if gone.contains(node.as_str()) {
                    continue;
                }
                if let (Some(n), Some(ifname)) = (old.node(node), ifname) {
                    let req = warren_kernel::link::set::del_request(&ifname).map_err(
                        Error::kernel(self.name(), format!("delete {node}:{ifname}")),
                    )?;
                    by_ns.entry(n.netns.clone()).or_default().push(req);
                }
            }
        }
        for (netns, reqs) in by_ns {
            let h = open(self.name(), &netns)?;
            // A veth's far end goes with its near end: "no such device" there is no error.
            for r in h.execute(reqs) {
                match r {
                    Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => {}
                    other => other.map_err(Error::kernel(
                        self.name(),
                        format!("delete a link in {netns}"),
                    ))?,
                }
            }
        }
        crate::teardown::remove_links_host_side(self.store, &self.host, old, plan)?;
        let nodes: Vec<&Node> = old
            .nodes
            .iter()
            .filter(|n| gone.contains(n.name.as_str()))
            .collect();
        crate::teardown::delete_namespaces(self.store, &old.name, &nodes)?;
        // What their sysctls were before went with the namespaces.
        if !nodes.is_empty() {
            let names: Vec<String> = self
                .store
                .read(|tx| warren_store::lab_objects(tx, &old.name, Some(state::SYSCTL)))
                .map_err(Error::store(&old.name))?
                .into_iter()
                .filter(|o| {
                    o.name
                        .split_once(' ')
                        .is_some_and(|(node, _)| gone.contains(node))
                })
                .map(|o| o.name)
                .collect();
            state::forget(self.store, &old.name, state::SYSCTL, &names)?;
        }
        Ok(())
    }

    /// Make the namespaces of `nodes`: recorded first, made by a few threads (`lo` up, the lab's
    /// marker altname on `lo`, a socket opened inside each), inodes recorded after.
    fn namespaces(&mut self, nodes: &[&'a Node]) -> Result<()> {
        if nodes.is_empty() {
            return Ok(());
        }
        let lab = self.lab.name.clone();
        let pending: Vec<_> = nodes
            .iter()
            .map(|n| {
                state::object(
                    state::NETNS,
                    &n.netns,
                    &NetnsRecord {
                        node: n.name.clone(),
                        inode: None,
                    },
                )
            })
            .collect();
        state::record(self.store, &lab, &pending)?;
        let names: Vec<&str> = nodes.iter().map(|n| n.netns.as_str()).collect();
        let markers: HashMap<&str, String> = nodes
            .iter()
            .map(|n| (n.netns.as_str(), state::netns_marker(&lab, &n.name)))
            .collect();
        let made = state::netns_group(&lab).add_many(&names, Source::New, |ns| {
            let h = Handle::here(ns)?;
            let mut reqs = vec![up_request(1, true, "lo")];
            if let Some(m) = markers.get(ns.label()) {
                reqs.push(altname_request(1, "lo", m, true)?);
            }
            h.execute_all(reqs)?;
            let links = h.links()?;
            Ok((h, links))
        });
        let mut done = Vec::new();
        let mut failed = None;
        let mut never = Vec::new();
        for (n, r) in nodes.iter().zip(made) {
            match r {
                Ok((ns, (h, links))) => {
                    let id = ns.id();
                    done.push(state::object(
                        state::NETNS,
                        &n.netns,
                        &NetnsRecord {
                            node: n.name.clone(),
                            inode: Some((id.ino, id.dev)),
                        },
                    ));
                    self.ns.insert(n.name.clone(), Ns::new(h, &links));
                }
                Err(e) => {
                    // Not made (EEXIST: someone else's): not ours to remember.
                    never.push(n.netns.clone());
                    if failed.is_none() {
                        failed =
                            Some(Error::kernel(&lab, format!("create namespace {}", n.netns))(e));
                    }
                }
            }
        }
        state::record(self.store, &lab, &done)?;
        state::forget(self.store, &lab, state::NETNS, &never)?;
        failed.map_or(Ok(()), Err)
    }

    /// Open handles on the existing namespaces the plan changes.
    fn open_touched(&mut self, plan: &Plan) -> Result<()> {
        let mut names: BTreeSet<String> =
            plan.change_nodes.iter().map(|c| c.name.clone()).collect();
        for l in &self.lab.links {
            let k = link_key(self.lab, l);
            let changed = plan
                .change_links
                .iter()
                .any(|c| c.name == plan::key_text(&k));
            if plan.add_links.contains(&k) || changed {
                names.extend(plan::link_nodes(l).into_iter().map(str::to_owned));
            }
        }
        for name in names {
            self.open_node(&name)?;
        }
        Ok(())
    }

    pub(super) fn ns_mut(&mut self, node: &str) -> Result<&mut Ns> {
        let lab = self.lab.name.clone();
        self.ns
            .get_mut(node)
            .ok_or_else(|| Error::model(&lab, format!("node {node}"), "namespace not open"))
    }

    /// A new switch's bridges, up, chained by veth pairs (`brN-up` in bridge N, `brN+1-dn` in
    /// the next).
    fn switch_bridges(&mut self, n: &Node) -> Result<()> {
        let Some(sw) = &n.switch else {
            return Ok(());
        };
        let lab = self.lab.name.clone();
        let ns = self.ns_mut(&n.name)?;
        let bridges: Vec<warren_kernel::link::bridge::Bridge> = sw
            .bridges
            .iter()
            // Down until every node is wired ([`Self::switches_up`]): a disabled port floods
            // nothing, so nodes coming up meanwhile don't flood their IPv6 autoconfiguration
            // to every other port, and the ports' state is settled once.
            .map(warren_kernel::link::bridge::Bridge::new)
            .collect();
        let specs: Vec<&dyn warren_kernel::link::LinkSpec> = bridges
            .iter()
            .map(|b| b as &dyn warren_kernel::link::LinkSpec)
            .collect();
        for (b, r) in sw.bridges.iter().zip(ns.handle.link_add_all(&specs)) {
            r.map_err(Error::kernel(
                &lab,
                format!("create bridge {b} in {}", n.netns),
            ))?;
        }
        let mut idx = Vec::new();
        for b in &sw.bridges {
            let i = ns.handle.link_index(b).map_err(Error::kernel(
                &lab,
                format!("find bridge {b} in {}", n.netns),
            ))?;
            ns.index.insert(b.clone(), i);
            ns.next = ns.next.max(i + 1);
            idx.push(i);
        }
        let mut reqs = Vec::new();
        let mut post = Vec::new();
        for w in 0..sw.bridges.len().saturating_sub(1) {
            let (up, dn) = (
                format!("{}-up", sw.bridges[w]),
                format!("{}-dn", sw.bridges[w + 1]),
            );
            let (iu, id) = (ns.alloc(&up), ns.alloc(&dn));
            let v = warren_kernel::link::veth::Veth::new(&up, &dn)
                .index(iu)
                .peer_index(id)
                .master(idx[w])
                .up();
            reqs.push(
                warren_kernel::link::LinkSpec::request(&v)
                    .map_err(Error::kernel(&lab, format!("chain {up} in {}", n.netns)))?,
            );
            post.push(warren_kernel::link::set::master_request(
                id,
                &dn,
                Some(idx[w + 1]),
            ));
            post.push(up_request(id, true, &dn));
        }
        reqs.extend(post);
        ns.handle.execute_all(reqs).map_err(Error::kernel(
            &lab,
            format!("chain the bridges of switch {}", n.name),
        ))
    }

    /// Addresses on `lo` and routes of a new node (its interfaces' settings go with their
    /// links).
    fn node_settings(&mut self, n: &Node) -> Result<()> {
        let lab = self.lab.name.clone();
        let routes = self.route_requests(n, &n.routes, true)?;
        let ns = self.ns_mut(&n.name)?;
        for a in &n.loopback {
            ns.post.push(AddrSpec::new(1, *a).nodad().request_add());
        }
        ns.routes.extend(routes);
        let _ = lab;
        Ok(())
    }

    fn route_requests(&self, n: &Node, routes: &[Route], add: bool) -> Result<Vec<Request>> {
        let ns = self.ns.get(&n.name).ok_or_else(|| {
            Error::model(
                self.name(),
                format!("node {}", n.name),
                "namespace not open",
            )
        })?;
        routes
            .iter()
            .map(|r| {
                let spec = n.route_spec(r, |ifname| {
                    ns.index.get(ifname).copied().ok_or_else(|| {
                        Error::model(
                            self.name(),
                            format!("route {} on {}", r.to, n.name),
                            format!("no interface {}", r.dev.as_deref().unwrap_or(ifname)),
                        )
                    })
                })?;
                Ok(if add {
                    spec.request_add()
                } else {
                    spec.request_del()
                })
            })
            .collect()
    }

    /// In-place changes of a kept node: addresses, loopback, MTU, MAC, routes (sysctls are
    /// written with the others).
    fn node_changes(&mut self, o: &Node, n: &Node) -> Result<()> {
        let lab = self.lab.name.clone();
        let old_routes: Vec<Route> = o
            .routes
            .iter()
            .filter(|r| !n.routes.contains(r))
            .cloned()
            .collect();
        let new_routes: Vec<Route> = n
            .routes
            .iter()
            .filter(|r| !o.routes.contains(r))
            .cloned()
            .collect();
        let dels = self
            .route_requests(o, &old_routes, false)
            .unwrap_or_default();
        let adds = self.route_requests(n, &new_routes, true)?;
        let ns = self.ns_mut(&n.name)?;
        let diff = |a: &[IpNet], b: &[IpNet]| -> Vec<IpNet> {
            a.iter().filter(|x| !b.contains(x)).copied().collect()
        };
        for x in diff(&o.loopback, &n.loopback) {
            ns.post.push(AddrSpec::new(1, x).request_del());
        }
        for x in diff(&n.loopback, &o.loopback) {
            ns.post.push(AddrSpec::new(1, x).nodad().request_add());
        }
        for ni in &n.interfaces {
            let Some(oi) = o
                .interfaces
                .iter()
                .find(|i| i.name == ni.name && i.ifname == ni.ifname)
            else {
                continue;
            };
            let Some(&idx) = ns.index.get(&ni.ifname) else {
                continue;
            };
            for x in diff(&oi.addresses, &ni.addresses) {
                ns.post.push(AddrSpec::new(idx, x).request_del());
            }
            for x in diff(&ni.addresses, &oi.addresses) {
                ns.post.push(AddrSpec::new(idx, x).nodad().request_add());
            }
            let mut ch = LinkChange::default();
            if ni.mtu != oi.mtu {
                ch.mtu = ni.mtu;
            }
            if ni.mac != oi.mac
                && let Some(m) = &ni.mac
            {
                ch.mac = Some(warren_kernel::link::parse_mac(m).map_err(Error::kernel(
                    &lab,
                    format!("MAC of {}:{}", n.name, ni.name),
                ))?);
            }
            if ch.mtu.is_some() || ch.mac.is_some() {
                ns.post
                    .push(change_request(idx, &ni.ifname, &ch).map_err(Error::kernel(
                        &lab,
                        format!("change {}:{}", n.name, ni.name),
                    ))?);
            }
        }
        ns.route_dels.extend(dels);
        ns.routes.extend(adds);
        Ok(())
    }

    /// Send every namespace's route deletions, its follow-up batch, then its routes.
    /// The bridges of new switches up, once everything around them is wired.
    fn switches_up(&mut self, fresh: &[&'a Node]) -> Result<()> {
        let lab = self.lab.name.clone();
        for n in fresh {
            let Some(sw) = &n.switch else { continue };
            let ns = self.ns_mut(&n.name)?;
            let reqs: Vec<Request> = sw
                .bridges
                .iter()
                .filter_map(|b| ns.index.get(b).map(|&i| up_request(i, true, b)))
                .collect();
            ns.handle
                .execute_all(reqs)
                .map_err(Error::kernel(&lab, format!("bring up switch {}", n.name)))?;
        }
        Ok(())
    }

    fn send_posts(&mut self) -> Result<()> {
        let lab = self.lab.name.clone();
        for (node, ns) in &mut self.ns {
            let dels = std::mem::take(&mut ns.route_dels);
            for r in ns.handle.execute(dels) {
                match r {
                    Err(e) if e.errno() == Some(nix::errno::Errno::ESRCH) => {}
                    other => other.map_err(Error::kernel(
                        &lab,
                        format!("delete a route of node {node}"),
                    ))?,
                }
            }
            let mut reqs = std::mem::take(&mut ns.post);
            reqs.append(&mut ns.routes);
            if reqs.is_empty() {
                continue;
            }
            ns.handle
                .execute_all(reqs)
                .map_err(Error::kernel(&lab, format!("set up node {node}")))?;
        }
        Ok(())
    }

    /// Host ends moved into the host: look them up by name, then their follow-ups (master,
    /// up, address) in one batch.
    fn host_side(&mut self) -> Result<()> {
        let lab = self.lab.name.clone();
        let mut reqs = std::mem::take(&mut self.host_post);
        for h in std::mem::take(&mut self.host_moved) {
            let idx = self.host.link_index(&h.ifname).map_err(Error::kernel(
                &lab,
                format!("find host interface {}", h.ifname),
            ))?;
            state::record(
                self.store,
                &lab,
                &[state::object(
                    state::HOSTLINK,
                    &h.ifname,
                    &state::HostLinkRecord {
                        altname: h.marker.clone(),
                        ifindex: Some(idx),
                    },
                )],
            )?;
            if let Some(br) = &h.bridge {
                let b = self
                    .host
                    .link_index(br)
                    .map_err(Error::kernel(&lab, format!("find host bridge {br}")))?;
                reqs.push(warren_kernel::link::set::master_request(
                    idx,
                    &h.ifname,
                    Some(b),
                ));
            }
            reqs.push(up_request(idx, true, &h.ifname));
            if let Some(a) = h.address {
                reqs.push(AddrSpec::new(idx, a).nodad().request_add());
            }
        }
        if reqs.is_empty() {
            return Ok(());
        }
        self.host
            .execute_all(reqs)
            .map_err(Error::kernel(&lab, "set up the host ends"))
    }

    /// Shaping of added links and of links whose shaping changed, on every end inside a
    /// namespace (node interfaces and switch ports): tbf for a rate alone, netem for delay or
    /// loss (with the rate in it).
    fn shaping(&mut self, plan: &Plan, added: &[usize]) -> Result<()> {
        let lab = self.lab.name.clone();
        if plan.change_links.is_empty() && self.lab.links.iter().all(|l| l.shaping.is_none()) {
            return Ok(());
        }
        let added: BTreeSet<usize> = added.iter().copied().collect();
        for (li, l) in self.lab.links.iter().enumerate() {
            let key = plan::key_text(&link_key(self.lab, l));
            let changed = plan.change_links.iter().any(|c| {
                c.name == key
                    && c.changes
                        .iter()
                        .any(|p| p.what == "shaping" || p.what == "mtu")
            });
            if !(added.contains(&li) || changed) {
                continue;
            }
            for (node, ifname) in wire::ns_ends(self.lab, l, li) {
                let ns = self.ns_mut(&node)?;
                let Some(&idx) = ns.index.get(&ifname) else {
                    continue;
                };
                if changed && !added.contains(&li) && l.mtu.is_some() {
                    let ch = LinkChange {
                        mtu: l.mtu,
                        ..LinkChange::default()
                    };
                    let r = change_request(idx, &ifname, &ch)
                        .map_err(Error::kernel(&lab, format!("MTU of {node}:{ifname}")))?;
                    ns.handle
                        .ack(r)
                        .map_err(Error::kernel(&lab, format!("MTU of {node}:{ifname}")))?;
                }
                let req = match &l.shaping {
                    Some(s) => {
                        tc::qdisc_replace_request(&QdiscSpec::new(idx, Parent::Root, qdisc(s, l)))
                            .map_err(Error::kernel(&lab, format!("shaping of {node}:{ifname}")))?
                    }
                    None if changed => {
                        let r = tc::qdisc_del_request(idx, Parent::Root)
                            .map_err(Error::kernel(&lab, format!("shaping of {node}:{ifname}")))?;
                        // Nothing to delete is fine.
                        let _ = ns.handle.ack(r);
                        continue;
                    }
                    None => continue,
                };
                ns.handle.ack(req).map_err(|e| {
                    if e.is_kernel_lacks() {
                        Error::NoNetem {
                            lab: lab.clone(),
                            link: key.clone(),
                            source: Box::new(e),
                        }
                    } else {
                        Error::kernel(&lab, format!("shaping of {node}:{ifname}"))(e)
                    }
                })?;
            }
        }
        Ok(())
    }

    /// Sysctls of new nodes (forwarding on for routers and NAT nodes) and changed ones, each
    /// node's from one thread inside it. A key the file sets is read first and its value
    /// recorded ([`state::SYSCTL`]); a key a re-apply drops gets that value back (a router's
    /// or NAT node's `ip_forward`, its kind's 1), as a fresh build of the new file would have.
    fn sysctls(&mut self, plan: &Plan, fresh: &[&'a Node]) -> Result<()> {
        let lab = self.lab.name.clone();
        let forwards = |n: &Node| matches!(n.kind, NodeKind::Router | NodeKind::Nat);
        let mut work: Vec<SysctlWork<'_>> = Vec::new();
        for n in fresh {
            let mut pairs: Vec<(String, String)> = n
                .sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let record = n.sysctls.keys().cloned().collect();
            if forwards(n) && !n.sysctls.contains_key(FORWARD) {
                pairs.push((FORWARD.into(), "1".into()));
            }
            work.push((n, pairs, record));
        }
        let mut forget: Vec<String> = Vec::new();
        if let Some(old) = self.old {
            let saved: BTreeMap<String, String> = self
                .store
                .read(|tx| warren_store::lab_objects(tx, &lab, Some(state::SYSCTL)))
                .map_err(Error::store(&lab))?
                .iter()
                .map(|o| (o.name.clone(), state::data::<String>(o)))
                .collect();
            for c in &plan.change_nodes {
                let (Some(o), n) = (old.node(&c.name), self.node(&c.name)?) else {
                    continue;
                };
                let mut pairs: Vec<(String, String)> = n
                    .sysctls
                    .iter()
                    .filter(|(k, v)| o.sysctls.get(*k) != Some(v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let record = n
                    .sysctls
                    .keys()
                    .filter(|k| !o.sysctls.contains_key(*k))
                    .cloned()
                    .collect();
                for k in o.sysctls.keys().filter(|k| !n.sysctls.contains_key(*k)) {
                    let name = sysctl_object(&n.name, k);
                    let back = if k == FORWARD && forwards(n) {
                        Some("1".to_owned())
                    } else {
                        saved.get(&name).cloned()
                    };
                    // Without a record (a lab built by an older warren) the value stays.
                    if let Some(v) = back {
                        pairs.push((k.clone(), v));
                    }
                    forget.push(name);
                }
                work.push((n, pairs, record));
            }
        }
        for (n, pairs, record) in work {
            if pairs.is_empty() {
                continue;
            }
            let ns = self.ns_mut(&n.name)?;
            let what = || format!("sysctls of node {}", n.name);
            if !record.is_empty() {
                let keys: Vec<&str> = record.iter().map(String::as_str).collect();
                let before = warren_kernel::sysctl::get_many(ns.handle.ns(), &keys)
                    .map_err(Error::kernel(&lab, what()))?;
                let objects: Vec<_> = record
                    .iter()
                    .zip(&before)
                    .map(|(k, v)| state::object(state::SYSCTL, &sysctl_object(&n.name, k), v))
                    .collect();
                state::record(self.store, &lab, &objects)?;
            }
            let ns = self.ns_mut(&n.name)?;
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            warren_kernel::sysctl::set_many(ns.handle.ns(), &refs)
                .map_err(Error::kernel(&lab, what()))?;
        }
        state::forget(self.store, &lab, state::SYSCTL, &forget)
    }

    /// The lab.
    pub(crate) fn lab(&self) -> &'a Lab {
        self.lab
    }

    /// The store.
    pub(crate) fn store(&mut self) -> &mut Store {
        self.store
    }

    /// The host's handle.
    pub(crate) fn host(&self) -> &Handle {
        &self.host
    }

    /// A node's namespace, opened if it was not yet.
    pub(crate) fn open_node(&mut self, node: &str) -> Result<&NetNs> {
        if !self.ns.contains_key(node) {
            let n = self.node(node)?;
            let h = open(self.name(), &n.netns)?;
            let links = h.links().map_err(Error::kernel(
                self.name(),
                format!("list links in {}", n.netns),
            ))?;
            self.ns.insert(node.to_owned(), Ns::new(h, &links));
        }
        Ok(self.ns_mut(node)?.handle.ns())
    }

    /// The lab as built before this build, when this build applies a change.
    pub(crate) fn old_lab(&self) -> Option<&'a Lab> {
        self.old
    }
}

/// A node, the `key = value` sysctls to set in it, and the keys whose value to record first.
type SysctlWork<'n> = (&'n Node, Vec<(String, String)>, Vec<String>);

/// IPv4 forwarding, on in routers and NAT nodes unless their file says otherwise.
const FORWARD: &str = "net.ipv4.ip_forward";

/// The [`state::SYSCTL`] object of `key` in `node`.
pub(crate) fn sysctl_object(node: &str, key: &str) -> String {
    format!("{node} {key}")
}

/// The qdisc shaping `s` on a link of MTU `l.mtu`.
fn qdisc(s: &Shaping, l: &Link) -> QdiscKind {
    let rate = s.rate_bps.map(|b| (b / 8).max(1));
    if s.delay_us.is_some() || s.loss_percent.is_some() {
        return QdiscKind::Netem {
            delay_us: u32::try_from(s.delay_us.unwrap_or(0)).unwrap_or(u32::MAX),
            jitter_us: 0,
            loss_percent: s.loss_percent.unwrap_or(0.0),
            rate,
        };
    }
    let rate = rate.unwrap_or(u64::MAX / 16);
    let mtu = u64::from(l.mtu.unwrap_or(1500)) + 14;
    // A bucket of 10 ms of traffic, at least a few frames; 100 ms may queue.
    let burst = u32::try_from((rate / 100).max(4 * mtu)).unwrap_or(u32::MAX);
    let limit = u32::try_from((rate / 10).max(16 * mtu)).unwrap_or(u32::MAX);
    QdiscKind::Tbf { rate, burst, limit }
}

/// A handle on the named namespace `netns`.
fn open(lab: &str, netns: &str) -> Result<Handle> {
    NetNs::open_named(netns)
        .and_then(Handle::new)
        .map_err(Error::kernel(lab, format!("open namespace {netns}")))
}
