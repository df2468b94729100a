"""Source watch against a local HTTP server: states, conditional GET, politeness, the review queue, the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from pathlib import Path

import yaml

from bot.sources.watch import (
    USER_AGENT,
    SourceWatch,
    State,
    changed_entries,
    urls_by_entry,
)
from bot.storage import Storage
from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.loader import KnowledgeBase
from knowledge.model import Entry
from tests.cli import visabot
from tests.conftest import Site


def _entry_citing(shipped_kb: KnowledgeBase, base: str, verified_on: dt.date) -> Entry:
    entry = shipped_kb.get("h1b-100k-one-time")
    assert entry is not None
    official = entry.sources[0].model_copy(update={"url": f"{base}/rule", "tier": "official"})
    news = entry.sources[0].model_copy(update={"url": f"{base}/missing", "tier": "news"})
    return entry.model_copy(update={"sources": [official, news], "history": [], "verified_on": verified_on})


async def test_states_conditional_get_and_the_review_queue(site: tuple[Site, str], tmp_path: Path, shipped_kb: KnowledgeBase) -> None:
    server, base = site
    storage = Storage(tmp_path / "db.sqlite3")
    entry = _entry_citing(shipped_kb, base, verified_on=dt.date.today() - dt.timedelta(days=1))
    watch = SourceWatch(storage, timeout=5)
    cited = urls_by_entry([entry])

    first = {c.url: c.state for c in await watch.check(cited)}
    assert first == {f"{base}/rule": State.NEW, f"{base}/missing": State.UNREACHABLE}
    again = {c.url: c.state for c in await watch.check(cited)}
    assert again[f"{base}/rule"] is State.UNCHANGED
    rule_requests = [h for path, h in server.requests if path == "/rule"]
    assert "If-None-Match" not in rule_requests[0] and rule_requests[1]["If-None-Match"]  # conditional GET
    assert all(h["User-Agent"] == USER_AGENT for _, h in server.requests)
    assert changed_entries([entry], storage) == []

    server.pages["/rule"] = server.pages["/rule"].replace("<p>", "<p class='x'>\n  ")  # markup only
    assert {c.url: c.state for c in await watch.check(cited)}[f"{base}/rule"] is State.UNCHANGED
    server.pages["/rule"] = server.pages["/rule"].replace("$100,000", "$150,000")  # the fact moved
    assert {c.url: c.state for c in await watch.check(cited)}[f"{base}/rule"] is State.CHANGED
    assert changed_entries([entry], storage) == [(entry, [f"{base}/rule"])]
    # Re-verified today: the change is no longer after the verification.
    reverified = entry.model_copy(update={"verified_on": dt.date.today()})
    assert changed_entries([reverified], storage) == []
    storage.close()


async def test_the_command_line_reports_one_line_per_url(site: tuple[Site, str], tmp_path: Path) -> None:
    server, base = site
    knowledge = tmp_path / "kb"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR / "entries", knowledge / "entries")
    path = knowledge / "entries" / "h1b" / "h1b-100k-one-time.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for n, source in enumerate(data["sources"] + [h["source"] for h in data.get("history", [])]):
        source["url"] = f"{base}/rule" if n == 0 else f"{base}/page{n}"  # nothing leaves this machine
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = {"VISABOT_KNOWLEDGE_DIR": str(knowledge), "VISABOT_DB_PATH": str(tmp_path / "db.sqlite3")}
    # In a thread: the command runs its own event loop, while this one serves the pages.
    out = await asyncio.to_thread(visabot, "sources", "check", "--json", "--id", "h1b-100k-one-time", env=env)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {r["url"]: r["state"] for r in rows}[f"{base}/rule"] == "new"
    assert all(set(r) == {"id", "url", "state", "checked_at"} and r["id"] == ["h1b-100k-one-time"] for r in rows)
    assert {r["url"] for r in rows} == {s["url"] for s in data["sources"] + [h["source"] for h in data.get("history", [])]}
    assert {path for path, _ in server.requests} <= {"/rule", *(f"/page{n}" for n in range(20))}
    bad = await asyncio.to_thread(visabot, "sources", "check", "--id", "no-such-entry", env=env)
    assert bad.returncode == 2 and "No entry with id no-such-entry" in bad.stderr
    # For people: one line per URL, then the count of each state. Nothing changed since the first
    # look, so no entry waits for review.
    again = await asyncio.to_thread(visabot, "sources", "check", "--id", "h1b-100k-one-time", env=env)
    assert again.returncode == 0, again.stderr
    assert f"unchanged   {base}/rule  [h1b-100k-one-time]" in again.stdout
    assert again.stdout.rstrip().endswith(f" — {len(rows)} URLs")
    changed = await asyncio.to_thread(visabot, "sources", "changed", env=env)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.startswith("No entry waits for review")
