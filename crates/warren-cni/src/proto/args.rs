//! `CNI_ARGS`: the deprecated `K=V;K2=V2` arguments a runtime passes in the environment.

use super::error::{CniError, code};

/// The key that, set to `1` or `true`, makes unknown keys acceptable.
pub const IGNORE_UNKNOWN: &str = "IgnoreUnknown";

/// Parsed `CNI_ARGS`: key/value pairs in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    pairs: Vec<(String, String)>,
}

impl CniArgs {
    /// Parses `K=V;K2=V2`. Empty segments are skipped; a segment without `=` or with an empty
    /// key is an error with code 4 naming it.
    pub fn parse(s: &str) -> Result<CniArgs, CniError> {
        let mut pairs = Vec::new();
        for seg in s.split(';').filter(|seg| !seg.is_empty()) {
            match seg.split_once('=') {
                Some((k, v)) if !k.is_empty() => pairs.push((k.to_owned(), v.to_owned())),
                _ => {
                    return Err(CniError::new(
                        code::INVALID_ENV,
                        format!("CNI_ARGS: invalid pair {seg:?}: expected KEY=VALUE"),
                    ));
                }
            }
        }
        Ok(CniArgs { pairs })
    }

    /// The value of `key` (the first one when repeated).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All pairs, in the order given.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Whether `IgnoreUnknown` is `1` or `true` (any case).
    pub fn ignore_unknown(&self) -> bool {
        self.get(IGNORE_UNKNOWN)
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
    }

    /// `Ok` if every key is in `known` (or is `IgnoreUnknown`), or if unknown keys are to be
    /// ignored; else an error with code 2 naming the unknown keys.
    pub fn check_known(&self, known: &[&str]) -> Result<(), CniError> {
        if self.ignore_unknown() {
            return Ok(());
        }
        let unknown: Vec<&str> = self
            .pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| *k != IGNORE_UNKNOWN && !known.contains(k))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(CniError::new(
                code::UNSUPPORTED_FIELD,
                format!(
                    "CNI_ARGS: unknown args [{}] (set IgnoreUnknown=1 to ignore them)",
                    unknown.join(" ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_in_order() {
        let a = CniArgs::parse("IP=10.0.0.5;FOO=a=b;;K8S_POD_NAME=web").unwrap();
        assert_eq!(a.get("IP"), Some("10.0.0.5"));
        assert_eq!(a.get("FOO"), Some("a=b"));
        assert_eq!(a.get("nope"), None);
        let all: Vec<_> = a.pairs().collect();
        assert_eq!(
            all,
            [("IP", "10.0.0.5"), ("FOO", "a=b"), ("K8S_POD_NAME", "web")]
        );
        assert!(CniArgs::parse("").unwrap().is_empty());
        assert_eq!(CniArgs::parse("E=").unwrap().get("E"), Some(""));
    }

    #[test]
    fn malformed_pairs_are_code_4_naming_them() {
        for (s, bad) in [("IP=1;garbage", "garbage"), ("=v", "=v")] {
            let e = CniArgs::parse(s).unwrap_err();
            assert_eq!(e.code, code::INVALID_ENV);
            assert!(e.msg.contains(&format!("{bad:?}")), "{}", e.msg);
        }
    }

    #[test]
    fn ignore_unknown_values() {
        let cases = [
            ("IgnoreUnknown=1", true),
            ("IgnoreUnknown=true", true),
            ("IgnoreUnknown=TRUE", true),
            ("IgnoreUnknown=0", false),
            ("IgnoreUnknown=yes", false),
            ("", false),
        ];
        for (s, want) in cases {
            assert_eq!(CniArgs::parse(s).unwrap().ignore_unknown(), want, "{s}");
        }
    }

    #[test]
    fn unknown_keys_are_code_2_unless_ignored() {
        let a = CniArgs::parse("FOO=bar;IP=10.0.0.5;BAZ=1").unwrap();
        let e = a.check_known(&["IP"]).unwrap_err();
        assert_eq!(e.code, code::UNSUPPORTED_FIELD);
        assert!(e.msg.contains("[FOO BAZ]"), "{}", e.msg);
        a.check_known(&["IP", "FOO", "BAZ"]).unwrap();

        let a = CniArgs::parse("IgnoreUnknown=1;FOO=bar;IP=10.0.0.5").unwrap();
        a.check_known(&["IP"]).unwrap();
        let a = CniArgs::parse("IgnoreUnknown=0;IP=10.0.0.5").unwrap();
        a.check_known(&["IP"]).unwrap();
    }
}
