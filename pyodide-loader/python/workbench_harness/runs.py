"""Runs: one run's capture and answer, shaped as the original service's contract plus
`cellOutputs`."""

import json
import sys
import time

from . import state
from .capture import CellOutputs, MEMORY_HINT, StreamingOutput, describe_error, make_json_safe
from .display import as_frame, figure_png, image_output, is_figure, mime_bundle, plain_text, prepare_builtins, repr_method, table_of
from .magics import format_time, time_starts
from .operations import failure_advice, now_iso
from .rewrite import needs_event_loop, transform_cell
from .stdin import RunInput, prepare_input, remember_error
from .tracebacks import error_output, remember_source, user_traceback


class Run:
    """One run's capture and answer: streams redirected, outputs collected in order, the
    user's source registered so tracebacks show their lines, and the answer shaped as the
    original service did plus `cellOutputs`."""

    def __init__(self, code, context_json, emit, label=None, stdin_json=None, ask=None):
        self.started = time.perf_counter()
        self.label = label
        self.outputs = CellOutputs(emit)
        self.stdout = StreamingOutput("stdout", emit, state.MAX_OUTPUT_CHARS, self.outputs)
        self.stderr = StreamingOutput("stderr", emit, state.MAX_OUTPUT_CHARS, self.outputs)
        self.answer = {"success": True, "result": None, "outputs": []}
        self.value = None
        self.error_output = None
        # Figures `plt.show()` showed, in the original `outputs` format.
        self.figure_images = []
        # Figures shown by display() or as the result: not shown again when the run ends.
        self.displayed_figures = []
        self.filename = remember_source(code, label)
        self.context = json.loads(context_json)
        lines = json.loads(stdin_json)["lines"] if stdin_json else None
        self.stdin = RunInput(lines, ask, self.stdout.write)
        prepare_builtins()
        prepare_input()
        time_starts.clear()
        state.current_run = self
        # Last: nothing after the swap can be interrupted before `finish` puts them back.
        self.saved = sys.stdout, sys.stderr, sys.stdin
        sys.stdout, sys.stderr, sys.stdin = self.stdout, self.stderr, self.stdin

    def begin(self, code):
        """The run's context in the user's namespace, and the cell's Python to evaluate (its
        magics rewritten); a `%%time` cell's clock starts here."""
        state.user_globals.update(self.context)
        self.cell = transform_cell(code)
        self.evaluation_started = time.perf_counter()
        return self.cell.python

    def evaluated(self, value):
        if self.cell.timed:
            print(f"Wall time: {format_time(time.perf_counter() - self.evaluation_started)}")
        self.succeeded(value)

    def succeeded(self, value):
        self.value = value
        self.answer["result"] = make_json_safe(value)

    def failed(self, error):
        # Stop while pdb asked for a command made it quit (see `RunInput`): still a stop.
        bdb = sys.modules.get("bdb")
        if self.stdin.interrupted and bdb is not None and isinstance(error, bdb.BdbQuit):
            error = KeyboardInterrupt()
        remember_error(error)
        self.value = None
        self.answer["success"] = False
        if isinstance(error, MemoryError) and MEMORY_HINT not in getattr(error, "__notes__", ()):
            error.add_note(MEMORY_HINT)
        # What would help (a module to install, a package the index lacks), in the traceback
        # as a note and after the message.
        advice = failure_advice(error)
        if advice and advice not in getattr(error, "__notes__", ()):
            error.add_note(advice)
        self.answer["error"] = describe_error(error) + (f" ({advice})" if advice else "")
        self.answer["errorType"] = type(error).__name__
        self.answer["traceback"] = user_traceback(error)
        self.error_output = error_output(error, self.answer["traceback"])

    def add_display(self, data, metadata):
        self.outputs.add({"output_type": "display_data", "data": data, "metadata": metadata}, send=True)

    def finish(self):
        if self.stdin.interrupted and self.answer["success"]:
            # Stop ended a wait for input that the code (or `%debug`'s pdb) got over.
            self.failed(KeyboardInterrupt())
        try:
            value_outputs = self.show_result()
            self.show_open_figures()
        finally:
            sys.stdout, sys.stderr, sys.stdin = self.saved
            state.current_run = None
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
                data, metadata = mime_bundle(value, self.label)
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


def run(code, context_json, emit, label=None, stdin_json=None, ask=None):
    """Runs code that does not need the event loop straight through. Code that does (see
    `needs_event_loop`) is handed to `run_async`: the answer is then a coroutine resolving
    to the JSON, which the worker awaits like a string. `stdin_json` holds the run's input
    lines (`{"lines": [...] | null}`); `ask` asks the page for one (see `stdin`)."""
    if needs_event_loop(code):
        return run_async(code, context_json, emit, label, stdin_json, ask)
    from pyodide.code import eval_code

    running = Run(code, context_json, emit, label, stdin_json, ask)
    try:
        python = running.begin(code)
        running.evaluated(eval_code(python, state.user_globals, filename=running.filename))
    except BaseException as error:  # user code may raise anything, even SystemExit
        running.failed(error)
    return running.finish()


async def run_async(code, context_json, emit, label=None, stdin_json=None, ask=None):
    """Runs code that may use top-level await (or `%pip`)."""
    from pyodide.code import eval_code_async

    running = Run(code, context_json, emit, label, stdin_json, ask)
    try:
        python = running.begin(code)
        running.evaluated(await eval_code_async(python, state.user_globals, filename=running.filename))
    except BaseException as error:  # user code may raise anything, even SystemExit
        running.failed(error)
    return running.finish()


def stopped(code, context_json, emit, label=None):
    """The answer for a run that Stop ended in the harness itself, just before or after the
    user's code (a `KeyboardInterrupt` raised there reaches the worker, not `run`). The page
    raises Stop again every tenth of a second while the run is pending, so one more may land
    here, once (an interrupted first `import getpass` at a run's start, say): it is the same
    Stop, and the answer is made again."""
    for _ in range(3):
        try:
            running = Run(code, context_json, emit, label)
            running.failed(KeyboardInterrupt())
            return running.finish()
        except KeyboardInterrupt:
            continue
    running = Run(code, context_json, emit, label)
    running.failed(KeyboardInterrupt())
    return running.finish()
