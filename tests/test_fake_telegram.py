"""The fake Bot API server works with the real python-telegram-bot client (no network)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.replies.html_check import validate_telegram_html, visible_length, visible_text
from tests.fake_telegram import (
    BOT_ID,
    DEFAULT_GROUP_ID,
    DEFAULT_USER_ID,
    FakeTelegram,
    make_callback_query,
    make_command,
    make_document,
    make_edited_message,
    make_group_text,
    make_inline_query,
    make_mention,
    make_my_chat_member,
    make_photo,
    make_private_text,
    make_sticker,
    make_voice,
)

TOKEN = "123:ABC"


def make_bot(fake: FakeTelegram) -> Bot:
    return Bot(token=TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url)


# ------------------------------------------------------------------ plain Bot calls


async def test_get_me_and_send_message_params_are_decoded(fake_telegram: FakeTelegram) -> None:
    async with make_bot(fake_telegram) as bot:
        me = await bot.get_me()
        assert (me.id, me.username, me.is_bot) == (BOT_ID, "visabot_test_bot", True)
        assert me.supports_inline_queries is True and me.can_read_all_group_messages is False

        markup = InlineKeyboardMarkup([[InlineKeyboardButton("H-1B", callback_data="topic:h1b")]])
        msg = await bot.send_message(
            chat_id=DEFAULT_USER_ID,
            text="<b>Hello</b> &amp; welcome",
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        second = await bot.send_message(chat_id=DEFAULT_USER_ID, text="123")

    assert msg.chat.id == DEFAULT_USER_ID and msg.chat.type == "private"
    assert msg.from_user is not None and msg.from_user.id == BOT_ID
    assert msg.text == "Hello & welcome"  # like Telegram: the text after entity parsing
    assert msg.reply_markup == markup
    assert second.message_id > msg.message_id

    get_mes = fake_telegram.calls("getMe")  # Bot.initialize() calls getMe too
    assert get_mes and all(c.token == TOKEN and c.http_status == 200 for c in get_mes)
    first, plain = fake_telegram.calls("sendMessage", chat_id=DEFAULT_USER_ID)
    assert first.params["chat_id"] == DEFAULT_USER_ID
    assert first.params["parse_mode"] == "HTML"
    assert first.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "H-1B", "callback_data": "topic:h1b"}]]
    }
    assert first.params["link_preview_options"] == {"is_disabled": True}
    assert first.raw_params["reply_markup"].startswith("{")
    assert first.result["message_id"] == msg.message_id
    assert plain.params["text"] == "123"  # plain strings stay strings
    assert fake_telegram.sent_texts(DEFAULT_USER_ID) == ["<b>Hello</b> &amp; welcome", "123"]


async def test_other_recognised_methods(fake_telegram: FakeTelegram) -> None:
    async with make_bot(fake_telegram) as bot:
        assert await bot.set_my_commands([("start", "Start"), ("help", "Help")])
        commands = await bot.get_my_commands()
        assert [c.command for c in commands] == ["start", "help"]
        sent = await bot.send_message(
            chat_id=DEFAULT_GROUP_ID, text="Pick",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="a")]]),
        )
        assert sent.chat.type == "supergroup"
        edited = await bot.edit_message_text("Picked", chat_id=DEFAULT_GROUP_ID,
                                             message_id=sent.message_id)
        assert isinstance(edited, Message)
        assert edited.text == "Picked" and edited.reply_markup is None
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await bot.edit_message_text("Picked", chat_id=DEFAULT_GROUP_ID,
                                        message_id=sent.message_id)
        again = await bot.edit_message_reply_markup(
            chat_id=DEFAULT_GROUP_ID, message_id=sent.message_id,
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="b")]]),
        )
        assert isinstance(again, Message) and again.reply_markup is not None
        assert again.reply_markup.inline_keyboard[0][0].callback_data == "b"
        assert await bot.answer_callback_query("42", text="ok")
        assert await bot.answer_inline_query(
            "7", [InlineQueryResultArticle("r1", "Title", InputTextMessageContent("<i>x</i>",
                                                                                  parse_mode="HTML"))],
        )
        assert await bot.send_chat_action(DEFAULT_USER_ID, "typing")
        assert await bot.set_webhook("https://example.test/hook", secret_token="s3cret")
        assert fake_telegram.webhook is not None
        assert fake_telegram.last_call("setWebhook").params["secret_token"] == "s3cret"
        assert await bot.delete_webhook()
        assert await bot.close()
        assert await bot.log_out()
    (inline,) = fake_telegram.calls("answerInlineQuery")
    assert inline.params["results"][0]["input_message_content"]["message_text"] == "<i>x</i>"
    assert inline.params["inline_query_id"] == "7"
    fake_telegram.assert_no_unknown_calls()


async def test_strict_checks_answer_400_like_telegram(fake_telegram: FakeTelegram) -> None:
    async with make_bot(fake_telegram) as bot:
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(DEFAULT_USER_ID, "<b>unclosed", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)message is too long"):
            await bot.send_message(DEFAULT_USER_ID, "x" * 4097)
        await bot.send_message(DEFAULT_USER_ID, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
            await bot.send_message(
                DEFAULT_USER_ID, "hi",
                reply_markup=InlineKeyboardMarkup(
                    [[InlineKeyboardButton("a", callback_data="é" * 33)]]  # 66 bytes
                ),
            )


async def test_unknown_method_is_recorded_and_fails(fake_telegram: FakeTelegram) -> None:
    async with make_bot(fake_telegram) as bot:
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("frobnicate", api_kwargs={"chat_id": 5})
        with pytest.raises(InvalidToken):
            await bot.get_chat(DEFAULT_USER_ID)
    assert [c.method for c in fake_telegram.unknown_calls()] == ["frobnicate", "getChat"]
    assert fake_telegram.calls("frobnicate")[0].params == {"chat_id": 5}
    refused = fake_telegram.calls("getChat")[0].response
    assert refused is not None and refused["description"] == (
        "Not Found: method getChat not supported by the fake"
    )
    with pytest.raises(AssertionError, match="getChat"):
        fake_telegram.assert_no_unknown_calls()
    fake_telegram.allow_unknown = True


async def test_multipart_uploads_are_decoded(fake_telegram: FakeTelegram) -> None:
    fake_telegram.allow_unknown = True  # sendDocument is not supported: 404, but recorded
    async with make_bot(fake_telegram) as bot:
        with pytest.raises(InvalidToken):
            await bot.send_document(
                DEFAULT_USER_ID, b"%PDF-1.4 fake", filename="a.pdf", caption="<b>doc</b>",
                parse_mode="HTML",
                reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x")]]),
            )
    (call,) = fake_telegram.calls("sendDocument")
    assert call.files["document"]["content"] == b"%PDF-1.4 fake"
    assert call.files["document"]["filename"] == "a.pdf"
    assert call.params["caption"] == "<b>doc</b>" and call.params["chat_id"] == DEFAULT_USER_ID
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "x"


async def test_wrong_token_is_unauthorized() -> None:
    with FakeTelegram(token="1:RIGHT") as fake:
        async with Bot("1:RIGHT", base_url=fake.base_url) as bot:
            assert (await bot.get_me()).id == BOT_ID
        with pytest.raises(InvalidToken):
            async with Bot("1:WRONG", base_url=fake.base_url):
                pass


async def test_fail_next(fake_telegram: FakeTelegram) -> None:
    async with make_bot(fake_telegram) as bot:
        fake_telegram.fail_next("sendMessage", 429, retry_after=1)
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(DEFAULT_USER_ID, "hi")
        assert info.value.retry_after == dt.timedelta(seconds=1)
        fake_telegram.fail_next("sendMessage", 403)
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_message(DEFAULT_USER_ID, "hi")
        fake_telegram.fail_next("sendMessage", 400, "Bad Request: chat not found", times=2)
        for _ in range(2):
            with pytest.raises(BadRequest, match="(?i)chat not found"):
                await bot.send_message(DEFAULT_USER_ID, "hi")
        fake_telegram.fail_next("*", 500)
        with pytest.raises(NetworkError):
            await bot.send_chat_action(DEFAULT_USER_ID, "typing")
        await bot.send_message(DEFAULT_USER_ID, "finally")
    statuses = [c.http_status for c in fake_telegram.calls("sendMessage")]
    assert statuses == [429, 403, 400, 400, 200]
    assert fake_telegram.calls("sendMessage")[0].response == {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }


async def test_hang_next_and_rate_policy(fake_telegram: FakeTelegram) -> None:
    seen: list[str] = []

    def policy(method: str, params: dict[str, Any], now: float) -> tuple[int, str, int] | None:
        seen.append(method)
        if method == "sendMessage" and params.get("text") == "flood":
            return 429, "Too Many Requests: retry after 3", 3
        return None

    fake_telegram.rate_policy = policy
    async with make_bot(fake_telegram) as bot:
        fake_telegram.hang_next("sendMessage", 0.3)
        start = time.monotonic()
        await bot.send_message(DEFAULT_USER_ID, "slow")
        assert time.monotonic() - start >= 0.3
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(DEFAULT_USER_ID, "flood")
        assert info.value.retry_after == dt.timedelta(seconds=3)
    assert seen.count("sendMessage") == 2
    slow = fake_telegram.calls("sendMessage")[0]
    assert slow.answered_at is not None and slow.answered_at - slow.timestamp >= 0.3


def test_get_updates_long_poll_and_offsets() -> None:
    with FakeTelegram(max_poll_wait=0.2) as fake:
        url = f"{fake.base_url}{TOKEN}/getUpdates"

        def get(**params: object) -> list[dict[str, Any]]:
            data = "&".join(f"{k}={v}" for k, v in params.items()).encode()
            with urllib.request.urlopen(url, data=data, timeout=5) as resp:
                result: list[dict[str, Any]] = json.loads(resp.read())["result"]
                return result

        start = time.monotonic()
        assert get(timeout=10) == []
        assert 0.15 <= time.monotonic() - start < 2  # capped by max_poll_wait

        first = fake.push_update(make_private_text("one"))
        fake.push_update(make_private_text("two"))
        assert [u["message"]["text"] for u in get()] == ["one", "two"]
        assert [u["update_id"] for u in get(offset=first + 1)] == [first + 1]
        assert get(offset=first + 2) == []

        # a waiting long poll wakes up as soon as an update is pushed
        threading.Timer(0.05, fake.push_update, [make_private_text("three")]).start()
        fake.max_poll_wait = 3
        start = time.monotonic()
        assert [u["message"]["text"] for u in get(offset=first + 2, timeout=3)] == ["three"]
        assert time.monotonic() - start < 1.5
        assert fake.pending_updates == 0

        fake.push_update({"chat_member": {}})  # not delivered unless asked for, like Telegram
        assert get(offset=first + 3, timeout=0) == []

        with urllib.request.urlopen(f"{fake.base_url}{TOKEN}/setWebhook",
                                    data=b"url=https://x.test/h", timeout=5):
            pass
        with pytest.raises(urllib.error.HTTPError) as err:
            get(timeout=0)
        err.value.close()
        assert err.value.code == 409


async def test_conflict_while_webhook_set(fake_telegram: FakeTelegram) -> None:
    async with make_bot(fake_telegram) as bot:
        await bot.set_webhook("https://example.test/hook")
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)


def test_wait_for_sync_from_another_thread(fake_telegram: FakeTelegram) -> None:
    async def send() -> None:
        async with make_bot(fake_telegram) as bot:
            await asyncio.sleep(0.05)
            await bot.send_message(DEFAULT_USER_ID, "from thread")

    thread = threading.Thread(target=asyncio.run, args=(send(),))
    thread.start()
    calls = fake_telegram.wait_for_sync("sendMessage", lambda c: c.text == "from thread")
    thread.join()
    assert calls[0].params["chat_id"] == DEFAULT_USER_ID
    with pytest.raises(AssertionError, match="expected 1 editMessageText"):
        fake_telegram.wait_for_sync("editMessageText", timeout=0.05)


# ------------------------------------------------------------------ Application in polling mode


async def test_application_polling_receives_updates_and_replies(
    fake_telegram: FakeTelegram,
) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            "<b>Welcome</b>", parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("K visa",
                                                                     callback_data="k")]]),
        )

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.text
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"chose {query.data}")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(fake_telegram.base_url)
        .base_file_url(fake_telegram.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(button))

    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    try:
        fake_telegram.push_update(make_command("/start"))
        (welcome,) = await fake_telegram.wait_for("sendMessage", chat_id=DEFAULT_USER_ID)
        assert welcome.params["text"] == "<b>Welcome</b>"
        assert welcome.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "k"

        fake_telegram.push_update(make_private_text("what is H-1B?"))
        await fake_telegram.wait_for("sendMessage", lambda c: c.text == "echo: what is H-1B?")

        # press the button on the message the bot actually sent
        fake_telegram.push_update(make_callback_query("k", message=welcome.result))
        (edit,) = await fake_telegram.wait_for("editMessageText")
        assert edit.params["text"] == "chose k" and edit.ok
        assert edit.params["message_id"] == welcome.result["message_id"]
        await fake_telegram.wait_for("answerCallbackQuery")
        await fake_telegram.wait_for_updates_delivered()
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    polls = fake_telegram.calls("getUpdates")
    assert polls and all(c.token == TOKEN for c in polls)


# ------------------------------------------------------------------ factories


@pytest.mark.parametrize(
    ("update", "check"),
    [
        (make_private_text("hi"),
         lambda u: u.message.text == "hi" and u.message.chat.type == "private"),
        (make_command("/start@visabot_test_bot deep"),
         lambda u: u.message.entities[0].type == "bot_command"
         and u.message.entities[0].length == len("/start@visabot_test_bot")),
        (make_group_text("hello all", reply_to_bot=True),
         lambda u: u.message.chat.id == DEFAULT_GROUP_ID
         and u.message.reply_to_message.from_user.id == BOT_ID),
        (make_mention("what is the H-1B cap? 🇺🇸"),
         lambda u: u.message.parse_entities() == {u.message.entities[0]: "@visabot_test_bot"}),
        (make_mention("hey @visabot_test_bot 🇨🇳 K visa?"),
         lambda u: list(u.message.parse_entities().values()) == ["@visabot_test_bot"]),
        (make_callback_query("topic:k", user_id=5, message_id=99, chat_id=5),
         lambda u: u.callback_query.message.from_user.id == BOT_ID
         and u.callback_query.message.message_id == 99 and u.callback_query.data == "topic:k"),
        (make_inline_query("h1b fee", user_id=8), lambda u: u.inline_query.query == "h1b fee"),
        (make_sticker(), lambda u: u.message.sticker.emoji == "👍"),
        (make_photo(caption="my visa"), lambda u: u.message.photo[-1].width == 800),
        (make_voice(), lambda u: u.message.voice.duration == dt.timedelta(seconds=3)),
        (make_document(), lambda u: u.message.document.file_name == "passport.pdf"),
        (make_edited_message("fixed"), lambda u: u.edited_message.text == "fixed"),
        (make_my_chat_member(5, "member", "kicked"),
         lambda u: u.my_chat_member.new_chat_member.status == "kicked"),
        (make_my_chat_member(5, "left", "administrator", chat_id=-100777),
         lambda u: u.my_chat_member.new_chat_member.status == "administrator"),
    ],
)
def test_factories_parse_as_ptb_updates(update: dict[str, Any], check: Callable[[Update], bool]) -> None:
    parsed = Update.de_json({"update_id": 1, **update}, None)
    assert parsed is not None and check(parsed)


# ------------------------------------------------------------------ Telegram HTML


@pytest.mark.parametrize(
    "text",
    [
        "plain text",
        (
            "<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>i</ins> <s>s</s> "
            "<strike>s</strike> <del>d</del> <tg-spoiler>x</tg-spoiler>"
        ),
        '<span class="tg-spoiler">secret</span>',
        '<b>bold <i>italic <s>strike <span class="tg-spoiler">spoiler</span></s></i></b>',
        '<a href="https://travel.state.gov/?a=1&amp;b=2">State Dept</a>',
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        "<code>x &lt; y</code>",
        "<pre>block</pre>",
        '<pre><code class="language-python">print(1)</code></pre>',
        "<blockquote>quote</blockquote><blockquote expandable>long</blockquote>",
        "5 &gt; 3 &amp;&amp; 2 &lt; 4 &quot;q&quot; &#39; &#x1F600;",
        "a > b is fine",
        '<a href="https://x.test"><b>bold link</b></a>',
    ],
)
def test_valid_telegram_html(text: str) -> None:
    assert validate_telegram_html(text) == []


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("<b>unclosed", "unclosed tag <b>"),
        ("<b><i>x</b></i>", "does not match"),
        ("x</b>", "unexpected end tag"),
        ("<div>x</div>", "unsupported start tag <div>"),
        ("line<br>break", "unsupported start tag <br>"),
        ("<span>x</span>", 'class="tg-spoiler"'),
        ("<a>no link</a>", "without href"),
        ('<a href="x" target="_blank">t</a>', "unsupported attribute 'target'"),
        ("a < b", "raw '<'"),
        ("Q&A", "raw '&'"),
        ("&nbsp;", "unsupported named entity &nbsp;"),
        ('<code class="language-py">x</code>', "only allowed directly inside <pre>"),
        ("<code><b>x</b></code>", "inside <code>"),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "nested <blockquote>"),
        ("<tg-emoji>👍</tg-emoji>", "emoji-id"),
    ],
)
def test_invalid_telegram_html(text: str, needle: str) -> None:
    problems = validate_telegram_html(text)
    assert problems and any(needle in p for p in problems), problems


def test_visible_length_counts_utf16_after_parsing() -> None:
    assert visible_text("<b>a</b> &amp; <i>b</i>") == "a & b"
    assert visible_length("<b>a</b> &amp; <i>b</i>") == 5
    assert visible_length("😀") == 2  # astral plane = surrogate pair in UTF-16
    assert visible_length("&#x1F600;") == 2
    assert visible_length('<a href="https://a.very.long/url">x</a>') == 1
