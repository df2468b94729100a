"""Command-line interface: `visabot ...`. Every command answers with the same engine as the bot."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from bot.cli.broadcast import broadcast, subscribers
from bot.cli.common import knowledge_or_exit, settings_or_exit
from bot.cli.kb import kb
from bot.cli.kb_match import gaps
from bot.cli.sources import sources
from bot.config import BotSettings
from bot.i18n import choose
from bot.replies.plain import result_as_dict, result_as_text
from knowledge.evaluation import evaluate, load_eval_items
from knowledge.matcher import Matcher

GET_TOKEN_HINT = (
    "No TELEGRAM_BOT_TOKEN set: create a bot with @BotFather in Telegram and put its token in .env "
    "(see .env.example). Starting the terminal chat instead."
)


LANG_CHOICES = ["auto", "en", "zh"]  # /language's choices, for the command line


def _matcher() -> Matcher:
    return Matcher(knowledge_or_exit())


@click.group()
def main() -> None:
    """visabot: sourced answers about China's K visa and the US H-1B."""
    # PTB 22 warns on every 429 unless durations are timedeltas (its future default); we read
    # retry_after either way (bot/delivery/broadcast.py), so opt in and keep the logs quiet.
    os.environ.setdefault("PTB_TIMEDELTA", "true")


@main.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line for stdin).")
@click.option("--lang", type=click.Choice(LANG_CHOICES), default="auto", show_default=True,
              help="Reply language; auto follows the question's script.")
def ask(question: str | None, as_json: bool, lang: str) -> None:
    """Answer QUESTION; without it, answer one question per line from stdin."""
    matcher = _matcher()
    chinese = matcher.base.chinese
    questions = [question] if question is not None else (line.rstrip("\n") for line in sys.stdin)
    for text in questions:
        result = matcher.match(text)
        reply_lang = choose(None if lang == "auto" else lang, text)
        if as_json:
            click.echo(json.dumps(result_as_dict(result, reply_lang, chinese), ensure_ascii=False))
        else:
            click.echo(result_as_text(result, lang=reply_lang, chinese=chinese))
            if question is None:
                click.echo()


CHAT_HELP = (
    "Type a question in your own words. When I offer numbered entries, type the number to open one.\n"
    "After an answer: `more` shows every caveat, `sources` its sources.\n"
    "Commands: /topics (every entry, by topic), /help, exit (or Ctrl-D) to quit."
)


@main.command()
@click.option("--lang", type=click.Choice(LANG_CHOICES), default="auto", show_default=True,
              help="Reply language; auto follows each question's script.")
def chat(lang: str) -> None:
    """Interactive terminal chat with the same answers as the bot. `exit` or Ctrl-D quits."""
    from bot.cli.terminal_chat import TerminalChat

    TerminalChat(_matcher(), click.echo, None if lang == "auto" else lang).run(CHAT_HELP)


@main.command()
def start() -> None:
    """The main job: the Telegram bot when a token is configured, else the terminal chat."""
    settings = settings_or_exit()
    if settings.telegram_bot_token is None:
        click.echo(GET_TOKEN_HINT)
        chat.main(args=[], standalone_mode=False)
        return
    run.main(args=[], standalone_mode=False)


@main.command()
def run() -> None:
    """Run the Telegram bot (long polling, or a webhook when VISABOT_WEBHOOK_URL is set)."""
    settings = settings_or_exit(BotSettings)
    from bot.runtime.runner import run_bot  # imported here so the CLI's other commands start fast

    run_bot(settings)


@main.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def eval_command(file: Path) -> None:
    """Score the matcher on a question file (format of shared/eval/dev.yaml)."""
    try:
        items = load_eval_items(file)
    except (ValueError, OSError) as exc:
        click.echo(f"Cannot read {file}: {exc}", err=True)
        sys.exit(1)
    report = evaluate(_matcher(), items)
    for failure in report.failures:
        click.echo(f"FAIL [{failure.item.topic}] {failure.item.question!r}: {failure.reason}")
    click.echo(f"in-scope accuracy: {report.in_scope_passed}/{report.in_scope} = {report.accuracy:.3f}")
    click.echo(f"out-of-scope declined: {report.declined}/{report.out_of_scope} = {report.decline_rate:.3f}")
    click.echo(f"combined score: {report.combined:.3f}")


main.add_command(broadcast)
main.add_command(subscribers)
main.add_command(kb)
main.add_command(gaps)
main.add_command(sources)
