"""IPython's notebook syntax: how each magic is rewritten (line numbers kept, strings and
operators untouched) and what it does when the cell runs."""

import asyncio
import json
import re

import pytest

from workbench_harness import magics, operations, rewrite, runtime, state

# A duration as IPython writes it.
DURATION = r"[0-9.]+ (?:ns|\u00b5s|ms|s)"
# IPython's warning when the slowest run took over four times the fastest's time.
SLOWEST_RUN = (
    r"(?:The slowest run took [0-9.]+ times longer than the fastest\. "
    r"This could mean that an intermediate result is being cached\.\n)"
)
SHELL = "shell commands are not available in the browser"


def check(cell, python):
    rewritten = rewrite.python_source(cell)
    assert rewritten == python
    assert rewritten.count("\n") == cell.count("\n"), "line numbers moved"


@pytest.mark.parametrize(
    ("cell", "python"),
    [
        ("x = 1\nx\n", "x = 1\nx\n"),
        ("%matplotlib inline\nx = 1\n", "None\nx = 1\n"),
        ("%matplotlib widget  # not here\n", "None\n"),
        # Modulo, not a magic: the line starts with an operand, or continues one.
        ("a, b = 7, 3\na %b\n", "a, b = 7, 3\na %b\n"),
        ("y = (7\n%3)\n", "y = (7\n%3)\n"),
        ("y = 7 \\\n%3\n", "y = 7 \\\n%3\n"),
        ("print('a=%s' % 1)\nprint(\"b=%d\" %2)\n", "print('a=%s' % 1)\nprint(\"b=%d\" %2)\n"),
        # Inside a multi-line string nothing is a magic, whatever quotes it has.
        ("s = '''\n%time x\n!ls\n'''\n", "s = '''\n%time x\n!ls\n'''\n"),
        ('s = """a \\""" \n%who\n"""\n%who\n', 's = """a \\""" \n%who\n"""\n__workbench__.who(\'\')\n'),
        ("s = 'one \\\n%who'\n", "s = 'one \\\n%who'\n"),
        ("# %time in a comment\n", "# %time in a comment\n"),
        # Indented magics keep their indentation.
        (
            "for i in range(3):\n    %time i * 2\n\tif i:\n\t    %matplotlib inline\n",
            "for i in range(3):\n    __workbench__.time_start(); __workbench__.time_stop((i * 2))\n"
            "\tif i:\n\t    None\n",
        ),
        ("%time x = f()  # slow\n", "__workbench__.time_start(); x = f(); __workbench__.time_stop()\n"),
        ("%time x + 1;\n", "__workbench__.time_start(); __workbench__.time_stop((x + 1));\n"),
        ("%time 1, 2\n", "__workbench__.time_start(); __workbench__.time_stop((1, 2))\n"),
        ("%time for i in range(3): pass\n", "__workbench__.time_exec('for i in range(3): pass')\n"),
        ("total = %time sum(x)\n", "__workbench__.time_start(); total = __workbench__.time_stop((sum(x)))\n"),
        ("%timeit -n 10 f(x)\n", "__workbench__.timeit('-n 10 f(x)')\n"),
        ("%who int\n", "__workbench__.who('int')\n"),
        ("%pip install seaborn\n", "await __workbench__.pip('install seaborn')\n"),
        ("%%time\n\nx = 1\n%who\n", "\n\nx = 1\n__workbench__.who('')\n"),
        ("\n%%timeit -n 2 x = 1\ny = x\n", "\n__workbench__.timeit('-n 2 x = 1', 'y = x\\n')\n\n"),
        ("!ls -l\n", f"__workbench__.fail({SHELL!r})\n"),
        ("  files = !ls\n", f"  files = __workbench__.fail({SHELL!r})\n"),
        ("%sx ls\n", f"__workbench__.fail({SHELL!r})\n"),
        ("%%bash\nls -l\necho 'hi\n", f"__workbench__.fail({SHELL!r})\n\n\n"),
        ("%foo 1\n", "__workbench__.fail('unknown magic %foo')\n"),
        ("%%foo\n<p>not python</p>\n", "__workbench__.fail('unknown magic %%foo')\n\n"),
        ("x = 1\n%%time\n", "x = 1\n__workbench__.fail('%%time must be the first line of the cell')\n"),
        # Comparisons and keyword arguments are not assignments from a magic.
        ("ok = a == b\nf(x=1)\n", "ok = a == b\nf(x=1)\n"),
        ("y=!ls\r\nz = 1\r\n", f"y = __workbench__.fail({SHELL!r})\r\nz = 1\r\n"),
    ],
)
def test_magics_are_rewritten_line_for_line(cell, python):
    check(cell, python)


