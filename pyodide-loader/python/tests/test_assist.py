"""The editor's questions about a cell (assist.py) under CPython with the jedi and parso
versions Pyodide ships: completions from a live namespace, signatures, docs, syntax errors,
and bad input answered quietly. The browser tests check the same in the worker."""

import json
import signal
import sys
import time
import types

import pytest

import assist
from workbench_harness import rewrite


class Frame:
    """Just enough of a pandas DataFrame: its columns show in `dir` and as attributes."""

    def __init__(self, columns):
        self.columns = list(columns)

    def __dir__(self):
        return [*super().__dir__(), *(column for column in self.columns if isinstance(column, str))]

    def __getattr__(self, name):
        if name in self.__dict__.get("columns", ()):
            return [1, 2, 3]
        raise AttributeError(name)

    def groupby(self, by=None, level=None):
        """Group the frame by some columns."""


def read_csv(filepath_or_buffer, sep=",", *, header="infer", index_col=None):
    """Read a comma-separated values (csv) file into DataFrame.

    Also supports optionally iterating or breaking of the file into chunks."""


class DirRaises:
    def __dir__(self):
        raise RuntimeError("no dir for you")


class GetattrRaises:
    def __getattr__(self, name):
        raise RuntimeError("no attributes either")


class DirLoops:
    def __dir__(self):
        while True:
            pass


@pytest.fixture
def space(monkeypatch, tmp_path):
    """A user namespace like one after a few runs, a data folder holding two files, and
    pandas standing in so DataFrames are recognised."""
    pandas = types.ModuleType("pandas")
    pandas.DataFrame = Frame
    pandas.read_csv = read_csv
    monkeypatch.setitem(sys.modules, "pandas", pandas)
    (tmp_path / "sales.csv").write_text("price,qty\n1,2\n")
    (tmp_path / "notes.txt").write_text("hello")
    monkeypatch.chdir(tmp_path)
    namespace = {
        "__name__": "__main__",
        "pd": pandas,
        "json": __import__("json"),
        "df": Frame(["price", "quantity", "unit price", 7]),
        "sales_total": 12,
        "weird_dir": DirRaises(),
        "weird_getattr": GetattrRaises(),
        "looping_dir": DirLoops(),
    }
    assist.setup(namespace, rewrite.python_source, ["scipy", "sklearn"], ["seaborn", "requests"])
    yield namespace
    assist.setup({"__name__": "__main__"})


def ask(kind, code, cursor=None):
    """The answer as the worker hands it on (JSON), with the cursor at `|` in `code` or at
    the end."""
    if cursor is None:
        cursor = code.index("|") if "|" in code else len(code)
        code = code.replace("|", "", 1)
    return json.loads(assist.answer(kind, code, cursor))


def labels(answer):
    return [item["label"] for item in answer["items"]]


def kind_of(answer, label):
    return next(item["kind"] for item in answer["items"] if item["label"] == label)


def test_names_from_earlier_runs_complete_with_their_kind(space):
    answer = ask("complete", "x = 1\nsales_t")
    assert labels(answer) == ["sales_total"]
    assert kind_of(answer, "sales_total") == "variable"
    # The replaced range is the word typed so far.
    assert (answer["from"], answer["to"]) == (6, 13)


def test_a_dataframe_lists_its_columns_as_columns_and_its_methods(space):
    answer = ask("complete", "df.")
    assert "price" in labels(answer) and "groupby" in labels(answer), labels(answer)
    assert kind_of(answer, "price") == "column"
    assert kind_of(answer, "groupby") == "function"
    assert answer["from"] == answer["to"] == 3
    assert labels(ask("complete", "df.qu")) == ["quantity"]


def test_a_dataframe_subscript_string_offers_every_column_name(space):
    answer = ask("complete", 'df["|"]')
    assert labels(answer) == ["price", "quantity", "unit price"]
    assert {item["kind"] for item in answer["items"]} == {"column"}
    answer = ask("complete", "df['un|']")
    assert labels(answer) == ["unit price"]
    assert (answer["from"], answer["to"]) == (4, 6)


def test_module_members_and_keyword_arguments(space):
    answer = ask("complete", "json.du")
    assert labels(answer) == ["dump", "dumps"]
    assert kind_of(answer, "dumps") == "function"
    answer = ask("complete", "pd.read_csv('a.csv', se")
    assert labels(answer)[0] == "sep=", labels(answer)
    assert kind_of(answer, "sep=") == "argument"
    assert "index_col=" in labels(ask("complete", "pd.read_csv(ind"))


