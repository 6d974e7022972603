//! The binary's arguments and start-up failures (no sockets: runs outside a sandbox).

use warren_testkit::cli::Cli;

const DNS: Cli = Cli(env!("CARGO_BIN_EXE_warren-dns"));

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["--config"],
        &["--bogus", "x"],
        &["--pid-file", "/tmp/x"],
    ] {
        let err = DNS.fails_with(args, 2);
        assert!(
            err.contains("usage: warren-dns --config PATH"),
            "{args:?}: {err}"
        );
    }
    assert!(DNS.ok(&["--help"]).starts_with("usage:"));
}

#[test]
fn a_missing_or_broken_config_fails_in_one_line_naming_the_file() {
    let (code, err) = DNS.fails(&["--config", "/nonexistent/dns.json"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("warren-dns: cannot read the DNS config /nonexistent/dns.json: "),
        "{err}"
    );
    let dir = std::env::temp_dir().join(format!("warren-dns-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dns.json");
    std::fs::write(
        &path,
        r#"{"names": [{"name": "bad name", "network": "n"}]}"#,
    )
    .unwrap();
    let (code, err) = DNS.fails(&["--config", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("invalid DNS config") && err.contains("bad name"),
        "{err}"
    );
    // No listen addresses: nothing to do, exit 0 at once.
    std::fs::write(&path, "{}").unwrap();
    DNS.ok(&["--config", path.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
}
