"""What the editor asks about a cell while the user types: completions from the live
namespace, the signatures of the call around the cursor, the docs of a name, and syntax
errors; and, after a run, the user's names for the Variables panel and the data viewer's
rows (`workbench_harness.table`). The Python side of
`ToWorker::Assist` (pyodide-loader/src/message.rs).

The worker runs this file in a namespace of its own, calls `setup` once with the harness's
user namespace (so completion sees what earlier runs defined) and then `answer(kind, code,
cursor)` for each request. Every answer is a JSON string; whatever goes wrong — code that
does not parse, an object whose `__dir__` raises, the page's time limit arriving as
`KeyboardInterrupt` — answers the empty answer of that kind, never an error.

Completion, signatures and docs are jedi's (`jedi.Interpreter` over the user's namespace),
imported on first use so loading Python never waits for it; syntax errors are CPython's
own, from `compile` of the cell as the harness would run it (magics rewritten).

Positions: the editor counts UTF-16 code units, Python counts code points; `cursor` and
every position in an answer are the editor's. Only the standard library and the harness's
scanner (`workbench_harness.scan`, which the worker has imported before this runs) are
imported at the top, so this runs under plain CPython in pyodide-loader/python/tests/ too.
"""

import ast
import gc
import io
import json
import re
import sys
import warnings
from types import ModuleType

from workbench_harness import table
from workbench_harness.scan import SQL_PIECE, string_end

# The names completion sees: the harness's `user_globals`, given by `setup`.
namespace = {"__name__": "__main__"}
# The harness's rewrite of IPython's syntax (`python_source`), so `%time` is not an error.
transform = None
# Import names that are not installed but can be: from Pyodide's lock (a run that imports
# them loads them) and from our package index (`%pip install`), with a word on how.
installable = {}
# In the worker: called with True while jedi parses a file of its own, and False after, so
# the page's time limit does not cut that short (see `load_jedi`).
hold_interrupts = None

# More than this many completions is noise, and costs time to send.
MAX_COMPLETIONS = 1000
# Cells longer than this, or a cursor's line longer than this, are not analysed while
# typing: jedi would take seconds, and the page's time limit would end it anyway.
MAX_CODE_CHARS = 200_000
MAX_LINE_CHARS = 20_000
# The docs a tooltip shows: the first part of a docstring.
MAX_DOC_CHARS = 1500
MAX_SIGNATURE_DOC_CHARS = 300
MAX_SIGNATURES = 3
MAX_DEFAULT_CHARS = 30
MAX_ANNOTATION_CHARS = 120

EMPTY = {
    "complete": {"from": 0, "to": 0, "items": []},
    "signatures": {"signatures": []},
    "inspect": {"docs": None},
    "check": {"problems": []},
    "variables": {"variables": [], "more": 0},
    "table": {
        "error": "Python could not show these rows: sorting or filtering took longer than the "
        "viewer waits (10 s), or the object's own code failed"
    },
}

# jedi's kinds, as the editor shows them.
KINDS = {
    "module": "module",
    "class": "class",
    "function": "function",
    "instance": "variable",
    "statement": "variable",
    "param": "argument",
    "path": "file",
    "keyword": "keyword",
    "property": "property",
}

# A line where an import's module name is being typed: `import sea`, `from pan`,
# `import os, sea`.
IMPORT_LINE = re.compile(r"^\s*(?:from|import)\s+(?:[\w.]+\s*(?:as\s+\w+\s*)?,\s*)*(\w*)$")
# The name chain before a dot or inside a subscript, as plain names: `df`, `data.frame`.
NAME_CHAIN = re.compile(r"(?<![\w.)\]\"'])([^\W\d]\w*(?:\.[^\W\d]\w*)*)$")