def test_file_names_inside_a_string_passed_to_a_call(space):
    answer = ask("complete", 'pd.read_csv("')
    assert labels(answer) == ['notes.txt"', 'sales.csv"'] or labels(answer) == ["notes.txt", "sales.csv"], answer
    # The editor closed the quote as it was typed: it is not added a second time.
    answer = ask("complete", 'pd.read_csv("sa|")')
    assert labels(answer) == ["sales.csv"]
    assert (answer["from"], answer["to"]) == (13, 15)
    assert kind_of(answer, "sales.csv") == "file"
    assert labels(ask("complete", "open('no")) == ["notes.txt'"]


def test_strings_that_are_not_call_arguments_and_comments_stay_quiet(space):
    for code in ['x = "sa', "# sales_t", "x = 1  # pd.", '"""doc\nsales_t', "s = '#' + 'sa"]:
        assert ask("complete", code)["items"] == [], code
    # A `#` inside a string starts no comment; the code after the string completes.
    assert labels(ask("complete", "s = '#' + sales_t")) == ["sales_total"]
    # Inside an f-string's braces it is code again.
    assert labels(ask("complete", 'f"{sales_t')) == ["sales_total"]


def test_import_names_include_what_can_be_installed(space):
    answer = ask("complete", "import sea")
    assert labels(answer) == ["seaborn"]
    assert answer["items"][0]["kind"] == "module"
    assert answer["items"][0]["detail"] == "%pip install"
    answer = ask("complete", "from skl")
    assert answer["items"][-1] == {"label": "sklearn", "kind": "module", "detail": "loads on import"}
    # Installed modules come from jedi and are not repeated.
    assert labels(ask("complete", "import jso")).count("json") == 1
    assert "seaborn" not in labels(ask("complete", "x = sea"))


def test_positions_are_the_editors_utf16_offsets(space):
    code = "s = '😀é'\nsales_t"
    answer = json.loads(assist.answer("complete", code, len(code) + 1))
    assert labels(answer) == ["sales_total"]
    # 😀 is two UTF-16 units: everything after it sits one further than in Python.
    assert (answer["from"], answer["to"]) == (10, 17)


def test_hostile_objects_and_broken_code_answer_quietly(space):
    assert ask("complete", "weird_dir.")["items"] == []
    assert ask("complete", "weird_getattr.x.")["items"] == []
    for code in ["def f(:\n  sales_t", ")))(((", "df.\0", "x = [1, 2\nsales_", "\\", "lambda: (yield"]:
        for kind in ("complete", "signatures", "inspect", "check"):
            answer = ask(kind, code)
            assert isinstance(answer, dict), (kind, code)
    # A cursor past the end, or before the start, is the end or the start.
    assert ask("complete", "sales_t", 999)["items"][0]["label"] == "sales_total"
    assert ask("complete", "sales_t", -5)["items"] == [] or True


def test_the_time_limit_ends_a_looping_dir_with_an_empty_list(space):
    """The page raises KeyboardInterrupt in the worker when an answer takes too long; here an
    alarm plays the page."""

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    started = time.monotonic()
    try:
        answer = ask("complete", "looping_dir.")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert answer == {"from": 0, "to": 0, "items": []}
    assert time.monotonic() - started < 5
    # Completion still works afterwards.
    assert labels(ask("complete", "sales_t")) == ["sales_total"]


def test_very_long_lines_answer_in_time(space):
    # 15,000 characters of a list literal: jedi 0.19 alone takes 12 s here (see `load_jedi`).
    line = "x = [" + ", ".join(str(number) for number in range(2_500)) + "]; sales_t"
    started = time.monotonic()
    answer = ask("complete", line)
    assert labels(answer) == ["sales_total"]
    assert time.monotonic() - started < 2
    call = "print(" + ", ".join(str(number) for number in range(2_500)) + ", se"
    assert labels(ask("complete", call))[0] == "sep="
    # Longer lines, and longer cells, are not analysed while typing.
    huge = "x = 1\n" * 40_000 + "sales_t"
    assert ask("complete", huge)["items"] == []
    longest = "x = '" + "a" * 30_000 + "'; sales_t"
    assert ask("complete", longest)["items"] == []


def test_signature_help_knows_the_parameter_at_the_cursor(space):
    answer = ask("signatures", "print(")
    (signature,) = answer["signatures"]
    # Compact: annotations are shown for the parameter at the cursor only.
    assert signature["label"].startswith("print(*values, sep=..., end=...")
    assert signature["active"] == 0
    first = signature["params"][0]
    assert signature["label"][first["from"] : first["to"]] == "*values"
    assert first["annotation"] == "object"
    answer = ask("signatures", "pd.read_csv('a.csv', |)")
    (signature,) = answer["signatures"]
    assert signature["label"] == (
        "read_csv(filepath_or_buffer, sep=',', *, header='infer', index_col=None)"
    )
    assert signature["active"] == 1
    param = signature["params"][signature["active"]]
    assert signature["label"][param["from"] : param["to"]] == "sep=','"
    assert param["annotation"] is None
    assert signature["doc"].startswith("Read a comma-separated values (csv) file into DataFrame.")
    assert ask("signatures", "sales_total")["signatures"] == []


