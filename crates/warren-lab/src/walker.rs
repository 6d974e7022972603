//! The typed readers of a YAML tree: each checks its value's type and reports its own
//! errors (with the field path), returning `None` or an empty value so the walk goes on.

use warren_kernel::addr::IpNet;

use crate::load::Diags;
use crate::spec::{At, join};
use crate::yaml::{Key, Kind, Value};

/// The typed readers of YAML values; each reports its own errors.
pub(crate) struct Walker<'a> {
    pub d: &'a mut Diags,
}

impl Walker<'_> {
    /// The entries of a map; unknown keys (when `allowed` is not empty) and duplicates are
    /// reported and left out. `Null` is an empty map.
    pub(crate) fn map<'v>(
        &mut self,
        v: &'v Value,
        field: &str,
        allowed: &[&str],
    ) -> Vec<(&'v Key, &'v Value)> {
        let items = match &v.kind {
            Kind::Map(items) => items,
            Kind::Null => return Vec::new(),
            _ => {
                self.d.error(
                    v.pos,
                    field,
                    format!("expected a map, found {}", v.type_name()),
                );
                return Vec::new();
            }
        };
        let mut out: Vec<(&Key, &Value)> = Vec::with_capacity(items.len());
        let mut seen = crate::fxhash::map(items.len());
        for (k, val) in items {
            if !allowed.is_empty() && !allowed.contains(&k.name.as_str()) {
                self.d.error(
                    k.pos,
                    &join(field, &k.name),
                    format!(
                        "unknown field {:?} (allowed: {})",
                        k.name,
                        allowed.join(", ")
                    ),
                );
                continue;
            }
            if let Some(first) = seen.insert(k.name.as_str(), k.pos) {
                self.d.error(
                    k.pos,
                    &join(field, &k.name),
                    format!(
                        "duplicate key (first at line {}, column {})",
                        first.line, first.column
                    ),
                );
                continue;
            }
            out.push((k, val));
        }
        out
    }

    /// A list (`Null` is empty).
    pub(crate) fn list<'v>(&mut self, v: &'v Value, field: &str) -> &'v [Value] {
        match &v.kind {
            Kind::Seq(items) => items,
            Kind::Null => &[],
            _ => {
                self.d.error(
                    v.pos,
                    field,
                    format!("expected a list, found {}", v.type_name()),
                );
                &[]
            }
        }
    }

    /// A scalar's text.
    pub(crate) fn string(&mut self, v: &Value, field: &str) -> Option<At<String>> {
        match &v.kind {
            Kind::Str(s, _) => Some(At {
                v: s.clone(),
                pos: v.pos,
                field: field.to_string(),
            }),
            _ => {
                self.d.error(
                    v.pos,
                    field,
                    format!("expected a string, found {}", v.type_name()),
                );
                None
            }
        }
    }

    pub(crate) fn parsed<T>(
        &mut self,
        v: &Value,
        field: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.string(v, field)?;
        match f(&s.v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.d.error(v.pos, field, e);
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, v: &Value, field: &str) -> Option<bool> {
        match &v.kind {
            Kind::Str(s, true) if matches!(s.as_str(), "true" | "True" | "TRUE") => Some(true),
            Kind::Str(s, true) if matches!(s.as_str(), "false" | "False" | "FALSE") => Some(false),
            _ => {
                self.d.error(v.pos, field, "expected true or false");
                None
            }
        }
    }

    pub(crate) fn uint(&mut self, v: &Value, field: &str, min: u64, max: u64) -> Option<u64> {
        match &v.kind {
            Kind::Str(s, _) if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => {
                match s.parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => Some(n),
                    _ => {
                        self.d.error(
                            v.pos,
                            field,
                            format!("{s} is out of range ({min} to {max})"),
                        );
                        None
                    }
                }
            }
            _ => {
                self.d.error(v.pos, field, "expected a whole number");
                None
            }
        }
    }

    pub(crate) fn net(&mut self, v: &Value, field: &str) -> Option<At<IpNet>> {
        let n = self.parsed(v, field, |s| {
            s.parse::<IpNet>()
                .map_err(|_| format!("{s:?} is not an address with a prefix length (10.0.0.1/24)"))
        })?;
        Some(At {
            v: n,
            pos: v.pos,
            field: field.to_string(),
        })
    }
}
