"""Output capture: a run's stdout and stderr as streamed, capped pieces, and its outputs in
the order the code made them; JSON-safe values and one-line error descriptions."""

import io
import json
import math

from . import state
from .state import MAX_TEXT_CHARS


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

    def __init__(self, name, emit, limit=state.MAX_OUTPUT_CHARS, outputs=None):
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
