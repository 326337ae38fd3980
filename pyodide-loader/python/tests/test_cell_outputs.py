"""A notebook run's outputs: in the order the code made them, as nbformat outputs, with
the mime bundles IPython would make, and tracebacks that name the cells."""

import base64
import json
import sys
import types

import pytest

from workbench_harness import display, operations, runs, state


def kinds(answer):
    """Each output as (output_type, stream name or the data's mime types)."""
    return [
        (output["output_type"], output.get("name") or sorted(output.get("data", {})))
        for output in answer["cellOutputs"]
    ]


def test_outputs_come_in_the_order_the_code_made_them(notebook, pyplot):
    class Report:
        def _repr_html_(self):
            return "<b>report</b>"

    notebook.run("import matplotlib.pyplot as plt")
    state.user_globals["report"] = Report()
    answer = notebook.run(
        "print('first')\nplt.figure()\nplt.show()\nprint('second')\ndisplay(report)\nplt.figure()\n'last'",
        label=4,
    )
    assert answer["success"] is True, answer
    assert kinds(answer) == [
        ("stream", "stdout"),
        ("display_data", ["image/png", "text/plain"]),
        ("stream", "stdout"),
        ("display_data", ["text/html", "text/plain"]),
        ("execute_result", ["text/plain"]),
        ("display_data", ["image/png", "text/plain"]),
    ]
    outputs = answer["cellOutputs"]
    assert outputs[0]["text"] == "first\n"
    assert outputs[1]["data"] == {
        "text/plain": "<Figure size 640x480 with 1 Axes>",
        "image/png": base64.b64encode(b"PNG of figure 1").decode(),
    }
    assert outputs[1]["metadata"] == {}
    assert outputs[3]["data"]["text/html"] == "<b>report</b>"
    assert outputs[4] == {
        "output_type": "execute_result",
        "execution_count": 4,
        "data": {"text/plain": "'last'"},
        "metadata": {},
    }
    assert outputs[5]["data"]["image/png"] == base64.b64encode(b"PNG of figure 2").decode()
    # The page saw the same order while the code ran; what comes after the code ended
    # (the result, figures left open) is in the answer.
    assert [stream for stream, _ in notebook.sent] == ["stdout", "display", "stdout", "display"]
    assert json.loads(notebook.sent[1][1]) == outputs[1]
    # The original outputs: the value, then every figure the run made, in order.
    assert answer["outputs"] == [
        {"type": "text", "text": "'last'"},
        {"type": "image", "mime": "image/png", "data": outputs[1]["data"]["image/png"]},
        {"type": "image", "mime": "image/png", "data": outputs[5]["data"]["image/png"]},
    ]
    assert pyplot.get_fignums() == []


def test_the_original_answer_fields_stay_as_they_were(notebook):
    answer = notebook.run("print('x')\n1 + 1")
    assert set(answer) == {
        "success", "result", "outputs", "cellOutputs", "stdout", "stderr", "timestamp", "durationMs",
    }
    assert (answer["success"], answer["result"], answer["stdout"], answer["stderr"]) == (True, 2, "x\n", "")
    assert answer["outputs"] == [{"type": "text", "text": "2"}]
    assert answer["cellOutputs"][-1]["execution_count"] is None
    failed = notebook.run("1/0")
    assert failed["error"] == "ZeroDivisionError: division by zero"
    assert failed["errorType"] == "ZeroDivisionError"
    assert 'File "<cell>", line 1, in <module>' in failed["traceback"]


def test_a_failure_ends_the_outputs_with_the_error(notebook):
    answer = notebook.run("print('before')\nraise ValueError('bad value')", label=2)
    assert kinds(answer) == [("stream", "stdout"), ("error", [])]
    error = answer["cellOutputs"][-1]
    assert error["ename"] == "ValueError"
    assert error["evalue"] == "bad value"
    assert error["traceback"] == answer["traceback"].rstrip("\n").split("\n")
    assert error["traceback"][-1] == "ValueError: bad value"


def test_open_figures_come_after_the_result_and_are_shown_once(notebook, pyplot):
    notebook.run("import matplotlib.pyplot as plt")
    answer = notebook.run("figure = plt.figure()\nfigure")
    assert kinds(answer) == [("execute_result", ["image/png", "text/plain"])]
    # The original outputs list the figure as before: its text, then its image.
    assert [output["type"] for output in answer["outputs"]] == ["text", "image"]


