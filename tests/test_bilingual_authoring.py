"""Issue 13 point 5: /add, /edit and `visabot kb add` take both languages, and nothing is
published without the Chinese.

Before, the authoring paths wrote only the English entry: a new entry then failed `kb lint` as
untranslated, and an /edit of the English left its Chinese out of step, with no way to fix it
from Telegram. Now the Chinese (knowledge/zh/<id>.yaml) is written with the entry, in the same
locked step, with the fingerprint of the English it translates.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from knowledge.bilingual import ChineseParts, Untranslated, check_entry, fingerprint, translation
from knowledge.caveats import shipped_caveats
from knowledge.lint import bilingual
from knowledge.loader import KnowledgeBase, load_knowledge_base
from knowledge.writer import chinese_on_disk, remove_entry, update_entry, zh_path
from tests.bot_harness import running_bot
from tests.cli import visabot
from tests.fake_telegram import FakeTelegram
from tests.test_cli_kb import PANDA_ZH, ZH_QUESTION, new_entry
from tests.test_telegram_maintainers import (
    ADMIN,
    USER,
    ZEBRA,
    ZEBRA_ALTERNATES,
    ZEBRA_SOURCE,
    ZEBRA_ZH,
    assert_all_payloads_valid,
    nonce_of,
    press,
    save,
    send,
    snapshot,
)

ZEBRA_ID = "k-visa-holder-bring-pet-zebra-china"
ASKED_IN_CHINESE = "K字签证能带宠物斑马吗"  # one of its alternates
ANSWER = "No. A zebra needs an import permit, which costs $500."
ZH_WRONG = "不可以。斑马需要进口许可，费用为600美元。"
ZH_ANSWER = "不可以。斑马需要进口许可，费用为500美元。"


# ---------------------------------------------------------------- knowledge: the check Save uses


def test_a_new_entry_needs_its_chinese_question_answer_and_caveats() -> None:
    entry, shared = new_entry(), shipped_caveats()
    with pytest.raises(Untranslated, match="Chinese question is missing"):
        translation(entry, ChineseParts(), shared)
    with pytest.raises(Untranslated, match="Chinese caveats is missing"):
        translation(entry, ChineseParts(ZEBRA_ZH, "测试。"), shared)
    with pytest.raises(Untranslated, match="1 English caveats but 2 Chinese"):
        translation(entry, ChineseParts(ZEBRA_ZH, "测试。", ["一", "二"]), shared)
    with pytest.raises(
        Untranslated, match=r"numbers differ: only in English \[\], only in Chinese \['2026'\]"
    ):
        translation(entry, ChineseParts(ZEBRA_ZH, "测试，2026年。", ["一"]), shared)
    zh = translation(entry, ChineseParts(ZEBRA_ZH, "测试。", ["一"]), shared)
    assert zh.translates == fingerprint(entry) and check_entry(entry, zh, shared) == []


def test_shared_caveats_are_filled_in_or_cited_and_must_stay_at_their_place() -> None:
    shared = shipped_caveats()
    cited = shared["k-visa-sources-end"]
    entry = new_entry(caveats=[cited.en])
    assert translation(entry, ChineseParts(ZEBRA_ZH, "测试。"), shared).caveats == [
        cited.zh
    ]  # filled in
    assert translation(
        entry, ChineseParts(ZEBRA_ZH, "测试。", [{"ref": "k-visa-sources-end"}]), shared
    ).caveats == [cited.zh]
    two = new_entry(caveats=["Test data.", cited.en])
    with pytest.raises(
        Untranslated, match="shared caveat 'k-visa-sources-end', the English one is not"
    ):
        translation(two, ChineseParts(ZEBRA_ZH, "测试。", [cited.zh, "测试数据。"]), shared)


def test_an_edit_keeps_a_chinese_part_only_while_its_english_is_unchanged(
    shipped_kb: KnowledgeBase,
) -> None:
    original = shipped_kb.by_id["h1b-masters-cap"]
    before = shipped_kb.chinese["h1b-masters-cap"]
    shared = shipped_kb.shared
    more = original.model_copy(update={"alternates": [*original.alternates, "masters cap odds"]})
    assert (
        translation(more, ChineseParts(), shared, original, before) == before
    )  # nothing to translate
    edited = original.model_copy(update={"answer": "The master's cap adds 20,000 registrations."})
    with pytest.raises(Untranslated, match="Chinese answer is missing \\(its English changed"):
        translation(edited, ChineseParts(), shared, original, before)
    zh = translation(
        edited, ChineseParts(answer="硕士名额增加2万个注册名额。"), shared, original, before
    )
    assert (zh.question, zh.caveats, zh.translates) == (
        before.question,
        before.caveats,
        fingerprint(edited),
    )
    # A Chinese already out of step (the English changed earlier) cannot be kept, even in part.
    stale = before.model_copy(update={"translates": "0" * 12})
    with pytest.raises(Untranslated, match="Chinese question is missing"):
        translation(more, ChineseParts(), shared, original, stale)


def test_the_writer_writes_the_chinese_with_the_entry_and_removes_it_with_it(kb_dir: Path) -> None:
    base = load_knowledge_base(kb_dir)
    original, before = base.by_id["h1b-masters-cap"], base.chinese["h1b-masters-cap"]
    path = zh_path(kb_dir, original.id)
    by_hand = "# Translated by hand.\n" + path.read_text(encoding="utf-8")
    path.write_text(by_hand, encoding="utf-8")
    more = original.model_copy(update={"alternates": [*original.alternates, "masters cap odds"]})
    update_entry(kb_dir, more, translation(more, ChineseParts(), base.shared, original, before))
    assert (
        path.read_text(encoding="utf-8") == by_hand
    )  # unchanged Chinese: the file is not rewritten
    edited = more.model_copy(update={"answer": "The master's cap adds 20,000 registrations."})
    zh = translation(
        edited, ChineseParts(answer="硕士名额增加2万个注册名额。"), base.shared, more, before
    )
    served = update_entry(kb_dir, edited, zh)
    assert chinese_on_disk(kb_dir, edited.id) == zh == served.chinese[edited.id]
    assert [f for f in bilingual(served) if f.entry_id == edited.id] == []
    remove_entry(kb_dir, edited.id)
    assert not path.exists()


# ---------------------------------------------------------------- Telegram


async def test_add_with_chinese_saves_both_and_a_chinese_question_gets_the_chinese_answer(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    files = snapshot(kb_dir)
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        await send(fake, "/add", ADMIN, "step 1 of 10")
        await send(fake, ZEBRA, ADMIN, "step 2 of 10")
        await send(
            fake, "\n".join([*ZEBRA_ALTERNATES, ASKED_IN_CHINESE, "done"]), ADMIN, "step 3 of 10"
        )
        await send(fake, ANSWER, ADMIN, "step 4 of 10")
        await send(fake, "none", ADMIN, "step 5 of 10")
        topics = await send(fake, ZEBRA_SOURCE + "\ndone", ADMIN, "step 6 of 10")
        statuses = await press(
            fake, f"et:{nonce_of(topics)}:k-visa", topics, ADMIN, expect="step 7 of 10"
        )
        first_zh = await press(
            fake, f"es:{nonce_of(statuses)}:reported", statuses, ADMIN, expect="step 8 of 10"
        )
        no_keep = await send(fake, "keep", ADMIN, "no Chinese question to keep")
        # The Chinese may wait for the first draft; Save then refuses and asks for it.
        later = await send(fake, "later", ADMIN, "Preview")
        refused = await press(fake, f"ev:{nonce_of(later)}", later, ADMIN, expect="Not saved")
        assert snapshot(kb_dir) == files and not zh_path(kb_dir, ZEBRA_ID).exists()
        await send(fake, ZEBRA_ZH, ADMIN, "step 9 of 10")
        wrong = await send(fake, ZH_WRONG, ADMIN, "Preview")  # no caveats: no step 10
        numbers = await press(fake, f"ev:{nonce_of(wrong)}", wrong, ADMIN, expect="Not saved")
        await send(fake, "keep", ADMIN, "step 9 of 10")  # the question typed before is kept
        summary = await send(fake, ZH_ANSWER, ADMIN, "Preview")
        saved = await save(fake, summary)
        base = app.bot_data.matcher.base
        asked = await send(fake, ASKED_IN_CHINESE, USER)
    assert ZEBRA in first_zh.text and "中文" in first_zh.text and "later" in first_zh.text
    assert "its English is new or changed" in no_keep.text
    assert "not ready" in later.text and "Save asks for it" in later.text
    assert "nothing was written" in refused.text and "Chinese question is missing" in refused.text
    assert "step 8 of 10" in refused.text  # back at the Chinese steps, the draft kept
    assert (
        "numbers differ" in numbers.text
        and "600" in numbers.text
        and "step 8 of 10" in numbers.text
    )
    assert ZEBRA_ID in saved.text
    # Saved in both languages, the Chinese in step with the English: `kb lint` has nothing to say.
    entry, zh = base.by_id[ZEBRA_ID], base.chinese[ZEBRA_ID]
    assert (zh.question, zh.answer, zh.translates) == (ZEBRA_ZH, ZH_ANSWER, fingerprint(entry))
    assert load_knowledge_base(kb_dir).chinese[ZEBRA_ID] == zh
    assert [f for f in bilingual(base) if f.entry_id == ZEBRA_ID] == []
    assert (
        yaml.safe_load(zh_path(kb_dir, ZEBRA_ID).read_text(encoding="utf-8"))["answer"] == ZH_ANSWER
    )
    assert ZH_ANSWER in asked.text and ANSWER not in asked.text
    assert_all_payloads_valid(fake)


async def test_edit_of_a_caveat_needs_its_chinese_and_shows_the_current_one(
    fake_telegram: FakeTelegram, tmp_path: Path, kb_dir: Path
) -> None:
    fake = fake_telegram
    before = chinese_on_disk(kb_dir, "h1b-masters-cap")
    assert before is not None
    async with running_bot(fake, tmp_path, VISABOT_KNOWLEDGE_DIR=kb_dir) as app:
        await send(fake, "/edit h1b-masters-cap", ADMIN, "step 1 of 10")
        for step in range(2, 4):
            await send(fake, "keep", ADMIN, f"step {step} of 10")
        await send(fake, "keep", ADMIN, "step 4 of 10")
        await send(fake, "Cap-exempt employers do not use either cap.\ndone", ADMIN, "step 5 of 10")
        topics = await send(fake, "keep", ADMIN, "step 6 of 10")
        statuses = await press(
            fake, f"et:{nonce_of(topics)}:h1b", topics, ADMIN, expect="step 7 of 10"
        )
        question = await press(
            fake, f"es:{nonce_of(statuses)}:reported", statuses, ADMIN, expect="step 8 of 10"
        )
        answer = await send(fake, "keep", ADMIN, "step 9 of 10")
        caveats = await send(fake, "keep", ADMIN, "step 10 of 10")
        no_keep = await send(fake, "keep", ADMIN, "no Chinese caveats to keep")
        summary = await send(fake, "免名额雇主不使用这两类名额。", ADMIN, "Preview")
        await save(fake, summary, expect="Updated")
        served = app.bot_data.matcher.base
    assert before.question in question.text and "<code>keep</code>" in question.text
    assert before.answer in answer.text and "<code>keep</code>" in answer.text
    # Its English changed: the current Chinese is shown for reference, without "keep".
    assert (
        before.caveats[2] in caveats.text
        and "write it anew" in caveats.text
        and "<code>keep</code>" not in caveats.text
    )
    assert "Cap-exempt employers do not use either cap." in caveats.text  # the English to translate
    assert "its English is new or changed" in no_keep.text
    zh = served.chinese["h1b-masters-cap"]
    assert zh.caveats == ["免名额雇主不使用这两类名额。"] and (zh.question, zh.answer) == (
        before.question,
        before.answer,
    )
    assert [f for f in bilingual(served) if f.entry_id == "h1b-masters-cap"] == []
    assert_all_payloads_valid(fake)


# ---------------------------------------------------------------- visabot kb add


def _env(tmp_path: Path, kb_dir: Path) -> dict[str, str]:
    return {
        "VISABOT_KNOWLEDGE_DIR": str(kb_dir),
        "VISABOT_DB_PATH": str(tmp_path / "db" / "v.sqlite3"),
    }


def test_kb_add_from_file_needs_the_chinese_file_and_writes_both(
    tmp_path: Path, kb_dir: Path
) -> None:
    from knowledge.writer import entry_to_yaml

    env = _env(tmp_path, kb_dir)
    cited = shipped_caveats()["k-visa-sources-end"]
    entry = new_entry(caveats=["Test data.", cited.en])
    source = tmp_path / "panda.yaml"
    source.write_text(entry_to_yaml(entry), encoding="utf-8")
    alone = visabot("kb", "add", "--from-file", str(source), env=env)
    assert (
        alone.returncode == 1
        and "--zh-file" in alone.stderr
        and "Nothing was written" in alone.stderr
    )
    zh_file = tmp_path / "panda.zh.yaml"
    zh_file.write_text(
        yaml.safe_dump({**PANDA_ZH, "answer": "测试，2026年。"}, allow_unicode=True),
        encoding="utf-8",
    )
    numbers = visabot("kb", "add", "--from-file", str(source), "--zh-file", str(zh_file), env=env)
    assert numbers.returncode == 1 and "numbers differ" in numbers.stderr
    assert (
        not (kb_dir / "entries" / "k-visa" / "k-visa-panda.yaml").exists()
        and not zh_path(kb_dir, "k-visa-panda").exists()
    )
    zh_file.write_text(
        yaml.safe_dump(
            {**PANDA_ZH, "caveats": ["测试数据。", {"ref": "k-visa-sources-end"}]},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    added = visabot("kb", "add", "--from-file", str(source), "--zh-file", str(zh_file), env=env)
    assert added.returncode == 0, added.stderr
    base = load_knowledge_base(kb_dir)
    assert base.chinese["k-visa-panda"].caveats == ["测试数据。", cited.zh]
    assert "- ref: k-visa-sources-end" in zh_path(kb_dir, "k-visa-panda").read_text(
        encoding="utf-8"
    )
    assert [f for f in bilingual(base) if f.entry_id == "k-visa-panda"] == []
    shown = visabot("kb", "show", "k-visa-panda", "--lang", "zh", env=env)
    assert ZH_QUESTION in shown.stdout


def test_kb_add_interactive_asks_the_chinese_again_until_it_fits(
    tmp_path: Path, kb_dir: Path
) -> None:
    from tests.test_cli_kb import INTERACTIVE, ZH_QUESTION, lines
    from tests.test_cli_kb import ZH_ANSWER as PANDA_ANSWER

    english = INTERACTIVE[: INTERACTIVE.index(ZH_QUESTION)]
    wrong = [ZH_QUESTION, "测试，2026年。", "", "测试数据。"]
    right = [ZH_QUESTION, PANDA_ANSWER, "", "测试数据。"]
    out = visabot(
        "kb", "add", stdin=lines(*english, *wrong, *right, "y"), env=_env(tmp_path, kb_dir)
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "numbers differ" in out.stderr and "Type the Chinese again" in out.stderr
    assert "English caveat 1: Test data." in out.stdout
    zh = chinese_on_disk(kb_dir, "k-visa-panda")
    assert (
        zh is not None and zh.answer == PANDA_ANSWER and zh.translates == fingerprint(new_entry())
    )
    assert (
        zh_path(kb_dir, "k-visa-panda").read_text(encoding="utf-8") in out.stdout
    )  # shown before the confirmation
