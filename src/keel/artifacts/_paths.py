"""Artifact paths inside a run's namespace: normalization and containment."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from pathlib import Path

from keel.errors import ArtifactPathError, InvalidArgumentError, NotFoundError

__all__ = ["iter_folder", "join_artifact_path", "normalize_artifact_path"]


def normalize_artifact_path(path: str | None) -> str:
    """Normalize a user's artifact path to ``a/b/c`` form ("" is the run's root).

    Raises:
        ArtifactPathError: The path is absolute, has a drive, contains NUL, or climbs out with
            ``..``.
    """
    if path is None or path in ("", "."):
        return ""
    if not isinstance(path, str):
        raise ArtifactPathError(f"An artifact path must be a string, got {path!r}.")
    raw = path.replace("\\", "/")
    if "\x00" in raw:
        raise ArtifactPathError(f"Artifact path {path!r} contains a NUL character.")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise ArtifactPathError(
            f"Artifact path {path!r} is absolute. Give a path relative to the run's artifact "
            "root, such as 'plots/confusion.png'."
        )
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArtifactPathError(
            f"Artifact path {path!r} contains '..', which could escape the run's namespace. "
            "Give a path inside it, such as 'plots/confusion.png'."
        )
    return posixpath.join(*parts) if parts else ""


def join_artifact_path(*parts: str) -> str:
    """Join normalized parts, skipping empty ones."""
    return "/".join(p for p in parts if p)


def iter_folder(folder: Path) -> Iterator[tuple[Path, str]]:
    """Yield ``(file, relative posix path)`` for each file under ``folder``, in sorted order.

    Symlinks are followed only while they stay inside ``folder``.

    Raises:
        ArtifactPathError: A symlink points outside ``folder``, or to a folder that contains
            the link (which would repeat the same files forever).
    """
    root = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        here = Path(dirpath)
        for name in list(dirnames) + filenames:
            entry = here / name
            if entry.is_symlink():
                target = entry.resolve()
                if target != root and root not in target.parents:
                    raise ArtifactPathError(
                        f"{str(entry)!r} is a symlink to {str(target)!r}, outside the folder "
                        f"{str(folder)!r} being logged. Copy the file in, or log it on its own."
                    )
                real_here = here.resolve()
                if name in dirnames and (target == real_here or target in real_here.parents):
                    raise ArtifactPathError(
                        f"{str(entry)!r} is a symlink to {str(target)!r}, a folder that "
                        "contains the link, so following it would repeat the same files "
                        "forever. Remove the link, or log the folder it points to instead."
                    )
        dirnames.sort()
        for name in sorted(filenames):
            file = here / name
            if file.is_file():
                yield file, file.relative_to(folder).as_posix()


def check_local_source(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a ``Path`` if it exists, else raise ``NotFoundError``."""
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"Cannot log {str(path)!r} as an artifact: no such file or folder.")
    if not (p.is_file() or p.is_dir()):
        raise InvalidArgumentError(f"Cannot log {str(path)!r}: it is neither a file nor a folder.")
    return p
