"""The workbench harness: the Python side of the worker.

pyodide-loader sends this file to the worker, which runs it in a namespace of its own and
then calls `setup_runtime()` once and `run`, `describe_file`, `install` and `reset` as the
page asks. User code runs in `user_globals`, which persists between runs. Every answer is a
JSON string shaped like the original service's contract (see pyodide-loader/src/message.rs).

Only the standard library is imported at the top, so the pure parts (JSON-safe conversion,
traceback trimming, output capture) are tested with plain CPython: pyodide-loader/tests/.
"""

import base64
import importlib
import io
import json
import linecache
import math
import os
import struct
import sys
import time
import traceback
from datetime import datetime, timezone

USER_FILENAME = "<cell>"
# Files the user loads live here; it is on sys.path so a loaded .py file is importable.
DATA_DIR = "/home/pyodide/data"
# Each stream keeps and shows at most this many characters per run.
MAX_OUTPUT_CHARS = 1_000_000
# A DataFrame result shows at most this many rows.
MAX_TABLE_ROWS = 100
MAX_TEXT_CHARS = 100_000
SAMPLE_ROWS = 3
MATPLOTLIB_BACKEND = "workbench_matplotlib_backend"
MATPLOTLIB_BACKEND_SOURCE = '''\
"""Agg rendering for the workbench: figures are collected after each run, so show() does
nothing and never blocks."""
from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas


def show(*args, **kwargs):
    pass
'''

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


class StreamingOutput(io.TextIOBase):
    """A text stream that keeps what is written and hands each finished line to `emit` at
    once, so output appears in the page while the code still runs. Past `limit` characters
    it keeps counting but stores and sends nothing more."""

    def __init__(self, name, emit, limit=MAX_OUTPUT_CHARS):
        super().__init__()
        self.name = name
        self._emit = emit
        self._limit = limit
        self._parts = []
        self._kept = 0
        self._dropped = 0
        self._unsent = ""

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
        self._parts.append(kept)
        self._unsent += kept
        last_newline = self._unsent.rfind("\n")
        if last_newline >= 0:
            self._emit(self.name, self._unsent[: last_newline + 1])
            self._unsent = self._unsent[last_newline + 1 :]
        return len(text)

    def flush(self):
        if self._unsent:
            self._emit(self.name, self._unsent)
            self._unsent = ""

    def finish(self):
        """Flushes, and adds a notice if output was cut."""
        if self._dropped:
            notice = (
                f"\n[output truncated: {self._dropped:,} more characters on {self.name} were not "
                f"shown; the limit is {self._limit:,} per run]\n"
            )
            self._parts.append(notice)
            self._unsent += notice
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


def user_traceback(error):
    """The traceback through the user's own code only, without the harness's frames."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == USER_FILENAME
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return "Traceback (most recent call last):\n" + "".join(lines)


def describe_error(error):
    message = str(error)
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def rich_outputs(value):
    """The result as a table (pandas) or text, then every open matplotlib figure as a PNG."""
    outputs = []
    table = table_output(value)
    if table is not None:
        outputs.append(table)
    elif value is not None:
        text = repr(value)
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS] + f"… [{len(text) - MAX_TEXT_CHARS:,} more characters]"
        outputs.append({"type": "text", "text": text})
    outputs.extend(figure_outputs())
    return outputs


def table_output(value):
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return None
    if isinstance(value, pandas.Series):
        value = value.to_frame(name=value.name if value.name is not None else "value")
    if not isinstance(value, pandas.DataFrame):
        return None
    shown = value.head(MAX_TABLE_ROWS)
    return {
        "type": "table",
        "columns": [str(column) for column in value.columns],
        "dtypes": [str(dtype) for dtype in value.dtypes],
        "index": make_json_safe(list(shown.index)),
        "rows": make_json_safe(shown.values.tolist()),
        "totalRows": len(value),
        "truncated": len(value) > MAX_TABLE_ROWS,
    }


def figure_outputs():
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    outputs = []
    for number in pyplot.get_fignums():
        buffer = io.BytesIO()
        pyplot.figure(number).savefig(buffer, format="png", bbox_inches="tight")
        outputs.append(
            {
                "type": "image",
                "mime": "image/png",
                "data": base64.b64encode(buffer.getvalue()).decode("ascii"),
            }
        )
    pyplot.close("all")
    return outputs


def setup_runtime():
    """Once, in the worker: the data folder (also the working directory, so a loaded file
    opens by its plain name), matplotlib rendering to PNG (the browser backend needs a
    DOM, which a worker does not have), the UTC zone file, and cheaper import cache
    invalidation."""
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


class Run:
    """One run's capture and answer: streams redirected, the user's source registered so
    tracebacks show their lines, and the answer shaped as the original service did."""

    def __init__(self, code, context_json, emit):
        self.started = time.perf_counter()
        self.stdout = StreamingOutput("stdout", emit)
        self.stderr = StreamingOutput("stderr", emit)
        self.answer = {"success": True, "result": None, "outputs": []}
        self.value = None
        linecache.cache[USER_FILENAME] = (len(code), None, code.splitlines(True), USER_FILENAME)
        self.context = json.loads(context_json)
        # Last: nothing after the swap can be interrupted before `finish` puts them back.
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.stdout, self.stderr

    def succeeded(self, value):
        self.value = value
        self.answer["result"] = make_json_safe(value)

    def failed(self, error):
        self.answer["success"] = False
        self.answer["error"] = describe_error(error)
        self.answer["errorType"] = type(error).__name__
        self.answer["traceback"] = user_traceback(error)

    def finish(self):
        sys.stdout, sys.stderr = self.saved
        try:
            self.answer["outputs"] = rich_outputs(self.value)
        except Exception as error:
            self.stderr.write(f"[could not show the result: {describe_error(error)}]\n")
        self.stdout.finish()
        self.stderr.finish()
        self.answer["stdout"] = self.stdout.text()
        self.answer["stderr"] = self.stderr.text()
        self.answer["timestamp"] = now_iso()
        self.answer["durationMs"] = (time.perf_counter() - self.started) * 1000
        return json.dumps(self.answer, allow_nan=False)


def run(code, context_json, emit):
    """Runs code that does not use top-level await: no trip through the event loop."""
    from pyodide.code import eval_code

    state = Run(code, context_json, emit)
    try:
        user_globals.update(state.context)
        state.succeeded(eval_code(code, user_globals, filename=USER_FILENAME))
    except BaseException as error:  # user code may raise anything, even SystemExit
        state.failed(error)
    return state.finish()


async def run_async(code, context_json, emit):
    """Runs code that may use top-level await."""
    from pyodide.code import eval_code_async

    state = Run(code, context_json, emit)
    try:
        user_globals.update(state.context)
        state.succeeded(await eval_code_async(code, user_globals, filename=USER_FILENAME))
    except BaseException as error:  # user code may raise anything, even SystemExit
        state.failed(error)
    return state.finish()


def stopped(code, context_json, emit):
    """The answer for a run that Stop ended in the harness itself, just before or after the
    user's code (a `KeyboardInterrupt` raised there reaches the worker, not `run`)."""
    state = Run(code, context_json, emit)
    state.failed(KeyboardInterrupt())
    return state.finish()


