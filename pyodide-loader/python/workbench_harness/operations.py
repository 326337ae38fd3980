"""The page's other requests: warming up preloaded packages, describing, listing, renaming
and deleting data files, installing packages, and resetting the namespace."""

import importlib
import io
import json
import os
import re
import sys
from datetime import datetime
from datetime import timezone

from . import state
from .capture import describe_error, make_json_safe
from .state import SAMPLE_ROWS

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
    filename = os.path.relpath(path, state.DATA_DIR)
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


def missing_imports(source, candidates_json):
    """The top-level modules `source` imports that are among `candidates` (the import names
    of our package index's wheels, JSON) and cannot be imported now: the worker installs
    them before the run, as Pyodide's own packages load. Code that does not parse imports
    nothing here (the run says why)."""
    import ast
    import importlib.util

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return "[]"
    candidates = set(json.loads(candidates_json))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    wanted = [name for name in names & candidates if importlib.util.find_spec(name) is None]
    return json.dumps(sorted(wanted))


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
                "error": install_failure(requirement, error, index_url),
            }
        )
    return json.dumps({"success": True, "package": requirement, "version": version})


async def install_requirement(requirement, index_url=None):
    """Installs with micropip from `index_url` (by default the configured index) and
    returns the installed version of the requirement's package, if micropip lists it."""
    import micropip

    index_url = index_url or state.PACKAGE_INDEX_URL
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


# What would help when our package index has no wheel of a package, by the reason its 404
# gives (`missing`: protocol::MissingBecause).
MISSING_ADVICE = {
    "distribution": (
        "{name} comes with Pyodide's distribution (`import {name}` loads it); "
        "no other version of it can be installed"
    ),
    "noUpstream": (
        "{name} is not in this server's package index, and the server has no upstream index "
        "to ask: start it with --upstream-index https://pypi.org/simple (as `cargo xtask run` "
        "does) to install packages from the public Python package index"
    ),
    "notUpstream": (
        "no package named {name} is on this server's package index or on the public index "
        "it mirrors: check the name"
    ),
    "noPureWheel": (
        "{name} has no pure-Python wheel and none built for this Pyodide, and Pyodide's "
        "distribution does not include it: it needs a build for WebAssembly, which does not "
        "exist yet"
    ),
    "upstreamUnreachable": (
        "{name} is not in this server's package index, and the upstream index it mirrors "
        "cannot be reached right now: try again when online"
    ),
}
UNREACHABLE_ADVICE = "the server's package index cannot be reached: are you offline?"


def requirement_name(requirement):
    """The project name of a requirement (`numpy>=2`, `pkg[extra]==1.0`)."""
    return re.split(r"[\s\[<>=!~;@(]", str(requirement).strip(), maxsplit=1)[0]


def ask_index(name, index_url=None):
    """Our package index's answer for `name`: (HTTP status, JSON body or None), asked with a
    synchronous request (a worker may make one; only after a failure); None where it cannot
    be asked (no index configured, or plain CPython)."""
    index_url = index_url or state.PACKAGE_INDEX_URL
    if not index_url:
        return None
    try:
        from js import XMLHttpRequest
    except ImportError:
        return None
    request = XMLHttpRequest.new()
    try:
        request.open("GET", index_url.replace("{package_name}", normalize_name(name)), False)
        request.setRequestHeader("Accept", "application/vnd.pypi.simple.v1+json")
        request.send()
    except Exception:  # noqa: BLE001 - a network error is an answer too
        return (0, None)
    try:
        body = json.loads(request.responseText)
    except ValueError:
        body = None
    return (int(request.status), body)


def install_advice(name, answer):
    """What would help, in words, from the index's `answer` for `name`; None when the index
    has the package (the failure is micropip's own, a version conflict say) or was not
    asked."""
    if answer is None:
        return None
    status, body = answer
    if status == 0:
        return UNREACHABLE_ADVICE
    if status == 404 and isinstance(body, dict):
        advice = MISSING_ADVICE.get(body.get("missing"))
        return advice.format(name=name) if advice else None
    return None


def install_failure(requirement, error, index_url=None):
    """The message for a failed install: what would help if the index can say, else
    micropip's own words."""
    name = requirement_name(requirement)
    advice = install_advice(name, ask_index(name, index_url))
    return f"could not install {requirement}: {advice or describe_error(error)}"


def failure_advice(error):
    """For a run's error, what would help, in words, or None: a module that is not installed
    (`ModuleNotFoundError`), or `micropip.install` in the code failing for a package the
    index does not have."""
    if isinstance(error, ModuleNotFoundError) and error.name:
        top = error.name.split(".")[0]
        import importlib.util

        try:
            if importlib.util.find_spec(top) is not None:
                return None
        except (ImportError, ValueError):
            return None
        answer = ask_index(top)
        if answer is not None and answer[0] == 200:
            return f"`%pip install {top}` installs it from the package index"
        if answer is not None and answer[0] == 404 and isinstance(answer[1], dict):
            if answer[1].get("missing") in ("noUpstream", "upstreamUnreachable", "noPureWheel"):
                return install_advice(top, answer)
        return None
    for requirement in micropip_requirements(error):
        advice = install_advice(requirement_name(requirement), ask_index(requirement_name(requirement)))
        if advice:
            return advice
    return None


def micropip_requirements(error):
    """The requirements `micropip.install` was called with, if the error came out of it."""
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name == "install" and str(frame.f_globals.get("__name__", "")).startswith("micropip"):
            requirements = frame.f_locals.get("requirements")
            if isinstance(requirements, str):
                return [requirements]
            if isinstance(requirements, (list, tuple)):
                return [str(requirement) for requirement in requirements]
            return []
        traceback = traceback.tb_next
    return []


def reset():
    """Removes the user's variables (and the results kept for the viewer); the names Python
    itself sets (dunders) stay."""
    removable = [name for name in state.user_globals if not (name.startswith("__") and name.endswith("__"))]
    for name in removable:
        del state.user_globals[name]
    state.kept_results.clear()
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
    for folder, folders, names in os.walk(state.DATA_DIR):
        folders[:] = [name for name in folders if name != "__pycache__"]
        for name in names:
            path = os.path.join(folder, name)
            entries.append(
                {
                    "name": os.path.relpath(path, state.DATA_DIR),
                    "path": path,
                    "bytes": os.path.getsize(path),
                    "kind": file_kind(name),
                }
            )
    entries.sort(key=lambda entry: entry["name"].lower())
    return json.dumps(entries)


def data_path(name):
    """The path of `name` inside the data folder, or None when it would lead outside it."""
    path = os.path.normpath(os.path.join(state.DATA_DIR, name))
    if not name or os.path.isabs(name) or not path.startswith(state.DATA_DIR + "/"):
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
    while folder != state.DATA_DIR and not os.listdir(folder):
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
