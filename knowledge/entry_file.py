"""Read one file of the knowledge folder (an entry, a translation) safely.

Its own module because the loader, the Chinese texts (knowledge/bilingual.py, which the loader
imports) and `kb lint` all read such files, and each must refuse the same special files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

# libyaml's safe loader when PyYAML was built with it: the same documents and the same results as
# yaml.safe_load, parsed in C. Reading the ~140 entry and translation files is most of a start-up
# and of a /reload, and the pure-Python parser was most of that.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# How many parsed entry (and translation) files are kept, by their text. The same files are
# parsed again and again: every /reload, each save (the writer validates the whole base before and
# after writing; the review builds it with the new entry) and each `visabot kb` command read them
# all, and building Python objects from the YAML is most of a load's time even in C. A parse
# depends only on the text and the shared caveats it resolves against (a problem is given back its
# file's path), and entries are immutable, so an unchanged file's result is reused, wherever the
# folder is. Bounded: a base bigger than the cache is parsed as before.
PARSED_CACHE_SIZE = 512  # over three times the shipped base; at most ~5 MB of entries kept

# The largest entry file read. Real entries are 2-6 KB; a bigger file is a mistake or an attack
# (a 50 MB file took 22 s and 680 MB at start), refused before it is read.
MAX_ENTRY_BYTES = 256 * 1024


def read_entry_file(path: Path, limit: int = MAX_ENTRY_BYTES) -> str:
    """The text of one entry file, refusing anything but a regular file of at most `limit` bytes.

    Opened without following a symlink and without blocking, then checked with fstat on the open
    descriptor (no window between check and read): a symlink to /dev/zero would read until
    MemoryError, and a FIFO would hang /reload while it holds the write lock. Raises OSError.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"not a regular file ({stat.filemode(info.st_mode)[0]!r} type); skipped")
        if info.st_size > limit:
            raise OSError(f"{info.st_size} bytes, over the {limit}-byte limit for an entry file")
        with os.fdopen(fd, "rb") as handle:
            fd = -1  # the handle owns it now
            data = handle.read(limit + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:
        raise OSError(f"over the {limit}-byte limit for an entry file")
    return data.decode("utf-8")


def safe_load(text: str) -> Any:
    """`yaml.safe_load` through `SafeLoader` (libyaml when available)."""
    return yaml.load(text, Loader=SafeLoader)
