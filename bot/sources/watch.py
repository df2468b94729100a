"""Source watch: fetch every cited page, notice when one changes, queue its entries for review.

An entry's facts are only as current as its sources. Re-reading 300 pages by hand is what a
maintainer will not do every week, so the watch does the reading: it fetches each URL politely
(a few requests per host at a time, a timeout, a User-Agent naming the project, conditional GET
with ETag / Last-Modified so an unchanged page costs a 304), hashes the page's text with markup and
whitespace folded away, and remembers the hash. A page whose hash moves is `changed`; an entry
citing an official page that changed after the entry's `verified_on` is queued for a maintainer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import html
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import aiohttp

from bot.storage import Storage, now
from knowledge.model import OFFICIAL_TIERS, Entry

USER_AGENT = (
    "visabot-source-watch/1.0 (+https://github.com/visabot; checks cited pages for changes)"
)
TIMEOUT_SECONDS = 20.0
PER_HOST = 2  # concurrent requests to one host
MAX_PAGE_BYTES = 5_000_000


class State(StrEnum):
    NEW = "new"  # first time checked
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Check:
    entry_ids: tuple[str, ...]
    url: str
    state: State
    checked_at: str
    detail: str = ""  # why unreachable


_SCRIPTS = re.compile(r"<(script|style|noscript)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def page_fingerprint(body: str) -> str:
    """A hash of the page's visible text: scripts, styles, tags, entities and spacing do not count,
    so a changed ad or a re-indented template is not reported as a change of the source."""
    text = html.unescape(_TAGS.sub(" ", _SCRIPTS.sub(" ", body)))
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def urls_by_entry(entries: Iterable[Entry]) -> dict[str, list[str]]:
    """Each cited URL and the entries citing it (history sources included)."""
    cited: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        for source in [*entry.sources, *(h.source for h in entry.history)]:
            if entry.id not in cited[source.url]:
                cited[source.url].append(entry.id)
    return dict(cited)


class SourceWatch:
    """Checks URLs and keeps what it saw in the `source_checks` table."""

    def __init__(
        self, storage: Storage, timeout: float = TIMEOUT_SECONDS, per_host: int = PER_HOST
    ):
        self.storage = storage
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.per_host = per_host

    async def check(self, cited: dict[str, list[str]]) -> list[Check]:
        hosts: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self.per_host))
        async with aiohttp.ClientSession(
            timeout=self.timeout, headers={"User-Agent": USER_AGENT}
        ) as session:

            async def one(url: str) -> Check:
                async with hosts[urlsplit(url).netloc]:
                    return await self._check_one(session, url, tuple(cited[url]))

            return list(await asyncio.gather(*(one(url) for url in sorted(cited))))

    async def _check_one(
        self, session: aiohttp.ClientSession, url: str, entry_ids: tuple[str, ...]
    ) -> Check:
        seen = self.storage.source_check(url)
        headers = {}
        if seen and seen["etag"]:
            headers["If-None-Match"] = str(seen["etag"])
        if seen and seen["last_modified"]:
            headers["If-Modified-Since"] = str(seen["last_modified"])
        checked_at = now()
        try:
            async with session.get(url, headers=headers) as response:
                if response.status == 304 and seen:
                    await asyncio.to_thread(
                        self.storage.record_source_check,
                        url,
                        str(seen["hash"]),
                        seen["etag"],
                        seen["last_modified"],
                        checked_at,
                        changed=False,
                    )
                    return Check(entry_ids, url, State.UNCHANGED, checked_at)
                if response.status >= 400:
                    return Check(
                        entry_ids, url, State.UNREACHABLE, checked_at, f"HTTP {response.status}"
                    )
                body = (await response.content.read(MAX_PAGE_BYTES)).decode(
                    response.charset or "utf-8", "replace"
                )
                etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        except (aiohttp.ClientError, TimeoutError, UnicodeError) as exc:
            return Check(entry_ids, url, State.UNREACHABLE, checked_at, type(exc).__name__)
        digest = page_fingerprint(body)
        state = (
            State.NEW
            if seen is None
            else State.UNCHANGED
            if seen["hash"] == digest
            else State.CHANGED
        )
        await asyncio.to_thread(  # off the event loop: the bot runs this check while it answers
            self.storage.record_source_check,
            url,
            digest,
            etag,
            modified,
            checked_at,
            changed=state is State.CHANGED,
        )
        return Check(entry_ids, url, state, checked_at)


def changed_entries(entries: Iterable[Entry], storage: Storage) -> list[tuple[Entry, list[str]]]:
    """Entries with an official source whose page changed after the entry was last verified:
    the maintainers' queue (`visabot sources changed`, `kb stale`)."""
    queue = []
    for entry in entries:
        urls = []
        for source in entry.sources:
            if source.tier not in OFFICIAL_TIERS:
                continue
            seen = storage.source_check(source.url)
            changed_at = seen and seen["changed_at"]
            if changed_at and dt.date.fromisoformat(str(changed_at)[:10]) > entry.verified_on:
                urls.append(source.url)
        if urls:
            queue.append((entry, urls))
    return queue
