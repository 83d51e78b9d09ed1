"""Checks of the files and folders a command reads or writes, made before any work is done.

A path given on the command line is checked where it enters, so a mistake (a folder where a file is
meant, an output under a plain file, a folder that cannot be created) fails at once with an error
naming the argument and the path, instead of a traceback after minutes of training or profiling.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["input_file", "output_dir", "output_file"]


def input_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a :class:`Path` if it is an existing file; else an error naming ``what``."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{what} {str(p)!r} is a folder, not a file")
    if not p.is_file():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    return p


def _blocking_file(folder: Path) -> Path | None:
    """The first existing non-folder on the way from the root to ``folder`` (``folder`` included)."""
    for part in (*reversed(folder.parents), folder):
        if part.exists() and not part.is_dir():
            return part
    return None


def _make_folder(folder: Path, what: str, path: Path, create: bool) -> None:
    blocker = _blocking_file(folder)
    if blocker == path:
        raise ValueError(f"{what} {str(path)!r} is a file, not a folder")
    if blocker is not None:
        raise ValueError(f"{what} {str(path)!r}: {str(blocker)!r} is a file, not a folder")
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(
                f"{what} {str(path)!r}: cannot create the folder {str(folder)!r}: {e.strerror or e}"
            ) from None


def output_dir(path: str | os.PathLike[str], what: str, *, create: bool = True) -> Path:
    """The folder ``path``, created (with its parents) unless ``create`` is false; an error naming
    ``what`` if it, or a folder above it, is a file, or if it cannot be created."""
    p = Path(path)
    _make_folder(p, what, p, create)
    return p


def output_file(path: str | os.PathLike[str], what: str, *, inputs: tuple[str | os.PathLike[str], ...] = ()) -> Path:
    """The file ``path`` to write, its folder created; an error naming ``what`` if ``path`` is a
    folder or one of the command's ``inputs`` (writing would destroy it), if a folder above it is a
    file, or if its folder cannot be created."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{what} {str(p)!r} is a folder; name a file in it")
    for source in inputs:
        if p.exists() and Path(source).exists() and os.path.samefile(p, source):
            raise ValueError(
                f"{what} {str(p)!r} is the input file {str(source)!r}; writing it would destroy "
                "the input: name another file"
            )
    _make_folder(p.parent, what, p, True)
    return p
