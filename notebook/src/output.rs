//! What a code cell shows after it ran, in nbformat's own four shapes: streams, display
//! data, execute results and errors.
//!
//! The same types read a `.ipynb` file (where text is usually a list of lines) and the
//! outputs the Python side sends after a run (where text is one string); both become the
//! same value. Serializing gives the one-string form, which is valid nbformat too;
//! [`crate::Notebook::to_ipynb`] splits text into lines as Jupyter writes it.

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::multiline;

/// The most data one output may hold when a notebook is opened: 5 MiB.
///
/// A bigger output (a 20 MB image, a log printed in a loop) is replaced by a short note
/// that says what it was, and the rest of the notebook opens normally. The notebook is kept
/// in IndexedDB and rewritten whole on every autosave, so one huge output would make every
/// keystroke's save slow; and the page holds every output in memory at least twice (the
/// model and the rendered page, images also decoded), which a few such outputs would make
/// heavy enough to stall or crash the tab.
pub const MAX_OUTPUT_BYTES: usize = 5 * 1024 * 1024;

/// Which stream a [`Output::Stream`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    Stdout,
    Stderr,
}

impl StreamName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// One output of a code cell. Serde's tag is nbformat's `output_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "output_type", rename_all = "snake_case")]
pub enum Output {
    /// Text a program printed.
    Stream {
        name: StreamName,
        #[serde(deserialize_with = "multiline::deserialize")]
        text: String,
    },
    /// Something shown with `display(…)` or a figure, in one or more MIME types.
    DisplayData {
        #[serde(default)]
        data: MimeBundle,
        #[serde(default)]
        metadata: Map<String, Value>,
    },
    /// The value of a cell's last expression.
    ExecuteResult {
        #[serde(default)]
        execution_count: Option<u32>,
        #[serde(default)]
        data: MimeBundle,
        #[serde(default)]
        metadata: Map<String, Value>,
    },
    /// An exception the cell raised.
    Error {
        ename: String,
        evalue: String,
        #[serde(default)]
        traceback: Vec<String>,
    },
}

impl Output {
    pub fn stream(name: StreamName, text: impl Into<String>) -> Self {
        Self::Stream {
            name,
            text: text.into(),
        }
    }

    pub fn error(
        ename: impl Into<String>,
        evalue: impl Into<String>,
        traceback: Vec<String>,
    ) -> Self {
        Self::Error {
            ename: ename.into(),
            evalue: evalue.into(),
            traceback,
        }
    }

    /// A `display_data` output without metadata.
    pub fn display_data(data: MimeBundle) -> Self {
        Self::DisplayData {
            data,
            metadata: Map::new(),
        }
    }

    /// An `execute_result` output without metadata.
    pub fn execute_result(execution_count: Option<u32>, data: MimeBundle) -> Self {
        Self::ExecuteResult {
            execution_count,
            data,
            metadata: Map::new(),
        }
    }

    /// nbformat's name for this kind of output.
    pub fn output_type(&self) -> &'static str {
        match self {
            Self::Stream { .. } => "stream",
            Self::DisplayData { .. } => "display_data",
            Self::ExecuteResult { .. } => "execute_result",
            Self::Error { .. } => "error",
        }
    }

    /// How many bytes of data this output holds: the text of a stream, the name, message
    /// and traceback of an error, every value of a MIME bundle (JSON values as JSON text).
    /// Metadata is not counted.
    pub fn data_bytes(&self) -> usize {
        match self {
            Self::Stream { text, .. } => text.len(),
            Self::DisplayData { data, .. } | Self::ExecuteResult { data, .. } => {
                data.iter().map(|(_, value)| value_bytes(value)).sum()
            }
            Self::Error {
                ename,
                evalue,
                traceback,
            } => ename.len() + evalue.len() + traceback.iter().map(String::len).sum::<usize>(),
        }
    }

    /// This output, or — when it holds more than [`MAX_OUTPUT_BYTES`] of data — a
    /// `display_data` with a `text/plain` note saying what was dropped, e.g. "[an image/png
    /// output of 20.0 MB was too large to keep; the limit is 5 MB]". Opening a notebook
    /// applies this to every output; the page may apply it to run outputs too.
    pub fn limit_size(self) -> Self {
        let bytes = self.data_bytes();
        if bytes <= MAX_OUTPUT_BYTES {
            return self;
        }
        let what = match &self {
            Self::Stream { name, .. } => name.as_str().to_owned(),
            Self::DisplayData { data, .. } | Self::ExecuteResult { data, .. } => data
                .iter()
                .max_by_key(|(_, value)| value_bytes(value))
                .map_or_else(|| "unknown".to_owned(), |(mime, _)| shortened(mime, 60)),
            Self::Error { .. } => "error".to_owned(),
        };
        let mut note = MimeBundle::new();
        note.insert_text(
            "text/plain",
            format!(
                "[{} {what} output of {} was too large to keep; the limit is {} MB]",
                indefinite_article(&what),
                megabytes_rounded_up(bytes),
                MAX_OUTPUT_BYTES / MEBIBYTE
            ),
        );
        Self::display_data(note)
    }
}

