//! A deliberately minimal rtnetlink client: hand-built messages in a byte buffer, a plain
//! `NETLINK_ROUTE` socket, acknowledgements and dumps read back by hand. No warren code, no
//! message crate: this is the floor the raw contender measures, and the independent checker
//! that verifies every contender's result.

use std::io;
use std::net::Ipv4Addr;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// `RTM_NEWLINK`.
pub const RTM_NEWLINK: u16 = 16;
/// `RTM_DELLINK`.
pub const RTM_DELLINK: u16 = 17;
/// `RTM_GETLINK`.
pub const RTM_GETLINK: u16 = 18;
/// `RTM_NEWADDR`.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_GETADDR`.
pub const RTM_GETADDR: u16 = 22;
/// `RTM_NEWROUTE`.
pub const RTM_NEWROUTE: u16 = 24;
/// `RTM_GETROUTE`.
pub const RTM_GETROUTE: u16 = 26;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_EXCL | NLM_F_CREATE`.
pub const NLM_F_CREATE_EXCL: u16 = 0x200 | 0x400;

/// `IFF_UP`.
pub const IFF_UP: u32 = 0x1;
const AF_INET: u8 = 2;

const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;
const NLA_F_NESTED: u16 = 0x8000;

/// One netlink message being built: header, fixed family header, attributes.
#[derive(Debug, Clone)]
pub struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    /// A request of type `ty` with extra `flags` (REQUEST is always set) and the family header.
    pub fn new(ty: u16, flags: u16, family_header: &[u8]) -> Msg {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // seq, set when sent
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id
        buf.extend_from_slice(family_header);
        align(&mut buf);
        Msg { buf }
    }

    /// Append one attribute.
    pub fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Msg {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        align(&mut self.buf);
        self
    }

    /// Append a NUL-terminated string attribute.
    pub fn attr_str(&mut self, ty: u16, s: &str) -> &mut Msg {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.attr(ty, &v)
    }

    /// Open a nested attribute; returns its offset for [`Msg::end_nest`].
    pub fn begin_nest(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }

    /// Append raw bytes inside a nest (a family header inside `VETH_INFO_PEER`).
    pub fn raw(&mut self, data: &[u8]) -> &mut Msg {
        self.buf.extend_from_slice(data);
        align(&mut self.buf);
        self
    }

    /// Close the nest opened at `at`.
    pub fn end_nest(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(&mut self, seq: u32, ack: bool) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        let mut flags = u16::from_ne_bytes([self.buf[6], self.buf[7]]);
        if ack {
            flags |= NLM_F_ACK;
        }
        self.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

fn align(buf: &mut Vec<u8>) {
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

/// `struct ifinfomsg` with an index and flags (`change` = `flags`).
pub fn ifinfomsg(index: i32, flags: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&flags.to_ne_bytes());
    h
}

/// `RTM_NEWLINK` of a bridge, up.
pub fn bridge_create(name: &str) -> Msg {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE_EXCL, &ifinfomsg(0, IFF_UP));
    m.attr_str(IFLA_IFNAME, name);
    let li = m.begin_nest(IFLA_LINKINFO);
    m.attr_str(IFLA_INFO_KIND, "bridge");
    m.end_nest(li);
    m
}

/// `RTM_DELLINK` by index.
pub fn link_delete(index: u32) -> Msg {
    Msg::new(RTM_DELLINK, 0, &ifinfomsg(index as i32, 0))
}

/// `RTM_NEWLINK` of a veth `host` (index `host_index`, port of bridge `master`, up) whose peer
/// `peer` (index `peer_index`, down) is created directly inside the namespace open as `ns_fd`:
/// one message for the whole pair. Index 0 lets the kernel choose; it honours the peer's index
/// only when this end's is given too. (A peer `up` at creation in another namespace fails with
/// ENOTCONN on 6.18, so the peer is brought up afterwards, from inside.)
pub fn veth_create(
    host: &str,
    host_index: i32,
    master: u32,
    peer: &str,
    peer_index: i32,
    ns_fd: i32,
) -> Msg {
    let mut m = Msg::new(
        RTM_NEWLINK,
        NLM_F_CREATE_EXCL,
        &ifinfomsg(host_index, IFF_UP),
    );
    m.attr_str(IFLA_IFNAME, host);
    m.attr(IFLA_MASTER, &master.to_ne_bytes());
    let li = m.begin_nest(IFLA_LINKINFO);
    m.attr_str(IFLA_INFO_KIND, "veth");
    let data = m.begin_nest(IFLA_INFO_DATA);
    let p = m.begin_nest(VETH_INFO_PEER);
    m.raw(&ifinfomsg(peer_index, 0));
    m.attr_str(IFLA_IFNAME, peer);
    m.attr(IFLA_NET_NS_FD, &ns_fd.to_ne_bytes());
    m.end_nest(p);
    m.end_nest(data);
    m.end_nest(li);
    m
}

/// `RTM_GETLINK` of one link by name.
pub fn link_get(name: &str) -> Msg {
    let mut m = Msg::new(RTM_GETLINK, 0, &ifinfomsg(0, 0));
    m.attr_str(IFLA_IFNAME, name);
    m
}

/// `RTM_NEWADDR`: `addr/prefix` on link `index`, as `ip addr add` sends it.
pub fn addr_add(index: u32, addr: Ipv4Addr, prefix: u8) -> Msg {
    let mut h = [0u8; 8];
    h[0] = AF_INET;
    h[1] = prefix;
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE_EXCL, &h);
    m.attr(IFA_LOCAL, &addr.octets());
    m.attr(IFA_ADDRESS, &addr.octets());
    m
}

/// `RTM_NEWROUTE`: IPv4 default route via `gw` in the main table.
pub fn default_route_add(gw: Ipv4Addr) -> Msg {
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    let h = [AF_INET, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0];
    let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE_EXCL, &h);
    m.attr(RTA_GATEWAY, &gw.octets());
    m
}

/// A dump request of `ty` (`RTM_GETLINK`, `RTM_GETADDR`, `RTM_GETROUTE`) for IPv4/any.
pub fn dump(ty: u16) -> Msg {
    match ty {
        RTM_GETLINK => Msg::new(ty, NLM_F_DUMP, &ifinfomsg(0, 0)),
        RTM_GETADDR => Msg::new(ty, NLM_F_DUMP, &[AF_INET, 0, 0, 0, 0, 0, 0, 0]),
        _ => Msg::new(ty, NLM_F_DUMP, &[AF_INET, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    }
}

/// Receive buffer: the kernel's dump chunks are at most 32 KiB.
const RECV_BUF: usize = 64 * 1024;

/// A `NETLINK_ROUTE` socket, bound for life to the namespace of the thread that opened it.
pub struct Nl {
    sock: Socket,
    seq: u32,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl std::fmt::Debug for Nl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nl")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

fn kernel_error(code: i32, what: &str) -> io::Error {
    let e = io::Error::from_raw_os_error(-code);
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Nl {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Nl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Buffers are allocated on first use: a thousand idle sockets cost no memory.
        Ok(Nl {
            sock,
            seq: 0,
            rx: Vec::new(),
            tx: Vec::new(),
        })
    }

    fn recv(&mut self) -> io::Result<usize> {
        self.rx.clear();
        self.rx.reserve(RECV_BUF);
        self.sock.recv(&mut self.rx, 0)
    }

    /// Send all messages in one `sendmsg` and wait for every acknowledgement; the first
    /// refusal is returned (after all acks are read).
    pub fn batch(&mut self, msgs: &mut [Msg]) -> io::Result<()> {
        self.tx.clear();
        let first = self.seq.wrapping_add(1);
        for m in msgs.iter_mut() {
            self.seq = self.seq.wrapping_add(1);
            let bytes = m.finish(self.seq, true);
            self.tx.extend_from_slice(bytes);
        }
        self.sock.send(&self.tx, 0)?;
        let mut left = msgs.len();
        let mut failure = None;
        while left > 0 {
            let n = self.recv()?;
            for (ty, seq, body) in messages(&self.rx[..n]) {
                if ty != NLMSG_ERROR || seq.wrapping_sub(first) as usize >= msgs.len() {
                    continue;
                }
                left -= 1;
                let code = body
                    .get(0..4)
                    .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                if code != 0 && failure.is_none() {
                    let idx = seq.wrapping_sub(first) as usize;
                    failure = Some(kernel_error(code, &format!("netlink request {idx}")));
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Send one message and wait for its acknowledgement.
    pub fn request(&mut self, mut msg: Msg) -> io::Result<()> {
        self.batch(std::slice::from_mut(&mut msg))
    }

    /// Send a request answered by messages (a dump, or a single get) and collect them.
    pub fn collect(&mut self, mut msg: Msg) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let dumping = u16::from_ne_bytes([msg.buf[6], msg.buf[7]]) & NLM_F_DUMP == NLM_F_DUMP;
        let bytes = msg.finish(seq, false);
        self.sock.send(bytes, 0)?;
        let mut out = Vec::new();
        loop {
            let n = self.recv()?;
            for (ty, s, body) in messages(&self.rx[..n]) {
                if s != seq {
                    continue;
                }
                match ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = body
                            .get(0..4)
                            .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        if code != 0 {
                            return Err(kernel_error(code, "netlink get"));
                        }
                        return Ok(out);
                    }
                    _ => {
                        out.push(body.to_vec());
                        if !dumping {
                            return Ok(out);
                        }
                    }
                }
            }
        }
    }

    /// The index of link `name`.
    pub fn link_index(&mut self, name: &str) -> io::Result<u32> {
        let got = self.collect(link_get(name))?;
        got.first()
            .and_then(|b| b.get(4..8))
            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as u32)
            .ok_or_else(|| io::Error::other(format!("no reply for link {name}")))
    }
}

/// Split a datagram into (type, seq, body-after-header) triples.
fn messages(data: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= data.len() {
        let len =
            u32::from_ne_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]) as usize;
        if len < 16 || off + len > data.len() {
            break;
        }
        let ty = u16::from_ne_bytes([data[off + 4], data[off + 5]]);
        let seq =
            u32::from_ne_bytes([data[off + 8], data[off + 9], data[off + 10], data[off + 11]]);
        out.push((ty, seq, &data[off + 16..off + len]));
        off += (len + 3) & !3;
    }
    out
}

/// Iterate over the attributes that follow a family header of `hdr_len` bytes.
pub fn attrs(body: &[u8], hdr_len: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = body.get(hdr_len..).unwrap_or_default();
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let ty = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            break;
        }
        out.push((ty, &rest[4..len]));
        rest = rest.get((len + 3) & !3..).unwrap_or_default();
    }
    out
}

/// A link from a `RTM_NEWLINK` dump message.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// Index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// `IFF_UP` set.
    pub up: bool,
    /// Master's index.
    pub master: Option<u32>,
}

/// Decode a link message body.
pub fn parse_link(body: &[u8]) -> Option<LinkInfo> {
    let index = u32::from_ne_bytes(body.get(4..8)?.try_into().ok()?);
    let flags = u32::from_ne_bytes(body.get(8..12)?.try_into().ok()?);
    let mut l = LinkInfo {
        index,
        name: String::new(),
        up: flags & IFF_UP != 0,
        master: None,
    };
    for (ty, v) in attrs(body, 16) {
        match ty {
            IFLA_IFNAME => {
                l.name = String::from_utf8_lossy(v.split(|&b| b == 0).next().unwrap_or_default())
                    .into_owned();
            }
            IFLA_MASTER if v.len() == 4 => l.master = Some(u32::from_ne_bytes(v.try_into().ok()?)),
            _ => {}
        }
    }
    Some(l)
}

/// An IPv4 address from a `RTM_NEWADDR` dump message: (link index, address, prefix).
pub fn parse_addr(body: &[u8]) -> Option<(u32, Ipv4Addr, u8)> {
    if *body.first()? != AF_INET {
        return None;
    }
    let prefix = *body.get(1)?;
    let index = u32::from_ne_bytes(body.get(4..8)?.try_into().ok()?);
    let a = attrs(body, 8);
    let local = a
        .iter()
        .find(|(t, _)| *t == IFA_LOCAL)
        .or_else(|| a.iter().find(|(t, _)| *t == IFA_ADDRESS))?;
    let o: [u8; 4] = local.1.try_into().ok()?;
    Some((index, Ipv4Addr::from(o), prefix))
}

/// The gateway of an IPv4 default route in the main table, from a `RTM_NEWROUTE` message.
pub fn parse_default_gw(body: &[u8]) -> Option<Ipv4Addr> {
    if *body.first()? != AF_INET || *body.get(1)? != 0 {
        return None;
    }
    let mut table = u32::from(*body.get(4)?);
    let mut gw = None;
    for (ty, v) in attrs(body, 12) {
        match ty {
            RTA_TABLE if v.len() == 4 => table = u32::from_ne_bytes(v.try_into().ok()?),
            RTA_GATEWAY if v.len() == 4 => gw = Some(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?)),
            _ => {}
        }
    }
    if table == 254 { gw } else { None }
}
