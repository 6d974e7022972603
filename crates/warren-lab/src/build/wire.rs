//! Making a lab's links: veth pairs between namespaces (switch ports on their bridge), host
//! ends (made inside the node, marked, then moved into the host) and macvlans.

use std::collections::HashMap;

use warren_kernel::Request;
use warren_kernel::addr::AddrSpec;
use warren_kernel::link::LinkSpec;
use warren_kernel::link::macvlan::{MacVlan, MacVlanMode};
use warren_kernel::link::set::{LinkChange, altname_request, change_request, master_request};
use warren_kernel::link::veth::Veth;
use warren_kernel::link::{parse_mac, up_request};

use super::{Build, HostEnd};
use crate::error::{Error, Result};
use crate::model::{End, Interface, Lab, Link, Node, SwitchPort};
use crate::plan::iface_of;
use crate::state::{self, HostLinkRecord};

/// One end of a link, resolved against the lab.
enum Side<'a> {
    Iface(&'a Node, &'a Interface),
    Port(&'a Node, &'a SwitchPort, &'a str),
    HostBridge(&'a str, &'a str),
    Macvlan(&'a str, &'a str),
    Uplink(&'a str, warren_kernel::addr::IpNet),
}

impl Side<'_> {
    fn in_ns(&self) -> bool {
        matches!(self, Side::Iface(..) | Side::Port(..))
    }
}

fn side<'a>(lab: &'a Lab, e: &'a End, li: usize) -> Result<Side<'a>> {
    let bad = |o: String| Error::model(&lab.name, o, "no such end");
    Ok(match e {
        End::Node { node, interface } => {
            let n = lab.node(node).ok_or_else(|| bad(format!("node {node}")))?;
            let i = iface_of(n, li).ok_or_else(|| bad(format!("{node}:{interface}")))?;
            Side::Iface(n, i)
        }
        End::Switch { node, port } => {
            let n = lab.node(node).ok_or_else(|| bad(format!("node {node}")))?;
            let sw = n
                .switch
                .as_ref()
                .ok_or_else(|| bad(format!("switch {node}")))?;
            let p = sw
                .ports
                .get(*port)
                .ok_or_else(|| bad(format!("{node} port {port}")))?;
            let br = sw
                .bridges
                .get(p.bridge)
                .ok_or_else(|| bad(format!("{node} bridge {}", p.bridge)))?;
            Side::Port(n, p, br)
        }
        End::HostBridge { bridge, ifname } => Side::HostBridge(bridge, ifname),
        End::Macvlan { parent, mode } => Side::Macvlan(parent, mode),
        End::HostUplink { ifname, address } => Side::Uplink(ifname, *address),
    })
}

/// The ends of link `li` inside namespaces: (node, kernel interface name).
pub(crate) fn ns_ends(lab: &Lab, l: &Link, li: usize) -> Vec<(String, String)> {
    l.ends
        .iter()
        .filter_map(|e| match side(lab, e, li).ok()? {
            Side::Iface(n, i) => Some((n.name.clone(), i.ifname.clone())),
            Side::Port(n, p, _) => Some((n.name.clone(), p.ifname.clone())),
            _ => None,
        })
        .collect()
}

