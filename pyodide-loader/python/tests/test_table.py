"""The data viewer's pure parts (workbench_harness/table.py) under plain CPython: how a
filter is read, how cells show, and what is refused. Sorting and filtering real DataFrames
is tested in the browser (tests/tests/kernel.rs), where pandas is."""

from workbench_harness import table


def condition(text):
    found = table.CONDITION.match(text)
    return None if found is None else (found["column"], found["op"], found["value"])


def test_a_condition_is_a_column_an_operator_and_a_value():
    assert condition("price > 10") == ("price", ">", "10")
    assert condition("  city = Paris ") == ("city", "=", "Paris")
    assert condition("n<=3") == ("n", "<=", "3")
    assert condition('name != ""') == ("name", "!=", '""')
    assert condition("`unit price` >= 2.5") == ("`unit price`", ">=", "2.5")
    assert condition("just words") is None


def test_numbers_are_read_as_people_write_them():
    assert table.to_number("1,000") == 1000
    assert table.to_number("1_000.5") == 1000.5
    assert table.to_number("-3") == -3
    assert table.to_number("1e3") == 1000
    assert table.to_number("many") is None


def test_cells_show_short_and_cut():
    assert table.cell_text(0.5) == "0.5"
    assert table.cell_text(1 / 3) == "0.333333"
    assert table.cell_text(2.0) == "2"
    assert table.cell_text(float("nan")) == "NaN"
    assert table.cell_text(1e20) == "1e+20"
    assert table.cell_text(None) == "None"
    assert table.cell_text("x" * 500) == "x" * (table.MAX_CELL_CHARS - 1) + "…"

    class Hostile:
        def __str__(self):
            raise RuntimeError("no")

    assert table.cell_text(Hostile()) == "?"


def test_names_that_are_gone_or_not_tables_are_refused_in_words():
    assert table.page({}, {"name": "frame"}) == {"name": "frame", "error": "there is no variable named 'frame' now"}
    assert table.page({"label": "text"}, {"name": "label"}) == {
        "name": "label",
        "error": "label is a str: the viewer shows DataFrames, Series and arrays",
    }
    assert table.page({}, {"name": 3})["error"] == "there is no variable named 3 now"
    assert not table.viewable("text")
    assert not table.viewable([1, 2, 3])
