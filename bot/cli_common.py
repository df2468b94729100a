"""Error handling shared by every CLI command: bad settings exit 2, a bad knowledge base exits 1,
each with a clear message and never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.config import Settings, SettingsError, load_settings
from knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge_base


def settings_or_exit(settings_class: type[Settings] = Settings) -> Settings:
    try:
        return load_settings(settings_class)
    except SettingsError as exc:
        click.echo(f"Invalid settings:\n{exc}", err=True)
        sys.exit(2)


def knowledge_or_exit(root: Path | None = None) -> KnowledgeBase:
    try:
        return load_knowledge_base(root or settings_or_exit().knowledge_dir)
    except KnowledgeError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"The knowledge base has {len(exc.problems)} problem(s).", err=True)
        sys.exit(1)
