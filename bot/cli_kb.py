"""`visabot kb ...` and `visabot gaps`: the maintainers' tools for the knowledge base.

Every write goes through knowledge.writer (locked, atomic, validated by the same model as the
shipped entries); every check through knowledge.lint; every match through the bot's own Matcher.
The matcher, lint, the writer and SQLite are imported inside the commands: `visabot ask` must start
fast. See docs/maintainers.md for the workflow these commands serve.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, get_args

import click
from pydantic import TypeAdapter, ValidationError

from bot.cli_common import knowledge_or_exit, settings_or_exit
from knowledge.model import MAX_ANSWER_CHARS, MIN_ALTERNATES, Entry, Source, Status, Tier, Topic

if TYPE_CHECKING:
    from knowledge.loader import KnowledgeBase
    from knowledge.matcher import Matcher

T = TypeVar("T")
DATE = click.DateTime(formats=["%Y-%m-%d"])
DEFAULT_REVIEW_AFTER_DAYS = 90
STATUS_HELP = (
    "official = stated by the authority itself; reported = media or law firms report it, not "
    "confirmed officially; unclear = sources conflict; pending = the authority has not published it"
)
TIER_HELP = (
    "official = the authority's own page; copy-of-official = a faithful copy of it (e.g. an embassy "
    "re-post); law-firm; news"
)
SLUG_HELP = "lowercase letters, digits and single hyphens, at most 48 characters, e.g. h1b-new-rule"


def _fail(message: str, problems: Iterable[object] = ()) -> NoReturn:
    for problem in problems:
        click.echo(f"  {problem}", err=True)
    click.echo(message, err=True)
    sys.exit(1)


def _matcher(base: KnowledgeBase) -> Matcher:
    from knowledge.matcher import Matcher

    return Matcher(base)


def _today(value: dt.datetime | None) -> dt.date:
    return value.date() if value is not None else dt.date.today()


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
    from bot.render import entry_as_text, source_date
    from knowledge.bilingual import check_entry

    base = knowledge_or_exit()
    entry = base.get(entry_id)
    if entry is None:
        close = difflib.get_close_matches(entry_id, list(base.by_id), n=3, cutoff=0.5)
        hint = (
            f" Did you mean: {', '.join(close)}?" if close else " `visabot kb list` shows every id."
        )
        _fail(f"No entry {entry_id!r}.{hint}")
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


@kb.command()
@click.argument("text")
@click.option(
    "--limit",
    default=5,
    show_default=True,
    type=click.IntRange(1, 50),
    help="How many matches to list.",
)
def search(text: str, limit: int) -> None:
    """How the bot would handle the question TEXT: the outcome and the top matches with scores."""
    from knowledge.matcher import Outcome

    matcher = _matcher(knowledge_or_exit())
    result = matcher.match(text)
    if result.outcome is Outcome.ANSWER and result.entry is not None:
        also = "".join(f" + {c.entry.id}" for c in result.also)
        click.echo(f"Outcome: answer with {result.entry.id}{also} (probability {result.score:g}%)")
    elif result.outcome is Outcome.CLARIFY:
        offered = ", ".join(c.entry.id for c in result.alternatives)
        click.echo(f'Outcome: clarify, asking "Did you mean…" with: {offered}')
    elif result.outcome is Outcome.SMALLTALK:
        click.echo(f"Outcome: small talk ({result.smalltalk}), a short hello")
    else:
        offered = ", ".join(c.entry.id for c in result.alternatives)
        click.echo(
            "Outcome: decline (no sourced answer)"
            + (f"; offers as closest: {offered}" if offered else "")
        )
    ranked = matcher.ranked(text, limit=limit)
    if ranked:
        click.echo("Top matches (probability that the entry answers, %):")
        width = max(len(c.entry.id) for c in ranked)
        for candidate in ranked:
            click.echo(
                f"  {candidate.score:5.1f}  {candidate.entry.id:<{width}}  {candidate.entry.question}"
            )
    else:
        click.echo("No entry matches at all (out of scope, or no content words).")
    t = matcher.model.thresholds
    click.echo(
        f"(answer at ≥ {t.answer:.0%}; clarify at ≥ {t.clarify:.0%}; runners-up offered at ≥ {t.offer:.0%}; "
        "`visabot kb why` shows the features behind each probability)"
    )


@kb.command()
@click.argument("text")
@click.option("--limit", default=3, show_default=True, type=click.IntRange(1, 20), help="How many candidates.")
def why(text: str, limit: int) -> None:
    """Why the matcher ranks entries as it does for TEXT: each candidate's features and weights."""
    from knowledge.features import FEATURES

    matcher = _matcher(knowledge_or_exit())
    question = matcher.question(text)
    click.echo(f"Normalised: {question.canonical!r}")
    named = [name for name, on in vars(question.signals).items() if on]
    click.echo(f"Names: {', '.join(named) or 'nothing in knowledge/scope.yaml'}")
    weights = dict(zip(FEATURES, matcher.model.weights))
    for entry, probability, features in matcher.explain(text, limit):
        click.echo(f"\n{probability:6.1%}  {entry.id}: {entry.question}")
        for name, value in features.items():
            click.echo(f"         {name:<16} {value:+.3f} × {weights[name]:+.2f} = {value * weights[name]:+.3f}")
    click.echo(f"\n(bias {matcher.model.bias:+.2f}; probability = logistic(bias + Σ value × weight))")


