"""The harness's pure-Python parts, checked with the machine's CPython (no browser needed).

`cargo xtask test` runs these with pytest; the browser tests cover the parts that need Pyodide.
"""

import json
import math
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from workbench_harness import capture, operations, runs, runtime, state, tracebacks  # noqa: E402


class WithToDict:
    def to_dict(self):
        return {1: "a", "b": (2, float("nan"))}


class WithToList:
    def tolist(self):
        return [[1, 2], [3, 4]]


class BrokenToDict:
    def to_dict(self):
        raise RuntimeError("no")

    def __str__(self):
        return "broken"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (7, 7),
        (1.5, 1.5),
        ("text", "text"),
        ((1, 2), [1, 2]),
        ([1, (2, 3)], [1, [2, 3]]),
        ({1: "one", (2, 3): [4]}, {"1": "one", "(2, 3)": [4]}),
        ({1, 2, 3}, "{1, 2, 3}"),
        (float("nan"), None),
        (float("inf"), None),
        (-math.inf, None),
        (WithToDict(), {"1": "a", "b": [2, None]}),
        (WithToList(), [[1, 2], [3, 4]]),
        (BrokenToDict(), "broken"),
        (complex(1, 2), "(1+2j)"),
    ],
)
def test_make_json_safe_follows_the_original_rules(value, expected):
    converted = capture.make_json_safe(value)
    assert converted == expected
    json.dumps(converted, allow_nan=False)


def test_streaming_output_sends_each_finished_line_at_once():
    sent = []
    stream = capture.StreamingOutput("stdout", lambda name, text: sent.append((name, text)))
    stream.write("first")
    assert sent == []
    stream.write(" line\nsecond ")
    assert sent == [("stdout", "first line\n")]
    stream.write("line\n")
    assert sent[-1] == ("stdout", "second line\n")
    stream.write("tail")
    stream.finish()
    assert sent[-1] == ("stdout", "tail")
    assert stream.text() == "first line\nsecond line\ntail"


def test_streaming_output_caps_what_it_keeps_and_says_so():
    sent = []
    stream = capture.StreamingOutput("stdout", lambda name, text: sent.append(text), limit=10)
    for _ in range(5):
        stream.write("abcdef\n")
    stream.finish()
    text = stream.text()
    assert text.startswith("abcdef\nabc")
    assert "[output truncated: 25 more characters on stdout were not shown; the limit is 10 per run]" in text
    assert "".join(sent) == text


def test_tracebacks_show_only_the_users_frames_and_lines():
    code = "x = 1\n\ndef f():\n    return 1 / 0\n\nf()\n"
    tracebacks.linecache.cache[state.USER_FILENAME] = (
        len(code), None, code.splitlines(True), state.USER_FILENAME,
    )
    try:
        exec(compile(code, state.USER_FILENAME, "exec"), {})
    except ZeroDivisionError as error:
        text = tracebacks.user_traceback(error)
    assert text.startswith("Traceback (most recent call last):\n")
    assert 'File "<cell>", line 6, in <module>' in text
    assert 'File "<cell>", line 4, in f' in text
    assert "return 1 / 0" in text
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "test_harness.py" not in text


def test_reset_removes_user_names_and_keeps_system_names():
    state.user_globals.update({"answer": 42, "_private": 1})
    result = json.loads(operations.reset())
    assert result["success"] is True
    assert result["removed"] >= 2
    assert "answer" not in state.user_globals
    assert "_private" not in state.user_globals
    assert state.user_globals["__name__"] == "__main__"
    assert "__builtins__" in state.user_globals


@pytest.mark.parametrize(
    ("name", "normalized"),
    [("prompt_toolkit", "prompt-toolkit"), ("Flask.SQLAlchemy", "flask-sqlalchemy"), ("a__-b", "a-b")],
)
def test_package_names_are_normalized_as_pep_503_says(name, normalized):
    assert operations.normalize_name(name) == normalized


def test_error_descriptions_name_the_exception_type():
    assert capture.describe_error(ValueError("bad value")) == "ValueError: bad value"
    assert capture.describe_error(KeyboardInterrupt()) == "KeyboardInterrupt"


def test_files_are_listed_with_their_sub_folders_and_kinds(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "DATA_DIR", str(tmp_path))
    (tmp_path / "b.csv").write_text("a,b\n1,2\n")
    (tmp_path / "A.py").write_text("x = 1\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "trips" / "2024").mkdir(parents=True)
    (tmp_path / "trips" / "2024" / "jan.parquet").write_bytes(b"PAR1")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "A.cpython-312.pyc").write_bytes(b"")
    listed = json.loads(operations.list_files())
    assert [(entry["name"], entry["kind"]) for entry in listed] == [
        ("A.py", "python"),
        ("b.csv", "csv"),
        ("trips/2024/jan.parquet", "parquet"),
    ]
    assert listed[1]["bytes"] == 8
    assert listed[2]["path"] == str(tmp_path / "trips" / "2024" / "jan.parquet")