def test_stream_text_is_merged_per_stream_and_keeps_its_cap(notebook, monkeypatch):
    monkeypatch.setattr(state, "MAX_OUTPUT_CHARS", 20)
    answer = notebook.run(
        "import sys\n"
        "print('a')\n"
        "print('b')\n"
        "print('oops', file=sys.stderr)\n"
        "for _ in range(5):\n"
        "    print('abcdefghij')\n"
    )
    outputs = answer["cellOutputs"]
    assert kinds(answer) == [("stream", "stdout"), ("stream", "stderr"), ("stream", "stdout")]
    assert outputs[0]["text"] == "a\nb\n"
    assert outputs[1]["text"] == "oops\n"
    assert outputs[2]["text"].startswith("abcdefghij\nabcde\n[output truncated: 39 more characters")
    assert outputs[0]["text"] + outputs[2]["text"] == answer["stdout"]


def test_a_partial_line_is_sent_before_the_other_stream_and_before_a_display(notebook):
    notebook.run("import sys\nprint('a', end='')\nprint('b', file=sys.stderr)\nprint('c', end='')\ndisplay(1)")
    assert notebook.sent[:4] == [("stdout", "a"), ("stderr", "b\n"), ("stdout", "c"), ("display", notebook.sent[3][1])]


class Rich:
    def _repr_html_(self):
        return "<b>rich</b>"

    def _repr_png_(self):
        return b"\x89PNG"

    def _repr_json_(self):
        return {"a": [1, float("nan")]}

    def __repr__(self):
        return "Rich()"


class BrokenHtml:
    def _repr_html_(self):
        raise ValueError("no html today")

    def _repr_markdown_(self):
        return None

    def _repr_latex_(self):
        return "$x^2$"

    def __repr__(self):
        return "BrokenHtml()"


class Bundled:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": "bundled", "image/svg+xml": "<svg/>"}, {"image/svg+xml": {"isolated": True}}

    def _repr_html_(self):
        return "<i>html too</i>"

    def _repr_svg_(self):
        raise AssertionError("the bundle gave SVG already")


class AnswersEverything:
    def __getattr__(self, name):
        return lambda *args, **kwargs: "<anything>"

    def __repr__(self):
        return "AnswersEverything()"


class BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr")


@pytest.mark.parametrize(
    ("obj", "data", "metadata"),
    [
        (
            Rich(),
            {
                "text/plain": "Rich()",
                "text/html": "<b>rich</b>",
                "image/png": base64.b64encode(b"\x89PNG").decode(),
                "application/json": {"a": [1, None]},
            },
            {},
        ),
        (BrokenHtml(), {"text/plain": "BrokenHtml()", "text/latex": "$x^2$"}, {}),
        (
            Bundled(),
            {"text/plain": "bundled", "image/svg+xml": "<svg/>", "text/html": "<i>html too</i>"},
            {"image/svg+xml": {"isolated": True}},
        ),
        (AnswersEverything(), {"text/plain": "AnswersEverything()"}, {}),
        (Rich, {"text/plain": repr(Rich)}, {}),
        (BadRepr(), {"text/plain": "<BadRepr object: its repr() failed with RuntimeError: no repr>"}, {}),
        ("x" * (state.MAX_TEXT_CHARS + 5), {"text/plain": "'" + "x" * (state.MAX_TEXT_CHARS - 1) + "… [7 more characters]"}, {}),
    ],
)
def test_mime_bundles_follow_ipythons_formatter(obj, data, metadata):
    assert display.mime_bundle(obj) == (data, metadata)


def test_display_takes_raw_bundles_filters_and_metadata(notebook):
    state.user_globals["rich"] = Rich()
    answer = notebook.run(
        "display({'text/markdown': '**hi**', 'image/png': b'PNG'}, raw=True)\n"
        "display(rich, include=['text/html'])\n"
        "display(rich, exclude=['image/png', 'application/json'], metadata={'width': 10})\n"
        "display(1, 2)"
    )
    outputs = answer["cellOutputs"]
    assert outputs[0]["data"] == {"text/markdown": "**hi**", "image/png": base64.b64encode(b"PNG").decode()}
    assert outputs[1]["data"] == {"text/html": "<b>rich</b>"}
    assert outputs[2]["data"] == {"text/plain": "Rich()", "text/html": "<b>rich</b>"}
    assert outputs[2]["metadata"] == {"width": 10}
    assert [output["data"] for output in outputs[3:]] == [{"text/plain": "1"}, {"text/plain": "2"}]


