"""The workbench harness: runs the user's code inside Pyodide and answers with the
execution contract (success, result, stdout, stderr, error, timestamp, ...) as JSON.

It is sent to the worker by pyodide-loader and runs in its own namespace; the user's code
runs in `user_globals`, which persists between runs.
"""

import io
import json
import linecache
import math
import sys
import time
import traceback
from datetime import datetime, timezone

from pyodide.code import eval_code_async

USER_FILENAME = "<cell>"

user_globals = {"__name__": "__main__", "__builtins__": __builtins__}


class StreamingOutput(io.TextIOBase):
    """A text stream that keeps everything written and hands each finished line to `emit`
    at once, so output appears in the page while the code is still running."""

    def __init__(self, name, emit):
        super().__init__()
        self.name = name
        self._emit = emit
        self._parts = []
        self._unsent = ""

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        self._parts.append(text)
        self._unsent += text
        last_newline = self._unsent.rfind("\n")
        if last_newline >= 0:
            self._emit(self.name, self._unsent[: last_newline + 1])
            self._unsent = self._unsent[last_newline + 1 :]
        return len(text)

    def flush(self):
        if self._unsent:
            self._emit(self.name, self._unsent)
            self._unsent = ""

    def text(self):
        return "".join(self._parts)


def make_json_safe(value):
    """The original service's conversion, so old clients see the same shapes. NaN and
    infinities become null, as in JavaScript's JSON.stringify."""
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
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(error), error)
    return "Traceback (most recent call last):\n" + "".join(lines)


async def run(code, context_json, emit):
    started = time.perf_counter()
    stdout = StreamingOutput("stdout", emit)
    stderr = StreamingOutput("stderr", emit)
    answer = {"success": True, "result": None}
    # Registering the source lets tracebacks show the user's lines.
    linecache.cache[USER_FILENAME] = (len(code), None, code.splitlines(True), USER_FILENAME)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    try:
        user_globals.update(json.loads(context_json))
        value = await eval_code_async(code, user_globals, filename=USER_FILENAME)
        answer["result"] = make_json_safe(value)
    except BaseException as error:  # noqa: BLE001 - user code may raise anything, even SystemExit
        answer["success"] = False
        answer["error"] = f"{type(error).__name__}: {error}"
        answer["errorType"] = type(error).__name__
        answer["traceback"] = user_traceback(error)
    finally:
        stdout.flush()
        stderr.flush()
        sys.stdout, sys.stderr = saved
    answer["stdout"] = stdout.text()
    answer["stderr"] = stderr.text()
    answer["timestamp"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    answer["durationMs"] = (time.perf_counter() - started) * 1000
    return json.dumps(answer, allow_nan=False)
