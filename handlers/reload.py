"""/reload in Telegram: serve the knowledge folder as it is on disk now, without a restart (after
a `git pull`, or files edited by hand). A folder with no valid entry is refused and the previous
knowledge base keeps serving; invalid files are left out and listed.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update

from bot.runtime.access import admin_command
from bot.runtime.context import Context
from handlers.maintainer_ui import knowledge_dir, problems_html, reply_long
from knowledge.saves import reload_from_disk

log = logging.getLogger(__name__)


@admin_command("/reload")
async def on_reload(update: Update, context: Context) -> None:
    assert update.message is not None
    data = context.bot_data
    before = len(data.matcher.base.entries)
    problems = await asyncio.to_thread(reload_from_disk, data)
    if problems:
        await reply_long(
            update.message,
            f"❌ <b>Reload refused</b>: {len(problems)} problem(s) on disk.\n{problems_html(problems, knowledge_dir(data))}\n\n"
            f"The previous knowledge base ({before} entries) keeps serving.",
        )
        return
    log.info("admin %s reloaded the knowledge base", update.message.from_user.id if update.message.from_user else "?")
    base = data.matcher.base
    text = f"✅ Reloaded: {len(base.entries)} entries (before: {before})."
    if base.skipped:
        text += (
            f"\n\n⚠️ {len(base.skipped)} problem(s) on disk; the files named were left out:\n"
            f"{problems_html(base.skipped, knowledge_dir(data))}"
        )
    await reply_long(update.message, text)
