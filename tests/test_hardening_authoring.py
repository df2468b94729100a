"""Issue 11, points 8 and 12: a bad file in entries/ cannot stop the bot, writes are validated
before they touch the disk, and the loader reads small regular files only."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from knowledge.loader import KnowledgeError, load_knowledge_base
from knowledge.model import Entry
from knowledge.writer import add_entry
from tests.bot_harness import running_bot
from tests.cli import SignalWitness, visabot, visabot_process
from tests.fake_telegram import FakeTelegram, make_private_text

USER = 777
GARBAGE = "id: [unclosed\n\x00 not yaml at all: : :\n"


def new_entry(root: Path, **changes: object) -> Entry:
    base = load_knowledge_base(root)
    entry = base.get("h1b-masters-cap")
    assert entry is not None
    values = {
        "id": "h1b-zebra-cap",
        "question": "Is there an H-1B cap for zebra keepers?",
        "related": [],
        **changes,
    }
    return Entry.model_validate({**entry.model_dump(mode="json"), **values})


# ---------------------------------------------------------------- point 8


def test_garbage_entry_file_is_skipped_and_reported_by_ask(kb_dir: Path) -> None:
    (kb_dir / "entries" / "h1b" / "garbage.yaml").write_text(GARBAGE, encoding="utf-8")
    asked = visabot(
        "ask",
        "What is the H-1B master's cap?",
        env={"VISABOT_KNOWLEDGE_DIR": str(kb_dir)},
    )
    validated = visabot("kb", "validate", env={"VISABOT_KNOWLEDGE_DIR": str(kb_dir)})
    assert asked.returncode == 0, asked.stderr
    assert "20,000" in asked.stdout
    assert "skipped:" in asked.stderr and "garbage.yaml" in asked.stderr
    assert (
        validated.returncode == 1 and "garbage.yaml" in validated.stderr
    )  # strict check still fails


def test_kb_lint_reports_the_skipped_file(few_kb_dir: Path) -> None:
    (few_kb_dir / "entries" / "h1b" / "garbage.yaml").write_text(GARBAGE, encoding="utf-8")
    linted = visabot("kb", "lint", str(few_kb_dir))
    assert (
        linted.returncode == 1 and "[invalid]" in linted.stdout and "garbage.yaml" in linted.stdout
    )


async def test_bot_starts_and_answers_with_a_garbage_entry_file(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (kb_dir / "entries" / "h1b" / "garbage.yaml").write_text(GARBAGE, encoding="utf-8")
    count = len(load_knowledge_base(kb_dir, skip_invalid=True).entries)
    async with running_bot(fake_telegram, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        fake_telegram.push_update(make_private_text("What is the H-1B master's cap?", user_id=USER))
        (reply,) = await fake_telegram.wait_for("sendMessage", chat_id=USER)
        served = len(app.bot_data.matcher.base.entries)
    assert "20,000" in (reply.text or "")
    assert served == count == len(list((kb_dir / "entries").glob("*/*.yaml"))) - 1
    assert any("garbage.yaml" in r.getMessage() for r in caplog.records)


def test_an_invalid_entry_is_refused_before_anything_is_written(
    kb_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validate first, then write: a crash can never leave an invalid file behind, because an
    invalid one is never renamed into place (the old writer wrote, then validated, then deleted)."""
    renames: list[str] = []
    real_replace = os.replace

    def recording_replace(src: str, dst: str) -> None:
        renames.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    before = sorted(p.name for p in (kb_dir / "entries" / "h1b").iterdir())
    with pytest.raises(KnowledgeError) as info:
        add_entry(kb_dir, new_entry(kb_dir, related=["no-such-entry"]))
    assert "no-such-entry" in str(info.value)
    assert renames == []
    assert (
        sorted(p.name for p in (kb_dir / "entries" / "h1b").iterdir()) == before
    )  # no temp file either


# ---------------------------------------------------------------- point 12


def test_entry_files_honor_the_umask(kb_dir: Path) -> None:
    old = os.umask(0o022)
    try:
        add_entry(kb_dir, new_entry(kb_dir))
    finally:
        os.umask(old)
    mode = stat.S_IMODE((kb_dir / "entries" / "h1b" / "h1b-zebra-cap.yaml").stat().st_mode)
    assert mode == 0o644


