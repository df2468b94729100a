"""Broadcast delivery against Telegram's limits (issue 4): sustained rate, losses, 429s, memory.

N subscribers (default 10,000) are created with bot.subscriptions.Subscriptions in a temporary
SQLite database, the broadcast with bot.outbox.Outbox.create, and it is delivered by
bot.broadcast.Broadcaster with the Bot the CLI uses (bot_from_settings), pointed at
bench/fast_fake_api.py in a separate process. The fake ENFORCES the limits, each over a sliding
one-second window: 30 messages/s overall (1,000/s for messages sent with
allow_paid_broadcast=true) and 1 message/s per chat; a message over a limit answers 429 with
retry_after and is not delivered.

Each mode runs in a fresh child process, so the peak RSS reported (ru_maxrss) is that run's own.
Free mode at 30/s takes about 6 minutes for 10,000 subscribers; use --subscribers for a quick run.

Run:  .venv/bin/python -m bench.broadcast_throughput [--subscribers 10000] [--modes free paid]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import machine, table
from bench.fast_fake_api import FakeProcess

TOKEN = "123456:BENCH-token_for-the-fast-fake"
FREE_LIMIT = 30
PAID_LIMIT = 1000
TARGETS = {"free": 0.95 * FREE_LIMIT, "paid": 900.0}
CHAT_BASE = 50_000_000
HTML = (
    "📣 <b>H-1B update</b>\n\n"
    "USCIS published new guidance on the $100,000 payment for new H-1B petitions. "
    "It applies to petitions filed on or after September 21, 2025. "
    '<a href="https://www.uscis.gov/">Read the guidance</a>.\n\n'
    "<i>Sourced information, not legal advice.</i>"
)


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------- what-ifs (none is on by default)


class GridPacer:
    """What-if for bot/broadcast.py: an even pace on a fixed grid that makes up small lateness.

    aiolimiter's AsyncLimiter(1, 1/rate) (capacity 1) never makes up time: whenever the event
    loop wakes a waiter late, that lateness is lost for good. This pacer sends on the grid
    t0 + k/rate; a send that is late by up to `catch_up` seconds does not move the grid, so
    the next ones make the time up; later than that, the grid moves (the excess is lost). Any
    one-second window then holds at most (1 + catch_up) * rate + 1 sends.
    """

    def __init__(self, max_rate: float, time_period: float, catch_up: float):
        self.interval = time_period / max_rate
        self.catch_up = catch_up
        self.next: float | None = None
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        async with self.lock:
            now = loop.time()
            slot = now if self.next is None else max(self.next, now - self.catch_up)
            if slot > now:
                await asyncio.sleep(slot - now)
            self.next = max(slot, loop.time() - self.catch_up) + self.interval


class RepaceAfterPause:
    """What-if for Broadcaster._send_one: a slot taken while a 429 pause was on is given back.

    As shipped, a worker takes a limiter slot, then waits for the pause to end, then sends: every
    worker that took a slot during the pause sends the moment it ends, all at once. This wrapper
    makes acquire() wait out the pause and then take a fresh slot, so sends resume at the pace.
    """

    broadcaster: Any = None

    def __init__(self, inner: Any):
        self.inner = inner

    async def acquire(self) -> None:
        while True:
            await self.inner.acquire()
            paused = self.broadcaster._not_paused
            if paused.is_set():
                return
            await paused.wait()


def install_repace_after_pause() -> None:
    import bot.broadcast

    make = bot.broadcast.AsyncLimiter
    bot.broadcast.AsyncLimiter = lambda max_rate, time_period: RepaceAfterPause(  # type: ignore[assignment,misc]
        make(max_rate, time_period))
    original_init = bot.broadcast.Broadcaster.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        RepaceAfterPause.broadcaster = self

    bot.broadcast.Broadcaster.__init__ = init  # type: ignore[method-assign]


def install_grid_pacer(catch_up: float) -> None:
    import bot.broadcast

    bot.broadcast.AsyncLimiter = lambda max_rate, time_period: GridPacer(  # type: ignore[assignment,misc]
        max_rate, time_period, catch_up)


def lean_bot_class() -> type:
    """What-if: sendMessage without building a Message from the answer, markup serialised once."""
    import json as _json

    from telegram import Bot

    markup_json: dict[int, str] = {}

    class LeanBot(Bot):
        async def send_message(self, chat_id: Any, text: str, *, reply_markup: Any = None,
                               allow_paid_broadcast: bool | None = None, **_: Any) -> Any:
            api: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": "HTML",
                                   "link_preview_options": '{"is_disabled":true}'}
            if reply_markup is not None:
                key = id(reply_markup)
                if key not in markup_json:
                    markup_json[key] = _json.dumps(reply_markup.to_dict())
                api["reply_markup"] = markup_json[key]  # a str is sent as is
            if allow_paid_broadcast:
                api["allow_paid_broadcast"] = True
            # Lower-case endpoint: PTB warns for names of its own methods; the Bot API is case-insensitive.
            return await self.do_api_request("sendmessage", api_kwargs=api)

    return LeanBot


# ---------------------------------------------------------------- one run (child process)


async def deliver(fake: FakeProcess, db: Path, subscribers: int, paid: bool, client: str = "httpx",
                  lean: bool = False) -> dict[str, Any]:
    from bot.broadcast import Broadcaster, bot_from_settings
    from bot.config import BotSettings, load_settings
    from bot.outbox import BLOCKED, FAILED, SENT, Outbox
    from bot.storage import Storage
    from bot.subscriptions import Subscriptions
    from knowledge import DEFAULT_KNOWLEDGE_DIR
    from knowledge.loader import load_knowledge_base

    out: dict[str, Any] = {"mode": "paid" if paid else "free", "subscribers": subscribers}
    settings = load_settings(
        BotSettings, _env_file=None, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_API_FILE_URL=fake.base_file_url, VISABOT_DB_PATH=db,
    )
    assert isinstance(settings, BotSettings)
    storage = Storage(db)
    subs = Subscriptions(storage)
    t0 = time.perf_counter()
    chats = [CHAT_BASE + n for n in range(subscribers)]
    for n, chat_id in enumerate(chats):  # a mix of topic choices; every one is a recipient of "h1b"
        subs.subscribe(chat_id, [["h1b"], ["all"], ["h1b", "k-visa"]][n % 3])
    for n in range(subscribers // 10):  # and some who must not receive it
        subs.subscribe(CHAT_BASE - 1 - n, ["k-visa"])
    out["subscribe_s"] = time.perf_counter() - t0
    recipients = subs.recipients(["h1b"])
    assert recipients == chats, "recipients() should be exactly the h1b and 'all' subscribers"
    kb = load_knowledge_base(DEFAULT_KNOWLEDGE_DIR)
    entry_ids = [e.id for e in kb.entries if e.topic.value == "h1b"][:2]
    t0 = time.perf_counter()
    broadcast, created = Outbox(storage).create(
        f"bench:{out['mode']}", topics=["h1b"], html=HTML, recipients=recipients, entry_ids=entry_ids, paid=paid
    )
    out["create_s"] = time.perf_counter() - t0
    assert created

    timeline: list[tuple[float, int]] = []

    async def on_progress(b: Any, progress: Any, eta: float | None, final: bool) -> None:
        timeline.append((time.monotonic(), progress.total - progress.remaining))

    cpu0 = _cpu()
    start = time.monotonic()
    bot = bot_from_settings(settings)
    if client == "aiohttp" or lean:  # what-ifs: another HTTP client, a leaner send_message
        from telegram import Bot

        from bench.telegram_throughput import aiohttp_request_class

        bot_class = lean_bot_class() if lean else Bot
        request = aiohttp_request_class()(connection_pool_size=128) if client == "aiohttp" else bot.request
        bot = bot_class(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url, request=request)
    out["client"] = client
    async with bot:
        broadcaster = Broadcaster(bot, storage, kb, on_progress=on_progress, progress_interval=1.0)
        progress = await broadcaster.run(broadcast.id)
    out["wall_s"] = time.monotonic() - start
    out["cpu_s"] = _cpu() - cpu0
    out["flood_waits_seen_by_bot"] = broadcaster.flood_waits
    out["outbox"] = {"sent": progress[SENT], "blocked": progress[BLOCKED], "failed": progress[FAILED],
                     "remaining": progress.remaining}
    out["progress_reports"] = len(timeline)
    out["rss_peak_mb"] = _rss_peak_mb()

    stats = fake.control("stats")
    replies = {int(k): v for k, v in stats["replies"].items()}
    per_chat = Counter(len(v) for v in replies.values())
    out["chats_reached"] = len(replies)
    out["chats_exactly_once"] = sum(1 for c in chats if len(replies.get(c, [])) == 1)
    out["chats_missing"] = sum(1 for c in chats if c not in replies)
    out["chats_duplicated"] = sum(1 for c in chats if len(replies.get(c, [])) > 1)
    out["unexpected_chats"] = len(set(replies) - set(chats))
    out["per_chat_histogram"] = dict(per_chat)
    out["delivered"] = stats["delivered"]
    out["paid_flagged"] = stats["paid_flagged"]
    out["unknown_methods"] = stats["unknown"]
    first, last = stats["first_accept"], stats["last_accept"]
    out["delivery_span_s"] = (last - first) if first is not None else 0.0
    # Sustained rate: messages after the first, over the time from the first to the last.
    out["sustained_per_s"] = (stats["delivered"] - 1) / out["delivery_span_s"] if out["delivery_span_s"] else 0.0
    out["overall_per_s"] = stats["delivered"] / out["wall_s"]
    rejected = stats["rejected"]
    out["rejected_429"] = len(rejected)
    out["rejected_by_reason"] = dict(Counter(r[1] for r in rejected))
    out["rejected_after_first_second"] = sum(1 for r in rejected if first is not None and r[0] - first > 1.0)
    out["rejected_at_s"] = [round(r[0] - first, 3) for r in rejected[:20]] if first is not None else []
    # The busiest sliding one-second window and the per-second counts in steady state.
    times = sorted(t for v in replies.values() for t in v)
    busiest = j = 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    out["busiest_1s_window"] = busiest
    if times:
        seconds = Counter(int(t - times[0]) for t in times)
        full = [seconds[s] for s in range(1, int(times[-1] - times[0]))]  # whole seconds only
        out["per_second_min"] = min(full) if full else None
        out["per_second_max"] = max(full) if full else None
    storage.close()
    return out


BROADCAST_KEY_FUNCTIONS = [
    ("Broadcaster._send_one", "bot/broadcast.py", "_send_one"),
    ("Outbox.mark (2 commits per message)", "bot/outbox.py", "mark"),
    ("Outbox.pending", "bot/outbox.py", "pending"),
    ("AsyncLimiter.acquire", "aiolimiter/leakybucket.py", "acquire"),
    ("Bot.send_message", "telegram/_bot.py", "send_message"),
    ("Message.de_json", "telegram/_message.py", "de_json"),
    ("HTTPXRequest.do_request", "telegram/request/_httpxrequest.py", "do_request"),
    ("httpcore _assign_requests_to_connections", "httpcore/_async/connection_pool.py", "_assign_requests_to_connections"),
    ("httpcore current_async_library", "httpcore/_synchronization.py", "current_async_library"),
]


def child(mode: str, subscribers: int, delay: float, profile: Path | None = None, client: str = "httpx",
          lean: bool = False, pacer: float | None = None, inject_429_at: float | None = None,
          repace: bool = False, use_uvloop: bool = False, free_rate: float | None = None) -> None:
    if free_rate is not None:
        import bot.broadcast

        bot.broadcast.FREE_RATE = free_rate  # Limits.for_mode reads it at delivery time
    if use_uvloop:
        import uvloop

        uvloop.install()
    if pacer is not None:
        install_grid_pacer(pacer)
    if repace:
        install_repace_after_pause()
    args = ["--free-limit", str(FREE_LIMIT), "--paid-limit", str(PAID_LIMIT), "--per-chat-interval", "1"]
    if delay:
        args += ["--delay", str(delay)]
    if inject_429_at is not None:
        args += ["--inject-429-at", str(inject_429_at)]
    with tempfile.TemporaryDirectory() as tmp, FakeProcess(*args) as fake:
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        result = asyncio.run(deliver(fake, Path(tmp) / "visabot.sqlite3", subscribers, mode == "paid", client, lean))
        result["what_ifs"] = (what_if_names(client, lean, pacer) + (["re-pace after a 429 pause"] if repace else [])
                              + (["uvloop"] if use_uvloop else [])
                              + ([f"FREE_RATE {free_rate:g}"] if free_rate is not None else []))
        if inject_429_at is not None:
            result["what_ifs"].append(f"one 429 injected at {inject_429_at:g} s")
        if profiler and profile:
            profiler.disable()
            from bench.telegram_throughput import profile_summary

            headline = (f"Profiled: {mode} broadcast to {subscribers:,} subscribers (set-up included), "
                        f"{result['sustained_per_s']:.0f} msg/s under cProfile.")
            profile.write_text(profile_summary(profiler, result["delivered"], "message", headline,
                                               BROADCAST_KEY_FUNCTIONS) + "\n", encoding="utf-8")
        result["fake_cpu_s"] = fake.cpu_seconds()
        result["fake_delay_s"] = delay
    print(json.dumps(result))


# ---------------------------------------------------------------- report


def what_if_names(client: str, lean: bool, pacer: float | None) -> list[str]:
    names = []
    if client != "httpx":
        names.append(client)
    if lean:
        names.append("lean send")
    if pacer is not None:
        names.append(f"grid pacer {pacer * 1000:g} ms")
    return names


def report(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        rows.append([
            r["mode"] + (f" (+{r['fake_delay_s'] * 1000:.0f} ms per request)" if r.get("fake_delay_s") else "")
            + "".join(f", {w}" for w in r.get("what_ifs", [])),
            f"{r['subscribers']:,}",
            f"{r['sustained_per_s']:.1f}",
            f"{r['overall_per_s']:.1f}",
            f"{r['wall_s']:.1f}",
            f"{r['chats_exactly_once']:,} / {r['chats_missing']} / {r['chats_duplicated']}",
            f"{r['outbox']['sent']:,} / {r['outbox']['failed']} / {r['outbox']['remaining']}",
            f"{r['rejected_429']} ({r['rejected_after_first_second']})",
            f"{r['busiest_1s_window']}",
            f"{r['paid_flagged']:,}",
            f"{r['rss_peak_mb']:.0f}",
            f"{r['cpu_s'] / max(r['delivered'], 1) * 1000:.2f}",
        ])
    headers = ["Mode", "Subscribers", "Sustained msg/s", "Overall msg/s", "Wall s",
               "Chats once / missing / twice", "Outbox sent / failed / left", "429s (after 1st s)",
               "Busiest 1 s window", "Sent with allow_paid_broadcast", "Peak RSS MB", "Bot CPU ms/msg"]
    lines = [table(headers, rows), ""]
    for r in results:
        target = TARGETS[r["mode"]]
        lost_ok = r["chats_exactly_once"] == r["subscribers"] and r["unexpected_chats"] == 0
        lines.append(f"- {r['mode']}: sustained {r['sustained_per_s']:.1f} msg/s vs target >= {target:g}: "
                     f"{'PASS' if r['sustained_per_s'] >= target else 'FAIL'}; every chat exactly once: "
                     f"{'PASS' if lost_ok else 'FAIL'}; 429s after the first second: "
                     f"{r['rejected_after_first_second']} ({'PASS' if r['rejected_after_first_second'] == 0 else 'FAIL'})"
                     + (f"; allow_paid_broadcast on every message: "
                        f"{'PASS' if r['paid_flagged'] == r['delivered'] else 'FAIL'}" if r["mode"] == "paid" else ""))
        lines.append(f"  setup: subscribe {r['subscribe_s']:.1f}s, Outbox.create {r['create_s']:.2f}s; "
                     f"429 reasons {r['rejected_by_reason'] or '-'}"
                     + (f" at {r['rejected_at_s']} s" if r["rejected_at_s"] else "")
                     + f"; per-second min/max {r.get('per_second_min')}/{r.get('per_second_max')}; "
                     f"fake CPU {r['fake_cpu_s']:.1f}s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--modes", nargs="+", choices=["free", "paid"], default=["free", "paid"])
    parser.add_argument("--delay", type=float, default=0.0,
                        help="the fake answers every request after this many seconds (network latency)")
    parser.add_argument("--client", choices=["httpx", "aiohttp"], default="httpx",
                        help="what-if: aiohttp = deliver with a Bot on aiohttp instead of bot_from_settings (httpx)")
    parser.add_argument("--lean", action="store_true",
                        help="what-if: send_message without parsing the answer into a Message, markup serialised once")
    parser.add_argument("--pacer", type=float, metavar="CATCH_UP_S",
                        help="what-if: replace aiolimiter by a grid pacer that makes up lateness up to CATCH_UP_S")
    parser.add_argument("--inject-429-at", type=float, metavar="SECONDS",
                        help="the fake answers one message 429 (retry_after 1) at this time: how does delivery recover?")
    parser.add_argument("--repace", action="store_true",
                        help="what-if: after a 429 pause, take a fresh limiter slot instead of sending at once")
    parser.add_argument("--free-rate", type=float, help="what-if: another bot.broadcast.FREE_RATE (shipped 29.5)")
    parser.add_argument("--uvloop", action="store_true", help="what-if: run delivery on uvloop (needs uvloop)")
    parser.add_argument("--profile", type=Path, help="cProfile each run; write summaries to PATH.<mode>.txt")
    parser.add_argument("--child", choices=["free", "paid"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.subscribers, args.delay, args.profile, args.client, args.lean, args.pacer,
              args.inject_429_at, args.repace, args.uvloop, args.free_rate)
        return

    repo = Path(__file__).resolve().parents[1]
    results = []
    load_before = os.getloadavg()
    for mode in args.modes:
        print(f"broadcast to {args.subscribers:,} subscribers, {mode} mode...", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "bench.broadcast_throughput", "--child", mode,
             "--subscribers", str(args.subscribers), "--delay", str(args.delay),
             "--client", args.client, *(["--lean"] if args.lean else []),
             *(["--pacer", str(args.pacer)] if args.pacer is not None else []),
             *(["--inject-429-at", str(args.inject_429_at)] if args.inject_429_at is not None else []),
             *(["--repace"] if args.repace else []), *(["--uvloop"] if args.uvloop else []),
             *(["--free-rate", str(args.free_rate)] if args.free_rate is not None else []), *(["--profile", f"{args.profile}.{mode}.txt"] if args.profile else [])],
            cwd=repo, check=True, stdout=subprocess.PIPE, text=True,
        )
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    load_after = os.getloadavg()
    print("## Broadcast throughput (issue 4)\n")
    print(table(["", ""], [[k, v] for k, v in machine().items()]))
    print(f"\nLoad average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1 min).\n")
    print(report(results))
    print("\n<details><summary>raw</summary>\n\n```json\n" + json.dumps(results, indent=1) + "\n```\n</details>")


if __name__ == "__main__":
    main()
