//! `warren ns` and iproute2's `ip netns` are interchangeable: each uses the other's
//! namespaces, they list, identify and number them alike, and leave the same mounts.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use warren_testkit::{cli::Cli, run, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

fn warren(args: &[&str]) -> Output {
    WARREN.output(args)
}

fn ok(args: &[&str]) -> String {
    WARREN.ok(args)
}

fn link_names(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_owned())
        .collect()
}

/// The mountinfo line of `path`, as (optional fields with numbers blanked, fs type).
fn mount_shape(mountinfo: &str, path: &str) -> Vec<(Vec<String>, String)> {
    mountinfo
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(path))
        .map(|l| {
            let (pre, post) = l.split_once(" - ").unwrap();
            let optional = pre
                .split(' ')
                .skip(6)
                .map(|f| f.split(':').next().unwrap_or_default().to_owned() + ":N")
                .collect();
            (
                optional,
                post.split(' ').next().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The peer group (`shared:N`) of the mount at `path`.
fn peer_group(mountinfo: &str, path: &str) -> Option<String> {
    let line = mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(path))?;
    line.split(' ')
        .find(|f| f.starts_with("shared:"))
        .map(str::to_owned)
}

sandbox_test! {
    fn namespaces_cross_over_both_ways() {
        // warren → ip.
        ok(&["ns", "add", "fromwarren"]);
        let listed = run("ip", &["netns", "list"]);
        assert!(listed.lines().any(|l| l.split(' ').next() == Some("fromwarren")), "{listed}");
        let links = run("ip", &["netns", "exec", "fromwarren", "ip", "-j", "link"]);
        assert_eq!(link_names(&links), ["lo"]);
        // ip → warren.
        run("ip", &["netns", "add", "fromip"]);
        let listed = ok(&["ns", "list"]);
        assert!(listed.lines().any(|l| l.split(' ').next() == Some("fromip")), "{listed}");
        let links = ok(&["ns", "exec", "fromip", "ip", "-j", "link"]);
        assert_eq!(link_names(&links), ["lo"]);
        // Each can delete the other's.
        ok(&["ns", "delete", "fromip"]);
        run("ip", &["netns", "delete", "fromwarren"]);
        assert_eq!(ok(&["ns", "list"]), "");
    }
}

/// Wait until process `pid` runs the program `comm` (after its namespace switches).
fn wait_for_comm(pid: u32, comm: &str) {
    for _ in 0..500 {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("process {pid} never became {comm}");
}

/// Wait until process `pid` has an inotify instance with a watch on it.
fn wait_for_inotify(pid: u32) {
    for _ in 0..500 {
        let watching = std::fs::read_dir(format!("/proc/{pid}/fdinfo")).is_ok_and(|d| {
            d.flatten()
                .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("inotify wd:")))
        });
        if watching {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("process {pid} never watched anything");
}

/// A child killed and reaped when dropped, so a failing test does not wait for it.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

sandbox_test! {
    fn identify_and_pids_agree_with_ip() {
        ok(&["ns", "add", "w1"]);
        run("ip", &["netns", "add", "i1"]);
        let mut sleepers = Vec::new();
        for (tool, name) in [(WARREN.0, "w1"), ("ip", "i1")] {
            let args: Vec<&str> = if tool == "ip" {
                vec!["netns", "exec", name, "sleep", "60"]
            } else {
                vec!["ns", "exec", name, "sleep", "60"]
            };
            sleepers.push((name, Killed(Command::new(tool).args(&args).spawn().unwrap())));
        }
        for (_, child) in &sleepers {
            wait_for_comm(child.0.id(), "sleep");
        }
        for (name, child) in &sleepers {
            let pid = child.0.id().to_string();
            let ip_says = run("ip", &["netns", "identify", &pid]);
            assert_eq!(ip_says, format!("{name}\n"));
            assert_eq!(ok(&["ns", "identify", &pid]), ip_says);
            assert_eq!(ok(&["ns", "pids", name]), run("ip", &["netns", "pids", name]));
        }
        assert_eq!(ok(&["ns", "identify"]), run("ip", &["netns", "identify"]));
    }
}

sandbox_test! {
    fn same_mount_propagation_as_ip() {
        run("ip", &["netns", "add", "byip"]);
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let ip_dir = mount_shape(&mi, "/run/netns");
        let ip_ns = mount_shape(&mi, "/run/netns/byip");
        assert_eq!(ip_ns.len(), 1);
        assert_eq!(ip_ns[0].1, "nsfs");

        // Tear ip's setup down completely, then let warren do it from scratch.
        run("ip", &["netns", "delete", "byip"]);
        while nix::mount::umount2("/run/netns", nix::mount::MntFlags::MNT_DETACH).is_ok() {}
        ok(&["ns", "add", "bywarren"]);
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(mount_shape(&mi, "/run/netns"), ip_dir, "{mi}");
        assert_eq!(mount_shape(&mi, "/run/netns/bywarren"), ip_ns, "{mi}");

        // Either tool reuses the other's /run/netns mount rather than stacking another.
        run("ip", &["netns", "add", "byip2"]);
        ok(&["ns", "add", "bywarren2"]);
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(mount_shape(&mi, "/run/netns").len(), ip_dir.len(), "{mi}");
        assert_eq!(mount_shape(&mi, "/run/netns/byip2"), mount_shape(&mi, "/run/netns/bywarren2"));
        // A namespace mounted now propagates into a mount namespace made later, as with ip.
        let mut seen = Command::new("unshare")
            .args(["-m", "--propagation", "unchanged", "sh", "-c", "echo ready; read go; ls /run/netns"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(seen.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready", "the later mount namespace exists");
        ok(&["ns", "add", "late"]);
        writeln!(seen.stdin.take().unwrap(), "go").unwrap();
        let listed: Vec<String> = lines.map_while(Result::ok).collect();
        let _ = seen.wait();
        assert!(listed.iter().any(|l| l == "late"), "{listed:?}");
    }
}

sandbox_test! {
    fn nsids_and_listings_match_ip() {
        ok(&["ns", "add", "a1", "a2", "a3"]);
        run("ip", &["netns", "add", "b1"]);
        ok(&["ns", "set", "a1", "7"]);
        run("ip", &["netns", "set", "b1", "9"]);
        ok(&["ns", "set", "a2", "auto"]);
        let ip_ids = run("ip", &["netns", "list-id"]);
        assert!(ip_ids.contains("nsid 7 (iproute2 netns name: a1)"), "{ip_ids}");
        assert_eq!(ok(&["ns", "list-id"]), ip_ids);
        assert_eq!(ok(&["ns", "list-id", "nsid", "9"]), run("ip", &["netns", "list-id", "nsid", "9"]));
        // Seen from a1 (target-nsid 7): give a1 ids for b1 and a2, then compare.
        run("ip", &["-n", "a1", "netns", "set", "b1", "3"]);
        ok(&["-n", "a1", "ns", "set", "a2", "4"]);
        let ip_target = run("ip", &["netns", "list-id", "target-nsid", "7"]);
        assert!(ip_target.contains("nsid 3 current-nsid 9 "), "{ip_target}");
        assert_eq!(ok(&["ns", "list-id", "target-nsid", "7"]), ip_target);
        // Readdir order, ids, text and JSON exactly as ip prints them.
        let ip_list = run("ip", &["netns", "list"]);
        assert!(ip_list.contains("b1 (id: 9)"), "{ip_list}");
        assert_eq!(ok(&["ns", "list"]), ip_list);
        let ip_json: serde_json::Value = serde_json::from_str(&run("ip", &["-j", "netns", "list"])).unwrap();
        let ours: serde_json::Value = serde_json::from_str(&ok(&["ns", "list", "-j"])).unwrap();
        assert_eq!(ours, ip_json);
        let ours: serde_json::Value = serde_json::from_str(&ok(&["-j", "ns", "list"])).unwrap();
        assert_eq!(ours, ip_json);
        // Errors: an id already set is the kernel's refusal (exit 2), as with ip.
        let out = warren(&["ns", "set", "a1", "8"]);
        assert_eq!(out.status.code(), Some(2));
        let ip_out = Command::new("ip").args(["netns", "set", "a1", "8"]).output().unwrap();
        assert_eq!(ip_out.status.code(), Some(2));
        let ip_err = String::from_utf8_lossy(&ip_out.stderr);
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("warren: {ip_err}"));
        let out = warren(&["ns", "list-id", "nsid", "99"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("Error: Peer netns reference is invalid."));
        let out = warren(&["ns", "set", "nosuch", "3"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "warren: Cannot open network namespace \"nosuch\": No such file or directory\n"
        );
        // A number naming no namespace is a PID (as upstream iproute2 does).
        let sleeper = Killed(Command::new("unshare").args(["-n", "sleep", "60"]).spawn().unwrap());
        wait_for_comm(sleeper.0.id(), "sleep");
        ok(&["ns", "set", &sleeper.0.id().to_string(), "11"]);
        assert!(run("ip", &["netns", "list-id"]).contains("nsid 11 "));
    }
}

sandbox_test! {
    fn monitor_reports_warren_and_ip_changes() {
        let mut mon = Command::new(WARREN.0).args(["ns", "monitor"]).stdout(Stdio::piped()).spawn().unwrap();
        let stdout = mon.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        wait_for_inotify(mon.id());
        ok(&["ns", "add", "m1"]);
        run("ip", &["netns", "add", "m2"]);
        ok(&["ns", "delete", "m1"]);
        run("ip", &["netns", "delete", "m2"]);
        let mut got = Vec::new();
        while got.len() < 4 {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(l) => got.push(l),
                Err(_) => break,
            }
        }
        let _ = mon.kill();
        let _ = mon.wait();
        // Piped, and still line by line: warren flushes each line.
        assert_eq!(got, ["add m1", "add m2", "delete m1", "delete m2"]);
    }
}

sandbox_test! {
    fn a_shared_run_gets_no_copies_of_namespace_mounts() {
        // As on a systemd host: /run is a shared mount. warren makes /run/netns a peer group of
        // its own (iproute2 upstream 82c8b9fe; ip 6.1 here does not, and its namespace mounts
        // are then copied onto /run's peers), so each namespace is mounted exactly once.
        nix::mount::mount(None::<&str>, "/run", None::<&str>, nix::mount::MsFlags::MS_SHARED, None::<&str>).unwrap();
        ok(&["ns", "add", "solo"]);
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let run = peer_group(&mi, "/run");
        assert!(run.is_some(), "{mi}");
        let netns = peer_group(&mi, "/run/netns");
        assert!(netns.is_some(), "/run/netns is shared: {mi}");
        assert_ne!(netns, run, "a peer group of its own: {mi}");
        assert_eq!(mount_shape(&mi, "/run/netns/solo").len(), 1, "mounted once: {mi}");
        assert_eq!(mi.lines().filter(|l| l.contains(" - nsfs ")).count(), 1, "{mi}");
    }
}
