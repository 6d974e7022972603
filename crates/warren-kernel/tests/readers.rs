//! The readers `warren inspect` and `warren trace` use, against the real kernel: policy
//! rules (oracle `ip -j rule`), sockets with their owning process (sock_diag + /proc),
//! conntrack entries with their NAT reply tuple, and the routing sysctls.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use warren_kernel::rule::Action;
use warren_kernel::sockdiag::{self, Proto};
use warren_kernel::{Handle, NetNs, conntrack, sysctl};
use warren_testkit::{run, sandbox_test};

sandbox_test! {
    fn policy_rules_read_back_like_ip_rule() {
        run("ip", &["rule", "add", "pref", "1000", "from", "10.1.0.0/24", "iif", "lo", "lookup", "100"]);
        run("ip", &["rule", "add", "pref", "1001", "fwmark", "0x10/0xff", "blackhole"]);
        run("ip", &["-6", "rule", "add", "pref", "2000", "to", "fd00::/8", "lookup", "200"]);
        let rules = Handle::current().unwrap().rules().unwrap();
        let oracle: serde_json::Value =
            serde_json::from_str(&run("ip", &["-j", "rule", "show"])).unwrap();
        let oracle6: serde_json::Value =
            serde_json::from_str(&run("ip", &["-j", "-6", "rule", "show"])).unwrap();
        let prios: Vec<u64> = oracle
            .as_array()
            .unwrap()
            .iter()
            .chain(oracle6.as_array().unwrap())
            .map(|r| r["priority"].as_u64().unwrap())
            .collect();
        assert_eq!(rules.iter().map(|r| u64::from(r.priority)).collect::<Vec<_>>(), prios);
        let r = rules.iter().find(|r| r.priority == 1000).unwrap();
        assert_eq!(r.to_string(), "1000:\tfrom 10.1.0.0/24 iif lo lookup 100");
        let b = rules.iter().find(|r| r.priority == 1001).unwrap();
        assert_eq!((b.action, b.fwmark, b.fwmask), (Action::Blackhole, Some(0x10), Some(0xff)));
        let v6 = rules.iter().find(|r| r.priority == 2000).unwrap();
        assert_eq!(v6.to_string(), "2000:\tfrom all to fd00::/8 lookup 200");
    }
}

sandbox_test! {
    fn sockets_are_listed_with_their_owning_process() {
        let h = Handle::current().unwrap();
        h.link_set_up("lo").unwrap();
        let ns = NetNs::current().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let udp = UdpSocket::bind("[::1]:0").unwrap();
        let all = sockdiag::sockets(&ns).unwrap();
        let listen = all
            .iter()
            .find(|s| s.proto == Proto::Tcp && s.state_name() == "LISTEN" && s.local.port() == port)
            .expect("the listener");
        let conn = all
            .iter()
            .find(|s| s.state_name() == "ESTAB" && s.local == client.local_addr().unwrap())
            .expect("the connected client");
        assert_eq!(conn.peer, SocketAddr::from(([127, 0, 0, 1], port)));
        let u = all
            .iter()
            .find(|s| s.proto == Proto::Udp && s.local == udp.local_addr().unwrap())
            .expect("the udp socket");
        assert_eq!(u.state_name(), "UNCONN");
        let inodes: HashSet<u64> = [listen.inode, conn.inode, u.inode].into();
        let owners = sockdiag::owners(&inodes);
        for i in inodes {
            let o = &owners[&i];
            assert!(o.iter().any(|o| o.pid == std::process::id() as i32), "{o:?}");
        }
    }
}

sandbox_test! {
    fn conntrack_entries_show_the_nat_reply_tuple() {
        if std::process::Command::new("nft").arg("--version").output().is_err() {
            warren_testkit::skip("nft is not installed: cannot make a NAT rule");
            return;
        }
        let h = Handle::current().unwrap();
        h.link_set_up("lo").unwrap();
        // Local traffic to port 7000 goes to 7001: one NATed conntrack entry.
        let rules = "table ip t {\n chain out {\n type nat hook output priority -100;\n \
                     udp dport 7000 redirect to :7001\n }\n}\n";
        std::fs::write("/run/ct.nft", rules).unwrap();
        run("nft", &["-f", "/run/ct.nft"]);
        let srv = UdpSocket::bind("127.0.0.1:7001").unwrap();
        srv.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let cli = UdpSocket::bind("127.0.0.1:0").unwrap();
        cli.send_to(b"x", "127.0.0.1:7000").unwrap();
        let mut b = [0u8; 4];
        srv.recv_from(&mut b).unwrap();
        let ns = NetNs::current().unwrap();
        let entries = conntrack::entries(&ns).unwrap();
        let e = entries
            .iter()
            .find(|e| e.orig.proto == 17 && e.orig.dport == 7000)
            .unwrap_or_else(|| panic!("no entry in {entries:?}"));
        assert!(e.is_nat(), "{e}");
        let reply = e.reply.as_ref().unwrap();
        assert_eq!(reply.sport, 7001, "{e}");
        assert_eq!(reply.dport, cli.local_addr().unwrap().port());
        assert!(e.timeout.is_some_and(|t| t > 0), "{e}");
        assert!(e.to_string().starts_with("udp 17 "), "{e}");
    }
}

sandbox_test! {
    fn routing_sysctls_read_back() {
        let ns = NetNs::current().unwrap();
        sysctl::set(&ns, "net.ipv4.ip_forward", "1").unwrap();
        sysctl::set(&ns, "net.ipv4.conf.lo.rp_filter", "2").unwrap();
        let got = sysctl::routing(&ns, &["lo".to_owned()]).unwrap();
        let get = |k: &str| got.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("net.ipv4.ip_forward"), Some("1"));
        assert_eq!(get("net.ipv4.conf.lo.rp_filter"), Some("2"));
        assert_eq!(get("net.ipv4.conf.all.forwarding"), Some("1"));
    }
}