def test_files_are_deleted_and_renamed_only_inside_the_data_folder(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setattr(state, "DATA_DIR", str(data))
    (tmp_path / "outside.csv").write_text("secret")
    (data / "b.csv").write_text("a,b\n1,2\n")
    (data / "trips" / "2024").mkdir(parents=True)
    (data / "trips" / "2024" / "jan.csv").write_text("x\n")
    for bad in ("../outside.csv", "/etc/passwd", "", "a/../../outside.csv"):
        assert json.loads(operations.delete_file(bad))["success"] is False, bad
        assert json.loads(operations.rename_file("b.csv", bad))["success"] is False, bad
    assert (tmp_path / "outside.csv").read_text() == "secret"
    assert json.loads(operations.delete_file("missing.txt"))["error"] == "there is no file missing.txt"
    # A deletion takes the folders it leaves empty with it.
    assert json.loads(operations.delete_file("trips/2024/jan.csv")) == {"success": True}
    assert not (data / "trips").exists()
    assert json.loads(operations.rename_file("b.csv", "archive/b-2024.csv")) == {"success": True}
    assert (data / "archive" / "b-2024.csv").read_text() == "a,b\n1,2\n"
    (data / "c.csv").write_text("c")
    taken = json.loads(operations.rename_file("c.csv", "archive/b-2024.csv"))
    assert taken == {"success": False, "error": "there is already a file archive/b-2024.csv"}
    assert (data / "c.csv").read_text() == "c"


def test_a_memory_error_says_how_to_read_less_at_once():
    described = capture.describe_error(MemoryError())
    assert described.startswith("MemoryError (")
    assert "at most 4 GB" in described and "chunksize" in described and "usecols" in described


def test_file_kinds_follow_the_extension():
    assert operations.file_kind("a.CSV") == "csv"
    assert operations.file_kind("trips/x.parquet") == "parquet"
    assert operations.file_kind("notes") == "other"


def test_installed_packages_are_listed_with_versions():
    packages = json.loads(operations.list_packages())
    names = [package["name"].lower() for package in packages]
    assert "pytest" in names
    assert names == sorted(names)
    assert all(package["version"] for package in packages)


def test_warm_up_imports_what_it_can_and_skips_the_rest(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    operations.warm_up(["colorsys", "no_such_package_xyz"])
    assert "colorsys" in sys.modules
    assert "no_such_package_xyz" not in sys.modules


def test_a_run_stopped_in_the_harness_answers_as_a_stopped_run():
    streams = sys.stdout, sys.stderr
    answer = json.loads(runs.stopped("while True: pass", "{}", lambda stream, text: None))
    assert answer["success"] is False
    assert answer["errorType"] == "KeyboardInterrupt"
    assert (sys.stdout, sys.stderr) == streams


def test_the_utc_zone_file_reads_as_utc(tmp_path):
    import datetime
    import zoneinfo

    path = tmp_path / "UTC"
    path.write_bytes(state.utc_zone_data())
    with path.open("rb") as data:
        zone = zoneinfo.ZoneInfo.from_file(data)
    for year in (1900, 2024, 2100):
        local = datetime.datetime(year, 7, 1, 12, tzinfo=zone)
        assert local.utcoffset() == datetime.timedelta(0)
        assert local.tzname() == "UTC"
        assert local.dst() == datetime.timedelta(0)


def test_import_caches_are_invalidated_without_reading_unchanged_archives(tmp_path, monkeypatch):
    import importlib
    import zipfile
    import zipimport

    # Whatever keep_unchanged_archives changes on the class is put back after the test.
    monkeypatch.setattr(zipimport.zipimporter, "invalidate_caches", zipimport.zipimporter.invalidate_caches)
    archive = tmp_path / "workbench_archive.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("workbench_first.py", "VALUE = 1\n")
    monkeypatch.syspath_prepend(str(archive))
    for name in ("workbench_first", "workbench_second"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import workbench_first

    assert workbench_first.VALUE == 1
    runtime.keep_unchanged_archives()
    reads = []
    read_directory = zipimport._read_directory
    monkeypatch.setattr(zipimport, "_read_directory", lambda path: reads.append(path) or read_directory(path))

    importlib.invalidate_caches()
    assert reads == [], "an unchanged archive was read again"

    with zipfile.ZipFile(archive, "a") as bundle:
        bundle.writestr("workbench_second.py", "VALUE = 2\n")
    importlib.invalidate_caches()
    assert reads == [str(archive)], "a changed archive is read again, once"
    import workbench_second

    assert workbench_second.VALUE == 2


def test_missing_imports_names_the_index_packages_the_code_imports_that_are_not_there():
    from workbench_harness import missing_imports

    code = "import json, zz_absent.sub\nfrom zz_other.part import x\nfrom . import zz_relative\nimport zz_unlisted\n"
    candidates = json.dumps(["json", "zz_absent", "zz_other", "zz_relative"])
    # json is importable already; zz_unlisted is not our index's; a relative import is not.
    assert json.loads(missing_imports(code, candidates)) == ["zz_absent", "zz_other"]
    assert missing_imports("import zz_absent\nif :", candidates) == "[]"
    assert missing_imports("x = 'import zz_absent'", candidates) == "[]"


def test_a_stop_raised_again_while_the_stopped_answer_is_made_still_answers(monkeypatch):
    # The page raises Stop every tenth of a second while the run is pending: one more
    # KeyboardInterrupt may land in `stopped` itself (CI once saw it in `import getpass`).
    made = runs.Run.__init__
    raised = []

    def interrupted_once(self, *args, **kwargs):
        if not raised:
            raised.append(True)
            raise KeyboardInterrupt
        made(self, *args, **kwargs)

    monkeypatch.setattr(runs.Run, "__init__", interrupted_once)
    answer = json.loads(runs.stopped("while True: pass", "{}", lambda stream, text: None))
    assert raised == [True]
    assert answer["errorType"] == "KeyboardInterrupt", answer
