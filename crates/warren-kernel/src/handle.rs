//! [`Handle`]: a namespace together with the netlink socket opened inside it. Every link,
//! address, route, neighbour, nsid and tc operation is a method on a handle, in the shape of
//! the `ip` and `tc` commands (`handle.link_add(..)`, `handle.addr_add(..)`,
//! `handle.route_add(..)`, `handle.qdisc_replace(..)`).

use std::sync::{Mutex, MutexGuard};

use netlink_packet_route::RouteNetlinkMessage;

use crate::error::Result;
use crate::netlink::{Request, RouteSocket};
use crate::netns::NetNs;

/// A network namespace and one rtnetlink socket bound to it. Usable from any thread.
#[derive(Debug)]
pub struct Handle {
    ns: NetNs,
    sock: Mutex<RouteSocket>,
}

impl Handle {
    /// A handle on `ns`: the socket is opened by the calling thread, entered into `ns` for
    /// the moment ([`NetNs::run_here`]).
    pub fn new(ns: NetNs) -> Result<Handle> {
        let label = ns.label().to_owned();
        let sock = ns.run_here(|| RouteSocket::open(label))?;
        Ok(Handle {
            ns,
            sock: Mutex::new(sock),
        })
    }

    /// A handle on the calling thread's current namespace.
    pub fn current() -> Result<Handle> {
        let ns = NetNs::current()?;
        let sock = RouteSocket::open(ns.label())?;
        Ok(Handle {
            ns,
            sock: Mutex::new(sock),
        })
    }

    /// A handle from a namespace and a socket already opened inside it (for code that is
    /// running inside the namespace anyway, e.g. right after creating it).
    pub fn from_parts(ns: NetNs, sock: RouteSocket) -> Handle {
        Handle {
            ns,
            sock: Mutex::new(sock),
        }
    }

    /// Open a handle on the calling thread's namespace, labelled like `ns`: for use on a thread
    /// that is inside `ns`.
    pub fn here(ns: &NetNs) -> Result<Handle> {
        let sock = RouteSocket::open(ns.label())?;
        Ok(Handle {
            ns: ns.try_clone()?,
            sock: Mutex::new(sock),
        })
    }

    /// The namespace.
    pub fn ns(&self) -> &NetNs {
        &self.ns
    }

    fn sock(&self) -> MutexGuard<'_, RouteSocket> {
        // A panic while holding the lock leaves the socket usable: requests are independent.
        self.sock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index of interface `name`, by ioctl on the socket ([`RouteSocket::index_of`]).
    pub(crate) fn index_of(&self, name: &str) -> std::result::Result<u32, nix::errno::Errno> {
        self.sock().index_of(name)
    }

    /// Send one request and wait for its acknowledgement.
    pub fn ack(&self, req: Request) -> Result<()> {
        self.sock().ack(req)
    }

    /// Send a batch of requests at once and read every acknowledgement; results in order.
    pub fn execute(&self, reqs: Vec<Request>) -> Vec<Result<()>> {
        self.sock().execute(reqs)
    }

    /// Send a batch and stop at the first failure (all requests are still sent and answered).
    pub fn execute_all(&self, reqs: Vec<Request>) -> Result<()> {
        self.execute(reqs).into_iter().collect()
    }

    /// Dump request.
    pub fn dump(&self, req: Request) -> Result<Vec<RouteNetlinkMessage>> {
        self.sock().dump(req)
    }

    /// Request with a single reply.
    pub fn get(&self, req: Request) -> Result<RouteNetlinkMessage> {
        self.sock().get(req)
    }
}
