"""The aiohttp Bot API client against the fake server: bodies, uploads, errors and timeouts.

A plain PTB `Bot` uses `AiohttpRequest`, so these are the same code paths the application and the
broadcaster take; PTB turns the status codes into its exceptions from the bytes we return.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import Forbidden, NetworkError, RetryAfter, TimedOut

from bot.runtime.http_client import AiohttpRequest
from tests.fake_telegram import DEFAULT_USER_ID, FakeTelegram, make_bot_message

TOKEN = "123456:request-test-token"


@pytest.fixture
async def bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    request = AiohttpRequest(4, read_timeout=0.5)
    async with Bot(TOKEN, base_url=fake_telegram.base_url, base_file_url=fake_telegram.base_file_url,
                   request=request, get_updates_request=AiohttpRequest(1)) as bot:
        yield bot


async def test_form_parameters_arrive_decoded(bot: Bot, fake_telegram: FakeTelegram) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Ünïcode ✅ <b>", callback_data="a:x")]])
    sent = await bot.send_message(DEFAULT_USER_ID, "K字签证 &amp; <i>hi</i>", parse_mode="HTML", reply_markup=markup)
    call = fake_telegram.last_call("sendMessage")
    assert call.params["text"] == "K字签证 &amp; <i>hi</i>"
    assert call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Ünïcode ✅ <b>"
    assert sent.text == "K字签证 & hi"  # the fake's reply (entities parsed) was read back


async def test_file_upload_goes_multipart(bot: Bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.register_method("sendDocument", lambda params: make_bot_message("", int(params["chat_id"])))
    await bot.send_document(DEFAULT_USER_ID, InputFile(b"col1,col2\n1,2\n", filename="gaps.csv"), caption="gaps")
    call = fake_telegram.last_call("sendDocument")
    assert call.params["caption"] == "gaps"
    [upload] = call.files.values()
    assert upload["filename"] == "gaps.csv"
    assert upload["content"] == b"col1,col2\n1,2\n"


async def test_error_statuses_become_ptb_errors(bot: Bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(DEFAULT_USER_ID, "x")
    assert flood.value.retry_after == dt.timedelta(seconds=7)
    fake_telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(DEFAULT_USER_ID, "x")


async def test_a_hung_server_times_out_at_the_read_timeout(bot: Bot, fake_telegram: FakeTelegram) -> None:
    fake_telegram.hang_next("sendMessage", 3.0)
    started = time.monotonic()
    with pytest.raises(TimedOut):
        await bot.send_message(DEFAULT_USER_ID, "x")
    assert 0.4 < time.monotonic() - started < 2.5


async def test_a_dead_server_is_a_network_error(fake_telegram: FakeTelegram) -> None:
    url = f"{fake_telegram.base_url}{TOKEN}/sendMessage"
    fake_telegram.stop()
    request = AiohttpRequest(1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match="aiohttp"):
            await request.do_request(url, "POST")
    finally:
        await request.shutdown()


async def test_network_errors_never_quote_the_token() -> None:
    # aiohttp quotes the URL in some errors, and a Bot API URL holds the token; these messages
    # are logged and stored as a broadcast recipient's last error.
    request = AiohttpRequest(1)
    await request.initialize()
    try:
        for url in (f"http://[::1/bot{TOKEN}/sendMessage", f"ftp://example.org/file/bot{TOKEN}/doc.pdf"):
            with pytest.raises(NetworkError) as error:
                await request.do_request(url, "POST")
            assert TOKEN.split(":")[1] not in str(error.value) and "/bot[REDACTED]/" in str(error.value)
    finally:
        await request.shutdown()


async def test_requests_need_initialize() -> None:
    request = AiohttpRequest(1)
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/", "POST")
