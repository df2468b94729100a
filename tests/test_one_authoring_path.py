"""Issue 14.2: `visabot kb add` and Telegram's /add author entries through one pure module
(knowledge/authoring.py), so the same answers give the same entry whichever wizard is used.

They used to disagree: the CLI joined answer lines with spaces where Telegram kept them as
typed, and the CLI proposed re-checking after 90 days whatever the status, Telegram by status.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import main
from bot.storage import MAX_LOGGED_QUESTION_CHARS
from knowledge.authoring import MAX_ALTERNATE_CHARS, clean_answer, review_days, slug_for
from knowledge.loader import load_knowledge_base
from knowledge.model import Status, Topic
from tests.bot_harness import running_bot
from tests.fake_telegram import FakeTelegram
from tests.test_telegram_maintainers import ADMIN, ZEBRA, ZEBRA_ALTERNATES, nonce_of, press, send

ANSWER_LINES = ["No. The K visa covers the holder only;", "zebras need a separate import permit."]
CAVEAT = "Zoos may have their own rules."
ZH = (
    "K字签证持有人可以带宠物斑马去中国吗？",
    "不可以。K字签证只适用于持有人本人；斑马需要单独的进口许可。",
    "动物园可能有自己的规定。",
)
SOURCE = (
    "Import of exotic animals",
    "Example Customs",
    "https://www.visaverge.com/zebra",
    "2026-11-01",
)


def test_answer_lines_join_and_paragraphs_stay() -> None:
    assert clean_answer(["One", "  two. ", "", "", "Three."]) == "One two.\n\nThree."
    with pytest.raises(ValueError, match="901 characters"):
        clean_answer(["x" * 901])
    assert (
        MAX_ALTERNATE_CHARS >= MAX_LOGGED_QUESTION_CHARS
    )  # an unanswered question can be attached


def _cli_add(
    kb: Path, db: Path, entry_id: str, today: dt.date, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(db.parent)  # no developer's .env is read
    for name in ("VISABOT_ADMIN_IDS", "TELEGRAM_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    answers = [
        entry_id,
        "k-visa",
        ZEBRA,
        *ZEBRA_ALTERNATES,
        "",
        *ANSWER_LINES,
        "",
        CAVEAT,
        "",
        "reported",
        *SOURCE,
        "y",
        "news",
        "",  # one source (approximate date), then the list ends
        "",  # as of: the default, the newest source's date, which Telegram takes too
        "",  # verified on: today (the default)
        "",  # re-check after: the default for its status
        "",  # no related entries
        ZH[0],
        ZH[1],
        "",
        ZH[2],  # the Chinese question, answer (then an empty line), caveat
        "y",
    ]
    result = CliRunner().invoke(
        main,
        ["kb", "add"],
        input="\n".join(answers) + "\n",
        env={"VISABOT_KNOWLEDGE_DIR": str(kb), "VISABOT_DB_PATH": str(db)},
    )
    assert result.exit_code == 0, result.output


async def _telegram_add(fake: FakeTelegram, tmp_path: Path, kb: Path) -> None:
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb):
        await send(fake, "/add", ADMIN, "step 1 of 10")
        await send(fake, ZEBRA, ADMIN, "step 2 of 10")
        await send(fake, "\n".join([*ZEBRA_ALTERNATES, "done"]), ADMIN, "step 3 of 10")
        await send(fake, "\n".join(ANSWER_LINES), ADMIN, "step 4 of 10")
        await send(fake, f"{CAVEAT}\ndone", ADMIN, "step 5 of 10")
        title, publisher, url, date = SOURCE
        topics = await send(
            fake, f"{title} | {publisher} | {url} | c. {date} | news\ndone", ADMIN, "step 6 of 10"
        )
        statuses = await press(
            fake, f"et:{nonce_of(topics)}:k-visa", topics, ADMIN, expect="step 7 of 10"
        )
        await press(
            fake, f"es:{nonce_of(statuses)}:reported", statuses, ADMIN, expect="step 8 of 10"
        )
        await send(fake, ZH[0], ADMIN, "step 9 of 10")
        await send(fake, ZH[1], ADMIN, "step 10 of 10")
        summary = await send(fake, ZH[2], ADMIN, "Preview")
        warned = await press(
            fake, f"ev:{nonce_of(summary)}", summary, ADMIN, expect="Not saved yet"
        )
        await press(fake, f"ew:{nonce_of(summary)}", warned, ADMIN, expect="Saved")


async def test_cli_and_telegram_write_the_same_entry_from_the_same_answers(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = dt.date.today()
    entry_id = slug_for(ZEBRA, Topic.K_VISA)
    cli_kb = tmp_path / "cli" / "kb"
    shutil.copytree(kb_dir, cli_kb)
    _cli_add(cli_kb, tmp_path / "cli" / "visabot.sqlite3", entry_id, today, monkeypatch)
    await _telegram_add(fake_telegram, tmp_path, kb_dir)
    by_cli = load_knowledge_base(cli_kb).get(entry_id)
    by_telegram = load_knowledge_base(kb_dir).get(entry_id)
    assert by_cli is not None and by_telegram is not None
    assert by_cli == by_telegram
    assert by_cli.answer == " ".join(ANSWER_LINES) and by_cli.review_after_days == review_days(
        Status.REPORTED
    )
    for path in (f"entries/k-visa/{entry_id}.yaml", f"zh/{entry_id}.yaml"):  # both languages, alike
        assert (cli_kb / path).read_bytes() == (kb_dir / path).read_bytes()
