//! Kernel tests of a lab node's process (`NodeSpawn`): the node's namespace, hostname, a
//! fresh /sys, the node's /etc directory overlaid on the host's (a directory the host lacks
//! included), the host untouched; bad /etc directories refused before any fork; descendants
//! found for a supervisor.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use warren_kernel::link::veth::Veth;
use warren_kernel::netns::{self, Source};
use warren_kernel::process::{NodeSpawn, descendants, wait_forwarding};
use warren_kernel::{Error, Handle};
use warren_testkit::sandbox_test;

sandbox_test! {
    fn a_node_process_sees_its_namespace_hostname_and_etc_overlay() {
        let ns = netns::add_named("node-a", Source::New).unwrap();
        let h = Handle::new(ns.try_clone().unwrap()).unwrap();
        h.link_add(&Veth::new("eth0", "eth1")).unwrap();
        let etc = Path::new("/run/warren/labs/t/a/etc");
        std::fs::create_dir_all(etc.join("nodeonly")).unwrap();
        std::fs::write(etc.join("hosts"), "10.0.0.1 a\n").unwrap();
        std::fs::write(etc.join("nodeonly/x.conf"), "x\n").unwrap();
        assert!(!Path::new("/etc/nodeonly").exists());
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat /etc/hosts /etc/nodeonly/x.conf; hostname; ls /sys/class/net | tr '\\n' ' '; test -e /etc/passwd && echo passwd; touch /etc/hosts 2>/dev/null || echo read-only"])
            .stdout(Stdio::piped());
        let spawn = NodeSpawn { netns: &ns, etc: Some(etc), hostname: Some("a"), own_group: true };
        let mut child = spawn.spawn(&mut cmd).unwrap();
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(wait_forwarding(&mut child).unwrap(), 0, "{out}");
        assert_eq!(out, "10.0.0.1 a\nx\na\neth0 eth1 lo passwd\nread-only\n");
        // The caller is where it was: the host's /etc, the sandbox's hostname.
        assert!(!Path::new("/etc/nodeonly").exists());
        assert_ne!(nix::unistd::gethostname().unwrap(), "a");
    }
}

sandbox_test! {
    fn bad_etc_directories_are_refused_before_the_fork() {
        let ns = netns::add_named("node-b", Source::New).unwrap();
        for (dir, invalid) in [("/run/a:b", true), ("relative/etc", true), ("/run/missing", false)] {
            let spawn = NodeSpawn { netns: &ns, etc: Some(Path::new(dir)), hostname: None, own_group: false };
            let e = spawn.spawn(&mut Command::new("true")).unwrap_err();
            assert_eq!(matches!(e, Error::Invalid { .. }), invalid, "{dir}: {e}");
            assert!(e.to_string().contains(dir), "{e}");
        }
    }
}

sandbox_test! {
    fn descendants_include_grandchildren() {
        let mut child = Command::new("sh").args(["-c", "sleep 30 & sleep 30 & wait"]).spawn().unwrap();
        let me = std::process::id() as i32;
        let mut found = Vec::new();
        for _ in 0..100 {
            found = descendants(me);
            if found.len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(found.len(), 3, "sh and its two sleeps: {found:?}");
        assert_eq!(found[0].0, child.id() as i32, "parents first");
        for (pid, _) in &found {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = child.wait();
    }
}

sandbox_test! {
    fn a_step_that_fails_in_the_child_is_named_with_its_namespace() {
        // Checked in the parent, refused by the kernel in the child: overlayfs takes no
        // procfs directory as a lower layer.
        let ns = netns::add_named("node-c", Source::New).unwrap();
        let spawn = NodeSpawn { netns: &ns, etc: Some(Path::new("/proc/sys")), hostname: None, own_group: false };
        let e = spawn.spawn(&mut Command::new("true")).unwrap_err();
        assert!(matches!(e, Error::Sys { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("mount overlay on /etc in child") && text.contains("node-c"), "{text}");
        assert!(e.errno().is_some(), "{e}");
    }
}
