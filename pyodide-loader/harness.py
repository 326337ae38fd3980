"""The workbench harness: the Python side of the worker.

pyodide-loader sends this file to the worker, which runs it in a namespace of its own and
then calls `setup_runtime()` and `configure(package_index_url)` once, and `run` (or
`run_async`), `stopped`, `needs_event_loop`, `uses_pip`, `python_source`, `describe_file`,
`install`, `reset` and the file and package listings as the page asks. User code runs in
`user_globals`, which persists between runs. Every answer is a JSON string shaped like the
original service's contract (see pyodide-loader/src/message.rs), plus `cellOutputs`: the
run's outputs as Jupyter's nbformat writes them, in the order the code made them.

A run may be labelled with its notebook execution count: its tracebacks then read
`Cell [3], line 2`, and its source stays readable for tracebacks of later runs. The IPython
syntax notebooks use (`%time`, `%timeit`, `%%time`, `%pip install`, `%who`, `%matplotlib`,
and clear errors for shell commands and unknown magics) is rewritten line by line into
plain Python before the run. IPython itself is not imported for that: its import takes
≈ 0.45 s in native CPython (more in WebAssembly, after downloading it and its
dependencies), the rewrite well under a millisecond. When user code imports
`IPython.display`, though, its `display` shows into the run's outputs.

Only the standard library is imported at the top, so the pure parts (JSON-safe conversion,
traceback trimming, output capture, display bundles, magics) are tested with plain CPython:
pyodide-loader/tests/.
"""

import ast
import base64
import builtins
import glob
import importlib
import io
import json
import keyword
import linecache
import math
import os
import re
import struct
import sys
import time
import tokenize
import traceback
import types
from datetime import datetime, timezone

# The file name of unlabelled runs (the `window.workbench.execute` API); labelled runs get
# one each (`cell_filename`).
USER_FILENAME = "<cell>"
# Files the user loads live here; it is on sys.path so a loaded .py file is importable.
DATA_DIR = "/home/pyodide/data"
# Each stream keeps and shows at most this many characters per run.
MAX_OUTPUT_CHARS = 1_000_000
# A DataFrame result shows at most this many rows.
MAX_TABLE_ROWS = 100
MAX_TEXT_CHARS = 100_000
SAMPLE_ROWS = 3
# Where `install` and `%pip install` point micropip unless told otherwise; the worker sets
# it once with `configure`.
PACKAGE_INDEX_URL = ""
MATPLOTLIB_BACKEND = "workbench_matplotlib_backend"
MATPLOTLIB_BACKEND_SOURCE = '''\
"""Agg rendering for the workbench. show() hands every open figure to the running cell's
outputs at that point and closes them (as Jupyter's inline backend does); it never blocks.
Figures still open when a run ends are shown after it."""
import builtins

from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas


def show(*args, **kwargs):
    workbench = getattr(builtins, "__workbench__", None)
    if workbench is not None:
        workbench.show_figures()
'''
# The mime type of a pandas table in `cellOutputs`: every cell as the text pandas prints.
TABLE_MIME = "application/vnd.workbench.table+json"

# Pyodide has no time-zone files. Importing pandas asks dateutil for "UTC", and without
# /usr/share/zoneinfo/UTC dateutil reads its whole bundled zone archive for it: ≈ 0.15 s of
# the import. `setup_runtime` writes that one file where Linux keeps it.
UTC_ZONE_FILE = "/usr/share/zoneinfo/UTC"


def utc_zone_data():
    """The UTC zone in TZif form (version 2; what tzdata's zic writes): no transitions,
    one local time type with offset 0 named UTC, and the POSIX rule "UTC0"."""
    block = b"TZif2" + bytes(15) + struct.pack(">6l", 0, 0, 0, 0, 1, 4) + bytes(6) + b"UTC\0"
    return block + block + b"\nUTC0\n"


user_globals = {"__name__": "__main__", "__builtins__": __builtins__}

# The run in progress, which `display()` and `plt.show()` add their outputs to; None
# between runs.
current_run = None


class UsageError(Exception):
    """A magic used in a way the browser cannot run (IPython's name for it)."""


class InstallError(Exception):
    """`%pip install` could not install a package."""


# Named without the harness's namespace in tracebacks, like Python's own exceptions.
UsageError.__module__ = InstallError.__module__ = "builtins"


# ---------------------------------------------------------------------------------------
# Output capture


class StreamPiece:
    """Consecutive text on one stream, kept as parts and joined once at the end."""

    __slots__ = ("name", "parts")

    def __init__(self, name, text):
        self.name = name
        self.parts = [text]


class CellOutputs:
    """A run's outputs in nbformat form, in the order the code made them. Text on the same
    stream is merged until something else comes. Before anything but stream text is
    added, the streams send the partial lines they hold, and a stream sends its partial
    line before the other stream writes, so the page sees everything in this order too."""

    def __init__(self, emit):
        self._emit = emit
        self._items = []
        self._streams = []
        self._writing = None

    def attach(self, stream):
        self._streams.append(stream)

    def stream_text(self, stream, text):
        if self._writing is not None and self._writing is not stream:
            self._writing.flush()
        self._writing = stream
        last = self._items[-1] if self._items else None
        if isinstance(last, StreamPiece) and last.name == stream.name:
            last.parts.append(text)
        else:
            self._items.append(StreamPiece(stream.name, text))

    def add(self, output, send=False):
        """Adds one nbformat output; `send` emits it at once as a "display" message."""
        for stream in self._streams:
            stream.flush()
        self._items.append(output)
        if send:
            self._emit("display", json.dumps(output, allow_nan=False))

    def as_list(self):
        return [
            {"output_type": "stream", "name": item.name, "text": "".join(item.parts)}
            if isinstance(item, StreamPiece)
            else item
            for item in self._items
        ]


class StreamingOutput(io.TextIOBase):
    """A text stream that keeps what is written and hands each finished line to `emit` at
    once, so output appears in the page while the code still runs. Past `limit` characters
    it keeps counting but stores and sends nothing more. With `outputs`, what it keeps
    also goes into that run's ordered outputs."""

    def __init__(self, name, emit, limit=MAX_OUTPUT_CHARS, outputs=None):
        super().__init__()
        self.name = name
        self._emit = emit
        self._limit = limit
        self._outputs = outputs
        self._parts = []
        self._kept = 0
        self._dropped = 0
        self._unsent = ""
        if outputs is not None:
            outputs.attach(self)

    def writable(self):
        return True

    def isatty(self):
        return False

    @property
    def encoding(self):
        return "utf-8"

    def write(self, text):
        text = str(text)
        room = self._limit - self._kept
        if room <= 0:
            self._dropped += len(text)
            return len(text)
        kept = text[:room]
        self._dropped += len(text) - len(kept)
        self._kept += len(kept)
        self._keep(kept)
        last_newline = self._unsent.rfind("\n")
        if last_newline >= 0:
            self._emit(self.name, self._unsent[: last_newline + 1])
            self._unsent = self._unsent[last_newline + 1 :]
        return len(text)

    def _keep(self, text):
        if not text:
            return
        if self._outputs is not None:
            self._outputs.stream_text(self, text)
        self._parts.append(text)
        self._unsent += text

    def flush(self):
        if self._unsent:
            self._emit(self.name, self._unsent)
            self._unsent = ""

    def finish(self):
        """Flushes, and adds a notice if output was cut."""
        if self._dropped:
            self._keep(
                f"\n[output truncated: {self._dropped:,} more characters on {self.name} were not "
                f"shown; the limit is {self._limit:,} per run]\n"
            )
        self.flush()

    def text(self):
        return "".join(self._parts)


