//! The scanner against the real kernel: every kind of holder, and speed with 1,000 namespaces.

use std::time::Instant;

use warren_kernel::NetNs;
use warren_netns::{named, scan};
use warren_testkit::sandbox_test;

/// A child killed and reaped when dropped, so a failing test does not wait for it.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

sandbox_test! {
    fn a_thousand_namespaces_scan_in_well_under_a_second() {
        let names = named::numbered("s", 1000);
        let made = named::add(&names, named::AddOptions::default()).unwrap();
        assert!(made.iter().all(Result::is_ok));
        drop(made);
        let t0 = Instant::now();
        let rows = scan::all().unwrap();
        let took = t0.elapsed();
        eprintln!("scan of {} namespaces took {took:?}", rows.len());
        let named_rows: Vec<_> = rows.iter().filter(|r| !r.names.is_empty()).collect();
        assert_eq!(named_rows.len(), 1000);
        assert!(named_rows.iter().all(|r| r.interfaces == Some(1) && r.processes == 0));
        // Generous for a shared two-core machine; typically a small fraction of this.
        assert!(took.as_millis() < 1000, "scan took {took:?}");
    }
}

sandbox_test! {
    fn rows_carry_nsids_names_and_descriptor_holders() {
        let red = named::add(&["red".to_string()], named::AddOptions { lo_up: true }).unwrap().remove(0).unwrap();
        warren_kernel::Handle::current().unwrap().nsid_set(&red, Some(4)).unwrap();
        // A second name for the same namespace (a symlink, as some tools make).
        std::os::unix::fs::symlink("/run/netns/red", "/run/netns/red-alias").unwrap();
        let held = NetNs::new_anonymous("held").unwrap();
        // This process is excluded from the descriptor scan (it is the scanner): spawn a holder.
        let holder = Killed(
            std::process::Command::new("sleep")
                .arg("60")
                .stdin(std::fs::File::open(warren_testkit::oracle::ns_path(&held)).unwrap())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let rows = scan::all().unwrap();
        let r = rows.iter().find(|r| r.ino == red.id().ino).unwrap();
        assert_eq!(r.nsid, Some(4));
        let mut names = r.names.clone();
        names.sort();
        assert_eq!(names, ["red", "red-alias"]);
        assert_eq!(r.names.len(), 2);
        assert_eq!(r.interfaces, Some(1));
        let h = rows.iter().find(|r| r.ino == held.id().ino).unwrap();
        let holder_pid = i32::try_from(holder.0.id()).unwrap();
        assert_eq!(h.fds.iter().map(|f| (f.pid, f.fd)).collect::<Vec<_>>(), [(holder_pid, 0)]);
        assert_eq!(h.processes, 0);
        assert_eq!(rows.iter().filter(|r| r.current).count(), 1);
        assert!(rows[0].current, "the current namespace comes first");
    }
}

sandbox_test! {
    fn a_namespace_held_only_by_a_thread_counts_its_process() {
        let anon = NetNs::new_anonymous("thread-only").unwrap();
        let id = anon.id();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            anon.enter().unwrap();
            drop(anon);
            ready_tx.send(()).unwrap();
            let _ = stop_rx.recv();
        });
        ready_rx.recv().unwrap();
        let rows = scan::all().unwrap();
        let r = rows.iter().find(|r| r.ino == id.ino).expect("thread-held namespace listed");
        assert_eq!(r.processes, 1);
        assert_eq!(r.main.as_ref().map(|m| m.pid), Some(i32::try_from(std::process::id()).unwrap()));
        assert!(r.fds.is_empty());
        assert_eq!(r.interfaces, Some(1), "opened through the thread's ns file");
        stop_tx.send(()).unwrap();
        t.join().unwrap();
    }
}

sandbox_test! {
    fn a_namespace_held_only_by_a_socket_is_found() {
        let anon = NetNs::new_anonymous("sock-only").unwrap();
        let id = anon.id();
        // A socket made inside the namespace, handed to a child as its stdin; then every other
        // reference (our descriptor, our socket) is dropped: only the child's socket pins it.
        let sock = anon
            .run(|| Ok(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()))
            .unwrap();
        let holder = Killed(
            std::process::Command::new("sleep")
                .arg("60")
                .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(sock)))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        drop(anon);
        let rows = scan::all().unwrap();
        let r = rows
            .iter()
            .find(|r| r.ino == id.ino)
            .unwrap_or_else(|| panic!("socket-held namespace {id:?} not found"));
        let pid = i32::try_from(holder.0.id()).unwrap();
        assert_eq!(r.fds, [scan::FdRef { pid, fd: 0, socket: true }]);
        assert_eq!(r.processes, 0, "nobody lives there");
        assert!(r.names.is_empty() && r.mounts.is_empty());
        assert_eq!(r.interfaces, Some(1), "opened through the scanner's own duplicate");
        // The JSON marks the holder as a socket.
        let json = serde_json::to_value(r).unwrap();
        assert_eq!(json["fds"][0]["socket"], true, "{json}");
    }
}
