//! A YAML document as a tree in which every value keeps its line and column: built from
//! saphyr-parser's events, so the checks downstream can point at the exact spot.
//! Aliases are expanded (with a bound on the total size, against "billion laughs").

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A position in the file: line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A value and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Value {
    pub pos: Pos,
    pub kind: Kind,
}

/// A map key (always a scalar here) and where it is.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub name: String,
    pub pos: Pos,
}

/// What a value is.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `~`, `null` or nothing.
    Null,
    /// A scalar: its text, and whether it was plain (unquoted, so `true` or `12` are typed).
    Str(String, bool),
    /// A sequence.
    Seq(Vec<Value>),
    /// A mapping, in file order.
    Map(Vec<(Key, Value)>),
}

/// A YAML syntax error (or a structure this loader refuses), with its position.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Most values a document may expand to (aliases included).
const MAX_VALUES: usize = 2_000_000;
/// Deepest nesting of lists and maps (a lab needs 6; the bound keeps recursion shallow).
const MAX_DEPTH: usize = 64;

fn pos(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

enum Frame {
    Seq(Pos, usize, Vec<Value>),
    Map(Pos, usize, Vec<(Key, Value)>, Option<Key>),
}

/// Parses one YAML document (an empty text is `Null`).
pub(crate) fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut root: Option<Value> = None;
    let mut documents = 0;
    let mut count = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| SyntaxError {
            pos: Pos {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: e.info().to_string(),
        })?;
        let at = pos(&span);
        let done: Option<(Value, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        pos: at,
                        message: "a lab file holds one YAML document".into(),
                    });
                }
                None
            }
            Event::Alias(id) => {
                let Some(v) = anchors.get(&id) else {
                    return Err(SyntaxError {
                        pos: at,
                        message: "unknown alias".into(),
                    });
                };
                count += size(v);
                if count > MAX_VALUES {
                    return Err(too_big(at));
                }
                Some((v.clone(), 0))
            }
            Event::Scalar(text, style, anchor, tag) => {
                count += 1;
                let plain = style == ScalarStyle::Plain && tag.is_none();
                let kind = if plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Kind::Null
                } else {
                    Kind::Str(Cow::into_owned(text), plain)
                };
                Some((Value { pos: at, kind }, anchor))
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(SyntaxError {
                    pos: at,
                    message: format!("lists and maps nested deeper than {MAX_DEPTH} levels"),
                });
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(at, anchor, Vec::new()));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(at, anchor, Vec::new(), None));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(p, anchor, items)) => {
                    count += 1;
                    Some((
                        Value {
                            pos: p,
                            kind: Kind::Seq(items),
                        },
                        anchor,
                    ))
                }
                _ => unreachable!("the parser balances sequences"),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(p, anchor, items, _)) => {
                    count += 1;
                    Some((
                        Value {
                            pos: p,
                            kind: Kind::Map(items),
                        },
                        anchor,
                    ))
                }
                _ => unreachable!("the parser balances mappings"),
            },
        };
        if count > MAX_VALUES {
            return Err(too_big(at));
        }
        let Some((value, anchor)) = done else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq(_, _, items)) => items.push(value),
            Some(Frame::Map(_, _, items, key)) => match key.take() {
                None => {
                    let name = match value.kind {
                        Kind::Str(s, _) => s,
                        Kind::Null => String::new(),
                        Kind::Seq(_) | Kind::Map(_) => {
                            return Err(SyntaxError {
                                pos: value.pos,
                                message: "a key must be a plain value, not a list or a map".into(),
                            });
                        }
                    };
                    *key = Some(Key {
                        name,
                        pos: value.pos,
                    });
                }
                Some(k) => items.push((k, value)),
            },
        }
    }
    Ok(root.unwrap_or(Value {
        pos: Pos { line: 1, column: 1 },
        kind: Kind::Null,
    }))
}

fn too_big(pos: Pos) -> SyntaxError {
    SyntaxError {
        pos,
        message: format!("the document expands to more than {MAX_VALUES} values"),
    }
}

fn size(v: &Value) -> usize {
    match &v.kind {
        Kind::Null | Kind::Str(..) => 1,
        Kind::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Kind::Map(items) => 1 + items.iter().map(|(_, v)| size(v)).sum::<usize>(),
    }
}

impl Value {
    /// A short name of the value's type for messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "nothing",
            Kind::Str(..) => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a map",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let v = parse("a: 1\nb:\n  - x\n  - 'y'\n").unwrap();
        let Kind::Map(items) = v.kind else { panic!() };
        assert_eq!(items[0].0.pos, Pos { line: 1, column: 1 });
        assert_eq!(items[0].1.pos, Pos { line: 1, column: 4 });
        let Kind::Seq(seq) = &items[1].1.kind else {
            panic!()
        };
        assert_eq!(seq[1].pos, Pos { line: 4, column: 5 });
        assert!(matches!(&seq[1].kind, Kind::Str(s, false) if s == "y"));
    }

    #[test]
    fn aliases_expand_and_bombs_stop() {
        let v = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        let Kind::Map(items) = v.kind else { panic!() };
        assert!(matches!(&items[1].1.kind, Kind::Seq(s) if s.len() == 2));
        let mut bomb = String::from("a: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(&bomb).is_err());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.pos.line >= 1, "{e:?}");
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse(&deep).unwrap_err();
        assert_eq!(e.pos.line, 1);
        let deep: String = (1..80).map(|i| format!("{}b:\n", " ".repeat(i))).collect();
        let e = parse(&format!("a:\n{deep}")).unwrap_err();
        assert_eq!(e.message, "lists and maps nested deeper than 64 levels");
        assert_eq!(
            e.pos,
            Pos {
                line: 65,
                column: 65
            }
        );
    }
}
