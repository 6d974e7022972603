//! Escaping of user text for each format.

/// Text for XML/HTML content and attribute values: `& < > " '` as entities, and the control
/// characters XML 1.0 forbids replaced by U+FFFD.
pub(crate) fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A DOT double-quoted string's inside: `\` and `"` escaped, line breaks as `\n`, other
/// control characters dropped.
pub(crate) fn dot(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid quoted label's inside: quotes, angle brackets, `&`, `#`, `|` and backticks as
/// Mermaid entity codes (`#quot;`), line breaks as `<br/>`.
pub(crate) fn mermaid(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '#' => out.push_str("#35;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            '\n' => out.push_str("<br/>"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// JSON for inside an HTML `<script>`: `<`, `>` and `&` as `\u` escapes, so neither an HTML
/// nor an XML parser sees markup in it. (They can only occur inside JSON strings.)
pub(crate) fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_escaper_neutralises_markup() {
        let cases = [
            (
                super::xml("<a href=\"x\">&'"),
                "&lt;a href=&quot;x&quot;&gt;&amp;&#39;",
            ),
            (super::xml("a\u{1}b"), "a\u{fffd}b"),
            (super::dot("say \"hi\" \\ \n"), "say \\\"hi\\\" \\\\ \\n"),
            (
                super::mermaid("<b>\"#|`&"),
                "#lt;b#gt;#quot;#35;#124;#96;#amp;",
            ),
            (
                super::script_json("\"</script>&\""),
                "\"\\u003c/script\\u003e\\u0026\"",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