def test_parameters_split_into_name_annotation_and_default():
    assert assist.split_param("sep: 'str | None | lib.NoDefault'=<no_default>") == (
        "sep",
        "str | None | lib.NoDefault",
        "<no_default>",
    )
    assert assist.split_param("header: \"int | Literal['infer']\"='infer'") == (
        "header",
        "int | Literal['infer']",
        "'infer'",
    )
    assert assist.split_param("*values: object") == ("*values", "object", "")
    assert assist.split_param("key=lambda x: x") == ("key", "", "lambda x: x")
    assert assist.split_param("flags: dict[str, int]={'a': 1}") == ("flags", "dict[str, int]", "{'a': 1}")
    assert assist.split_param("x") == ("x", "", "")


def test_docs_show_the_signature_and_the_start_of_the_docstring(space):
    docs = ask("inspect", "pd.read_csv")["docs"]
    assert docs["kind"] == "function"
    assert docs["signatures"] == [
        "read_csv(filepath_or_buffer, sep=',', *, header='infer', index_col=None)"
    ]
    assert docs["doc"].startswith("Read a comma-separated values (csv) file into DataFrame.")
    # Inside the call's parentheses, the call's docs.
    assert ask("inspect", "pd.read_csv(|)")["docs"]["name"].endswith("read_csv")
    assert ask("inspect", "json.dumps")["docs"]["doc"].startswith("Serialize")
    assert ask("inspect", "# json.dumps")["docs"] is None


def test_a_long_docstring_is_cut_at_a_paragraph():
    first = "The first paragraph says what it is. " * 4
    text = first + "\n\n" + "More words. " * 100
    assert assist.first_part(text, 300) == first.rstrip() + "\n…"
    assert assist.first_part("short", 300) == "short"
    # One long paragraph is cut at the limit.
    assert assist.first_part("word " * 100, 100) == ("word " * 20).rstrip() + "\n…"


def test_a_syntax_error_is_where_python_says_with_its_message(space):
    (problem,) = ask("check", "x = 1\nprint(x\ny = 2\n")["problems"]
    assert problem["severity"] == "error"
    assert "never closed" in problem["message"] or "invalid syntax" in problem["message"]
    (problem,) = ask("check", "total = 1 +\n")["problems"]
    assert problem["message"] == "invalid syntax"
    assert (problem["from"], problem["to"]) == (10, 11)
    (problem,) = ask("check", "é = (1,\n")["problems"]
    assert problem["message"] == "'(' was never closed"
    assert (problem["from"], problem["to"]) == (4, 5)
    assert ask("check", "x = 1\n")["problems"] == []


def test_notebook_syntax_is_not_an_error(space):
    code = "%matplotlib inline\n%time total = sum(range(10))\n!ls\nfiles = !ls\nawait something()\n"
    assert ask("check", code)["problems"] == []
    (problem,) = ask("check", "%time x = 1\ny = (")["problems"]
    assert (problem["from"], problem["to"]) == (16, 17)


def test_syntax_warnings_are_warnings(space):
    problems = ask("check", 'pattern = "\\d+"\n')["problems"]
    assert [problem["severity"] for problem in problems] == ["warning"]
    assert "escape sequence" in problems[0]["message"]
    assert (problems[0]["from"], problems[0]["to"]) == (0, 15)


