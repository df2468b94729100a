"""`visabot broadcast ...` and `visabot subscribers`: broadcasts from the command line.

The CLI runs the same delivery engine as the bot, standalone; a lease in the database keeps the
two from delivering the same broadcast at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import settings_or_exit
from bot.config import BotSettings, Settings
from knowledge.model import Topic

if TYPE_CHECKING:
    from bot.delivery.outbox import Broadcast, Progress
    from bot.storage import Storage

# Telegram, SQLite and the engine are imported inside the commands: `visabot ask` must start fast.
ALL_TOPICS = "all"
TOPIC_CHOICES = click.Choice([t.value for t in Topic] + [ALL_TOPICS])


def report_lines(broadcast: Broadcast, progress: Progress) -> list[str]:
    from bot.delivery.outbox import BLOCKED, FAILED, SENT

    lines = [
        f"broadcast {broadcast.id} [{broadcast.status}] topics={','.join(broadcast.topics)} created {broadcast.created_at}",
        (
            f"  sent {progress[SENT]}, blocked {progress[BLOCKED]}, failed {progress[FAILED]}, "
            f"remaining {progress.remaining} of {progress.total}"
        ),
    ]
    if broadcast.resumed_in_flight:
        lines.append(
            f"  resumed after a crash: {broadcast.resumed_in_flight} message(s) were in flight and were "
            "sent again (those recipients may have two copies)"
        )
    return lines


async def _deliver(settings: BotSettings, storage: Storage, broadcast_id: int) -> Progress:
    from bot.delivery.broadcast import Broadcaster, bot_from_settings
    from bot.delivery.outbox import Outbox
    from knowledge.loader import KnowledgeError, load_knowledge_base

    try:
        kb = load_knowledge_base(settings.knowledge_dir)
    except KnowledgeError:
        kb = None  # entry buttons are optional; the message itself goes out regardless
    total = Outbox(storage).progress(broadcast_id).total
    with click.progressbar(length=total, label=f"broadcast {broadcast_id}", show_eta=True, file=sys.stderr) as bar:
        shown = 0

        async def on_progress(broadcast: Broadcast, progress: Progress, eta: float | None, final: bool) -> None:
            nonlocal shown
            done = progress.total - progress.remaining
            bar.update(done - shown)
            shown = done

        async with bot_from_settings(settings) as bot:
            return await Broadcaster(bot, storage, kb, on_progress=on_progress, progress_interval=1.0).run(broadcast_id)


@click.group()
def broadcast() -> None:
    """Send policy updates to subscribers (admins' tool; needs TELEGRAM_BOT_TOKEN)."""


@broadcast.command()
@click.option("--topic", "topics", multiple=True, required=True, type=TOPIC_CHOICES, help="Repeat for several.")
@click.option("--file", "html_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--file-zh", "html_file_zh", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The same message in simplified Chinese, for subscribers whose /language is 中文 (others get FILE).",
)
@click.option("--entry", "entry_ids", multiple=True, help="Knowledge-base entry to link under the message.")
@click.option("--dry-run", is_flag=True, help="Check and preview only; send nothing.")
@click.option("--paid", is_flag=True, help="Use allow_paid_broadcast (up to 1,000 messages/s).")
def send(
    topics: tuple[str, ...], html_file: Path, html_file_zh: Path | None, entry_ids: tuple[str, ...], dry_run: bool, paid: bool
) -> None:
    """Send the Telegram-HTML message in FILE to subscribers of TOPIC(s)."""
    from bot.delivery.broadcast import MAX_BODY_CHARS
    from bot.delivery.outbox import Outbox
    from bot.delivery.subscriptions import Subscriptions
    from bot.replies.html_check import validate_telegram_html, visible_text
    from bot.storage import Storage
    from knowledge.loader import load_knowledge_base

    def read(path: Path, name: str) -> tuple[str, list[str]]:
        html = path.read_text(encoding="utf-8").strip()
        problems = validate_telegram_html(html) or ([] if html else ["the message is empty"])
        if len(visible_text(html)) > MAX_BODY_CHARS:
            problems.append(f"the message is longer than {MAX_BODY_CHARS:,} characters (the rest is kept for its header and footer)")
        return html, [f"{name}: {p}" for p in problems] if name else problems

    settings = settings_or_exit(Settings if dry_run else BotSettings)
    html, problems = read(html_file, "")
    html_zh, zh_problems = read(html_file_zh, "--file-zh") if html_file_zh else (None, [])
    problems += zh_problems
    if html_zh and not problems:
        from knowledge.bilingual import texts_differ

        difference = texts_differ(visible_text(html), visible_text(html_zh))
        problems += [f"--file-zh: {difference} (the two texts must state the same facts)"] if difference else []
    kb = load_knowledge_base(settings.knowledge_dir)
    problems += [f"no entry with id {i!r}" for i in entry_ids if kb.get(i) is None]
    if problems:
        click.echo("Refused, nothing was sent:\n" + "\n".join(f"  - {p}" for p in problems), err=True)
        sys.exit(1)
    storage = Storage(settings.db_path)
    recipients = Subscriptions(storage).recipients(list(topics))
    click.echo(f"Recipients: {len(recipients)} (topics: {', '.join(topics)})")
    if dry_run:
        click.echo("Preview (as text):\n" + visible_text(html))
        if html_zh:
            click.echo("Chinese preview (as text):\n" + visible_text(html_zh))
        return
    # The same message to the same topics is one broadcast: running the command twice sends once.
    key = hashlib.sha256(repr((sorted(topics), html, sorted(entry_ids), paid, *([html_zh] if html_zh else []))).encode()).hexdigest()
    created, is_new = Outbox(storage).create(
        f"cli:{key}", topics=list(topics), html=html, recipients=recipients, entry_ids=list(entry_ids),
        paid=paid or settings.paid_broadcast, html_zh=html_zh,
    )
    if not is_new:
        click.echo(f"This broadcast already exists as {created.id}; resuming it if unfinished.")
    _run(settings, storage, created.id)


@broadcast.command()
@click.argument("broadcast_id", type=int)
def resume(broadcast_id: int) -> None:
    """Finish an interrupted broadcast (the bot also does this by itself at start-up)."""
    from bot.delivery.outbox import Outbox
    from bot.storage import Storage

    settings = settings_or_exit(BotSettings)
    storage = Storage(settings.db_path)
    if Outbox(storage).get(broadcast_id) is None:
        click.echo(f"No broadcast {broadcast_id}.", err=True)
        sys.exit(1)
    _run(settings, storage, broadcast_id)


def _run(settings: Settings, storage: Storage, broadcast_id: int) -> None:
    from bot.delivery.outbox import Outbox

    assert isinstance(settings, BotSettings)
    from telegram.error import TelegramError

    from bot.delivery.broadcast import LeaseHeld
    from bot.runtime.http_client import without_token

    try:
        progress = asyncio.run(_deliver(settings, storage, broadcast_id))
    except LeaseHeld as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except TelegramError as exc:  # PTB's messages may quote the token (InvalidToken does)
        token = settings.telegram_bot_token.get_secret_value()
        message = without_token(str(exc)).replace(token, "[REDACTED]")
        click.echo(
            f"Cannot use the Bot API ({message}); check TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE_URL. "
            f"`visabot broadcast resume {broadcast_id}` continues it.",
            err=True,
        )
        sys.exit(2)
    final = Outbox(storage).get(broadcast_id)
    assert final is not None
    click.echo("\n".join(report_lines(final, progress)))


@broadcast.command()
@click.argument("broadcast_id", type=int, required=False)
def status(broadcast_id: int | None) -> None:
    """Recent broadcasts, or one broadcast in detail with its failures."""
    from bot.delivery.outbox import Outbox
    from bot.storage import Storage

    storage = Storage(settings_or_exit(Settings).db_path)
    outbox = Outbox(storage)
    chosen = [outbox.get(broadcast_id)] if broadcast_id is not None else outbox.recent()
    if broadcast_id is not None and chosen[0] is None:
        click.echo(f"No broadcast {broadcast_id}.", err=True)
        sys.exit(1)
    if not chosen:
        click.echo("No broadcasts yet.")
    for item in chosen:
        assert item is not None
        click.echo("\n".join(report_lines(item, outbox.progress(item.id))))
        if broadcast_id is not None:
            for chat_id, state, error in outbox.failures(item.id):
                click.echo(f"  {state}: chat {chat_id}: {error}")


@click.command()
@click.option("--topic", type=TOPIC_CHOICES, help="Only this topic.")
def subscribers(topic: str | None) -> None:
    """Subscriber counts per topic."""
    from bot.delivery.subscriptions import Subscriptions
    from bot.storage import Storage

    subs = Subscriptions(Storage(settings_or_exit(Settings).db_path))
    counts = subs.counts()
    for name, count in counts.items():
        if topic is None or name == topic:
            click.echo(f"{name}: {count}")
    if topic is None:
        click.echo(f"chats with any subscription: {subs.total_chats()}")
