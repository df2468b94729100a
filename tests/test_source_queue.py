"""The source watch's review queue where maintainers meet it: `kb stale`, Telegram's /changes with
its Mark verified / Edit buttons, and the daily job (VISABOT_SOURCE_WATCH=daily) that tells admins
once. Pages come from a local HTTP server; every cited URL is rewritten to it, nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import bot.sources.daily_job
import knowledge.publishers
from bot.runtime.context import BotData
from bot.sources.watch import SourceWatch, State, urls_by_entry
from bot.storage import Storage, now
from knowledge.entry_file import safe_load
from knowledge.loader import load_knowledge_base, parse_entry_text
from tests.bot_harness import assert_valid_reply, clean_env, running_bot
from tests.conftest import Site
from tests.fake_telegram import DEFAULT_GROUP_ID, FakeTelegram, make_command
from tests.test_telegram_maintainers import ADMIN, USER, buttons, press, seen, send

ENTRY = "h1b-100k-one-time"


@pytest.fixture
def local_official(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 counts as an official publisher (the tier table decides tiers by host), so
    official sources can be served by the local server; 127.0.0.2 (nothing listens) is a copy of
    official, and localhost the other tiers."""
    table = {
        **knowledge.publishers.publisher_tiers(),
        "127.0.0.1": "official",
        "127.0.0.2": "copy-of-official",
    }
    monkeypatch.setattr(knowledge.publishers, "publisher_tiers", lambda *args: table)


def local_sources(kb_dir: Path, base: str) -> Path:
    """Every cited URL points at this machine (see local_official); ENTRY's first source is its official page /rule, and ENTRY was last verified on
    its as_of day (before today). Returns ENTRY's file."""
    counter = iter(range(1_000_000))
    port = base.rsplit(":", 1)[1]
    for path in (kb_dir / "entries").glob("*/*.yaml"):
        data = safe_load(path.read_text(encoding="utf-8"))  # libyaml: 134 files, twice
        for source in [*data["sources"], *(h["source"] for h in data.get("history", []))]:
            host = {"official": "127.0.0.1", "copy-of-official": "127.0.0.2"}.get(
                source["tier"], "localhost"
            )
            source["url"] = f"http://{host}:{port}/p{next(counter)}"
        if data["id"] == ENTRY:
            data["sources"][0].update(url=f"{base}/rule", tier="official")
            data["verified_on"] = data["as_of"]
            entry_file = path
        text = yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False)
        path.write_text(text, encoding="utf-8")
    return entry_file


async def queue_entry(kb_dir: Path, db: Path, site: Site) -> None:
    """Check ENTRY's sources (new), change the official page, check again (changed)."""
    entry = load_knowledge_base(kb_dir).get(ENTRY)
    assert entry is not None and entry.verified_on < dt.date.today()
    storage = Storage(db)
    try:
        watch = SourceWatch(storage, timeout=5)
        await watch.check(urls_by_entry([entry]))
        site.pages["/rule"] = site.pages["/rule"].replace("$100,000", "$250,000")
        states = {c.url: c.state for c in await watch.check(urls_by_entry([entry]))}
        assert State.CHANGED in states.values()
    finally:
        storage.close()


def verified_on(path: Path) -> str:
    return str(yaml.safe_load(path.read_text(encoding="utf-8"))["verified_on"])


