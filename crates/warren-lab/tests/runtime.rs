//! A lab's runtime against the real kernel, each test in its own sandbox: node files at their
//! `/etc` paths, environment, commands in order, supervised daemons (logs, readiness, `after`
//! order, stop leaving no process), `exec` exit status.

#[path = "handmade/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{daemon, file, lab, node, other_processes, sh, wire};
use warren_lab::runtime::{self, DaemonState, Dirs, RuntimeError};
use warren_testkit::sandbox_test;

/// The supervisor of these tests is this test binary, running [`supervisor_entry`].
fn dirs() -> Dirs {
    let mut d = Dirs::discover();
    d.supervisor = vec![
        std::env::current_exe().unwrap().into_os_string(),
        "supervisor_entry".into(),
        "--exact".into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
    ];
    d
}

/// Not a test: the supervisor's body when [`start`](runtime::start) re-executes this binary.
#[test]
fn supervisor_entry() {
    if std::env::var_os(runtime::ENV_SUPERVISE).is_some() {
        std::process::exit(runtime::supervise_main());
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| (*s).to_owned()).collect()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

sandbox_test! {
    fn node_files_appear_at_their_etc_paths_with_env_and_hostname() {
        // A directory the host does not have: only an overlay can show it.
        assert!(!Path::new("/etc/warren-lab-test").exists());
        let mut a = node("rt", "a");
        let hosts = "127.0.0.1 localhost\n10.0.0.1 a\n10.0.0.2 b\n";
        a.files = vec![
            file("/etc/hosts", hosts),
            file("/etc/warren-lab-test/deep/x.conf", "router id 1;\n"),
        ];
        a.env.insert("ROLE".into(), "edge".into());
        a.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        let lab = lab("rt", vec![a, node("rt", "b")], &[("a", "eth0", "10.0.0.1/24", "b", "eth0", "10.0.0.2/24")]);
        wire(&lab);
        let d = dirs();
        runtime::apply_sysctls(&lab, lab.node("a").unwrap()).unwrap();
        let fwd = |n: &str| warren_kernel::sysctl::get(&common::ns(&lab, n), "net.ipv4.ip_forward").unwrap();
        assert_eq!((fwd("a").trim(), fwd("b").trim()), ("1", "0"), "only a's namespace");
        runtime::prepare_files(&lab, lab.node("a").unwrap(), &d).unwrap();
        let out = "/run/warren-state/out.txt";
        let script = format!(
            "{{ cat /etc/warren-lab-test/deep/x.conf; echo \"role=$ROLE node=$WARREN_NODE\"; \
             hostname; cat /etc/hosts; ls /sys/class/net; test -e /etc/passwd && echo host-etc; }} > {out}"
        );
        let code = runtime::exec(&lab, "a", &argv(&["/bin/sh", "-c", &script]), &d).unwrap();
        assert_eq!(code, 0);
        let got = std::fs::read_to_string(out).unwrap();
        assert!(got.starts_with("router id 1;\nrole=edge node=a\na\n"), "{got}");
        assert!(got.contains(hosts), "/etc/hosts is the node's: {got}");
        // /sys shows the node's namespace: its eth0, not the sandbox's links.
        assert!(got.contains("eth0\nlo\n"), "{got}");
        assert!(got.contains("host-etc"), "the host's other /etc files stay visible: {got}");
        // Nothing leaked onto the host's /etc.
        assert!(!Path::new("/etc/warren-lab-test").exists());
        // A node without files sees the host's /etc/hosts.
        let same = format!("cmp -s /etc/hosts {}", d.node_etc("rt", "a").join("hosts").display());
        assert_eq!(runtime::exec(&lab, "b", &argv(&["/bin/sh", "-c", &same]), &d).unwrap(), 1);
        assert_eq!(runtime::exec(&lab, "a", &argv(&["/bin/sh", "-c", &same]), &d).unwrap(), 0);
        // A path outside /etc is refused before anything is written.
        let mut bad = lab.node("a").unwrap().clone();
        bad.files.push(file("/etc/../root/x", "no"));
        let e = runtime::prepare_files(&lab, &bad, &d).unwrap_err();
        assert!(matches!(e, RuntimeError::Invalid { .. }), "{e}");
        assert!(e.to_string().contains("/etc/../root/x"), "{e}");
        runtime::remove_files("rt", &d).unwrap();
        assert!(!d.lab_run("rt").exists());
    }
}

sandbox_test! {
    fn exec_passes_the_exit_status_through() {
        let lab = lab("rx", vec![node("rx", "a")], &[]);
        wire(&lab);
        let d = dirs();
        for (script, want) in [("exit 0", 0), ("exit 7", 7), ("kill -TERM $$", 128 + 15)] {
            assert_eq!(runtime::exec(&lab, "a", &argv(&["/bin/sh", "-c", script]), &d).unwrap(), want, "{script}");
        }
        let e = runtime::exec(&lab, "zz", &argv(&["true"]), &d).unwrap_err();
        assert!(matches!(e, RuntimeError::NoSuchNode { .. }), "{e}");
        let e = runtime::exec(&lab, "a", &argv(&["/nonexistent/prog"]), &d).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/prog"), "{e}");
    }
}

sandbox_test! {
    fn commands_run_in_order_and_a_failure_names_node_command_status_and_stderr() {
        let mut a = node("rc", "a");
        a.exec = vec![sh("echo one >> /run/warren-state/order"), sh("echo two >> /run/warren-state/order")];
        let mut b = node("rc", "b");
        b.after = vec!["a".into()];
        b.exec = vec![sh("echo three >> /run/warren-state/order; echo boom >&2; exit 3"), sh("echo never >> /run/warren-state/order")];
        let lab = lab("rc", vec![a, b], &[]);
        wire(&lab);
        let d = dirs();
        let e = runtime::start(&lab, &["a", "b"], &d).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("node b") && msg.contains("status 3") && msg.contains("boom"), "{msg}");
        assert!(msg.contains("exit 3"), "names the command: {msg}");
        assert_eq!(std::fs::read_to_string("/run/warren-state/order").unwrap(), "one\ntwo\nthree\n");
        // The output is logged too.
        let log = std::fs::read_to_string(d.exec_log("rc", "b")).unwrap();
        assert!(log.contains("boom") && log.contains("[exit 3]"), "{log}");
        wait_for("no process left", Duration::from_secs(5), || other_processes().is_empty());
    }
}

