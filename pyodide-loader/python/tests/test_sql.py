"""SQL's Python side: how a `%%sql` cell is rewritten, how a query is split into statements,
which DataFrames a query names, and the messages of its errors. The engine itself (DuckDB in
the browser) is checked by the browser tests (tests/tests/sql.rs)."""

import sys

import pytest

from workbench_harness import display, rewrite, sql, state


@pytest.mark.parametrize(
    ("cell", "python"),
    [
        (
            "%%sql\nSELECT 1\n",
            "__workbench__.sql('SELECT 1\\n', 1)\n\n",
        ),
        (
            "%%sql totals\nSELECT zone, count(*) FROM 'trips.csv' GROUP BY zone\n",
            "totals = __workbench__.sql(\"SELECT zone, count(*) FROM 'trips.csv' GROUP BY zone\\n\", 1); totals\n\n",
        ),
        (
            "\n%%sql\nSELECT 1",
            "\n__workbench__.sql('SELECT 1', 2)\n",
        ),
        (
            "%%sql 2x\nSELECT 1\n",
            "__workbench__.fail(\"%%sql takes the name of a variable to bind the result to, not '2x'\")\n\n",
        ),
        (
            "%%sql class\nSELECT 1\n",
            "__workbench__.fail(\"%%sql takes the name of a variable to bind the result to, not 'class'\")\n\n",
        ),
    ],
)
def test_sql_cells_become_one_call_and_keep_their_line_count(cell, python):
    rewritten = rewrite.python_source(cell)
    assert rewritten == python
    assert rewritten.count("\n") == cell.count("\n")


def test_a_sql_cell_binds_its_result_when_named_and_shows_it(monkeypatch):
    seen = []

    def fake_run(query, caller, line_offset=0):
        seen.append((query, line_offset, caller.f_globals is state.user_globals))
        return 42

    monkeypatch.setattr(sql, "run_sql", fake_run)
    display.prepare_builtins()
    code = rewrite.python_source("%%sql totals\nSELECT 1\n")
    exec(compile(code, "<cell>", "exec"), state.user_globals)
    assert state.user_globals.pop("totals") == 42
    # The line ends with the name: the cell's value, shown as a table.
    assert code.splitlines()[0].endswith("; totals")
    assert seen == [("SELECT 1\n", 1, True)]


@pytest.mark.parametrize(
    ("text", "statements"),
    [
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT 1;", ["SELECT 1"]),
        ("CREATE TABLE t AS SELECT 1 AS a; SELECT * FROM t;\n", ["CREATE TABLE t AS SELECT 1 AS a", "SELECT * FROM t"]),
        ("SELECT ';' AS semi; SELECT 2", ["SELECT ';' AS semi", "SELECT 2"]),
        ("SELECT 'it''s; fine'", ["SELECT 'it''s; fine'"]),
        ('SELECT 1 AS "a;b"', ['SELECT 1 AS "a;b"']),
        ("SELECT 1 -- a comment; not a statement\n", ["SELECT 1 -- a comment; not a statement"]),
        ("SELECT 1; -- only a comment after\n", ["SELECT 1"]),
        ("/* header; */ SELECT 1; /* trailing */", ["/* header; */ SELECT 1"]),
        ("", []),
        ("  ;\n; ", []),
    ],
)
def test_queries_split_at_semicolons_outside_strings_and_comments(text, statements):
    assert sql.split_sql(text) == statements


def test_the_names_of_a_query_leave_out_strings_and_comments():
    text = """SELECT "Sales Team".total, zone FROM df JOIN 'other.csv' USING (zone) -- frame2
    /* frame3 */ WHERE "we""ird" > 1"""
    names = sql.sql_names(text)
    assert {"SELECT", "Sales Team", "total", "zone", "FROM", "df", "JOIN", "USING", 'we"ird'} <= names
    assert "other" not in names and "frame2" not in names and "frame3" not in names


def test_dataframes_are_found_in_the_callers_locals_before_its_globals():
    class Frame:
        pass

    fake_pandas = type(sys)("pandas")
    fake_pandas.DataFrame = Frame
    saved = sys.modules.get("pandas")
    sys.modules["pandas"] = fake_pandas
    try:
        local_frame, global_frame = Frame(), Frame()
        caller = type("Caller", (), {})()
        caller.f_locals = {"df": local_frame, "n": 3}
        caller.f_globals = {"df": global_frame, "sales": global_frame, "n": 4, "unused": Frame()}
        found = sql.sql_frames("SELECT * FROM df JOIN sales USING (id) WHERE n > 1", caller)
        assert found == [("df", local_frame), ("sales", global_frame)]
    finally:
        if saved is None:
            del sys.modules["pandas"]
        else:
            sys.modules["pandas"] = saved


def test_duckdb_line_numbers_count_from_the_cells_first_line():
    message = 'Parser Error: syntax error at or near "FORM"\n\nLINE 1: SELECT * FORM t\n                 ^'
    shifted = sql.shift_sql_lines(message, 9)
    assert "LINE 10: SELECT * FORM t" in shifted
    caret = shifted.split("\n")[-1]
    original_caret = message.split("\n")[-1]
    assert caret.index("^") == original_caret.index("^") + 1
    assert sql.shift_sql_lines(message, 0) == message


