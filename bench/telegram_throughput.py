"""End-to-end throughput and latency of the real bot (issue 3): answered messages per second.

The real PTB Application from bot.runtime.app.build_application runs in this process in polling mode
(concurrent updates on, as shipped), pointed at bench/fast_fake_api.py in a separate process.
Every update is a realistic question (dev + golden sets, shuffled) from its own user, so the
per-user flood guard never interferes.

Phases:
1. warm-up: a few hundred updates, not measured;
2. saturation: N updates all waiting at once; answered/s = N / (last first-reply - first hand-out);
3. paced: updates released at a fixed rate (default 300/s for 10 s); shows whether the bot keeps
   up and the latency a user sees at that load.

Latency of one update = arrival of its first reply at the fake - when getUpdates handed it out
(both measured in the fake). "Answered" = the update's chat got at least one reply.

Run:  .venv/bin/python -m bench.telegram_throughput [--updates 3000] [--rate 300] [--seconds 10]
      .venv/bin/python -m bench.telegram_throughput --updates 600 --rate --profile /tmp/profile_bot.txt
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import Update

from bench.common import all_questions, machine, percentile, table
from bench.fast_fake_api import FakeProcess
from bot.config import BotSettings, load_settings
from bot.runtime.app import build_application

TOKEN = "123456:BENCH-token_for-the-fast-fake"
TARGET_RATE = 300.0
USER_BASE = 10_000_000
WAIT_LIMIT_S = 300.0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_update(n: int, user_id: int, text: str) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "User", "username": f"u{user_id}", "language_code": "en"}
    chat = {"id": user_id, "type": "private", "first_name": "User", "username": f"u{user_id}"}
    return {"message": {"message_id": n, "from": user, "chat": chat, "date": int(time.time()), "text": text}}


class Feed:
    """Distinct users asking shuffled realistic questions."""

    def __init__(self, seed: int = 3):
        self.questions = all_questions()
        self.rng = random.Random(seed)
        self.next_user = USER_BASE
        self.order: list[str] = []

    def take(self, count: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            if not self.order:
                self.order = self.questions[:]
                self.rng.shuffle(self.order)
            self.next_user += 1
            out.append(make_update(1, self.next_user, self.order.pop()))
        return out


@dataclass
class PhaseResult:
    name: str
    updates: int
    offered_rate: float | None
    answered: int = 0
    messages_sent: int = 0
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    last_latencies: list[float] = field(default_factory=list)
    bot_cpu_s: float = 0.0
    fake_cpu_s: float = 0.0

    @property
    def answered_per_s(self) -> float:
        return self.answered / self.wall_s if self.wall_s else 0.0

    def row(self) -> list[str]:
        lat = self.latencies
        return [
            self.name,
            f"{self.offered_rate:.0f}/s" if self.offered_rate else "all at once",
            f"{self.answered}/{self.updates}",
            f"{self.answered_per_s:.0f}",
            f"{self.messages_sent / self.wall_s:.0f}" if self.wall_s else "-",
            f"{percentile(lat, 50) * 1000:.0f}",
            f"{percentile(lat, 99) * 1000:.0f}",
            f"{max(lat) * 1000:.0f}" if lat else "-",
            f"{self.bot_cpu_s / max(self.answered, 1) * 1000:.2f}",
            f"{self.fake_cpu_s / max(self.answered, 1) * 1000:.2f}",
        ]


HEADERS = [
    "Phase", "Offered", "Answered", "Answered/s", "sendMessage/s", "p50 ms", "p99 ms", "max ms",
    "Bot CPU ms/update", "Fake CPU ms/update",
]


async def run_phase(fake: FakeProcess, name: str, updates: list[dict[str, Any]], rate: float | None,
                    first_update_id: int, profiler: cProfile.Profile | None = None) -> PhaseResult:
    """Load `updates` into the fake (ids first_update_id..), release them, wait for every reply."""
    offsets = [i / rate for i in range(len(updates))] if rate else None
    await fake.acontrol("updates", {"updates": updates, "offsets": offsets})
    chats = {u["message"]["chat"]["id"] for u in updates}
    before = await fake.acontrol("progress")
    target = before["chats_replied"] + len(chats)
    cpu0, fake_cpu0 = _cpu(), fake.cpu_seconds()
    if profiler:
        profiler.enable()
    await fake.acontrol("start")
    deadline = time.monotonic() + WAIT_LIMIT_S
    while (await fake.acontrol("progress"))["chats_replied"] < target:
        if time.monotonic() > deadline:
            print(f"{name}: gave up waiting after {WAIT_LIMIT_S:.0f}s", file=sys.stderr)
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # trailing parts of multi-message answers
    if profiler:
        profiler.disable()
    cpu1, fake_cpu1 = _cpu(), fake.cpu_seconds()
    stats = await fake.acontrol("stats")

    result = PhaseResult(name, len(updates), rate, bot_cpu_s=cpu1 - cpu0, fake_cpu_s=fake_cpu1 - fake_cpu0)
    handed = {int(k): v for k, v in stats["handed_at"].items()}
    replies = {int(k): v for k, v in stats["replies"].items()}
    first_reply = []
    for n, update in enumerate(updates, first_update_id):
        times = replies.get(update["message"]["chat"]["id"])
        if not times or n not in handed:
            continue
        result.answered += 1
        result.messages_sent += len(times)
        result.latencies.append(times[0] - handed[n])
        result.last_latencies.append(times[-1] - handed[n])
        first_reply.append(times[0])
    start = min(handed[n] for n in range(first_update_id, first_update_id + len(updates)) if n in handed)
    result.wall_s = max(first_reply) - start if first_reply else 0.0
    return result


def build_settings(fake: FakeProcess, tmp: Path) -> BotSettings:
    settings = load_settings(
        BotSettings,
        _env_file=None,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_API_FILE_URL=fake.base_file_url,
        VISABOT_DB_PATH=tmp / "visabot.sqlite3",
        VISABOT_ADMIN_IDS="4242",
    )
    assert isinstance(settings, BotSettings)
    return settings


async def bench(args: argparse.Namespace) -> tuple[list[PhaseResult], str | None]:
    feed = Feed()
    results: list[PhaseResult] = []
    profile_text = None
    with tempfile.TemporaryDirectory() as tmp, FakeProcess() as fake:
        application = build_application(build_settings(fake, Path(tmp)))
        await application.initialize()
        assert application.post_init is not None
        await application.post_init(application)
        await application.start()
        assert application.updater is not None
        # As `visabot run` polls (run_polling's defaults), with every update type.
        await application.updater.start_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)
        try:
            next_id = 1
            warm = feed.take(args.warmup)
            await run_phase(fake, "warm-up", warm, None, next_id)
            next_id += len(warm)
            profiler = cProfile.Profile() if args.profile else None
            batch = feed.take(args.updates)
            results.append(await run_phase(fake, "saturation", batch, None, next_id, profiler))
            next_id += len(batch)
            if profiler is not None:
                profile_text = summarize_profile(profiler, results[-1])
            for rate in args.rate:
                batch = feed.take(int(rate * args.seconds))
                results.append(await run_phase(fake, f"paced {rate:.0f}/s", batch, rate, next_id))
                next_id += len(batch)
            stats = await fake.acontrol("stats")
            if stats["unknown"]:
                print(f"unknown Bot API methods called: {stats['unknown']}", file=sys.stderr)
        finally:
            await application.updater.stop()
            await application.stop()
            await application.shutdown()
            if application.post_shutdown is not None:
                await application.post_shutdown(application)
    return results, profile_text


# ---------------------------------------------------------------- profile summary

CATEGORIES = [  # (label, substrings of the profiler's file name or built-in's name); first match wins
    ("matching (knowledge/, rapidfuzz, numpy)", ("/knowledge/", "rapidfuzz", "numpy")),
    ("rendering (bot/telegram_render, telegram_html, render)", ("/bot/telegram_render", "/bot/telegram_html", "/bot/render")),
    ("SQLite (bot/storage, sqlite_utils, sqlite3)", ("/bot/storage", "sqlite_utils", "sqlite3")),
    ("HTTP client (aiohttp, yarl, multidict; bot/telegram_request)", ("/aiohttp/", "/yarl/", "/multidict/", "/aiohappyeyeballs/", "/bot/telegram_request")),
    ("handlers/ and other bot/ code", ("/handlers/", "/bot/")),
    ("PTB (telegram/, telegram.ext)", ("/telegram/",)),
    ("JSON (json)", ("/json/", "_json")),
    ("URL encoding (urllib.parse)", ("urllib/parse",)),
    ("event loop and sockets (asyncio, selectors, socket)", ("/asyncio/", "selectors", "socket", "select.", "_asyncio")),
]

KEY_FUNCTIONS = [  # (label, file suffix, function name) for cumulative times
    ("Matcher.match", "knowledge/matcher.py", "match"),
    ("telegram_render.entry_messages", "bot/replies/telegram_view.py", "entry_messages"),
    ("Storage.count_asked", "bot/storage.py", "count_asked"),
    ("Storage.log_unanswered", "bot/storage.py", "log_unanswered"),
    ("Update.de_json (incoming updates)", "telegram/_update.py", "de_json"),
    ("Message.de_json (all messages)", "telegram/_message.py", "de_json"),
    ("AiohttpRequest.do_request", "bot/runtime/http_client.py", "do_request"),
]


def _category(filename: str, name: str) -> str:
    key = filename if filename != "~" else name
    for label, needles in CATEGORIES:
        if any(n in key for n in needles):
            return label
    return "other"


def summarize_profile(profiler: cProfile.Profile, phase: PhaseResult) -> str:
    headline = (f"Profiled phase: {phase.name}, {phase.answered} updates answered in {phase.wall_s:.1f}s under "
                f"cProfile ({phase.answered_per_s:.0f}/s; the profiler itself slows everything).")
    return profile_summary(profiler, phase.answered, "update", headline, KEY_FUNCTIONS)


def profile_summary(profiler: cProfile.Profile, units: int, unit: str, headline: str,
                    key_functions: list[tuple[str, str, str]]) -> str:
    """Self time by area, cumulative time of key functions, and the top functions."""
    raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_category: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, name), (_cc, _nc, tt, _ct, _callers) in raw.items():
        by_category[_category(filename, name)] += tt
        total += tt
    lines = [
        headline,
        "",
        "Self time by area (sum of tottime):",
        "",
        table(["Area", "Self time s", "Share", f"ms per {unit}"],
              [[k, f"{v:.2f}", f"{100 * v / total:.1f}%", f"{1000 * v / max(units, 1):.2f}"]
               for k, v in sorted(by_category.items(), key=lambda kv: -kv[1])]),
        "",
        "Cumulative time of key functions (for coroutines, every resume counts as a call):",
        "",
    ]
    rows = []
    for label, suffix, fname in key_functions:
        calls = ct = 0.0
        for (filename, _line, name), (_cc, nc, _tt, c, _callers) in raw.items():
            if name == fname and filename.endswith(suffix):
                calls += nc
                ct += c
        rows.append([label, f"{int(calls)}", f"{ct:.2f}", f"{100 * ct / total:.1f}%"])
    lines.append(table(["Function", "Calls", "Cumulative s", "Share of profiled time"], rows))
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(40)
    lines += ["", "Top 40 functions by self time:", "", "```", buf.getvalue().strip(), "```"]
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(40)
    lines += ["", "Top 40 functions by cumulative time:", "", "```", buf.getvalue().strip(), "```"]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--updates", type=int, default=3000, help="updates in the saturation phase")
    parser.add_argument("--rate", type=float, nargs="*", default=[TARGET_RATE], help="paced phases (updates/s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each paced phase")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--profile", type=Path, help="cProfile the saturation phase; write a summary here")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    started = time.monotonic()
    results, profile_text = asyncio.run(bench(args))
    load_after = os.getloadavg()

    info = machine()
    print("## Telegram throughput (issue 3)\n")
    print(table(["", ""], [[k, v] for k, v in info.items()]))
    print()
    print(f"Load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1 min); "
          f"run took {time.monotonic() - started:.0f}s.")
    print()
    print(table(HEADERS, [r.row() for r in results]))
    print()
    saturation = results[0]
    ok = saturation.answered_per_s >= TARGET_RATE and saturation.answered == saturation.updates
    print(f"Target: >= {TARGET_RATE:.0f} answered messages/s: measured {saturation.answered_per_s:.0f}/s "
          f"-> {'PASS' if ok else 'FAIL'}")
    for r in results[1:]:
        kept_up = r.answered == r.updates and r.offered_rate and r.answered_per_s >= 0.97 * r.offered_rate
        print(f"{r.name}: {'kept up' if kept_up else 'did NOT keep up'} "
              f"({r.answered_per_s:.0f}/s answered, p99 {percentile(r.latencies, 99) * 1000:.0f} ms)")
    if profile_text and args.profile:
        args.profile.write_text(profile_text + "\n", encoding="utf-8")
        print(f"\nProfile summary written to {args.profile}")


if __name__ == "__main__":
    main()
