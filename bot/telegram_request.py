"""PTB's HTTP client on aiohttp instead of httpx.

Why: with PTB's default `HTTPXRequest` the bot spent most of each update inside httpx and
managed 42 answered messages per second; on aiohttp the same bot answers 500/s
(bench/RESULTS-telegram.md), and broadcasts need it to approach the paid 1,000/s. PTB supports this officially: any
`telegram.request.BaseRequest` can be passed to `ApplicationBuilder.request()` or `Bot(request=…)`.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

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
            raise NetworkError(f"aiohttp.{type(err).__name__}: {_without_token(str(err))}") from err


_TOKEN_IN_URL_RE = re.compile(r"/bot[^/\s'\"]+")


def _without_token(text: str) -> str:
    """Bot API URLs are .../bot<token>/<method> (and .../file/bot<token>/<path>)."""
    return _TOKEN_IN_URL_RE.sub("/bot[REDACTED]", text)


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