def test_display_stays_available_after_a_reset(notebook):
    operations.reset()
    assert notebook.run("display('still here')")["cellOutputs"][0]["data"] == {"text/plain": "'still here'"}


def test_pandas_tables_come_with_their_html_and_cells_as_text(notebook, pandas):
    frame = pandas.DataFrame(["city", "n"], [["Oslo", 1], ["Rome", 2]] * 60, ["object", "int64"])
    data, _ = display.mime_bundle(frame)
    assert data["text/plain"] == repr(frame)
    assert data["text/html"] == "<table>frame</table>"
    table = data[state.TABLE_MIME]
    assert table["columns"] == ["city", "n"]
    assert table["dtypes"] == ["object", "int64"]
    assert (table["totalRows"], table["truncated"]) == (120, True)
    assert len(table["rows"]) == state.MAX_TABLE_ROWS
    assert table["rows"][:2] == [["Oslo", "1"], ["Rome", "2"]]
    assert table["index"][:3] == ["0", "1", "2"]
    series = display.mime_bundle(pandas.Series(None, [1.5, 2.5], "float64"))[0]
    assert series[state.TABLE_MIME]["columns"] == ["value"]
    assert series["text/html"] == "<table>frame</table>"
    state.user_globals["frame"] = frame
    answer = notebook.run("frame")
    assert answer["outputs"][0]["type"] == "table"
    assert answer["outputs"][0]["rows"][0] == ["Oslo", 1]
    assert sorted(answer["cellOutputs"][0]["data"]) == [state.TABLE_MIME, "text/html", "text/plain"]


def test_a_shown_table_names_what_the_data_viewer_opens(notebook, pandas):
    from workbench_harness import table

    state.user_globals["sales"] = pandas.DataFrame(["n"], [[1], [2]], ["int64"])

    def view_as(answer):
        return answer["cellOutputs"][-1]["data"][state.TABLE_MIME].get("viewAs")

    # A frame a name holds opens by that name; one shown in passing by no name.
    assert view_as(notebook.run("sales", label=1)) == "sales"
    assert view_as(notebook.run("display(sales.head(1))", label=2)) is None
    # A cell's last value that no name holds is kept as Out[N], for the viewer only.
    assert view_as(notebook.run("sales.head(1)", label=3)) == "Out[3]"
    assert "Out[3]" not in state.user_globals
    assert table.lookup(state.user_globals, "Out[3]").rows == [[1]]
    # Only the last few are kept: a big result is not held for long.
    for label in range(4, 4 + state.KEPT_RESULTS):
        notebook.run("sales.head(2)", label=label)
    assert len(state.kept_results) == state.KEPT_RESULTS
    assert table.page(state.user_globals, {"name": "Out[3]"}) == {
        "name": "Out[3]",
        "error": "Out[3] is no longer kept: the viewer keeps the last 5 results no name holds "
        "(run its cell again, or give it a name: frame = …)",
    }
    operations.reset()
    assert state.kept_results == {}


def test_real_pandas_cells_read_as_pandas_prints_them():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(
        {"f": [0.12345678912345678, float("nan"), 3.0], "s": ["a", None, "ccc"]},
        index=pandas.Index([1.5, 2.0, 3.25]),
    )
    table = display.mime_bundle(frame)[0][state.TABLE_MIME]
    assert table["rows"] == [["0.123457", "a"], ["NaN", "None"], ["3.000000", "ccc"]]
    assert table["index"] == ["1.50", "2.00", "3.25"]
    assert table["dtypes"] == ["float64", "object"]


