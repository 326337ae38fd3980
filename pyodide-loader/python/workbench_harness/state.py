"""What the modules share: the limits and names of the worker's world, the user's namespace,
the run in progress, and the package index `configure` sets. Other modules read the
changeable values as `state.NAME`, so a test (or `configure`) that sets one sets it for all."""

import struct
import types

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

# A cell's last values that no name holds, which the data viewer opens as `Out[N]` (the
# table output's "Open in viewer"): the last KEPT_RESULTS only, so a big one is not held
# for long (IPython keeps a thousand).
KEPT_RESULTS = 5
kept_results = {}

# The run in progress, which `display()` and `plt.show()` add their outputs to; None
# between runs.
current_run = None


class UsageError(Exception):
    """A magic used in a way the browser cannot run (IPython's name for it)."""


class InstallError(Exception):
    """`%pip install` could not install a package."""


# Named without the harness's namespace in tracebacks, like Python's own exceptions.
UsageError.__module__ = InstallError.__module__ = "builtins"


# The helpers the rewritten magics and the matplotlib backend call, as the builtin
# `__workbench__` (filled in below, once the functions exist).
workbench_helpers = types.SimpleNamespace()