/// Consecutive stream outputs of the same name become one, as Jupyter shows them: a loop
/// that prints 1,000 lines is one block of text, not 1,000 outputs.
pub fn merge_streams(outputs: &mut Vec<Output>) {
    let mut merged: Vec<Output> = Vec::with_capacity(outputs.len());
    for output in outputs.drain(..) {
        if let (
            Some(Output::Stream {
                name: previous_name,
                text: previous_text,
            }),
            Output::Stream { name, text },
        ) = (merged.last_mut(), &output)
            && previous_name == name
        {
            previous_text.push_str(text);
            continue;
        }
        merged.push(output);
    }
    *outputs = merged;
}

/// Whether nbformat keeps a MIME type's value as JSON (`application/json` and
/// `application/…+json`) rather than as text. This is nbformat's own rule (`_is_json_mime`).
pub fn is_json_mime(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Whether nbformat writes a MIME type's text as a list of lines (`text/…`, SVG and
/// JavaScript) rather than as one string (base64 images and everything else).
pub(crate) fn is_split_mime(mime: &str) -> bool {
    mime.starts_with("text/") || mime == "image/svg+xml" || mime == "application/javascript"
}

/// The same data in several MIME types (`text/plain`, `text/html`, `image/png`, …); a
/// page shows the richest one it can.
///
/// Every type that is not JSON (see [`is_json_mime`]) holds one string: nbformat's lists of
/// lines are joined when read, and a value that is not text is dropped, as nbformat allows
/// none. Base64 images keep the whitespace the file had (a data URL ignores it). JSON types
/// hold any JSON value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MimeBundle(BTreeMap<String, Value>);

impl MimeBundle {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value for a MIME type, as held (a string for text-like types).
    pub fn get(&self, mime: &str) -> Option<&Value> {
        self.0.get(mime)
    }

    /// The text for a MIME type: always there for a type that is not JSON; for a JSON
    /// type, only if its value is a string.
    pub fn get_text(&self, mime: &str) -> Option<&str> {
        self.0.get(mime).and_then(Value::as_str)
    }

    pub fn contains(&self, mime: &str) -> bool {
        self.0.contains_key(mime)
    }

    pub fn insert_text(&mut self, mime: impl Into<String>, text: impl Into<String>) {
        self.0.insert(mime.into(), Value::String(text.into()));
    }

    /// Inserts a value and says whether it was kept. A type that is not JSON holds text:
    /// a list of strings is joined into one string, and anything else (a number, an
    /// object) is not kept, since nbformat allows only text there.
    pub fn insert(&mut self, mime: impl Into<String>, value: Value) -> bool {
        let mime = mime.into();
        let value = if is_json_mime(&mime) {
            value
        } else {
            match multiline::join_owned(value) {
                Ok(text) => Value::String(text),
                Err(_) => return false,
            }
        };
        self.0.insert(mime, value);
        true
    }

    pub fn remove(&mut self, mime: &str) -> Option<Value> {
        self.0.remove(mime)
    }

    /// MIME types and values, in MIME type order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(mime, value)| (mime.as_str(), value))
    }

    pub fn mime_types(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for MimeBundle {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = BTreeMap::<String, Value>::deserialize(deserializer)?;
        let mut bundle = Self::new();
        for (mime, value) in entries {
            bundle.insert(mime, value);
        }
        Ok(bundle)
    }
}

impl IntoIterator for MimeBundle {
    type Item = (String, Value);
    type IntoIter = std::collections::btree_map::IntoIter<String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Collects with [`MimeBundle::insert`]'s rules: text joined, non-text values of text types
/// dropped.
impl FromIterator<(String, Value)> for MimeBundle {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(entries: I) -> Self {
        let mut bundle = Self::new();
        for (mime, value) in entries {
            bundle.insert(mime, value);
        }
        bundle
    }
}

const MEBIBYTE: usize = 1024 * 1024;

/// Bytes of one bundle value: a string's length, anything else as compact JSON text.
fn value_bytes(value: &Value) -> usize {
    match value {
        Value::String(text) => text.len(),
        other => {
            let mut counter = ByteCounter(0);
            // Writing a `Value` to a sink that cannot fail cannot fail.
            let _ = serde_json::to_writer(&mut counter, other);
            counter.0
        }
    }
}

/// A writer that only counts what is written to it.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `bytes` in MB (MiB) with one decimal, rounded up, so a size just over a limit never
/// reads as the limit itself.
pub(crate) fn megabytes_rounded_up(bytes: usize) -> String {
    let tenths = (bytes as u64 * 10).div_ceil(MEBIBYTE as u64);
    format!("{}.{} MB", tenths / 10, tenths % 10)
}

/// "a" or "an" before a word, by its first letter (enough for MIME types and stream names).
fn indefinite_article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}

/// At most `max_chars` characters of a text from a file, for a message.
pub(crate) fn shortened(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: Value) -> Output {
        serde_json::from_value(value).expect("a valid output")
    }

    #[test]
    fn reads_outputs_as_jupyter_writes_them_and_as_python_sends_them() {
        let cases = [
            (
                json!({"output_type": "stream", "name": "stdout", "text": ["a\n", "b\n"]}),
                json!({"output_type": "stream", "name": "stdout", "text": "a\nb\n"}),
            ),
            (
                json!({"output_type": "execute_result", "execution_count": 3, "metadata": {},
                       "data": {"text/plain": ["   x\n", "0  1"], "text/html": ["<b>", "1</b>"]}}),
                json!({"output_type": "execute_result", "execution_count": 3, "metadata": {},
                       "data": {"text/plain": "   x\n0  1", "text/html": "<b>1</b>"}}),
            ),
            (
                json!({"output_type": "display_data", "metadata": {"image/png": {"width": 4}},
                       "data": {"image/png": "iVBORw0KGgo=\n", "application/json": ["a", "b"],
                                "application/vnd.plotly.v1+json": {"data": []}}}),
                json!({"output_type": "display_data", "metadata": {"image/png": {"width": 4}},
                       "data": {"image/png": "iVBORw0KGgo=\n", "application/json": ["a", "b"],
                                "application/vnd.plotly.v1+json": {"data": []}}}),
            ),
        ];
        for (as_in_a_file, as_python_sends_it) in cases {
            assert_eq!(read(as_in_a_file.clone()), read(as_python_sends_it.clone()));
            assert_eq!(
                serde_json::to_value(read(as_in_a_file)).expect("serialize"),
                as_python_sends_it
            );
        }
    }

    #[test]
    fn fills_in_what_may_be_left_out() {
        assert_eq!(
            read(json!({"output_type": "execute_result", "data": {"text/plain": "1"}})),
            Output::execute_result(
                None,
                [("text/plain".to_owned(), json!("1"))]
                    .into_iter()
                    .collect()
            )
        );
        assert_eq!(
            read(json!({"output_type": "error", "ename": "E", "evalue": "v"})),
            Output::error("E", "v", Vec::new())
        );
        assert_eq!(
            serde_json::to_value(Output::execute_result(None, MimeBundle::new()))
                .expect("serialize"),
            json!({"output_type": "execute_result", "execution_count": null, "data": {}, "metadata": {}})
        );
    }

    #[test]
    fn rejects_what_is_not_an_output() {
        for invalid in [
            json!({"output_type": "stream", "name": "stdin", "text": ""}),
            json!({"output_type": "stream", "name": "stdout", "text": 3}),
            json!({"output_type": "stream", "name": "stdout", "text": ["a", 1]}),
            json!({"output_type": "stream", "text": "a"}),
            json!({"output_type": "error", "ename": "E"}),
            json!({"output_type": "execute_result", "execution_count": -1, "data": {}}),
            json!({"output_type": "display_data", "data": []}),
            json!({"output_type": "widget"}),
            json!({"name": "stdout", "text": "a"}),
            json!("stream"),
        ] {
            assert!(
                serde_json::from_value::<Output>(invalid.clone()).is_err(),
                "{invalid}"
            );
        }
    }

    #[test]
    fn text_is_always_held_as_one_string() {
        let mut bundle = MimeBundle::new();
        bundle.insert("text/plain", json!(["a\n", "b"]));
        bundle.insert("image/svg+xml", json!(["<svg>", "</svg>"]));
        bundle.insert("application/json", json!(["a\n", "b"]));
        assert!(!bundle.insert("text/x-odd", json!(7)));
        assert!(!bundle.insert("image/png", json!({"not": "base64"})));
        assert!(bundle.insert("application/vnd.x+json", json!(7)));
        assert_eq!(bundle.get_text("text/plain"), Some("a\nb"));
        assert_eq!(bundle.get_text("image/svg+xml"), Some("<svg></svg>"));
        assert_eq!(bundle.get("application/json"), Some(&json!(["a\n", "b"])));
        assert_eq!(bundle.get("application/vnd.x+json"), Some(&json!(7)));
        assert_eq!(
            bundle.mime_types().collect::<Vec<_>>(),
            [
                "application/json",
                "application/vnd.x+json",
                "image/svg+xml",
                "text/plain"
            ]
        );
        let read: MimeBundle =
            serde_json::from_value(json!({"text/plain": 3, "text/html": ["<b>", "x</b>"]}))
                .expect("a bundle");
        assert_eq!(
            read.into_iter().collect::<Vec<_>>(),
            [("text/html".to_owned(), json!("<b>x</b>"))]
        );
    }

    #[test]
    fn knows_json_and_split_mime_types_as_nbformat_does() {
        for (mime, json, split) in [
            ("application/json", true, false),
            ("application/vnd.plotly.v1+json", true, false),
            ("application/geo+json", true, false),
            ("text/plain", false, true),
            ("text/html", false, true),
            ("image/svg+xml", false, true),
            ("application/javascript", false, true),
            ("image/png", false, false),
            ("image/jpeg", false, false),
            ("application/pdf", false, false),
        ] {
            assert_eq!(
                (is_json_mime(mime), is_split_mime(mime)),
                (json, split),
                "{mime}"
            );
        }
    }

    #[test]
    fn merges_consecutive_streams_of_the_same_name() {
        let figure = Output::display_data(
            [("image/png".to_owned(), json!("iVBOR"))]
                .into_iter()
                .collect(),
        );
        let mut outputs = vec![
            Output::stream(StreamName::Stdout, "a\n"),
            Output::stream(StreamName::Stdout, "b\n"),
            Output::stream(StreamName::Stderr, "warning\n"),
            Output::stream(StreamName::Stderr, "again\n"),
            Output::stream(StreamName::Stdout, "c"),
            figure.clone(),
            Output::stream(StreamName::Stdout, "d"),
            Output::stream(StreamName::Stdout, "e"),
        ];
        merge_streams(&mut outputs);
        assert_eq!(
            outputs,
            [
                Output::stream(StreamName::Stdout, "a\nb\n"),
                Output::stream(StreamName::Stderr, "warning\nagain\n"),
                Output::stream(StreamName::Stdout, "c"),
                figure,
                Output::stream(StreamName::Stdout, "de"),
            ]
        );
        let mut none = Vec::new();
        merge_streams(&mut none);
        assert!(none.is_empty());
    }

    fn check_limit(output: Output, expected_note: Option<&str>) {
        let limited = output.clone().limit_size();
        match expected_note {
            None => assert_eq!(limited, output),
            Some(note) => assert_eq!(
                limited,
                Output::display_data(
                    [("text/plain".to_owned(), json!(note))]
                        .into_iter()
                        .collect()
                )
            ),
        }
    }

    #[test]
    fn replaces_outputs_over_the_limit_by_a_note() {
        let image = |bytes: usize| {
            Output::display_data(
                [
                    ("image/png".to_owned(), json!("A".repeat(bytes))),
                    (
                        "text/plain".to_owned(),
                        json!("<Figure size 640x480 with 1 Axes>"),
                    ),
                ]
                .into_iter()
                .collect(),
            )
        };
        let text_plain_bytes = "<Figure size 640x480 with 1 Axes>".len();
        check_limit(image(MAX_OUTPUT_BYTES - text_plain_bytes), None);
        check_limit(
            image(MAX_OUTPUT_BYTES - text_plain_bytes + 1),
            Some("[an image/png output of 5.1 MB was too large to keep; the limit is 5 MB]"),
        );
        check_limit(
            image(20 * MEBIBYTE - text_plain_bytes),
            Some("[an image/png output of 20.0 MB was too large to keep; the limit is 5 MB]"),
        );
        check_limit(
            Output::stream(StreamName::Stdout, "x".repeat(6 * MEBIBYTE)),
            Some("[a stdout output of 6.0 MB was too large to keep; the limit is 5 MB]"),
        );
        check_limit(
            Output::error("E", "v", vec!["x".repeat(6 * MEBIBYTE - 2)]),
            Some("[an error output of 6.0 MB was too large to keep; the limit is 5 MB]"),
        );
        check_limit(
            Output::execute_result(
                Some(1),
                [(
                    "application/json".to_owned(),
                    json!(["x".repeat(MAX_OUTPUT_BYTES)]),
                )]
                .into_iter()
                .collect(),
            ),
            Some("[an application/json output of 5.1 MB was too large to keep; the limit is 5 MB]"),
        );
    }

    #[test]
    fn formats_sizes_in_megabytes() {
        for (bytes, expected) in [
            (0, "0.0 MB"),
            (1, "0.1 MB"),
            (MEBIBYTE, "1.0 MB"),
            (MEBIBYTE + 1, "1.1 MB"),
            (54_840_524, "52.3 MB"),
        ] {
            assert_eq!(megabytes_rounded_up(bytes), expected);
        }
    }

    #[test]
    fn shortens_long_texts_for_messages() {
        assert_eq!(shortened("abc", 3), "abc");
        assert_eq!(shortened("abcd", 3), "abc…");
        assert_eq!(shortened("ééééé", 2), "éé…");
    }
}
