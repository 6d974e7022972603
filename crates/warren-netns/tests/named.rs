//! Named namespaces through the library: errors carry ip's words and the object, bulk adds,
//! identify and pids, gc and monitor.

use std::path::Path;

use nix::errno::Errno;
use warren_netns::monitor::{Event, Monitor};
use warren_netns::{Error, gc, named};
use warren_testkit::sandbox_test;

sandbox_test! {
    fn errors_name_the_object_and_keep_the_errno() {
        let e = named::add(&["ok".to_string(), "a/b".to_string()], named::AddOptions::default()).unwrap_err();
        assert!(matches!(&e, Error::InvalidName { name } if name == "a/b"), "{e:?}");
        assert!(!Path::new("/run/netns/ok").exists(), "names are checked before anything is made");

        let made = named::add(&["red".to_string(), "red".to_string()], named::AddOptions::default()).unwrap();
        assert!(made[0].is_ok());
        let dup = made[1].as_ref().unwrap_err();
        assert!(matches!(dup, Error::CreateFile { path, source: Errno::EEXIST } if path == Path::new("/run/netns/red")), "{dup:?}");

        let e = named::delete("nosuch").unwrap_err();
        assert_eq!(e.to_string(), "Cannot remove namespace file \"/run/netns/nosuch\": No such file or directory");
        assert_eq!(e.errno(), Some(Errno::ENOENT));

        let e = named::attach("gone", 999_999_999).unwrap_err();
        assert!(matches!(&e, Error::Bind { from, .. } if from == "/proc/999999999/ns/net"), "{e:?}");
        assert!(!Path::new("/run/netns/gone").exists());

        let e = named::open_spec("nosuch").unwrap_err();
        assert!(matches!(&e, Error::Open { spec, source: Errno::ENOENT } if spec == "nosuch"), "{e:?}");
        let e = named::open_spec("/etc/hostname").unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EINVAL), "not a namespace file: {e:?}");

        let (ns, name) = named::open_spec("red").unwrap();
        assert_eq!(name.as_deref(), Some("red"));
        assert_eq!(named::identify(ns.id()).unwrap(), ["red"]);
        assert!(named::pids(ns.id()).is_empty());
        let (done, errors) = named::delete_all().unwrap();
        assert_eq!((done, errors.len()), (vec!["red".to_string()], 0));
    }
}

sandbox_test! {
    fn list_shows_ids_and_placeholders_without_one() {
        let made = named::add(&named::numbered("n", 3), named::AddOptions { lo_up: true }).unwrap();
        let n1 = made[1].as_ref().unwrap();
        warren_kernel::Handle::current().unwrap().nsid_set(n1, Some(12)).unwrap();
        std::fs::write("/run/netns/placeholder", "").unwrap();
        let listed = named::list().unwrap();
        assert_eq!(listed.len(), 4);
        for l in &listed {
            let want = if l.name == "n1" { Some(12) } else { None };
            assert_eq!(l.id, want, "{l:?}");
        }
        let stale = gc::gc(false).unwrap();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].path, Path::new("/run/netns/placeholder"));
        assert_eq!(named::names().unwrap().len(), 3);
    }
}

sandbox_test! {
    fn monitor_sees_adds_and_deletes() {
        let m = Monitor::new().unwrap();
        named::add(&["m1".to_string()], named::AddOptions::default()).unwrap();
        named::delete("m1").unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            got.extend(m.next_events().unwrap());
        }
        assert_eq!(got, [Event::Add("m1".into()), Event::Delete("m1".into())]);
        assert_eq!(got[0].to_string(), "add m1");
    }
}
