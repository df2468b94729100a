"""The webhook server (bot/runtime/webhook.py) in-process, with raw HTTP on localhost: the secret is checked
before the body is read, the body is capped, junk gets 400 and good updates are answered through the
fake Bot API. tests/test_telegram_process.py checks that `visabot run` serves this server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.runtime.app import build_application
from bot.runtime.webhook import MAX_BODY_BYTES, WebhookServer
from knowledge.matcher import Matcher
from tests.bot_harness import bot_settings
from tests.fake_telegram import FakeTelegram, make_private_text
from tests.test_telegram_process import free_port

SECRET = "right_Secret-123"
PATH = "tg-hook"
# Far more than the server may wait for: a refusal must come without the rest of the body.
ANSWER_WITHIN = 5.0


@contextlib.asynccontextmanager
async def webhook_bot(fake: FakeTelegram, tmp_path: Path, matcher: Matcher) -> AsyncIterator[int]:
    """The real Application started as `visabot run` starts it in webhook mode; yields the port."""
    application = build_application(bot_settings(fake, tmp_path), matcher=matcher)
    port = free_port()
    server = WebhookServer(application, path="/" + PATH, secret=SECRET, listen="127.0.0.1", port=port)
    await application.initialize()
    await application.start()
    await server.start()
    try:
        yield port
    finally:
        await server.stop()
        await application.stop()
        await application.shutdown()
        assert application.post_shutdown is not None
        await application.post_shutdown(application)


async def send(port: int, head: dict[str, str], body: bytes, *, secret: str | None = SECRET) -> tuple[int, bytes]:
    """Send a POST's headers and `body` (maybe only the start of what the headers announce), then
    read the answer and wait for the server to close. Returns the status and the whole response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = {"Host": "127.0.0.1", "Content-Type": "application/json", **head}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    lines = [f"POST /{PATH} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    writer.write("\r\n".join(lines).encode() + body)
    await writer.drain()
    try:
        response = await asyncio.wait_for(_read_response(reader), ANSWER_WITHIN)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return int(response.split(b" ", 2)[1]), response


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    return head + await reader.readexactly(length)


def update_body(text: str, update_id: int = 99) -> bytes:
    return json.dumps({"update_id": update_id, **make_private_text(text)}).encode()


@pytest.mark.parametrize("secret", [None, "wrong", "right_Secret-12", "ünïcode"])
async def test_a_huge_body_without_the_secret_is_refused_before_it_is_read(
    fake_telegram: FakeTelegram, tmp_path: Path, matcher: Matcher, secret: str | None
) -> None:
    # The headers announce 90 MB; only 1 KB follows. PTB's server waited for all 90 MB before its 403.
    async with webhook_bot(fake_telegram, tmp_path, matcher) as port:
        status, _ = await send(port, {"Content-Length": str(90 * 1024 * 1024)}, b"x" * 1024, secret=secret)
        assert status == 403
    assert not fake_telegram.calls("sendMessage")


async def test_a_body_over_the_cap_gets_413_without_being_read(
    fake_telegram: FakeTelegram, tmp_path: Path, matcher: Matcher
) -> None:
    async with webhook_bot(fake_telegram, tmp_path, matcher) as port:
        status, _ = await send(port, {"Content-Length": str(90 * 1024 * 1024)}, b"x" * 1024)
        assert status == 413
        # Without a Content-Length (chunked): read up to the cap, then 413 although the body goes on.
        chunk = b"x" * 65536
        over_cap = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_BODY_BYTES // len(chunk) + 1))
        status, _ = await send(port, {"Transfer-Encoding": "chunked"}, over_cap)
        assert status == 413
        # The server goes on serving updates.
        good = update_body("H1B cap how many")
        status, _ = await send(port, {"Content-Length": str(len(good))}, good)
        assert status == 200
        await fake_telegram.wait_for("sendMessage", timeout=10)


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b"null", b'{"message": {}}', b'{"update_id": "7"}', b""],
)
async def test_junk_with_the_right_secret_gets_400(
    fake_telegram: FakeTelegram, tmp_path: Path, matcher: Matcher, body: bytes
) -> None:
    async with webhook_bot(fake_telegram, tmp_path, matcher) as port:
        status, response = await send(port, {"Content-Length": str(len(body))}, body)
    assert status == 400, response
    assert not fake_telegram.calls("sendMessage")


async def test_a_good_update_is_answered_and_an_unparsable_one_skipped(
    fake_telegram: FakeTelegram, tmp_path: Path, matcher: Matcher, caplog: pytest.LogCaptureFixture
) -> None:
    broken = {"update_id": 98, **make_private_text("my secret question about H1B")}
    broken["message"]["entities"] = "not-a-list"
    broken_body = json.dumps(broken).encode()
    good = update_body("H1B cap how many")
    async with webhook_bot(fake_telegram, tmp_path, matcher) as port:
        with caplog.at_level(logging.WARNING, logger="bot.runtime.webhook"):
            # 200 for the unparsable one: any other status makes Telegram resend it forever.
            assert (await send(port, {"Content-Length": str(len(broken_body))}, broken_body))[0] == 200
        assert (await send(port, {"Content-Length": str(len(good))}, good))[0] == 200
        (reply,) = await fake_telegram.wait_for("sendMessage", timeout=10)
    assert "85,000" in reply.text or "65,000" in reply.text
    assert "skipping update 98 (message)" in caplog.text
    assert "secret question" not in caplog.text
