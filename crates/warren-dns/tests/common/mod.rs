//! Shared by the integration tests: the server as a child process, a DNS client with a chosen
//! source address, and fake upstream servers. Everything runs inside the test's own sandbox
//! (fresh network namespace), on loopback addresses.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use warren_dns::{Config, Listen, NameEntry};

/// Where the tests keep the config, pid file and log (the sandbox's private /run).
pub const DIR: &str = "/run/warren/dns-test";

/// Bring up `lo` in the sandbox's namespace: 127.0.0.0/8 and ::1 are then usable.
pub fn lo_up() {
    warren_kernel::Handle::current()
        .unwrap()
        .link_set_up("lo")
        .unwrap();
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn listen(network: &str, addr: &str) -> Listen {
    Listen {
        network: network.into(),
        addr: ip(addr),
    }
}

pub fn name(name: &str, network: &str, addrs: &[&str]) -> NameEntry {
    NameEntry {
        name: name.into(),
        network: network.into(),
        addrs: addrs.iter().map(|a| ip(a)).collect(),
    }
}

/// The `warren-dns` binary running on a config.
pub struct Server {
    pub child: Child,
    pub config: PathBuf,
    pub pid_file: PathBuf,
    pub log: PathBuf,
}

impl Server {
    /// Write `config`, start the binary, and wait for its pid file (it is then serving).
    pub fn start(config: &Config) -> Server {
        std::fs::create_dir_all(DIR).unwrap();
        let dir = PathBuf::from(DIR);
        let (path, pid_file, log) = (
            dir.join("dns.json"),
            dir.join("dns.pid"),
            dir.join("dns.log"),
        );
        config.write_atomic(&path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_warren-dns"))
            .arg("--config")
            .arg(&path)
            .arg("--pid-file")
            .arg(&pid_file)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            config: path,
            pid_file,
            log,
        };
        let since = Instant::now();
        loop {
            if let Ok(pid) = std::fs::read_to_string(&server.pid_file) {
                assert_eq!(pid.trim(), server.child.id().to_string());
                return server;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("warren-dns exited ({status}): {}", server.log_text());
            }
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "no pid file after 10 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// Rewrite the config (atomically, as the engine does) and send SIGHUP.
    pub fn reload(&self, config: &Config) {
        config.write_atomic(&self.config).unwrap();
        self.hup();
    }

    pub fn hup(&self) {
        kill(self.pid(), Signal::SIGHUP).unwrap();
    }

    /// Peak resident set size so far, in kB (VmHWM).
    pub fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Wait up to `limit` for the server to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let since = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                since.elapsed() < limit,
                "warren-dns still running after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then wait for the exit status.
    pub fn stop(mut self) -> ExitStatus {
        kill(self.pid(), Signal::SIGTERM).unwrap();
        self.wait_exit(Duration::from_secs(10))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A query for `name` with ID `id`, recursion desired.
pub fn query(name: &str, qtype: RecordType, id: u16) -> Message {
    let mut m = Message::new();
    m.set_id(id).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m
}

/// Ask over UDP from source address `from` (port chosen by the kernel).
pub fn try_udp(
    from: &str,
    server: SocketAddr,
    q: &Message,
    wait: Duration,
) -> std::io::Result<Message> {
    let sock = UdpSocket::bind((ip(from), 0))?;
    sock.set_read_timeout(Some(wait))?;
    sock.send_to(&q.to_vec().unwrap(), server)?;
    let mut buf = [0u8; 4096];
    loop {
        let (n, peer) = sock.recv_from(&mut buf)?;
        if peer == server {
            return Message::from_vec(&buf[..n]).map_err(std::io::Error::other);
        }
    }
}

pub fn udp(from: &str, server: SocketAddr, q: &Message) -> Message {
    try_udp(from, server, q, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("no UDP answer from {server} for {:?}: {e}", q.queries()))
}

/// Ask over TCP from source address `from`.
pub fn try_tcp(from: &str, server: SocketAddr, q: &Message) -> std::io::Result<Message> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(server),
        socket2::Type::STREAM,
        None,
    )?;
    sock.bind(&SocketAddr::new(ip(from), 0).into())?;
    sock.connect_timeout(&server.into(), Duration::from_secs(5))?;
    let mut stream: TcpStream = sock.into();
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let bytes = q.to_vec().unwrap();
    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer)?;
    Message::from_vec(&answer).map_err(std::io::Error::other)
}

pub fn tcp(from: &str, server: SocketAddr, q: &Message) -> Message {
    try_tcp(from, server, q).unwrap_or_else(|e| panic!("no TCP answer from {server}: {e}"))
}

/// The addresses in the answer section.
pub fn addrs(m: &Message) -> Vec<IpAddr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// A fake upstream on `addr` (UDP and TCP): answers every query with one A record, `marker`,
/// keeping the ID, and counts the queries it got.
pub struct Upstream {
    pub addr: SocketAddr,
    pub queries: Arc<AtomicUsize>,
}

impl Upstream {
    pub fn start(addr: &str, marker: &str) -> Upstream {
        Upstream::start_delayed(addr, marker, Duration::ZERO)
    }

    /// Like [`Upstream::start`], answering each UDP query `delay` late (one at a time).
    pub fn start_delayed(addr: &str, marker: &str, delay: Duration) -> Upstream {
        let addr: SocketAddr = addr.parse().unwrap();
        let marker: std::net::Ipv4Addr = marker.parse().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let udp = UdpSocket::bind(addr).unwrap();
        let count = Arc::clone(&queries);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = udp.recv_from(&mut buf) {
                count.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(delay);
                let _ = udp.send_to(&answer(&buf[..n], marker), peer);
            }
        });
        let tcp = std::net::TcpListener::bind(addr).unwrap();
        let count = Arc::clone(&queries);
        std::thread::spawn(move || {
            for mut stream in tcp.incoming().flatten() {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut q).is_err() {
                    continue;
                }
                count.fetch_add(1, Ordering::Relaxed);
                let a = answer(&q, marker);
                let mut framed = u16::try_from(a.len()).unwrap().to_be_bytes().to_vec();
                framed.extend_from_slice(&a);
                let _ = stream.write_all(&framed);
            }
        });
        Upstream { addr, queries }
    }

    pub fn count(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

fn answer(query: &[u8], marker: std::net::Ipv4Addr) -> Vec<u8> {
    let q = Message::from_vec(query).unwrap();
    let mut m = Message::new();
    m.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_recursion_desired(q.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(ResponseCode::NoError);
    m.add_queries(q.queries().iter().cloned());
    let owner = q.queries()[0].name().clone();
    m.add_answer(Record::from_rdata(owner, 60, RData::A(A(marker))));
    m.to_vec().unwrap()
}

/// A UDP socket that receives queries and never answers (a silent upstream).
pub fn silent_upstream(addr: &str) -> UdpSocket {
    UdpSocket::bind(addr).unwrap()
}
