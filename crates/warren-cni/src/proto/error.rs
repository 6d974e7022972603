//! The CNI error object and the well-known error codes.

use serde_json::{Map, Value, json};

/// The error codes of the CNI specification (0–99 are reserved; 100 and up are plugin
/// specific), plus the Go library's catch-all 999.
pub mod code {
    /// The plugin does not support the requested `cniVersion`.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// A field of the network configuration is not supported (the message names key and value).
    pub const UNSUPPORTED_FIELD: u32 = 2;
    /// The container is unknown or no longer exists.
    pub const UNKNOWN_CONTAINER: u32 = 3;
    /// A necessary environment variable is missing or invalid (the message names it).
    pub const INVALID_ENV: u32 = 4;
    /// An I/O failure, such as reading stdin.
    pub const IO: u32 = 5;
    /// Content could not be decoded (bad JSON).
    pub const DECODE: u32 = 6;
    /// The network configuration is invalid.
    pub const INVALID_CONFIG: u32 = 7;
    /// A transient failure: the runtime may try again later.
    pub const TRY_AGAIN: u32 = 11;
    /// STATUS: the plugin cannot service ADD requests now.
    pub const NOT_AVAILABLE: u32 = 50;
    /// STATUS: not available, and existing containers may have limited connectivity.
    pub const LIMITED: u32 = 51;
    /// Any other failure (what the reference plugins return for runtime errors).
    pub const INTERNAL: u32 = 999;
}

/// A CNI error: what a plugin prints on stdout, as JSON, before exiting non-zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}{}", suffix(.details))]
pub struct CniError {
    /// The error code (see [`code`]).
    pub code: u32,
    /// A short message.
    pub msg: String,
    /// Longer details; empty when there are none.
    pub details: String,
}

fn suffix(details: &str) -> String {
    if details.is_empty() {
        String::new()
    } else {
        format!(": {details}")
    }
}

impl CniError {
    /// An error with a code and a message, without details.
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// The same error with `d` as its details.
    #[must_use]
    pub fn details(self, d: impl Into<String>) -> Self {
        CniError {
            details: d.into(),
            ..self
        }
    }

    /// The error object of the specification: `{"cniVersion", "code", "msg", "details"}`,
    /// `details` left out when empty.
    pub fn to_json(&self, cni_version: &str) -> Value {
        let mut m = Map::new();
        m.insert("cniVersion".into(), json!(cni_version));
        m.insert("code".into(), json!(self.code));
        m.insert("msg".into(), json!(self.msg));
        if !self.details.is_empty() {
            m.insert("details".into(), json!(self.details));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_details() {
        let e = CniError::new(code::IO, "read stdin");
        assert_eq!(e.to_string(), "read stdin");
        let e = e.details("broken pipe");
        assert_eq!(e.to_string(), "read stdin: broken pipe");
    }

    #[test]
    fn json_has_details_only_when_set() {
        let e = CniError::new(code::INVALID_CONFIG, "bad");
        assert_eq!(
            e.to_json("1.0.0"),
            json!({"cniVersion": "1.0.0", "code": 7, "msg": "bad"})
        );
        assert_eq!(
            e.details("why").to_json("1.1.0"),
            json!({"cniVersion": "1.1.0", "code": 7, "msg": "bad", "details": "why"})
        );
    }

    #[test]
    fn codes_match_the_spec() {
        let all = [
            (code::INCOMPATIBLE_VERSION, 1),
            (code::UNSUPPORTED_FIELD, 2),
            (code::UNKNOWN_CONTAINER, 3),
            (code::INVALID_ENV, 4),
            (code::IO, 5),
            (code::DECODE, 6),
            (code::INVALID_CONFIG, 7),
            (code::TRY_AGAIN, 11),
            (code::NOT_AVAILABLE, 50),
            (code::LIMITED, 51),
            (code::INTERNAL, 999),
        ];
        for (c, n) in all {
            assert_eq!(c, n);
        }
    }
}