def test_time_prints_wall_time_and_keeps_the_value(notebook):
    answer = notebook.run("%time x = sum(range(1000))\n%time x + 1", label=1)
    assert re.fullmatch(f"Wall time: {DURATION}\nWall time: {DURATION}\n", answer["stdout"]), answer
    assert answer["result"] == 499501
    assert answer["cellOutputs"][-1]["data"] == {"text/plain": "499501"}
    quiet = notebook.run("%time x + 1;")
    assert quiet["result"] is None
    looped = notebook.run("for i in range(2):\n    %time i * 2\n%time for i in range(3): y = i")
    assert len(re.findall(f"Wall time: {DURATION}\n", looped["stdout"])) == 3
    assert state.user_globals["y"] == 2


def test_cell_time_times_the_whole_cell(notebook):
    answer = notebook.run("%%time\nprint('working')\ny = 2\ny * 3", label=2)
    assert re.fullmatch(f"working\nWall time: {DURATION}\n", answer["stdout"]), answer
    assert answer["result"] == 6
    assert [output["output_type"] for output in answer["cellOutputs"]] == ["stream", "execute_result"]
    with_arguments = notebook.run("%%time x = 1\npass")
    assert with_arguments["error"] == "UsageError: %%time takes no arguments: put the code on the lines below it"


def test_timeit_runs_the_loops_and_runs_it_is_told(notebook):
    answer = notebook.run("calls = []\n%timeit -n 10 -r 2 calls.append(1)\nlen(calls)")
    # On a busy machine one of two runs can be far slower, and IPython says so first.
    assert re.fullmatch(
        f"{SLOWEST_RUN}?{DURATION} \u00b1 {DURATION} per loop \\(mean \u00b1 std\\. dev\\. of 2 runs, 10 loops each\\)\n",
        answer["stdout"],
    ), answer["stdout"]
    assert answer["result"] == 20
    result = notebook.run("timing = %timeit -q -o -n 5 -r 1 pass\n(timing.loops, timing.repeat)")
    assert (result["stdout"], result["result"]) == ("", [5, 1])
    cell = notebook.run("%%timeit -n3 -r1 made = []\nmade.append(1)\nmade.append(2)")
    assert cell["stdout"].endswith("(mean \u00b1 std. dev. of 1 run, 3 loops each)\n"), cell
    wrong = notebook.run("%timeit -n many f()")
    assert wrong["error"] == "UsageError: %timeit -n needs a whole number, not 'many'"


def test_timeit_stops_growing_the_loop_count_once_a_run_takes_a_fifth_of_a_second(notebook):
    answer = notebook.run("import time\n%timeit -r 1 time.sleep(0.2)")
    assert answer["stdout"].endswith("(mean \u00b1 std. dev. of 1 run, 1 loop each)\n"), answer


def test_who_lists_the_users_names(notebook):
    assert notebook.run("%who")["stdout"] == "Interactive namespace is empty.\n"
    answer = notebook.run("b = 'text'\na = 1\n_hidden = 2\n%who")
    assert answer["stdout"] == "a\tb\n"
    assert notebook.run("%who int")["stdout"] == "a\n"
    assert notebook.run("%who float")["stdout"] == "No variables match your requested type.\n"


def test_matplotlib_magic_changes_nothing(notebook):
    answer = notebook.run("%matplotlib inline\n1")
    assert (answer["success"], answer["result"], answer["stdout"]) == (True, 1, "")


def test_the_first_cell_of_many_notebooks_runs(notebook):
    cell = "%load_ext autoreload\n%autoreload 2\n%config InlineBackend.figure_format = 'retina'\n1"
    answer = notebook.run(cell)
    assert (answer["success"], answer["result"], answer["stdout"]) == (True, 1, "")


def test_other_extensions_say_they_are_not_available(notebook):
    answer = notebook.run("%load_ext sql")
    assert answer["error"] == "UsageError: the IPython extension sql is not available in the browser"


