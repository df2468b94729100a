"""Derived data kept on disk between runs, under a hash of everything it is derived from.

Every cold start derives the same things from the same files: the phrasings' embeddings
(knowledge/semantic.py), every phrasing's canonical text (knowledge/normalize.py). Each result is
one file named after a hash of its inputs, so a changed input simply misses and is computed
afresh. Only an optimisation: any failure to read or write is ignored (a bad file is computed
again), and only the CACHE_KEEP most recently used files of each kind stay on disk, since every
edit of the knowledge base makes new ones and nothing else clears them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

CACHE_KEEP = 8  # files kept per kind: the shipped base and a few edited copies of it


def cache_dir() -> Path:
    """Where derived data is kept between runs ($VISABOT_CACHE_DIR, else the user's cache)."""
    configured = os.environ.get("VISABOT_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "visabot"


def remembered(
    kind: str,
    inputs: Sequence[str],
    compute: Callable[[], T],
    read: Callable[[Path], T],
    write: Callable[[T, IO[bytes]], object],
    suffix: str,
    valid: Callable[[T], bool],
) -> T:
    """`compute()`, or what an earlier run computed from the same `inputs` (`valid` checks that
    a file read back has the expected shape)."""
    digest = hashlib.sha256("\x1f".join(inputs).encode()).hexdigest()[:32]
    path = cache_dir() / f"{kind}-{digest}{suffix}"
    try:
        cached = read(path)
        if valid(cached):
            # Recently used: pruning keeps it. A cache we may read but not touch (another
            # user's, a read-only mount) is still a good cache.
            with contextlib.suppress(OSError):
                os.utime(path)
            return cached
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=suffix, delete=False) as tmp:
            write(value, tmp)
        os.replace(tmp.name, path)
        prune(path.parent, kind, suffix)
    except OSError:
        pass
    return value


def prune(folder: Path, kind: str, suffix: str, keep: int = CACHE_KEEP) -> None:
    """Delete all but the `keep` most recently used files of one kind."""
    files = []
    for file in folder.glob(f"{kind}-*{suffix}"):
        try:
            files.append((file.stat().st_mtime, file))
        except OSError:  # another process pruned it meanwhile
            continue
    files.sort(reverse=True)
    for _, old in files[keep:]:
        old.unlink(missing_ok=True)
