//! Share links: a notebook carried whole in a link's fragment, `#nb=<payload>`, which a
//! browser never sends to any server.
//!
//! The payload is the notebook as compact nbformat 4.5 JSON, compressed with raw DEFLATE and
//! written in base64url without padding (`[A-Za-z0-9_-]`, which no chat tool or browser
//! escapes). Opening a link reads it back through [`Notebook::from_ipynb`], so a stranger's
//! link meets the same checks as a stranger's file, and its size is capped before it is
//! inflated any further ([`MAX_SHARED_BYTES`]): a small link cannot become gigabytes.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use serde_json::Value;

use crate::id::IdSource;
use crate::import::ImportError;
use crate::notebook::Notebook;
use crate::output::{MimeBundle, Output, megabytes_rounded_up};
use crate::title::MAX_TITLE_CHARS;

/// Where the notebook's title travels: nbformat's notebook-level `metadata.title`.
const TITLE_KEY: &str = "title";

/// What comes after `#` in a share link, before the payload.
pub const FRAGMENT_PREFIX: &str = "nb=";

/// The longest link offered by default: 8,000 characters. Chat tools, mail clients and
/// issue trackers keep links of this length whole; some cut longer ones.
pub const DEFAULT_LINK_LIMIT: usize = 8_000;

/// The longest link this workbench makes or opens: Chromium's limit for an address
/// (2 MiB); Firefox and Safari accept longer ones.
pub const MAX_LINK_LIMIT: usize = 2 * 1024 * 1024;

/// The most a link's payload may inflate to: 8 MiB of notebook JSON. A 2 MiB link of
/// ordinary notebook text inflates to well under this; a compression bomb is stopped here.
pub const MAX_SHARED_BYTES: usize = 8 * 1024 * 1024;

/// Which outputs a link carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedOutputs {
    /// Every output, as the notebook shows it.
    All,
    /// The outputs, with images left out (an output that was only an image is left out).
    WithoutImages,
    /// No outputs, and no execution counts.
    None,
}

impl SharedOutputs {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::WithoutImages => "without-images",
            Self::None => "none",
        }
    }
}

/// A link's payload and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedNotebook {
    /// What follows [`FRAGMENT_PREFIX`].
    pub payload: String,
    pub outputs: SharedOutputs,
}

/// Why a link could not be made or opened. Each message is meant for the person sharing or
/// opening it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error(
        "the link would be {chars} characters, over the {limit} allowed; download the notebook and send the file instead"
    )]
    TooLong { chars: usize, limit: usize },
    #[error("this link is {chars} characters long; links up to {MAX_LINK_LIMIT} can be opened")]
    LinkTooLong { chars: usize },
    #[error("this link is damaged: its notebook is not in the expected form ({problem})")]
    Damaged { problem: &'static str },
    #[error(
        "this link's notebook would be over {} once unpacked, more than a shared notebook may be",
        megabytes_rounded_up(MAX_SHARED_BYTES)
    )]
    TooBig,
    #[error("this link's notebook cannot be opened: {0}")]
    NotANotebook(ImportError),
}

impl Notebook {
    /// The payload of a link to this notebook, called `title`, that fits in `room`
    /// characters: with every output if `outputs` is asked for and it fits, else without
    /// images, else without outputs.
    pub fn share(
        &self,
        title: &str,
        outputs: bool,
        room: usize,
    ) -> Result<SharedNotebook, ShareError> {
        let tries: &[SharedOutputs] = if outputs {
            &[
                SharedOutputs::All,
                SharedOutputs::WithoutImages,
                SharedOutputs::None,
            ]
        } else {
            &[SharedOutputs::None]
        };
        let mut shortest = usize::MAX;
        for &kept in tries {
            let payload = self.share_payload(title, kept);
            if payload.len() <= room {
                return Ok(SharedNotebook {
                    payload,
                    outputs: kept,
                });
            }
            shortest = shortest.min(payload.len());
        }
        Err(ShareError::TooLong {
            chars: shortest,
            limit: room,
        })
    }

