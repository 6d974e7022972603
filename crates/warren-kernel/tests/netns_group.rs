//! Kernel tests of namespace groups: files on a tmpfs of their own, linked from `/run/netns`,
//! usable by ip, removed all together by one unmount.

use std::path::Path;

use warren_kernel::netns::{self, Group, Source};
use warren_kernel::{Handle, NetNs};
use warren_testkit::{run, sandbox_test};

const DIR: &str = "/run/warren/netns/g";

/// The mount points of nsfs files and tmpfs mounts under `dir`, as this mount namespace sees
/// them.
fn mounts_under(dir: &str) -> Vec<String> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(dir))
        .map(str::to_owned)
        .collect()
}

sandbox_test! {
    fn grouped_namespaces_are_links_that_ip_uses() {
        let g = Group::new(DIR);
        let names = ["ga", "gb", "gc"];
        let made = g.add_many(&names, Source::New, |ns| {
            Handle::here(ns)?.link_set_up("lo")?;
            Ok(ns.id())
        });
        let ids: Vec<_> = made.into_iter().map(|r| r.unwrap().1).collect();
        for (name, id) in names.iter().zip(&ids) {
            let link = netns::named_path(name);
            assert_eq!(std::fs::read_link(&link).unwrap(), g.file(name), "{name}");
            assert!(g.holds(name));
            assert!(netns::is_live_mount(&link), "{name} through its link");
            assert_eq!(NetNs::open_named(name).unwrap().id(), *id);
        }
        // The group's directory is a tmpfs of its own, shared as /run/netns is.
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = mi.lines().rfind(|l| l.split(' ').nth(4) == Some(DIR)).unwrap();
        assert!(line.contains("shared:") && line.contains(" - tmpfs "), "{line}");
        // ip lists them, runs in them, identifies a process in them, and deletes one.
        let listed = run("ip", &["netns", "list"]);
        for name in names {
            assert!(listed.lines().any(|l| l.starts_with(name)), "{name}: {listed}");
        }
        let inside = run("ip", &["netns", "exec", "gb", "cat", "/proc/self/stat"]);
        let pid = inside.split(' ').next().unwrap().to_owned();
        assert!(!pid.is_empty());
        // identify and pids compare namespace files through the link.
        let mut sleeper = std::process::Command::new("ip")
            .args(["netns", "exec", "gb", "sleep", "30"])
            .spawn()
            .unwrap();
        let spid = sleeper.id().to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while run("ip", &["netns", "identify", &spid]).trim() != "gb" {
            assert!(std::time::Instant::now() < deadline, "ip netns identify {spid} never said gb");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let pids = run("ip", &["netns", "pids", "gb"]);
        assert!(pids.lines().any(|l| l.trim() == spid), "ip netns pids gb: {pids}");
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        let links = run("ip", &["-n", "gb", "-o", "link", "show", "lo"]);
        assert!(links.contains("UP"), "lo up inside gb: {links}");
        run("ip", &["netns", "delete", "gc"]);
        assert!(!Path::new("/run/netns/gc").exists());
        assert!(!mounts_under(DIR).iter().any(|p| p.ends_with("/gc")));
        // The rest go with one unmount; the file ip left (unmounted) goes with the tmpfs.
        let mut gone = g.dissolve().unwrap();
        gone.sort();
        assert_eq!(gone, ["ga", "gb"]);
        assert_eq!(std::fs::read_dir(netns::RUN_DIR).unwrap().count(), 0);
        assert!(mounts_under(DIR).is_empty(), "{:?}", mounts_under(DIR));
        assert!(!Path::new(DIR).exists());
        // Dissolving a group that is gone (or never was) is no error.
        assert!(g.dissolve().unwrap().is_empty());
    }
}

sandbox_test! {
    fn a_taken_name_is_refused_and_leaves_nothing_in_the_group() {
        netns::add_named("taken", Source::New).unwrap();
        let g = Group::new(DIR);
        let out = g.add_many(&["free", "taken"], Source::New, |_| Ok(()));
        assert!(out[0].is_ok());
        let e = out[1].as_ref().unwrap_err();
        assert_eq!(e.errno(), Some(nix::errno::Errno::EEXIST), "{e}");
        assert!(e.to_string().contains("/run/netns/taken"), "{e}");
        // The taken name is still the first owner's plain bind mount.
        let taken = Path::new("/run/netns/taken");
        assert!(!taken.is_symlink());
        assert!(netns::is_live_mount(taken));
        assert!(!g.file("taken").exists());
        // A failure inside removes that one again, link and file.
        let out = g.add_many(&["bad"], Source::New, |_| {
            NetNs::open_path(Path::new("/nonexistent")).map(drop)
        });
        assert!(out[0].is_err());
        assert!(!Path::new("/run/netns/bad").exists() && !Path::new("/run/netns/bad").is_symlink());
        assert!(!g.file("bad").exists());
        // Dissolving leaves the first owner's namespace alone.
        assert_eq!(g.dissolve().unwrap(), ["free"]);
        assert!(netns::is_live_mount(taken));
    }
}

sandbox_test! {
    fn a_link_replaced_by_someone_else_is_not_the_groups() {
        let g = Group::new(DIR);
        for r in g.add_many(&["mine", "swapped"], Source::New, |_| Ok(())) {
            r.unwrap();
        }
        // Someone replaces one name with a namespace of their own.
        std::fs::remove_file("/run/netns/swapped").unwrap();
        netns::add_named("swapped", Source::New).unwrap();
        assert!(!g.holds("swapped"));
        // Deleting one by name, and then the group, leave theirs.
        g.delete("swapped").unwrap();
        assert!(netns::is_live_mount(Path::new("/run/netns/swapped")));
        assert_eq!(g.delete_many(&["mine"]).len(), 1);
        assert!(!Path::new("/run/netns/mine").is_symlink());
        assert!(!g.file("mine").exists());
        assert!(g.dissolve().unwrap().is_empty());
        assert!(netns::is_live_mount(Path::new("/run/netns/swapped")));
    }
}