def setup(user_namespace, python_source=None, lock_imports=(), index_imports=(), hold=None):
    """Once, in the worker: the namespace to complete from, the harness's magic rewrite,
    the import names installable from Pyodide's lock and from our package index, and how to
    hold the page's interrupt off."""
    global namespace, transform, hold_interrupts
    namespace = user_namespace
    transform = python_source
    hold_interrupts = hold
    installable.clear()
    for name in index_imports:
        installable[name] = "%pip install"
    for name in lock_imports:
        installable[name] = "loads on import"


def warm_up():
    """Imports jedi and completes once, which parses the builtins' stubs: ≈ 0.7 s in the
    worker that the first completion a person asks for then does not pay."""
    load_jedi().Interpreter("pri", [{}]).complete()


# Whether the cursor of the completion being answered is in a string (see `load_jedi`).
cursor_in_string = False


def load_jedi():
    """jedi, imported on first use, with two changes.

    To learn whether the cursor is in a string being typed, jedi 0.19 walks back over every
    token of the cursor's line, and each step searches its parent's children: quadratic in
    the line's length (12 s for a 17,000-character list literal under native CPython).
    `Place` already knows, so jedi only looks when the cursor is in a string.

    The first completion that needs a standard-library module parses its stub (0.1-0.8 s in
    the worker, once per module). The page's time limit must not cut that short — the next
    completion would start it again, and be cut short again — so the interrupt is held off
    while parso parses a file (the user's code has no file), and lands when it is done."""
    import jedi
    import jedi.api.completion as completion
    import parso.grammar

    if not getattr(completion, "workbench_repaired", False):
        search = completion._extract_string_while_in_string

        def only_in_strings(leaf, position):
            return search(leaf, position) if cursor_in_string else (None, None, None)

        completion._extract_string_while_in_string = only_in_strings
        parse = parso.grammar.Grammar.parse

        def parse_uninterrupted(self, code=None, **options):
            own_file = options.get("path") is not None or options.get("file_io") is not None
            if hold_interrupts is None or not own_file:
                return parse(self, code, **options)
            hold_interrupts(True)
            try:
                return parse(self, code, **options)
            finally:
                hold_interrupts(False)

        parso.grammar.Grammar.parse = parse_uninterrupted
        completion.workbench_repaired = True
    return jedi


def answer(kind, code, cursor=0):
    """The answer to one request of `kind` ("complete", "signatures", "inspect", "check"),
    as JSON; the empty answer if anything at all goes wrong, or the time limit runs out.

    The cyclic garbage collector waits meanwhile: with pandas loaded, a full collection
    that jedi's allocations happen to start takes 0.1-0.3 s in the worker (`df.` measured
    46 ms at the median and 229 ms at p95 with it, 41 and 69 ms without). The garbage is
    collected at the next collection after the answer."""
    handler = HANDLERS[kind]
    if SQL_CELL.match(code) and kind != "check":
        handler = SQL_HANDLERS[kind]
    collecting = gc.isenabled()
    gc.disable()
    try:
        index = to_index(code, cursor)
        if len(code) > MAX_CODE_CHARS or line_length(code, index) > MAX_LINE_CHARS:
            return json.dumps(EMPTY[kind])
        with quiet():
            return json.dumps(handler(code, index))
    except BaseException:  # noqa: BLE001 - a hostile __dir__ may raise anything, or Stop
        return json.dumps(EMPTY[kind])
    finally:
        if collecting:
            gc.enable()


def nothing(kind):
    """The empty answer of `kind`: the worker's answer to a question that must not load jedi
    yet (while Python is still loading the preloads a first run may wait for). Completions
    say `later`: the editor asks again once jedi may be there."""
    if kind == "complete":
        return json.dumps(dict(EMPTY[kind], later=True))
    return json.dumps(EMPTY[kind])


# ---------------------------------------------------------------------------------------
# Completion


