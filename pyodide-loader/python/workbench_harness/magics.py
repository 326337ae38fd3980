"""The magics themselves, as the rewritten cell calls them through the builtin
`__workbench__`: `%time`, `%timeit`, `%who` and `%pip install`."""

import ast
import math
import sys
import time

from . import state
from .operations import install_failure, install_requirement
from .state import InstallError, UsageError

# The starts of `%time` clocks running now (a stack: `%time` may call code that times).
time_starts = []


def magic_time_start():
    time_starts.append(time.perf_counter())


def magic_time_stop(value=None):
    if time_starts:
        print(f"Wall time: {format_time(time.perf_counter() - time_starts.pop())}")
    return value


def magic_time_exec(code):
    """`%time` of a compound statement, run where the magic stands."""
    frame = sys._getframe(1)
    try:
        tree = ast.parse(code, frame.f_code.co_filename)
        ast.increment_lineno(tree, frame.f_lineno - 1)
        compiled = compile(tree, frame.f_code.co_filename, "exec")
        started = time.perf_counter()
        exec(compiled, frame.f_globals, frame.f_locals)
        print(f"Wall time: {format_time(time.perf_counter() - started)}")
    finally:
        del frame


def format_time(seconds, precision=3):
    """A duration as IPython writes it: `1.23 ms`, `12.3 µs`, `1min 15s`."""
    if seconds >= 60:
        parts = []
        left = seconds
        for suffix, length in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
            whole = int(left / length)
            if whole > 0:
                left = left % length
                parts.append(f"{whole}{suffix}")
            if left < 1:
                break
        return " ".join(parts)
    units = ("s", "ms", "\u00b5s", "ns")
    order = min(-(math.floor(math.log10(seconds)) // 3), 3) if seconds > 0 else 3
    return "%.*g %s" % (precision, seconds * 1000**order, units[order])


class TimeitResult:
    """What `%timeit -o` returns; prints as IPython's line does."""

    def __init__(self, loops, repeat, all_runs, compile_time, precision=3):
        self.loops = loops
        self.repeat = repeat
        self.all_runs = all_runs
        self.compile_time = compile_time
        self.timings = [run / loops for run in all_runs]
        self.best = min(self.timings)
        self.worst = max(self.timings)
        self._precision = precision

    @property
    def average(self):
        return math.fsum(self.timings) / len(self.timings)

    @property
    def stdev(self):
        mean = self.average
        return (math.fsum((timing - mean) ** 2 for timing in self.timings) / len(self.timings)) ** 0.5

    def __str__(self):
        return (
            f"{format_time(self.average, self._precision)} \u00b1 "
            f"{format_time(self.stdev, self._precision)} per loop (mean \u00b1 std. dev. of "
            f"{self.repeat} run{'' if self.repeat == 1 else 's'}, "
            f"{self.loops:,} loop{'' if self.loops == 1 else 's'} each)"
        )

    __repr__ = __str__


def parse_timeit_options(arguments):
    """IPython's `%timeit` options (-n loops, -r runs, -p precision, -q quiet, -o return the
    result; -t and -c are accepted and change nothing) and the statement after them."""
    options = {"n": 0, "r": 7, "p": 3, "q": False, "o": False}
    rest = arguments.strip()
    while rest.startswith("-"):
        word, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        letters = word[1:]
        while letters:
            letter, letters = letters[0], letters[1:]
            if letter in "nrp":
                if not letters:
                    letters, _, rest = rest.partition(" ")
                    rest = rest.lstrip()
                if not letters.isdigit():
                    raise UsageError(f"%timeit -{letter} needs a whole number, not {letters!r}")
                options[letter] = int(letters)
                letters = ""
            elif letter in "qotc":
                options[letter] = True
            else:
                raise UsageError(f"%timeit has no option -{letter}")
    if options["r"] < 1:
        raise UsageError("%timeit -r needs at least one run")
    return options, rest


# The timing function IPython compiles the statement into (timeit's own template, as AST
# so the user's lines keep their numbers).
TIMEIT_TEMPLATE = (
    "def inner(_it, _timer):\n"
    "    _t0 = _timer()\n"
    "    for _i in _it:\n"
    "        pass\n"
    "    _t1 = _timer()\n"
    "    return _t1 - _t0\n"
)


def magic_timeit(arguments, cell=None):
    """`%timeit stmt` and `%%timeit [setup]` + cell, as IPython times them: unless -n says,
    the loop count grows by tens until one run takes ≥ 0.2 s; then -r runs (7)."""
    import timeit

    frame = sys._getframe(1)
    filename, line = frame.f_code.co_filename, frame.f_lineno
    namespace = frame.f_globals
    if frame.f_locals is not frame.f_globals:
        namespace = {**frame.f_globals, **frame.f_locals}
    del frame
    options, statement = parse_timeit_options(arguments)
    if cell is None:
        setup_code, timed_code, timed_offset = "pass", statement, line - 1
    else:
        setup_code, timed_code, timed_offset = statement or "pass", cell, line
    compile_started = time.perf_counter()
    setup = ast.parse(setup_code, filename)
    ast.increment_lineno(setup, line - 1)
    timed = ast.parse(timed_code, filename)
    ast.increment_lineno(timed, timed_offset)
    if not timed.body:
        raise UsageError("%timeit needs a statement to time")
    template = ast.parse(TIMEIT_TEMPLATE)
    for node in ast.walk(template):
        if hasattr(node, "lineno"):
            node.lineno = node.end_lineno = line
    inner = template.body[0]
    inner.body[1].body = timed.body
    inner.body[:0] = setup.body
    code = compile(template, filename, "exec")
    compile_time = time.perf_counter() - compile_started
    defined = {}
    exec(code, namespace, defined)
    timer = timeit.Timer(timer=time.perf_counter)
    timer.inner = defined["inner"]
    loops = options["n"]
    if loops == 0:
        for power in range(10):
            loops = 10**power
            if timer.timeit(loops) >= 0.2:
                break
    result = TimeitResult(loops, options["r"], timer.repeat(options["r"], loops), compile_time, options["p"])
    if not options["q"]:
        if result.worst > 4 * result.best and result.best > 0 and result.worst > 1e-6:
            print(
                f"The slowest run took {result.worst / result.best:0.2f} times longer than the "
                "fastest. This could mean that an intermediate result is being cached."
            )
        print(result)
    return result if options["o"] else None


def magic_who(arguments):
    """`%who [type ...]`: the user's variable names, sorted, tab-separated."""
    wanted = set(arguments.split())
    names = sorted(
        name
        for name, value in state.user_globals.items()
        if not name.startswith("_") and (not wanted or type(value).__name__ in wanted)
    )
    if names:
        print("\t".join(names))
    elif wanted:
        print("No variables match your requested type.")
    else:
        print("Interactive namespace is empty.")


# `%pip install` options that change nothing here.
IGNORED_PIP_OPTIONS = {
    "-q", "--quiet", "-U", "--upgrade", "--user", "--no-cache-dir", "--disable-pip-version-check",
}


async def magic_pip(arguments):
    """`%pip install name ...` through micropip and the workbench's package index, saying
    what was installed as pip does."""
    import shlex

    try:
        words = shlex.split(arguments, comments=True)
    except ValueError as error:
        raise UsageError(f"%pip could not read its arguments: {error}") from None
    if not words or words[0] != "install":
        raise UsageError("only `%pip install <package> ...` is available in the browser")
    requirements = []
    for word in words[1:]:
        if word in IGNORED_PIP_OPTIONS:
            continue
        if word.startswith("-"):
            raise UsageError(f"%pip install does not support {word} in the browser")
        requirements.append(word)
    if not requirements:
        raise UsageError("%pip install needs the name of a package")
    await load_micropip()
    import micropip

    before = installed_versions(micropip)
    for requirement in requirements:
        try:
            await install_requirement(requirement, state.PACKAGE_INDEX_URL)
        except Exception as error:
            raise InstallError(install_failure(requirement, error)) from None
    after = installed_versions(micropip)
    added = [f"{name}-{version}" for name, version in sorted(after.items()) if before.get(name) != version]
    if added:
        print("Successfully installed " + " ".join(added))
    else:
        print("Requirement already satisfied: " + " ".join(requirements))


async def load_micropip():
    try:
        import micropip  # noqa: F401
    except ImportError:
        import pyodide_js

        await pyodide_js.loadPackage("micropip")


def installed_versions(micropip):
    return {package.name: package.version for package in micropip.list().values()}


def magic_fail(message):
    raise UsageError(message)
