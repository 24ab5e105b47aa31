"""``SOUTHBOUND_*`` is read from the environment in one module only: scoring/settings.py."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scoring", "service", "training", "models", "southbound")
THE_READER = Path("scoring/settings.py")


def _docstrings(tree):
    """The string constants that are docstrings (they may name a variable freely)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _reads_environment(tree):
    """Lines that touch the process environment: ``os.environ``, ``os.getenv``, ``environ``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "getenvb"):
            lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id in ("environ", "getenv"):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                a.name in ("environ", "getenv") for a in node.names):
            lines.append(node.lineno)
    return lines


def _names_a_variable(tree):
    """Lines of code (not docstrings) with a string naming a ``SOUTHBOUND_`` variable."""
    docs = _docstrings(tree)
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and "SOUTHBOUND_" in node.value and id(node) not in docs]


def _readers():
    """Modules of the product, other than the settings module, that read the environment
    and name a SOUTHBOUND_ variable in their code."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative == THE_READER:
                continue
            tree = ast.parse(path.read_text(), filename=str(relative))
            env, named = _reads_environment(tree), _names_a_variable(tree)
            if env and named:
                found[str(relative)] = {"environment": env, "SOUTHBOUND_": named}
    return found


def test_only_the_settings_module_reads_southbound_variables():
    readers = _readers()
    assert not readers, ("SOUTHBOUND_* is read outside scoring/settings.py (read it there "
                         f"and pass the value down): {readers}")


def test_the_settings_module_is_the_reader():
    tree = ast.parse((ROOT / THE_READER).read_text())
    assert _reads_environment(tree) and _names_a_variable(tree)