def complete(code, index):
    """Completions at `index`: names, attributes, keyword arguments, import names, file
    names in a call's string argument, a DataFrame's columns; none in comments."""
    place = Place(code, index)
    if place.in_comment:
        return EMPTY["complete"]
    columns = frame_columns(place)
    if place.in_string:
        return string_completions(code, place, columns)
    global cursor_in_string
    cursor_in_string = False
    script = load_jedi().Interpreter(code, [namespace])
    completions = script.complete(place.line, place.column)
    items = []
    prefix = 0
    for completion in completions[:MAX_COMPLETIONS]:
        prefix = completion.get_completion_prefix_length()
        kind = KINDS.get(completion.type, "variable")
        name = completion.name
        if columns is not None and name in columns and kind == "variable":
            kind = "column"
        items.append({"label": name, "kind": kind})
    word = current_word(code, index)
    if not completions:
        prefix = len(word)
    import_word = IMPORT_LINE.match(place.line_before)
    if import_word is not None:
        items.extend(installable_items(import_word.group(1), items))
    start = index - prefix
    return {"from": to_utf16(code, start), "to": to_utf16(code, index), "items": items}


def string_completions(code, place, columns):
    """Inside a string: a DataFrame's column names in `df["`, or file names in a string
    passed to a call (`open("`, `pd.read_csv("`); nothing elsewhere."""
    text = place.string_text
    if columns is not None:
        items = [
            {"label": column, "kind": "column"}
            for column in columns
            if column.startswith(text)
        ][:MAX_COMPLETIONS]
        start = place.index - len(text)
        return {"from": to_utf16(code, start), "to": to_utf16(code, place.index), "items": items}
    global cursor_in_string
    cursor_in_string = True
    script = load_jedi().Interpreter(code, [namespace])
    if not script.get_signatures(place.line, place.column):
        return EMPTY["complete"]
    items = []
    prefix = 0
    for completion in script.complete(place.line, place.column)[:MAX_COMPLETIONS]:
        if completion.type != "path":
            continue
        prefix = completion.get_completion_prefix_length()
        label = completion.name
        # jedi closes the string, even when the editor already did.
        if place.quote and label.endswith(place.quote) and code.startswith(place.quote, place.index):
            label = label[: -len(place.quote)]
        items.append({"label": label, "kind": "file"})
    start = place.index - prefix
    return {"from": to_utf16(code, start), "to": to_utf16(code, place.index), "items": items}


def installable_items(word, listed):
    """Import names not installed yet that start with `word`, after jedi's own."""
    known = {item["label"] for item in listed}
    return [
        {"label": name, "kind": "module", "detail": how}
        for name, how in sorted(installable.items())
        if name.startswith(word) and name not in known and name not in sys.modules
    ]


def frame_columns(place):
    """The column names of the pandas DataFrame before the cursor's `.` (`df.pr`) or around
    the string it is in (`df["pr`), if there is one. Only a plain name or a chain of
    attributes (`self.frame`) is looked up — never evaluated, and attributes are read
    without running any code of the object."""
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return None
    if place.in_string:
        before = place.before_string.rstrip()
        if not before.endswith("["):
            return None
        before = before[:-1]
    else:
        dot = re.search(r"\.\w*$", place.line_before)
        if dot is None:
            return None
        before = place.line_before[: dot.start()]
    chain = NAME_CHAIN.search(before.rstrip())
    if chain is None:
        return None
    import inspect

    names = chain.group(1).split(".")
    if names[0] not in namespace:
        return None
    value = namespace[names[0]]
    for name in names[1:]:
        try:
            value = inspect.getattr_static(value, name)
        except AttributeError:
            return None
    if not issubclass(type(value), pandas.DataFrame):
        return None
    return [column for column in value.columns if isinstance(column, str)]


# ---------------------------------------------------------------------------------------
# Signatures and docs


