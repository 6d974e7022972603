//! `warren ns` end to end: exec (no fork, status, /sys, /etc/netns), list --all, gc, bulk add,
//! and ip's errors and exit codes for bad input. Every test runs in its own sandbox.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use warren_testkit::{cli::Cli, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

fn warren(args: &[&str]) -> Output {
    WARREN.output(args)
}

fn ok(args: &[&str]) -> String {
    WARREN.ok(args)
}

fn fails(args: &[&str], code: i32) -> String {
    WARREN.fails_with(args, code)
}

fn ino(path: &str) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {path}: {e}"))
        .ino()
}

fn run_dir_entries() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn nsfs_mounts() -> usize {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines().filter(|l| l.contains(" - nsfs ")).count()
}

/// A process that sleeps; killed when dropped.
struct Sleeper(Child);

impl Sleeper {
    fn spawn(prog: &str, args: &[&str]) -> Sleeper {
        let c = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn");
        let s = Sleeper(c);
        // Wait until it has become `sleep` (after any unshare or namespace switch).
        for _ in 0..200 {
            if std::fs::read_to_string(format!("/proc/{}/comm", s.pid()))
                .is_ok_and(|c| c.trim() == "sleep")
            {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{prog} {args:?} did not become sleep");
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

sandbox_test! {
    fn exec_replaces_warren_and_passes_the_status_through() {
        ok(&["ns", "add", "red"]);
        let out = warren(&["ns", "exec", "red", "sh", "-c", "exit 7"]);
        assert_eq!(out.status.code(), Some(7));
        // A signal shows as a signal: the command is warren's own process.
        let out = warren(&["ns", "exec", "red", "sh", "-c", "kill -9 $$"]);
        assert_eq!(out.status.signal(), Some(9), "{:?}", out.status);
        // Same PID: no fork.
        let child = Command::new(WARREN.0)
            .args(["ns", "exec", "red", "sh", "-c", "echo $$"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pid.to_string());
        // Inside, the namespace is red's.
        let inside = ok(&["ns", "exec", "red", "readlink", "/proc/self/ns/net"]);
        assert_eq!(inside.trim(), format!("net:[{}]", ino("/run/netns/red")));
        // The command's own options stay its own.
        let links: serde_json::Value = serde_json::from_str(&ok(&["ns", "exec", "red", "ip", "-j", "link"])).unwrap();
        assert_eq!(links.as_array().map(Vec::len), Some(1));
        // warren's own options after the namespace belong to the command.
        let echoed = ok(&["ns", "exec", "red", "sh", "-c", "echo \"$@\"", "sh", "--help", "-n", "x", "-j", "-V"]);
        assert_eq!(echoed, "--help -n x -j -V\n");
        // Failing to exec: ip's message, exit 1.
        let err = fails(&["ns", "exec", "red", "/nonexistent/prog"], 1);
        assert!(err.contains("exec of \"/nonexistent/prog\" failed: No such file or directory"), "{err}");
    }
}

sandbox_test! {
    fn exec_shows_the_namespaces_sys_and_binds_etc_netns() {
        ok(&["ns", "add", "red"]);
        warren_testkit::run("ip", &["-n", "red", "link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        let inside = ok(&["ns", "exec", "red", "ls", "/sys/class/net"]);
        let mut got: Vec<&str> = inside.split_whitespace().collect();
        got.sort_unstable();
        assert_eq!(got, ["lo", "v0", "v1"]);
        // The sandbox's own /sys is untouched.
        assert!(!Path::new("/sys/class/net/v0").exists());
        // /etc is the host's: put a private tmpfs over it (keeping what programs need), then
        // make /etc/netns/red/hosts.
        let keep: Vec<(String, Vec<u8>)> = ["ld.so.cache", "hosts", "passwd", "group", "nsswitch.conf"]
            .iter()
            .filter_map(|f| Some((f.to_string(), std::fs::read(format!("/etc/{f}")).ok()?)))
            .collect();
        nix::mount::mount(Some("tmpfs"), "/etc", Some("tmpfs"), nix::mount::MsFlags::empty(), None::<&str>).unwrap();
        for (f, data) in &keep {
            std::fs::write(format!("/etc/{f}"), data).unwrap();
        }
        std::fs::write("/etc/hosts", "127.0.0.1 outside\n").unwrap();
        std::fs::create_dir_all("/etc/netns/red").unwrap();
        std::fs::write("/etc/netns/red/hosts", "127.0.0.1 inside-red\n").unwrap();
        std::fs::write("/etc/netns/red/missing.conf", "x\n").unwrap();
        let out = warren(&["ns", "exec", "red", "cat", "/etc/hosts"]);
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "127.0.0.1 inside-red\n");
        // A missing target only warns, in ip's words.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("Bind /etc/netns/red/missing.conf -> /etc/missing.conf failed: No such file or directory"),
            "{stderr}"
        );
        assert_eq!(std::fs::read_to_string("/etc/hosts").unwrap(), "127.0.0.1 outside\n");
        // By path and by pid:N there is no name, so no /etc binds.
        assert_eq!(ok(&["ns", "exec", "/run/netns/red", "cat", "/etc/hosts"]), "127.0.0.1 outside\n");
    }
}

sandbox_test! {
    fn exec_pids_and_identify_take_paths_and_pids() {
        ok(&["ns", "add", "red"]);
        let red = ino("/run/netns/red");
        let sleeper = Sleeper::spawn(WARREN.0, &["ns", "exec", "red", "sleep", "60"]);
        let pid = sleeper.pid().to_string();
        let spec = format!("pid:{pid}");
        for s in [spec.as_str(), "/run/netns/red", "red"] {
            let inside = ok(&["ns", "exec", s, "readlink", "/proc/self/ns/net"]);
            assert_eq!(inside.trim(), format!("net:[{red}]"), "exec {s}");
            let pids = ok(&["ns", "pids", s]);
            assert_eq!(pids.lines().collect::<Vec<_>>(), [pid.as_str()], "pids {s}");
        }
        assert_eq!(ok(&["ns", "identify", &pid]), "red\n");
        assert_eq!(ok(&["ns", "identify", &spec]), "red\n");
        assert_eq!(ok(&["ns", "identify", &format!("/proc/{pid}/ns/net")]), "red\n");
        // This process is in no named namespace: an empty line, exit 0.
        assert_eq!(ok(&["ns", "identify"]), "\n");
    }
}

sandbox_test! {
    fn bad_input_gets_ips_errors_and_leaves_nothing() {
        let long = "n".repeat(256);
        for bad in ["a/b", "..", ".", long.as_str()] {
            let err = fails(&["ns", "add", bad], 255);
            assert!(err.contains(&format!("Invalid netns name \"{bad}\"")), "{err}");
        }
        assert!(run_dir_entries().is_empty(), "{:?}", run_dir_entries());
        let err = fails(&["ns", "add", "ok1", "a/b"], 255);
        assert!(err.contains("Invalid netns name \"a/b\""), "{err}");
        assert!(run_dir_entries().is_empty(), "nothing created when one name is bad");

        ok(&["ns", "add", "red"]);
        let red = ino("/run/netns/red");
        let err = fails(&["ns", "add", "red"], 1);
        assert!(err.contains("Cannot create namespace file \"/run/netns/red\": File exists"), "{err}");
        assert_eq!(ino("/run/netns/red"), red, "the first one is untouched");

        let err = fails(&["ns", "delete", "nosuch"], 1);
        assert!(err.contains("Cannot remove namespace file \"/run/netns/nosuch\": No such file or directory"), "{err}");
        let err = fails(&["ns", "exec", "nosuch", "true"], 255);
        assert!(err.contains("Cannot open network namespace \"nosuch\": No such file or directory"), "{err}");
        let err = fails(&["ns", "pids", "nosuch"], 1);
        assert!(err.contains("Cannot open network namespace: No such file or directory"), "{err}");
        let err = fails(&["ns", "identify", "abc"], 1);
        assert!(err.contains("Specified string 'abc' is not a pid"), "{err}");
        let err = fails(&["ns", "attach", "gone", "999999999"], 1);
        assert!(err.contains("Bind /proc/999999999/ns/net -> /run/netns/gone failed: No such file or directory"), "{err}");
        let err = fails(&["ns", "attach", "gone", "abc"], 1);
        assert!(err.contains("Invalid PID: abc"), "{err}");
        assert!(!Path::new("/run/netns/gone").exists(), "placeholder removed");
        let err = fails(&["ns", "frobnicate"], 255);
        assert!(err.contains("Command \"frobnicate\" is unknown"), "{err}");
        fails(&["ns", "help"], 255);
        fails(&["ns", "delete"], 1);
        fails(&["ns", "exec", "red"], 1);
        assert_eq!(run_dir_entries(), ["red"]);
        // Errors are printed once, with warren's prefix.
        let err = fails(&["ns", "delete", "nosuch"], 1);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("warren: "), "{err}");
        // Several names: a missing one in the middle is reported and the others still go.
        ok(&["ns", "add", "one", "two"]);
        let err = fails(&["ns", "delete", "one", "nosuch", "two"], 1);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("\"/run/netns/nosuch\""), "{err}");
        assert_eq!(run_dir_entries(), ["red"]);
    }
}

sandbox_test! {
    fn bulk_add_makes_live_mounts_and_delete_all_removes_them() {
        let t0 = std::time::Instant::now();
        ok(&["ns", "add", "--count", "200", "--prefix", "t", "--lo-up"]);
        eprintln!("200 namespaces added in {:?}", t0.elapsed());
        let names = run_dir_entries();
        assert_eq!(names.len(), 200);
        assert_eq!(nsfs_mounts(), 200);
        for i in [0, 99, 199] {
            let name = format!("t{i}");
            assert!(warren_kernel::netns::is_live_mount(&Path::new("/run/netns").join(&name)), "{name}");
        }
        let listed = warren_testkit::run("ip", &["netns", "list"]);
        assert_eq!(listed.lines().count(), 200);
        let lo = warren_testkit::oracle::link_in("/run/netns/t7", "lo").unwrap();
        assert!(lo["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "--lo-up: {lo}");
        ok(&["ns", "delete", "--all"]);
        assert!(run_dir_entries().is_empty());
        assert_eq!(nsfs_mounts(), 0);
    }
}

sandbox_test! {
    fn gc_removes_only_stale_entries() {
        ok(&["ns", "add", "live"]);
        // A placeholder left by a crash between create and bind mount.
        std::fs::write("/run/netns/ghost", "").unwrap();
        // A symlink to a dead process's namespace, and one to a live process's.
        let dead = Sleeper::spawn("sleep", &["60"]);
        std::os::unix::fs::symlink(format!("/proc/{}/ns/net", dead.pid()), "/run/netns/dead").unwrap();
        drop(dead);
        let alive = Sleeper::spawn("sleep", &["60"]);
        std::os::unix::fs::symlink(format!("/proc/{}/ns/net", alive.pid()), "/run/netns/alive").unwrap();

        // A name mounted only in another mount namespace (made with private propagation):
        // an empty file here, but live there. Unlinking it would unmount it there.
        std::fs::write("/run/netns/private", "").unwrap();
        let _private = Sleeper::spawn(
            "unshare",
            &[
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount --bind /proc/self/ns/net /run/netns/private && exec sleep 60",
            ],
        );

        let dry = ok(&["ns", "gc", "--dry-run"]);
        assert!(dry.contains("would remove /run/netns/ghost (placeholder"), "{dry}");
        assert!(dry.contains("would remove /run/netns/dead (dangling symlink"), "{dry}");
        assert_eq!(dry.lines().count(), 2, "{dry}");
        assert_eq!(run_dir_entries(), ["alive", "dead", "ghost", "live", "private"]);

        let json: serde_json::Value = serde_json::from_str(&ok(&["ns", "gc", "--dry-run", "-j"])).unwrap();
        assert_eq!(json.as_array().map(Vec::len), Some(2), "{json}");

        let done = ok(&["ns", "gc"]);
        assert!(done.contains("removed /run/netns/ghost"), "{done}");
        assert!(done.contains("removed /run/netns/dead"), "{done}");
        assert_eq!(run_dir_entries(), ["alive", "live", "private"]);
        assert!(warren_kernel::netns::is_live_mount(Path::new("/run/netns/live")));
        assert_eq!(ok(&["ns", "gc"]), "", "nothing left to collect");
    }
}

sandbox_test! {
    fn list_all_finds_every_way_a_namespace_is_held() {
        ok(&["ns", "add", "named1"]);
        let named = ino("/run/netns/named1");
        // Held only by a process.
        let proc_held = Sleeper::spawn("unshare", &["-n", "sleep", "60"]);
        let by_proc = ino(&format!("/proc/{}/ns/net", proc_held.pid()));
        // Held only by a bind mount outside /run/netns.
        std::fs::create_dir_all("/run/docker/netns").unwrap();
        std::fs::write("/run/docker/netns/x", "").unwrap();
        let anon = warren_kernel::NetNs::new_anonymous("bound").unwrap();
        nix::mount::mount(
            Some(warren_testkit::oracle::ns_path(&anon).as_str()),
            "/run/docker/netns/x",
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
        let by_mount = anon.id().ino;
        drop(anon);
        // Held only by a bind mount in another mount namespace (where a sleeper lives).
        std::fs::create_dir_all("/run/hidden").unwrap();
        std::fs::write("/run/hidden/y", "").unwrap();
        let hidden_holder = Sleeper::spawn(
            "unshare",
            &["-m", "--propagation", "private", "-n", "sh", "-c", "mount --bind /proc/self/ns/net /run/hidden/y && exec unshare -n sleep 60"],
        );
        let by_foreign = ino(&format!("/proc/{}/root/run/hidden/y", hidden_holder.pid()));
        // Held only by an open descriptor of this (test) process.
        let fd_held = warren_kernel::NetNs::new_anonymous("fd-only").unwrap();
        let by_fd = fd_held.id().ino;

        let t0 = std::time::Instant::now();
        let rows: serde_json::Value = serde_json::from_str(&ok(&["ns", "list", "--all", "-j"])).unwrap();
        eprintln!("list --all took {:?}", t0.elapsed());
        let rows = rows.as_array().unwrap();
        let find = |ino: u64| {
            rows.iter().find(|r| r["ino"] == ino).unwrap_or_else(|| panic!("namespace {ino} not listed: {rows:?}"))
        };
        let r = find(named);
        assert_eq!(r["names"], serde_json::json!(["named1"]));
        assert_eq!(r["processes"], 0);
        assert_eq!(r["interfaces"], 1);

        let r = find(by_proc);
        assert_eq!(r["processes"], 1);
        assert_eq!(r["main"]["pid"], proc_held.pid());
        assert_eq!(r["main"]["comm"], "sleep");
        assert_eq!(r["main"]["cmdline"], "sleep 60");
        assert!(r["hint"].is_null(), "a plain process has no container hint: {r}");
        assert_eq!(r["names"], serde_json::json!([]));

        let r = find(by_mount);
        assert_eq!(r["processes"], 0);
        assert_eq!(r["mounts"], serde_json::json!([{"path": "/run/docker/netns/x"}]));
        assert_eq!(r["interfaces"], 1);

        let r = find(by_foreign);
        assert_eq!(r["processes"], 0);
        let m = &r["mounts"][0];
        assert_eq!(m["path"], "/run/hidden/y");
        assert_eq!(m["mount_ns_pid"], hidden_holder.pid());
        assert_eq!(r["interfaces"], 1, "opened through /proc/PID/root");

        let r = find(by_fd);
        assert_eq!(r["processes"], 0);
        assert_eq!(r["fds"][0]["pid"], std::process::id());
        assert_eq!(r["mounts"], serde_json::json!([]));

        let cur = rows.iter().filter(|r| r["current"] == true).count();
        assert_eq!(cur, 1);
        // The table has one row per namespace too.
        let table = ok(&["ns", "list", "--all"]);
        for ino in [named, by_proc, by_mount, by_foreign, by_fd] {
            assert_eq!(table.lines().filter(|l| l.starts_with(&ino.to_string())).count(), 1, "{table}");
        }
        assert!(table.contains("/run/docker/netns/x"), "{table}");
        drop(fd_held);
    }
}

sandbox_test! {
    fn attach_names_a_process_namespace() {
        let sleeper = Sleeper::spawn("unshare", &["-n", "sleep", "60"]);
        let pid = sleeper.pid().to_string();
        ok(&["ns", "attach", "att", &pid]);
        assert_eq!(ino("/run/netns/att"), ino(&format!("/proc/{pid}/ns/net")));
        assert_eq!(ok(&["ns", "identify", &pid]), "att\n");
        assert_eq!(warren_testkit::run("ip", &["netns", "identify", &pid]), "att\n");
        // The name outlives the process, as with ip.
        drop(sleeper);
        assert!(warren_kernel::netns::is_live_mount(Path::new("/run/netns/att")));
    }
}

sandbox_test! {
    fn exec_all_runs_in_each_namespace_like_ip_all() {
        ok(&["ns", "add", "x1", "x2"]);
        let ours = ok(&["ns", "exec", "--all", "sh", "-c", "readlink /proc/self/ns/net; exit 3"]);
        let ips = warren_testkit::run("ip", &["-all", "netns", "exec", "sh", "-c", "readlink /proc/self/ns/net; exit 3"]);
        assert_eq!(ours, ips, "same blocks, same order, exit 0 despite failures");
        let want: String = warren_testkit::run("ip", &["netns", "list"])
            .lines()
            .map(|n| format!("\nnetns: {n}\nnet:[{}]\n", ino(&format!("/run/netns/{n}"))))
            .collect();
        assert_eq!(ours, want);
        assert_eq!(ok(&["ns", "-all", "exec", "true"]).matches("netns: ").count(), 2);
    }
}
