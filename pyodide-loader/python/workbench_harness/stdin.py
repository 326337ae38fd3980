"""A run's input: `input()`, `sys.stdin`, `getpass` and pdb read lines from the run's own
list (the API's `input: [...]`), or from the person at the page (a notebook cell shows a
box; the worker blocks until it answers), or have none and raise `EOFError` at once.

What is read is echoed into stdout after the prompt, as Jupyter shows it (a password is
not), so a cell's output reads as the conversation it was."""

import builtins
import io
import sys

from . import state

# pdb's frames in these modules are never stepped into: `n` past a cell's last line ends
# the debugging instead of walking through the harness and Pyodide.
HARNESS_MODULES = ["workbench_harness", "workbench_harness.*", "_pyodide", "_pyodide.*", "pyodide", "pyodide.*"]


class RunInput(io.TextIOBase):
    """One run's stdin. `lines` is the run's list (None when it has none); `ask(prompt,
    password)` asks the page and gives the line, `False` at the end of input, or `None`
    when Stop ended the wait (None when nobody can be asked); `echo` writes to the run's
    stdout."""

    def __init__(self, lines, ask, echo):
        super().__init__()
        self._lines = lines
        self._ask = ask
        self._echo = echo
        self._read = 0
        # Stop ended a wait: pdb, which catches `KeyboardInterrupt` at its prompt, is told to
        # quit instead, and the run still ends as stopped.
        self.interrupted = False

    def readable(self):
        return True

    def isatty(self):
        return False

    @property
    def encoding(self):
        return "utf-8"

    def line(self, prompt="", password=False):
        """The next line without its newline; None at the end of input."""
        if self._lines is not None:
            if self._read >= len(self._lines):
                return None
            line = str(self._lines[self._read])
            self._read += 1
        elif self._ask is None:
            return None
        else:
            sys.stdout.flush()
            sys.stderr.flush()
            line = self._ask(prompt, password)
            if line is None:
                self.interrupted = True
                if in_debugger():
                    return "quit"
                raise KeyboardInterrupt
            if line is False:
                self._echo(prompt + "\n" if prompt else "")
                return None
        self._echo(prompt + ("" if password else line) + "\n")
        return line

    def input(self, prompt="", password=False):
        line = self.line(prompt, password)
        if line is None:
            raise EOFError(self.why_no_line())
        return line

    def why_no_line(self):
        if self._lines is not None:
            count = len(self._lines)
            return (
                f"input() was called more times than this run has input lines ({count}): "
                "give one line per call"
            )
        if self._ask is None:
            return (
                "input() has nothing to read: this run was given no input lines "
                "(window.workbench.execute({code, input: ['a line', ...]}))"
            )
        return "the input ended (Ctrl+D)"

    def readline(self, size=-1):
        line = self.line()
        return "" if line is None else line + "\n"

    def read(self, size=-1):
        return self.readline()

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class NoInput(RunInput):
    """Stdin between runs (the editor's questions): nothing to read."""

    def __init__(self):
        super().__init__(None, None, lambda text: None)


def run_input(prompt=""):
    """`input()`: a line from the running code's input."""
    return current_input().input(str(prompt))


def run_getpass(prompt="Password: ", stream=None):
    """`getpass.getpass()`: a line typed without showing it."""
    return current_input().input(str(prompt), password=True)


def current_input():
    run = state.current_run
    return run.stdin if run is not None else NoInput()


def in_debugger():
    """Whether pdb (bdb) is on the stack, asking for a command."""
    bdb = sys.modules.get("bdb")
    if bdb is None:
        return False
    frame = sys._getframe(2)
    while frame is not None:
        if isinstance(frame.f_locals.get("self"), bdb.Bdb):
            return True
        frame = frame.f_back
    return False


def breakpoint_hook(*args, **kwargs):
    """`breakpoint()`: pdb at the caller, reading commands from the run's input."""
    import pdb

    pdb.Pdb(skip=HARNESS_MODULES).set_trace(sys._getframe().f_back)


def debug_last_error(arguments=""):
    """`%debug`: pdb after the last run's error, at the frame that raised it (its callers up
    to the cell's own code with `u`); `%debug statement` runs the statement under pdb."""
    import pdb

    debugger = pdb.Pdb(skip=HARNESS_MODULES)
    statement = arguments.strip()
    if statement:
        debugger.run(statement, state.user_globals)
        return
    traceback = getattr(sys, "last_traceback", None)
    if traceback is None:
        print("No traceback has been produced, nothing to debug.")
        return
    # The harness's and Pyodide's frames above the user's code are left out.
    from .tracebacks import is_cell_file

    start = traceback
    while start is not None and not is_cell_file(start.tb_frame.f_code.co_filename):
        start = start.tb_next
    debugger.reset()
    debugger.interaction(None, start or traceback)


def prepare_input():
    """`input`, `getpass.getpass` and `breakpoint()` read the running code's input. Cheap
    and idempotent: every run calls it."""
    builtins.input = run_input
    sys.breakpointhook = breakpoint_hook
    getpass = sys.modules.get("getpass")
    if getpass is None:
        import getpass
    getpass.getpass = run_getpass


def remember_error(error):
    """Python's record of the last uncaught error, which `%debug` (and `pdb.pm()`) read."""
    sys.last_exc = sys.last_value = error
    sys.last_type = type(error)
    sys.last_traceback = error.__traceback__
