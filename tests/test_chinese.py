"""Answers in Chinese for questions asked in Chinese: the language choice, the number check, /language."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.i18n import Lang, choose, detect, entry_text
from bot.replies.html_check import visible_text
from knowledge.bilingual import (
    ChineseText,
    check_entry,
    chinese_numbers,
    english_numbers,
    fingerprint,
)
from knowledge.loader import KnowledgeBase
from tests.bot_harness import assert_valid_reply, clean_env, running_bot
from tests.fake_telegram import (
    FakeTelegram,
    make_callback_query,
    make_command,
    make_inline_query,
    make_private_text,
)
from tests.test_telegram_chat import USER, buttons

UNTRANSLATED_AT_MOST = 0  # every entry has both languages; kb lint fails otherwise


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("K字签证有年龄限制吗", Lang.ZH),
        ("K字簽證有年齡限制嗎", Lang.ZH_HANT),
        ("h1b 10万美元每年交吗", Lang.ZH),
        ("what does 青年 mean for the K visa age limit?", Lang.EN),  # one Chinese word in English
        ("h1b 100k anual?", Lang.EN),
        ("H-1Bビザの申請費用はいくらですか", Lang.EN),  # Japanese: kana among the Han characters
    ],
)
def test_the_questions_script_picks_the_reply_language(text: str, lang: Lang) -> None:
    assert detect(text) is lang


def test_a_stored_choice_beats_the_script() -> None:
    assert choose("en", "K字签证是什么") is Lang.EN
    assert choose("zh", "what is the k visa") is Lang.ZH
    assert choose("zh", "K字簽證是什麼") is Lang.ZH_HANT  # still in the script the user reads
    assert choose(None, "K字签证是什么") is Lang.ZH
    # No text to go by (/start): the Telegram app's language; a typed question's script wins.
    assert choose(None, "", "zh-hans") is Lang.ZH and choose(None, "", "zh-TW") is Lang.ZH_HANT
    assert choose(None, "", "en") is Lang.EN and choose(None, "h1b cap?", "zh-hans") is Lang.EN


def test_numbers_amounts_and_dates_read_alike_in_both_languages() -> None:
    english = "On 19 Sep 2025 the $100,000 payment began, for 12 months; about 211,600 (38.5%) by May 2026. H-1B, I-94."
    chinese = "2025年9月19日起收取10万美元，为期12个月；到2026年5月约21.16万（38.5%）。H-1B、I-94。"
    assert (
        english_numbers(english)
        == chinese_numbers(chinese)
        == {"2025-09-19", "100000", "12", "211600", "38.5", "2026-05"}
    )
    assert chinese_numbers("2025年9月21日收取100,000美元") == {"2025-09-21", "100000"}
    assert english_numbers("$74 million, CA$1.7 billion, approved H-1Bs") == chinese_numbers(
        "7400万美元、17亿加元、H-1Bs"
    )
    assert (
        chinese_numbers("和H-1B相比，I-140获批后") == set()
    )  # names touching Chinese characters are names


def test_the_lint_catches_a_changed_number_and_an_out_of_step_translation(
    shipped_kb: KnowledgeBase,
) -> None:
    entry = shipped_kb.by_id["k-visa-age-limit"]
    zh = shipped_kb.chinese["k-visa-age-limit"]
    assert check_entry(entry, zh) == []
    wrong_date = zh.model_copy(
        update={"answer": zh.answer.replace("2025年8月14日", "2025年8月15日")}
    )
    assert [p.message for p in check_entry(entry, wrong_date)] == [
        "numbers differ: only in English ['2025-08-14'], only in Chinese ['2025-08-15']"
    ]
    edited = entry.model_copy(update={"answer": entry.answer + " New fact."})
    assert any("English changed" in p.message for p in check_entry(edited, zh))
    assert "no Chinese text" in check_entry(entry, None)[0].message
    # An out-of-step translation is never shown: the reply falls back to the English.
    assert entry_text(edited, Lang.ZH, shipped_kb.chinese).lang is Lang.EN
    assert entry_text(entry, Lang.ZH, shipped_kb.chinese).question == zh.question


def test_translation_fingerprint_covers_question_answer_and_caveats(
    shipped_kb: KnowledgeBase,
) -> None:
    entry = shipped_kb.by_id["k-visa-age-limit"]
    changed = [
        entry.model_copy(update={field: value})
        for field, value in (("question", "x?"), ("answer", "x"), ("caveats", ["x"]))
    ]
    assert len({fingerprint(entry), *(fingerprint(c) for c in changed)}) == 4
    assert ChineseText.model_fields["translates"].metadata  # the pattern is enforced by the model


async def test_a_chinese_question_gets_a_chinese_reply_and_language_is_a_stored_choice(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        fake_telegram.push_update(make_private_text("K字签证有年龄限制吗"))
        (simplified,) = await fake_telegram.wait_for("sendMessage", chat_id=USER, count=1)
        fake_telegram.push_update(make_private_text("K字簽證有年齡限制嗎"))
        traditional = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=2))[-1]
        fake_telegram.push_update(make_command("/language"))
        menu = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=3))[-1]
        fake_telegram.push_update(make_callback_query("lang:en", message=menu.result))
        ticked = (await fake_telegram.wait_for("editMessageText", count=1))[-1]
        fake_telegram.push_update(make_private_text("K字签证有年龄限制吗"))
        english = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=4))[-1]
        stored = app.bot_data.db.language(USER)
        fake_telegram.push_update(make_command("/forget"))
        await fake_telegram.wait_for("sendMessage", chat_id=USER, count=5)
        await fake_telegram.wait_for_updates_delivered()
        forgotten = app.bot_data.db.language(USER)
    zh = app.bot_data.matcher.base.chinese["k-visa-age-limit"]
    assert simplified.text.startswith(f"<b>{zh.question}</b>") and "✅" not in simplified.text
    assert "截至" in simplified.text and "不构成法律意见" in simplified.text
    labels = [b["text"] for b in buttons(simplified)]
    assert "📚 来源" in labels and "👍 有帮助" in labels
    # Apart from names, amounts and dates, the visible text is Chinese.
    visible = visible_text(simplified.text)
    assert sum(c.isascii() and c.isalpha() for c in visible) < 0.05 * len(visible)
    assert (
        "簽證" in traditional.text and "年齡" in traditional.text and "签证" not in traditional.text
    )
    assert "✅ English" in str(ticked.params["reply_markup"]) and stored == "en"
    assert english.text.startswith("<b>Is there an age limit")
    assert forgotten is None
    for call in (simplified, traditional, english):
        assert_valid_reply(call.text)


async def test_start_and_help_follow_a_chinese_language_app(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path):
        # One at a time: updates are handled concurrently, so two replies may come in either order.
        fake_telegram.push_update(make_command("/start", language_code="zh-hans"))
        (welcome,) = await fake_telegram.wait_for("sendMessage", chat_id=USER, count=1)
        fake_telegram.push_update(
            make_command("/help", language_code="zh-hans")
        )  # after: replies may interleave
        help_reply = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=2))[-1]
        fake_telegram.push_update(make_command("/start", language_code="en"))
        english = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=3))[-1]
    assert "你好，我是 visabot" in welcome.text and [b["text"] for b in buttons(welcome)] == [
        "📂 按主题浏览",
        "🔔 订阅政策更新",
    ]
    assert "如何使用 visabot" in help_reply.text and "/language — 回复语言" in help_reply.text
    assert "Hi, I'm visabot" in english.text
    for call in (welcome, help_reply):
        assert_valid_reply(call.text)


async def test_inline_mode_answers_a_chinese_query_in_chinese(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as app:
        fake_telegram.push_update(make_inline_query("K字签证有年龄限制吗"))
        (call,) = await fake_telegram.wait_for("answerInlineQuery", count=1)
    zh = app.bot_data.matcher.base.chinese["k-visa-age-limit"]
    first = call.params["results"][0]
    assert first["id"] == "k-visa-age-limit" and first["title"] == zh.question
    assert first["input_message_content"]["message_text"].startswith(f"<b>{zh.question}</b>")
    assert (
        call.params["button"]["text"] == "在私聊中向我提问" and call.params["is_personal"] is True
    )


def test_every_shipped_translation_is_in_step_and_most_entries_have_one(
    shipped_kb: KnowledgeBase,
) -> None:
    from knowledge.bilingual import NO_CHINESE, check_all

    problems = check_all(list(shipped_kb.entries), shipped_kb.chinese)
    assert [f"{p.entry_id}: {p.message}" for p in problems if p.message != NO_CHINESE] == []
    untranslated = [p.entry_id for p in problems if p.message == NO_CHINESE]
    assert len(untranslated) <= UNTRANSLATED_AT_MOST, untranslated  # lower it as translations land


def test_every_user_facing_string_exists_in_both_languages_with_the_same_placeholders() -> None:
    from string import Formatter

    from bot.i18n import _TEXTS

    def fields(text: str) -> set[str]:
        return {
            name.split(".")[0].split("[")[0] for _, name, _, _ in Formatter().parse(text) if name
        }

    for key, (english, chinese) in _TEXTS.items():
        assert chinese.strip(), key
        assert english.strip() or key == "english_only", key  # said only to Chinese readers
        assert fields(english) == fields(chinese) or key == "english_only", key
    assert {
        "privacy_html",
        "sub.choose",
        "sub.added",
        "broadcast.header",
        "broadcast.footer",
        "decline",
        "clarify",
    } <= set(_TEXTS)


async def test_privacy_and_subscriptions_follow_a_stored_chinese_choice(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    """An English-language Telegram app, but /language → 中文: the texts with no question to go by
    (privacy, the subscription menu, its toast, the list) are Chinese too."""
    async with running_bot(fake_telegram, tmp_path):
        fake_telegram.push_update(make_command("/language"))
        (menu,) = await fake_telegram.wait_for("sendMessage", chat_id=USER, count=1)
        fake_telegram.push_update(make_callback_query("lang:zh", message=menu.result))
        await fake_telegram.wait_for("editMessageText", count=1)
        fake_telegram.push_update(make_command("/privacy"))
        privacy = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=2))[-1]
        fake_telegram.push_update(make_command("/subscribe"))
        choose_topics = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=3))[-1]
        fake_telegram.push_update(make_callback_query("sub:h1b", message=choose_topics.result))
        toast = (await fake_telegram.wait_for("answerCallbackQuery", count=2))[-1]
        fake_telegram.push_update(make_command("/subscriptions"))
        listed = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=4))[-1]
    assert (
        privacy.text.startswith("🔒 <b>visabot 存储什么，以及为什么</b>")
        and "（当前：<b>关闭</b>）" in privacy.text
    )
    assert choose_topics.text.startswith("请选择要订阅政策更新的主题")
    assert [b["text"] for b in buttons(choose_topics)][:2] == ["🇨🇳 中国K字签证", "🇺🇸 美国H-1B"]
    assert toast.params["text"].startswith("🔔 已订阅🇺🇸 美国H-1B。")
    assert listed.text == "🔔 你订阅了以下政策更新：🇺🇸 美国H-1B。\n用 /unsubscribe 退订。"
    for call in (privacy, choose_topics, listed):
        assert_valid_reply(call.text)


# ---- broadcasts carry a language


ZH_UPDATE = "<b>H-1B 更新</b>：2026年6月12日，法院暂缓执行了关于10万美元费用的裁决。"
EN_UPDATE = (
    "<b>H-1B update</b>: on 12 Jun 2026 the court stayed its ruling on the $100,000 payment."
)


async def test_admin_adds_chinese_text_and_each_subscriber_gets_their_language(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    from tests.test_telegram_broadcast import ADMIN, admin_draft_to_preview, press

    async with running_bot(fake_telegram, tmp_path) as app:
        for chat in (500, 501, 502):
            app.bot_data.subscriptions.subscribe(chat, ["h1b"])
        app.bot_data.db.set_language(500, "zh")
        app.bot_data.db.set_language(501, "en")  # 502: auto, nothing stored → English
        summary = await admin_draft_to_preview(fake_telegram, EN_UPDATE)
        assert "Add Chinese text" in str(buttons(summary))
        await press(fake_telegram, "bz", summary, ADMIN)
        await fake_telegram.wait_for(
            "sendMessage", chat_id=ADMIN, predicate=lambda c: "simplified Chinese" in (c.text or "")
        )
        fake_telegram.push_update(
            make_private_text(ZH_UPDATE.replace("12日", "13日"), user_id=ADMIN)
        )
        (refused,) = await fake_telegram.wait_for(
            "sendMessage", chat_id=ADMIN, predicate=lambda c: "numbers differ" in (c.text or "")
        )
        fake_telegram.push_update(make_private_text(ZH_UPDATE, user_id=ADMIN))
        both = (
            await fake_telegram.wait_for(
                "sendMessage", chat_id=ADMIN, predicate=lambda c: "In Chinese" in (c.text or "")
            )
        )[-1]
        zh_preview = fake_telegram.calls("sendMessage", chat_id=ADMIN)[-2]
        await press(fake_telegram, buttons(both)[0]["callback_data"], both, ADMIN)
        sent = await fake_telegram.wait_for(
            "sendMessage",
            predicate=lambda c: int(c.chat_id) in (500, 501, 502),
            count=3,
            timeout=15,
        )
    got = {int(c.chat_id): c.text for c in sent}
    assert (
        "only in English [&#x27;2026-06-12&#x27;], only in Chinese [&#x27;2026-06-13&#x27;]"
        in refused.text
    )
    assert (
        "In Chinese (their /language is 中文): <b>1</b>" in both.text
        and "Add Chinese" not in str(buttons(both))
    )
    assert zh_preview.text == got[500]
    header, body, footer = got[500].split("\n\n")
    assert (
        header.startswith("📣 <b>政策更新 · 美国H-1B · ")
        and body == ZH_UPDATE
        and "退订：/unsubscribe" in footer
    )
    assert (
        got[501] == got[502]
        and got[501].startswith("📣 <b>Policy update · US H-1B · ")
        and EN_UPDATE in got[501]
    )
    for text in got.values():
        assert_valid_reply(text)


def test_cli_broadcast_with_file_zh_and_english_only_broadcasts(
    fake_telegram: FakeTelegram, tmp_path: Path, shipped_kb: KnowledgeBase
) -> None:
    """`broadcast send --file-zh`: 中文 readers get the Chinese (and a Chinese entry button);
    a broadcast with English only reaches them in English."""
    import subprocess

    from bot.delivery.subscriptions import Subscriptions
    from bot.storage import Storage
    from tests.cli import VISABOT
    from tests.test_broadcast_crash import cli_env

    db = tmp_path / "db.sqlite3"
    storage = Storage(db)
    Subscriptions(storage).subscribe(701, ["h1b"])
    Subscriptions(storage).subscribe(702, ["all"])
    storage.set_language(701, "zh")
    storage.close()
    (tmp_path / "en.html").write_text(EN_UPDATE, encoding="utf-8")
    (tmp_path / "zh.html").write_text(ZH_UPDATE, encoding="utf-8")
    (tmp_path / "only-en.html").write_text("<b>Second update</b>", encoding="utf-8")

    (tmp_path / "zh-wrong.html").write_text(ZH_UPDATE.replace("10万", "1万"), encoding="utf-8")

    def send(*args: str, code: int = 0) -> str:
        out = subprocess.run(
            [VISABOT, "broadcast", "send", "--topic", "h1b", *args],
            check=False,
            cwd=tmp_path,
            env={**clean_env(), **cli_env(fake_telegram, db)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == code, out.stdout + out.stderr
        return out.stderr

    refused = send("--file", "en.html", "--file-zh", "zh-wrong.html", code=1)
    assert (
        "--file-zh: numbers differ: only in English ['100000'], only in Chinese ['10000']"
        in refused
    )
    assert fake_telegram.calls("sendMessage") == []
    send("--file", "en.html", "--file-zh", "zh.html", "--entry", "h1b-100k-one-time")
    first = {int(c.chat_id): c for c in fake_telegram.calls("sendMessage")}
    send("--file", "only-en.html")
    second = {int(c.chat_id): c for c in fake_telegram.calls("sendMessage")[2:]}
    zh_question = shipped_kb.chinese["h1b-100k-one-time"].question
    assert ZH_UPDATE in first[701].text and first[701].text.startswith("📣 <b>政策更新")
    assert buttons(first[701])[0]["text"] == f"📖 {zh_question}"
    assert EN_UPDATE in first[702].text and buttons(first[702])[0]["text"].startswith("📖 Is the")
    assert all(
        c.text.startswith("📣 <b>Policy update") and "Second update" in c.text
        for c in second.values()
    )
    assert sorted(second) == [701, 702]


def test_kb_show_lang_zh_shows_the_chinese_text_and_whether_it_is_in_step(
    tmp_path: Path, shipped_kb: KnowledgeBase
) -> None:
    from tests.test_cli_kb import Env

    env = Env(tmp_path)
    zh = shipped_kb.chinese["k-visa-age-limit"]
    chinese = env.run("kb", "show", "k-visa-age-limit", "--lang", "zh")
    english = env.run("kb", "show", "k-visa-age-limit")
    assert chinese.returncode == 0 and chinese.stdout.startswith(zh.question + "\n")
    assert "注意事项" in chinese.stdout and "chinese: in step with the English" in chinese.stdout
    assert english.stdout.startswith("Is there an age limit") and "chinese:" not in english.stdout
    (env.kb / "zh" / "k-visa-age-limit.yaml").unlink()
    missing = env.run("kb", "show", "k-visa-age-limit", "--lang", "zh")
    assert (
        "本条目暂无中文版本" in missing.stdout and "chinese: no Chinese text yet" in missing.stdout
    )


async def test_buttons_under_a_chinese_answer_and_browsing_stay_in_chinese(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    """Auto mode, English Telegram app: a related entry tapped under a Chinese answer opens in
    Chinese (it opened in English: the reply followed the bot's own message). With /language 中文,
    /topics, its pages and /about are Chinese too."""
    async with running_bot(fake_telegram, tmp_path) as app:
        fake_telegram.push_update(make_private_text("K字签证有年龄限制吗"))
        (answer,) = await fake_telegram.wait_for("sendMessage", chat_id=USER, count=1)
        related = next(b for b in buttons(answer) if b.get("callback_data", "").startswith("a:"))
        fake_telegram.push_update(
            make_callback_query(related["callback_data"], message=answer.result)
        )
        opened = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=2))[-1]
        app.bot_data.db.set_language(USER, "zh")
        fake_telegram.push_update(make_command("/topics"))
        menu = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=3))[-1]
        fake_telegram.push_update(make_callback_query("t:k-visa:0", message=menu.result))
        (page,) = await fake_telegram.wait_for("editMessageText", count=1)
        fake_telegram.push_update(make_command("/about"))
        about = (await fake_telegram.wait_for("sendMessage", chat_id=USER, count=4))[-1]
    chinese = app.bot_data.matcher.base.chinese
    related_id = related["callback_data"].removeprefix("a:")
    assert related["text"][:6] == chinese[related_id].question[:6]  # labelled in Chinese too
    assert opened.text.startswith(f"<b>{chinese[related_id].question}</b>")
    assert menu.text.startswith("📂 <b>按主题浏览</b>") and "🇨🇳 中国K字签证" in str(buttons(menu))
    assert page.text.startswith("<b>🇨🇳 中国K字签证 — 第 1/") and chinese[
        "k-visa-what-is-it"
    ].question in str(buttons(page))
    assert about.text.startswith("<b>关于 visabot</b>") and "K字签证" in about.text
    for call in (opened, menu, page, about):
        assert_valid_reply(call.text)