def make_json_safe(value):
    """The original service's conversion, so old clients see the same shapes: None, bool,
    int, float and str as they are; list and tuple as lists; dicts with str keys; objects
    with to_dict() (pandas) or tolist() (numpy) through those; anything else as str().
    NaN and infinities become None (JSON null), as JavaScript's JSON.stringify does."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [make_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): make_json_safe(item) for key, item in value.items()}
    for method in ("to_dict", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return make_json_safe(convert())
            except Exception:
                pass
    return str(value)


def describe_error(error):
    message = str(error)
    name = type(error).__name__
    described = f"{name}: {message}" if message else name
    if isinstance(error, MemoryError):
        described += f" ({MEMORY_HINT})"
    return described


# What a MemoryError says besides: WebAssembly gives Python at most 4 GB, and a kept file is
# read where it lies, so the way out is to read less at once.
MEMORY_HINT = (
    "Python in the browser has at most 4 GB of memory: read the file in parts "
    "(pd.read_csv(path, chunksize=1_000_000) or pyarrow.parquet.ParquetFile(path).iter_batches()), "
    "pick the columns you need (usecols=[...], columns=[...]), or aggregate each part before combining"
)


def capped_text(text):
    if len(text) > MAX_TEXT_CHARS:
        return text[:MAX_TEXT_CHARS] + f"… [{len(text) - MAX_TEXT_CHARS:,} more characters]"
    return text


# ---------------------------------------------------------------------------------------
# Rich display: mime bundles as IPython's formatter makes them


# The representations IPython's display formatter asks an object for, in its order.
# `_repr_javascript_` is left out on purpose: a notebook's script must never run.
REPR_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
)


def repr_method(obj, name):
    """`obj`'s own `name` method, as IPython looks for one: not on classes, and not on
    objects that answer every attribute (proxies, mocks)."""
    if isinstance(obj, type):
        return None
    try:
        if hasattr(obj, "_ipython_canary_method_should_not_exist_"):
            return None
        method = getattr(obj, name, None)
    except Exception:
        return None
    return method if callable(method) else None


def call_repr(obj, name, *args, **kwargs):
    """What `obj.name()` returns, or None when it has no such method or it raises."""
    method = repr_method(obj, name)
    if method is None:
        return None
    try:
        return method(*args, **kwargs)
    except Exception:
        return None


def is_json_mime(mime):
    return mime == "application/json" or mime.endswith("+json")


def is_text_mime(mime):
    return mime.startswith("text/") or mime.endswith("+xml") or mime == "application/javascript"


def mime_value(mime, value):
    """A bundle value as nbformat stores it: JSON mimes as JSON values, text as str, and
    binary data (bytes from `_repr_png_`) as base64."""
    if is_json_mime(mime):
        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        return make_json_safe(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        if is_text_mime(mime):
            return value.decode("utf-8", "replace")
        return base64.b64encode(value).decode("ascii")
    return value if isinstance(value, str) else str(value)


def plain_text(obj):
    try:
        return capped_text(repr(obj))
    except Exception as error:
        return f"<{type(obj).__name__} object: its repr() failed with {describe_error(error)}>"


def mime_bundle(obj):
    """The (data, metadata) IPython's display formatter would make for `obj`: text/plain
    from repr, then `_repr_mimebundle_` and the `_repr_*_` methods (one that raises or
    returns None is skipped); pandas tables and matplotlib figures get theirs here."""
    data = {"text/plain": plain_text(obj)}
    metadata = {}
    bundle = call_repr(obj, "_repr_mimebundle_", include=None, exclude=None)
    if isinstance(bundle, tuple) and len(bundle) == 2:
        bundle, bundle_metadata = bundle
        if isinstance(bundle_metadata, dict):
            metadata.update(make_json_safe(bundle_metadata))
    if isinstance(bundle, dict):
        for mime, value in bundle.items():
            try:
                data[str(mime)] = mime_value(str(mime), value)
            except Exception:
                pass
    for mime, name in REPR_METHODS:
        if mime in data:
            continue
        value = call_repr(obj, name)
        if isinstance(value, tuple) and len(value) == 2:
            value, value_metadata = value
            if isinstance(value_metadata, dict) and value is not None:
                metadata[mime] = make_json_safe(value_metadata)
        if value is None:
            continue
        try:
            data[mime] = mime_value(mime, value)
        except Exception:
            pass
    table = pandas_table(obj)
    if table is not None:
        frame, data[TABLE_MIME] = table
        if "text/html" not in data:
            html = call_repr(frame, "_repr_html_")
            if isinstance(html, str):
                data["text/html"] = html
    if is_figure(obj) and "image/png" not in data:
        data["image/png"] = figure_png(obj)
    return data, metadata


def raw_bundle(data):
    """A bundle given as `{mime: value}` (display(..., raw=True))."""
    if not isinstance(data, dict):
        raise TypeError(f"a raw display bundle is a dict of mime types, not {type(data).__name__}")
    return {str(mime): mime_value(str(mime), value) for mime, value in data.items()}


def as_frame(obj):
    """A pandas DataFrame as it is, a Series as a one-column DataFrame, anything else None
    (and None while pandas is not imported)."""
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return None
    if isinstance(obj, pandas.Series):
        obj = obj.to_frame(name=obj.name if obj.name is not None else "value")
    return obj if isinstance(obj, pandas.DataFrame) else None


def table_of(frame, cells):
    """The table of a DataFrame, its first MAX_TABLE_ROWS rows given by `cells(shown)` as
    (index, rows): both table forms (the displayed one and the original `outputs` one) are
    this one conversion."""
    index, rows = cells(frame.head(MAX_TABLE_ROWS))
    return {
        "columns": [str(column) for column in frame.columns],
        "dtypes": [str(dtype) for dtype in frame.dtypes],
        "index": index,
        "rows": rows,
        "totalRows": len(frame),
        "truncated": len(frame) > MAX_TABLE_ROWS,
    }


def pandas_table(obj):
    """(frame, table) for a pandas DataFrame or Series: every cell and index label as the
    text pandas prints."""
    frame = as_frame(obj)
    if frame is None:
        return None
    return frame, table_of(frame, lambda shown: (formatted_index(shown), formatted_rows(shown)))


def formatted_rows(frame):
    """The cells as pandas prints them (its column formatter: a float column shows
    `0.123457`, a missing value `NaN`), or as str() if pandas' formatter fails."""
    try:
        from pandas.io.formats.format import DataFrameFormatter

        formatter = DataFrameFormatter(frame)
        columns = [
            [cell.strip() for cell in formatter.format_col(position)]
            for position in range(len(frame.columns))
        ]
        if columns:
            return [list(row) for row in zip(*columns)]
        return [[] for _ in range(len(frame))]
    except Exception:
        return [[str(cell) for cell in row] for row in frame.itertuples(index=False, name=None)]


def formatted_index(frame):
    try:
        from pandas.io.formats.format import format_array

        return [label.strip() for label in format_array(frame.index._values, None, leading_space=False)]
    except Exception:
        return [str(label) for label in frame.index]


def is_figure(obj):
    figure_module = sys.modules.get("matplotlib.figure")
    return figure_module is not None and isinstance(obj, figure_module.Figure)


