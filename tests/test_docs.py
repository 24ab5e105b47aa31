"""The README documents every setting and every command."""
from pathlib import Path

from scoring.settings import SETTINGS
from southbound.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme():
    missing = [f"SOUTHBOUND_{setting.name}" for setting in SETTINGS
               if f"SOUTHBOUND_{setting.name}" not in README]
    assert not missing, f"README lacks {missing}"


def test_every_command_is_in_the_readme():
    names = []
    for name, command in main.commands.items():
        subs = getattr(command, "commands", None)
        names += [f"southbound {name} {sub}" for sub in subs] if subs else [f"southbound {name}"]
    missing = [n for n in names if n not in README]
    assert not missing, f"README lacks {missing}"


ROOT = Path(__file__).resolve().parents[1]


def test_every_relative_link_in_the_docs_resolves_in_a_clone():
    """Links in README.md and docs/ point at files of the repo, never outside it."""
    import re
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        targets = re.findall(r"\]\(([^)\s]+)\)", text)
        targets += re.findall(r"`(\.\./[^`\s]+|docs/[^`\s]+\.md)`", text)
        for target in targets:
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#")[0]).resolve()
            if ROOT not in path.parents or not path.exists():
                broken.append(f"{doc.name}: {target}")
    assert not broken, broken


def test_the_shipped_contract_is_the_shared_one():
    """docs/contract.md is the project's copy of the contract; where the shared one is
    beside the checkout (../shared, or ../../shared from a worktree in a folder of
    worktrees), they must not drift apart."""
    import pytest
    found = [folder / "shared" / "contract" / "crossing-log.md"
             for folder in (ROOT.parent, ROOT.parent.parent)]
    shared = next((path for path in found if path.exists()), None)
    if shared is None:
        pytest.skip("no ../shared beside this checkout")
    # word for word, then the project's own section (the plausible ranges)
    assert (ROOT / "docs" / "contract.md").read_text().startswith(shared.read_text())


def test_the_contracts_plausible_ranges_are_the_ones_checked():
    """docs/contract.md lists every range the log reader and the API check."""
    from scoring.contract import COLUMNS, expects
    text = (ROOT / "docs" / "contract.md").read_text()
    section = text[text.index("## Plausible ranges"):]
    ranged = [c for c in COLUMNS if c.bounds]
    assert ranged
    for column in ranged:
        assert f"| {column.name} | {expects(column)}" in section, column.name


def test_every_test_named_in_the_security_page_exists():
    """docs/security.md says which test proves each control: each file it names exists
    and each test it names is defined in that file (a renamed test would break the page)."""
    import re
    page = (ROOT / "docs" / "security.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?", page)
    assert len(named) >= 15
    for path, test in named:
        source = (ROOT / path).read_text()
        if test:
            assert re.search(rf"^def {test}\(", source, re.M), f"{path}::{test}"
