//! nbformat's "multiline strings": a text stored either as one JSON string or as a list of
//! strings to be joined. The model always holds one `String`; files are written as lists
//! of lines, split exactly where Jupyter splits them.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The text a multiline-string value stands for: a string as is, a list of strings
/// joined; anything else is not text (`None`).
pub(crate) fn join(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(|part| part.as_str())
            .collect::<Option<Vec<&str>>>()
            .map(|parts| parts.concat()),
        _ => None,
    }
}

/// Like [`join`], taking the value: a string is moved, not copied (outputs can be
/// megabytes).
pub(crate) fn join_owned(value: Value) -> Result<String, Value> {
    match value {
        Value::String(text) => Ok(text),
        other => join(&other).ok_or(other),
    }
}

/// Serde's side of [`join_owned`], for `#[serde(deserialize_with)]`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Multiline {
        One(String),
        Lines(Vec<String>),
    }
    match Multiline::deserialize(deserializer) {
        Ok(Multiline::One(text)) => Ok(text),
        Ok(Multiline::Lines(lines)) => Ok(lines.concat()),
        Err(_) => Err(serde::de::Error::custom(
            "expected text (a string or a list of strings)",
        )),
    }
}

/// The lines of `text` with their line endings kept, as Python's
/// `str.splitlines(keepends=True)` makes them — which is what nbformat calls when it writes
/// a file. Python ends a line not only at `\n` but also at `\r`, `\r\n`, `\v`, `\f`,
/// `\x1c`–`\x1e`, `\u{85}`, `\u{2028}` and `\u{2029}`; splitting anywhere else would make a
/// file Jupyter wrote come back as a different JSON value. An empty text has no lines.
pub(crate) fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut line_start = 0;
    let mut characters = text.char_indices().peekable();
    while let Some((position, character)) = characters.next() {
        let line_end = match character {
            '\r' => match characters.peek() {
                Some(&(next_position, '\n')) => {
                    characters.next();
                    next_position + 1
                }
                _ => position + 1,
            },
            '\n' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => position + character.len_utf8(),
            _ => continue,
        };
        lines.push(&text[line_start..line_end]);
        line_start = line_end;
    }
    if line_start < text.len() {
        lines.push(&text[line_start..]);
    }
    lines
}

/// `text` as nbformat writes a multiline string: a list of its lines.
pub(crate) fn to_lines_value(text: &str) -> Value {
    Value::Array(
        split_lines(text)
            .into_iter()
            .map(|line| Value::String(line.to_owned()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_split(text: &str, expected: &[&str]) {
        assert_eq!(split_lines(text), expected, "splitting {text:?}");
        assert_eq!(
            split_lines(text).concat(),
            text,
            "the lines of {text:?} rejoin"
        );
    }

    #[test]
    fn splits_where_python_splitlines_does() {
        check_split("", &[]);
        check_split("a", &["a"]);
        check_split("a\n", &["a\n"]);
        check_split("a\nb", &["a\n", "b"]);
        check_split("a\n\nb\n", &["a\n", "\n", "b\n"]);
        check_split("\n", &["\n"]);
        check_split("a\r\nb\rc", &["a\r\n", "b\r", "c"]);
        check_split("a\r\r\nb", &["a\r", "\r\n", "b"]);
        check_split("x\u{b}y\u{c}z", &["x\u{b}", "y\u{c}", "z"]);
        check_split("\u{1c}\u{1d}\u{1e}", &["\u{1c}", "\u{1d}", "\u{1e}"]);
        check_split(
            "é\u{85}ü\u{2028}ö\u{2029}",
            &["é\u{85}", "ü\u{2028}", "ö\u{2029}"],
        );
        check_split("tab\tstays", &["tab\tstays"]);
    }

    #[test]
    fn joins_strings_and_lists_of_strings_only() {
        assert_eq!(join(&json!("a\nb")), Some("a\nb".to_owned()));
        assert_eq!(join(&json!(["a\n", "b"])), Some("a\nb".to_owned()));
        assert_eq!(join(&json!([])), Some(String::new()));
        assert_eq!(join(&json!(["a", 1])), None);
        assert_eq!(join(&json!(3)), None);
        assert_eq!(join(&json!(null)), None);
        assert_eq!(join(&json!({"a": "b"})), None);
    }

    #[test]
    fn writes_lines_as_a_list() {
        assert_eq!(to_lines_value("a\nb"), json!(["a\n", "b"]));
        assert_eq!(to_lines_value(""), json!([]));
    }
}
