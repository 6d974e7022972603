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
        "dual-stack.yaml",
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

/// The annotated example at the top of docs/lab.md is a valid lab, and resolves as the
/// comments there say.
#[test]
fn the_documented_example_validates() {
    let doc = std::fs::read_to_string(labs_dir().join("../../docs/lab.md")).expect("docs/lab.md");
    let start = doc.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + doc[start..].find("```").expect("its end");
    let l = warren_lab::load_str(&doc[start..end], std::path::Path::new("docs/lab.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    let lab = l.lab;
    let h1 = lab.node("h1").expect("h1");
    assert_eq!(
        h1.routes[0].via.map(|a| a.to_string()).as_deref(),
        Some("10.0.1.1")
    );
    let out = lab.node("out").expect("out");
    assert_eq!(out.interfaces[0].addresses[0].to_string(), "10.0.1.2/24");
    assert_eq!(
        lab.node("r1").expect("r1").daemons[0].ready_timeout_ms,
        10_000
    );
}
