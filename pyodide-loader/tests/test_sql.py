"""SQL's Python side: how a `%%sql` cell is rewritten, how a query is split into statements,
which DataFrames a query names, and the messages of its errors. The engine itself (DuckDB in
the browser) is checked by the browser tests (tests/tests/sql.rs)."""

import sys

import pytest

import harness


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
    rewritten = harness.python_source(cell)
    assert rewritten == python
    assert rewritten.count("\n") == cell.count("\n")


def test_a_sql_cell_binds_its_result_when_named_and_shows_it(monkeypatch):
    seen = []

    def fake_run(query, caller, line_offset=0):
        seen.append((query, line_offset, caller.f_globals is harness.user_globals))
        return 42

    monkeypatch.setattr(harness, "run_sql", fake_run)
    harness.prepare_builtins()
    code = harness.python_source("%%sql totals\nSELECT 1\n")
    exec(compile(code, "<cell>", "exec"), harness.user_globals)
    assert harness.user_globals.pop("totals") == 42
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
    assert harness.split_sql(text) == statements


def test_the_names_of_a_query_leave_out_strings_and_comments():
    text = """SELECT "Sales Team".total, zone FROM df JOIN 'other.csv' USING (zone) -- frame2
    /* frame3 */ WHERE "we""ird" > 1"""
    names = harness.sql_names(text)
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
        found = harness.sql_frames("SELECT * FROM df JOIN sales USING (id) WHERE n > 1", caller)
        assert found == [("df", local_frame), ("sales", global_frame)]
    finally:
        if saved is None:
            del sys.modules["pandas"]
        else:
            sys.modules["pandas"] = saved


def test_duckdb_line_numbers_count_from_the_cells_first_line():
    message = 'Parser Error: syntax error at or near "FORM"\n\nLINE 1: SELECT * FORM t\n                 ^'
    shifted = harness.shift_sql_lines(message, 9)
    assert "LINE 10: SELECT * FORM t" in shifted
    caret = shifted.split("\n")[-1]
    original_caret = message.split("\n")[-1]
    assert caret.index("^") == original_caret.index("^") + 1
    assert harness.shift_sql_lines(message, 0) == message


def test_parquet_and_json_files_a_query_names_become_tables_it_reads_through_arrow(monkeypatch, tmp_path):
    (tmp_path / "sales").mkdir()
    for name in ("sales/2024.parquet", "sales/2025.parquet", "x.parquet", "log.json", "trips.csv"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(harness, "DATA_DIR", str(tmp_path))
    query, tables = harness.arrow_files("SELECT year, sum(amount) FROM 'sales/*.parquet' GROUP BY year")
    assert query == 'SELECT year, sum(amount) FROM "sales/*.parquet" GROUP BY year'
    assert tables == {"sales/*.parquet": ["sales/2024.parquet", "sales/2025.parquet"]}
    query, tables = harness.arrow_files(
        "SELECT * FROM read_parquet('x.parquet', binary_as_string=true) AS t JOIN read_json_auto('log.json') USING (id)"
    )
    assert query == 'SELECT * FROM "x.parquet" AS t JOIN "log.json" USING (id)'
    assert set(tables) == {"x.parquet", "log.json"}
    # CSV is the engine's own; a file that is not there is left for the engine to report.
    for untouched in ("SELECT * FROM 'trips.csv'", "SELECT * FROM 'missing.parquet'", "SELECT 'x.parquet' AS name"):
        assert harness.arrow_files(untouched) == (untouched, {})


def test_only_the_columns_a_query_names_are_read_unless_it_says_star():
    code = harness.sql_code("SELECT zone, count(*) FROM 'x.parquet' -- fare\nWHERE note = 'a * b'")
    assert harness.SQL_STAR.search(code) is None
    assert harness.SQL_STAR.search(harness.sql_code("SELECT * FROM 'x.parquet'")) is not None
    assert harness.SQL_STAR.search(harness.sql_code("SELECT t.* EXCLUDE (a) FROM t")) is not None