def test_real_matplotlib_shows_figures_through_the_workbench_backend(notebook, tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    (tmp_path / (state.MATPLOTLIB_BACKEND + ".py")).write_text(state.MATPLOTLIB_BACKEND_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    previous = matplotlib.get_backend()
    matplotlib.use("module://" + state.MATPLOTLIB_BACKEND)
    try:
        answer = notebook.run("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()\nprint('after')")
    finally:
        matplotlib.use(previous)
    assert kinds(answer) == [("display_data", ["image/png", "text/plain"]), ("stream", "stdout")]
    figure = answer["cellOutputs"][0]["data"]
    assert figure["text/plain"] == "<Figure size 640x480 with 1 Axes>"
    assert figure["image/png"].startswith("iVBORw0KGgo")


def test_ipython_display_shows_into_the_run(notebook, stand_in):
    stand_in(
        "IPython",
        {
            "IPython/__init__.py": "",
            "IPython/core/__init__.py": "",
            "IPython/core/display_functions.py": (
                "__all__ = ['display', 'publish_display_data', 'clear_output']\n"
                "def display(*objs, **kwargs):\n"
                "    print('IPython would print', *objs)\n"
                "def publish_display_data(data, metadata=None, **kwargs):\n"
                "    print('IPython would print', data)\n"
                "def clear_output(wait=False):\n"
                "    print('IPython would print escape codes')\n"
            ),
            "IPython/display.py": (
                "from IPython.core.display_functions import *\n"
                "class Markdown:\n"
                "    def __init__(self, text):\n"
                "        self.text = text\n"
                "    def _repr_markdown_(self):\n"
                "        return self.text\n"
            ),
        },
    )
    answer = notebook.run(
        "from IPython.display import display, Markdown, publish_display_data, clear_output\n"
        "clear_output(wait=True)\n"
        "display(Markdown('**bold**'))\n"
        "publish_display_data({'text/html': '<p>raw</p>'})"
    )
    assert answer["success"] is True, answer
    assert answer["stdout"] == ""
    assert [output["data"] for output in answer["cellOutputs"]] == [
        {"text/plain": answer["cellOutputs"][0]["data"]["text/plain"], "text/markdown": "**bold**"},
        {"text/html": "<p>raw</p>"},
    ]


def test_ipython_display_imported_before_the_harness_started_is_routed_too(monkeypatch):
    module = types.ModuleType(display.IPYTHON_DISPLAY_MODULE)
    module.display = print
    monkeypatch.setitem(sys.modules, display.IPYTHON_DISPLAY_MODULE, module)
    display.prepare_builtins()
    assert module.display is display.display


def test_tracebacks_name_the_cells_their_lines_came_from(notebook):
    notebook.run("def broken():\n    return 1 / 0\n", label=1)
    # Cell [1] edited and run again under the same count: the function its first run made
    # still shows its own line.
    notebook.run("# edited\n", label=1)
    answer = notebook.run("x = 1\nbroken()", label=3)
    assert answer["traceback"].startswith(
        "Traceback (most recent call last):\n"
        "  Cell [3], line 2, in <module>\n"
        "    broken()\n"
        "  Cell [1], line 2, in broken\n"
        "    return 1 / 0\n"
    ), answer["traceback"]
    assert answer["traceback"].endswith("\nZeroDivisionError: division by zero\n")
    assert "File" not in answer["traceback"]
    assert answer["cellOutputs"][-1]["traceback"] == answer["traceback"].rstrip("\n").split("\n")
    rerun = notebook.run("# edited\nbroken()", label=1)
    assert "  Cell [1], line 2, in <module>\n    broken()\n" in rerun["traceback"]


def test_a_syntax_error_names_the_cell(notebook):
    answer = notebook.run("x = 1\ny = (", label=7)
    assert answer["errorType"] == "SyntaxError"
    assert "Cell [7], line 2" in answer["traceback"]
    assert "File" not in answer["traceback"]


def test_stop_during_a_run_ends_the_outputs_with_the_interrupt(notebook):
    answer = notebook.run("print('working')\nraise KeyboardInterrupt", label=8)
    assert answer["errorType"] == "KeyboardInterrupt"
    assert kinds(answer) == [("stream", "stdout"), ("error", [])]
    stopped = json.loads(runs.stopped("while True: pass", "{}", notebook.emit, 9))
    assert stopped["errorType"] == "KeyboardInterrupt"
    assert stopped["cellOutputs"] == [
        {
            "output_type": "error",
            "ename": "KeyboardInterrupt",
            "evalue": "",
            "traceback": ["Traceback (most recent call last):", "KeyboardInterrupt"],
        }
    ]
    assert state.current_run is None


def test_plotly_figures_show_in_plotlys_mime_type_without_ipython_or_nbformat(notebook, stand_in, monkeypatch):
    # plotly's own `show` refuses without IPython and nbformat; its renderers module is
    # loaded with the workbench's `show` in, before `plotly.io` takes the name from it.
    stand_in(
        "plotly",
        {
            "plotly/__init__.py": "",
            "plotly/io/__init__.py": "from ._renderers import show, renderers\n",
            "plotly/io/_renderers.py": (
                "import os\n"
                "def validate_coerce_fig_to_dict(fig, validate):\n"
                "    return fig if isinstance(fig, dict) else fig.to_dict()\n"
                "class Renderers:\n"
                "    default = os.environ.get('PLOTLY_RENDERER')\n"
                "    def _build_mime_bundle(self, fig_dict, renderers_string=None, **kwargs):\n"
                "        assert (renderers_string or self.default) == 'plotly_mimetype'\n"
                "        return {'application/vnd.plotly.v1+json': fig_dict}\n"
                "renderers = Renderers()\n"
                "def show(fig, renderer=None, validate=True, **kwargs):\n"
                "    raise ValueError('Mime type rendering requires ipython but it is not installed')\n"
            ),
        },
    )
    monkeypatch.setenv("PLOTLY_RENDERER", "plotly_mimetype")
    figure = {"data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}], "layout": {"title": {"text": "t"}}}
    answer = notebook.run(
        "import plotly.io as pio\n"
        f"figure = {figure!r}\n"
        "pio.show(figure)\n"
        "pio.show({'data': [], 'layout': {}})"
    )
    assert answer["success"] is True, answer
    assert [output["data"] for output in answer["cellOutputs"]] == [
        {"application/vnd.plotly.v1+json": figure, "text/plain": "<plotly figure: 1 trace>"},
        {"application/vnd.plotly.v1+json": {"data": [], "layout": {}}, "text/plain": "<plotly figure: 0 traces>"},
    ]


def test_altair_charts_show_in_vega_lites_mime_type_not_as_html_from_a_cdn(notebook, stand_in):
    # altair's default renderer writes HTML that loads vega from a CDN; its display module
    # is loaded with the workbench's renderer enabled instead, which is altair's
    # `mimetype` one with a short text.
    stand_in(
        "altair",
        {
            "altair/__init__.py": "from .vegalite.v5.display import renderers\nfrom .chart import Chart\n",
            "altair/vegalite/__init__.py": "",
            "altair/vegalite/v5/__init__.py": "",
            "altair/vegalite/v5/display.py": (
                "MIME = 'application/vnd.vegalite.v5+json'\n"
                "def html_renderer(spec, **metadata):\n"
                "    return {'text/html': '<script src=\"https://cdn.example/vega\"></script>'}\n"
                "def mimetype_renderer(spec, **metadata):\n"
                "    return {MIME: spec, 'text/plain': 'If you see this message, it means the renderer has not been properly enabled'}, {}\n"
                "class Registry:\n"
                "    def __init__(self):\n"
                "        self.known = {'default': html_renderer, 'mimetype': mimetype_renderer}\n"
                "        self.active = 'default'\n"
                "    def register(self, name, renderer):\n"
                "        self.known[name] = renderer\n"
                "    def enable(self, name):\n"
                "        self.active = name\n"
                "    def get(self):\n"
                "        return self.known[self.active]\n"
                "renderers = Registry()\n"
                "renderers.enable('default')\n"
            ),
            "altair/chart.py": (
                "from .vegalite.v5.display import renderers\n"
                "class Chart:\n"
                "    def __init__(self, spec):\n"
                "        self.spec = spec\n"
                "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
                "        return renderers.get()(self.spec)\n"
            ),
        },
    )
    spec = {"mark": {"type": "point", "tooltip": True}, "data": {"values": [{"x": 1}]}}
    answer = notebook.run(
        "import altair as alt\n"
        f"display(alt.Chart({spec!r}))\n"
        "alt.Chart({'mark': 'bar'})"
    )
    assert answer["success"] is True, answer
    assert [(output["output_type"], output["data"]) for output in answer["cellOutputs"]] == [
        ("display_data", {"application/vnd.vegalite.v5+json": spec, "text/plain": "<altair chart: point marks>"}),
        ("execute_result", {"application/vnd.vegalite.v5+json": {"mark": "bar"}, "text/plain": "<altair chart: bar marks>"}),
    ]
