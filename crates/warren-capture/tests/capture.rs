//! Captures in the sandbox: two namespaces joined by a veth, both ends captured while UDP,
//! TCP and ICMP cross it; the stream is read back by tcpdump (the oracle) and by warren's own
//! reader.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use warren_capture::read::{ReadPacket, read};
use warren_capture::{Capture, Error, Format, Options, Stats, StopReason, Target};
use warren_kernel::addr::IpNet;
use warren_kernel::link::veth::Veth;
use warren_kernel::packet::Direction;
use warren_kernel::{Handle, NetNs};
use warren_testkit::net::{ping, tcp_exchange, udp_exchange};
use warren_testkit::sandbox_test;

/// Namespaces `a` and `b` with veth `va` (10.1.0.1/24) — `vb` (10.1.0.2/24).
fn pair() -> (Handle, Handle) {
    let a = Handle::new(NetNs::new_anonymous("a").unwrap()).unwrap();
    let b = Handle::new(NetNs::new_anonymous("b").unwrap()).unwrap();
    a.link_add(&Veth::new("va", "vb").peer_netns(b.ns()).up().peer_up())
        .unwrap();
    for (h, dev, cidr) in [(&a, "va", "10.1.0.1/24"), (&b, "vb", "10.1.0.2/24")] {
        let idx = h.link_index(dev).unwrap();
        h.addr_add(idx, cidr.parse::<IpNet>().unwrap()).unwrap();
    }
    (a, b)
}

fn targets(a: &Handle, b: &Handle) -> Vec<Target> {
    vec![
        Target::new("a:va", a.ns().try_clone().unwrap(), "va"),
        Target::new("b:vb", b.ns().try_clone().unwrap(), "vb"),
    ]
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Capture into `path` while `traffic` runs, then stop through a pipe.
fn capture_around(cap: &Capture, path: &str, traffic: impl FnOnce()) -> Stats {
    let (stop_r, stop_w) = nix::unistd::pipe().unwrap();
    std::thread::scope(|s| {
        let run = s.spawn(|| {
            let file = std::fs::File::create(path).unwrap();
            cap.run(file, path, Some(stop_r.as_fd()), &mut |_| {})
                .unwrap()
        });
        traffic();
        std::thread::sleep(Duration::from_millis(100));
        std::fs::File::from(stop_w).write_all(b"x").unwrap();
        run.join().unwrap()
    })
}

/// IPv4 protocol and destination port (0 for ICMP) of an Ethernet frame, if IPv4.
fn ipv4(p: &ReadPacket) -> Option<(u8, u16)> {
    let d = &p.data;
    if d.len() < 38 || d[12..14] != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(d[14] & 0x0f) * 4;
    let proto = d[23];
    let port = match proto {
        6 | 17 => u16::from_be_bytes([d[14 + ihl + 2], d[14 + ihl + 3]]),
        _ => 0,
    };
    Some((proto, port))
}

fn seen(packets: &[ReadPacket], iface: &str, proto: u8, port: u16) -> Vec<Option<bool>> {
    packets
        .iter()
        .filter(|p| p.interface.as_deref() == Some(iface) && ipv4(p) == Some((proto, port)))
        .map(|p| p.outgoing)
        .collect()
}

sandbox_test! {
    fn both_ends_of_a_veth_merge_into_one_pcapng_that_tcpdump_reads() {
        let (a, b) = pair();
        let cap = Capture::open(targets(&a, &b), &Options::default()).unwrap();
        assert_eq!(cap.names(), ["a:va", "b:vb"]);
        // The kernel turns packet timestamps on through deferred work once the first socket
        // asks for them; until it has run, packets are stamped when read, which can invert
        // the order of the two ends (seen once in CI under load). Give it that moment.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let path = "/run/both.pcapng";
        let stats = capture_around(&cap, path, || {
            ping(a.ns(), ip("10.1.0.2")).unwrap();
            udp_exchange(a.ns(), b.ns(), SocketAddr::new(ip("10.1.0.2"), 40000)).unwrap();
            tcp_exchange(a.ns(), b.ns(), SocketAddr::new(ip("10.1.0.2"), 7001)).unwrap();
        });
        assert_eq!(stats.reason, StopReason::Stopped);
        assert!(stats.per_interface.iter().all(|&n| n >= 10), "{stats:?}");
        assert_eq!(stats.packets, stats.per_interface.iter().sum::<u64>());

        // Our reader: both interfaces by name, each packet's direction as seen there.
        let file = read(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(file.linktype, 1);
        assert_eq!(file.interfaces, ["a:va", "b:vb"]);
        assert_eq!(file.packets.len() as u64, stats.packets);
        // The UDP datagram to port 40000 leaves a and arrives at b.
        assert_eq!(seen(&file.packets, "a:va", 17, 40000), [Some(true)]);
        assert_eq!(seen(&file.packets, "b:vb", 17, 40000), [Some(false)]);
        // The TCP connection to 7001: SYN, ACK, data, FIN... on both ends.
        assert!(seen(&file.packets, "a:va", 6, 7001).len() >= 3);
        assert!(seen(&file.packets, "b:vb", 6, 7001).len() >= 3);
        // ICMP both ways on both ends (the request out of a, the reply into a).
        let icmp_a = seen(&file.packets, "a:va", 1, 0);
        assert!(icmp_a.contains(&Some(true)) && icmp_a.contains(&Some(false)), "{icmp_a:?}");
        assert!(!seen(&file.packets, "b:vb", 1, 0).is_empty());
        // Merged by time: the datagram leaves a before it reaches b (a strict global order
        // is not promised: a packet the kernel stamps and then queues late, on a busy
        // machine, can come after a younger one of another interface).
        let at = |iface: &str| {
            file.packets
                .iter()
                .position(|p| p.interface.as_deref() == Some(iface) && ipv4(p) == Some((17, 40000)))
                .unwrap()
        };
        assert!(at("a:va") < at("b:vb"));

        // The oracle: tcpdump reads the pcapng and shows every packet.
        let lines = warren_testkit::oracle::tcpdump_read(path);
        assert_eq!(lines.len() as u64, stats.packets, "{lines:#?}");
        let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
        assert!(count("10.1.0.1 > 10.1.0.2: ICMP echo request") >= 2, "{lines:#?}");
        assert!(count("10.1.0.2 > 10.1.0.1: ICMP echo reply") >= 2, "{lines:#?}");
        assert_eq!(count("> 10.1.0.2.40000: UDP"), 2, "{lines:#?}");
        assert_eq!(count("> 10.1.0.2.7001: Flags [S]"), 2, "{lines:#?}");
        assert!(count("ARP, Request who-has 10.1.0.2") >= 2, "{lines:#?}");
    }
}

sandbox_test! {
    fn classic_pcap_stops_at_the_count() {
        let (a, b) = pair();
        let opts = Options { format: Format::Pcap, count: Some(4), ..Options::default() };
        let cap = Capture::open(targets(&a, &b), &opts).unwrap();
        let path = "/run/count.pcap";
        let stats = std::thread::scope(|s| {
            let run = s.spawn(|| {
                let file = std::fs::File::create(path).unwrap();
                cap.run(file, path, None, &mut |_| {}).unwrap()
            });
            ping(a.ns(), ip("10.1.0.2")).unwrap();
            run.join().unwrap()
        });
        assert_eq!(stats.reason, StopReason::Count);
        assert_eq!(stats.packets, 4);
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..4], &0xa1b2_3c4du32.to_ne_bytes(), "nanosecond magic");
        assert_eq!(read(&bytes).unwrap().packets.len(), 4);
        assert_eq!(warren_testkit::oracle::tcpdump_read(path).len(), 4);
    }
}

