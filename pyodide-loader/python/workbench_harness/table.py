"""The data viewer's side in Python: one page of rows of a DataFrame, Series or array in the
user's namespace, sorted by a column and filtered, and its columns' summaries. The Python
side of `AssistRequest::Table` (pyodide-loader/src/message.rs); `assist.py` answers it
between runs, within the viewer's time limit.

Only the rows asked for are turned into text: a 10-million-row frame costs one sort or
filter (kept for the next page: scrolling asks only for rows), never a copy of the frame.

The filter is either a condition on one column — `price > 10`, `city = Paris`,
`name != ""` — parsed here, never evaluated as code, or else text: the rows where a text
column contains it (any case) or a number column equals it.
"""

import math
import operator
import re
import sys
import time
import weakref

from . import state

# At most this many rows in one answer, and this many characters in one cell.
MAX_ROWS = 500
MAX_CELL_CHARS = 200
# Summaries stop after this long; the columns not reached say so.
SUMMARY_BUDGET_S = 2.0
TOP_VALUES = 3

CONDITION = re.compile(r"^\s*(?P<column>.+?)\s*(?P<op>==|!=|<=|>=|=|<|>)\s*(?P<value>.*?)\s*$")
OPERATORS = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class Refused(Exception):
    """What the viewer says instead of rows (the name is gone, the filter names a number
    column but gives a word, …)."""


# The row order of the last view: which object, sorted and filtered how.
_kept = {"key": None, "of": None, "rows": None}


def lookup(namespace, name):
    """The object the viewer is asked about: a user's name, or a kept `Out[N]`."""
    if isinstance(name, str) and name in namespace:
        return namespace[name]
    if isinstance(name, str) and name in state.kept_results:
        return state.kept_results[name]
    if isinstance(name, str) and name.startswith("Out["):
        raise Refused(
            f"{name} is no longer kept: the viewer keeps the last {state.KEPT_RESULTS} results no name holds "
            "(run its cell again, or give it a name: frame = …)"
        )
    raise Refused(f"there is no variable named {name!r} now")


def page(namespace, query):
    """The answer to one `TableQuery` (a dict): see `TablePage` in message.rs."""
    name = query.get("name")
    try:
        value = lookup(namespace, name)
        frame = as_frame(name, value)
        rows, filtered_as = row_order(
            name, value, frame, query.get("sort"), bool(query.get("descending")), query.get("filter") or ""
        )
    except Refused as refused:
        return {"name": name, "error": str(refused)}
    total = len(frame)
    shown = total if rows is None else len(rows)
    offset = min(max(int(query.get("offset") or 0), 0), shown)
    limit = min(max(int(query.get("limit") or 0), 0), MAX_ROWS)
    positions = slice(offset, min(offset + limit, shown)) if rows is None else rows[offset : offset + limit]
    chunk = frame.iloc[positions]
    answer = {
        "name": name,
        "type": type(value).__name__,
        "totalRows": total,
        "rows": shown,
        "offset": offset,
        "columns": [
            {"name": cell_text(column), "dtype": str(dtype)} for column, dtype in zip(frame.columns, frame.dtypes)
        ],
        "index": [cell_text(label) for label in chunk.index],
        "cells": [[cell_text(item) for item in row] for row in chunk.itertuples(index=False, name=None)],
    }
    if filtered_as is not None:
        answer["filteredAs"] = filtered_as
    if query.get("summarize"):
        answer["summaries"] = summaries(frame)
    return answer


def viewable(value):
    """Whether the viewer shows `value`: a DataFrame, a Series, an array of one or two
    dimensions."""
    pandas = sys.modules.get("pandas")
    if isinstance(value, (getattr(pandas, "DataFrame", ()), getattr(pandas, "Series", ()))):
        return True
    return isinstance(value, getattr(sys.modules.get("numpy"), "ndarray", ())) and value.ndim in (1, 2)


def as_frame(name, value):
    """A DataFrame over `value`'s data, without copying it."""
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return value
    if pandas is not None and isinstance(value, pandas.Series):
        return value.to_frame(name=value.name if value.name is not None else name)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        if value.ndim not in (1, 2):
            raise Refused(f"{name} has {value.ndim} dimensions: the viewer shows arrays of one or two")
        import pandas

        return pandas.DataFrame(value if value.ndim == 2 else {name: value}, copy=False)
    raise Refused(f"{name} is a {type(value).__name__}: the viewer shows DataFrames, Series and arrays")


def row_order(name, value, frame, sort, descending, text):
    """The positions of the rows shown, in order (`None`: all, as they are), and how the
    filter was read; kept for the same object, sort and filter."""
    key = (name, id(value), sort, descending, text, len(frame), frame.shape[1])
    kept = _kept["of"]() if _kept["of"] is not None else None
    if _kept["key"] == key and kept is value:
        return _kept["rows"]
    rows, filtered_as = (None, None) if not text.strip() else filter_rows(frame, text)
    if sort is not None:
        if not isinstance(sort, int) or not 0 <= sort < frame.shape[1]:
            raise Refused("the table has no such column to sort by")
        rows = sort_rows(frame, rows, sort, descending)
    _kept.update(key=None, of=None, rows=None)
    try:
        _kept.update(key=key, of=weakref.ref(value), rows=(rows, filtered_as))
    except TypeError:  # an object that cannot be referred to weakly is sorted again
        pass
    return rows, filtered_as


