"""Locating dataset files in a user folder, and the optional download-with-checksum path."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import urllib.request
from pathlib import Path

__all__ = ["default_root", "resolve_root", "missing_files_error", "download_verified"]


def default_root(name: str) -> Path:
    """``~/.cache/spikeforge/<name>``: where a dataset's files are looked for when no root is given."""
    return Path.home() / ".cache" / "spikeforge" / name


def resolve_root(root: str | os.PathLike | None, name: str) -> Path:
    return default_root(name) if root is None else Path(root).expanduser()


def missing_files_error(name: str, root: Path, missing: list[str], how: str) -> FileNotFoundError:
    """A FileNotFoundError that says what is missing, where it was looked for and how to get it."""
    listing = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
    return FileNotFoundError(
        f"{name}: missing {listing} in {root}. {how} Then pass root='<that folder>' "
        f"(or put the files in {default_root(name)}); download=True fetches them when online."
    )


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_verified(url: str, dest: Path, md5: str, *, gunzip: bool = False) -> Path:
    """Download ``url`` to ``dest`` (gunzipping if asked) after checking the archive's MD5.

    Raises:
        ValueError: the checksum does not match (the partial file is removed).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    with urllib.request.urlopen(url) as r, open(tmp, "wb") as f:  # noqa: S310 - fixed https URLs
        shutil.copyfileobj(r, f)
    got = _md5(tmp)
    if got != md5:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"checksum mismatch for {url}: expected md5 {md5}, got {got}")
    if gunzip:
        with gzip.open(tmp, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
        tmp.unlink()
    else:
        os.replace(tmp, dest)
    return dest
