"""Write one benchmark's section of docs/benchmarks.md, leaving the others alone.

Stdlib only. Every benchmark owns the text between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``; its driver replaces just that, so tracking, validation,
features, drift and serving numbers can be re-measured one at a time.
"""

from __future__ import annotations

import re
from pathlib import Path

HEADER = """\
# Benchmarks

Keel measured side by side with the tool each capability replaces, on the same machine,
in the same run, each tool in its own virtualenv. Every section below is written by its
benchmark driver between its `<!-- NAME:start -->` and `<!-- NAME:end -->` markers and is
replaced whole on the next run; edit outside the markers only.

| section | compares | command |
| --- | --- | --- |
| [Tracking](#tracking-keel-vs-mlflow) | experiment tracking vs MLflow (SQLite store) | `make bench` |
| Validation | dataset validation vs Great Expectations | not measured yet |
| Features | point-in-time retrieval vs Feast | not measured yet |
| Drift | drift reports vs Evidently | not measured yet |
| Serving | `keel serve` vs `mlflow models serve` | not measured yet |

"""


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace section ``name`` of the file at ``path`` with ``body``.

    Creates the file with :data:`HEADER` when missing and appends the section when the
    file has no markers for it yet.
    """
    start, end = _markers(name)
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
