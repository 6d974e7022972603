//! Kernel tests of namespaces: named ones as iproute2 makes them, anonymous ones, threads.

use std::path::Path;

use warren_kernel::netns::{self, Source};
use warren_kernel::{Handle, NetNs};
use warren_testkit::{oracle, sandbox_test};

sandbox_test! {
    fn named_namespace_is_a_mount_that_ip_lists() {
        let ns = netns::add_named("red", Source::New).unwrap();
        assert!(netns::is_live_mount(Path::new("/run/netns/red")));
        let listed = warren_testkit::run("ip", &["netns", "list"]);
        assert!(listed.lines().any(|l| l.starts_with("red")), "ip netns list: {listed}");
        // Same propagation as ip: /run/netns is a shared mount of its own.
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        // The last mount at /run/netns is the visible one (the host may have its own, hidden
        // under the sandbox's tmpfs).
        let line = mi.lines().rfind(|l| l.split(' ').nth(4) == Some("/run/netns")).unwrap();
        assert!(line.contains("shared:"), "{line}");
        assert_ne!(ns.id(), NetNs::current().unwrap().id());
        netns::delete_named("red").unwrap();
        assert!(!Path::new("/run/netns/red").exists());
    }
}

sandbox_test! {
    fn existing_name_is_refused_and_leaves_the_first() {
        netns::add_named("blue", Source::New).unwrap();
        let e = netns::add_named("blue", Source::New).unwrap_err();
        assert_eq!(e.errno(), Some(nix::errno::Errno::EEXIST), "{e}");
        assert!(e.to_string().contains("/run/netns/blue"), "{e}");
        assert!(netns::is_live_mount(Path::new("/run/netns/blue")));
    }
}

sandbox_test! {
    fn anonymous_namespace_runs_closures_inside() {
        let anon = NetNs::new_anonymous("anon").unwrap();
        let here = NetNs::current().unwrap().id();
        let inside = anon.run(|| Ok(NetNs::current()?.id())).unwrap();
        assert_eq!(inside, anon.id());
        assert_eq!(NetNs::current().unwrap().id(), here, "caller must stay where it was");
        let h = Handle::new(anon).unwrap();
        assert_eq!(h.ns().label(), "anon");
        assert_eq!(oracle::link_names_in(&oracle::ns_path(h.ns())), vec!["lo".to_string()]);
    }
}

sandbox_test! {
    fn run_here_enters_and_always_comes_back() {
        let anon = NetNs::new_anonymous("anon").unwrap();
        let here = NetNs::current().unwrap().id();
        let inside = anon.run_here(|| Ok(NetNs::current()?.id())).unwrap();
        assert_eq!(inside, anon.id());
        assert_eq!(NetNs::current().unwrap().id(), here, "back after Ok");
        // A failure inside: the error comes out, the thread comes back.
        let err = anon
            .run_here(|| NetNs::open_path(Path::new("/nonexistent/ns")).map(drop))
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ns"), "{err}");
        assert_eq!(NetNs::current().unwrap().id(), here, "back after Err");
        // A panic inside: the thread comes back while unwinding.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            anon.run_here(|| -> warren_kernel::Result<()> { panic!("inside") })
        }));
        assert!(caught.is_err());
        assert_eq!(NetNs::current().unwrap().id(), here, "back after a panic");
        // Already there: f just runs.
        let same = NetNs::current().unwrap();
        assert_eq!(same.run_here(|| Ok(7)).unwrap(), 7);
    }
}

sandbox_test! {
    fn bulk_add_creates_each_under_one_lock() {
        let names: Vec<String> = (0..50).map(|i| format!("bulk{i}")).collect();
        let out = netns::add_named_many(&names, Source::New, |_| Ok(()));
        assert_eq!(out.len(), 50);
        assert!(out.iter().all(Result::is_ok));
        let ids: std::collections::HashSet<_> =
            out.iter().map(|r| r.as_ref().unwrap().0.id()).collect();
        assert_eq!(ids.len(), 50, "each name is its own namespace");
        // Results come back in the order of the names, whichever thread made each.
        for (name, r) in names.iter().zip(&out) {
            let (ns, ()) = r.as_ref().unwrap();
            assert_eq!(ns.label(), name);
            let on_disk = NetNs::open_named(name).unwrap().id();
            assert_eq!(ns.id(), on_disk, "{name} is the namespace made for it");
        }
    }
}

sandbox_test! {
    fn bulk_delete_removes_each_and_reports_each() {
        let names: Vec<String> = (0..40).map(|i| format!("gone{i}")).collect();
        for r in netns::add_named_many(&names, Source::New, |_| Ok(())) {
            r.unwrap();
        }
        netns::add_named("stays", Source::New).unwrap();
        // One that does not exist fails on its own, in its place; the others go.
        let mut doomed: Vec<&str> = names.iter().map(String::as_str).collect();
        doomed.insert(7, "never-made");
        let out = netns::delete_named_many(&doomed);
        assert_eq!(out.len(), doomed.len());
        for (name, r) in doomed.iter().zip(&out) {
            if *name == "never-made" {
                let e = r.as_ref().unwrap_err();
                assert_eq!(e.errno(), Some(nix::errno::Errno::ENOENT), "{e}");
            } else {
                r.as_ref().unwrap();
            }
        }
        let listed = warren_testkit::run("ip", &["netns", "list"]);
        assert_eq!(listed.trim().split(' ').next(), Some("stays"), "ip netns list: {listed}");
        assert_eq!(std::fs::read_dir("/run/netns").unwrap().count(), 1);
    }
}

sandbox_test! {
    fn invalid_names_touch_nothing() {
        for bad in ["", "a/b", ".", ".."] {
            let e = netns::add_named(bad, Source::New).unwrap_err();
            assert!(e.to_string().contains("invalid netns name"), "{e}");
        }
        let left = std::fs::read_dir("/run/netns").map(|d| d.flatten().count()).unwrap_or(0);
        assert_eq!(left, 0, "no placeholder left behind");
    }
}

sandbox_test! {
    fn only_a_network_namespace_file_opens_as_one() {
        assert!(NetNs::open_path(Path::new("/proc/self/ns/net")).is_ok());
        for (path, why) in [
            ("/proc/self/ns/mnt", "a mount namespace, not a network namespace"),
            ("/proc/self/ns/uts", "a UTS namespace, not a network namespace"),
            ("/proc/self/ns/user", "a user namespace, not a network namespace"),
            ("/etc/hostname", "not a network namespace file"),
        ] {
            let err = NetNs::open_path(Path::new(path)).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains(path), "{path}: {err}");
        }
    }
}