    /// The payload with `outputs` kept, however long. The title goes in nbformat's
    /// notebook-level `title`.
    pub fn share_payload(&self, title: &str, outputs: SharedOutputs) -> String {
        let mut shared = self.clone();
        shared
            .metadata
            .insert(TITLE_KEY.to_owned(), Value::String(title.to_owned()));
        for cell in &mut shared.cells {
            match outputs {
                SharedOutputs::All => {}
                SharedOutputs::WithoutImages => {
                    cell.outputs = std::mem::take(&mut cell.outputs)
                        .into_iter()
                        .filter_map(without_images)
                        .collect();
                }
                SharedOutputs::None => {
                    cell.outputs.clear();
                    cell.execution_count = None;
                }
            }
        }
        let json = shared.to_ipynb_value().to_string();
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
        encoder
            .write_all(json.as_bytes())
            .and_then(|()| encoder.finish())
            .map(|compressed| URL_SAFE_NO_PAD.encode(compressed))
            .expect("compressing into memory cannot fail")
    }

    /// The notebook a link's payload carries (what follows `#nb=`), checked as a file is,
    /// and its title if the link has one.
    pub fn from_shared(
        payload: &str,
        ids: &mut impl IdSource,
    ) -> Result<(Notebook, Option<String>), ShareError> {
        let payload = payload.trim().trim_end_matches('=');
        if payload.len() > MAX_LINK_LIMIT {
            return Err(ShareError::LinkTooLong {
                chars: payload.len(),
            });
        }
        if payload.is_empty() {
            return Err(ShareError::Damaged {
                problem: "it is empty",
            });
        }
        let compressed = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| ShareError::Damaged {
                problem: "it is not base64url text",
            })?;
        let mut json = Vec::new();
        DeflateDecoder::new(compressed.as_slice())
            .take(MAX_SHARED_BYTES as u64 + 1)
            .read_to_end(&mut json)
            .map_err(|_| ShareError::Damaged {
                problem: "it does not unpack",
            })?;
        if json.len() > MAX_SHARED_BYTES {
            return Err(ShareError::TooBig);
        }
        let text = String::from_utf8(json).map_err(|_| ShareError::Damaged {
            problem: "it is not text once unpacked",
        })?;
        let mut notebook = Notebook::from_ipynb(&text, ids).map_err(ShareError::NotANotebook)?;
        let title = match notebook.metadata.remove(TITLE_KEY) {
            Some(Value::String(title)) => Some(title),
            _ => None,
        }
        .map(|title| {
            title
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(MAX_TITLE_CHARS)
                .collect::<String>()
        })
        .filter(|title| !title.is_empty());
        Ok((notebook, title))
    }
}

