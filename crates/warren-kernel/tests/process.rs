//! Kernel tests of a container's process: started inside its namespace with its hostname and
//! bound files, waited for with signals forwarded, and signalled by PID and start time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use warren_kernel::NetNs;
use warren_kernel::process::{
    self, ContainerSpawn, is_alive, signal_if_same, start_time, wait_forwarding,
};
use warren_testkit::sandbox_test;

/// Run `script` with `sh -c` as a container process; returns its stdout and exit code.
fn run_in(spawn: &ContainerSpawn<'_>, script: &str) -> (String, i32) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]).stdout(Stdio::piped());
    let mut child = spawn.spawn(&mut cmd).unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let code = wait_forwarding(&mut child).unwrap();
    (out, code)
}

fn write(path: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// The `SigBlk` (this thread) and `SigCgt` (the process) lines of /proc/thread-self/status.
fn signal_state() -> (String, String) {
    let status = read("/proc/thread-self/status");
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_owned()
    };
    (field("SigBlk:"), field("SigCgt:"))
}

/// True once this process catches `sig` (its bit is set in SigCgt).
fn catches(sig: Signal) -> bool {
    let status = read("/proc/self/status");
    let cgt = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .unwrap();
    let mask = u64::from_str_radix(cgt.trim(), 16).unwrap();
    mask & (1 << (sig as u32 - 1)) != 0
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

sandbox_test! {
    fn child_runs_in_the_namespace_with_its_hostname_and_files() {
        let ns = NetNs::new_anonymous("c1").unwrap();
        let host_name = read("/proc/sys/kernel/hostname");
        let host_resolv = read("/etc/resolv.conf");
        let host_hosts = read("/etc/hosts");
        let resolv = write("/run/gen/resolv.conf", "nameserver 10.9.9.9\n");
        let hosts = write("/run/gen/hosts", "10.9.9.2 web\n");
        let spawn = ContainerSpawn {
            netns: &ns,
            hostname: Some("web-1"),
            files: vec![
                (resolv, "/etc/resolv.conf".into()),
                (hosts, "/etc/hosts".into()),
            ],
        };
        let (out, code) = run_in(
            &spawn,
            "readlink /proc/self/ns/net; cat /proc/sys/kernel/hostname /etc/resolv.conf /etc/hosts",
        );
        assert_eq!(code, 0, "{out}");
        let expected = format!(
            "net:[{}]\nweb-1\nnameserver 10.9.9.9\n10.9.9.2 web\n",
            ns.id().ino
        );
        assert_eq!(out, expected);
        // Nothing leaked back to this process.
        assert_eq!(read("/proc/sys/kernel/hostname"), host_name);
        assert_eq!(read("/etc/resolv.conf"), host_resolv);
        assert_eq!(read("/etc/hosts"), host_hosts);
        assert_ne!(NetNs::current().unwrap().id(), ns.id());
    }
}

sandbox_test! {
    fn bound_files_are_read_only_in_the_child() {
        let ns = NetNs::new_anonymous("ro").unwrap();
        let src = write("/run/gen/hosts", "10.0.0.1 a\n");
        let spawn = ContainerSpawn {
            netns: &ns,
            hostname: None,
            files: vec![(src, "/etc/hosts".into())],
        };
        let (out, code) = run_in(&spawn, "echo x >> /etc/hosts 2>/dev/null; cat /etc/hosts");
        assert_eq!(out, "10.0.0.1 a\n");
        assert_eq!(code, 0);
        assert_eq!(read("/run/gen/hosts"), "10.0.0.1 a\n", "the source is untouched");
    }
}

sandbox_test! {
    fn a_symlinked_target_is_covered_where_it_points() {
        let ns = NetNs::new_anonymous("link").unwrap();
        write("/run/t/real.conf", "old\n");
        std::os::unix::fs::symlink("/run/t/real.conf", "/run/t/link.conf").unwrap();
        let src = write("/run/gen/new.conf", "new\n");
        let spawn = ContainerSpawn {
            netns: &ns,
            hostname: None,
            files: vec![(src, "/run/t/link.conf".into())],
        };
        let (out, code) = run_in(&spawn, "cat /run/t/link.conf /run/t/real.conf");
        assert_eq!((out.as_str(), code), ("new\nnew\n", 0));
        assert_eq!(read("/run/t/link.conf"), "old\n");
        let link = std::fs::read_link("/run/t/link.conf").unwrap();
        assert_eq!(link, Path::new("/run/t/real.conf"), "the link itself is left alone");
    }
}

sandbox_test! {
    fn without_hostname_or_files_only_the_namespace_changes() {
        let ns = NetNs::new_anonymous("plain").unwrap();
        let spawn = ContainerSpawn { netns: &ns, hostname: None, files: vec![] };
        let me = |kind: &str| std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        let script = "readlink /proc/self/ns/net /proc/self/ns/uts /proc/self/ns/mnt";
        let (out, code) = run_in(&spawn, script);
        assert_eq!(code, 0);
        let want = format!(
            "net:[{}]\n{}\n{}\n",
            ns.id().ino,
            me("uts").display(),
            me("mnt").display()
        );
        assert_eq!(out, want);
    }
}

sandbox_test! {
    fn exit_codes_pass_through_as_a_shell_reports_them() {
        let ns = NetNs::new_anonymous("exit").unwrap();
        let spawn = ContainerSpawn { netns: &ns, hostname: None, files: vec![] };
        assert_eq!(run_in(&spawn, "exit 7").1, 7);
        assert_eq!(run_in(&spawn, "kill -TERM $$").1, 143);
        assert_eq!(run_in(&spawn, "kill -KILL $$").1, 137);
    }
}

sandbox_test! {
    fn a_missing_bind_target_is_named_and_no_child_is_started() {
        let ns = NetNs::new_anonymous("missing").unwrap();
        let src = write("/run/gen/hosts", "x\n");
        let spawn = ContainerSpawn {
            netns: &ns,
            hostname: None,
            files: vec![(src, "/run/nowhere/hosts".into())],
        };
        let mut cmd = Command::new("true");
        let e = spawn.spawn(&mut cmd).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOENT), "{e}");
        assert!(e.to_string().contains("/run/nowhere/hosts"), "{e}");
        assert_eq!(waitpid(None, Some(WaitPidFlag::WNOHANG)), Err(Errno::ECHILD), "no child");
    }
}