sandbox_test! {
    fn daemons_are_supervised_logged_ready_in_after_order_and_stopped_without_leftovers() {
        // b: a TCP server, ready once it accepts; a: starts after b, its command connects to b.
        let server = "exec /usr/bin/python3 -c '\
import socket,sys\n\
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind((\"0.0.0.0\", 7000)); s.listen(8)\n\
print(\"listening\", flush=True)\n\
while True: c,_=s.accept(); c.sendall(b\"hello\\n\"); c.close()\n'";
        let probe = "/usr/bin/python3 -c 'import socket; socket.create_connection((\"10.0.0.2\", 7000), 1)'";
        let mut b = node("rd", "b");
        b.daemons = vec![
            // Started late on purpose: readiness must be waited for.
            daemon("web", &format!("sleep 0.5; {server}"), Some(probe), 5000),
            // A shell loop forking `sleep` children: stop must end them all.
            daemon("loop", "echo started; while :; do sleep 1; done", None, 0),
        ];
        let mut a = node("rd", "a");
        a.after = vec!["b".into()];
        a.exec = vec![sh(&format!("{probe} && echo reached > /run/warren-state/a-saw-b"))];
        a.daemons = vec![daemon("dies", "echo bye; exit 4", None, 0)];
        let lab = lab("rd", vec![a, b], &[("a", "eth0", "10.0.0.1/24", "b", "eth0", "10.0.0.2/24")]);
        wire(&lab);
        let d = dirs();
        runtime::start(&lab, &["a", "b"], &d).unwrap();
        assert_eq!(std::fs::read_to_string("/run/warren-state/a-saw-b").unwrap(), "reached\n");
        // The server answers from a's namespace.
        let got = common::ns(&lab, "a")
            .run(|| {
                use std::io::Read;
                let mut s = std::net::TcpStream::connect_timeout(&"10.0.0.2:7000".parse::<SocketAddr>().unwrap(), Duration::from_secs(2)).unwrap();
                let mut buf = String::new();
                s.read_to_string(&mut buf).unwrap();
                Ok(buf)
            })
            .unwrap();
        assert_eq!(got, "hello\n");
        // Status: two running, one exited with its status; logs written.
        wait_for("the exit of `dies` recorded", Duration::from_secs(5), || {
            runtime::status("rd", &d).iter().any(|s| s.daemon == "dies" && s.state == DaemonState::Exited(4))
        });
        let st = runtime::status("rd", &d);
        let state = |n: &str| st.iter().find(|s| s.daemon == n).map(|s| s.state.clone());
        assert_eq!(state("web"), Some(DaemonState::Running), "{st:?}");
        assert_eq!(state("loop"), Some(DaemonState::Running), "{st:?}");
        wait_for("logs", Duration::from_secs(5), || {
            std::fs::read_to_string(d.daemon_log("rd", "b", "loop")).is_ok_and(|l| l.contains("started"))
                && std::fs::read_to_string(d.daemon_log("rd", "b", "web")).is_ok_and(|l| l.contains("listening"))
        });
        assert_eq!(std::fs::read_to_string(d.daemon_log("rd", "a", "dies")).unwrap(), "bye\n");
        assert!(!other_processes().is_empty());
        // Re-apply of b: its daemons (and the loop's `sleep`) go, a's stay; b starts again.
        let before = other_processes().len();
        runtime::stop_nodes("rd", &["b"], &d).unwrap();
        let st = runtime::status("rd", &d);
        assert_eq!(st.iter().map(|s| s.daemon.as_str()).collect::<Vec<_>>(), vec!["dies"], "{st:?}");
        let after = other_processes();
        assert!(after.len() + 3 <= before, "web, loop and its sleep ended: {after:?}");
        runtime::start(&lab, &["b"], &d).unwrap();
        assert_eq!(runtime::status("rd", &d).len(), 3);
        // Stop: nothing is left, not even the loop's `sleep`.
        runtime::stop("rd", &d).unwrap();
        let left = other_processes();
        assert!(left.is_empty(), "left behind: {left:?}");
        assert!(runtime::status("rd", &d).is_empty());
        // Stopping again is fine.
        runtime::stop("rd", &d).unwrap();
    }
}

