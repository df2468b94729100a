"""Reply helpers the maintainers' handlers share (entry drafts, /gaps, /feedback, /reload).

Long HTML split into as few messages as fit, in-place edits that tolerate a double tap, loader
problems listed briefly, and callback data checked against Telegram's 64-byte limit.
"""

from __future__ import annotations

from pathlib import Path

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.replies.telegram_view import Block, esc, pack, shorten
from bot.runtime.context import BotData, Context
from knowledge.loader import Problem

MAX_CALLBACK_BYTES = 64
MAX_PROBLEMS_SHOWN = 15


def callback(data: str) -> str:
    assert len(data.encode()) <= MAX_CALLBACK_BYTES, data
    return data


def knowledge_dir(data: BotData) -> Path:
    assert data.settings is not None
    return data.settings.knowledge_dir


def logs_user_text(context: Context) -> bool:
    settings = context.bot_data.settings
    return bool(settings and settings.log_user_text)


def shown_path(path: Path) -> str:
    """`path` relative to the working folder when it is under it (shorter to read)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _problem_text(problem: Problem, root: Path) -> str:
    try:
        where = str(problem.path.relative_to(root))
    except ValueError:
        where = str(problem.path)
    where = f"{where}:{problem.line}" if problem.line else where
    return shorten(f"{where}: {problem.message}", 300)


def problems_html(problems: list[Problem], root: Path) -> str:
    lines = [f"• {esc(_problem_text(p, root))}" for p in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"… and {len(problems) - MAX_PROBLEMS_SHOWN} more (see <code>visabot kb lint</code>)")
    return "\n".join(lines)


async def reply_long(message: Message, html: str, markup: InlineKeyboardMarkup | None = None) -> Message:
    """Send HTML made of paragraphs, split into as few messages as fit; the keyboard goes last."""
    parts = pack([Block(p) for p in html.split("\n\n")])
    sent = message
    for n, part in enumerate(parts, 1):
        sent = await message.reply_text(part, reply_markup=markup if n == len(parts) else None)
    return sent


async def edit(message: Message | None, text: str | None, markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit `message` in place (only its keyboard when `text` is None)."""
    if message is None:
        return
    try:
        if text is None:
            await message.edit_reply_markup(markup)
        else:
            await message.edit_text(text, reply_markup=markup)
    except BadRequest as exc:  # "message is not modified" after a double tap is harmless
        if "not modified" not in str(exc).lower():
            raise


def query_message(update: Update) -> Message | None:
    """The message under the pressed button, when Telegram still has it."""
    query = update.callback_query
    message = query.message if query is not None else None
    return message if isinstance(message, Message) else None
