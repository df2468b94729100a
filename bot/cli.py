"""Command-line interface: `visabot ...`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.loader import KnowledgeError, load_knowledge_base


@click.group()
def main() -> None:
    """visabot: sourced answers about China's K visa and the US H-1B."""


@main.group()
def kb() -> None:
    """Inspect and check the knowledge base."""


@kb.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def validate(path: Path | None) -> None:
    """Validate every entry under PATH (default: the configured knowledge folder)."""
    root = path or DEFAULT_KNOWLEDGE_DIR
    try:
        base = load_knowledge_base(root)
    except KnowledgeError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(exc.problems)} problem(s) found.", err=True)
        sys.exit(1)
    click.echo(f"OK: {len(base.entries)} entries valid.")
