"""The harness package's shape: the layers its docstring lists, each module importing only
modules listed before it (so no import cycle can form), and every module listed."""

import pathlib
import re

import workbench_harness

PACKAGE = pathlib.Path(workbench_harness.__file__).parent


def listed_order():
    return re.findall(r"^- `(\w+)`:", workbench_harness.__doc__, re.MULTILINE)


def test_every_module_is_listed_once():
    modules = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")
    assert sorted(listed_order()) == modules
    assert len(set(listed_order())) == len(listed_order())


def test_each_module_imports_only_the_modules_listed_before_it():
    order = listed_order()
    for place, module in enumerate(order):
        source = (PACKAGE / f"{module}.py").read_text()
        imported = set(re.findall(r"^from \.(\w+) import", source, re.MULTILINE))
        imported |= set(re.findall(r"^from \. import (\w+)", source, re.MULTILINE))
        later = sorted(name for name in imported if order.index(name) >= place)
        assert not later, f"{module} imports {later}, listed at or after it"

