"""SQL: DuckDB-Wasm runs beside Python in a worker of its own (sql-worker.js); `sql()` hands
it the query and the DataFrames the query names, and waits (pyodide-worker.js, "SQL").
Files of the data folder are tables by their paths (`FROM 'trips.csv'`, `'sales/*.parquet'`)."""

import glob
import json
import os
import re
import sys
import types

from . import state
from .scan import SQL_PIECE

# The most Arrow data a result may bring back into Python.
SQL_RESULT_LIMIT = 1 << 30
SQL_LINE = re.compile(r"^LINE (\d+):", re.MULTILINE)
SQL_OUT_OF_MEMORY = re.compile(r"Out of Memory|malloc of size|failed to allocate|memory access out of bounds", re.IGNORECASE)
SQL_CATALOG_GUESS = re.compile(r'\nDid you mean "(?:pg_|duckdb_|sqlite_|information_schema)[^"\n]*"\?')
SQL_MISSING = re.compile(r"Table with name \S+ does not exist|No files found that match the pattern")


class SQLError(Exception):
    """An error the SQL engine reported (syntax, a missing table or file, a type), with
    DuckDB's own message."""


def split_sql(text):
    """The statements of `text`: split at `;` outside strings, quoted names and comments,
    without the empty ones."""
    return [statement for _, statement in split_sql_lines(text)]


def split_sql_lines(text):
    """(line, statement) for each statement of `text`, `line` counting the lines of `text`
    before the statement's first character."""
    pieces, start, code = [], 0, False

    def add(end):
        statement = text[start:end]
        stripped = statement.lstrip()
        at = start + len(statement) - len(stripped)
        pieces.append((text.count("\n", 0, at), stripped.rstrip()))

    for match in SQL_PIECE.finditer(text):
        if match.group("semicolon"):
            if code:
                add(match.start())
            start, code = match.end(), False
        elif not match.group().startswith(("--", "/*")):
            code = True
    if code:
        add(len(text))
    return pieces


def sql_names(text):
    """The names a query uses outside its strings and comments (bare or double-quoted)."""
    names = set()
    for match in SQL_PIECE.finditer(text):
        quoted, bare = match.group("name"), match.group("word")
        if quoted is not None:
            names.add(quoted.replace('""', '"'))
        elif bare is not None:
            names.add(bare)
    return names


def sql_frames(text, caller):
    """(name, value) for each pandas DataFrame or pyarrow Table the query names, looked up
    as Python would from the calling code: its locals, then its globals."""
    return frames_named(sql_names(text), caller)


def frames_named(names, caller):
    """(name, value) for each of `names` that is a DataFrame or an Arrow table where the
    calling code runs."""
    pandas = sys.modules.get("pandas")
    pyarrow = sys.modules.get("pyarrow")
    kinds = tuple(kind for kind in (pandas and pandas.DataFrame, pyarrow and pyarrow.Table) if kind)
    if not kinds:
        return []
    scopes = (caller.f_locals, caller.f_globals) if caller is not None else (state.user_globals,)
    found = []
    for name in sorted(set(names)):
        for scope in scopes:
            if name in scope:
                if isinstance(scope[name], kinds):
                    found.append((name, scope[name]))
                break
    return found


def arrow_stream(value):
    """A DataFrame or Arrow table as Arrow IPC stream bytes."""
    import pyarrow as pa

    table = value if isinstance(value, pa.Table) else pa.Table.from_pandas(value)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def arrow_frame(data):
    """A pandas DataFrame from a result's Arrow IPC bytes."""
    import pandas as pd
    import pyarrow as pa

    if not data:
        return pd.DataFrame()
    buffer = pa.py_buffer(data)
    try:
        table = pa.ipc.open_file(buffer).read_all()
    except pa.ArrowInvalid:
        table = pa.ipc.open_stream(buffer).read_all()
    return table.to_pandas()


def sql_tables_hint(caller):
    """What a query can name, for an error about a missing table."""
    files = data_files()
    scope = state.user_globals if caller is None else {**caller.f_globals, **caller.f_locals}
    frames = [name for name, _ in frames_named((name for name in scope if not name.startswith("_")), caller)]
    parts = []
    if files:
        shown = ", ".join(f"'{name}'" for name in sorted(files)[:20])
        parts.append(f"files {shown}" + (f" and {len(files) - 20} more" if len(files) > 20 else ""))
    if frames:
        parts.append("DataFrames " + ", ".join(frames[:20]))
    if not parts:
        return "Nothing to query yet: add a file to the data folder, or make a DataFrame."
    return "Tables you can use: " + "; ".join(parts) + "."


