"""PTB's HTTP client on aiohttp instead of httpx.

Why: with PTB's default `HTTPXRequest` the bot spent most of each update inside httpx and
managed 42 answered messages per second; on aiohttp the same bot answers 500/s
(bench/RESULTS-telegram.md), and broadcasts need it to approach the paid 1,000/s. PTB supports this officially: any
`telegram.request.BaseRequest` can be passed to `ApplicationBuilder.request()` or `Bot(request=…)`.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from typing import Any

import aiohttp
from telegram import Update
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)
DEFAULT_READ_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 5.0
# In a burst every connection may be busy; waiting a while for one beats failing the reply.
DEFAULT_POOL_TIMEOUT = 10.0


def _or_default(value: Any, default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


class AiohttpRequest(BaseRequest):
    """One pooled keep-alive aiohttp session; the timeouts mean what they mean in `HTTPXRequest`.

    aiohttp has no write timeout, so `write_timeout` is accepted and ignored; aiohttp sets
    TCP_NODELAY on its sockets itself, which small Bot API requests need to avoid Nagle stalls.
    """

    def __init__(
        self,
        connection_pool_size: int = 256,
        *,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # The session must be created inside the running event loop, hence here.
            connector = aiohttp.TCPConnector(limit=self._pool_size)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's `connect` covers waiting for a free pooled connection: PTB's pool timeout.
            connect=_or_default(pool_timeout, self._pool_timeout),
            sock_connect=_or_default(connect_timeout, self._connect_timeout),
            sock_read=_or_default(read_timeout, self._read_timeout),
        )
        try:
            async with self._session.request(method, url, data=_body(request_data), timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as err:  # aiohttp's timeout errors are TimeoutErrors too
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # The class name helps when the message is empty, as it often is. Some errors quote
            # the URL, and a Bot API URL holds the token: this message reaches logs and reports.
            raise NetworkError(f"aiohttp.{type(err).__name__}: {without_token(str(err))}") from err


# A bot token is <bot id>:<secret>. Matched by its shape, anywhere: a base URL need not end in /bot.
# The secret must hold a non-digit so that host:port and times are left alone.
_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]*[A-Za-z_-][A-Za-z0-9_-]*")


def without_token(text: str) -> str:
    """The text with anything shaped like a bot token replaced, wherever in a URL it sits."""
    return _TOKEN_RE.sub("[REDACTED]", text)


def _body(request_data: RequestData | None) -> dict[str, str] | aiohttp.FormData | None:
    """A form-encoded body, or multipart when the request uploads files."""
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form


class UpdatesRequest(AiohttpRequest):
    """The client for getUpdates: replaces each update PTB cannot parse by a bare update id.

    Why: PTB parses a whole batch at once, so one malformed update (a message whose "entities" is
    not a list, a callback without chat_instance) failed the batch, the offset never advanced and
    the bot polled in a tight loop without answering anyone. The bare `{"update_id": N}` lets the
    offset move past it; no handler acts on an update with no content. The log line names the
    update id and type only: never what the user wrote.
    """

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, body = await super().do_request(url, method, *args, **kwargs)
        if status == 200 and url.endswith("/getUpdates"):
            body = _without_unparsable_updates(body)
        return status, body


def _without_unparsable_updates(body: bytes) -> bytes:
    try:
        payload = json.loads(body)
        updates = payload["result"]
    except (ValueError, KeyError, TypeError):
        return body  # not a batch of updates: PTB reports it as it would
    if not isinstance(updates, list):
        return body
    changed = False
    for index, item in enumerate(updates):
        try:
            Update.de_json(copy.deepcopy(item), None)
        except Exception:  # noqa: BLE001 - any malformed field raises something different
            update_id = item.get("update_id") if isinstance(item, dict) else None
            kinds = [k for k in item if k != "update_id"] if isinstance(item, dict) else []
            log.warning("skipping update %s (%s): Telegram sent data the library cannot parse", update_id, ",".join(kinds) or "?")
            updates[index] = {"update_id": update_id}
            changed = True
    return json.dumps(payload).encode() if changed else body
