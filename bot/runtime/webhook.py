"""The webhook server: where Telegram POSTs each update when VISABOT_WEBHOOK_URL is set.

Why our own server instead of PTB's `run_webhook`: PTB's tornado server read the whole body before
it looked at the secret (a 90 MB body without the secret was read whole before the 403; four at
once held 548 MB) and answered 500 to a body that was not JSON. Here, in this order:

1. the `X-Telegram-Bot-Api-Secret-Token` header is compared, in constant time, before a byte of
   the body is read: 403 without it;
2. the body is capped at MAX_BODY_BYTES (Telegram's updates are a few KB): a Content-Length over
   the cap gets 413 at once, and a body without one is read only up to the cap;
3. a body that is not a JSON object with an integer `update_id` gets 400;
4. an update the library cannot parse is skipped like in polling (bot/runtime/http_client.py): 200,
   so that Telegram does not resend it forever, and a log line with its id and type only;
5. anything else is put on the Application's update queue: 200.

After a refusal the connection is closed without reading the rest of the body (`lingering_time=0`:
aiohttp would otherwise read and discard it for up to 10 s).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1024 * 1024
_APPLICATION: web.AppKey[Application] = web.AppKey("application")  # type: ignore[type-arg]
_SECRET: web.AppKey[bytes] = web.AppKey("secret", bytes)


class WebhookServer:
    """An aiohttp server on `listen:port` answering POSTs to `/path`; start() and stop() it."""

    def __init__(self, application: Application, *, path: str, secret: str, listen: str, port: int) -> None:  # type: ignore[type-arg]
        app = web.Application()
        app[_APPLICATION] = application
        app[_SECRET] = secret.encode()
        app.router.add_post("/" + path.strip("/"), _receive)
        # No access log: it would add one line per update; lingering_time=0: see the module docstring.
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, lingering_time=0)
        self._listen = listen
        self._port = port

    async def start(self) -> None:
        """Listen; raises OSError when the address cannot be used (the port is taken, say)."""
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._listen, self._port).start()
        except OSError:
            await self._runner.cleanup()
            raise

    async def stop(self) -> None:
        await self._runner.cleanup()


async def _receive(request: web.Request) -> web.Response:
    given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, request.app[_SECRET]):
        return web.Response(status=403, text="wrong or missing secret token")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return web.Response(status=413, text="body too large")
    body = await _read_capped(request, MAX_BODY_BYTES)
    if body is None:
        return web.Response(status=413, text="body too large")
    data = _update_object(body)
    if data is None:
        return web.Response(status=400, text="not a Telegram update")
    application = request.app[_APPLICATION]
    try:
        update = Update.de_json(data, application.bot)
    except Exception:  # noqa: BLE001 - any malformed field raises something different
        kinds = ",".join(k for k in data if k != "update_id") or "?"
        log.warning("skipping update %s (%s): Telegram sent data the library cannot parse", data["update_id"], kinds)
        return web.Response(status=200)
    await application.update_queue.put(update)
    return web.Response(status=200)


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past `limit` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _update_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        return None
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return None
    return data