def signatures(code, index):
    """The signatures of the call the cursor is in, each with where its parameters are in
    its label, their annotations, and which one the cursor is at."""
    place = Place(code, index)
    if place.in_comment:
        return EMPTY["signatures"]
    script = load_jedi().Interpreter(code, [namespace])
    found = []
    for signature in script.get_signatures(place.line, place.column)[:MAX_SIGNATURES]:
        label, params = signature_label(signature)
        active = signature.index
        found.append(
            {
                "label": label,
                "params": params,
                "active": active if active is not None and active < len(params) else None,
                "doc": first_part(signature.docstring(raw=True), MAX_SIGNATURE_DOC_CHARS),
            }
        )
    return {"signatures": found}


def signature_label(signature):
    """`name(a, b=1, *, c)`, compact — parameters without their annotations, long defaults
    cut, so pandas' 50 parameters fit a tooltip — and each parameter's `from`, `to` (UTF-16,
    in the label) and annotation, in the order of `signature.params` (what
    `signature.index` counts)."""
    from inspect import Parameter

    label = signature.name + "("
    params = []
    positional = keyword_only = False
    for number, param in enumerate(signature.params):
        kind = param.kind
        if positional and kind != Parameter.POSITIONAL_ONLY:
            label += "/, "
            positional = False
        positional |= kind == Parameter.POSITIONAL_ONLY
        if kind == Parameter.VAR_POSITIONAL:
            keyword_only = True
        elif kind == Parameter.KEYWORD_ONLY and not keyword_only:
            label += "*, "
            keyword_only = True
        name, annotation, default = split_param(param.to_string())
        text = name + ("=" + shortened(default, MAX_DEFAULT_CHARS) if default else "")
        start = to_utf16(label, len(label))
        label += text
        params.append(
            {
                "from": start,
                "to": to_utf16(label, len(label)),
                "annotation": shortened(annotation, MAX_ANNOTATION_CHARS) or None,
            }
        )
        if number < len(signature.params) - 1:
            label += ", "
    if positional:
        label += ", /" if params else "/"
    label += ")"
    returns = unquoted(signature._signature.annotation_string)  # jedi's own `to_string` reads it
    if returns:
        label += " -> " + shortened(returns, MAX_ANNOTATION_CHARS)
    return label, params


def split_param(text):
    """jedi's `name: annotation=default` as its three parts (empty when absent); a `:` or
    `=` inside brackets or quotes splits nothing. Annotations lose the quotes that
    `from __future__ import annotations` leaves around them."""
    depth = 0
    quote = None
    colon = equals = None
    for position, character in enumerate(text):
        if quote is not None:
            if character == quote:
                quote = None
        elif character in "'\"":
            quote = character
        elif character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        elif depth == 0 and character == ":" and colon is None and equals is None:
            colon = position
        elif depth == 0 and character == "=" and equals is None:
            equals = position
    name_end = colon if colon is not None else equals if equals is not None else len(text)
    annotation = ""
    if colon is not None:
        annotation = text[colon + 1 : equals if equals is not None else len(text)]
    default = text[equals + 1 :] if equals is not None else ""
    return text[:name_end].strip(), unquoted(annotation.strip()), default.strip()


def unquoted(annotation):
    if len(annotation) >= 2 and annotation[0] == annotation[-1] and annotation[0] in "'\"":
        return annotation[1:-1]
    return annotation


def shortened(text, limit):
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact_signature(signature):
    """A signature as signature help shows it (see `signature_label`)."""
    return signature_label(signature)[0]


def inspect(code, index):
    """The docs of the name at the cursor (or of the call the cursor is in): what it is, its
    signatures, and the first part of its docstring."""
    place = Place(code, index)
    if place.in_comment or place.in_string:
        return EMPTY["inspect"]
    script = load_jedi().Interpreter(code, [namespace])
    names = script.infer(place.line, place.column) or script.help(place.line, place.column)
    if not names:
        names = script.get_signatures(place.line, place.column)
    if not names:
        return EMPTY["inspect"]
    name = names[0]
    try:
        shown = [compact_signature(signature) for signature in name.get_signatures()[:MAX_SIGNATURES]]
    except Exception:  # noqa: BLE001 - jedi cannot always say
        shown = []
    return {
        "docs": {
            "name": name.full_name or name.name,
            "kind": KINDS.get(name.type, name.type),
            "signatures": shown,
            "doc": first_part(name.docstring(raw=True), MAX_DOC_CHARS),
        }
    }


