"""Installs that fail say what would help: the package index's reason for a missing
package (its 404's `missing`) in words, after `%pip`, the Packages panel's install,
`micropip.install` in code, and a `ModuleNotFoundError`."""

import sys
import types

from workbench_harness import operations


def test_an_index_that_lacks_a_package_says_what_would_help():
    def missing(because):
        return (404, {"success": False, "error": "…", "code": "notFound", "missing": because})

    no_upstream = operations.install_advice("plotly", missing("noUpstream"))
    assert "--upstream-index" in no_upstream and "plotly" in no_upstream
    assert "check the name" in operations.install_advice("plotlyy", missing("notUpstream"))
    assert "no pure-Python wheel" in operations.install_advice("lxml", missing("noPureWheel"))
    assert "cannot be reached" in operations.install_advice("plotly", missing("upstreamUnreachable"))
    assert "offline" in operations.install_advice("plotly", (0, None))
    # The index has it: micropip's own words stay (a version conflict, say).
    assert operations.install_advice("seaborn", (200, {"files": []})) is None
    assert operations.install_advice("x", missing("somethingNew")) is None
    # Every reason the server gives has words (protocol::MissingBecause; the Rust side
    # checks the names).
    assert set(operations.MISSING_ADVICE) == {
        "distribution", "noUpstream", "notUpstream", "noPureWheel", "upstreamUnreachable"
    }


def test_requirement_names_drop_versions_and_extras():
    assert operations.requirement_name("numpy>=2") == "numpy"
    assert operations.requirement_name("pkg[extra]==1.0") == "pkg"
    assert operations.requirement_name(" plotly ") == "plotly"


def test_a_missing_module_and_a_failed_micropip_install_get_advice(notebook, monkeypatch):
    asked = []

    def index(name, index_url=None):
        asked.append(name)
        if name == "plotly":
            return (200, {"files": [{"filename": "plotly-5.24.1-py3-none-any.whl"}]})
        return (404, {"missing": "noUpstream"})

    monkeypatch.setattr(operations, "ask_index", index)
    answer = notebook.run("import plotly.express")
    assert answer["errorType"] == "ModuleNotFoundError"
    assert "`%pip install plotly` installs it from the package index" in answer["error"]
    assert "%pip install plotly" in answer["traceback"]
    answer = notebook.run("import altair")
    assert "--upstream-index" in answer["error"]

    fake = types.ModuleType("micropip")
    fake.__dict__["__name__"] = "micropip"

    exec(
        "def install(requirements, keep_going=False):\n"
        "    raise ValueError(\"Can't fetch metadata for 'altair'\")\n",
        fake.__dict__,
    )
    monkeypatch.setitem(sys.modules, "micropip", fake)
    answer = notebook.run("import micropip\nmicropip.install('altair>=5')")
    assert answer["errorType"] == "ValueError"
    assert "no upstream index" in answer["error"], answer["error"]
    assert asked[-1] == "altair"
