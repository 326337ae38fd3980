"""The one scanner of Python and SQL text that the harness (magics, `%%sql`, `sql()`) and the
editor's assistant (assist.py: completion inside strings and `%%sql` cells) share: where a
Python string ends, and SQL's strings, quoted names, comments, `;` and words."""

import re

# What can end a Python string: its quotes, or the end of the line for one-quote strings; an
# escaped character does not.
STRING_STOPS = {
    quote: re.compile(r"\\.|" + re.escape(quote) + ("|\n" if len(quote) == 1 else ""), re.DOTALL)
    for quote in ("'", '"', "'''", '"""')
}


def string_end(code, start, quote, limit=None):
    """Where the Python string whose text starts at `start` ends (just past its closing
    quotes), or None if it is still open at `limit` (the code's end by default). A one-quote
    string also ends, unclosed, at the end of its line: the answer is then the newline's
    index."""
    pattern = STRING_STOPS[quote]
    position = start
    end = len(code) if limit is None else limit
    while True:
        stop = pattern.search(code, position, end)
        if stop is None:
            return None
        if stop.group(0).startswith("\\"):
            position = stop.end()
        elif stop.group(0) == "\n":
            return stop.start()
        else:
            return stop.end()


# One piece of SQL: a string (`'...'`, `E'...'`, `$tag$...$tag$`), a quoted name, a comment
# (these hide `;` and words), a `;`, or a bare word. Named groups: `string` (a plain
# '-string's text, as typed), `name` (a quoted name's), `semicolon`, `word`.
SQL_PIECE = re.compile(
    r"""(?<![\w$])[eE]'(?:[^'\\]|\\.|'')*'|'(?P<string>(?:[^']|'')*)'"""
    r"""|\$(?P<tag>[^\W\d]\w*)?\$.*?\$(?P=tag)?\$"""
    r"""|"(?P<name>(?:[^"]|"")*)"|--[^\n]*|/\*.*?(?:\*/|\Z)|(?P<semicolon>;)|(?P<word>[^\W\d][\w$]*)""",
    re.DOTALL,
)
