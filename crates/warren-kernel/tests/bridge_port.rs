//! The STP state of a bridge port read back (`Handle::link_port_state`), against `ip -j -d
//! link` as the oracle: forwarding when up, disabled when the port is down, none for a link
//! that is no bridge port; and set (`Handle::link_set_port_state`), the link staying up.

use warren_kernel::Handle;
use warren_kernel::link::bridge::Bridge;
use warren_kernel::link::port::PortState;
use warren_kernel::link::veth::Veth;
use warren_testkit::{oracle, sandbox_test};

fn oracle_state(port: &str) -> String {
    let v = oracle::ip_json(&["-d", "link", "show", "dev", port]);
    v[0]["linkinfo"]["info_slave_data"]["state"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

sandbox_test! {
    fn port_states_read_back() {
        let h = Handle::current().unwrap();
        h.link_add(&Bridge::new("br0").stp(false).up()).unwrap();
        let br = h.link_index("br0").unwrap();
        h.link_add(&Veth::new("p0", "q0").master(br).up().peer_up()).unwrap();
        let p0 = h.link_index("p0").unwrap();
        assert_eq!(h.link_port_state(p0).unwrap(), Some(PortState::Forwarding));
        assert_eq!(oracle_state("p0"), "forwarding");
        // Disabled by hand: the port stops forwarding while its link stays up.
        h.link_set_port_state(p0, "p0", PortState::Disabled).unwrap();
        assert_eq!(h.link_port_state(p0).unwrap(), Some(PortState::Disabled));
        assert_eq!(oracle_state("p0"), "disabled");
        assert!(h.link_get("p0").unwrap().up);
        h.link_set_port_state(p0, "p0", PortState::Forwarding).unwrap();
        assert_eq!(oracle_state("p0"), "forwarding");
        // No bridge port, no state to set: the kernel says so, naming the link.
        let q0 = h.link_index("q0").unwrap();
        let err = h.link_set_port_state(q0, "q0", PortState::Disabled).unwrap_err();
        assert!(err.to_string().contains("q0"), "{err}");
        h.link_set_down("p0").unwrap();
        assert_eq!(h.link_port_state(p0).unwrap(), Some(PortState::Disabled));
        assert_eq!(oracle_state("p0"), "disabled");
        assert_eq!(PortState::Disabled.name(), "disabled");
        assert_eq!(h.link_port_state(q0).unwrap(), None);
        assert_eq!(h.link_port_state(br).unwrap(), None);
    }
}