def figure_png(figure):
    """The figure as a base64 PNG, cropped as Jupyter's inline backend crops it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def display(
    *objs,
    include=None,
    exclude=None,
    metadata=None,
    transient=None,
    display_id=None,
    raw=False,
    clear=False,
    **kwargs,
):
    """Shows each object as one output of the running cell, as Jupyter's `display` does
    (`raw=True`: the objects are `{mime: value}` bundles already). `display_id` and
    `clear` are accepted; outputs are never updated or cleared in place."""
    for obj in objs:
        if raw:
            data, bundle_metadata = raw_bundle(obj), {}
        elif repr_method(obj, "_ipython_display_") is not None:
            obj._ipython_display_()
            continue
        else:
            data, bundle_metadata = mime_bundle(obj)
            if current_run is not None and is_figure(obj):
                current_run.displayed_figures.append(obj)
        if include:
            data = {mime: value for mime, value in data.items() if mime in include}
        if exclude:
            data = {mime: value for mime, value in data.items() if mime not in exclude}
        if metadata:
            bundle_metadata.update(make_json_safe(metadata))
        publish(data, bundle_metadata)


def publish_display_data(data, metadata=None, source=None, *, transient=None, **kwargs):
    """IPython's lower-level `publish_display_data`, for code that calls it directly."""
    publish(raw_bundle(data), make_json_safe(metadata or {}))


def publish(data, metadata):
    if not data:
        return
    if current_run is None:
        # Between runs (nothing should display then): at least not lost.
        print(data.get("text/plain", ""))
        return
    current_run.add_display(data, metadata)


def show_figures():
    """`plt.show()`: every open figure becomes an output of the running cell now, and is
    closed. Outside a run (a warm-up import) figures are left alone."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if current_run is None or pyplot is None:
        return
    try:
        for number in pyplot.get_fignums():
            figure = pyplot.figure(number)
            png = figure_png(figure)
            current_run.figure_images.append(image_output(png))
            current_run.add_display({"text/plain": plain_text(figure), "image/png": png}, {})
    finally:
        pyplot.close("all")


def image_output(png):
    """A figure in the original `outputs` format."""
    return {"type": "image", "mime": "image/png", "data": png}


# IPython's display functions live here; IPython.display and IPython.core.display take
# them from this module.
IPYTHON_DISPLAY_MODULE = "IPython.core.display_functions"


class IPythonDisplayFinder:
    """Finds IPython's display_functions module with the other finders and loads it with
    `display`, `publish_display_data` and `clear_output` replaced by the workbench's, so
    `from IPython.display import display` shows into the run's outputs (IPython's own would
    print, as no IPython shell runs here)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != IPYTHON_DISPLAY_MODULE:
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = RoutingLoader(spec.loader)
                return spec
        return None


