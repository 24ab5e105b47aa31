"""What a manifest records of the code that made a model: its version and libraries."""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd


def code_version():
    """The git commit of the code, or the package version outside a checkout."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).parent)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("southbound")
    except PackageNotFoundError:
        return "unknown"


def libraries():
    """The versions of Python and of the libraries a model's artifact depends on."""
    import joblib
    import sklearn
    return {"python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "joblib": joblib.__version__}
