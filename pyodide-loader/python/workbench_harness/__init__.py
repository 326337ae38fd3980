"""The workbench harness: the Python side of the worker.

pyodide-loader embeds this package and sends its files to the worker, which writes them to
`/home/pyodide/.workbench/workbench_harness/` (no request: they arrive with the start
message), imports it, and then calls `setup_runtime()` and `configure(package_index_url)`
once, and `run` (which hands code that awaits to `run_async`), `stopped`, `python_source`,
`describe_file`, `install`, `reset` and the file and package listings as the page asks,
and `missing_imports` before a run (our index's packages the code imports, installed
first).
User code runs in `user_globals`, which persists between runs. Every answer is a JSON
string shaped like the original service's contract (see pyodide-loader/src/message.rs), plus
`cellOutputs`: the run's outputs as Jupyter's nbformat writes them, in the order the code
made them.

A run may be labelled with its notebook execution count: its tracebacks then read
`Cell [3], line 2`, and its source stays readable for tracebacks of later runs. The IPython
syntax notebooks use (`%time`, `%timeit`, `%%time`, `%pip install`, `%who`, `%matplotlib`,
`%%sql`, and clear errors for shell commands and unknown magics) is rewritten line by line
into plain Python before the run. IPython itself is not imported for that: its import takes
≈ 0.45 s in native CPython (more in WebAssembly, after downloading it and its
dependencies), the rewrite well under a millisecond. When user code imports
`IPython.display`, though, its `display` shows into the run's outputs.

One module per concern, each importing only those below it:

- `state`: shared limits, names and the changeable values (`state.DATA_DIR`, ...);
- `scan`: the one scanner of Python strings and SQL pieces (assist.py uses it too);
- `table`: the data viewer's rows of a DataFrame, Series or array, sorted and filtered,
  and its columns' summaries (assist.py answers with it);
- `capture`: streamed output and the run's outputs in order;
- `display`: mime bundles, tables, figures, `display()`, IPython's display hook;
- `tracebacks`: tracebacks through the user's cells only;
- `rewrite`: IPython's syntax into plain Python;
- `operations`: files, packages, reset, warm-up;
- `stdin`: `input()`, `sys.stdin`, `getpass`, `breakpoint()` and `%debug` during a run;
- `magics`: `%time`, `%timeit`, `%who`, `%pip`;
- `sql`: `sql()` and `%%sql` over DuckDB-Wasm;
- `runs`: one run, start to answer;
- `runtime`: the one-time set-up.

Only the standard library is imported at the top of each, so the pure parts are tested with
plain CPython: pyodide-loader/python/tests/.
"""

from .operations import (
    delete_file,
    describe_file,
    install,
    list_files,
    list_packages,
    missing_imports,
    rename_file,
    reset,
    warm_up,
)
from .rewrite import python_source
from .runs import run, stopped
from .runtime import configure, setup_runtime
from .state import DATA_DIR, user_globals

__all__ = [
    "DATA_DIR",
    "configure",
    "delete_file",
    "describe_file",
    "install",
    "list_files",
    "list_packages",
    "missing_imports",
    "python_source",
    "rename_file",
    "reset",
    "run",
    "setup_runtime",
    "stopped",
    "user_globals",
    "warm_up",
]
