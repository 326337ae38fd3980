"""Shared set-up for the harness tests: the harness on the import path, a CPython stand-in
for `pyodide.code` (so `run` runs here as in the worker), and small fakes of matplotlib,
pandas and micropip (the real ones are checked by the browser tests)."""

import ast
import asyncio
import io
import json
import pathlib
import sys
import tokenize
import types

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from workbench_harness import operations, runs, state  # noqa: E402

# Where the stand-in keeps the last expression's value for a moment.
RESULT_NAME = "___standin_result"


def should_quiet(source):
    """Pyodide's rule: a `;` as the source's last token suppresses the value."""
    for token in reversed(list(tokenize.generate_tokens(io.StringIO(source).readline))):
        if token.type in (tokenize.ENDMARKER, tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            continue
        return token.type == tokenize.OP and token.string == ";"
    return False


def compile_cell(source, filename, flags):
    """What Pyodide's CodeRunner does: the last expression statement's value is kept."""
    tree = ast.parse(source, filename)
    keeps_value = bool(tree.body) and isinstance(tree.body[-1], ast.Expr) and not should_quiet(source)
    if keeps_value:
        last = tree.body[-1]
        store = ast.Assign(targets=[ast.Name(RESULT_NAME, ast.Store())], value=last.value)
        tree.body[-1] = ast.copy_location(store, last)
        ast.fix_missing_locations(tree)
    return compile(tree, filename, "exec", flags), keeps_value


def eval_code(source, globals=None, locals=None, *, filename="<exec>"):
    code, keeps_value = compile_cell(source, filename, 0)
    exec(code, globals)
    return globals.pop(RESULT_NAME, None) if keeps_value else None


async def eval_code_async(source, globals=None, locals=None, *, filename="<exec>"):
    code, keeps_value = compile_cell(source, filename, ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    coroutine = eval(code, globals)
    if coroutine is not None:
        await coroutine
    return globals.pop(RESULT_NAME, None) if keeps_value else None


class Notebook:
    """Runs cells through `runs.run` as the worker does, keeping what was emitted."""

    def __init__(self):
        self.sent = []

    def emit(self, stream, text):
        self.sent.append((stream, text))

    def run(self, code, label=None, context="{}", stdin=None, ask=None):
        self.sent = []
        answer = runs.run(code, context, self.emit, label, stdin, ask)
        if not isinstance(answer, str):
            answer = asyncio.run(answer)
        return json.loads(answer)


@pytest.fixture
def notebook(monkeypatch):
    """A fresh namespace and `pyodide.code` standing in; every name a test's cells made is
    gone afterwards."""
    pyodide = types.ModuleType("pyodide")
    pyodide_code = types.ModuleType("pyodide.code")
    pyodide_code.eval_code = eval_code
    pyodide_code.eval_code_async = eval_code_async
    pyodide.code = pyodide_code
    monkeypatch.setitem(sys.modules, "pyodide", pyodide)
    monkeypatch.setitem(sys.modules, "pyodide.code", pyodide_code)
    # A run replaces these (see `stdin.prepare_input`): they are put back after the test.
    import builtins
    import getpass

    monkeypatch.setattr(builtins, "input", builtins.input)
    monkeypatch.setattr(sys, "breakpointhook", sys.breakpointhook)
    monkeypatch.setattr(getpass, "getpass", getpass.getpass)
    operations.reset()
    yield Notebook()
    operations.reset()


class FakeFigure:
    def __init__(self, number):
        self.number = number

    def savefig(self, buffer, format, bbox_inches):
        buffer.write(b"PNG of figure %d" % self.number)

    def __repr__(self):
        return "<Figure size 640x480 with 1 Axes>"


@pytest.fixture
def pyplot(monkeypatch):
    """A matplotlib whose pyplot keeps numbered figures and whose `show` is the workbench
    backend's own."""
    matplotlib = types.ModuleType("matplotlib")
    figure_module = types.ModuleType("matplotlib.figure")
    figure_module.Figure = FakeFigure
    backends = types.ModuleType("matplotlib.backends")
    backend_agg = types.ModuleType("matplotlib.backends.backend_agg")
    backend_agg.FigureCanvasAgg = object
    backend = types.ModuleType(state.MATPLOTLIB_BACKEND)
    modules = {
        "matplotlib": matplotlib,
        "matplotlib.figure": figure_module,
        "matplotlib.backends": backends,
        "matplotlib.backends.backend_agg": backend_agg,
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    exec(state.MATPLOTLIB_BACKEND_SOURCE, backend.__dict__)

    pyplot = types.ModuleType("matplotlib.pyplot")
    pyplot.figures = {}
    pyplot.made = 0

    def figure(num=None):
        if num in pyplot.figures:
            return pyplot.figures[num]
        pyplot.made += 1
        pyplot.figures[pyplot.made] = FakeFigure(pyplot.made)
        return pyplot.figures[pyplot.made]

    def close(which):
        assert which == "all"
        pyplot.figures.clear()

    pyplot.figure = figure
    pyplot.get_fignums = lambda: sorted(pyplot.figures)
    pyplot.close = close
    pyplot.show = backend.show
    matplotlib.pyplot = pyplot
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    return pyplot


class FakeDataFrame:
    """Just what the harness asks of a pandas DataFrame."""

    def __init__(self, columns, rows, dtypes):
        self.columns = columns
        self.rows = rows
        self.dtypes = dtypes
        self.index = list(range(len(rows)))

    def head(self, count):
        return FakeDataFrame(self.columns, self.rows[:count], self.dtypes)

    def __len__(self):
        return len(self.rows)

    def itertuples(self, index=False, name=None):
        return iter(tuple(row) for row in self.rows)

    @property
    def values(self):
        return types.SimpleNamespace(tolist=lambda: [list(row) for row in self.rows])

    def _repr_html_(self):
        return "<table>frame</table>"

    def __repr__(self):
        return "   " + "  ".join(self.columns) + "\n" + "\n".join(
            f"{number}  " + "  ".join(str(cell) for cell in row) for number, row in enumerate(self.rows)
        )


class FakeSeries:
    def __init__(self, name, values, dtype):
        self.name = name
        self.values_list = values
        self.dtype = dtype

    def to_frame(self, name):
        return FakeDataFrame([name], [[value] for value in self.values_list], [self.dtype])

    def __repr__(self):
        return "\n".join(f"{number}    {value}" for number, value in enumerate(self.values_list))


@pytest.fixture
def pandas(monkeypatch):
    module = types.ModuleType("pandas")
    module.DataFrame = FakeDataFrame
    module.Series = FakeSeries
    monkeypatch.setitem(sys.modules, "pandas", module)
    return module


class FakeMicropip(types.ModuleType):
    """micropip with an index that has seaborn (which brings pandas along) and nothing else."""

    def __init__(self):
        super().__init__("micropip")
        self.installed = {"numpy": "2.0.2"}
        self.index_urls = None

    def set_index_urls(self, urls):
        self.index_urls = urls

    async def install(self, requirement):
        if requirement != "seaborn":
            raise ValueError(f"Can't find a pure Python 3 wheel for '{requirement}'")
        self.installed.update({"seaborn": "0.13.2", "pandas": "2.2.3"})

    def list(self):
        return {
            name: types.SimpleNamespace(name=name, version=version)
            for name, version in self.installed.items()
        }


@pytest.fixture
def micropip(monkeypatch):
    module = FakeMicropip()
    monkeypatch.setitem(sys.modules, "micropip", module)
    monkeypatch.setattr(state, "PACKAGE_INDEX_URL", "")
    return module


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """`stand_in(top, files)`: a stand-in package `top` made of `files` ({path: source}),
    importable for the test; any real `top` is out of the way, and every module of the
    stand-in is gone afterwards."""
    made = []

    def write(top, files):
        for path, source in files.items():
            file = tmp_path / path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(source)
        for name in [name for name in sys.modules if name == top or name.startswith(top + ".")]:
            monkeypatch.delitem(sys.modules, name)
        made.append(top)

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for top in made:
        for name in [name for name in sys.modules if name == top or name.startswith(top + ".")]:
            del sys.modules[name]