def filter_rows(frame, text):
    """The positions of the rows `text` keeps: a condition on a column, or else text."""
    import numpy

    condition = CONDITION.match(text)
    if condition is not None:
        position = column_position(frame, condition["column"])
        if position is not None:
            column = frame.iloc[:, position]
            wanted = value_for(column, condition["value"], frame.columns[position])
            try:
                kept = OPERATORS[condition["op"]](column, wanted)
            except TypeError as error:
                raise Refused(f"cannot compare {frame.columns[position]} with {condition['value']}: {error}") from None
            description = f"{cell_text(frame.columns[position])} {condition['op']} {condition['value']}"
            return numpy.flatnonzero(as_mask(kept)), description
    needle = text.strip()
    kept = numpy.zeros(len(frame), dtype=bool)
    number = to_number(needle)
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if str(column.dtype) == "category":
            # Each category's text once, not each row's.
            categories = column.cat.categories.astype(str)
            hits = numpy.flatnonzero(as_mask(categories.str.contains(needle, case=False, regex=False)))
            kept |= numpy.isin(column.cat.codes.to_numpy(), hits)
        elif is_text(column):
            kept |= as_mask(column.astype(str).str.contains(needle, case=False, regex=False))
        elif number is not None and is_number(column):
            kept |= as_mask(column == number)
    return numpy.flatnonzero(kept), f"containing {needle}"


def sort_rows(frame, rows, position, descending):
    """`rows` (or all) ordered by the column at `position`; missing values last; ties keep
    their order."""
    column = frame.iloc[:, position] if rows is None else frame.iloc[rows, position]
    column = column.reset_index(drop=True)
    try:
        order = column.sort_values(ascending=not descending, na_position="last", kind="stable")
    except TypeError:  # mixed types: by their text
        order = column.astype(str).sort_values(ascending=not descending, kind="stable")
    order = order.index.to_numpy()
    return order if rows is None else rows[order]


def column_position(frame, written):
    """The position of the column the filter names (as written, or in quotes or backticks)."""
    written = written.strip()
    if len(written) >= 2 and written[0] == written[-1] and written[0] in "\"'`":
        written = written[1:-1]
    for position, column in enumerate(frame.columns):
        if str(column) == written:
            return position
    for position, column in enumerate(frame.columns):
        if str(column).lower() == written.lower():
            return position
    return None


def value_for(column, written, column_name):
    """The filter's value as the column's kind of value."""
    if len(written) >= 2 and written[0] == written[-1] and written[0] in "\"'":
        written = written[1:-1]
    if is_number(column):
        number = to_number(written)
        if number is None:
            raise Refused(f"{column_name} holds numbers, and {written!r} is not one")
        return number
    if str(column.dtype).startswith("datetime"):
        import pandas

        try:
            return pandas.Timestamp(written)
        except (ValueError, TypeError):
            raise Refused(f"{column_name} holds dates, and {written!r} is not one") from None
    if str(column.dtype) == "bool":
        if written.lower() not in ("true", "false"):
            raise Refused(f"{column_name} holds True or False, not {written!r}")
        return written.lower() == "true"
    return written


def as_mask(kept):
    """A boolean Series (missing values: not kept) as a numpy array."""
    return kept.fillna(False).to_numpy(dtype=bool) if hasattr(kept, "fillna") else kept


def is_number(column):
    return column.dtype.kind in "iufc"


def is_text(column):
    return column.dtype.kind in "OSU" or str(column.dtype) in ("string", "category")


def to_number(text):
    try:
        number = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def summaries(frame):
    """Each column's count, missing values and min/max/mean (numbers, dates) or top values;
    columns not reached within the budget are `None`."""
    started = time.monotonic()
    answers = []
    for position in range(frame.shape[1]):
        if time.monotonic() - started > SUMMARY_BUDGET_S:
            answers.append(None)
            continue
        column = frame.iloc[:, position]
        try:
            answers.append(summary(column))
        except Exception:  # noqa: BLE001 - a column of objects may hold anything
            answers.append(None)
    return answers


def summary(column):
    count = int(column.count())
    described = {"count": count, "nulls": len(column) - count}
    if count == 0:
        return described
    if is_number(column) or column.dtype.kind == "M":
        described["min"] = cell_text(column.min())
        described["max"] = cell_text(column.max())
        if is_number(column):
            described["mean"] = cell_text(column.mean())
        return described
    counts = column.value_counts(dropna=True)
    described["distinct"] = len(counts)
    described["top"] = [[cell_text(label), int(times)] for label, times in counts.head(TOP_VALUES).items()]
    return described


def cell_text(item):
    """How a cell shows: floats short (as pandas prints them), anything else as `str`, cut."""
    if isinstance(item, float):
        if math.isnan(item):
            return "NaN"
        text = f"{item:.6g}" if abs(item) >= 1e16 or (item != 0 and abs(item) < 1e-4) else f"{item:.6f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    try:
        text = str(item)
    except Exception:  # noqa: BLE001 - an object's own __str__ may raise
        return "?"
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"
