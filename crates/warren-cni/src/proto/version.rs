//! CNI versions: which ones warren speaks, the VERSION reply, and comparing versions.

use serde_json::{Value, json};

use super::error::{CniError, code};

/// The versions of the specification warren's plugins speak, oldest first.
pub const SUPPORTED: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The newest supported version: what the VERSION reply names when the input names none.
pub const LATEST: &str = "1.1.0";

/// `Ok` if `v` is one of [`SUPPORTED`], else an error with code 1 naming `v` and the list.
pub fn check_version(v: &str) -> Result<(), CniError> {
    if SUPPORTED.contains(&v) {
        Ok(())
    } else {
        Err(CniError::new(
            code::INCOMPATIBLE_VERSION,
            format!(
                "incompatible CNI versions: config is {v:?}, plugin supports [{}]",
                SUPPORTED.join(" ")
            ),
        ))
    }
}

/// The reply to VERSION: `{"cniVersion", "supportedVersions"}`, where `cniVersion` echoes the
/// input's `cniVersion` ([`LATEST`] when stdin is empty, not JSON or names none).
pub fn version_output(input: &[u8]) -> Value {
    let echoed = serde_json::from_slice::<Value>(input)
        .ok()
        .and_then(|v| {
            v.get("cniVersion")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| LATEST.to_owned());
    json!({"cniVersion": echoed, "supportedVersions": SUPPORTED})
}

/// `MAJOR.MINOR.PATCH` as numbers; `None` when `v` is not of that form.
pub fn parse(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.split('.');
    let mut num = || -> Option<u64> {
        let p = it.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let triple = (num()?, num()?, num()?);
    if it.next().is_some() {
        return None;
    }
    Some(triple)
}

/// Whether version `v` is `min` or newer; `false` when either is not a version.
pub fn at_least(v: &str, min: &str) -> bool {
    match (parse(v), parse(min)) {
        (Some(a), Some(b)) => a >= b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_versions_pass_others_fail_with_code_1() {
        for v in SUPPORTED {
            check_version(v).unwrap();
        }
        for v in ["0.1.0", "0.2.0", "1.2.0", "9.9.9", "", "1.0"] {
            let e = check_version(v).unwrap_err();
            assert_eq!(e.code, code::INCOMPATIBLE_VERSION, "{v}");
            assert!(e.msg.contains(&format!("{v:?}")), "{}", e.msg);
            assert!(e.msg.contains("0.3.0 0.3.1 0.4.0 1.0.0 1.1.0"), "{}", e.msg);
        }
    }

    #[test]
    fn version_reply_echoes_the_input() {
        let all = json!(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
        let cases: [(&[u8], &str); 6] = [
            (br#"{"cniVersion":"0.4.0"}"#, "0.4.0"),
            (br#"{"cniVersion":"1.0.0","name":"n"}"#, "1.0.0"),
            (br#"{"name":"n"}"#, "1.1.0"),
            (br#"{"cniVersion":""}"#, "1.1.0"),
            (b"", "1.1.0"),
            (b"{not json", "1.1.0"),
        ];
        for (input, want) in cases {
            assert_eq!(
                version_output(input),
                json!({"cniVersion": want, "supportedVersions": all}),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn versions_compare_numerically() {
        let cases = [
            ("0.4.0", "0.4.0", true),
            ("0.3.1", "0.4.0", false),
            ("1.0.0", "0.4.0", true),
            ("1.1.0", "1.0.0", true),
            ("1.0.0", "1.1.0", false),
            ("0.10.0", "0.4.0", true),
            ("1.0", "0.4.0", false),
            ("x.y.z", "0.1.0", false),
            ("1.0.0", "bad", false),
            ("1.0.0.1", "1.0.0", false),
        ];
        for (v, min, want) in cases {
            assert_eq!(at_least(v, min), want, "{v} >= {min}");
        }
    }
}
