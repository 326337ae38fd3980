//! A name for a notebook from its own text: the first Markdown heading, as a person would
//! read it off the page.

use crate::cell::CellKind;
use crate::notebook::Notebook;
use crate::output::shortened;

/// A title longer than this many characters is cut: it names a notebook in a list.
pub const MAX_TITLE_CHARS: usize = 100;

impl Notebook {
    /// The text of the first Markdown heading in the notebook (`# Sales 2026` gives
    /// "Sales 2026"; `##` and underlined headings count too, headings in fenced code do
    /// not), at most [`MAX_TITLE_CHARS`] characters; `None` if there is none.
    pub fn title_from_cells(&self) -> Option<String> {
        self.cells
            .iter()
            .filter(|cell| cell.kind == CellKind::Markdown)
            .find_map(|cell| first_heading(&cell.source))
            .map(|title| shortened(&title, MAX_TITLE_CHARS))
    }
}

/// The first heading of a CommonMark text: ATX (`# Title`, `## Title ##`) or setext (a line
/// underlined with `===` or `---`), skipping fenced code blocks.
fn first_heading(markdown: &str) -> Option<String> {
    let mut open_fence: Option<(char, usize)> = None;
    let mut previous_line: Option<&str> = None;
    for line in markdown.lines() {
        let Some(unindented) = without_indent(line) else {
            // Indented code (or a continuation line): never a heading.
            previous_line = None;
            continue;
        };
        if let Some((fence_character, fence_length)) = open_fence {
            if fence_length_of(unindented, fence_character).is_some_and(|length| {
                length >= fence_length
                    && unindented
                        .trim_start_matches(fence_character)
                        .trim()
                        .is_empty()
            }) {
                open_fence = None;
            }
            continue;
        }
        if let Some(fence_character) = ['`', '~']
            .into_iter()
            .find(|&character| fence_length_of(unindented, character).is_some())
        {
            open_fence = fence_length_of(unindented, fence_character)
                .map(|length| (fence_character, length));
            previous_line = None;
            continue;
        }
        if let Some(heading) = atx_heading(unindented) {
            if !heading.is_empty() {
                return Some(heading.to_owned());
            }
            previous_line = None;
            continue;
        }
        if is_setext_underline(unindented)
            && let Some(text) = previous_line
        {
            return Some(text.trim().to_owned());
        }
        previous_line =
            Some(unindented).filter(|text| !text.trim().is_empty() && !starts_a_block(text));
    }
    None
}

/// The line without its indentation, if it is indented by at most three spaces.
fn without_indent(line: &str) -> Option<&str> {
    let unindented = line.trim_start_matches(' ');
    (line.len() - unindented.len() <= 3 && !unindented.starts_with('\t')).then_some(unindented)
}

/// The length of the fence a line opens with (three or more `character`s).
fn fence_length_of(line: &str, character: char) -> Option<usize> {
    let length = line.chars().take_while(|&each| each == character).count();
    (length >= 3).then_some(length)
}

/// The text of an ATX heading: one to six `#`, then a space or the end of the line; a
/// closing run of `#` is not part of the text.
fn atx_heading(line: &str) -> Option<&str> {
    let level = line
        .chars()
        .take_while(|&character| character == '#')
        .count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let text = rest.trim();
    let without_closing = text.trim_end_matches('#');
    let text = if without_closing.is_empty() || without_closing.ends_with([' ', '\t']) {
        without_closing.trim_end()
    } else {
        text
    };
    Some(text)
}

/// `===` or `---` (any number, trailing spaces allowed) under a paragraph line.
fn is_setext_underline(line: &str) -> bool {
    let marks = line.trim_end();
    !marks.is_empty()
        && (marks.chars().all(|each| each == '=') || marks.chars().all(|each| each == '-'))
}

/// A line that starts a block of its own (a list item, a quote, a table row, HTML), so a
/// line of `---` under it is not an underline.
fn starts_a_block(line: &str) -> bool {
    let ordered_item = {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && line[digits..].starts_with([')', '.'])
    };
    line.starts_with(['-', '*', '+', '>', '|', '<']) || ordered_item
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SeededIds;

    fn check(markdown: &str, expected: Option<&str>) {
        assert_eq!(
            first_heading(markdown).as_deref(),
            expected,
            "in {markdown:?}"
        );
    }

    #[test]
    fn finds_the_first_heading() {
        check("# Sales 2026", Some("Sales 2026"));
        check("#\tTabbed", Some("Tabbed"));
        check("intro\n\n## Second level\n# Later", Some("Second level"));
        check("   ### Indented three ###  ", Some("Indented three"));
        check("# C# notes", Some("C# notes"));
        check("# Issue #3", Some("Issue #3"));
        check("# Trailing hashes #####", Some("Trailing hashes"));
        check("#\n# Real one", Some("Real one"));
        check("Underlined\n==========\n", Some("Underlined"));
        check("Also underlined\n---", Some("Also underlined"));
        check(
            "```python\n# a comment\n```\n# After the code",
            Some("After the code"),
        );
        check("~~~~\n# in\n~~~\n# still in\n~~~~\n# Out", Some("Out"));
    }

    #[test]
    fn ignores_what_is_not_a_heading() {
        check("", None);
        check("plain text", None);
        check("#hashtag", None);
        check("####### seven", None);
        check("    # indented code", None);
        check("```\n# code\n", None);
        check("text\n\n---\n", None);
        check("- item\n---", None);
        check("> quote\n===", None);
    }

    #[test]
    fn takes_the_first_markdown_cells_heading_and_cuts_long_ones() {
        let mut ids = SeededIds::new(5);
        let mut notebook = Notebook::new(&mut ids);
        assert_eq!(notebook.title_from_cells(), None);
        let code = notebook.cells[0].id.clone();
        notebook.set_source(&code, "# not markdown".to_owned());
        let first = notebook.insert_cell(1, CellKind::Markdown, &mut ids);
        notebook.set_source(&first, "no heading here".to_owned());
        let second = notebook.insert_cell(2, CellKind::Markdown, &mut ids);
        notebook.set_source(&second, "## Cleaning the data".to_owned());
        let third = notebook.insert_cell(3, CellKind::Markdown, &mut ids);
        notebook.set_source(&third, "# Later".to_owned());
        assert_eq!(
            notebook.title_from_cells().as_deref(),
            Some("Cleaning the data")
        );
        notebook.set_source(&second, format!("# {}", "é".repeat(150)));
        assert_eq!(
            notebook.title_from_cells(),
            Some(format!("{}…", "é".repeat(MAX_TITLE_CHARS)))
        );
    }
}