impl Build<'_> {
    /// Create links `added` (indexes into the lab's links): creates batched per creating
    /// namespace, follow-ups queued per namespace (sent by `send_posts`).
    pub(super) fn links(&mut self, added: &[usize]) -> Result<()> {
        let lab = self.lab;
        let mut creates: Vec<(String, Vec<Request>)> = Vec::new();
        let mut host_creates: Vec<Request> = Vec::new();
        let mut records = Vec::new();
        let mut macvlans: Vec<(&Node, &Interface)> = Vec::new();
        for &li in added {
            let l = &lab.links[li];
            let (mut a, mut b) = (side(lab, &l.ends[0], li)?, side(lab, &l.ends[1], li)?);
            if !a.in_ns() || (matches!(b, Side::Port(..)) && !matches!(a, Side::Port(..))) {
                std::mem::swap(&mut a, &mut b);
            }
            let (creator, req) = match (&a, &b) {
                (_, Side::Iface(..) | Side::Port(..)) => self.veth_between(l, &a, &b)?,
                (Side::Iface(n, i), Side::HostBridge(br, ifname)) => {
                    records.push(self.host_veth(l, n, i, ifname, Some(br), None)?);
                    (n.name.clone(), self.host_veth_request(l, n, i, ifname)?)
                }
                (Side::Iface(n, i), Side::Uplink(ifname, addr)) => {
                    records.push(self.host_veth(l, n, i, ifname, None, Some(*addr))?);
                    (n.name.clone(), self.host_veth_request(l, n, i, ifname)?)
                }
                (Side::Iface(n, i), Side::Macvlan(parent, mode)) => {
                    host_creates.push(self.macvlan_request(l, n, i, parent, mode)?);
                    macvlans.push((n, i));
                    continue;
                }
                _ => {
                    return Err(Error::model(
                        &lab.name,
                        format!(
                            "link {}",
                            crate::plan::key_text(&crate::plan::link_key(lab, l))
                        ),
                        "a host end must be linked to a node's interface",
                    ));
                }
            };
            match creates.iter_mut().find(|(c, _)| *c == creator) {
                Some((_, v)) => v.push(req),
                None => creates.push((creator, vec![req])),
            }
        }
        state::record(self.store, &lab.name, &records)?;
        for (node, reqs) in creates {
            let ns = self.ns_mut(&node)?;
            ns.handle.execute_all(reqs).map_err(Error::kernel(
                &lab.name,
                format!("create the links of node {node}"),
            ))?;
        }
        if !host_creates.is_empty() {
            self.host
                .execute_all(host_creates)
                .map_err(Error::kernel(&lab.name, "create macvlans"))?;
        }
        for (n, i) in macvlans {
            let ns = self.ns_mut(&n.name)?;
            let idx = ns.handle.link_index(&i.ifname).map_err(Error::kernel(
                &lab.name,
                format!("find {}:{}", n.name, i.ifname),
            ))?;
            ns.index.insert(i.ifname.clone(), idx);
            ns.next = ns.next.max(idx + 1);
            self.iface_post(n, i, None, idx)?;
        }
        Ok(())
    }

    /// A veth between two namespace ends, created in `a`'s namespace with the peer put into
    /// `b`'s, both indexes chosen. Returns the creating node and the create request; queues
    /// the follow-ups.
    fn veth_between(&mut self, l: &Link, a: &Side<'_>, b: &Side<'_>) -> Result<(String, Request)> {
        let lab = self.lab.name.clone();
        let info = |s: &Side<'_>| match s {
            Side::Iface(n, i) => (n.name.clone(), i.ifname.clone()),
            Side::Port(n, p, _) => (n.name.clone(), p.ifname.clone()),
            _ => (String::new(), String::new()),
        };
        let ((an, aif), (bn, bif)) = (info(a), info(b));
        let ia = self.ns_mut(&an)?.alloc(&aif);
        let ib = self.ns_mut(&bn)?.alloc(&bif);
        let master = |this: &Self, s: &Side<'_>, node: &str| -> Result<Option<u32>> {
            let Side::Port(_, _, br) = s else {
                return Ok(None);
            };
            this.ns
                .get(node)
                .and_then(|ns| ns.index.get(*br).copied())
                .map(Some)
                .ok_or_else(|| {
                    Error::model(&lab, format!("switch {node}"), format!("no bridge {br}"))
                })
        };
        let (ma, mb) = (master(self, a, &an)?, master(self, b, &bn)?);
        let mac = |s: &Side<'_>| -> Result<Option<[u8; 6]>> {
            match s {
                Side::Iface(n, i) => i
                    .mac
                    .as_deref()
                    .map(parse_mac)
                    .transpose()
                    .map_err(Error::kernel(&lab, format!("MAC of {}:{}", n.name, i.name))),
                _ => Ok(None),
            }
        };
        let (maca, macb) = (mac(a)?, mac(b)?);
        let req = {
            let peer_ns =
                self.ns.get(&bn).map(|n| n.handle.ns()).ok_or_else(|| {
                    Error::model(&lab, format!("node {bn}"), "namespace not open")
                })?;
            let mut v = Veth::new(&aif, &bif)
                .index(ia)
                .peer_index(ib)
                .peer_netns(peer_ns)
                .up();
            if let Some(m) = ma {
                v = v.master(m);
            }
            if let Some(m) = l.mtu {
                v = v.mtu(m);
            }
            if let Some(m) = maca {
                v = v.mac(m);
            }
            if let Some(m) = macb {
                v = v.peer_mac(m);
            }
            v.request().map_err(Error::kernel(
                &lab,
                format!("veth {an}:{aif} -- {bn}:{bif}"),
            ))?
        };
        // The far end: up (and onto its bridge) once the pair exists.
        let far = self.ns_mut(&bn)?;
        if let Some(m) = mb {
            far.post.push(master_request(ib, &bif, Some(m)));
        }
        far.post.push(up_request(ib, true, &bif));
        for (s, idx) in [(a, ia), (b, ib)] {
            match s {
                Side::Iface(n, i) => self.iface_post(n, i, l.mtu, idx)?,
                Side::Port(n, p, _) => {
                    let ns = self.ns_mut(&n.name)?;
                    for alt in &p.altnames {
                        let r = altname_request(idx, &p.ifname, &state::kernel_altname(alt), true)
                            .map_err(Error::kernel(
                                &lab,
                                format!("altname {alt} of {}:{}", n.name, p.ifname),
                            ))?;
                        ns.post.push(r);
                    }
                }
                _ => {}
            }
        }
        Ok((an, req))
    }

    /// Follow-ups of a node interface: altnames, its own MTU when it differs from the
    /// link's, addresses.
    fn iface_post(
        &mut self,
        n: &Node,
        i: &Interface,
        link_mtu: Option<u32>,
        idx: u32,
    ) -> Result<()> {
        let lab = self.lab.name.clone();
        let ns = self.ns_mut(&n.name)?;
        for alt in &i.altnames {
            let r = altname_request(idx, &i.ifname, &state::kernel_altname(alt), true).map_err(
                Error::kernel(&lab, format!("altname {alt} of {}:{}", n.name, i.ifname)),
            )?;
            ns.post.push(r);
        }
        if i.mtu.is_some() && i.mtu != link_mtu {
            let ch = LinkChange {
                mtu: i.mtu,
                ..LinkChange::default()
            };
            ns.post
                .push(change_request(idx, &i.ifname, &ch).map_err(Error::kernel(
                    &lab,
                    format!("MTU of {}:{}", n.name, i.ifname),
                ))?);
        }
        for a in &i.addresses {
            ns.post.push(AddrSpec::new(idx, *a).nodad().request_add());
        }
        Ok(())
    }

    /// Prepare a veth whose far end goes to the host: returns the record to write before it
    /// is made, and queues its move (marked first) and the host-side follow-ups.
    fn host_veth(
        &mut self,
        l: &Link,
        n: &Node,
        i: &Interface,
        host_if: &str,
        bridge: Option<&str>,
        address: Option<warren_kernel::addr::IpNet>,
    ) -> Result<warren_store::LabObject> {
        let lab = self.lab.name.clone();
        let marker = state::host_marker(&lab, &n.name, &i.name);
        let ia = self.ns_mut(&n.name)?.alloc(&i.ifname);
        let it = self.ns_mut(&n.name)?.alloc(host_if);
        let mark = altname_request(it, host_if, &marker, true)
            .map_err(Error::kernel(&lab, format!("mark {host_if}")))?;
        let host_ns = self
            .host
            .ns()
            .try_clone()
            .map_err(Error::kernel(&lab, "open the host namespace"))?;
        let mv = change_request(it, host_if, &LinkChange::default().netns(&host_ns))
            .map_err(Error::kernel(&lab, format!("move {host_if} to the host")))?;
        // The fd number goes in the message: keep the namespace open until it is sent.
        self.keep.push(host_ns);
        let ns = self.ns_mut(&n.name)?;
        ns.post.push(mark);
        ns.post.push(mv);
        ns.index.remove(host_if);
        self.iface_post(n, i, l.mtu, ia)?;
        self.host_moved.push(HostEnd {
            ifname: host_if.to_owned(),
            marker: marker.clone(),
            bridge: bridge.map(str::to_owned),
            address,
        });
        Ok(state::object(
            state::HOSTLINK,
            host_if,
            &HostLinkRecord {
                altname: marker,
                ifindex: None,
            },
        ))
    }

    /// The create request of a host veth: both ends in the node's namespace, indexes as
    /// allocated by [`Build::host_veth`].
    fn host_veth_request(
        &mut self,
        l: &Link,
        n: &Node,
        i: &Interface,
        host_if: &str,
    ) -> Result<Request> {
        let lab = self.lab.name.clone();
        let ns = self.ns_mut(&n.name)?;
        let ia = ns.index.get(&i.ifname).copied().unwrap_or(0);
        // The host end's index was handed out right after the node end's.
        let mut v = Veth::new(&i.ifname, host_if)
            .index(ia)
            .peer_index(ia + 1)
            .up();
        if let Some(m) = l.mtu {
            v = v.mtu(m);
        }
        if let Some(m) = &i.mac {
            v = v.mac(
                parse_mac(m)
                    .map_err(Error::kernel(&lab, format!("MAC of {}:{}", n.name, i.name)))?,
            );
        }
        v.request().map_err(Error::kernel(
            &lab,
            format!("veth {}:{} -- host:{host_if}", n.name, i.ifname),
        ))
    }

    /// A macvlan on host interface `parent`, made straight into the node under its name.
    fn macvlan_request(
        &mut self,
        l: &Link,
        n: &Node,
        i: &Interface,
        parent: &str,
        mode: &str,
    ) -> Result<Request> {
        let lab = self.lab.name.clone();
        let what = format!("macvlan {}:{} on host {parent}", n.name, i.ifname);
        let pidx = self.parent_index(parent)?;
        let mode = MacVlanMode::parse(mode).map_err(Error::kernel(&lab, what.clone()))?;
        let ns =
            self.ns.get(&n.name).map(|x| x.handle.ns()).ok_or_else(|| {
                Error::model(&lab, format!("node {}", n.name), "namespace not open")
            })?;
        let mut m = MacVlan::new(&i.ifname, pidx, mode).netns(ns).up();
        if let Some(x) = i.mtu.or(l.mtu) {
            m = m.mtu(x);
        }
        if let Some(x) = &i.mac {
            m = m.mac(parse_mac(x).map_err(Error::kernel(&lab, what.clone()))?);
        }
        m.request().map_err(Error::kernel(&lab, what))
    }

    fn parent_index(&mut self, parent: &str) -> Result<u32> {
        if let Some(&i) = self.parents.get(parent) {
            return Ok(i);
        }
        let i = self.host.link_index(parent).map_err(Error::kernel(
            &self.lab.name,
            format!("find host interface {parent}"),
        ))?;
        self.parents.insert(parent.to_owned(), i);
        Ok(i)
    }
}

/// Host interface indexes looked up once per build.
pub(super) type Parents = HashMap<String, u32>;
