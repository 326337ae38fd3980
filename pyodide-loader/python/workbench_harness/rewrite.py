"""IPython's notebook syntax rewritten line by line into plain Python (`%time`, `%%sql`,
`%pip`, `!ls`, ...); what the rewritten lines call is in `magics` and `sql`."""

import ast
import io
import keyword
import re
import tokenize

from .scan import string_end
from .tracebacks import source_lines


class CellSource:
    """A cell as Python runs it: every magic line replaced by one line of Python (so line
    numbers stay the user's), and whether `%%time` asked to time the whole cell."""

    __slots__ = ("python", "timed")

    def __init__(self, python, timed=False):
        self.python = python
        self.timed = timed


SHELL_MESSAGE = "shell commands are not available in the browser"
# Magics that run shell commands: they fail like `!ls` does.
SHELL_LINE_MAGICS = {"sx", "system"}
SHELL_CELL_MAGICS = {"bash", "sh", "script", "system"}
# A line that may hold a magic: most cells have none and skip the careful scan.
MAGIC_HINT = re.compile(r"^[ \t\f]*[%!]|=[ \t]*[%!]", re.MULTILINE)
MAGIC_NAME = re.compile(r"(\w*)(.*)\Z", re.DOTALL)
# What needs the event loop: top-level await (as the worker always checked: the word,
# anywhere) and `%pip`, which becomes an await.
AWAIT_WORD = re.compile(r"\bawait\b")
# Statements that cannot share a line with others after `;`.
COMPOUND_STATEMENTS = tuple(
    getattr(ast, name)
    for name in (
        "If", "For", "AsyncFor", "While", "With", "AsyncWith", "Try", "TryStar",
        "FunctionDef", "AsyncFunctionDef", "ClassDef", "Match",
    )
    if hasattr(ast, name)
)


def transform_cell(code):
    """The cell with its magics rewritten (see `CellSource`). A line is a magic only where
    a statement starts: not inside a string, brackets or a continued line, so `a %b` and
    `"%time"` in a multi-line string stay as they are. Indented magics keep their
    indentation. Nothing here raises: a magic that cannot run becomes a line that raises
    `UsageError` when it is reached, as in IPython."""
    if not MAGIC_HINT.search(code):
        return CellSource(code)
    lines = source_lines(code)
    bodies = [line.rstrip("\r\n") for line in lines]
    endings = [line[len(body) :] for line, body in zip(lines, bodies)]
    timed = False
    start = 0
    first = next((index for index, body in enumerate(bodies) if body.strip()), None)
    if first is not None and bodies[first].lstrip().startswith("%%"):
        stripped = bodies[first].lstrip()
        indent = bodies[first][: len(bodies[first]) - len(stripped)]
        name, arguments = MAGIC_NAME.match(stripped[2:]).groups()
        if name == "time" and not arguments.strip():
            bodies[first] = ""
            timed = True
            start = first + 1
        else:
            if name == "time":
                call = fail_call("%%time takes no arguments: put the code on the lines below it")
            elif name == "timeit":
                cell = transform_cell("".join(lines[first + 1 :])).python
                call = f"__workbench__.timeit({arguments.strip()!r}, {cell!r})"
            elif name == "sql":
                call = sql_cell_call(arguments.strip(), "".join(lines[first + 1 :]), first + 1)
            elif name in SHELL_CELL_MAGICS:
                call = fail_call(SHELL_MESSAGE)
            else:
                call = fail_call(f"unknown magic %%{name}")
            # The rest of the cell is the magic's, not Python: it is not run.
            bodies[first] = indent + call
            for index in range(first + 1, len(bodies)):
                bodies[index] = ""
            return CellSource("".join(body + ending for body, ending in zip(bodies, endings)))
    quote, depth, continued = None, 0, False
    for index in range(start, len(bodies)):
        body = bodies[index]
        if quote is None and depth == 0 and not continued:
            replacement = transform_line(body)
            if replacement is not None:
                bodies[index] = replacement
                continue
        quote, depth, continued = scan_line(body, quote, depth)
    return CellSource("".join(body + ending for body, ending in zip(bodies, endings)), timed)


def scan_line(line, quote, depth):
    """Where Python stands after `line`: inside which string (its quotes) if any, how many
    brackets are open, and whether a backslash continues the line."""
    position = 0
    while position < len(line):
        if quote is not None:
            end = string_end(line, position, quote)
            if end is None:
                # A triple-quoted string goes on; a one-quote string only after a backslash.
                if len(quote) == 3 or line.endswith("\\"):
                    return quote, depth, False
                return None, depth, False
            position = end
            quote = None
            continue
        match = PYTHON_PUNCTUATION.search(line, position)
        if match is None:
            break
        char = match.group()
        position = match.end()
        if char == "#":
            break
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif char == "\\":
            if position >= len(line):
                return None, depth, True
            position += 1
        elif line.startswith(char * 3, match.start()):
            quote = char * 3
            position = match.start() + 3
        else:
            quote = char
    return quote, depth, False


PYTHON_PUNCTUATION = re.compile(r"[#'\"\\()\[\]{}]")


