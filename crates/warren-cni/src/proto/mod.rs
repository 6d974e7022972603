//! The CNI protocol (specification versions 0.3.0 to 1.1.0), as pure code.
//!
//! A container runtime runs a plugin binary once per operation, in the host's network
//! namespace. The operation and the attachment come in environment variables
//! ([`Env`]: `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_ARGS`,
//! `CNI_PATH`); the network configuration comes as JSON on stdin ([`NetConf`], read with
//! [`read_stdin`]). The plugin answers on stdout and by its exit code: on success, exit 0 with
//! a [`CniResult`] for ADD, the [`version_output`] for VERSION, and nothing for DEL, CHECK, GC
//! and STATUS; on failure, exit non-zero with a [`CniError`] object. [`emit`] is that one
//! print site. Logs go to stderr.
//!
//! The answer is written in the version the request asked for (`cniVersion`), which must be
//! one of [`SUPPORTED`]; results from earlier plugins of a chain (`prevResult`) are read in
//! any of them.

pub mod args;
pub mod conf;
pub mod env;
pub mod error;
pub mod result;
pub mod version;

use std::io::{Read, Write};

use serde_json::Value;

pub use args::{CniArgs, IGNORE_UNKNOWN};
pub use conf::{Attachment, Dns, GC_ATTACHMENTS, GC_ATTACHMENTS_OLD, NetConf};
pub use env::{Command, Env, IFNAME_MAX, is_valid_id, validate_ifname};
pub use error::{CniError, code};
pub use result::{CniResult, Interface, IpConfig, Route};
pub use version::{
    LATEST, SUPPORTED, at_least, check_version, parse as parse_version, version_output,
};

/// Reads all of stdin (the network configuration); an I/O error has code 5.
pub fn read_stdin() -> Result<Vec<u8>, CniError> {
    read_all(std::io::stdin().lock())
}

fn read_all(mut r: impl Read) -> Result<Vec<u8>, CniError> {
    let mut buf = Vec::new();
    r.read_to_end(&mut buf).map_err(|e| {
        CniError::new(code::IO, "read network config from stdin").details(e.to_string())
    })?;
    Ok(buf)
}

/// Prints the outcome of an operation on stdout and returns the exit code: `0` after the
/// value (nothing is printed for `Value::Null`, the success of DEL, CHECK, GC and STATUS),
/// `1` after the error object of `cni_version`.
pub fn emit(result: Result<Value, CniError>, cni_version: &str) -> i32 {
    write_reply(&mut std::io::stdout().lock(), result, cni_version)
}

/// [`emit`] to any writer. A failed write cannot be reported anywhere, so it is ignored.
pub fn write_reply(
    out: &mut impl Write,
    result: Result<Value, CniError>,
    cni_version: &str,
) -> i32 {
    let (value, status) = match result {
        Ok(Value::Null) => return 0,
        Ok(v) => (v, 0),
        Err(e) => (e.to_json(cni_version), 1),
    };
    let _ = writeln!(out, "{value}").and_then(|()| out.flush());
    status
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn success_prints_the_value_and_exits_0() {
        let mut out = Vec::new();
        let v = json!({"cniVersion": "1.0.0"});
        assert_eq!(write_reply(&mut out, Ok(v), "1.0.0"), 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"cniVersion\":\"1.0.0\"}\n"
        );
    }

    #[test]
    fn null_success_prints_nothing() {
        let mut out = Vec::new();
        assert_eq!(write_reply(&mut out, Ok(Value::Null), "1.1.0"), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn failure_prints_the_error_object_and_exits_1() {
        let mut out = Vec::new();
        let e = CniError::new(code::TRY_AGAIN, "busy").details("lock held");
        assert_eq!(write_reply(&mut out, Err(e), "0.4.0"), 1);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            json!({"cniVersion": "0.4.0", "code": 11, "msg": "busy", "details": "lock held"})
        );
    }

    /// Every prefix of a full request, and every short string over an alphabet of CNI_ARGS
    /// pieces, is either accepted or refused with an error: nothing panics.
    #[test]
    fn no_prefix_or_short_string_panics() {
        let full = json!({
            "cniVersion": "0.4.0", "name": "n", "type": "t",
            "dns": {"nameservers": ["1.1.1.1"]},
            "runtimeConfig": {"mac": "c2:11:22:33:44:55"},
            "prevResult": {"ips": [{"version": "4", "address": "10.0.0.5/24", "interface": 0}],
                           "routes": [{"dst": "0.0.0.0/0"}], "interfaces": [{"name": "e"}]},
            "cni.dev/attachments": [{"containerID": "c", "ifname": "e"}]
        })
        .to_string();
        for end in 0..=full.len() {
            let r = NetConf::parse(&full.as_bytes()[..end]);
            assert_eq!(r.is_ok(), end == full.len(), "{}", &full[..end]);
            if let Ok(c) = r {
                assert_eq!(
                    c.prev_result.as_ref().unwrap().to_json("1.1.0")["ips"][0]["interface"],
                    0
                );
                assert_eq!(c.gc_valid_attachments().unwrap().len(), 1);
            }
        }
        let alphabet = ["a", "=", ";", "1", "IgnoreUnknown", "true", " ", "é"];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            texts = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |p| format!("{t}{p}")))
                .collect();
            for t in &texts {
                if let Ok(a) = CniArgs::parse(t) {
                    let _ = a.check_known(&["a"]);
                }
                let _ = validate_ifname(t);
                let _ = parse_version(t);
            }
        }
    }

    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("boom"))
        }
    }

    #[test]
    fn read_errors_are_code_5() {
        let e = read_all(Broken).unwrap_err();
        assert_eq!(e.code, code::IO);
        assert!(e.to_string().contains("boom"), "{e}");
        assert_eq!(read_all(&b"{}"[..]).unwrap(), b"{}");
    }
}
