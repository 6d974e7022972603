//! Running a workspace binary (the `warren` CLI) from a test, with the checks every CLI test
//! makes: success with its stdout, or failure with one clear line on stderr.

use std::process::{Command, Output};

/// A binary under test, e.g. `Cli(env!("CARGO_BIN_EXE_warren"))`.
#[derive(Debug, Clone, Copy)]
pub struct Cli(pub &'static str);

impl Cli {
    /// Run it with `args` and return everything it did.
    pub fn output(&self, args: &[&str]) -> Output {
        Command::new(self.0)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.0))
    }

    /// Run it, require success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "{args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run it, require failure with exactly one line on stderr; return (exit code, stderr).
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.output(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        (out.status.code().unwrap_or(-1), err)
    }

    /// Run it, require exit code `code`; return stderr.
    pub fn fails_with(&self, args: &[&str], code: i32) -> String {
        let out = self.output(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        err
    }
}