def transform_line(body):
    """One line of Python for a magic or shell line at a statement's start, or None."""
    stripped = body.lstrip()
    indent = body[: len(body) - len(stripped)]
    target = None
    if not stripped.startswith(("%", "!")):
        assigned = assigned_magic(stripped)
        if assigned is None:
            return None
        target, stripped = assigned
    if stripped.startswith("!"):
        prefix, expression, suffix = "", fail_call(SHELL_MESSAGE), ""
    elif stripped.startswith("%%"):
        name = MAGIC_NAME.match(stripped[2:]).group(1)
        if name in ("time", "timeit") or name in SHELL_CELL_MAGICS:
            message = f"%%{name} must be the first line of the cell"
        else:
            message = f"unknown magic %%{name}"
        prefix, expression, suffix = "", fail_call(message), ""
    else:
        name, arguments = MAGIC_NAME.match(stripped[1:]).groups()
        rewrite = LINE_MAGICS.get(name)
        if rewrite is not None:
            prefix, expression, suffix = rewrite(arguments.strip())
        elif name in SHELL_LINE_MAGICS:
            prefix, expression, suffix = "", fail_call(SHELL_MESSAGE), ""
        else:
            prefix, expression, suffix = "", fail_call(f"unknown magic %{name}"), ""
    assignment = f"{target} = " if target is not None else ""
    return f"{indent}{prefix}{assignment}{expression}{suffix}"


def assigned_magic(line):
    """(target, magic) for `x = %magic ...` or `x = !command`: the statement's first `=`
    outside strings and brackets (not `==`, `<=`, `+=` and the like) with a magic after
    it; None for any other line."""
    position = 0
    depth = 0
    while True:
        match = ASSIGNMENT_PUNCTUATION.search(line, position)
        if match is None:
            return None
        char = match.group()
        position = match.end()
        if char == "#":
            return None
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif char == "\\":
            position += 1
        elif char in "'\"":
            quote = char * 3 if line.startswith(char * 3, match.start()) else char
            position = string_end(line, match.start() + len(quote), quote)
            if position is None:
                return None
        elif depth == 0:
            target = line[: match.start()].rstrip()
            if not target or target[-1] in "=<>!+-*/%&|^@:" or line.startswith("=", position):
                return None
            magic = line[position:].lstrip()
            return (target, magic) if magic.startswith(("%", "!")) else None


ASSIGNMENT_PUNCTUATION = re.compile(r"[#'\"\\()\[\]{}=]")


def fail_call(message):
    return f"__workbench__.fail({message!r})"


def rewrite_time(arguments):
    """`%time`: an expression stays the line's value (so it is the result when last); a
    statement runs between the clock's start and stop on the same line; a compound
    statement (`for ...: ...`) is compiled and run by the helper."""
    code = strip_comment(arguments).strip()
    quiet = code.endswith(";")
    code = code.rstrip(";").rstrip()
    suffix = ";" if quiet else ""
    if not code:
        return "", fail_call("%time needs a statement or an expression to time"), ""
    try:
        statements = ast.parse(code).body
    except SyntaxError:
        # Python reports the error on this line when the cell compiles.
        statements = None
    if statements is not None and len(statements) == 1 and isinstance(statements[0], ast.Expr):
        return "__workbench__.time_start(); ", f"__workbench__.time_stop(({code}))", suffix
    if statements is not None and any(isinstance(node, COMPOUND_STATEMENTS) for node in statements):
        return "", f"__workbench__.time_exec({code!r})", suffix
    return f"__workbench__.time_start(); {code}; ", "__workbench__.time_stop()", suffix


def strip_comment(code):
    """One line of Python without its trailing comment."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.COMMENT:
                return code[: token.start[1]]
    except (tokenize.TokenError, SyntaxError):
        pass
    return code


def load_extension(arguments):
    """`%load_ext autoreload` (in many notebooks' first cell) has nothing to do here: a
    loaded file is imported afresh when it changes. Any other extension is not available."""
    name = strip_comment(arguments).strip()
    if name == "autoreload":
        return ("", "None", "")
    return ("", fail_call(f"the IPython extension {name} is not available in the browser"), "")


LINE_MAGICS = {
    "matplotlib": lambda arguments: ("", "None", ""),
    # IPython's own settings (`%config InlineBackend.figure_format = 'retina'`): figures are
    # drawn by the workbench's backend, so there is nothing to set.
    "config": lambda arguments: ("", "None", ""),
    "load_ext": load_extension,
    "autoreload": lambda arguments: ("", "None", ""),
    "time": rewrite_time,
    "timeit": lambda arguments: ("", f"__workbench__.timeit({arguments!r})", ""),
    "who": lambda arguments: ("", f"__workbench__.who({arguments!r})", ""),
    "debug": lambda arguments: ("", f"__workbench__.debug({arguments!r})", ""),
    "pip": lambda arguments: ("", f"await __workbench__.pip({arguments!r})", ""),
}


def python_source(code):
    """The Python a run of `code` executes (its magics rewritten): what the worker should
    give `loadPackagesFromImports`, which cannot parse magics."""
    return transform_cell(code).python


def needs_event_loop(code):
    """Whether `code` must run with `run_async`: it awaits at top level, or uses `%pip`."""
    try:
        python = transform_cell(code).python
    except Exception:
        python = code
    return AWAIT_WORD.search(python) is not None


def uses_pip(code):
    """Whether `code` installs packages with `%pip` (the worker may first wait for its
    preloads, as it does before an install)."""
    try:
        return "__workbench__.pip(" in transform_cell(code).python
    except Exception:
        return False




def sql_cell_call(target, body, line_offset):
    """The line of Python a `%%sql [name]` cell becomes."""
    if target and (not target.isidentifier() or keyword.iskeyword(target)):
        return fail_call(f"%%sql takes the name of a variable to bind the result to, not {target!r}")
    call = f"__workbench__.sql({body!r}, {line_offset})"
    return f"{target} = {call}; {target}" if target else call