def first_part(text, limit):
    """The start of a docstring, cut at a paragraph (or line) before `limit` characters."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    cut = text.rfind("\n\n", 0, limit)
    if cut < limit // 3:
        cut = text.rfind("\n", 0, limit)
    if cut < limit // 3:
        cut = limit
    return text[:cut].rstrip() + "\n…"


# ---------------------------------------------------------------------------------------
# Syntax errors


def check(code, index=0):
    """The syntax error in the cell, as CPython reports it, and its syntax warnings (such as
    an invalid escape sequence); the cell is read as the harness runs it, magics rewritten."""
    python = code
    if transform is not None:
        python = transform(code)
    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            compile(
                python,
                "<cell>",
                "exec",
                ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                dont_inherit=True,
            )
        except SyntaxError as error:
            problems.append(syntax_problem(code, python, error))
        except ValueError as error:  # a NUL character
            at = code.find("\0")
            problems.append(problem(code, max(at, 0), max(at, 0) + 1, str(error), "error"))
    for warning in caught:
        # SyntaxWarning (DeprecationWarning before Python 3.12), about the cell's code.
        if warning.filename == "<cell>" and warning.lineno:
            start, end = line_span(code, warning.lineno)
            problems.append(problem(code, start, end, str(warning.message), "warning"))
    return {"problems": problems}


def syntax_problem(code, python, error):
    """Where the error is in the user's code: its span on the line (code points, 1-based
    columns in CPython), or the whole line when the rewrite of a magic changed that line."""
    line = error.lineno or 1
    message = error.msg or "invalid syntax"
    lines = code.split("\n")
    rewritten = python.split("\n")
    line = min(max(line, 1), len(lines))
    start, end = line_span(code, line)
    same_line = line <= len(rewritten) and rewritten[line - 1] == lines[line - 1]
    if same_line and error.offset:
        column = max(error.offset - 1, 0)
        end_column = column + 1
        if error.end_lineno == error.lineno and error.end_offset and error.end_offset > error.offset:
            end_column = error.end_offset - 1
        start = min(start + column, end)
        end = max(min(start + (end_column - column), end), start)
        if start == end:
            # Past the end of the line (an unexpected end of the cell): the last character.
            start = max(start - 1, line_span(code, line)[0])
    return problem(code, start, end, message, "error")


def line_span(code, line):
    """The code-point span of line `line` (1-based), without its line break."""
    start = 0
    for _ in range(line - 1):
        found = code.find("\n", start)
        if found < 0:
            break
        start = found + 1
    end = code.find("\n", start)
    return start, len(code) if end < 0 else end


def problem(code, start, end, message, severity):
    return {
        "from": to_utf16(code, start),
        "to": to_utf16(code, end),
        "message": message,
        "severity": severity,
    }


# ---------------------------------------------------------------------------------------
# The Variables panel: the user's names after a run. jedi is not involved.

# More names than this are counted, not listed.
MAX_VARIABLES = 500
MAX_PREVIEW_CHARS = 80
# Values shown as they are (their repr is cheap and cannot run the user's code).
PLAIN_VALUES = (bool, int, float, complex, str, bytes, type(None))


def variables(code=None, index=0):
    """The user's names (not `_hidden` ones, not modules), sorted, each with its type, its
    shape or length, its dtype, its size in memory and, for plain values, the value. What an
    object will not tell (its `__len__` raises, say) is "?"; once the page's time limit
    interrupts one object, every later name gets only its type: the answer still comes."""
    listed = []
    more = 0
    interrupted = False
    for name in sorted(name for name in namespace if isinstance(name, str)):
        if name.startswith("_"):
            continue
        value = namespace[name]
        if issubclass(type(value), ModuleType):
            continue
        if len(listed) >= MAX_VARIABLES:
            more += 1
            continue
        item = {"name": name, "type": type(value).__name__}
        if interrupted:
            item["unknown"] = True
        else:
            try:
                item.update(describe_variable(value))
                if table.viewable(value):
                    item["viewable"] = True
            except KeyboardInterrupt:
                interrupted = True
                item["unknown"] = True
            except BaseException:  # noqa: BLE001 - the object's own code may raise anything
                item["unknown"] = True
        listed.append(item)
    return {"variables": listed, "more": more}


def describe_variable(value):
    """Shape (or length), dtype, bytes and a preview of one value, as far as each is cheap:
    `shape` and `nbytes`/`memory_usage` for arrays and frames, `len` for containers. Only
    what the value's class defines is asked (a DataFrame's `__getattr__` would hand over a
    column named `dtype`)."""
    kind = type(value)
    described = {}
    if kind in PLAIN_VALUES:
        text = repr(value)
        if len(text) > MAX_PREVIEW_CHARS:
            text = text[: MAX_PREVIEW_CHARS - 1] + "…"
        described["preview"] = text
        if kind in (str, bytes):
            described["shape"] = f"{len(value):,}"
        described["bytes"] = sys.getsizeof(value)
        return described
    if isinstance(value, type) or (callable(value) and not hasattr(kind, "__len__")):
        return described
    shape = value.shape if hasattr(kind, "shape") else None
    if isinstance(shape, tuple) and all(isinstance(size, int) for size in shape):
        described["shape"] = " × ".join(f"{size:,}" for size in shape) or "scalar"
    elif hasattr(kind, "__len__"):
        described["shape"] = f"{len(value):,}"
    if hasattr(kind, "dtype"):
        described["dtype"] = str(value.dtype)
    held = frame_bytes(value)
    if held is not None:
        described["bytes"] = held
    elif hasattr(kind, "memory_usage") and shape is not None:
        used = value.memory_usage(deep=False)
        described["bytes"] = int(used.sum() if hasattr(used, "sum") else used)
    elif hasattr(kind, "nbytes") and isinstance(value.nbytes, int):
        described["bytes"] = value.nbytes
    else:
        described["bytes"] = sys.getsizeof(value)
    return described


def frame_bytes(value):
    """A pandas DataFrame's `memory_usage(deep=False).sum()` without building a Series per
    column to add them up (four fifths of the panel's time over 40 small frames): its
    blocks' bytes and its index's. None for anything else, or a pandas without them
    (`describe_variable` then asks `memory_usage`)."""
    pandas = sys.modules.get("pandas")
    if pandas is None or type(value) is not pandas.DataFrame:
        return None
    # The blocks' arrays (pandas 2 and 3 both have `_mgr.arrays`; without it, None).
    try:
        arrays = value._mgr.arrays
        return sum(int(array.nbytes) for array in arrays) + int(value.index.memory_usage(deep=False))
    except Exception:
        return None


def table_rows(code, index=0):
    """The data viewer's page of rows: `code` is the `TableQuery` as JSON."""
    return table.page(namespace, json.loads(code))


HANDLERS = {
    "complete": complete,
    "signatures": signatures,
    "inspect": inspect,
    "check": check,
    "variables": variables,
    "table": table_rows,
}


# ---------------------------------------------------------------------------------------
# `%%sql` cells: file names in a string (`FROM '`), and the columns of the files and
# DataFrames the query names (a CSV's header line, a Parquet file's schema, a DataFrame's
# columns), the DataFrames' names and SQL's common words. jedi is not involved.

SQL_CELL = re.compile(r"\A\s*%%sql\b")
SQL_WORDS = (
    "SELECT FROM WHERE GROUP BY ORDER HAVING LIMIT JOIN LEFT RIGHT INNER OUTER ON USING AS AND "
    "OR NOT IN IS NULL DISTINCT COUNT SUM AVG MIN MAX CASE WHEN THEN ELSE END WITH UNION ALL "
    "DESC ASC DESCRIBE SUMMARIZE CREATE TABLE VIEW INSERT INTO VALUES read_csv read_parquet "
    "read_json"
).split()
# The most of a CSV's first line read for its column names.
HEADER_BYTES = 1 << 16


def sql_open_string(text):
    """The text of the single-quoted string `text` ends inside (as typed: `''` for a quote),
    or None."""
    position = 0
    while position < len(text):
        if text.startswith("--", position):
            end = text.find("\n", position)
            if end < 0:
                return None
            position = end + 1
        elif text.startswith("/*", position):
            end = text.find("*/", position + 2)
            if end < 0:
                return None
            position = end + 2
        elif text[position] in "'\"":
            quote = text[position]
            end = position + 1
            while True:
                end = text.find(quote, end)
                if end < 0:
                    return text[position + 1 :] if quote == "'" else None
                if text.startswith(quote * 2, end):
                    end += 2
                    continue
                break
            position = end + 1
        else:
            position += 1
    return None


def data_files():
    """The data folder's files, as paths relative to it (Python's working directory)."""
    import os

    found = []
    for folder, folders, names in os.walk("."):
        folders.sort()
        for name in sorted(names):
            found.append(os.path.relpath(os.path.join(folder, name), "."))
            if len(found) >= MAX_COMPLETIONS:
                return found
    return found


def file_columns(path):
    """A data file's column names: a CSV's or TSV's header line, a Parquet file's schema
    (when pyarrow is loaded); none for anything else."""
    import csv
    import os

    if not os.path.isfile(path):
        return []
    lower = path.lower()
    if lower.endswith((".csv", ".tsv", ".txt")):
        with open(path, newline="", encoding="utf-8", errors="replace") as file:
            line = file.readline(HEADER_BYTES)
        delimiter = "\t" if lower.endswith(".tsv") or line.count("\t") > line.count(",") else ","
        return [name.strip() for name in next(csv.reader([line], delimiter=delimiter), []) if name.strip()]
    if lower.endswith(".parquet") and "pyarrow" in sys.modules:
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    return []


def sql_complete(code, index):
    """Completions in a `%%sql` cell (see above)."""
    body_start = code.find("\n") + 1
    if body_start == 0 or index < body_start:
        return EMPTY["complete"]
    text = code[body_start:index]
    typed = sql_open_string(text)
    if typed is not None:
        wanted = typed.replace("''", "'")
        items = [
            {"label": path.replace("'", "''"), "kind": "file"} for path in data_files() if path.startswith(wanted)
        ]
        start = index - len(typed)
        return {"from": to_utf16(code, start), "to": to_utf16(code, index), "items": items}
    word = current_word(code, index)
    query = code[body_start:]
    files, names = [], []
    for match in SQL_PIECE.finditer(query):
        if match.group("string") is not None:
            files.append(match.group("string").replace("''", "'"))
        elif match.group("word") is not None and match.end() != index - body_start:
            names.append(match.group("word"))
    items, seen = [], set()

    def add(label, kind):
        if label not in seen and label.lower().startswith(word.lower()) and label != word:
            seen.add(label)
            items.append({"label": label, "kind": kind})

    for path in files:
        for column in file_columns(path):
            add(column, "column")
    pandas = sys.modules.get("pandas")
    frames = pandas is not None and [
        name for name in dict.fromkeys(names) if isinstance(namespace.get(name), pandas.DataFrame)
    ]
    for name in frames or ():
        for column in namespace[name].columns:
            if isinstance(column, str):
                add(column, "column")
    if pandas is not None:
        for name, value in list(namespace.items()):
            if not name.startswith("_") and isinstance(value, pandas.DataFrame):
                add(name, "variable")
    for keyword in SQL_WORDS:
        add(keyword, "keyword")
    start = index - len(word)
    return {"from": to_utf16(code, start), "to": to_utf16(code, index), "items": items[:MAX_COMPLETIONS]}


SQL_HANDLERS = {
    "complete": sql_complete,
    "signatures": lambda code, index: EMPTY["signatures"],
    "inspect": lambda code, index: EMPTY["inspect"],
}


# ---------------------------------------------------------------------------------------
# Where the cursor is


class Place:
    """The cursor in a cell: jedi's line (1-based) and column (code points), the line before
    it, and whether it is in a comment or a string — then the string's quote, its text before
    the cursor, and the code before the string (so `df["` can be told from `open("`).
    Read with a small scanner rather than a parser: a string being typed is not closed yet,
    which a parser reads as an error and no longer as a string."""

    def __init__(self, code, index):
        self.index = index
        line_start = code.rfind("\n", 0, index) + 1
        self.line = code.count("\n", 0, index) + 1
        self.column = index - line_start
        self.line_before = code[line_start:index]
        self.in_comment = False
        self.in_string = False
        self.quote = ""
        self.string_text = ""
        self.before_string = ""
        at = 0
        while True:
            found = STRING_OR_COMMENT.search(code, at, index)
            if found is None:
                return
            if found.group(0) == "#":
                line_end = code.find("\n", found.start(), index)
                if line_end < 0:
                    self.in_comment = True
                    return
                at = line_end + 1
                continue
            prefix, quote = found.group(1) or "", found.group(2)
            end = string_end(code, found.end(), quote, index)
            if end is None:
                text = code[found.end() : index]
                if "f" in prefix.lower() and in_replacement_field(text):
                    # `f"{df.`: code inside the string, which jedi completes.
                    return
                self.in_string = True
                self.quote = quote
                self.string_text = text
                self.before_string = code[line_start : found.start()]
                return
            at = end


# A comment, or the opening quotes of a string with its prefix (`rb"`, `f'''`).
STRING_OR_COMMENT = re.compile(r"#|((?<!\w)[rRbBuUfF]{1,2})?('''|\"\"\"|'|\")")


def in_replacement_field(text):
    """Whether an f-string's text so far ends inside a `{...}` (`{{` is a brace)."""
    depth = 0
    position = 0
    while position < len(text):
        character = text[position]
        if depth == 0 and character in "{}" and text.startswith(character * 2, position):
            position += 2
            continue
        if character == "{":
            depth += 1
        elif character == "}" and depth > 0:
            depth -= 1
        position += 1
    return depth > 0


def line_length(code, index):
    """The length of the line `index` is on."""
    end = code.find("\n", index)
    return (len(code) if end < 0 else end) - (code.rfind("\n", 0, index) + 1)


def current_word(code, index):
    match = re.search(r"\w*$", code[max(0, index - 200) : index])
    return match.group(0) if match else ""


# ---------------------------------------------------------------------------------------
# Positions and output


def to_index(code, offset):
    """The code-point index of the editor's UTF-16 `offset` in `code`."""
    offset = max(0, int(offset))
    if code.isascii():
        return min(offset, len(code))
    encoded = code.encode("utf-16-le", "surrogatepass")[: 2 * offset]
    return len(encoded.decode("utf-16-le", "surrogatepass"))


def to_utf16(code, index):
    """The editor's UTF-16 offset of code-point `index` in `code`."""
    if code.isascii():
        return index
    return len(code[:index].encode("utf-16-le", "surrogatepass")) // 2


class quiet:
    """What an object's code prints while it is being completed goes nowhere (there is no
    run to show it in)."""

    def __enter__(self):
        self.saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = io.StringIO()

    def __exit__(self, *exc):
        sys.stdout, sys.stderr = self.saved
        return False