/// An output without its images; `None` when nothing else was in it.
fn without_images(output: Output) -> Option<Output> {
    let strip = |data: MimeBundle| {
        let mut kept = MimeBundle::new();
        for (mime, value) in data.iter() {
            if !mime.starts_with("image/") {
                kept.insert(mime, value.clone());
            }
        }
        kept
    };
    match output {
        Output::DisplayData { data, metadata } => {
            let data = strip(data);
            (!data.is_empty()).then_some(Output::DisplayData { data, metadata })
        }
        Output::ExecuteResult {
            execution_count,
            data,
            metadata,
        } => {
            let data = strip(data);
            (!data.is_empty()).then_some(Output::ExecuteResult {
                execution_count,
                data,
                metadata,
            })
        }
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{CellKind, SeededIds, StreamName};

    fn ids() -> SeededIds {
        SeededIds::new(7)
    }

    fn sample() -> Notebook {
        let mut ids = ids();
        let mut notebook = Notebook::new(&mut ids);
        notebook.cells[0].source = "import math\nprint(math.pi)\n".to_owned();
        notebook.cells[0].execution_count = Some(3);
        notebook.cells[0].outputs = vec![Output::stream(StreamName::Stdout, "3.14159\n")];
        let heading = notebook.insert_cell(0, CellKind::Markdown, &mut ids);
        notebook.set_source(
            &heading,
            "# Circles\n\nÜber π — with *emphasis*.".to_owned(),
        );
        let plot = notebook.insert_cell(2, CellKind::Code, &mut ids);
        notebook.set_source(&plot, "plot()".to_owned());
        let mut figure = MimeBundle::new();
        figure.insert_text("image/png", "iVBORw0KGgo=");
        figure.insert_text("text/plain", "<Figure size 640x480>");
        let mut only_image = MimeBundle::new();
        only_image.insert_text("image/svg+xml", "<svg/>");
        if let Some(cell) = notebook.cell_mut(&plot) {
            cell.execution_count = Some(4);
            cell.outputs = vec![
                Output::display_data(figure),
                Output::display_data(only_image),
            ];
        }
        notebook
    }

    #[test]
    fn a_notebook_comes_back_equal_through_its_link() {
        let notebook = sample();
        let shared = notebook
            .share("Circles", true, DEFAULT_LINK_LIMIT)
            .expect("it fits");
        assert_eq!(shared.outputs, SharedOutputs::All);
        assert!(
            shared
                .payload
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'),
            "{}",
            shared.payload
        );
        let (opened, title) = Notebook::from_shared(&shared.payload, &mut ids()).expect("it opens");
        assert_eq!(opened, notebook);
        assert_eq!(title.as_deref(), Some("Circles"));
    }

    #[test]
    fn without_outputs_only_the_cells_go() {
        let notebook = sample();
        let shared = notebook
            .share("Circles", false, DEFAULT_LINK_LIMIT)
            .expect("it fits");
        assert_eq!(shared.outputs, SharedOutputs::None);
        let (opened, _) = Notebook::from_shared(&shared.payload, &mut ids()).expect("it opens");
        assert_eq!(opened.cells.len(), 3);
        for (opened, original) in opened.cells.iter().zip(&notebook.cells) {
            assert_eq!(opened.source, original.source);
            assert_eq!(opened.kind, original.kind);
            assert!(opened.outputs.is_empty());
            assert_eq!(opened.execution_count, None);
        }
    }

    #[test]
    fn images_go_first_when_the_link_would_be_too_long() {
        let mut notebook = sample();
        // A large image that does not compress.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: String = (0..20_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'A' + (state % 26) as u8)
            })
            .collect();
        let mut bundle = MimeBundle::new();
        bundle.insert_text("image/png", noise);
        notebook.cells[2].outputs.push(Output::display_data(bundle));
        let shared = notebook
            .share("Circles", true, DEFAULT_LINK_LIMIT)
            .expect("it fits");
        assert_eq!(shared.outputs, SharedOutputs::WithoutImages);
        let (opened, _) = Notebook::from_shared(&shared.payload, &mut ids()).expect("it opens");
        // The figure keeps its text; the outputs that were only images are gone.
        assert_eq!(opened.cells[2].outputs.len(), 1);
        let Output::DisplayData { data, .. } = &opened.cells[2].outputs[0] else {
            panic!("{:?}", opened.cells[2].outputs);
        };
        assert_eq!(data.get_text("text/plain"), Some("<Figure size 640x480>"));
        assert!(!data.contains("image/png"));
        assert_eq!(opened.cells[1].outputs, notebook.cells[1].outputs);
    }

    #[test]
    fn a_notebook_too_big_for_the_limit_says_how_long_its_link_would_be() {
        let mut notebook = sample();
        notebook.cells[1].source = (0..5_000u32)
            .map(|n| format!("x{} = {}\n", n, n.wrapping_mul(2_654_435_761)))
            .collect();
        let error = notebook
            .share("Circles", true, DEFAULT_LINK_LIMIT)
            .expect_err("refused");
        let ShareError::TooLong { chars, limit } = error else {
            panic!("{error:?}");
        };
        assert!(chars > DEFAULT_LINK_LIMIT);
        assert_eq!(limit, DEFAULT_LINK_LIMIT);
        assert!(
            error.to_string().contains("send the file instead"),
            "{error}"
        );
        // A larger limit takes it.
        assert!(notebook.share("Circles", true, MAX_LINK_LIMIT).is_ok());
    }

    #[test]
    fn damaged_links_say_so() {
        let payload = sample().share_payload("Circles", SharedOutputs::All);
        for (bad, expected) in [
            ("", "it is empty"),
            ("not base64!*", "not base64url"),
            (&payload[..payload.len() / 8 * 4], "does not unpack"),
        ] {
            let error = Notebook::from_shared(bad, &mut ids()).expect_err("refused");
            assert!(error.to_string().contains(expected), "{bad:?}: {error}");
        }
        // Valid DEFLATE of something that is not a notebook.
        let not_json = deflated(b"hello");
        let error = Notebook::from_shared(&not_json, &mut ids()).expect_err("refused");
        assert!(
            matches!(error, ShareError::NotANotebook(ImportError::NotJson { .. })),
            "{error:?}"
        );
        let not_text = deflated(&[0xff, 0xfe, 0x00]);
        let error = Notebook::from_shared(&not_text, &mut ids()).expect_err("refused");
        assert!(error.to_string().contains("not text"), "{error}");
    }

    #[test]
    fn a_bomb_is_stopped_at_the_cap() {
        // 64 MiB of spaces inflate from about 64 KB; the cap stops them at 8 MiB.
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
        let block = vec![b' '; 1024 * 1024];
        for _ in 0..64 {
            encoder.write_all(&block).expect("in memory");
        }
        let payload = URL_SAFE_NO_PAD.encode(encoder.finish().expect("in memory"));
        assert!(payload.len() < MAX_LINK_LIMIT, "{}", payload.len());
        let error = Notebook::from_shared(&payload, &mut ids()).expect_err("refused");
        assert_eq!(error, ShareError::TooBig);
        assert!(error.to_string().contains("over 8.0 MB"), "{error}");
    }

    #[test]
    fn an_overlong_link_is_refused_before_decoding() {
        let payload = "A".repeat(MAX_LINK_LIMIT + 1);
        let error = Notebook::from_shared(&payload, &mut ids()).expect_err("refused");
        assert!(matches!(error, ShareError::LinkTooLong { .. }), "{error:?}");
    }

    #[test]
    fn a_newer_nbformat_is_refused_as_a_file_is() {
        let text = json!({"cells": [], "metadata": {}, "nbformat": 5, "nbformat_minor": 0});
        let error = Notebook::from_shared(&deflated(text.to_string().as_bytes()), &mut ids())
            .expect_err("refused");
        assert_eq!(
            error,
            ShareError::NotANotebook(ImportError::TooNew { major: 5 })
        );
        assert!(error.to_string().contains("nbformat 5"), "{error}");
    }

    #[test]
    fn a_title_is_one_line_of_at_most_the_title_length() {
        let long = format!("  A\n\tlong {}  ", "x".repeat(500));
        let payload = sample().share_payload(&long, SharedOutputs::None);
        let (_, title) = Notebook::from_shared(&payload, &mut ids()).expect("it opens");
        let title = title.expect("a title");
        assert!(title.starts_with("A long xxx"), "{title}");
        assert_eq!(title.chars().count(), MAX_TITLE_CHARS);
        // A link made elsewhere, without a title, has none; a blank title is none.
        let plain = deflated(sample().to_ipynb().as_bytes());
        assert_eq!(
            Notebook::from_shared(&plain, &mut ids())
                .expect("it opens")
                .1,
            None
        );
        let blank = sample().share_payload(" \n ", SharedOutputs::None);
        assert_eq!(
            Notebook::from_shared(&blank, &mut ids())
                .expect("it opens")
                .1,
            None
        );
    }

    fn deflated(bytes: &[u8]) -> String {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).expect("in memory");
        URL_SAFE_NO_PAD.encode(encoder.finish().expect("in memory"))
    }
}
