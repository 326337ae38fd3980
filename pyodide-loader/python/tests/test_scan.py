"""The one scanner the harness and the editor's assistant share (workbench_harness.scan)."""

from workbench_harness import rewrite, sql
from workbench_harness.scan import string_end


def test_a_string_ends_past_its_own_quotes_and_not_at_an_escaped_one():
    code = "x = 'it\\'s' + y"
    assert code[string_end(code, 5, "'") :] == " + y"
    code = 'f("""a "quoted" word\n""")'
    assert code[string_end(code, 5, '"""') :] == ")"


def test_a_one_quote_string_ends_unclosed_at_its_line_end_and_a_triple_quoted_one_goes_on():
    code = "s = 'open\nnext = 1"
    assert string_end(code, 5, "'") == code.index("\n")
    assert string_end("s = '''open\nstill'", 7, "'''") is None
    # A backslash before the newline continues a one-quote string on the next line.
    code = "s = 'a\\\nb' + c"
    assert code[string_end(code, 5, "'") :] == " + c"


def test_a_string_still_open_at_the_limit_has_no_end_yet():
    code = "print('abc') "
    assert string_end(code, 7, "'", limit=9) is None
    assert string_end(code, 7, "'") == code.index(")")


def test_magics_inside_strings_stay_text_and_after_them_are_rewritten():
    assert rewrite.transform_cell("x = '%time'\n").python == "x = '%time'\n"
    cell = rewrite.transform_cell('s = """\n%time f()\n"""\n')
    assert "%time" in cell.python
    assert "__workbench__" in rewrite.transform_cell("a = 1\n%who\n").python


def test_sql_words_may_be_any_letters_and_strings_and_dollar_quotes_hide_semicolons():
    assert {"données", "straße"} <= sql.sql_names("select * from données join straße using (id)")
    assert sql.split_sql("select $$a;b$$; select 'c;d'; -- e;\n") == ["select $$a;b$$", "select 'c;d'"]
    assert "hidden" not in sql.sql_names("select 'hidden', \"shown\" /* hidden */ from t")