def shift_sql_lines(message, offset):
    """DuckDB's `LINE n:` counted from the cell's first line, with its caret kept under
    the place it points at."""
    if not offset:
        return message
    lines = message.split("\n")
    for index, line in enumerate(lines):
        match = SQL_LINE.match(line)
        if match:
            old = match.group(0)
            new = f"LINE {int(match.group(1)) + offset}:"
            lines[index] = new + line[len(old) :]
            if index + 1 < len(lines) and lines[index + 1].strip() == "^":
                lines[index + 1] = " " * (len(new) - len(old)) + lines[index + 1]
    return "\n".join(lines)


def bytes_text(count):
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000


# DuckDB-Wasm reads Parquet and JSON with extensions it downloads from extensions.duckdb.org
# at first use; nothing here may reach that host (and offline nothing can), so the files of
# these kinds a query names are read by pyarrow, only the columns the query names, and handed
# to the engine as Arrow tables named by the path as written. CSV and other text the engine
# reads itself, in place.
ARROW_KINDS = (".parquet", ".json", ".jsonl", ".ndjson")
SQL_READ_CALL = re.compile(
    r"\b(?:read_parquet|parquet_scan|read_json|read_json_auto|read_ndjson|read_ndjson_auto)\s*\(\s*\Z",
    re.IGNORECASE,
)
SQL_TABLE_PLACE = re.compile(r"\b(?:from|join)\s*\Z", re.IGNORECASE)
SQL_STAR = re.compile(r"\*")
SQL_COUNT_STAR = re.compile(r"\bcount\s*\(\s*\Z", re.IGNORECASE)


def selects_everything(code):
    """Whether a query (its code, without strings and comments) may use every column of a
    table: `*` anywhere but in `count(*)`, `COLUMNS(…)`, or no SELECT at all (`FROM 'x' LIMIT
    5`). Otherwise a column it uses is a name it says."""
    if not re.search(r"\bselect\b", code, re.IGNORECASE) or re.search(r"\bcolumns\s*\(", code, re.IGNORECASE):
        return True
    for star in SQL_STAR.finditer(code):
        if not (SQL_COUNT_STAR.search(code, 0, star.start()) and code[star.end() :].lstrip().startswith(")")):
            return True
    return False


def data_files():
    """The data folder's files, as paths relative to it."""
    found = []
    for folder, folders, names in os.walk(state.DATA_DIR):
        folders.sort()
        for name in sorted(names):
            found.append(os.path.relpath(os.path.join(folder, name), state.DATA_DIR))
    return found


def sql_code(text):
    """The query without its strings and comments (where `*` and names are code)."""
    return SQL_PIECE.sub(
        lambda match: " " if match.group().startswith(("'", "e'", "E'", "$", "--", "/*")) else match.group(), text
    )


def arrow_files(query):
    """The query with each Parquet or JSON file it names (a path or glob in quotes, or a
    `read_parquet(…)`/`read_json(…)` of one) replaced by a quoted table name, and
    {name: [paths]} for those tables."""
    tables = {}
    pieces = []
    at = 0
    for match in SQL_PIECE.finditer(query):
        literal = match.group()
        if not literal.startswith("'"):
            continue
        path = literal[1:-1].replace("''", "'")
        if not path.lower().endswith(ARROW_KINDS):
            continue
        if os.path.isfile(os.path.join(state.DATA_DIR, path)):
            matched = [path]
        else:
            matched = sorted(
                found
                for found in glob.glob(path, root_dir=state.DATA_DIR, recursive=True)
                if os.path.isfile(os.path.join(state.DATA_DIR, found))
            )
        if not matched:
            continue
        start, end = match.start(), match.end()
        call = SQL_READ_CALL.search(query, at, start)
        if call is not None:
            close = query.find(")", end)
            if close < 0:
                continue
            start, end = call.start(), close + 1
        elif SQL_TABLE_PLACE.search(query, max(at, start - 40), start) is None:
            continue  # a string used as a value, not as a table
        tables[path] = matched
        pieces.append(query[at:start])
        pieces.append('"' + path.replace('"', '""') + '"')
        at = end
    pieces.append(query[at:])
    return "".join(pieces), tables


