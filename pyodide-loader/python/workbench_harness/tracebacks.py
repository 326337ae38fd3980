"""Tracebacks through the user's own code only, each labelled cell's lines kept so a later
cell's traceback still shows them (`Cell [3], line 2`)."""

import io
import linecache
import re
import traceback

from .state import USER_FILENAME

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
