"""`visabot kb ...`: the maintainers' tools for the knowledge base.

This module holds the group and the commands that read and check the folder (validate, export,
list, show, lint, stale); the others live beside it, one module per job: `kb add`
(bot/cli/kb_add.py), `kb search / why / calibrate` and `visabot gaps` (bot/cli/kb_match.py),
`kb reload / remove` (bot/cli/kb_reload.py). Every write goes through knowledge.writer (locked,
atomic, validated by the same model as the shipped entries); every check through knowledge.lint;
every match through the bot's own Matcher. See docs/maintainers.md for the workflow these
commands serve.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from bot.cli.common import DATE, day_or_today, fail, knowledge_or_exit, settings_or_exit
from bot.cli.kb_add import add
from bot.cli.kb_match import calibrate, search, why
from bot.cli.kb_reload import reload, remove
from knowledge.loader import KnowledgeBase
from knowledge.model import Entry, Topic


@click.group()
def kb() -> None:
    """Inspect, check, add to and reload the knowledge base."""


@kb.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
def validate(path: Path | None) -> None:
    """Validate every entry under PATH (default: the configured knowledge folder)."""
    base = knowledge_or_exit(path, strict=True)
    click.echo(f"OK: {len(base.entries)} entries valid.")


@kb.command()
@click.option("--json", "as_json", is_flag=True, required=True, help="Export as one JSON array.")
def export(as_json: bool) -> None:
    """Print every entry as one JSON array."""
    base = knowledge_or_exit()
    click.echo(
        json.dumps([e.model_dump(mode="json") for e in base.entries], ensure_ascii=False, indent=1)
    )


# ---- list/show


@kb.command("list")
@click.option("--topic", type=click.Choice([t.value for t in Topic]), help="Only this topic.")
def list_command(topic: str | None) -> None:
    """One line per entry: id, topic, status, review due date, question."""
    base = knowledge_or_exit()
    today = dt.date.today()
    chosen = [e for e in base.entries if topic is None or e.topic.value == topic]
    width = max((len(e.id) for e in chosen), default=2)
    for entry in chosen:
        due = entry.review_due.isoformat() + ("!" if entry.is_stale(today) else " ")
        click.echo(
            f"{entry.id:<{width}}  {entry.topic.value:<7}  {entry.status.value:<8}  {due}  {entry.question}"
        )
    click.echo(
        f"{len(chosen)} entries"
        + (
            " (! = past its review date: visabot kb stale)"
            if any(e.is_stale(today) for e in chosen)
            else ""
        )
    )


def _review_text(entry: Entry, today: dt.date) -> str:
    days = (entry.review_due - today).days
    if days < 0:
        return f"review due {entry.review_due.isoformat()} (overdue by {-days} days)"
    return f"review due {entry.review_due.isoformat()} (in {days} days)"


@kb.command()
@click.argument("entry_id", metavar="ID")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="The English, or the simplified Chinese of knowledge/zh/ID.yaml (the English, with a note, while it has none in step).")
def show(entry_id: str, lang: str) -> None:
    """Show entry ID as `visabot ask` renders it, plus its file, status and review date."""
    import difflib

    from bot.i18n import Lang
    from bot.replies.plain import entry_as_text, source_date
    from knowledge.bilingual import check_entry

    base = knowledge_or_exit()
    entry = base.get(entry_id)
    if entry is None:
        close = difflib.get_close_matches(entry_id, list(base.by_id), n=3, cutoff=0.5)
        hint = (
            f" Did you mean: {', '.join(close)}?" if close else " `visabot kb list` shows every id."
        )
        fail(f"No entry {entry_id!r}.{hint}")
    today = dt.date.today()
    click.echo(entry_as_text(entry, lang=Lang(lang), chinese=base.chinese))
    click.echo("\n" + "-" * 40)
    click.echo(f"id: {entry.id}   topic: {entry.topic.value}   status: {entry.status.value}")
    click.echo(f"file: {base.paths[entry.id]}")
    click.echo(
        f"as of {entry.as_of.isoformat()}, verified on {entry.verified_on.isoformat()}, {_review_text(entry, today)}"
    )
    click.echo(f"alternates ({len(entry.alternates)}):")
    for alternate in entry.alternates:
        click.echo(f"  - {alternate}")
    if entry.keywords:
        click.echo(f"keywords: {', '.join(entry.keywords)}")
    click.echo(f"related: {', '.join(entry.related) or 'none'}")
    if lang == "zh":
        problems = [p.message for p in check_entry(entry, base.chinese.get(entry.id))]
        click.echo(f"chinese: {'; '.join(problems) or 'in step with the English'}")
    for event in entry.history:
        click.echo(
            f"history {event.date.isoformat()}: {event.change} ({event.source.publisher}, {source_date(event.source)})"
        )



# ---- lint/stale


@kb.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--today", type=DATE, help="Check review dates as of this day (YYYY-MM-DD) instead of today."
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors too.")
def lint(path: Path | None, today: dt.datetime | None, strict: bool) -> None:
    """Check the knowledge base beyond the schema; exit status 1 when something needs fixing.

    Errors (exit 1): a file the loader refuses; an alternate or question that the bot answers
    with another entry, or does not answer (conflict); near-duplicate questions; an entry past its
    review date (stale); a related id that names no entry; an entry without Chinese text, or
    whose Chinese is out of step with the English or states other numbers.

    Warnings (listed, exit 0): an entry with no source of tier official or copy-of-official. Many
    entries rest on law firms or news because the official pages could not be retrieved; their
    status already says how firm the answer is. Find an official page when you can. --strict turns
    warnings into errors.
    """
    from knowledge.lint import lint_folder

    root = path or settings_or_exit().knowledge_dir
    findings, problems = lint_folder(root, day_or_today(today))
    warnings = [f for f in findings if not f.is_error]
    errors = [f"[invalid] {p}" for p in problems] + [str(f) for f in findings if f.is_error]
    if strict:
        errors += [str(f) for f in warnings]
        warnings = []
    if warnings:
        click.echo(f"Warnings ({len(warnings)}, listed for follow-up; they do not fail lint):")
        for finding in warnings:
            click.echo(f"  {finding}")
    if errors:
        click.echo(f"Errors ({len(errors)}, to fix):")
        for line in errors:
            click.echo(f"  {line}")
    click.echo(f"{len(errors)} error(s), {len(warnings)} warning(s).")
    if errors:
        sys.exit(1)


@kb.command()
@click.option("--today", type=DATE, help="Count as of this day (YYYY-MM-DD) instead of today.")
@click.option(
    "--within",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Also list entries due within this many days.",
)
def stale(today: dt.datetime | None, within: int) -> None:
    """Entries due for re-verification, oldest first, with due date and days overdue; and entries
    whose official source changed after their verified_on (the source watch's queue), marked."""
    base = knowledge_or_exit()
    day = day_or_today(today)
    horizon = day + dt.timedelta(days=within)
    changed = _source_changes(base)
    due = sorted(
        (e for e in base.entries if e.review_due < horizon or e.is_stale(day) or e.id in changed),
        key=lambda e: (e.review_due, e.id),
    )
    if not due:
        upcoming = min(base.entries, key=lambda e: (e.review_due, e.id))
        click.echo(
            f"No entry is due for re-verification. Next: {upcoming.id} on {upcoming.review_due.isoformat()}."
        )
        return
    width = max(len(e.id) for e in due)
    click.echo(f"{'due':<10}  {'overdue':>7}  {'id':<{width}}  question")
    for entry in due:
        overdue = (day - entry.review_due).days
        late = f"{overdue}d" if overdue > 0 else "-"
        mark = "  [official source changed since verified]" if entry.id in changed else ""
        click.echo(
            f"{entry.review_due.isoformat()}  {late:>7}  {entry.id:<{width}}  {entry.question}{mark}"
        )
    overdue_count = sum(e.is_stale(day) for e in due)
    click.echo(
        f"{overdue_count} of {len(base.entries)} entries past their review date. Re-check the sources, "
        "then update verified_on (and as_of if the facts changed)."
    )
    if changed:
        click.echo(
            f"{len(changed)} entr{'y' if len(changed) == 1 else 'ies'} with an official source changed since "
            "verified: see `visabot sources changed` for the pages."
        )


def _source_changes(base: KnowledgeBase) -> set[str]:
    """Ids in the source watch's review queue; none before the first `visabot sources check`
    (no database is created just to find that out)."""
    from bot.sources.watch import changed_entries
    from bot.storage import Storage

    db_path = settings_or_exit().db_path
    if not db_path.exists():
        return set()
    storage = Storage(db_path)
    try:
        return {entry.id for entry, _ in changed_entries(base.entries, storage)}
    finally:
        storage.close()


for _command in (search, why, calibrate, add, reload, remove):
    kb.add_command(_command)
