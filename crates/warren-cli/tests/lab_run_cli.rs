//! The `warren` binary as a lab's supervisor (`__lab-supervise`): a daemon started by
//! `warren_lab::runtime::start` through it runs in its node, logs, is listed by status and
//! stopped with nothing left behind.

use std::collections::BTreeMap;

use warren_lab::model::{Command, Daemon, Lab, Node, NodeKind};
use warren_lab::runtime::{self, DaemonState, Dirs};
use warren_testkit::sandbox_test;

fn one_node_lab() -> Lab {
    let sh = |s: &str| Command {
        argv: vec!["/bin/sh".into(), "-c".into(), s.into()],
    };
    Lab {
        name: "cli".into(),
        nodes: vec![Node {
            name: "a".into(),
            kind: NodeKind::Host,
            netns: "cli-a".into(),
            loopback: vec![],
            interfaces: vec![],
            routes: vec![],
            sysctls: BTreeMap::new(),
            env: BTreeMap::from([("GREETING".into(), "hello".into())]),
            files: vec![],
            exec: vec![],
            daemons: vec![Daemon {
                name: "tick".into(),
                command: sh("echo \"$GREETING from $(hostname)\"; while :; do sleep 1; done"),
                ready: Some(sh("grep -q hello /run/warren-state/labs/cli/a.tick.log")),
                ready_timeout_ms: 5000,
            }],
            after: vec![],
            switch: None,
        }],
        links: vec![],
    }
}

sandbox_test! {
    fn the_warren_binary_supervises_a_labs_daemons() {
        let lab = one_node_lab();
        warren_kernel::netns::add_named("cli-a", warren_kernel::netns::Source::New).unwrap();
        let mut dirs = Dirs::discover();
        dirs.supervisor = vec![env!("CARGO_BIN_EXE_warren").into(), "__lab-supervise".into()];
        runtime::start(&lab, &["a"], &dirs).unwrap();
        let st = runtime::status("cli", &dirs);
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].state, DaemonState::Running);
        let log = std::fs::read_to_string(dirs.daemon_log("cli", "a", "tick")).unwrap();
        assert_eq!(log, "hello from a\n");
        runtime::stop("cli", &dirs).unwrap();
        // Nothing of the lab is left: no supervisor, no daemon, no sleep.
        let me = std::fs::read_link("/proc/self/ns/user").unwrap();
        let own = std::process::id().to_string();
        let left: Vec<String> = std::fs::read_dir("/proc").unwrap().flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|p| p != &own && p.chars().all(|c| c.is_ascii_digit()))
            .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/user")).is_ok_and(|u| u == me))
            .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
            .filter(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // Without the request in its environment, the hidden command refuses plainly.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warren")).arg("__lab-supervise").output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("WARREN_LAB_SUPERVISE"));
    }
}
