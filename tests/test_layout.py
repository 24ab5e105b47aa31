"""The tests' own layout: no test module imports another; shared helpers live in
conftest.py (fixtures) or the tests/helpers package."""
import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def imported_modules(path):
    """Every module name ``path`` imports (absolute, or relative as ``.name``)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if base in ("tests", "."):  # `from tests import test_x` imports test_x
                names += [f"{base.rstrip('.')}.{alias.name}" for alias in node.names]
            else:
                names.append(base)
    return names


def foreign_test_imports(path):
    """The imports of ``path`` that reach a module of tests/ other than tests.helpers:
    another test module, conftest, or a loose helper module."""
    bad = []
    for name in imported_modules(path):
        if name.startswith("."):
            bad.append(name)          # tests/ is no package: a relative import is a slip
        elif name == "tests" or name.startswith("tests."):
            if not (name == "tests.helpers" or name.startswith("tests.helpers.")):
                bad.append(name)
    return bad


MODULES = sorted([*TESTS.glob("test_*.py"), *(TESTS / "helpers").glob("*.py")])


@pytest.mark.parametrize("path", MODULES, ids=[p.relative_to(TESTS).as_posix() for p in MODULES])
def test_no_test_module_imports_another(path):
    assert foreign_test_imports(path) == [], (
        f"{path.name} imports from another test module; move the helper into "
        "tests/helpers/ or make it a fixture in tests/conftest.py")


def test_the_check_sees_each_kind_of_import(tmp_path):
    """The check itself can fail: each way of reaching another test module is caught."""
    sample = tmp_path / "test_sample.py"
    sample.write_text("import tests.test_service\n"
                      "from tests.test_shadow import make_app\n"
                      "from tests import test_features\n"
                      "from tests.conftest import _pg_database\n"
                      "from tests.logs import row\n"
                      "def f():\n    from tests.test_faults import private_pg\n"
                      "from tests.helpers.service import outbound\n"
                      "import tests.helpers\n")
    assert foreign_test_imports(sample) == [
        "tests.test_service", "tests.test_shadow", "tests.test_features",
        "tests.conftest", "tests.logs", "tests.test_faults"]


def test_no_helper_module_is_loose_in_tests():
    loose = sorted(p.name for p in TESTS.glob("*.py")
                   if not p.name.startswith("test_") and p.name != "conftest.py")
    assert loose == [], f"helper modules loose in tests/ (move them into tests/helpers/): {loose}"