class RoutingLoader:
    """Another loader's module, with the workbench's display functions put in it."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        self.loader.exec_module(module)
        route_ipython_display(module)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def route_ipython_display(module):
    module.display = display
    module.publish_display_data = publish_display_data
    module.clear_output = clear_output


def clear_output(wait=False):
    """IPython's `clear_output`, accepted and ignored: a run's outputs are never cleared in
    place (IPython's own would print terminal escape codes into stdout here)."""


# The helpers the rewritten magics and the matplotlib backend call, as the builtin
# `__workbench__` (filled in below, once the functions exist).
workbench_helpers = types.SimpleNamespace()


def prepare_builtins():
    """`display` as a builtin (as in Jupyter, and so `reset` keeps it), the helpers of
    magics and `plt.show()`, and IPython's display routed to ours. Cheap and idempotent:
    every run calls it."""
    builtins.display = display
    builtins.__workbench__ = workbench_helpers
    if not any(isinstance(finder, IPythonDisplayFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, IPythonDisplayFinder())
    loaded = sys.modules.get(IPYTHON_DISPLAY_MODULE)
    if loaded is not None and getattr(loaded, "display", None) is not display:
        route_ipython_display(loaded)


# ---------------------------------------------------------------------------------------
# Tracebacks

# Every labelled run's source by file name, so a function defined in cell [1] and failing
# when cell [3] calls it shows cell 1's line; and the label each such file shows as.
cell_sources = {}
cell_labels = {}
LABELLED_FILE = re.compile(r'File "(<cell \[[^"\n]*>)", line')


def source_lines(code):
    """The lines as Python numbers them (\\n, \\r\\n and \\r end a line; str.splitlines
    would also split at form feeds and the like)."""
    return io.StringIO(code, newline="").readlines()


def remember_source(code, label):
    """The file name a run's code compiles under, with its lines in linecache: `<cell>`
    unlabelled (as always), `<cell [3]>` for execution count 3 (`<cell [3] (2)>` if an
    earlier, different cell [3] still owns that name)."""
    if label is None:
        filename = USER_FILENAME
    else:
        filename = f"<cell [{label}]>"
        copy = 1
        while filename in cell_labels and cell_sources.get(filename) != code:
            copy += 1
            filename = f"<cell [{label}] ({copy})>"
        cell_labels[filename] = label
    cell_sources[filename] = code
    linecache.cache[filename] = (len(code), None, source_lines(code), filename)
    return filename


def is_cell_file(filename):
    return filename == USER_FILENAME or filename in cell_labels


def user_traceback(error):
    """The traceback through the user's own code only, without the harness's frames; a
    labelled run's frames read `Cell [3], line 2, in f`."""
    for filename, code in cell_sources.items():
        if filename not in linecache.cache:
            linecache.cache[filename] = (len(code), None, source_lines(code), filename)
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if is_cell_file(frame.filename)
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    text = "Traceback (most recent call last):\n" + "".join(lines)
    return LABELLED_FILE.sub(labelled_reference, text)


def labelled_reference(match):
    label = cell_labels.get(match.group(1))
    return match.group(0) if label is None else f"Cell [{label}], line"


def error_output(error, traceback_text):
    return {
        "output_type": "error",
        "ename": type(error).__name__,
        "evalue": str(error),
        "traceback": traceback_text.rstrip("\n").split("\n"),
    }


# ---------------------------------------------------------------------------------------
# Magics: IPython's notebook syntax rewritten line by line into plain Python


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
            if end < 0:
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
# Inside a string: its quote character, or a backslash escaping the next character.
STRING_STOPS = {"'": re.compile(r"'|\\"), '"': re.compile(r'"|\\')}


def string_end(line, position, quote):
    """The index just past the quotes that close a string from `position`, or -1."""
    find = STRING_STOPS[quote[0]]
    while True:
        match = find.search(line, position)
        if match is None:
            return -1
        if match.group() == "\\":
            position = match.end() + 1
        elif line.startswith(quote, match.start()):
            return match.start() + len(quote)
        else:
            position = match.end()


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
            if position < 0:
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


# The starts of `%time` clocks running now (a stack: `%time` may call code that times).
time_starts = []


def magic_time_start():
    time_starts.append(time.perf_counter())


def magic_time_stop(value=None):
    if time_starts:
        print(f"Wall time: {format_time(time.perf_counter() - time_starts.pop())}")
    return value


def magic_time_exec(code):
    """`%time` of a compound statement, run where the magic stands."""
    frame = sys._getframe(1)
    try:
        tree = ast.parse(code, frame.f_code.co_filename)
        ast.increment_lineno(tree, frame.f_lineno - 1)
        compiled = compile(tree, frame.f_code.co_filename, "exec")
        started = time.perf_counter()
        exec(compiled, frame.f_globals, frame.f_locals)
        print(f"Wall time: {format_time(time.perf_counter() - started)}")
    finally:
        del frame


def format_time(seconds, precision=3):
    """A duration as IPython writes it: `1.23 ms`, `12.3 µs`, `1min 15s`."""
    if seconds >= 60:
        parts = []
        left = seconds
        for suffix, length in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
            whole = int(left / length)
            if whole > 0:
                left = left % length
                parts.append(f"{whole}{suffix}")
            if left < 1:
                break
        return " ".join(parts)
    units = ("s", "ms", "\u00b5s", "ns")
    order = min(-(math.floor(math.log10(seconds)) // 3), 3) if seconds > 0 else 3
    return "%.*g %s" % (precision, seconds * 1000**order, units[order])


class TimeitResult:
    """What `%timeit -o` returns; prints as IPython's line does."""

    def __init__(self, loops, repeat, all_runs, compile_time, precision=3):
        self.loops = loops
        self.repeat = repeat
        self.all_runs = all_runs
        self.compile_time = compile_time
        self.timings = [run / loops for run in all_runs]
        self.best = min(self.timings)
        self.worst = max(self.timings)
        self._precision = precision

    @property
    def average(self):
        return math.fsum(self.timings) / len(self.timings)

    @property
    def stdev(self):
        mean = self.average
        return (math.fsum((timing - mean) ** 2 for timing in self.timings) / len(self.timings)) ** 0.5

    def __str__(self):
        return (
            f"{format_time(self.average, self._precision)} \u00b1 "
            f"{format_time(self.stdev, self._precision)} per loop (mean \u00b1 std. dev. of "
            f"{self.repeat} run{'' if self.repeat == 1 else 's'}, "
            f"{self.loops:,} loop{'' if self.loops == 1 else 's'} each)"
        )

    __repr__ = __str__


def parse_timeit_options(arguments):
    """IPython's `%timeit` options (-n loops, -r runs, -p precision, -q quiet, -o return the
    result; -t and -c are accepted and change nothing) and the statement after them."""
    options = {"n": 0, "r": 7, "p": 3, "q": False, "o": False}
    rest = arguments.strip()
    while rest.startswith("-"):
        word, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        letters = word[1:]
        while letters:
            letter, letters = letters[0], letters[1:]
            if letter in "nrp":
                if not letters:
                    letters, _, rest = rest.partition(" ")
                    rest = rest.lstrip()
                if not letters.isdigit():
                    raise UsageError(f"%timeit -{letter} needs a whole number, not {letters!r}")
                options[letter] = int(letters)
                letters = ""
            elif letter in "qotc":
                options[letter] = True
            else:
                raise UsageError(f"%timeit has no option -{letter}")
    if options["r"] < 1:
        raise UsageError("%timeit -r needs at least one run")
    return options, rest


# The timing function IPython compiles the statement into (timeit's own template, as AST
# so the user's lines keep their numbers).
TIMEIT_TEMPLATE = (
    "def inner(_it, _timer):\n"
    "    _t0 = _timer()\n"
    "    for _i in _it:\n"
    "        pass\n"
    "    _t1 = _timer()\n"
    "    return _t1 - _t0\n"
)


def magic_timeit(arguments, cell=None):
    """`%timeit stmt` and `%%timeit [setup]` + cell, as IPython times them: unless -n says,
    the loop count grows by tens until one run takes ≥ 0.2 s; then -r runs (7)."""
    import timeit

    frame = sys._getframe(1)
    filename, line = frame.f_code.co_filename, frame.f_lineno
    namespace = frame.f_globals
    if frame.f_locals is not frame.f_globals:
        namespace = {**frame.f_globals, **frame.f_locals}
    del frame
    options, statement = parse_timeit_options(arguments)
    if cell is None:
        setup_code, timed_code, timed_offset = "pass", statement, line - 1
    else:
        setup_code, timed_code, timed_offset = statement or "pass", cell, line
    compile_started = time.perf_counter()
    setup = ast.parse(setup_code, filename)
    ast.increment_lineno(setup, line - 1)
    timed = ast.parse(timed_code, filename)
    ast.increment_lineno(timed, timed_offset)
    if not timed.body:
        raise UsageError("%timeit needs a statement to time")
    template = ast.parse(TIMEIT_TEMPLATE)
    for node in ast.walk(template):
        if hasattr(node, "lineno"):
            node.lineno = node.end_lineno = line
    inner = template.body[0]
    inner.body[1].body = timed.body
    inner.body[:0] = setup.body
    code = compile(template, filename, "exec")
    compile_time = time.perf_counter() - compile_started
    defined = {}
    exec(code, namespace, defined)
    timer = timeit.Timer(timer=time.perf_counter)
    timer.inner = defined["inner"]
    loops = options["n"]
    if loops == 0:
        for power in range(10):
            loops = 10**power
            if timer.timeit(loops) >= 0.2:
                break
    result = TimeitResult(loops, options["r"], timer.repeat(options["r"], loops), compile_time, options["p"])
    if not options["q"]:
        if result.worst > 4 * result.best and result.best > 0 and result.worst > 1e-6:
            print(
                f"The slowest run took {result.worst / result.best:0.2f} times longer than the "
                "fastest. This could mean that an intermediate result is being cached."
            )
        print(result)
    return result if options["o"] else None


def magic_who(arguments):
    """`%who [type ...]`: the user's variable names, sorted, tab-separated."""
    wanted = set(arguments.split())
    names = sorted(
        name
        for name, value in user_globals.items()
        if not name.startswith("_") and (not wanted or type(value).__name__ in wanted)
    )
    if names:
        print("\t".join(names))
    elif wanted:
        print("No variables match your requested type.")
    else:
        print("Interactive namespace is empty.")


# `%pip install` options that change nothing here.
IGNORED_PIP_OPTIONS = {
    "-q", "--quiet", "-U", "--upgrade", "--user", "--no-cache-dir", "--disable-pip-version-check",
}


async def magic_pip(arguments):
    """`%pip install name ...` through micropip and the workbench's package index, saying
    what was installed as pip does."""
    import shlex

    try:
        words = shlex.split(arguments, comments=True)
    except ValueError as error:
        raise UsageError(f"%pip could not read its arguments: {error}") from None
    if not words or words[0] != "install":
        raise UsageError("only `%pip install <package> ...` is available in the browser")
    requirements = []
    for word in words[1:]:
        if word in IGNORED_PIP_OPTIONS:
            continue
        if word.startswith("-"):
            raise UsageError(f"%pip install does not support {word} in the browser")
        requirements.append(word)
    if not requirements:
        raise UsageError("%pip install needs the name of a package")
    await load_micropip()
    import micropip

    before = installed_versions(micropip)
    for requirement in requirements:
        try:
            await install_requirement(requirement, PACKAGE_INDEX_URL)
        except Exception as error:
            raise InstallError(f"could not install {requirement}: {describe_error(error)}") from None
    after = installed_versions(micropip)
    added = [f"{name}-{version}" for name, version in sorted(after.items()) if before.get(name) != version]
    if added:
        print("Successfully installed " + " ".join(added))
    else:
        print("Requirement already satisfied: " + " ".join(requirements))


async def load_micropip():
    try:
        import micropip  # noqa: F401
    except ImportError:
        import pyodide_js

        await pyodide_js.loadPackage("micropip")


def installed_versions(micropip):
    return {package.name: package.version for package in micropip.list().values()}


def magic_fail(message):
    raise UsageError(message)


# ---------------------------------------------------------------------------------------
# SQL: DuckDB-Wasm runs beside Python in a worker of its own (sql-worker.js); `sql()` hands it
# the query and the DataFrames the query names, and waits (pyodide-worker.js, "SQL"). Files
# of the data folder are tables by their paths (`FROM 'trips.csv'`, `'sales/*.parquet'`).

# The most Arrow data a result may bring back into Python.
SQL_RESULT_LIMIT = 1 << 30
# Strings, quoted names and comments (which hide `;` and words), or a `;`, or a bare word.
SQL_PIECE = re.compile(
    r"""(?<![\w$])[eE]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|\$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$"""
    r"""|"((?:[^"]|"")*)"|--[^\n]*|/\*.*?(?:\*/|\Z)|(;)|([A-Za-z_][A-Za-z0-9_$]*)""",
    re.DOTALL,
)
# Which group of SQL_PIECE holds what.
SQL_QUOTED, SQL_SEMICOLON, SQL_WORD = 2, 3, 4
SQL_LINE = re.compile(r"^LINE (\d+):", re.MULTILINE)
SQL_OUT_OF_MEMORY = re.compile(r"Out of Memory|malloc of size|failed to allocate|memory access out of bounds", re.IGNORECASE)
SQL_CATALOG_GUESS = re.compile(r'\nDid you mean "(?:pg_|duckdb_|sqlite_|information_schema)[^"\n]*"\?')
SQL_MISSING = re.compile(r"Table with name \S+ does not exist|No files found that match the pattern")


class SQLError(Exception):
    """An error the SQL engine reported (syntax, a missing table or file, a type), with
    DuckDB's own message."""


def split_sql(text):
    """The statements of `text`: split at `;` outside strings, quoted names and comments,
    without the empty ones."""
    return [statement for _, statement in split_sql_lines(text)]


def split_sql_lines(text):
    """(line, statement) for each statement of `text`, `line` counting the lines of `text`
    before the statement's first character."""
    pieces, start, code = [], 0, False

    def add(end):
        statement = text[start:end]
        stripped = statement.lstrip()
        at = start + len(statement) - len(stripped)
        pieces.append((text.count("\n", 0, at), stripped.rstrip()))

    for match in SQL_PIECE.finditer(text):
        if match.group(SQL_SEMICOLON):
            if code:
                add(match.start())
            start, code = match.end(), False
        elif not match.group().startswith(("--", "/*")):
            code = True
    if code:
        add(len(text))
    return pieces


def sql_names(text):
    """The names a query uses outside its strings and comments (bare or double-quoted)."""
    names = set()
    for match in SQL_PIECE.finditer(text):
        quoted, bare = match.group(SQL_QUOTED), match.group(SQL_WORD)
        if quoted is not None:
            names.add(quoted.replace('""', '"'))
        elif bare is not None:
            names.add(bare)
    return names


def sql_frames(text, caller):
    """(name, value) for each pandas DataFrame or pyarrow Table the query names, looked up
    as Python would from the calling code: its locals, then its globals."""
    return frames_named(sql_names(text), caller)


def frames_named(names, caller):
    """(name, value) for each of `names` that is a DataFrame or an Arrow table where the
    calling code runs."""
    pandas = sys.modules.get("pandas")
    pyarrow = sys.modules.get("pyarrow")
    kinds = tuple(kind for kind in (pandas and pandas.DataFrame, pyarrow and pyarrow.Table) if kind)
    if not kinds:
        return []
    scopes = (caller.f_locals, caller.f_globals) if caller is not None else (user_globals,)
    found = []
    for name in sorted(set(names)):
        for scope in scopes:
            if name in scope:
                if isinstance(scope[name], kinds):
                    found.append((name, scope[name]))
                break
    return found


def arrow_stream(value):
    """A DataFrame or Arrow table as Arrow IPC stream bytes."""
    import pyarrow as pa

    table = value if isinstance(value, pa.Table) else pa.Table.from_pandas(value)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def arrow_frame(data):
    """A pandas DataFrame from a result's Arrow IPC bytes."""
    import pandas as pd
    import pyarrow as pa

    if not data:
        return pd.DataFrame()
    buffer = pa.py_buffer(data)
    try:
        table = pa.ipc.open_file(buffer).read_all()
    except pa.ArrowInvalid:
        table = pa.ipc.open_stream(buffer).read_all()
    return table.to_pandas()


def sql_tables_hint(caller):
    """What a query can name, for an error about a missing table."""
    files = data_files()
    scope = user_globals if caller is None else {**caller.f_globals, **caller.f_locals}
    frames = [name for name, _ in frames_named((name for name in scope if not name.startswith("_")), caller)]
    parts = []
    if files:
        shown = ", ".join(f"'{name}'" for name in sorted(files)[:20])
        parts.append(f"files {shown}" + (f" and {len(files) - 20} more" if len(files) > 20 else ""))
    if frames:
        parts.append("DataFrames " + ", ".join(frames[:20]))
    if not parts:
        return "Nothing to query yet: add a file to the data folder, or make a DataFrame."
    return "Tables you can use: " + "; ".join(parts) + "."


def shift_sql_lines(message, offset):
    """DuckDB's `LINE n:` counted from the cell's first line, with its caret kept under
    the place it points at."""
    if not offset:
        return message
    lines = message.split("\n")
    for index, line in enumerate(lines):
        match = SQL_LINE.match(line)
        if match:
            old = match.group(0)
            new = f"LINE {int(match.group(1)) + offset}:"
            lines[index] = new + line[len(old) :]
            if index + 1 < len(lines) and lines[index + 1].strip() == "^":
                lines[index + 1] = " " * (len(new) - len(old)) + lines[index + 1]
    return "\n".join(lines)


def bytes_text(count):
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000


# DuckDB-Wasm reads Parquet and JSON with extensions it downloads from extensions.duckdb.org
# at first use; nothing here may reach that host (and offline nothing can), so the files of
# these kinds a query names are read by pyarrow, only the columns the query names, and handed
# to the engine as Arrow tables named by the path as written. CSV and other text the engine
# reads itself, in place.
ARROW_KINDS = (".parquet", ".json", ".jsonl", ".ndjson")
SQL_READ_CALL = re.compile(
    r"\b(?:read_parquet|parquet_scan|read_json|read_json_auto|read_ndjson|read_ndjson_auto)\s*\(\s*\Z",
    re.IGNORECASE,
)
SQL_TABLE_PLACE = re.compile(r"\b(?:from|join)\s*\Z", re.IGNORECASE)
SQL_STAR = re.compile(r"\*")
SQL_COUNT_STAR = re.compile(r"\bcount\s*\(\s*\Z", re.IGNORECASE)


def selects_everything(code):
    """Whether a query (its code, without strings and comments) may use every column of a
    table: `*` anywhere but in `count(*)`, `COLUMNS(…)`, or no SELECT at all (`FROM 'x' LIMIT
    5`). Otherwise a column it uses is a name it says."""
    if not re.search(r"\bselect\b", code, re.IGNORECASE) or re.search(r"\bcolumns\s*\(", code, re.IGNORECASE):
        return True
    for star in SQL_STAR.finditer(code):
        if not (SQL_COUNT_STAR.search(code, 0, star.start()) and code[star.end() :].lstrip().startswith(")")):
            return True
    return False


def data_files():
    """The data folder's files, as paths relative to it."""
    found = []
    for folder, folders, names in os.walk(DATA_DIR):
        folders.sort()
        for name in sorted(names):
            found.append(os.path.relpath(os.path.join(folder, name), DATA_DIR))
    return found


def sql_code(text):
    """The query without its strings and comments (where `*` and names are code)."""
    return SQL_PIECE.sub(
        lambda match: " " if match.group().startswith(("'", "e'", "E'", "$", "--", "/*")) else match.group(), text
    )


def arrow_files(query):
    """The query with each Parquet or JSON file it names (a path or glob in quotes, or a
    `read_parquet(…)`/`read_json(…)` of one) replaced by a quoted table name, and
    {name: [paths]} for those tables."""
    tables = {}
    pieces = []
    at = 0
    for match in SQL_PIECE.finditer(query):
        literal = match.group()
        if not literal.startswith("'"):
            continue
        path = literal[1:-1].replace("''", "'")
        if not path.lower().endswith(ARROW_KINDS):
            continue
        if os.path.isfile(os.path.join(DATA_DIR, path)):
            matched = [path]
        else:
            matched = sorted(
                found
                for found in glob.glob(path, root_dir=DATA_DIR, recursive=True)
                if os.path.isfile(os.path.join(DATA_DIR, found))
            )
        if not matched:
            continue
        start, end = match.start(), match.end()
        call = SQL_READ_CALL.search(query, at, start)
        if call is not None:
            close = query.find(")", end)
            if close < 0:
                continue
            start, end = call.start(), close + 1
        elif SQL_TABLE_PLACE.search(query, max(at, start - 40), start) is None:
            continue  # a string used as a value, not as a table
        tables[path] = matched
        pieces.append(query[at:start])
        pieces.append('"' + path.replace('"', '""') + '"')
        at = end
    pieces.append(query[at:])
    return "".join(pieces), tables


def read_arrow_file(paths, query):
    """The files of one table as one Arrow table, with only the columns the query names
    (all of them after a `*`; the first one when it names none, for the row count)."""
    import pyarrow as pa

    names = {name.lower() for name in sql_names(query)}
    every = selects_everything(sql_code(query))
    tables = []
    for path in paths:
        full = os.path.join(DATA_DIR, path)
        if path.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            schema = pq.read_schema(full)
            columns = None if every else [name for name in schema.names if name.lower() in names] or schema.names[:1]
            tables.append(pq.read_table(full, columns=columns))
        else:
            tables.append(read_json_table(full))
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="default")
    except TypeError:
        return pa.concat_tables(tables, promote=True)


def read_json_table(path):
    """A JSON file (one record per line, or an array of records) as an Arrow table."""
    import pyarrow as pa
    import pyarrow.json

    try:
        return pyarrow.json.read_json(path)
    except pa.ArrowInvalid:
        with open(path, encoding="utf-8") as file:
            records = json.load(file)
        if isinstance(records, dict):
            records = [records]
        return pa.Table.from_pylist(records)


def run_sql(query, caller, line_offset=0):
    """Runs the query's statements in the SQL engine; the last one's result as a pandas
    DataFrame."""
    if not isinstance(query, str):
        raise TypeError(f"sql() takes the query as a string, not {type(query).__name__}")
    import js
    from pyodide.ffi import to_js

    original = query
    query, files = arrow_files(query)
    tables = [(name, read_arrow_file(paths, original)) for name, paths in files.items()]
    frames = [{"name": name, "bytes": to_js(memoryview(arrow_stream(value)))} for name, value in tables]
    for name, value in sql_frames(query, caller):
        try:
            stream = arrow_stream(value)
        except Exception:  # noqa: BLE001 - a name that is not a table (an alias, a column)
            continue  # the query fails with DuckDB's message if it did mean it as a table
        frames.append({"name": name, "bytes": to_js(memoryview(stream))})
    statements = split_sql_lines(query)
    answer = js.workbenchSql.query(
        to_js([statement for _, statement in statements]),
        to_js(frames, dict_converter=js.Object.fromEntries),
        SQL_RESULT_LIMIT,
    )
    state = answer.state
    if state == "stopped":
        raise KeyboardInterrupt
    if state == "result":
        return arrow_frame(answer.bytes.to_bytes())
    if state == "tooLarge":
        raise SQLError(
            f"The result is {bytes_text(answer.length)} of data, more than the "
            f"{bytes_text(SQL_RESULT_LIMIT)} a result may bring into Python: aggregate it "
            "(GROUP BY, count(*), avg(…)) or add LIMIT."
        )
    # DuckDB's guesses among its own catalog tables ("Did you mean "pg_enum"?") only mislead.
    failed = getattr(answer, "statement", 0)
    failed = failed if 0 <= failed < len(statements) else 0
    line_offset += statements[failed][0] if statements else 0
    message = shift_sql_lines(SQL_CATALOG_GUESS.sub("", answer.text), line_offset)
    if SQL_MISSING.search(message):
        message += "\n" + sql_tables_hint(caller)
    elif SQL_OUT_OF_MEMORY.search(message):
        message += (
            "\nThe query needs more memory than the browser gives the SQL engine (4 GB): "
            "aggregate the result (GROUP BY, count(*), avg(…)) or add LIMIT."
        )
    raise SQLError(message)


def sql(query):
    """Runs SQL over the data folder's files (tables by their paths: `FROM 'trips.csv'`,
    `FROM 'sales/*.parquet'`) and the pandas DataFrames the query names; returns the last
    statement's result as a pandas DataFrame. Raises `SQLError` with DuckDB's message."""
    return run_sql(query, sys._getframe(1))


def magic_sql(query, line_offset):
    """A `%%sql` cell's query, run from the cell's namespace; DuckDB's line numbers count
    from the cell's first line."""
    return run_sql(query, sys._getframe(1), line_offset)


def sql_cell_call(target, body, line_offset):
    """The line of Python a `%%sql [name]` cell becomes."""
    if target and (not target.isidentifier() or keyword.iskeyword(target)):
        return fail_call(f"%%sql takes the name of a variable to bind the result to, not {target!r}")
    call = f"__workbench__.sql({body!r}, {line_offset})"
    return f"{target} = {call}; {target}" if target else call


def install_workbench_module():
    """`from workbench import sql, SQLError`."""
    module = types.ModuleType("workbench", "The workbench's own helpers: sql() and SQLError.")
    module.sql = sql
    module.SQLError = SQLError
    sys.modules["workbench"] = module


workbench_helpers.sql = magic_sql
workbench_helpers.fail = magic_fail
workbench_helpers.time_start = magic_time_start
workbench_helpers.time_stop = magic_time_stop
workbench_helpers.time_exec = magic_time_exec
workbench_helpers.timeit = magic_timeit
workbench_helpers.who = magic_who
workbench_helpers.pip = magic_pip
workbench_helpers.show_figures = show_figures


# ---------------------------------------------------------------------------------------
# Set-up


def setup_runtime():
    """Once, in the worker: the data folder (also the working directory, so a loaded file
    opens by its plain name), matplotlib rendering to PNG (the browser backend needs a
    DOM, which a worker does not have; `plt.show()` shows into the run), the UTC zone
    file, cheaper import cache invalidation, and `display` as a builtin."""
    os.makedirs(DATA_DIR, exist_ok=True)
    os.chdir(DATA_DIR)
    if DATA_DIR not in sys.path:
        sys.path.insert(0, DATA_DIR)
    backend_dir = "/home/pyodide/.workbench"
    os.makedirs(backend_dir, exist_ok=True)
    with open(os.path.join(backend_dir, MATPLOTLIB_BACKEND + ".py"), "w") as backend:
        backend.write(MATPLOTLIB_BACKEND_SOURCE)
    if backend_dir not in sys.path:
        sys.path.append(backend_dir)
    os.environ["MPLBACKEND"] = "module://" + MATPLOTLIB_BACKEND
    if not os.path.exists(UTC_ZONE_FILE):
        os.makedirs(os.path.dirname(UTC_ZONE_FILE), exist_ok=True)
        with open(UTC_ZONE_FILE, "wb") as zone:
            zone.write(utc_zone_data())
    keep_unchanged_archives()
    install_workbench_module()
    prepare_builtins()


def configure(package_index_url):
    """Once, in the worker: the package index `%pip install` (and `install` when not told
    another) points micropip at, e.g. `https://host/pypi/simple/{package_name}/`."""
    global PACKAGE_INDEX_URL
    PACKAGE_INDEX_URL = package_index_url or ""


def keep_unchanged_archives():
    """`importlib.invalidate_caches()`, which Pyodide calls after every package load, makes
    every zipimporter read its archive's directory again, in Python: 19 of them over the
    standard library's zip, 0.1-0.4 s per call in the worker, twice before a first run that
    imports pandas. A zipimporter now reads its archive again only if the archive's size or
    modification time differs from when it last read it."""
    import zipimport

    reread = zipimport.zipimporter.invalidate_caches
    if getattr(reread, "keeps_unchanged_archives", False):
        return

    def invalidate_caches(self):
        read = archive_stamp(self.archive)
        if read is None or getattr(self, "workbench_read", None) != read:
            reread(self)
            self.workbench_read = read

    invalidate_caches.keeps_unchanged_archives = True
    zipimport.zipimporter.invalidate_caches = invalidate_caches
    # The importers made so far read their archives when they were made.
    for finder in list(sys.path_importer_cache.values()):
        if isinstance(finder, zipimport.zipimporter):
            finder.workbench_read = archive_stamp(finder.archive)


def archive_stamp(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


# ---------------------------------------------------------------------------------------
# Runs


class Run:
    """One run's capture and answer: streams redirected, outputs collected in order, the
    user's source registered so tracebacks show their lines, and the answer shaped as the
    original service did plus `cellOutputs`."""

    def __init__(self, code, context_json, emit, label=None):
        global current_run
        self.started = time.perf_counter()
        self.label = label
        self.outputs = CellOutputs(emit)
        self.stdout = StreamingOutput("stdout", emit, MAX_OUTPUT_CHARS, self.outputs)
        self.stderr = StreamingOutput("stderr", emit, MAX_OUTPUT_CHARS, self.outputs)
        self.answer = {"success": True, "result": None, "outputs": []}
        self.value = None
        self.error_output = None
        # Figures `plt.show()` showed, in the original `outputs` format.
        self.figure_images = []
        # Figures shown by display() or as the result: not shown again when the run ends.
        self.displayed_figures = []
        self.filename = remember_source(code, label)
        self.context = json.loads(context_json)
        prepare_builtins()
        time_starts.clear()
        current_run = self
        # Last: nothing after the swap can be interrupted before `finish` puts them back.
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.stdout, self.stderr

    def succeeded(self, value):
        self.value = value
        self.answer["result"] = make_json_safe(value)

    def failed(self, error):
        self.answer["success"] = False
        if isinstance(error, MemoryError) and MEMORY_HINT not in getattr(error, "__notes__", ()):
            error.add_note(MEMORY_HINT)
        self.answer["error"] = describe_error(error)
        self.answer["errorType"] = type(error).__name__
        self.answer["traceback"] = user_traceback(error)
        self.error_output = error_output(error, self.answer["traceback"])

    def add_display(self, data, metadata):
        self.outputs.add({"output_type": "display_data", "data": data, "metadata": metadata}, send=True)

    def finish(self):
        global current_run
        try:
            value_outputs = self.show_result()
            self.show_open_figures()
        finally:
            sys.stdout, sys.stderr = self.saved
            current_run = None
        self.stdout.finish()
        self.stderr.finish()
        if self.error_output is not None:
            self.outputs.add(self.error_output)
        self.answer["outputs"] = value_outputs + self.figure_images
        self.answer["cellOutputs"] = self.outputs.as_list()
        self.answer["stdout"] = self.stdout.text()
        self.answer["stderr"] = self.stderr.text()
        self.answer["timestamp"] = now_iso()
        self.answer["durationMs"] = (time.perf_counter() - self.started) * 1000
        return json.dumps(self.answer, allow_nan=False)

    def show_result(self):
        """The last expression's value as an `execute_result` (nothing for None); returns
        it in the original `outputs` format: a table (pandas) or its text."""
        value = self.value
        if value is None:
            return []
        try:
            if repr_method(value, "_ipython_display_") is not None:
                value._ipython_display_()
            else:
                data, metadata = mime_bundle(value)
                if is_figure(value):
                    self.displayed_figures.append(value)
                self.outputs.add(
                    {
                        "output_type": "execute_result",
                        "execution_count": self.label,
                        "data": data,
                        "metadata": metadata,
                    }
                )
            table = table_output(value)
            return [table] if table is not None else [{"type": "text", "text": plain_text(value)}]
        except Exception as error:
            self.stderr.write(f"[could not show the result: {describe_error(error)}]\n")
            return []

    def show_open_figures(self):
        """Figures still open, after the result (as Jupyter's inline backend shows them),
        then closed; a figure already displayed by this run is not shown again."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return
        try:
            for number in pyplot.get_fignums():
                figure = pyplot.figure(number)
                png = figure_png(figure)
                self.figure_images.append(image_output(png))
                if not any(figure is shown for shown in self.displayed_figures):
                    self.outputs.add(
                        {
                            "output_type": "display_data",
                            "data": {"text/plain": plain_text(figure), "image/png": png},
                            "metadata": {},
                        }
                    )
        except Exception as error:
            self.stderr.write(f"[could not show the figures: {describe_error(error)}]\n")
        finally:
            pyplot.close("all")


def table_output(value):
    """A pandas DataFrame or Series in the original `outputs` format: the values themselves,
    made JSON-safe."""
    frame = as_frame(value)
    if frame is None:
        return None
    table = table_of(
        frame,
        lambda shown: (make_json_safe(list(shown.index)), make_json_safe(shown.values.tolist())),
    )
    return {"type": "table", **table}


def run(code, context_json, emit, label=None):
    """Runs code that does not need the event loop straight through. Code that does (see
    `needs_event_loop`) is handed to `run_async`: the answer is then a coroutine resolving
    to the JSON, which the worker awaits like a string."""
    if needs_event_loop(code):
        return run_async(code, context_json, emit, label)
    from pyodide.code import eval_code

    state = Run(code, context_json, emit, label)
    try:
        user_globals.update(state.context)
        cell = transform_cell(code)
        started = time.perf_counter()
        value = eval_code(cell.python, user_globals, filename=state.filename)
        if cell.timed:
            print(f"Wall time: {format_time(time.perf_counter() - started)}")
        state.succeeded(value)
    except BaseException as error:  # user code may raise anything, even SystemExit
        state.failed(error)
    return state.finish()


async def run_async(code, context_json, emit, label=None):
    """Runs code that may use top-level await (or `%pip`)."""
    from pyodide.code import eval_code_async

    state = Run(code, context_json, emit, label)
    try:
        user_globals.update(state.context)
        cell = transform_cell(code)
        started = time.perf_counter()
        value = await eval_code_async(cell.python, user_globals, filename=state.filename)
        if cell.timed:
            print(f"Wall time: {format_time(time.perf_counter() - started)}")
        state.succeeded(value)
    except BaseException as error:  # user code may raise anything, even SystemExit
        state.failed(error)
    return state.finish()


def stopped(code, context_json, emit, label=None):
    """The answer for a run that Stop ended in the harness itself, just before or after the
    user's code (a `KeyboardInterrupt` raised there reaches the worker, not `run`)."""
    state = Run(code, context_json, emit, label)
    state.failed(KeyboardInterrupt())
    return state.finish()


# ---------------------------------------------------------------------------------------
# The other requests


WARM_UP_IMPORTS = {"matplotlib": "matplotlib.pyplot"}


def warm_up(packages):
    """Imports preloaded packages ahead of the first run that needs them. Packages that
    are not importable here are skipped: this only saves time later."""
    import importlib

    for package in packages:
        try:
            importlib.import_module(WARM_UP_IMPORTS.get(package, package))
        except ImportError:
            pass


# A CSV preview reads this much of the file's start; a file this small is read whole, so its
# row count is exact.
PREVIEW_BYTES = 1 << 20
EXACT_ROWS_BYTES = 8 << 20


def file_kind(name):
    """What a file is, from its extension: the Files panel's word for it."""
    extension = os.path.splitext(name)[1].lower()
    return {
        ".csv": "csv",
        ".tsv": "tsv",
        ".parquet": "parquet",
        ".json": "json",
        ".py": "python",
        ".txt": "text",
    }.get(extension, "other")


def describe_file(path):
    """The answer to loading a file: the original's shape, columns and 3-row sample for a
    CSV, and for Parquet the same from its footer and first rows. Only the file's start (CSV)
    or footer and first batch (Parquet) are read, so a large file is described at once; a
    large CSV's row count is then an estimate (`shapeEstimated`)."""
    filename = os.path.relpath(path, DATA_DIR)
    size = os.path.getsize(path)
    kind = file_kind(filename)
    answer = {"success": True, "filename": filename, "path": path, "bytes": size, "kind": kind}
    if kind == "python":
        # A changed module must be imported afresh, not taken from the import cache.
        importlib.invalidate_caches()
        sys.modules.pop(os.path.splitext(os.path.basename(filename))[0], None)
    try:
        if kind in ("csv", "tsv"):
            describe_csv(path, size, "\t" if kind == "tsv" else ",", answer)
        elif kind == "parquet":
            describe_parquet(path, answer)
    except Exception as error:
        answer["success"] = False
        what = "Parquet" if kind == "parquet" else "CSV"
        answer["error"] = f"could not read {filename} as {what}: {describe_error(error)}"
    return json.dumps(answer, allow_nan=False)


def describe_csv(path, size, separator, answer):
    import io

    import pandas

    if size <= EXACT_ROWS_BYTES:
        frame = pandas.read_csv(path, sep=separator)
        rows = len(frame)
    else:
        with open(path, "rb") as file:
            head = file.read(PREVIEW_BYTES)
        # The last line read may be cut short: only whole lines count.
        head = head[: head.rfind(b"\n") + 1] or head
        frame = pandas.read_csv(io.BytesIO(head), sep=separator)
        line_bytes = (len(head) - len(head.split(b"\n", 1)[0]) - 1) / max(1, len(frame))
        rows = int((size - len(head.split(b"\n", 1)[0]) - 1) / max(1.0, line_bytes))
        answer["shapeEstimated"] = True
    answer["shape"] = [rows, len(frame.columns)]
    answer["columns"] = [str(column) for column in frame.columns]
    answer["dtypes"] = [str(dtype) for dtype in frame.dtypes]
    answer["sample"] = make_json_safe(frame.head(SAMPLE_ROWS).to_dict("records"))


def describe_parquet(path, answer):
    import pyarrow.parquet

    parquet = pyarrow.parquet.ParquetFile(path)
    schema = parquet.schema_arrow
    answer["shape"] = [parquet.metadata.num_rows, len(schema.names)]
    answer["columns"] = [str(name) for name in schema.names]
    batch = next(parquet.iter_batches(batch_size=SAMPLE_ROWS), None)
    frame = batch.to_pandas() if batch is not None else schema.empty_table().to_pandas()
    answer["dtypes"] = [str(dtype) for dtype in frame.dtypes]
    answer["sample"] = make_json_safe(frame.head(SAMPLE_ROWS).to_dict("records"))


async def install(requirement, index_url=None):
    """The Packages panel's install: the answer as JSON, a failure included."""
    import micropip  # noqa: F401 (the worker loads it first; without it, the worker says so)

    try:
        version = await install_requirement(requirement, index_url)
    except BaseException as error:
        return json.dumps(
            {
                "success": False,
                "package": requirement,
                "error": f"could not install {requirement}: {describe_error(error)}",
            }
        )
    return json.dumps({"success": True, "package": requirement, "version": version})


async def install_requirement(requirement, index_url=None):
    """Installs with micropip from `index_url` (by default the configured index) and
    returns the installed version of the requirement's package, if micropip lists it."""
    import micropip

    index_url = index_url or PACKAGE_INDEX_URL
    if index_url:
        micropip.set_index_urls([index_url])
    await micropip.install(requirement)
    wanted = normalize_name(requirement.split("=")[0].split("<")[0].split(">")[0].strip())
    return next(
        (
            package.version
            for package in micropip.list().values()
            if normalize_name(package.name) == wanted
        ),
        None,
    )


def reset():
    """Removes the user's variables; the names Python itself sets (dunders) stay."""
    removable = [name for name in user_globals if not (name.startswith("__") and name.endswith("__"))]
    for name in removable:
        del user_globals[name]
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
    return json.dumps({"success": True, "removed": len(removable)})


def normalize_name(name):
    """PEP 503: lowercase, runs of -, _ and . become one -."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def now_iso():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def list_files():
    """The files in the data folder and its sub-folders (paths relative to it): added ones and
    the ones the code wrote."""
    entries = []
    for folder, folders, names in os.walk(DATA_DIR):
        folders[:] = [name for name in folders if name != "__pycache__"]
        for name in names:
            path = os.path.join(folder, name)
            entries.append(
                {
                    "name": os.path.relpath(path, DATA_DIR),
                    "path": path,
                    "bytes": os.path.getsize(path),
                    "kind": file_kind(name),
                }
            )
    entries.sort(key=lambda entry: entry["name"].lower())
    return json.dumps(entries)


def data_path(name):
    """The path of `name` inside the data folder, or None when it would lead outside it."""
    path = os.path.normpath(os.path.join(DATA_DIR, name))
    if not name or os.path.isabs(name) or not path.startswith(DATA_DIR + "/"):
        return None
    return path


def forget_module(name):
    if name.endswith(".py") and "/" not in name:
        sys.modules.pop(name[:-3], None)


def delete_file(name):
    path = data_path(name)
    if path is None:
        return json.dumps({"success": False, "error": f"{name!r} is not a file in the data folder"})
    if not os.path.isfile(path):
        return json.dumps({"success": False, "error": f"there is no file {name}"})
    os.remove(path)
    # A folder the deletion left empty goes too (folders exist here to hold files).
    folder = os.path.dirname(path)
    while folder != DATA_DIR and not os.listdir(folder):
        os.rmdir(folder)
        folder = os.path.dirname(folder)
    forget_module(name)
    return json.dumps({"success": True})


def rename_file(name, new_name):
    path, new_path = data_path(name), data_path(new_name)
    if path is None or new_path is None:
        bad = name if path is None else new_name
        return json.dumps({"success": False, "error": f"{bad!r} is not a file in the data folder"})
    if not os.path.isfile(path):
        return json.dumps({"success": False, "error": f"there is no file {name}"})
    if os.path.exists(new_path):
        return json.dumps({"success": False, "error": f"there is already a file {new_name}"})
    os.makedirs(os.path.dirname(new_path), exist_ok=True)
    os.rename(path, new_path)
    forget_module(name)
    return json.dumps({"success": True})


def list_packages():
    """Every installed distribution, with its version, by name."""
    import importlib.metadata

    packages = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            packages[normalize_name(name)] = {"name": name, "version": distribution.version}
    return json.dumps(sorted(packages.values(), key=lambda package: package["name"].lower()))