def test_symlink_fifo_and_huge_file_are_skipped_quickly(kb_dir: Path) -> None:
    folder = kb_dir / "entries" / "h1b"
    (folder / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(folder / "pipe.yaml")  # nobody writes to it: reading would block forever
    (folder / "huge.yaml").write_bytes(b"# " + b"x" * (1024 * 1024))
    result: list[object] = []
    loading = threading.Thread(
        target=lambda: result.append(load_knowledge_base(kb_dir, skip_invalid=True)), daemon=True
    )
    started = time.monotonic()
    loading.start()
    loading.join(timeout=20)
    assert not loading.is_alive(), "loading hung on a special file"
    assert time.monotonic() - started < 10
    (base,) = result
    reported = {p.path.name: p.message for p in base.skipped}  # type: ignore[attr-defined]
    assert set(reported) == {"zero.yaml", "pipe.yaml", "huge.yaml"}
    assert "symbolic link" in reported["zero.yaml"]
    assert "not a regular file" in reported["pipe.yaml"]
    assert "limit" in reported["huge.yaml"]
    with pytest.raises(KnowledgeError):  # the strict load (kb validate) refuses them too
        load_knowledge_base(kb_dir)


@pytest.mark.parametrize("folder", ["entries/h1b", "zh"])
def test_kb_lint_skips_a_fifo_among_entries_and_translations(few_kb_dir: Path, folder: str) -> None:
    # Lint re-reads the entries itself when the strict load fails, and every load reads the
    # Chinese texts: both used read_text, which blocks on a FIFO that nobody writes to.
    (few_kb_dir / folder).mkdir(exist_ok=True)
    os.mkfifo(few_kb_dir / folder / "pipe.yaml")
    linted = visabot_process(
        "kb", "lint", str(few_kb_dir)
    )  # hung (a subprocess: a regression times out)
    assert "Traceback" not in linted.stderr
    assert linted.stdout.rstrip().endswith("warning(s).")
    if folder != "zh":  # an unreadable translation only leaves its entry untranslated (a warning)
        assert "pipe.yaml" in linted.stdout and "not a regular file" in linted.stdout


# ---------------------------------------------------------------- point 11


async def test_telegram_save_runs_lint_checks_and_blocks_the_issue_11_entry(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    """The entry from the issue: official status, a news source, a wrong fact worded like an
    existing entry's phrasings. `kb lint` would report the conflict: Save must refuse it."""
    from tests.test_telegram_maintainers import ADMIN, buttons, nonce_of, press, send, snapshot

    fake = fake_telegram
    files = snapshot(kb_dir)
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        replies = {}
        for status in ("official", "reported"):  # as in the issue, then with an honest label
            await send(fake, "/add", ADMIN, "step 1 of 10")
            await send(fake, "Is the $100,000 H-1B fee charged every year?", ADMIN, "step 2 of 10")
            alternates = [
                "is the h1b fee yearly",
                "h1b 100k fee every year",
                "annual h1b 100000 fee",
                "done",
            ]
            await send(fake, "\n".join(alternates), ADMIN, "step 3 of 10")
            await send(fake, "Yes, every year.", ADMIN, "step 4 of 10")
            await send(fake, "none", ADMIN, "step 5 of 10")
            topics = await send(
                fake,
                "Fee news | Example News | https://www.visaverge.com/fee | 2026-11-01 | news\ndone",
                ADMIN,
                "step 6 of 10",
            )
            statuses = await press(
                fake, f"et:{nonce_of(topics)}:h1b", topics, ADMIN, expect="step 7 of 10"
            )
            if status == "official":  # the model itself refuses an Official badge on a news source
                replies[status] = await press(
                    fake, f"es:{nonce_of(statuses)}:official", statuses, ADMIN, expect="not valid"
                )
                await send(fake, "/cancel", ADMIN, "ancel")
                continue
            await press(
                fake, f"es:{nonce_of(statuses)}:reported", statuses, ADMIN, expect="step 8 of 10"
            )
            await send(fake, "每年都要交10万美元的 H-1B 费用吗？", ADMIN, "step 9 of 10")
            summary = await send(fake, "是的，每年都要交。", ADMIN, "Preview")
            replies[status] = await press(
                fake, f"ev:{nonce_of(summary)}", summary, ADMIN, expect="Not saved"
            )
        still = await send(fake, "is the h1b fee yearly", USER)
        served = len(app.bot_data.matcher.base.entries)
    assert snapshot(kb_dir) == files and served == len(files)
    assert "official" in replies["official"].text
    refused = replies["reported"]
    assert "nothing was written" in refused.text and "[conflict]" in refused.text
    assert "h1b-100k-one-time" in refused.text  # the entry whose phrasing it would take
    assert [b["text"] for b in buttons(refused)] == ["Cancel"]
    assert "Yes, every year" not in still.text


def test_kb_remove_asks_then_deletes_the_file(kb_dir: Path, tmp_path: Path) -> None:
    env = {
        "VISABOT_KNOWLEDGE_DIR": str(kb_dir),
        "VISABOT_DB_PATH": str(tmp_path / "db" / "v.sqlite3"),
    }
    path = kb_dir / "entries" / "h1b" / "h1b-masters-cap.yaml"
    declined = visabot("kb", "remove", "h1b-masters-cap", stdin="n\n", env=env)
    assert declined.returncode == 1 and path.exists()
    unknown = visabot("kb", "remove", "h1b-no-such", "--yes", env=env)
    assert unknown.returncode == 1 and "No entry 'h1b-no-such'" in unknown.stderr
    removed = visabot("kb", "remove", "h1b-masters-cap", "--yes", env=env)
    assert removed.returncode == 0, removed.stderr
    assert not path.exists() and "Removed h1b-masters-cap" in removed.stdout
    assert "Nothing to reload: no bot is running" in removed.stdout
    asked = visabot("ask", "what is the h1b master's cap?", "--json", env=env)
    assert '"id": "h1b-masters-cap"' not in asked.stdout


async def test_telegram_delete_asks_then_removes_and_reloads(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    from tests.test_telegram_maintainers import ADMIN, buttons, press, send

    fake = fake_telegram
    path = kb_dir / "entries" / "h1b" / "h1b-masters-cap.yaml"
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        refused = await send(fake, "/delete h1b-masters-cap", USER, "")
        forged = await press(fake, "ed:h1b-masters-cap", None, USER)
        unknown = await send(fake, "/delete h1b-no-such", ADMIN, "No entry")
        ask = await send(fake, "/delete h1b-masters-cap", ADMIN, "Delete")
        kept = await press(fake, "edx", ask, ADMIN, expect="Not deleted", method="editMessageText")
        assert path.exists()
        ask = await send(fake, "/delete h1b-masters-cap", ADMIN, "Delete")
        done = await press(
            fake, "ed:h1b-masters-cap", ask, ADMIN, expect="Deleted", method="editMessageText"
        )
        served = app.bot_data.matcher.base.get("h1b-masters-cap")
    assert (
        "not" in refused.text.lower() and forged.params.get("show_alert") and path.exists() is False
    )
    assert "h1b-no-such" in unknown.text
    assert [b["text"] for b in buttons(ask)] == ["🗑 Delete", "Cancel"]
    assert "Not deleted" in (kept.text or "")
    assert served is None and "h1b-masters-cap" in (done.text or "")


# ---------------------------------------------------------------- point 12: processes


def test_a_second_bot_on_the_same_database_is_refused(kb_dir: Path, tmp_path: Path) -> None:
    import fcntl

    from bot.runtime.runner import PID_FILE_NAME, instance_lock_path
    from tests.bot_harness import TOKEN

    db = tmp_path / "data" / "visabot.sqlite3"
    db.parent.mkdir()
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "VISABOT_DB_PATH": str(db),
        "VISABOT_KNOWLEDGE_DIR": str(kb_dir),
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
    }
    (db.parent / PID_FILE_NAME).write_text("12345")  # the first bot's
    with open(instance_lock_path(db), "ab") as first:  # held as the first bot holds it
        fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
        second = visabot("run", env=env)
    assert second.returncode == 2
    assert (
        "Another visabot is already running" in second.stderr and "Traceback" not in second.stderr
    )
    assert TOKEN not in second.stderr + second.stdout
    assert (db.parent / PID_FILE_NAME).read_text() == "12345"  # not overwritten, not deleted


def test_kb_reload_reports_a_stale_pid_file_and_signals_nothing(
    kb_dir: Path, tmp_path: Path
) -> None:
    """After a SIGKILL the pid file stays; its pid may name another process, even one whose command
    line says visabot. Without the instance lock held, it is stale: reported, not signalled."""
    from bot.runtime.runner import PID_FILE_NAME

    db = tmp_path / "data" / "visabot.sqlite3"
    db.parent.mkdir()
    with SignalWitness("visabot") as other:
        (db.parent / PID_FILE_NAME).write_text(str(other.pid))
        out = visabot(
            "kb", "reload", env={"VISABOT_DB_PATH": str(db), "VISABOT_KNOWLEDGE_DIR": str(kb_dir)}
        )
        assert other.hangups() == 0
    assert out.returncode == 0, out.stderr
    assert "stale pid file" in out.stdout and "not signalled" in out.stdout
