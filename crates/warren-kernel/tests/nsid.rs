//! nsids against the real kernel, read back with `ip netns list-id`.

use warren_kernel::netns::{self, Source};
use warren_kernel::{Handle, NetNs};
use warren_testkit::sandbox_test;

sandbox_test! {
    fn set_get_and_dump_nsids() {
        let home = Handle::current().unwrap();
        let a = netns::add_named("a", Source::New).unwrap();
        let b = netns::add_named("b", Source::New).unwrap();
        assert_eq!(home.nsid_of(&a).unwrap(), None, "nothing assigned yet");
        home.nsid_set(&a, Some(5)).unwrap();
        home.nsid_set(&b, None).unwrap();
        assert_eq!(home.nsid_of(&a).unwrap(), Some(5));
        let auto = home.nsid_of(&b).unwrap().expect("auto assigns one");
        assert_ne!(auto, 5);
        let e = home.nsid_set(&a, Some(6)).unwrap_err();
        assert_eq!(e.errno(), Some(nix::errno::Errno::EEXIST), "{e}");
        let mut ids: Vec<i32> = home.nsids(None).unwrap().iter().map(|e| e.nsid).collect();
        ids.sort_unstable();
        let mut want = vec![5, auto];
        want.sort_unstable();
        assert_eq!(ids, want);
        assert_eq!(home.nsid_get(5).unwrap().nsid, 5);
        assert!(home.nsid_get(77).is_err());
        let listed = warren_testkit::run("ip", &["netns", "list-id"]);
        assert!(listed.contains("nsid 5 (iproute2 netns name: a)"), "{listed}");
        // Seen from a: the current namespace gets an id there once asked with a target.
        let ha = Handle::new(a.try_clone().unwrap()).unwrap();
        let here = NetNs::current().unwrap();
        ha.nsid_set(&here, Some(1)).unwrap();
        let from_a = home.nsids(Some(5)).unwrap();
        assert!(from_a.iter().any(|e| e.nsid == 1), "{from_a:?}");
        assert!(from_a.iter().all(|e| e.current_nsid.is_some()), "{from_a:?}");
    }
}
