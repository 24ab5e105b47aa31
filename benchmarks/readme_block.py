"""Write a benchmark's table into benchmarks/README.md between its markers."""
from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def write_block(text, start, end, path=README):
    """Replace what stands between ``start`` and ``end`` with ``text`` (append both
    markers and the text at the end when the README has none yet)."""
    readme = path.read_text()
    block = f"{start}\n{text}\n{end}"
    if start in readme:
        head, rest = readme.split(start, 1)
        readme = head + block + rest.split(end, 1)[1]
    else:
        readme = readme.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(readme)