def test_kb_stale_marks_entries_whose_official_source_changed(kb_dir: Path, tmp_path: Path) -> None:
    """`kb stale` reads what the source watch recorded (fetching is tested above and in
    test_source_watch.py): here the record says an official page changed today."""
    entry = next(
        e
        for e in load_knowledge_base(kb_dir).entries
        if e.has_official_source and e.verified_on < dt.date.today()
    )
    official = next(
        s.url for s in entry.sources if s.tier.value in ("official", "copy-of-official")
    )
    db = tmp_path / "db.sqlite3"
    env = clean_env()
    env.update(VISABOT_KNOWLEDGE_DIR=str(kb_dir), VISABOT_DB_PATH=str(db))
    visabot = str(Path(sys.executable).parent / "visabot")
    # A day on which no entry is past its review date: only the source change lists the entry.
    day = min(e.verified_on for e in load_knowledge_base(kb_dir).entries).isoformat()

    def stale() -> str:
        out = subprocess.run(
            [visabot, "kb", "stale", "--today", day],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "No entry is due" in stale()
    assert not db.exists()  # asking created no database
    storage = Storage(db)
    storage.record_source_check(official, "a" * 64, None, None, now(), changed=False)
    storage.record_source_check(
        official, "b" * 64, None, None, now(), changed=False
    )  # unchanged: not listed
    storage.close()
    assert "No entry is due" in stale()
    storage = Storage(db)
    storage.record_source_check(official, "c" * 64, None, None, now(), changed=True)
    storage.close()
    out = stale()
    citing = {  # every entry citing that page as official and verified before today
        e.id
        for e in load_knowledge_base(kb_dir).entries
        if e.verified_on < dt.date.today()
        and any(s.url == official and s.tier.value != "news" for s in e.sources)
    }
    marked = {
        line.split()[2]
        for line in out.splitlines()
        if line.endswith("  [official source changed since verified]")
    }
    assert entry.id in marked and marked == citing, out
    assert (
        f"{len(citing)} entr{'y' if len(citing) == 1 else 'ies'} with an official source changed since verified"
        in out
    )


async def test_changes_lists_the_queue_and_its_buttons_work_for_admins_only(
    site: tuple[Site, str],
    fake_telegram: FakeTelegram,
    kb_dir: Path,
    tmp_path: Path,
    local_official: None,
) -> None:
    server, base = site
    path = local_sources(kb_dir, base)
    await queue_entry(kb_dir, tmp_path / "visabot.sqlite3", server)
    before_file = path.read_text(encoding="utf-8")
    fake = fake_telegram
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir):
        refused = await send(fake, "/changes", USER, "Not allowed")
        assert refused.text.startswith("⛔")
        before = seen(fake)
        fake.push_update(make_command("/changes", user_id=ADMIN, chat_id=DEFAULT_GROUP_ID))
        hint = (
            await fake.wait_for(
                "sendMessage", lambda c: id(c) not in before, chat_id=DEFAULT_GROUP_ID
            )
        )[-1]
        assert "only in a private chat" in hint.text and ENTRY not in hint.text

        item = await send(fake, "/changes", ADMIN, ENTRY)
        head = fake.calls("sendMessage", chat_id=ADMIN)[-2]
        assert "1 entry to re-verify" in head.text
        assert f"{base}/rule" in item.text and "changed " + dt.date.today().isoformat() in item.text
        assert [(b["text"], b["callback_data"]) for b in buttons(item)] == [
            ("✅ Mark verified", f"cv:{ENTRY}"),
            ("✏️ Edit", f"ce:{ENTRY}"),
        ]
        assert_valid_reply(item.params["text"])

        # Forged buttons from a user: refused, nothing written, no edit started.
        for data in (f"cv:{ENTRY}", f"ce:{ENTRY}"):
            answer = await press(fake, data, item, USER)
            assert "Not allowed" in answer.params["text"] and answer.params.get("show_alert")
        assert path.read_text(encoding="utf-8") == before_file

        edit = await press(fake, f"ce:{ENTRY}", item, ADMIN, expect="step 1 of 10")
        assert f"Editing {ENTRY}" in edit.text
        await send(fake, "/cancel", ADMIN, "Cancelled")

        done = await press(
            fake, f"cv:{ENTRY}", item, ADMIN, expect="marked verified", method="editMessageText"
        )
        assert (
            done.text
            == f"✅ <code>{ENTRY}</code> marked verified on {dt.date.today().isoformat()}: it leaves the queue."
        )
        assert verified_on(path) == dt.date.today().isoformat()
        after, _ = parse_entry_text(path.read_text(encoding="utf-8"), path)
        was, _ = parse_entry_text(before_file, path)
        assert after is not None and was is not None
        assert after == was.model_copy(
            update={"verified_on": dt.date.today()}
        )  # nothing else changed
        empty = await send(fake, "/changes", ADMIN, "No entry waits for review")
        assert ENTRY not in empty.text


async def test_daily_job_checks_and_tells_admins_once(
    site: tuple[Site, str],
    fake_telegram: FakeTelegram,
    kb_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    local_official: None,
) -> None:
    server, base = site
    local_sources(kb_dir, base)
    await queue_entry(kb_dir, tmp_path / "visabot.sqlite3", server)
    server.pages["/rule"] = server.pages["/rule"].replace("$250,000", "$300,000")  # changed again
    server.requests.clear()
    monkeypatch.setattr(bot.sources.daily_job, "FIRST_DELAY", dt.timedelta(0))
    fake = fake_telegram
    async with running_bot(
        fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir, VISABOT_SOURCE_WATCH="daily"
    ) as app:
        told = await fake.wait_for(
            "sendMessage", lambda c: "Source watch" in (c.text or ""), timeout=30, chat_id=ADMIN
        )
        assert len(told) == 1
        assert told[0].text == (
            f"🔎 <b>Source watch</b>: 1 entry entered the review queue: an official source changed after the entry "
            f"was verified.\n<code>{ENTRY}</code>\n\n1 in the queue now. Re-check them with /changes."
        )
        paths = [path for path, _ in server.requests]
        assert "/rule" in paths and len(paths) > 100  # every cited page, all local
        data: BotData = app.bot_data
        assert data.source_job is not None
        assert await data.source_job.run_once() == []  # still queued: not announced again
        await asyncio.sleep(0.2)
        assert (
            len(
                [
                    c
                    for c in fake.calls("sendMessage", chat_id=ADMIN)
                    if "Source watch" in (c.text or "")
                ]
            )
            == 1
        )
    # Off by default: no job, no fetch.
    server.requests.clear()
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        assert app.bot_data.source_job is None
    assert server.requests == []


async def test_a_restart_within_the_day_does_not_check_again(
    site: tuple[Site, str],
    fake_telegram: FakeTelegram,
    kb_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    local_official: None,
) -> None:
    server, base = site
    local_sources(kb_dir, base)
    storage = Storage(tmp_path / "visabot.sqlite3")
    with storage.transaction():
        storage.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                bot.sources.daily_job.LAST_RUN_KEY,
                (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(),
            ],
        )
    storage.close()
    monkeypatch.setattr(bot.sources.daily_job, "FIRST_DELAY", dt.timedelta(0))
    async with running_bot(
        fake_telegram, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir, VISABOT_SOURCE_WATCH="daily"
    ):
        await asyncio.sleep(0.5)
    assert server.requests == []
