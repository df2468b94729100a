"""A fast fake Telegram Bot API for benchmarks: asyncio, HTTP/1.1 keep-alive, its own process.

tests/fake_telegram.py is the faithful fake for tests (threaded, validates every message); it tops
out near 100 requests/s when it shares a process with the bot. This one does the minimum, so the
bot, not the fake, is what a benchmark measures. Nothing here talks to Telegram.

Run it as a child process; it prints ``PORT <n>`` on stdout when it is listening::

    python -m bench.fast_fake_api [--free-limit 30 --paid-limit 1000 --per-chat-interval 1]

Bot API methods (under ``/bot<token>/``): getMe, getUpdates (long poll), deleteWebhook,
setMyCommands, sendMessage (returns a Message), answerCallbackQuery, editMessageText,
sendChatAction, close/logOut. Any other method answers 404 and is counted as unknown.

Limits (only when given): ``--free-limit`` messages in any sliding one-second window overall
(``--paid-limit`` for messages sent with allow_paid_broadcast=true), and ``--per-chat-interval``
seconds between two messages to one chat; a message over a limit answers 429 with
``parameters.retry_after`` (whole seconds, at least 1) and is not counted as delivered.
``--inject-429-at T`` answers one message 429 at T seconds, to see how the sender recovers.

Control (benchmark side, JSON over plain HTTP, outside ``/bot``):

- ``POST /_control/updates`` ``{"updates": [...], "offsets": [...]}``: updates (update_id
  assigned 1..n in order) and, optionally, when each becomes available, in seconds after
  ``/_control/start`` (default: all at once).
- ``POST /_control/start``: start the release clock.
- ``GET /_control/progress``: small counters, cheap to poll during a run.
- ``GET /_control/stats``: counters and timings (``time.monotonic()`` of this process; the same
  system-wide clock as the benchmark's on Linux).
- ``POST /_control/reset``: forget everything recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl

BOT_ID = 777
BOT_USERNAME = "visabot_bench_bot"
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "visabot",
    "username": BOT_USERNAME,
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}
_BOT_USER_JSON = json.dumps(BOT_USER, separators=(",", ":"))
_TRUE = b'{"ok":true,"result":true}'
_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 429: b"Too Many Requests"}


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1")


class FastFake:
    def __init__(
        self,
        *,
        free_limit: int | None,
        paid_limit: int | None,
        per_chat_interval: float | None,
        delay: float = 0.0,
        inject_429_at: float | None = None,
    ):
        self.inject_429_at = inject_429_at
        self.free_limit = free_limit
        self.paid_limit = paid_limit
        self.per_chat_interval = per_chat_interval
        self.delay = delay
        self.reset()

    def reset(self) -> None:
        self.updates: list[bytes] = []  # pre-serialised, index = update_id - 1
        self.offsets: list[float] = []
        self.t0: float | None = None
        self.released = 0  # updates[:released] are available to getUpdates
        self.new_updates = asyncio.Event()
        self.handed_at: dict[int, float] = {}  # update_id -> when getUpdates first returned it
        self.replies: dict[int, list[float]] = collections.defaultdict(
            list
        )  # chat_id -> arrival times
        self.methods: collections.Counter[str] = collections.Counter()
        self.unknown: collections.Counter[str] = collections.Counter()
        self.accepted_window: collections.deque[float] = collections.deque()
        self.last_to_chat: dict[int, float] = {}
        self.delivered = 0
        self.paid_flagged = 0
        self.first_accept: float | None = None
        self.last_accept: float | None = None
        self.rejected: list[tuple[float, str, int]] = []  # (time, reason, chat_id)
        self.message_id = 0
        self.requests = 0
        self._releaser: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- updates

    def load_updates(self, updates: list[dict[str, Any]], offsets: list[float] | None) -> int:
        start = len(self.updates)
        for n, update in enumerate(updates, start + 1):
            update["update_id"] = n
            self.updates.append(
                json.dumps(update, separators=(",", ":"), ensure_ascii=False).encode()
            )
        self.offsets += offsets if offsets is not None else [0.0] * len(updates)
        return len(self.updates)

    def start_clock(self) -> None:
        self.t0 = time.monotonic()
        if self._releaser is None or self._releaser.done():
            self._releaser = asyncio.create_task(self._release())

    async def _release(self) -> None:
        assert self.t0 is not None
        while self.released < len(self.offsets):
            due = self.t0 + self.offsets[self.released]
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.monotonic() - self.t0
            n = self.released
            while n < len(self.offsets) and self.offsets[n] <= now:
                n += 1
            self.released = max(n, self.released + 1)
            self.new_updates.set()

    async def get_updates(self, params: dict[str, str]) -> bytes:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        first = max(offset, 1) - 1  # index of the first update to return
        deadline = time.monotonic() + timeout
        while self.released <= first:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b'{"ok":true,"result":[]}'
            self.new_updates.clear()
            try:
                await asyncio.wait_for(self.new_updates.wait(), remaining)
            except TimeoutError:
                return b'{"ok":true,"result":[]}'
        chosen = self.updates[first : min(self.released, first + limit)]
        now = time.monotonic()
        for update_id in range(first + 1, first + 1 + len(chosen)):
            self.handed_at.setdefault(update_id, now)
        return b'{"ok":true,"result":[' + b",".join(chosen) + b"]}"

    # ---------------------------------------------------------------- sending

    def _limit_check(self, chat_id: int, paid: bool, now: float) -> tuple[str, int] | None:
        limit = self.paid_limit if paid else self.free_limit
        if limit is not None:
            window = self.accepted_window
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                # Telegram answers whole seconds; the oldest message in the window leaves at +1 s.
                return "global", max(1, math.ceil(window[0] + 1.0 - now))
        if self.per_chat_interval is not None:
            last = self.last_to_chat.get(chat_id)
            if last is not None and now - last < self.per_chat_interval:
                return "chat", max(1, math.ceil(last + self.per_chat_interval - now))
        return None

    def send_message(self, params: dict[str, str]) -> tuple[int, bytes]:
        now = time.monotonic()
        chat_id = int(params["chat_id"])
        paid = _truthy(params.get("allow_paid_broadcast"))
        over = self._limit_check(chat_id, paid, now)
        if (
            over is None
            and self.inject_429_at is not None
            and self.first_accept is not None
            and now - self.first_accept >= self.inject_429_at
        ):
            self.inject_429_at = None  # once: as if Telegram had a hiccup
            over = ("injected", 1)
        if over is not None:
            reason, retry_after = over
            self.rejected.append((now, reason, chat_id))
            body = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            }
            return 429, json.dumps(body).encode()
        self.accepted_window.append(now)
        self.last_to_chat[chat_id] = now
        self.replies[chat_id].append(now)
        self.delivered += 1
        self.paid_flagged += paid
        if self.first_accept is None:
            self.first_accept = now
        self.last_accept = now
        return 200, self._message(chat_id, params)

    def _message(self, chat_id: int, params: dict[str, str]) -> bytes:
        self.message_id += 1
        chat = (
            f'{{"id":{chat_id},"type":"private","first_name":"User"}}'
            if chat_id > 0
            else f'{{"id":{chat_id},"type":"supergroup","title":"Group"}}'
        )
        markup = params.get("reply_markup")
        extra = f',"reply_markup":{markup}' if markup and markup.startswith("{") else ""
        text = json.dumps(params.get("text", ""), ensure_ascii=False)
        return (
            f'{{"ok":true,"result":{{"message_id":{self.message_id},"from":{_BOT_USER_JSON},"chat":{chat},'
            f'"date":{int(time.time())},"text":{text}{extra}}}}}'
        ).encode()

    # ---------------------------------------------------------------- dispatch

    async def bot_api(self, method: str, params: dict[str, str]) -> tuple[int, bytes]:
        name = method.lower()
        self.methods[method] += 1
        if self.delay and name not in ("getupdates",):
            await asyncio.sleep(self.delay)
        if name == "getupdates":
            return 200, await self.get_updates(params)
        if name == "sendmessage":
            return self.send_message(params)
        if name == "getme":
            return 200, b'{"ok":true,"result":' + _BOT_USER_JSON.encode() + b"}"
        if name in (
            "deletewebhook",
            "setmycommands",
            "answercallbackquery",
            "sendchataction",
            "close",
            "logout",
            "answerinlinequery",
        ):
            return 200, _TRUE
        if name == "editmessagetext":
            return 200, self._message(int(params.get("chat_id") or 0), params)
        self.unknown[method] += 1
        return 404, b'{"ok":false,"error_code":404,"description":"Not Found"}'

    async def control(self, verb: str, path: str, body: bytes) -> tuple[int, bytes]:
        if path == "/_control/updates":
            data = json.loads(body)
            total = self.load_updates(data["updates"], data.get("offsets"))
            return 200, json.dumps({"ok": True, "total": total}).encode()
        if path == "/_control/start":
            self.start_clock()
            return 200, b'{"ok":true}'
        if path == "/_control/reset":
            if self._releaser is not None:
                self._releaser.cancel()
            self.reset()
            return 200, b'{"ok":true}'
        if path == "/_control/stats":
            return 200, json.dumps(self.stats()).encode()
        if path == "/_control/progress":
            return 200, json.dumps(self.progress()).encode()
        return 404, b'{"ok":false}'

    def progress(self) -> dict[str, Any]:
        """Small counters, cheap to poll while a run is going."""
        return {
            "released": self.released,
            "handed": len(self.handed_at),
            "chats_replied": len(self.replies),
            "delivered": self.delivered,
            "rejected": len(self.rejected),
            "requests": self.requests,
        }

    def stats(self) -> dict[str, Any]:
        return {
            "t0": self.t0,
            "requests": self.requests,
            "methods": dict(self.methods),
            "unknown": dict(self.unknown),
            "released": self.released,
            "handed_at": self.handed_at,
            "replies": self.replies,
            "delivered": self.delivered,
            "paid_flagged": self.paid_flagged,
            "first_accept": self.first_accept,
            "last_accept": self.last_accept,
            "rejected": self.rejected,
        }

    # ---------------------------------------------------------------- HTTP/1.1

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.split(b"\r\n")
                verb, target, _ = lines[0].split(b" ", 2)
                length = 0
                close = False
                for line in lines[1:]:
                    if not line:
                        continue
                    key, _, value = line.partition(b":")
                    key = key.strip().lower()
                    if key == b"content-length":
                        length = int(value)
                    elif key == b"connection" and value.strip().lower() == b"close":
                        close = True
                    elif key == b"transfer-encoding":
                        raise ValueError("chunked bodies are not supported by the fast fake")
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                path = target.decode()
                if path.startswith("/bot"):
                    method = path.rsplit("/", 1)[-1].split("?", 1)[0]
                    params = dict(parse_qsl(body.decode())) if body else {}
                    status, payload = await self.bot_api(method, params)
                else:
                    status, payload = await self.control(verb.decode(), path, body)
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                    % (status, _REASONS.get(status, b"Error"), len(payload))
                    + payload
                )
                if close:
                    await writer.drain()
                    return
                if writer.transport.get_write_buffer_size() > 1 << 16:
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def serve(args: argparse.Namespace) -> None:
    fake = FastFake(
        free_limit=args.free_limit,
        paid_limit=args.paid_limit,
        per_chat_interval=args.per_chat_interval,
        delay=args.delay,
        inject_429_at=args.inject_429_at,
    )
    server = await asyncio.start_server(fake.handle, args.host, args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        # Ends when the parent closes our stdin (or dies): a benchmark never leaves a server behind.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


class FakeProcess:
    """Start the fast fake in a child process; control it from the benchmark. A context manager."""

    def __init__(self, *args: str):
        repo = Path(__file__).resolve().parents[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fast_fake_api", *args],
            cwd=repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            self.close()
            raise RuntimeError(f"the fake did not start: {line}")
        self.port = int(line[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def control(self, name: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_control/{name}",
            data=data,
            method="GET" if data is None and name in ("stats", "progress") else "POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    async def acontrol(self, name: str, payload: Any = None) -> Any:
        return await asyncio.to_thread(self.control, name, payload)

    def cpu_seconds(self) -> float:
        """User + system CPU time the fake has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--free-limit", type=int, default=None, help="messages/s overall (sliding 1 s window)"
    )
    parser.add_argument(
        "--paid-limit", type=int, default=None, help="messages/s overall with allow_paid_broadcast"
    )
    parser.add_argument(
        "--per-chat-interval",
        type=float,
        default=None,
        help="seconds between two messages to a chat",
    )
    parser.add_argument(
        "--delay", type=float, default=0.0, help="answer every request after this many seconds"
    )
    parser.add_argument(
        "--inject-429-at",
        type=float,
        default=None,
        help="answer one message 429 (retry_after 1) this many seconds after the first delivery",
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
