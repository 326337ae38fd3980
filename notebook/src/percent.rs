//! Writing a [`Notebook`] as a Python script in the "percent" format, which VS Code,
//! Spyder, PyCharm and Jupytext read as cells: `# %%` starts a code cell,
//! `# %% [markdown]` and `# %% [raw]` start cells whose lines are comments.
//!
//! No outputs and no header: the script is the code and the prose, for reading, diffing
//! and running as a plain `.py`.

use crate::cell::CellKind;
use crate::notebook::Notebook;

impl Notebook {
    /// The notebook as a percent-format `.py` script; cells are separated by a blank line.
    pub fn to_percent_py(&self) -> String {
        let mut script = String::new();
        for (index, cell) in self.cells.iter().enumerate() {
            if index > 0 {
                script.push('\n');
            }
            match cell.kind {
                CellKind::Code => {
                    script.push_str("# %%\n");
                    script.push_str(&cell.source);
                    if !cell.source.is_empty() && !cell.source.ends_with('\n') {
                        script.push('\n');
                    }
                }
                CellKind::Markdown => {
                    script.push_str("# %% [markdown]\n");
                    push_commented(&mut script, &cell.source);
                }
                CellKind::Raw => {
                    script.push_str("# %% [raw]\n");
                    push_commented(&mut script, &cell.source);
                }
            }
        }
        script
    }
}

/// Each line of `text` as a comment: `# line`, and an empty line as a bare `#`, as
/// Jupytext writes them.
fn push_commented(script: &mut String, text: &str) {
    for line in text.lines() {
        if line.is_empty() {
            script.push_str("#\n");
        } else {
            script.push_str("# ");
            script.push_str(line);
            script.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cell::CellKind;
    use crate::id::SeededIds;
    use crate::notebook::Notebook;

    fn check(cells: &[(CellKind, &str)], expected: &str) {
        let mut ids = SeededIds::new(11);
        let mut notebook = Notebook::new(&mut ids);
        let placeholder = notebook.cells[0].id.clone();
        for (index, (kind, source)) in cells.iter().enumerate() {
            let id = notebook.insert_cell(index, *kind, &mut ids);
            notebook.set_source(&id, (*source).to_owned());
        }
        notebook.delete_cell(&placeholder);
        assert_eq!(notebook.to_percent_py(), expected);
    }

    #[test]
    fn writes_code_cells_as_they_are() {
        check(&[(CellKind::Code, "x = 1")], "# %%\nx = 1\n");
        check(&[(CellKind::Code, "x = 1\n")], "# %%\nx = 1\n");
        check(&[(CellKind::Code, "")], "# %%\n");
        check(
            &[
                (CellKind::Code, "import pandas as pd\n%matplotlib inline"),
                (CellKind::Code, ""),
                (CellKind::Code, "def f():\n    return 1\n\n\nf()"),
            ],
            "# %%\nimport pandas as pd\n%matplotlib inline\n\n# %%\n\n# %%\ndef f():\n    return 1\n\n\nf()\n",
        );
    }

    #[test]
    fn writes_markdown_and_raw_cells_as_comments() {
        check(
            &[
                (CellKind::Markdown, "# Sales\n\nSome *text*\n  indented\n"),
                (CellKind::Code, "df = load()"),
                (CellKind::Raw, "raw text\n\nmore"),
                (CellKind::Markdown, ""),
            ],
            "# %% [markdown]\n# # Sales\n#\n# Some *text*\n#   indented\n\
             \n# %%\ndf = load()\n\
             \n# %% [raw]\n# raw text\n#\n# more\n\
             \n# %% [markdown]\n",
        );
    }
}