sandbox_test! {
    fn a_daemon_not_ready_in_time_is_named_and_nothing_is_left() {
        let mut a = node("rn", "a");
        a.daemons = vec![daemon("slow", "sleep 100", Some("echo not yet; exit 1"), 300)];
        let lab = lab("rn", vec![a], &[]);
        wire(&lab);
        let d = dirs();
        let t = Instant::now();
        let e = runtime::start(&lab, &["a"], &d).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("daemon slow") && msg.contains("not ready after 300 ms") && msg.contains("not yet"), "{msg}");
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        assert!(runtime::status("rn", &d).is_empty(), "a failed start leaves no record");
        wait_for("no process left", Duration::from_secs(5), || other_processes().is_empty());
        // A `ready` command that hangs is killed at the timeout.
        let mut h = node("rn", "h");
        h.daemons = vec![daemon("hang", "sleep 100", Some("sleep 100"), 300)];
        let lab = lab_with(lab, h);
        let t = Instant::now();
        let e = runtime::start(&lab, &["h"], &d).unwrap_err();
        assert!(e.to_string().contains("still running at the timeout"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        wait_for("no process left", Duration::from_secs(5), || other_processes().is_empty());
        // A daemon that exits while awaited is reported as such.
        let mut b = node("rn", "b");
        b.daemons = vec![daemon("crash", "exit 9", Some("exit 1"), 5000)];
        let lab2 = lab_with(lab, b);
        let e = runtime::start(&lab2, &["b"], &d).unwrap_err();
        assert!(e.to_string().contains("exited with status 9 before it was ready"), "{e}");
    }
}

fn lab_with(mut lab: warren_lab::model::Lab, n: warren_lab::model::Node) -> warren_lab::model::Lab {
    warren_kernel::netns::add_named(&n.netns, warren_kernel::netns::Source::New).unwrap();
    lab.nodes.push(n);
    lab
}