@pytest.mark.parametrize(
    ("cell", "error"),
    [
        ("print('before')\n!ls", f"UsageError: {SHELL}"),
        ("files = !ls", f"UsageError: {SHELL}"),
        ("%%bash\nls", f"UsageError: {SHELL}"),
        ("%foo 1", "UsageError: unknown magic %foo"),
        ("%%foo\n<p>not python</p>", "UsageError: unknown magic %%foo"),
    ],
)
def test_what_cannot_run_here_fails_with_a_usage_error(notebook, cell, error):
    answer = notebook.run(cell, label=5)
    assert (answer["success"], answer["errorType"], answer["error"]) == (False, "UsageError", error)
    line = len(cell.split("\n")) if cell.startswith("print") else 1
    assert f"  Cell [5], line {line}, in <module>\n" in answer["traceback"]
    assert answer["traceback"].endswith(f"\n{error}\n")
    assert answer["stdout"] == ("before\n" if cell.startswith("print") else "")


@pytest.mark.parametrize(
    ("cell", "needs"),
    [
        ("x = 1", False),
        ("await asyncio.sleep(0)", True),
        ("%pip install seaborn", True),
        ("if True:\n    %pip install seaborn", True),
        ("s = '%pip install seaborn'", False),
        ("%time x = 1", False),
    ],
)
def test_the_event_loop_is_needed_for_top_level_await_and_pip(cell, needs):
    assert rewrite.needs_event_loop(cell) is needs


def test_pip_installs_through_micropip_and_the_configured_index(notebook, micropip):
    runtime.configure("https://workbench.test/pypi/simple/{package_name}/")
    assert rewrite.uses_pip("%pip install seaborn") is True
    answer = notebook.run("%pip install -q seaborn\nprint('next')")
    assert answer["success"] is True, answer
    assert answer["stdout"] == "Successfully installed pandas-2.2.3 seaborn-0.13.2\nnext\n"
    assert micropip.index_urls == ["https://workbench.test/pypi/simple/{package_name}/"]
    again = notebook.run("%pip install seaborn")
    assert again["stdout"] == "Requirement already satisfied: seaborn\n"


@pytest.mark.parametrize(
    ("cell", "error_type", "error"),
    [
        (
            "%pip install nosuchpackage",
            "InstallError",
            "InstallError: could not install nosuchpackage: "
            "ValueError: Can't find a pure Python 3 wheel for 'nosuchpackage'",
        ),
        ("%pip list", "UsageError", "UsageError: only `%pip install <package> ...` is available in the browser"),
        ("%pip install -r requirements.txt", "UsageError", "UsageError: %pip install does not support -r in the browser"),
        ("%pip install", "UsageError", "UsageError: %pip install needs the name of a package"),
    ],
)
def test_pip_says_clearly_what_it_cannot_do(notebook, micropip, cell, error_type, error):
    answer = notebook.run(cell)
    assert (answer["errorType"], answer["error"]) == (error_type, error)


def test_the_packages_panels_install_answers_as_before(micropip):
    assert json.loads(asyncio.run(operations.install("seaborn", "https://index.test/"))) == {
        "success": True,
        "package": "seaborn",
        "version": "0.13.2",
    }
    assert micropip.index_urls == ["https://index.test/"]
    failed = json.loads(asyncio.run(operations.install("nope", "")))
    assert failed["success"] is False
    assert failed["error"] == "could not install nope: ValueError: Can't find a pure Python 3 wheel for 'nope'"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "500 ms"),
        (0.001234, "1.23 ms"),
        (1.23e-05, "12.3 \u00b5s"),
        (1.23e-07, "123 ns"),
        (0, "0 ns"),
        (5, "5 s"),
        (75, "1min 15s"),
        (3700.5, "1h 1min 40s"),
    ],
)
def test_durations_read_as_ipython_writes_them(seconds, text):
    assert magics.format_time(seconds) == text


def test_timeit_results_read_as_ipythons():
    result = magics.TimeitResult(100_000, 7, [0.1, 0.12, 0.11, 0.1, 0.1, 0.1, 0.1], 0)
    assert str(result) == "1.04 \u00b5s \u00b1 72.8 ns per loop (mean \u00b1 std. dev. of 7 runs, 100,000 loops each)"