@kb.command()
@click.option("--dry-run", is_flag=True, help="Fit and report, but do not write knowledge/decision.yaml.")
def calibrate(dry_run: bool) -> None:
    """Refit the decision model on eval/ (never the locked test half) and rewrite knowledge/decision.yaml."""
    from knowledge import DEFAULT_KNOWLEDGE_DIR
    from knowledge.calibration import TRAINING_SETS, describe, training_items
    from knowledge.calibration import calibrate as fit
    from knowledge.decision import DECISION_FILENAME, DecisionModel
    from knowledge.loader import load_knowledge_base
    from knowledge.matcher import Matcher

    items = training_items()
    if not items:
        _fail("No training questions found under eval/ (run from a clone of the repository).")
    # Features do not depend on the model: an untrained one lets a stale decision.yaml be refitted.
    matcher = Matcher(load_knowledge_base(DEFAULT_KNOWLEDGE_DIR), model=DecisionModel.untrained())
    model, fitted, validated = fit(matcher, items)
    click.echo(f"Fitted on {len(items)} questions ({', '.join(n for n, _ in TRAINING_SETS)}).")
    click.echo(f"On those questions:      {describe(fitted)}")
    click.echo(f"5-fold cross-validation: {describe(validated)}")
    t = model.thresholds
    click.echo(f"Thresholds: answer {t.answer:.2f}, clarify {t.clarify:.2f}, offer {t.offer:.2f}")
    if dry_run:
        return
    path = DEFAULT_KNOWLEDGE_DIR / DECISION_FILENAME
    model.dump(path, DECISION_HEADER)
    click.echo(f"Wrote {path}. Check it with `make bench` before committing.")


