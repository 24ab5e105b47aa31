"""The house's own rules, checked on the product's files: modules stay short. (That a
history statistic is branched on only where it is declared is test_features'.)"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scoring", "training", "service", "models", "southbound")
#: the longest a module of the product may grow (tests and benchmarks aside)
MAX_LINES = 450


def product_files():
    files = []
    for package in PACKAGES:
        files += (ROOT / package).rglob("*.py")
        files += (ROOT / package).rglob("*.js")
    return sorted(f for f in files if "__pycache__" not in f.parts)


def too_long(paths, limit=MAX_LINES):
    """(path, lines) of each file over ``limit`` lines."""
    out = []
    for path in paths:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            out.append((path, lines))
    return out


def test_the_product_has_modules_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in product_files()}
    assert {"scoring/settings.py", "service/static/console/main.js"} <= names


def test_no_module_of_the_product_is_over_450_lines():
    assert [(p.relative_to(ROOT).as_posix(), n) for p, n in too_long(product_files())] == []


def test_the_length_check_can_fail(tmp_path):
    long = tmp_path / "long.py"
    long.write_text("x = 1\n" * (MAX_LINES + 1))
    short = tmp_path / "short.py"
    short.write_text("x = 1\n" * MAX_LINES)
    found = too_long([long, short], MAX_LINES)
    assert [lines for _, lines in found] == [MAX_LINES + 1]
