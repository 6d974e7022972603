//! Mutated lab files never make the loader panic (a small deterministic fuzzer: no extra
//! dependency, the same inputs on every run).

use std::path::Path;

/// xorshift64*, seeded: the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

const PIECES: &[&str] = &[
    ":",
    "-",
    " ",
    "\n",
    "  ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a",
    "*a",
    "'",
    "\"",
    "#",
    "|",
    ">",
    "!!str",
    "~",
    "null",
    "true",
    "host:",
    "macvlan:",
    "sw",
    "r1",
    "eth1",
    "10.0.0.1/24",
    "10.0.0.0/8",
    "auto",
    "none",
    "kind",
    "router",
    "switch",
    "nat",
    "group",
    "after",
    "links",
    "nodes",
    "endpoints",
    "addresses",
    "topology",
    "linux",
    "9999999999999999999",
    "0.5%",
    "5ms",
    "1gbit",
    "é",
    "\t",
    "\0",
    "/etc/x",
    "..",
    "<<",
];

fn mutate(rng: &mut Rng, base: &str) -> String {
    let mut s: Vec<char> = base.chars().collect();
    for _ in 0..=rng.below(6) {
        let at = rng.below(s.len() + 1);
        match rng.below(4) {
            0 => {
                let end = (at + rng.below(12)).min(s.len());
                s.drain(at..end);
            }
            1 | 2 => {
                let p = PIECES[rng.below(PIECES.len())];
                for (k, c) in p.chars().enumerate() {
                    s.insert(at + k, c);
                }
            }
            _ => {
                // Duplicate a slice (lines, keys, nodes).
                let end = (at + rng.below(40)).min(s.len());
                let piece: Vec<char> = s[at..end].to_vec();
                let to = rng.below(s.len() + 1);
                for (k, c) in piece.into_iter().enumerate() {
                    s.insert(to + k, c);
                }
            }
        }
    }
    s.into_iter().collect()
}

#[test]
fn mutated_lab_files_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/labs");
    let mut bases: Vec<String> = [
        "router-two-lans",
        "ring6",
        "mesh6",
        "nat",
        "bgp3",
        "bridge-three",
    ]
    .iter()
    .map(|n| std::fs::read_to_string(dir.join(format!("{n}.yaml"))).expect("an example"))
    .collect();
    bases.push(
        "name: c\ntopology:\n  defaults: {kind: linux}\n  nodes: {a: {image: x}, b: {exec: [ls]}}\n  links:\n    - endpoints: [\"a:eth1\", \"b:eth1\"]\n"
            .into(),
    );
    let mut rng = Rng(0x5eed_1ab5);
    // WARREN_FUZZ_ITERS runs longer; the bound below scales with it.
    let iters: usize = std::env::var("WARREN_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut failed = 0;
    for i in 0..iters {
        let base = &bases[i % bases.len()];
        let text = mutate(&mut rng, base);
        match warren_lab::load_str(&text, Path::new("fuzz.yaml")) {
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                // Every error names a position.
                if let warren_lab::LoadError::Invalid(diags) = e {
                    assert!(!diags.is_empty());
                    assert!(
                        diags.iter().all(|d| d.line >= 1 && d.column >= 1),
                        "{diags:?}"
                    );
                }
            }
        }
    }
    // The mutations do break most files (else this test would test nothing).
    assert!(
        failed > iters / 3,
        "only {failed} of {iters} mutated files failed"
    );
}
