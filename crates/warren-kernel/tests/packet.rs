//! Kernel tests of capture sockets: a packet socket on one end of a veth sees what crosses it,
//! with its direction and a current timestamp, and nothing of other interfaces.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use warren_kernel::addr::IpNet;
use warren_kernel::link::veth::Veth;
use warren_kernel::packet::{Direction, PacketMeta, PacketOptions, PacketSocket, wait_readable};
use warren_kernel::{Error, Handle, NetNs};
use warren_testkit::sandbox_test;

fn pair() -> (Handle, Handle) {
    let a = Handle::new(NetNs::new_anonymous("a").unwrap()).unwrap();
    let b = Handle::new(NetNs::new_anonymous("b").unwrap()).unwrap();
    a.link_add(&Veth::new("va", "vb").peer_netns(b.ns()).up().peer_up())
        .unwrap();
    for (h, dev, cidr) in [(&a, "va", "10.3.0.1/24"), (&b, "vb", "10.3.0.2/24")] {
        let idx = h.link_index(dev).unwrap();
        h.addr_add(idx, cidr.parse::<IpNet>().unwrap()).unwrap();
    }
    (a, b)
}

/// UDP destination port of an IPv4 Ethernet frame.
fn udp_port(frame: &[u8]) -> Option<u16> {
    if frame.len() < 42 || frame[12..14] != [8, 0] || frame[23] != 17 {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    Some(u16::from_be_bytes([
        frame[14 + ihl + 2],
        frame[14 + ihl + 3],
    ]))
}

/// Everything the socket holds within `wait`.
fn drain(s: &PacketSocket, wait: Duration) -> Vec<(PacketMeta, Vec<u8>)> {
    let mut out = Vec::new();
    let end = Instant::now() + wait;
    let mut buf = Vec::new();
    while Instant::now() < end {
        wait_readable(
            &[std::os::fd::AsFd::as_fd(s)],
            Some(Duration::from_millis(50)),
        )
        .unwrap();
        while let Some(m) = s.recv(&mut buf).unwrap() {
            out.push((m, buf.clone()));
        }
    }
    out
}

fn send_udp(from: &NetNs, port: u16) {
    from.run(|| {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.send_to(b"hello", SocketAddr::new(IpAddr::from([10, 3, 0, 2]), port))
            .unwrap();
        Ok(())
    })
    .unwrap();
}

sandbox_test! {
    fn a_packet_socket_sees_both_directions_with_timestamps() {
        let (a, b) = pair();
        let both = PacketSocket::open(a.ns(), "va", PacketOptions::default()).unwrap();
        let out_only = PacketSocket::open(
            a.ns(),
            "va",
            PacketOptions { direction: Direction::Out, ..PacketOptions::default() },
        )
        .unwrap();
        let on_b = PacketSocket::open(b.ns(), "vb", PacketOptions::default()).unwrap();
        let on_lo = PacketSocket::open(a.ns(), "lo", PacketOptions::default()).unwrap();
        assert_eq!(both.ifindex(), a.link_index("va").unwrap());
        send_udp(a.ns(), 40001);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;

        let seen = drain(&both, Duration::from_millis(300));
        let udp: Vec<&(PacketMeta, Vec<u8>)> =
            seen.iter().filter(|(_, d)| udp_port(d) == Some(40001)).collect();
        assert_eq!(udp.len(), 1, "{seen:?}");
        let (meta, data) = udp[0];
        assert!(meta.outgoing);
        assert_eq!(meta.orig_len as usize, data.len());
        assert!((meta.ts_sec - now).abs() <= 2, "{meta:?}");
        // ARP: the request goes out, the reply comes in.
        assert!(seen.iter().any(|(m, d)| d[12..14] == [8, 6] && !m.outgoing), "{seen:?}");

        let outs = drain(&out_only, Duration::from_millis(100));
        assert!(!outs.is_empty() && outs.iter().all(|(m, _)| m.outgoing));
        let at_b = drain(&on_b, Duration::from_millis(100));
        assert!(at_b.iter().any(|(m, d)| udp_port(d) == Some(40001) && !m.outgoing));
        // lo is down in this namespace: the socket reports nothing (not an error), and
        // nothing of va.
        assert!(drain(&on_lo, Duration::from_millis(50)).is_empty(), "nothing of va on lo");
        let st = both.stats().unwrap();
        assert!(st.packets as usize >= seen.len() && st.drops == 0, "{st:?}");

        // A link fault (down, then up) does not end the capture: the socket sees traffic
        // again afterwards.
        a.link_set_down("va").unwrap();
        assert!(drain(&both, Duration::from_millis(50)).iter().all(|(_, d)| udp_port(d).is_none()));
        a.link_set_up("va").unwrap();
        send_udp(a.ns(), 40002);
        let again = drain(&both, Duration::from_millis(300));
        assert!(again.iter().any(|(m, d)| udp_port(d) == Some(40002) && m.outgoing), "{again:?}");
    }
}

sandbox_test! {
    fn a_missing_interface_and_a_tiny_snaplen_are_refused() {
        let (a, _b) = pair();
        let e = PacketSocket::open(a.ns(), "nope0", PacketOptions::default()).unwrap_err();
        assert!(matches!(&e, Error::NotFound { name, ns, .. } if name == "nope0" && ns == "a"), "{e}");
        let opts = PacketOptions { snaplen: 10, ..PacketOptions::default() };
        let e = PacketSocket::open(a.ns(), "va", opts).unwrap_err();
        assert!(e.to_string().contains("snaplen"), "{e}");
    }
}
