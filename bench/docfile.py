"""Write one benchmark's section of docs/benchmarks.md, leaving the others alone.

Stdlib only. Every benchmark owns the text between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``; its driver replaces just that, so tracking, validation,
features, drift and serving numbers can be re-measured one at a time.
"""

from __future__ import annotations

import fcntl
import re
from pathlib import Path

HEADER = """\
# Benchmarks

Keel measured side by side with the tool each capability replaces (tracking vs MLflow,
validation vs Great Expectations, features vs Feast, drift vs Evidently, serving vs
`mlflow models serve`, ...), on the same machine, in the same run, each tool in its own
virtualenv. Run them with `make bench`.

Each section below is written by its benchmark driver (`bench/<capability>/run.py`) between
its `<!-- NAME:start -->` and `<!-- NAME:end -->` markers and is replaced whole on the next
run; a section appears once its benchmark exists. Edit outside the markers only.
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
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Drivers may finish at the same time: hold a lock over the read-modify-write.
    with path.open("a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        text = fh.read() or HEADER
        if pattern.search(text):
            text = pattern.sub(lambda _: block, text, count=1)
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        fh.seek(0)
        fh.truncate()
        fh.write(text)
