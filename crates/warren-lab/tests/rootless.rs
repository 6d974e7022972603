//! Rootless labs for real: as uid 65534, `lab up` (a tiny lab wired with warren-kernel inside
//! the keeper, files, a daemon), then `lab exec` from a second process (which joins the same
//! keeper and reaches the daemon over the lab's link, with the node's /etc/hosts), then `lab
//! down` from a third; the keeper then exits by itself.
//!
//! A test without libtest's harness: joining a user namespace needs a single-threaded
//! process, so each step is this binary started afresh. Run as root, it re-executes itself as
//! uid 65534 through `setpriv`; run as any other user, it runs the steps as that user.

#[path = "handmade/mod.rs"]
mod common;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use common::{daemon, file, lab, node, wire};
use warren_lab::model::Lab;
use warren_lab::{faults, rootless, runtime};

const STEP: &str = "WARREN_ROOTLESS_STEP";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("__lab-keeper") => return ExitCode::from(rootless::keeper_main() as u8),
        Some("__lab-supervise") => return ExitCode::from(runtime::supervise_main() as u8),
        // libtest's options (--list, --format...) from `cargo test`: nothing to list.
        Some(a) if a.starts_with("--") && args.iter().any(|a| a == "--list") => {
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    if let Ok(step) = std::env::var(STEP) {
        return step_main(&step);
    }
    let userns_max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if userns_max == 0 {
        warren_testkit::skip("unprivileged user namespaces are disabled (max_user_namespaces = 0)");
        return ExitCode::SUCCESS;
    }
    run_all();
    println!("test rootless_lab_up_exec_down_as_an_unprivileged_user ... ok");
    ExitCode::SUCCESS
}

/// The steps, each a fresh process as the unprivileged user; then the keeper must be gone.
fn run_all() {
    let root = warren_kernel::userns::euid() == 0;
    let home = PathBuf::from(format!("/tmp/warren-rootless-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    // The binary, where uid 65534 can run it (the target directory may not be reachable).
    let exe = home.join("rootless-test");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    if root {
        std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
    }
    let run_step = |step: &str| {
        let mut cmd = if root {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
            ])
            .arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .env(STEP, step)
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .env_remove("XDG_STATE_HOME")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "step {step} failed ({}): {text}",
            out.status
        );
        text
    };
    let up = run_step("up");
    assert!(up.contains("keeper started"), "{up}");
    let exec = run_step("exec");
    assert!(
        exec.contains("keeper joined"),
        "the second command joins the same keeper: {exec}"
    );
    run_step("down");
    // The keeper exits by itself once the last lab is down.
    let pid_file = home.join("run/warren/keeper.pid");
    let text = std::fs::read_to_string(&pid_file).unwrap();
    let mut w = text.split_whitespace();
    let pid: i32 = w.next().unwrap().parse().unwrap();
    let start: u64 = w.next().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while warren_kernel::process::is_alive(pid, start) {
        assert!(
            Instant::now() < deadline,
            "keeper {pid} still alive 10 s after the last lab"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The user's state directory got the logs (inside the keeper, as root = the user).
    assert!(home.join(".local/state/warren/labs/rl/b.web.log").exists());
    let _ = std::fs::remove_dir_all(&home);
}

fn the_lab() -> Lab {
    let server = "exec /usr/bin/python3 -c 'import socket\n\
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"0.0.0.0\", 7000)); s.listen(8)\n\
while True: c,_=s.accept(); c.sendall(b\"hi\\n\"); c.close()\n'";
    let probe = "/usr/bin/python3 -c 'import socket; socket.create_connection((\"b\", 7000), 1)'";
    let mut a = node("rl", "a");
    a.files = vec![file(
        "/etc/hosts",
        "127.0.0.1 localhost\n10.0.0.1 a\n10.0.0.2 b\n",
    )];
    let mut b = node("rl", "b");
    b.files = a.files.clone();
    b.daemons = vec![daemon("web", server, Some(probe), 5000)];
    lab(
        "rl",
        vec![a, b],
        &[("a", "eth0", "10.0.0.1/24", "b", "eth0", "10.0.0.2/24")],
    )
}

fn dirs() -> runtime::Dirs {
    let mut d = runtime::Dirs::discover();
    d.supervisor = vec![
        std::env::current_exe().unwrap().into_os_string(),
        "__lab-supervise".into(),
    ];
    d
}

fn step_main(step: &str) -> ExitCode {
    // First thing, single-threaded: join (or start) the keeper.
    let exe = std::env::current_exe().unwrap();
    let keeper: Vec<OsString> = vec![exe.into_os_string(), "__lab-keeper".into()];
    let info = match rootless::enter_with(&keeper) {
        Ok(Some(info)) => info,
        Ok(None) => panic!("running as root: nothing rootless to test"),
        Err(e) => panic!("{e}"),
    };
    println!(
        "keeper {} (uid inside: {})",
        if info.started { "started" } else { "joined" },
        warren_kernel::userns::euid()
    );
    assert_eq!(warren_kernel::userns::euid(), 0, "root inside the keeper");
    let l = the_lab();
    let d = dirs();
    match step {
        "up" => {
            wire(&l);
            for n in &l.nodes {
                runtime::prepare_files(&l, n, &d).unwrap();
            }
            runtime::start(&l, &["a", "b"], &d).unwrap();
        }
        "exec" => {
            assert!(
                Path::new("/run/netns/rl-a").exists(),
                "the lab's namespaces are the keeper's"
            );
            // The node's /etc/hosts names b; the daemon answers over the lab's link.
            let probe = "/usr/bin/python3 -c 'import socket; s=socket.create_connection((\"b\", 7000), 2); assert s.recv(3) == b\"hi\\n\"'";
            let argv = vec!["/bin/sh".to_owned(), "-c".to_owned(), probe.to_owned()];
            assert_eq!(runtime::exec(&l, "a", &argv, &d).unwrap(), 0);
            // Faults work rootless too.
            faults::link_set(&l, "a", "eth0", faults::LinkAction::Down).unwrap();
            assert_ne!(
                runtime::exec(&l, "a", &argv, &d).unwrap(),
                0,
                "link down: unreachable"
            );
            faults::link_set(&l, "a", "eth0", faults::LinkAction::Up).unwrap();
            assert_eq!(runtime::exec(&l, "a", &argv, &d).unwrap(), 0);
            assert_eq!(runtime::status("rl", &d).len(), 1);
        }
        "down" => {
            runtime::stop("rl", &d).unwrap();
            runtime::remove_files("rl", &d).unwrap();
            for n in &l.nodes {
                warren_kernel::netns::delete_named(&n.netns).unwrap();
            }
        }
        other => panic!("unknown step {other}"),
    }
    ExitCode::SUCCESS
}