sandbox_test! {
    fn a_missing_source_or_a_bad_hostname_is_refused_before_the_fork() {
        let ns = NetNs::new_anonymous("bad").unwrap();
        let missing = ContainerSpawn {
            netns: &ns,
            hostname: None,
            files: vec![("/run/gen/none".into(), "/etc/hosts".into())],
        };
        let e = missing.spawn(&mut Command::new("true")).unwrap_err();
        assert!(e.to_string().contains("/run/gen/none"), "{e}");
        let dir = ContainerSpawn {
            netns: &ns,
            hostname: None,
            files: vec![("/run".into(), "/etc/hosts".into())],
        };
        let e = dir.spawn(&mut Command::new("true")).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        let long = "h".repeat(65);
        let named = ContainerSpawn { netns: &ns, hostname: Some(&long), files: vec![] };
        let e = named.spawn(&mut Command::new("true")).unwrap_err();
        assert!(e.to_string().contains("invalid hostname"), "{e}");
        assert_eq!(waitpid(None, Some(WaitPidFlag::WNOHANG)), Err(Errno::ECHILD), "no child");
    }
}

sandbox_test! {
    fn a_missing_program_is_named() {
        let ns = NetNs::new_anonymous("noprog").unwrap();
        let spawn = ContainerSpawn { netns: &ns, hostname: Some("x"), files: vec![] };
        let e = spawn.spawn(&mut Command::new("/run/no-such-program")).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ENOENT), "{e}");
        assert!(e.to_string().contains("spawn /run/no-such-program"), "{e}");
    }
}

/// Start `sh` that exits 42 on SIGTERM and touches `ready` once its trap is set.
fn trapping_child(ns: &NetNs, ready: &str) -> std::process::Child {
    let spawn = ContainerSpawn {
        netns: ns,
        hostname: None,
        files: vec![],
    };
    let script = format!("trap 'exit 42' TERM; : > {ready}; while :; do sleep 0.05; done");
    spawn
        .spawn(Command::new("sh").args(["-c", &script]))
        .unwrap()
}