def test_the_time_limit_is_held_off_while_jedi_parses_its_own_files(space):
    import parso
    import parso.cache

    held = []
    assist.setup(space, hold=held.append)
    parso.cache.parser_cache.clear()
    assert "path" in labels(ask("complete", "import os\nos.pa"))
    # Parsing the stubs (os, and what it imports) held the interrupt off, one file at a time.
    assert held and held == [True, False] * (len(held) // 2), held
    held.clear()
    parso.load_grammar().parse("sales_total.bit_length(")
    assert held == [], "code without a file (the user's) is parsed with the time limit on"


def test_the_garbage_collector_is_back_on_after_every_answer(space):
    import gc

    for code in ["sales_t", "weird_dir.", "x = ("]:
        for kind in ("complete", "check"):
            ask(kind, code)
            assert gc.isenabled(), (kind, code)


# ---------------------------------------------------------------------------------------
# `%%sql` cells


def test_a_sql_string_after_from_offers_the_data_folders_files(space, tmp_path):
    (tmp_path / "sales").mkdir()
    (tmp_path / "sales" / "q1.parquet").write_bytes(b"PAR1")
    answer = ask("complete", "%%sql\nSELECT * FROM 'sa|")
    assert labels(answer) == ["sales.csv", "sales/q1.parquet"]
    assert kind_of(answer, "sales.csv") == "file"
    # The typed part of the string is what the file name replaces.
    assert answer["to"] - answer["from"] == len("sa")


def test_a_sql_cell_completes_the_columns_of_the_file_it_names(space):
    answer = ask("complete", "%%sql\nSELECT pr| FROM 'sales.csv'")
    assert labels(answer)[0] == "price"
    assert kind_of(answer, "price") == "column"
    assert answer["to"] - answer["from"] == 2


def test_a_sql_cell_completes_a_named_dataframes_columns_and_dataframe_names(space):
    answer = ask("complete", "%%sql\nSELECT qu| FROM df")
    assert "quantity" in labels(answer)
    answer = ask("complete", "%%sql\nSELECT * FROM d|")
    assert kind_of(answer, "df") == "variable"
    assert "DISTINCT" in labels(answer) and "DESC" in labels(answer)


def test_a_sql_cell_asks_nothing_of_jedi_and_has_no_signatures(space):
    assert ask("signatures", "%%sql\nSELECT count(|")["signatures"] == []
    assert ask("inspect", "%%sql\nSELECT|")["docs"] is None
    assert ask("complete", "%%sql| x")["items"] == []
    # A string that is closed is no longer a file name being typed.
    assert all(item["kind"] != "file" for item in ask("complete", "%%sql\nSELECT * FROM 'sales.csv' WHERE pr|")["items"])


def test_a_file_name_with_a_quote_is_completed_as_sql_writes_it(space, tmp_path):
    (tmp_path / "it's.csv").write_text("a\n1\n")
    answer = ask("complete", "%%sql\nSELECT * FROM 'it''|")
    assert labels(answer) == ["it''s.csv"]
    assert answer["to"] - answer["from"] == len("it''")


def test_nothing_yet_asks_the_editor_to_ask_completions_again_later():
    assert json.loads(assist.nothing("complete")) == {"from": 0, "to": 0, "items": [], "later": True}
    for kind in ("signatures", "inspect", "check"):
        assert "later" not in json.loads(assist.nothing(kind))


class LenRaises:
    def __len__(self):
        raise RuntimeError("no length")


class Sized:
    """An array-like: its class defines shape, dtype and nbytes."""

    shape = (1_000, 3)
    dtype = "float64"
    nbytes = 24_000


def variables(namespace):
    assist.setup(namespace)
    return {item["name"]: item for item in ask("variables", "")["variables"]}


def test_variables_list_the_users_names_with_type_shape_and_size(space):
    import json as json_module

    listed = variables(
        {
            "__name__": "__main__",
            "_hidden": 1,
            "json": json_module,
            "count": 42,
            "title": "x" * 200,
            "rows": [1, 2, 3],
            "grid": Sized(),
            "broken": LenRaises(),
            "helper": len,
        }
    )
    assert sorted(listed) == ["broken", "count", "grid", "helper", "rows", "title"]
    assert listed["count"] == {"name": "count", "type": "int", "preview": "42", "bytes": sys.getsizeof(42)}
    assert listed["title"]["shape"] == "200"
    assert len(listed["title"]["preview"]) == assist.MAX_PREVIEW_CHARS
    assert listed["rows"]["shape"] == "3"
    assert listed["grid"]["shape"] == "1,000 × 3"
    assert listed["grid"]["dtype"] == "float64"
    assert listed["grid"]["bytes"] == 24_000
    assert listed["broken"] == {"name": "broken", "type": "LenRaises", "unknown": True}
    assert "shape" not in listed["helper"]


def test_variables_past_the_time_limit_still_answer_with_every_name(space):
    """An object whose length hangs: the page's interrupt (an alarm here) ends it, and every
    name still comes, the rest with their type only."""

    class Hangs:
        def __len__(self):
            while True:
                pass

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        listed = variables({"a_hangs": Hangs(), "b_count": 1, "c_rows": [1]})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert listed["a_hangs"]["unknown"] is True
    assert listed["b_count"] == {"name": "b_count", "type": "int", "unknown": True}
    assert listed["c_rows"]["type"] == "list"


def test_past_five_hundred_names_the_rest_are_counted(space):
    namespace = {f"name_{number:04}": number for number in range(700)}
    assist.setup(namespace)
    answer = ask("variables", "")
    assert len(answer["variables"]) == assist.MAX_VARIABLES
    assert answer["more"] == 200
    assert answer["variables"][0]["name"] == "name_0000"
