"""A maintainer's open draft (a broadcast, or an entry for /add or /edit), in one place.

A maintainer has at most one draft at a time: starting one discards the other, whatever its
kind, so a broadcast can never be sent with an entry's half-typed text or the other way round.
The draft lives in the maintainer's user_data under one key; handlers get it back typed, by
asking for the kind they handle (`current(context, EntryDraft)`), so a handler never sees the
other kind's draft and no handler imports another's storage details. Memory only: a restart
drops unfinished drafts (/privacy says so).
"""

from __future__ import annotations

from typing import TypeVar

from bot.runtime.context import Context

DRAFT_KEY = "draft"
D = TypeVar("D")


def current(context: Context, kind: type[D]) -> D | None:
    """The open draft when it is a `kind`, else None."""
    draft = context.user_data.get(DRAFT_KEY) if context.user_data is not None else None
    return draft if isinstance(draft, kind) else None


def start(context: Context, draft: object) -> bool:
    """Open `draft`; True when an unfinished one (of any kind) was discarded for it."""
    assert context.user_data is not None
    dropped = context.user_data.get(DRAFT_KEY) is not None
    context.user_data[DRAFT_KEY] = draft
    return dropped


def restore(context: Context, draft: object) -> None:
    """Put back a draft taken out for a step that failed, unless another was opened meanwhile."""
    if context.user_data is not None:
        context.user_data.setdefault(DRAFT_KEY, draft)


def drop(context: Context, kind: type | None = None) -> bool:
    """Discard the open draft (only when it is a `kind`, if given); True when there was one."""
    if context.user_data is None or context.user_data.get(DRAFT_KEY) is None:
        return False
    if kind is not None and not isinstance(context.user_data[DRAFT_KEY], kind):
        return False
    del context.user_data[DRAFT_KEY]
    return True
