"""Set-up, once in the worker: the data folder, matplotlib's backend, the UTC zone file,
cheaper import cache invalidation, the `workbench` module and the builtins."""

import os
import sys

from . import state
from .display import PLOTLY_RENDERER, prepare_builtins, show_figures
from .magics import magic_fail, magic_pip, magic_time_exec, magic_time_start, magic_time_stop, magic_timeit, magic_who
from .sql import install_workbench_module, magic_sql
from .stdin import debug_last_error, prepare_input
from .state import MATPLOTLIB_BACKEND, MATPLOTLIB_BACKEND_SOURCE, UTC_ZONE_FILE, utc_zone_data, workbench_helpers

workbench_helpers.sql = magic_sql
workbench_helpers.fail = magic_fail
workbench_helpers.time_start = magic_time_start
workbench_helpers.time_stop = magic_time_stop
workbench_helpers.time_exec = magic_time_exec
workbench_helpers.timeit = magic_timeit
workbench_helpers.who = magic_who
workbench_helpers.pip = magic_pip
workbench_helpers.show_figures = show_figures
workbench_helpers.debug = debug_last_error


def setup_runtime():
    """Once, in the worker: the data folder (also the working directory, so a loaded file
    opens by its plain name), matplotlib rendering to PNG (the browser backend needs a
    DOM, which a worker does not have; `plt.show()` shows into the run), the UTC zone
    file, cheaper import cache invalidation, `display` as a builtin, and the run's input
    (`getpass` imported here, so a run's start imports nothing Stop could land in)."""
    os.makedirs(state.DATA_DIR, exist_ok=True)
    os.chdir(state.DATA_DIR)
    if state.DATA_DIR not in sys.path:
        sys.path.insert(0, state.DATA_DIR)
    backend_dir = "/home/pyodide/.workbench"
    os.makedirs(backend_dir, exist_ok=True)
    with open(os.path.join(backend_dir, MATPLOTLIB_BACKEND + ".py"), "w") as backend:
        backend.write(MATPLOTLIB_BACKEND_SOURCE)
    if backend_dir not in sys.path:
        sys.path.append(backend_dir)
    os.environ["MPLBACKEND"] = "module://" + MATPLOTLIB_BACKEND
    os.environ.setdefault("PLOTLY_RENDERER", PLOTLY_RENDERER)
    if not os.path.exists(UTC_ZONE_FILE):
        os.makedirs(os.path.dirname(UTC_ZONE_FILE), exist_ok=True)
        with open(UTC_ZONE_FILE, "wb") as zone:
            zone.write(utc_zone_data())
    keep_unchanged_archives()
    install_workbench_module()
    prepare_builtins()
    prepare_input()


def configure(package_index_url):
    """Once, in the worker: the package index `%pip install` (and `install` when not told
    another) points micropip at, e.g. `https://host/pypi/simple/{package_name}/`."""
    state.PACKAGE_INDEX_URL = package_index_url or ""


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
