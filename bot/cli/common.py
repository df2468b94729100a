"""Error handling shared by every CLI command: bad settings exit 2, a bad knowledge base exits 1,
each with a clear message and never a traceback."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

import click

from bot.config import Settings, SettingsError, load_settings
from knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge_base

DATE = click.DateTime(formats=["%Y-%m-%d"])


def fail(message: str, problems: Iterable[object] = ()) -> NoReturn:
    """Exit 1 with `message` on stderr, after the problems behind it (one per line)."""
    for problem in problems:
        click.echo(f"  {problem}", err=True)
    click.echo(message, err=True)
    sys.exit(1)


def day_or_today(value: dt.datetime | None) -> dt.date:
    """A `--today` option's day, or today."""
    return value.date() if value is not None else dt.date.today()


def settings_or_exit(settings_class: type[Settings] = Settings) -> Settings:
    try:
        return load_settings(settings_class)
    except SettingsError as exc:
        click.echo(f"Invalid settings:\n{exc}", err=True)
        sys.exit(2)


def knowledge_or_exit(root: Path | None = None, strict: bool = False) -> KnowledgeBase:
    """The knowledge base, exiting 1 on problems when `strict` (`kb validate`). Otherwise invalid
    files are skipped and each is reported on stderr, as the bot does at start: one bad file must
    not stop `visabot ask` from answering with the rest."""
    try:
        base = load_knowledge_base(root or settings_or_exit().knowledge_dir, skip_invalid=not strict)
    except KnowledgeError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"The knowledge base has {len(exc.problems)} problem(s).", err=True)
        sys.exit(1)
    for problem in base.skipped:
        click.echo(f"skipped: {problem}", err=True)
    if base.skipped:
        click.echo(f"{len(base.skipped)} problem(s) in the knowledge base; run `visabot kb lint`.", err=True)
    return base