def test_parquet_and_json_files_a_query_names_become_tables_it_reads_through_arrow(monkeypatch, tmp_path):
    (tmp_path / "sales").mkdir()
    for name in ("sales/2024.parquet", "sales/2025.parquet", "x.parquet", "log.json", "trips.csv"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(state, "DATA_DIR", str(tmp_path))
    query, tables = sql.arrow_files("SELECT year, sum(amount) FROM 'sales/*.parquet' GROUP BY year")
    assert query == 'SELECT year, sum(amount) FROM "sales/*.parquet" GROUP BY year'
    assert tables == {"sales/*.parquet": ["sales/2024.parquet", "sales/2025.parquet"]}
    query, tables = sql.arrow_files(
        "SELECT * FROM read_parquet('x.parquet', binary_as_string=true) AS t JOIN read_json_auto('log.json') USING (id)"
    )
    assert query == 'SELECT * FROM "x.parquet" AS t JOIN "log.json" USING (id)'
    assert set(tables) == {"x.parquet", "log.json"}
    # CSV is the engine's own; a file that is not there is left for the engine to report.
    for untouched in ("SELECT * FROM 'trips.csv'", "SELECT * FROM 'missing.parquet'", "SELECT 'x.parquet' AS name"):
        assert sql.arrow_files(untouched) == (untouched, {})


@pytest.mark.parametrize(
    ("query", "everything"),
    [
        ("SELECT zone, count(*) FROM 'x.parquet' -- fare *\nWHERE note = 'a * b' GROUP BY zone", False),
        ("SELECT zone, count( * ) AS n FROM 'x.parquet' GROUP BY zone", False),
        ("SELECT * FROM 'x.parquet'", True),
        ("SELECT t.* EXCLUDE (a) FROM 'x.parquet' t", True),
        ("SELECT fare * 2 FROM 'x.parquet'", True),
        ("FROM 'x.parquet' LIMIT 5", True),
        ("SELECT COLUMNS('fare_.*') FROM 'x.parquet'", True),
        ("SELECT $$*$$ AS star, zone FROM 'x.parquet'", False),
    ],
)
def test_only_the_columns_a_query_names_are_read_unless_it_may_use_them_all(query, everything):
    assert sql.selects_everything(sql.sql_code(query)) is everything


def test_dollar_quoted_and_escape_strings_hide_semicolons_and_statements_know_their_lines():
    assert sql.split_sql("SELECT $$a;b$$; SELECT $x$c;d$x$") == ["SELECT $$a;b$$", "SELECT $x$c;d$x$"]
    assert sql.split_sql("SELECT E'it\\'s; x'; SELECT 2") == ["SELECT E'it\\'s; x'", "SELECT 2"]
    assert sql.split_sql_lines("\n\nCREATE TABLE t AS SELECT 1 AS a;\n\nSELECT *\nFROM t") == [
        (2, "CREATE TABLE t AS SELECT 1 AS a"),
        (4, "SELECT *\nFROM t"),
    ]


def test_a_glob_does_not_cross_folders_unless_it_says_so(monkeypatch, tmp_path):
    (tmp_path / "archive").mkdir()
    for name in ("a.parquet", "archive/old.parquet", "data[1].parquet"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(state, "DATA_DIR", str(tmp_path))
    assert sql.arrow_files("SELECT 1 FROM '*.parquet'")[1] == {"*.parquet": ["a.parquet", "data[1].parquet"]}
    assert sql.arrow_files("SELECT 1 FROM '**/*.parquet'")[1] == {
        "**/*.parquet": ["a.parquet", "archive/old.parquet", "data[1].parquet"]
    }
    # A name that exists as written is that file, brackets and all.
    assert sql.arrow_files("SELECT 1 FROM 'data[1].parquet'")[1] == {"data[1].parquet": ["data[1].parquet"]}
    # A string in a list of values is a value.
    query = "SELECT 1 FROM t WHERE f IN ('x', 'a.parquet')"
    assert sql.arrow_files(query) == (query, {})


def test_a_missing_table_error_lists_the_files_and_dataframes_there_are(monkeypatch, tmp_path):
    class Frame:
        pass

    fake_pandas = type(sys)("pandas")
    fake_pandas.DataFrame = Frame
    monkeypatch.setitem(sys.modules, "pandas", fake_pandas)
    (tmp_path / "sales").mkdir()
    (tmp_path / "sales" / "q1.csv").write_text("a\n1\n")
    (tmp_path / "trips.csv").write_text("a\n1\n")
    monkeypatch.setattr(state, "DATA_DIR", str(tmp_path))
    monkeypatch.setattr(state, "user_globals", {"zones": Frame(), "n": 3, "_hidden": Frame()})
    assert sql.sql_tables_hint(None) == "Tables you can use: files 'sales/q1.csv', 'trips.csv'; DataFrames zones."
    monkeypatch.setattr(state, "user_globals", {})
    (tmp_path / "trips.csv").unlink()
    (tmp_path / "sales" / "q1.csv").unlink()
    assert sql.sql_tables_hint(None).startswith("Nothing to query yet")
    guess = 'Catalog Error: Table with name nope does not exist!\nDid you mean "pg_enum"?\n\nLINE 1: x'
    assert sql.SQL_CATALOG_GUESS.sub("", guess) == "Catalog Error: Table with name nope does not exist!\n\nLINE 1: x"