sandbox_test! {
    fn a_duration_ends_an_idle_capture_with_a_valid_empty_file() {
        let (a, b) = pair();
        let opts = Options { duration: Some(Duration::from_millis(300)), ..Options::default() };
        let cap = Capture::open(targets(&a, &b), &opts).unwrap();
        let start = Instant::now();
        let mut out = Vec::new();
        let mut rounds = 0;
        let stats = cap.run(&mut out, "memory", None, &mut |_| rounds += 1).unwrap();
        let took = start.elapsed();
        assert_eq!(stats.reason, StopReason::Duration);
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "{took:?}");
        assert!(rounds >= 1);
        let file = read(&out).unwrap();
        assert_eq!(file.interfaces, ["a:va", "b:vb"]);
        assert_eq!(file.packets.len() as u64, stats.packets);
    }
}

sandbox_test! {
    fn direction_in_keeps_only_received_packets() {
        let (a, b) = pair();
        let opts = Options { direction: Direction::In, ..Options::default() };
        let t = vec![Target::new("a:va", a.ns().try_clone().unwrap(), "va")];
        let cap = Capture::open(t, &opts).unwrap();
        let stats = capture_around(&cap, "/run/in.pcapng", || {
            udp_exchange(a.ns(), b.ns(), SocketAddr::new(ip("10.1.0.2"), 40000)).unwrap();
        });
        let file = read(&std::fs::read("/run/in.pcapng").unwrap()).unwrap();
        assert!(stats.packets >= 1);
        assert!(file.packets.iter().all(|p| p.outgoing == Some(false)), "{:?}", file.packets);
        // The echo of the datagram comes back into a; the datagram out of a is not kept.
        assert!(file.packets.iter().any(|p| ipv4(p).is_some_and(|(proto, _)| proto == 17)));
        assert!(seen(&file.packets, "a:va", 17, 40000).is_empty());
    }
}

sandbox_test! {
    fn bad_targets_are_refused_naming_them() {
        let (a, b) = pair();
        let mut t = targets(&a, &b);
        t.push(Target::new("a:nope0", a.ns().try_clone().unwrap(), "nope0"));
        let e = Capture::open(t, &Options::default()).unwrap_err();
        assert!(matches!(e, Error::Open { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("a:nope0") && msg.contains("\"nope0\" not found"), "{msg}");

        let mut t = targets(&a, &b);
        t.push(Target::new("a:va", a.ns().try_clone().unwrap(), "va"));
        let e = Capture::open(t, &Options::default()).unwrap_err();
        assert_eq!(e.to_string(), "capture: a:va given twice");

        let e = Capture::open(Vec::new(), &Options::default()).unwrap_err();
        assert!(matches!(e, Error::NoTarget));

        let opts = Options { snaplen: 10, ..Options::default() };
        let e = Capture::open(targets(&a, &b), &opts).unwrap_err();
        assert!(e.to_string().contains("snaplen"), "{e}");
    }
}

sandbox_test! {
    fn a_short_snaplen_keeps_the_original_length() {
        let (a, b) = pair();
        let opts = Options { snaplen: 64, ..Options::default() };
        let t = vec![Target::new("b:vb", b.ns().try_clone().unwrap(), "vb")];
        let cap = Capture::open(t, &opts).unwrap();
        let path = "/run/snap.pcapng";
        capture_around(&cap, path, || {
            tcp_exchange(a.ns(), b.ns(), SocketAddr::new(ip("10.1.0.2"), 7001)).unwrap();
        });
        let file = read(&std::fs::read(path).unwrap()).unwrap();
        assert!(file.packets.iter().all(|p| p.data.len() <= 64));
        assert!(file.packets.iter().any(|p| p.orig_len > 64), "TCP with options is longer");
        assert!(!warren_testkit::oracle::tcpdump_read(path).is_empty());
    }
}