def read_arrow_file(paths, query):
    """The files of one table as one Arrow table, with only the columns the query names
    (all of them after a `*`; the first one when it names none, for the row count)."""
    import pyarrow as pa

    names = {name.lower() for name in sql_names(query)}
    every = selects_everything(sql_code(query))
    tables = []
    for path in paths:
        full = os.path.join(state.DATA_DIR, path)
        if path.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            schema = pq.read_schema(full)
            columns = None if every else [name for name in schema.names if name.lower() in names] or schema.names[:1]
            tables.append(pq.read_table(full, columns=columns))
        else:
            tables.append(read_json_table(full))
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="default")
    except TypeError:
        return pa.concat_tables(tables, promote=True)


def read_json_table(path):
    """A JSON file (one record per line, or an array of records) as an Arrow table."""
    import pyarrow as pa
    import pyarrow.json

    try:
        return pyarrow.json.read_json(path)
    except pa.ArrowInvalid:
        with open(path, encoding="utf-8") as file:
            records = json.load(file)
        if isinstance(records, dict):
            records = [records]
        return pa.Table.from_pylist(records)


def run_sql(query, caller, line_offset=0):
    """Runs the query's statements in the SQL engine; the last one's result as a pandas
    DataFrame."""
    if not isinstance(query, str):
        raise TypeError(f"sql() takes the query as a string, not {type(query).__name__}")
    import js
    from pyodide.ffi import to_js

    original = query
    query, files = arrow_files(query)
    tables = [(name, read_arrow_file(paths, original)) for name, paths in files.items()]
    frames = [{"name": name, "bytes": to_js(memoryview(arrow_stream(value)))} for name, value in tables]
    for name, value in sql_frames(query, caller):
        try:
            stream = arrow_stream(value)
        except Exception:  # noqa: BLE001 - a name that is not a table (an alias, a column)
            continue  # the query fails with DuckDB's message if it did mean it as a table
        frames.append({"name": name, "bytes": to_js(memoryview(stream))})
    statements = split_sql_lines(query)
    answer = js.workbenchSql.query(
        to_js([statement for _, statement in statements]),
        to_js(frames, dict_converter=js.Object.fromEntries),
        SQL_RESULT_LIMIT,
    )
    state = answer.state
    if state == "stopped":
        raise KeyboardInterrupt
    if state == "result":
        return arrow_frame(answer.bytes.to_bytes())
    if state == "tooLarge":
        raise SQLError(
            f"The result is {bytes_text(answer.length)} of data, more than the "
            f"{bytes_text(SQL_RESULT_LIMIT)} a result may bring into Python: aggregate it "
            "(GROUP BY, count(*), avg(…)) or add LIMIT."
        )
    # DuckDB's guesses among its own catalog tables ("Did you mean "pg_enum"?") only mislead.
    failed = getattr(answer, "statement", 0)
    failed = failed if 0 <= failed < len(statements) else 0
    line_offset += statements[failed][0] if statements else 0
    message = shift_sql_lines(SQL_CATALOG_GUESS.sub("", answer.text), line_offset)
    if SQL_MISSING.search(message):
        message += "\n" + sql_tables_hint(caller)
    elif SQL_OUT_OF_MEMORY.search(message):
        message += (
            "\nThe query needs more memory than the browser gives the SQL engine (4 GB): "
            "aggregate the result (GROUP BY, count(*), avg(…)) or add LIMIT."
        )
    raise SQLError(message)


def sql(query):
    """Runs SQL over the data folder's files (tables by their paths: `FROM 'trips.csv'`,
    `FROM 'sales/*.parquet'`) and the pandas DataFrames the query names; returns the last
    statement's result as a pandas DataFrame. Raises `SQLError` with DuckDB's message."""
    return run_sql(query, sys._getframe(1))


def magic_sql(query, line_offset):
    """A `%%sql` cell's query, run from the cell's namespace; DuckDB's line numbers count
    from the cell's first line."""
    return run_sql(query, sys._getframe(1), line_offset)



def install_workbench_module():
    """`from workbench import sql, SQLError`."""
    module = types.ModuleType("workbench", "The workbench's own helpers: sql() and SQLError.")
    module.sql = sql
    module.SQLError = SQLError
    sys.modules["workbench"] = module