# What importing a preloaded package means: matplotlib's pyplot builds the font cache.
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


def describe_file(path):
    """The answer to loading a file; for CSV the original's shape, columns and 3-row sample."""
    filename = os.path.basename(path)
    answer = {"success": True, "filename": filename, "path": path, "bytes": os.path.getsize(path)}
    extension = os.path.splitext(filename)[1].lower()
    if extension == ".py":
        # A changed module must be imported afresh, not taken from the import cache.
        importlib.invalidate_caches()
        sys.modules.pop(os.path.splitext(filename)[0], None)
    if extension not in (".csv", ".tsv"):
        return json.dumps(answer)
    import pandas

    try:
        frame = pandas.read_csv(path, sep="\t" if extension == ".tsv" else ",")
    except Exception as error:
        answer["success"] = False
        answer["error"] = f"could not read {filename} as CSV: {describe_error(error)}"
        return json.dumps(answer)
    answer["shape"] = list(frame.shape)
    answer["columns"] = [str(column) for column in frame.columns]
    answer["dtypes"] = [str(dtype) for dtype in frame.dtypes]
    answer["sample"] = make_json_safe(frame.head(SAMPLE_ROWS).to_dict("records"))
    return json.dumps(answer, allow_nan=False)


async def install(requirement, index_url):
    import micropip

    if index_url:
        micropip.set_index_urls([index_url])
    try:
        await micropip.install(requirement)
    except BaseException as error:
        return json.dumps(
            {
                "success": False,
                "package": requirement,
                "error": f"could not install {requirement}: {describe_error(error)}",
            }
        )
    wanted = normalize_name(requirement.split("=")[0].split("<")[0].split(">")[0].strip())
    version = next(
        (
            package.version
            for package in micropip.list().values()
            if normalize_name(package.name) == wanted
        ),
        None,
    )
    return json.dumps({"success": True, "package": requirement, "version": version})


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
    """The files in the data folder: loaded ones and the ones the code wrote."""
    entries = []
    for name in sorted(os.listdir(DATA_DIR), key=str.lower):
        path = os.path.join(DATA_DIR, name)
        if os.path.isfile(path):
            entries.append({"name": name, "path": path, "bytes": os.path.getsize(path)})
    return json.dumps(entries)


def delete_file(name):
    if os.path.basename(name) != name or name in ("", ".", ".."):
        return json.dumps({"success": False, "error": f"{name!r} is not a plain file name"})
    path = os.path.join(DATA_DIR, name)
    if not os.path.isfile(path):
        return json.dumps({"success": False, "error": f"there is no file {name}"})
    os.remove(path)
    if name.endswith(".py"):
        sys.modules.pop(name[:-3], None)
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
