"""Entries kept compactly in memory: each one as zlib-compressed JSON, decoded when asked for.

A validated Entry is 4–10 KB of Python objects (its strings, lists, sources, dates and the model's
own dictionaries); the same entry as compressed JSON is about 1.5 KB. At 100,000 entries that is
the difference between ~420 MB and ~170 MB (bench/RESULTS.md), while only a handful of entries are
read per question. Each entry is compressed on its own, so an entry costs what its own text costs,
whatever the other entries say.

Decoding validates the JSON again (~0.1 ms), so the entries read last are kept decoded. The cache
is larger than the shipped knowledge base: there every entry is decoded at most once and stays
the same object, which the answer renderer's cache relies on.
"""

from __future__ import annotations

import operator
import threading
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

from knowledge.model import Entry, HistoryEvent, Source, Status, Tier, Topic

DECODED_CACHE_SIZE = 256  # entries kept decoded (a decoded entry is ~10 KB: its sources are its own)
_LEVEL = 6  # zlib level: 9 is no smaller on entry-sized texts and slower
_RAW_DEFLATE = -15  # no zlib header and checksum: 6 bytes an entry, and the JSON is validated anyway
# Deflate's preset dictionary: the schema's field names and enum values, which every entry spells
# out; without it each entry pays for its own first copy of them (~90 bytes). Only the schema,
# never entry content, so an entry's size still depends on its own text alone.
_ZDICT = ",".join(
    [f'"{name}":' for model in (HistoryEvent, Source, Entry) for name in model.model_fields]
    + [f'"{value}"' for enum in (Topic, Status, Tier) for value in enum]
).encode()

_serializer = Entry.__pydantic_serializer__


def _compress(data: bytes) -> bytes:
    packer = zlib.compressobj(_LEVEL, zlib.DEFLATED, _RAW_DEFLATE, zdict=_ZDICT)
    return packer.compress(data) + packer.flush()


def _decompress(data: bytes | bytearray) -> bytes:
    return zlib.decompressobj(_RAW_DEFLATE, zdict=_ZDICT).decompress(data)


class EntryStore(Sequence[Entry]):
    """The knowledge base's entries in order, with lookup by id. Filled once (``append``), then
    read-only; reading is thread-safe."""

    def __init__(self, entries: Iterable[Entry] = ()):
        # All entries' compressed bytes back to back, and where each one ends: one buffer instead
        # of a bytes object per entry (~50 bytes of header each, and a scattered heap).
        self._data = bytearray()
        self._ends = array("Q")
        self._positions: dict[str, int] = {}
        self._decoded: OrderedDict[int, Entry] = OrderedDict()
        self._lock = threading.Lock()
        for entry in entries:
            self.append(entry)

    def append(self, entry: Entry) -> None:
        if entry.id in self._positions:
            raise ValueError(f"duplicate entry id {entry.id!r}")
        self._positions[entry.id] = len(self._ends)
        self._data += _compress(_serializer.to_json(entry))
        self._ends.append(len(self._data))
        # The entry in hand is already decoded: keep it, so a small base is never decoded at all.
        self._remember(len(self._ends) - 1, entry)

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> Entry: ...

    @overload
    def __getitem__(self, index: slice) -> list[Entry]: ...

    def __getitem__(self, index: int | slice) -> Entry | list[Entry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = operator.index(index)  # numpy integers too, as plain ints for the cache's keys
        if index < 0:
            index += len(self._ends)
        if not 0 <= index < len(self._ends):
            raise IndexError("entry index out of range")
        with self._lock:
            entry = self._decoded.get(index)
            if entry is not None:
                self._decoded.move_to_end(index)
                return entry
        start = self._ends[index - 1] if index else 0
        entry = Entry.model_validate_json(_decompress(self._data[start : self._ends[index]]))
        self._remember(index, entry)
        return entry

    def __iter__(self) -> Iterator[Entry]:
        return (self[i] for i in range(len(self._ends)))

    def __contains__(self, value: object) -> bool:
        return isinstance(value, Entry) and self.get(value.id) == value

    def _remember(self, index: int, entry: Entry) -> None:
        with self._lock:
            self._decoded[index] = entry
            self._decoded.move_to_end(index)
            if len(self._decoded) > DECODED_CACHE_SIZE:
                self._decoded.popitem(last=False)

    def get(self, entry_id: str) -> Entry | None:
        index = self._positions.get(entry_id)
        return None if index is None else self[index]

    @property
    def by_id(self) -> Mapping[str, Entry]:
        """A read-only view: iterating it gives the ids in order without decoding anything."""
        return _ById(self)


class _ById(Mapping[str, Entry]):
    def __init__(self, store: EntryStore):
        self._store = store

    def __getitem__(self, entry_id: str) -> Entry:
        entry = self._store.get(entry_id)
        if entry is None:
            raise KeyError(entry_id)
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._store._positions)

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._store._positions
