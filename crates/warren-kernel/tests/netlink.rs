//! The netlink layer against the real kernel: batches, per-request outcomes, errno and naming.

use nix::errno::Errno;
use warren_kernel::link::up_request;
use warren_kernel::{Error, Handle};
use warren_testkit::sandbox_test;

sandbox_test! {
    fn a_batch_reports_each_request_on_its_own() {
        let h = Handle::current().unwrap();
        let lo = h.link_index("lo").unwrap();
        let out = h.execute(vec![
            up_request(lo, true, "lo"),
            up_request(99_999, true, "ghost0"),
            up_request(lo, false, "lo"),
        ]);
        assert_eq!(out.len(), 3);
        assert!(out[0].is_ok(), "{:?}", out[0]);
        match &out[1] {
            Err(Error::Netlink { op, object, source, .. }) => {
                assert_eq!(*op, "set link up");
                assert_eq!(object, "ghost0");
                assert_eq!(source.errno, Errno::ENODEV);
            }
            other => panic!("expected a refusal naming ghost0, got {other:?}"),
        }
        assert!(out[2].is_ok(), "a failure must not stop later requests: {:?}", out[2]);
        // The last request won: lo is down again.
        assert!(!h.link_get("lo").unwrap().up);
    }
}

sandbox_test! {
    fn large_batches_are_split_and_all_acked() {
        let h = Handle::current().unwrap();
        let lo = h.link_index("lo").unwrap();
        // 5,000 requests are several sendmsg chunks; every one must be answered, in order.
        let reqs = (0..5000).map(|i| up_request(lo, i % 2 == 0, "lo")).collect();
        let out = h.execute(reqs);
        assert_eq!(out.len(), 5000);
        assert!(out.iter().all(Result::is_ok));
    }
}

sandbox_test! {
    fn a_handle_is_usable_from_any_thread_and_stays_in_its_namespace() {
        let anon = warren_kernel::NetNs::new_anonymous("iso").unwrap();
        let h = std::sync::Arc::new(Handle::new(anon).unwrap());
        let here = Handle::current().unwrap();
        // Bring lo up in the anonymous namespace from several threads.
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || h.link_set_up("lo"))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert!(h.link_get("lo").unwrap().up);
        assert!(!here.link_get("lo").unwrap().up, "the caller's lo must be untouched");
    }
}

sandbox_test! {
    fn missing_link_is_not_found_with_its_name() {
        let h = Handle::current().unwrap();
        let e = h.link_get("nope0").unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
        assert_eq!(e.to_string(), "link \"nope0\" not found (netns current)");
    }
}
