//! Every example lab under examples/labs loads without errors or warnings.

use std::path::PathBuf;

fn labs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/labs")
}

#[test]
fn every_example_lab_validates() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(labs_dir())
        .expect("examples/labs")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    for want in [
        "router-two-lans.yaml",
        "bridge-three.yaml",
        "ring6.yaml",
        "mesh6.yaml",
        "nat.yaml",
        "bgp3.yaml",
        "hosts1000.yaml",
    ] {
        assert!(
            names.iter().any(|p| p.ends_with(want)),
            "examples/labs/{want} is missing"
        );
    }
    for p in &names {
        match warren_lab::load_file(p) {
            Ok(l) => assert!(l.warnings.is_empty(), "{}: {:?}", p.display(), l.warnings),
            Err(e) => panic!("{}:\n{e}", p.display()),
        }
    }
}