DECISION_HEADER = """The matcher's decision model: written by `visabot kb calibrate`; do not edit by hand.
A candidate entry's probability of answering the question is logistic(bias + sum of feature x weight)
(features: knowledge/features.py). Thresholds act on the best candidate's probability: answer at or
above `answer`, ask "did you mean" at or above `clarify`, offer runners-up at or above `offer`."""


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
    findings, problems = lint_folder(root, _today(today))
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
    """Entries due for re-verification, oldest first, with due date and days overdue."""
    base = knowledge_or_exit()
    day = _today(today)
    horizon = day + dt.timedelta(days=within)
    due = sorted(
        (e for e in base.entries if e.review_due < horizon or e.is_stale(day)),
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
        click.echo(
            f"{entry.review_due.isoformat()}  {late:>7}  {entry.id:<{width}}  {entry.question}"
        )
    overdue_count = sum(e.is_stale(day) for e in due)
    click.echo(
        f"{overdue_count} of {len(base.entries)} entries past their review date. Re-check the sources, "
        "then update verified_on (and as_of if the facts changed)."
    )


# ---- reload


def _running_bot(db_path: Path) -> tuple[int | None, str]:
    """The pid of the bot running on this database (from its pid file, checked against the
    process's command line and the instance lock), or None with the reason."""
    from bot.runner import PID_FILE_NAME, lock_is_held

    pid_file = db_path.parent / PID_FILE_NAME
    try:
        pid = int(pid_file.read_text().strip())
    except FileNotFoundError:
        return None, f"no bot is running (no pid file at {pid_file})"
    except (OSError, ValueError):
        return None, f"no bot is running (unreadable pid file {pid_file})"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return (
            None,
            f"no bot is running (pid file {pid_file} names process {pid}, which has exited)",
        )
    except PermissionError:
        pass  # it exists; the real signal below reports the permission problem
    # A pid file left by a killed bot may name a reused pid: SIGHUP would end most programs. On
    # Linux, signal only a process whose command line names visabot.
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.is_dir():
        try:
            is_visabot = b"visabot" in cmdline.read_bytes()
        except OSError:
            is_visabot = True
        if not is_visabot:
            return (
                None,
                f"no bot is running (pid file {pid_file} names process {pid}, which is not visabot)",
            )
    if not lock_is_held(db_path):
        return None, f"no bot is running (stale pid file {pid_file}: no bot holds the lock on {db_path}); not signalled"
    return pid, ""


@kb.command()
def reload() -> None:
    """Validate the knowledge folder, then make the running bot reload it (SIGHUP).

    An invalid folder is refused with its problems (exit 1) and the running bot keeps serving its
    last good knowledge base. The bot is found through `visabot.pid` next to VISABOT_DB_PATH, so
    run this with the bot's settings.
    """
    from knowledge.loader import KnowledgeError, load_knowledge_base

    settings = settings_or_exit()
    try:
        base = load_knowledge_base(settings.knowledge_dir)
    except KnowledgeError as exc:
        _fail(
            f"Refused: {settings.knowledge_dir} has {len(exc.problems)} problem(s); nothing was reloaded, "
            "and a running bot keeps serving its last good knowledge base.",
            exc.problems,
        )
    valid = f"Knowledge base valid: {len(base.entries)} entries in {settings.knowledge_dir}."
    pid, reason = _running_bot(settings.db_path)
    if pid is None:
        click.echo(f"{valid}\nNothing to reload: {reason}; the next start will load it.")
        return
    try:
        os.kill(pid, signal.SIGHUP)
    except PermissionError:
        _fail(
            f"{valid}\nCannot signal the bot (pid {pid}): permission denied. Run this as the bot's user."
        )
    click.echo(f"{valid}\nSent SIGHUP to the running bot (pid {pid}): it reloads now.")


# ---- remove


@kb.command()
@click.argument("entry_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove(entry_id: str, yes: bool) -> None:
    """Delete the entry ENTRY_ID's file (under the write lock) and make a running bot reload."""
    from knowledge.writer import NoSuchEntry, remove_entry

    settings = settings_or_exit()
    root = settings.knowledge_dir
    path = next((root / "entries").glob(f"*/{entry_id}.yaml"), None)
    if path is None:
        _fail(f"No entry {entry_id!r} in {root}. Nothing was removed.")
    if not yes and not click.confirm(f"Delete {path}?", default=False):
        _fail("Not removed.")
    try:
        base, referring = remove_entry(root, entry_id)
    except NoSuchEntry:
        _fail(f"No entry {entry_id!r} in {root} (removed meanwhile?). Nothing was removed.")
    click.echo(f"Removed {entry_id}: {path} ({len(base.entries)} entries left).")
    if referring:
        click.echo(f"Still listed as related by: {', '.join(referring)} (`visabot kb lint` reports them).")
    pid, reason = _running_bot(settings.db_path)
    if pid is None:
        click.echo(f"Nothing to reload: {reason}.")
        return
    try:
        os.kill(pid, signal.SIGHUP)
    except PermissionError:
        _fail(f"Cannot signal the bot (pid {pid}): permission denied. Run `visabot kb reload` as the bot's user.")
    click.echo(f"Sent SIGHUP to the running bot (pid {pid}): it stops serving {entry_id} now.")


# ---- add


def _message(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
    return str(exc)


@cache
def _entry_adapter(name: str, item: bool = False) -> TypeAdapter[Any]:
    """The model's own type and constraints for one field of Entry (or one item of a list field)."""
    info = Entry.model_fields[name]
    annotation: Any = info.annotation
    if item:
        return TypeAdapter(get_args(annotation)[0])
    if info.metadata:
        annotation = Annotated.__class_getitem__((annotation, *info.metadata))  # type: ignore[attr-defined]
    return TypeAdapter(annotation)


_SOURCE_TEMPLATE = {
    "title": "t",
    "publisher": "p",
    "url": "https://example.org",
    "date": "n.d.",
    "tier": "news",
}


def _source_field(name: str) -> Callable[[str], Any]:
    """Check one field of a source with the Source model itself (validators included)."""

    def check(text: str) -> Any:
        try:
            return getattr(Source.model_validate({**_SOURCE_TEMPLATE, name: text}), name)
        except ValidationError as exc:
            raise ValueError(_message(exc)) from None

    return check


def _field(name: str, item: bool = False) -> Callable[[str], Any]:
    def check(text: str) -> Any:
        try:
            return _entry_adapter(name, item).validate_python(text)
        except ValidationError as exc:
            raise ValueError(_message(exc)) from None

    return check


def _ask(label: str, check: Callable[[str], T], default: str | None = None) -> T:
    """Prompt until `check` accepts the text (it raises ValueError with the reason)."""
    while True:
        text = click.prompt(label, default=default, show_default=default is not None)
        try:
            return check(text.strip())
        except ValueError as exc:
            click.echo(f"  ✗ {_message(exc)}", err=True)


def _ask_optional(label: str) -> str:
    return str(click.prompt(label, default="", show_default=False)).strip()


def _ask_list(label: str, check: Callable[[str, list[T]], T], minimum: int = 0) -> list[T]:
    """One item per prompt; an empty line ends the list once it has `minimum` items."""
    items: list[T] = []
    while True:
        text = _ask_optional(f"{label} {len(items) + 1} (empty line ends)")
        if not text:
            if len(items) >= minimum:
                return items
            click.echo(f"  ✗ at least {minimum} needed, {len(items)} so far", err=True)
            continue
        try:
            items.append(check(text, items))
        except ValueError as exc:
            click.echo(f"  ✗ {_message(exc)}", err=True)


def _choice(label: str, choices: type[Topic | Status | Tier]) -> str:
    return str(click.prompt(label, type=click.Choice([c.value for c in choices])))


def _prompt_source(number: int) -> dict[str, Any] | None:
    title = _ask_optional(f"Source {number} title (empty line ends)")
    if not title:
        return None
    source: dict[str, Any] = {"title": _source_field("title")(title)}
    source["publisher"] = _ask(f"Source {number} publisher", _source_field("publisher"))
    source["url"] = _ask(f"Source {number} URL (http:// or https://)", _source_field("url"))

    def date_check(text: str) -> Any:
        try:
            return _source_field("date")(text)
        except ValueError as exc:
            raise ValueError(f"not YYYY-MM-DD or n.d. ({exc})") from None

    date = _ask(f"Source {number} date (YYYY-MM-DD, or n.d. when the page has none)", date_check)
    source["date"] = date if date == "n.d." else date.isoformat()
    if date != "n.d." and click.confirm(
        f"Source {number}: is that date approximate (inferred from the page)?", default=False
    ):
        source["approximate"] = True
    click.echo(f"  tiers: {TIER_HELP}")
    source["tier"] = _choice(f"Source {number} tier", Tier)
    return source


def _prompt_entry(base: KnowledgeBase) -> dict[str, Any]:
    def new_id(text: str) -> str:
        try:
            slug = str(_field("id")(text))
        except ValueError:
            raise ValueError(f"not a valid id: use {SLUG_HELP}") from None
        if base.get(slug) is not None:
            raise ValueError(f"an entry {slug!r} already exists ({base.paths[slug]})")
        return slug

    data: dict[str, Any] = {}
    click.echo(
        "New knowledge-base entry (see docs/maintainers.md). Ctrl-C cancels; nothing is written until you confirm."
    )
    data["id"] = _ask(f"Id ({SLUG_HELP})", new_id)
    data["topic"] = _choice("Topic", Topic)
    data["question"] = _ask("Question (the canonical wording)", _field("question"))

    def alternate(text: str, given: list[str]) -> str:
        value = str(_field("alternates", item=True)(text))
        if value.casefold() in {t.casefold() for t in (data["question"], *given)}:
            raise ValueError("already given")
        return value

    click.echo(
        f"Alternates: at least {MIN_ALTERNATES} other ways users ask it (keywords, typos, Hinglish, Chinese…)."
    )
    data["alternates"] = _ask_list("Alternate", alternate, minimum=MIN_ALTERNATES)
    data["answer"] = _ask_answer()
    data["caveats"] = _ask_list("Caveat", lambda text, _: str(_field("caveats", item=True)(text)))
    click.echo(f"  statuses: {STATUS_HELP}")
    data["status"] = _choice("Status", Status)
    sources: list[dict[str, Any]] = []
    while True:
        source = _prompt_source(len(sources) + 1)
        if source is not None:
            sources.append(source)
        elif sources:
            break
        else:
            click.echo("  ✗ at least one source is needed", err=True)
    data["sources"] = sources
    dated = [s["date"] for s in sources if s["date"] != "n.d."]
    as_of = _ask(
        "As of (YYYY-MM-DD: the date the answer is true as of)",
        _field("as_of"),
        default=max(dated) if dated else None,
    )
    data["as_of"] = as_of.isoformat()

    def verified(text: str) -> dt.date:
        day: dt.date = _field("verified_on")(text)
        if day < as_of:
            raise ValueError(f"verified_on cannot be earlier than as_of ({as_of.isoformat()})")
        return day

    data["verified_on"] = _ask(
        "Verified on (YYYY-MM-DD)", verified, default=dt.date.today().isoformat()
    ).isoformat()
    data["review_after_days"] = _ask(
        "Re-check after how many days (30 for fast-moving rules)",
        _field("review_after_days"),
        default=str(DEFAULT_REVIEW_AFTER_DAYS),
    )

    def related(text: str, given: list[str]) -> str:
        if text == data["id"]:
            raise ValueError("an entry cannot be related to itself")
        if text in given:
            raise ValueError("already listed")
        if base.get(text) is None:
            raise ValueError(f"no entry {text!r} (`visabot kb list` shows every id)")
        return text

    data["related"] = _ask_list("Related entry id", related)
    return data


def _ask_answer() -> str:
    """The answer: one or more lines (joined with spaces), an empty line ends it."""
    check = _field("answer")
    while True:
        lines = [
            _ask("Answer (plain text; more lines may follow, an empty line ends)", lambda t: t)
        ]
        while line := _ask_optional("Answer, continued"):
            lines.append(line)
        text = " ".join(lines)
        if len(text) > MAX_ANSWER_CHARS:
            click.echo(
                f"  ✗ {len(text)} characters; an answer has at most {MAX_ANSWER_CHARS}. Type it again, shorter.",
                err=True,
            )
            continue
        try:
            return str(check(text))
        except ValueError as exc:
            click.echo(f"  ✗ {_message(exc)}", err=True)


def _write(root: Path, entry: Entry) -> None:
    """Add `entry` under `root` with the safe writer; report the outcome and any match conflicts."""
    from knowledge.lint import conflicts_of
    from knowledge.loader import KnowledgeError
    from knowledge.writer import EntryExists, add_entry, entry_path

    try:
        base = add_entry(root, entry)
    except EntryExists:
        existing = next((root / "entries").glob(f"*/{entry.id}.yaml"), None)
        _fail(
            f"Refused: an entry with id {entry.id!r} already exists ({existing}). Nothing was written."
        )
    except KnowledgeError as exc:
        _fail(
            "Refused: the knowledge base would be invalid with this entry. Nothing was written.",
            exc.problems,
        )
    click.echo(f"Added {entry.id}: {entry_path(root, entry)} ({len(base.entries)} entries).")
    found = conflicts_of(_matcher(base), entry)
    if found:
        click.echo(
            "Check the wording: these phrasings do not lead to the new entry (`visabot kb lint` fails until fixed):"
        )
        for finding in found:
            click.echo(f"  {finding.detail}")
    click.echo("A running bot serves it after `visabot kb reload` (or /reload in Telegram).")


@kb.command()
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Add the entry in this YAML file (the standard entry format) instead of asking.",
)
def add(from_file: Path | None) -> None:
    """Add an entry: interactive prompts checked at each step, or --from-file entry.yaml.

    The entry is validated by the same model as the shipped entries and written, locked and
    atomically, to entries/<topic>/<id>.yaml in the configured knowledge folder. A duplicate id
    is refused.
    """
    from knowledge.loader import parse_entry_text
    from knowledge.writer import entry_path, entry_to_yaml

    root = settings_or_exit().knowledge_dir
    if from_file is not None:
        try:
            text = from_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"Cannot read {from_file}: {exc}")
        entry, problems = parse_entry_text(text, from_file)
        if entry is None:
            _fail(
                f"Refused: {from_file} has {len(problems)} problem(s). Nothing was written.",
                problems,
            )
        _write(root, entry)
        return
    data = _prompt_entry(knowledge_or_exit(root))
    try:
        entry = Entry.model_validate(data)
    except ValidationError as exc:  # the steps check each field; this catches what spans fields
        _fail(f"Refused: {_message(exc)}. Nothing was written.")
    click.echo(f"\n# {entry_path(root, entry)}\n{entry_to_yaml(entry)}")
    if not click.confirm("Write this entry?", default=True):
        click.echo("Cancelled: nothing was written.")
        return
    _write(root, entry)


# ---- gaps


def _stamp(value: object) -> str:
    return str(value).replace("T", " ")[:16]


@click.command()
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many questions.",
)
def gaps(limit: int) -> None:
    """The most frequent questions the bot could not answer, with counts, first and last seen."""
    from bot.storage import Storage
    from knowledge.loader import KnowledgeError, load_knowledge_base
    from knowledge.matcher import Outcome

    settings = settings_or_exit()
    if not settings.db_path.exists():
        click.echo(f"No unanswered questions recorded yet (no database at {settings.db_path}).")
        return
    storage = Storage(settings.db_path)
    try:
        rows = storage.unanswered(limit)
    finally:
        storage.close()
    if not rows:
        click.echo("No unanswered questions recorded yet.")
        return
    try:  # entries added since may answer some of them now
        matcher: Matcher | None = _matcher(load_knowledge_base(settings.knowledge_dir))
    except KnowledgeError:
        matcher = None
    click.echo(f"{'count':>5}  {'first seen':<16}  {'last seen':<16}  question")
    for row in rows:
        text = str(row["text"])
        click.echo(
            f"{row['count']:>5}  {_stamp(row['first_seen']):<16}  {_stamp(row['last_seen']):<16}  {text}"
        )
        result = matcher.match(text) if matcher is not None else None
        if result is not None and result.outcome is Outcome.ANSWER and result.entry is not None:
            click.echo(f"{'':>43}→ now answered by {result.entry.id}")
        elif result is not None and result.outcome is Outcome.CLARIFY:
            click.echo(
                f"{'':>43}→ now asks to clarify: {', '.join(c.entry.id for c in result.alternatives)}"
            )
    click.echo(
        "Add an entry for a gap (`visabot kb add`, or /add in Telegram), or attach the question as an "
        "alternate of an existing entry (/gaps in Telegram); then run `visabot kb lint`."
    )
