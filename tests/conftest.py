"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import HealthCheck, settings

from bot.sources.watch import page_fingerprint
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher
from tests.bot_harness import shipped_matcher
from tests.fake_telegram import FakeTelegram
from tests.knowledge_copies import FEW_ENTRIES, copy_knowledge

# Property tests judge results, not speed: a busy 2-core machine must not fail them on time.
settings.register_profile("visabot", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("visabot")


@pytest.fixture(autouse=True)
def _timedelta_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    """As `visabot` sets it: PTB 22 otherwise warns (an error here) whenever a 429 is parsed."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture(scope="session")
def matcher() -> Matcher:
    """The index of the shipped knowledge base, the one the bots of the tests share."""
    return shipped_matcher()


@pytest.fixture(scope="session")
def shipped_kb(matcher: Matcher) -> KnowledgeBase:
    """The knowledge base shipped in the package, loaded once per session."""
    return matcher.base


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """A running fake Bot API server; fails the test at teardown if the bot called a method the
    fake does not support (set ``fake_telegram.allow_unknown = True`` to opt out)."""
    with FakeTelegram() as fake:
        yield fake
        if not fake.allow_unknown:
            fake.assert_no_unknown_calls()


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped entries, their Chinese and the synonyms, for tests that add
    or remove entries (an entry's Chinese is saved with it)."""
    return copy_knowledge(tmp_path / "kb")


@pytest.fixture
def few_kb_dir(tmp_path: Path) -> Path:
    """Like kb_dir, with only a few entries (tests/knowledge_copies.py: FEW_ENTRIES), for tests of
    how lint and the loader report a planted problem."""
    return copy_knowledge(tmp_path / "kb", FEW_ENTRIES)


class Site:
    """The pages of a local web server for the source watch's tests (nothing leaves the machine):
    a test changes their text; each request's path and headers are recorded."""

    def __init__(self) -> None:
        self.pages = {"/rule": "<html><body><h1>Rule</h1><p>The fee is $100,000.</p></body></html>"}
        self.requests: list[tuple[str, dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers)))
        if request.path == "/slow":
            raise web.HTTPServiceUnavailable()
        body = self.pages.get(request.path)
        if body is None:
            raise web.HTTPNotFound()
        etag = f'"{page_fingerprint(body)[:16]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.Response(text=body, content_type="text/html", headers={"ETag": etag})


@pytest.fixture
async def site() -> AsyncIterator[tuple[Site, str]]:
    """A running local web server and its base URL."""
    state = Site()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    port = runner.addresses[0][1]
    yield state, f"http://127.0.0.1:{port}"
    await runner.cleanup()
