"""`visabot sources check|changed`: the source watch from the command line (bot/sources/watch.py)."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from bot.cli.common import knowledge_or_exit, settings_or_exit


@click.group()
def sources() -> None:
    """Watch the cited pages for changes."""


@sources.command("check")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per URL: id, url, state, checked_at.")
@click.option("--id", "entry_ids", multiple=True, help="Only the sources of this entry (repeatable).")
def check(as_json: bool, entry_ids: tuple[str, ...]) -> None:
    """Fetch every source URL once and say, per URL: new, unchanged, changed or unreachable."""
    from bot.sources.watch import SourceWatch, State, urls_by_entry
    from bot.storage import Storage

    settings = settings_or_exit()
    base = knowledge_or_exit(settings.knowledge_dir)
    unknown = [i for i in entry_ids if base.get(i) is None]
    if unknown:
        click.echo(f"No entry with id {', '.join(unknown)}.", err=True)
        sys.exit(2)
    entries = [e for e in base.entries if not entry_ids or e.id in entry_ids]
    storage = Storage(settings.db_path)
    try:
        checks = asyncio.run(SourceWatch(storage).check(urls_by_entry(entries)))
    finally:
        storage.close()
    for c in checks:
        if as_json:
            click.echo(json.dumps({"id": list(c.entry_ids), "url": c.url, "state": c.state.value, "checked_at": c.checked_at}))
        else:
            why = f" ({c.detail})" if c.detail else ""
            click.echo(f"{c.state.value:<11} {c.url}{why}  [{', '.join(c.entry_ids)}]")
    if not as_json:
        counts = {s: sum(c.state is s for c in checks) for s in State}
        click.echo(", ".join(f"{n} {s.value}" for s, n in counts.items()) + f" — {len(checks)} URLs")


@sources.command("changed")
def changed() -> None:
    """Entries whose official source changed after they were last verified: re-check them."""
    from bot.sources.watch import changed_entries
    from bot.storage import Storage

    settings = settings_or_exit()
    base = knowledge_or_exit(settings.knowledge_dir)
    storage = Storage(settings.db_path)
    try:
        queue = changed_entries(base.entries, storage)
    finally:
        storage.close()
    if not queue:
        click.echo("No entry waits for review: no official source changed after its entry was verified.")
        return
    for entry, urls in queue:
        click.echo(f"{entry.id} (verified {entry.verified_on.isoformat()}): " + ", ".join(urls))
    click.echo(f"{len(queue)} entr{'y' if len(queue) == 1 else 'ies'} to re-verify: `visabot kb edit ID`.")