/// From another thread: once `ready` exists and this process catches SIGTERM, send SIGTERM to
/// this process.
fn term_self_when_ready(ready: &'static [&'static str]) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        wait_until("the children trap SIGTERM", || {
            ready.iter().all(|r| Path::new(r).exists())
        });
        wait_until("wait_forwarding catches SIGTERM", || {
            catches(Signal::SIGTERM)
        });
        kill(Pid::this(), Signal::SIGTERM).unwrap();
    })
}

sandbox_test! {
    fn sigterm_to_us_is_forwarded_and_our_signal_state_restored() {
        let ns = NetNs::new_anonymous("sig").unwrap();
        let before = signal_state();
        let mut child = trapping_child(&ns, "/run/ready");
        let killer = term_self_when_ready(&["/run/ready"]);
        assert_eq!(wait_forwarding(&mut child).unwrap(), 42);
        killer.join().unwrap();
        assert_eq!(signal_state(), before, "signal mask and handlers as they were");
        assert!(!catches(Signal::SIGTERM));
    }
}

sandbox_test! {
    fn concurrent_waits_each_get_the_signal() {
        let ns = NetNs::new_anonymous("two").unwrap();
        let before = signal_state();
        // A wait forwards only what arrives after it has started, which the test cannot see:
        // so SIGTERM is sent again and again, while a guard wait (whose child ignores it)
        // keeps the handlers installed, until both trapping children have exited.
        let spawn = ContainerSpawn { netns: &ns, hostname: None, files: vec![] };
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap '' TERM; : > /run/ready-guard; read line; exit 0"])
            .stdin(Stdio::piped());
        let mut guard = spawn.spawn(&mut cmd).unwrap();
        let guard_stdin = guard.stdin.take().unwrap();
        let guard_wait = std::thread::spawn(move || wait_forwarding(&mut guard).unwrap());
        let mut a = trapping_child(&ns, "/run/ready-a");
        let mut b = trapping_child(&ns, "/run/ready-b");
        let wait_a = std::thread::spawn(move || wait_forwarding(&mut a).unwrap());
        let wait_b = std::thread::spawn(move || wait_forwarding(&mut b).unwrap());
        let ready = ["/run/ready-guard", "/run/ready-a", "/run/ready-b"];
        wait_until("the children trap SIGTERM", || ready.iter().all(|r| Path::new(r).exists()));
        wait_until("wait_forwarding catches SIGTERM", || catches(Signal::SIGTERM));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(wait_a.is_finished() && wait_b.is_finished()) {
            assert!(Instant::now() < deadline, "SIGTERM never reached both children");
            kill(Pid::this(), Signal::SIGTERM).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(wait_a.join().unwrap(), 42);
        assert_eq!(wait_b.join().unwrap(), 42);
        drop(guard_stdin);
        assert_eq!(guard_wait.join().unwrap(), 0, "the guard ignored SIGTERM");
        // The process-wide part (handlers) is back once every wait is over.
        assert_eq!(signal_state(), before);
    }
}

sandbox_test! {
    fn signal_if_same_spares_a_different_start_time_and_a_dead_process() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let start = start_time(pid).unwrap();
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1));
        assert!(!signal_if_same(pid, start + 1, libc::SIGTERM).unwrap());
        assert!(is_alive(pid, start), "a wrong start time must not be signalled");
        assert!(signal_if_same(pid, start, libc::SIGTERM).unwrap());
        // Dead but not reaped: a zombie is not alive and is not signalled again.
        wait_until("the child is a zombie", || !is_alive(pid, start));
        assert_eq!(start_time(pid), Some(start), "the zombie still has its stat");
        assert!(!signal_if_same(pid, start, libc::SIGTERM).unwrap());
        assert_eq!(process::wait_forwarding(&mut child).unwrap(), 143);
        // Reaped: gone.
        assert_eq!(start_time(pid), None);
        assert!(!is_alive(pid, start));
        assert!(!signal_if_same(pid, start, libc::SIGTERM).unwrap());
        assert!(signal_if_same(0, start, libc::SIGTERM).is_err(), "PID 0 is refused");
    }
}
