"""The package builds without setuptools' warnings and ships every file it needs.

A data folder that is not a package ("Package would be ignored") is shipped today
only by accident of the build backend; a file under a package that the wheel lacks
is missing on any machine that installs it without the checkout.
"""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scoring", "models", "training", "service", "southbound")


def test_the_wheel_builds_cleanly_and_holds_every_file_of_the_packages(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w",
                            str(tmp_path), str(ROOT)], capture_output=True, text=True,
                           timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    output = built.stdout + built.stderr
    assert "would be ignored" not in output and "BuildBackendWarning" not in output, output
    (wheel,) = tmp_path.glob("southbound-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert tracked, "not a git checkout"
    missing = [f for f in tracked if f not in shipped]
    assert not missing, missing
