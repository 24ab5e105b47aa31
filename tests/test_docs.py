"""The README documents every setting and every command."""
from pathlib import Path

from service.settings import SETTINGS
from southbound.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme():
    missing = [f"SOUTHBOUND_{name}" for name, _, _ in SETTINGS
               if f"SOUTHBOUND_{name}" not in README]
    assert not missing, f"README lacks {missing}"


def test_every_command_is_in_the_readme():
    names = []
    for name, command in main.commands.items():
        subs = getattr(command, "commands", None)
        names += [f"southbound {name} {sub}" for sub in subs] if subs else [f"southbound {name}"]
    missing = [n for n in names if n not in README]
    assert not missing, f"README lacks {missing}"
