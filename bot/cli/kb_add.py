"""`visabot kb add`: a new entry from prompts checked at each step, or from a YAML file.

The entry is validated by the same model as the shipped entries and written through
knowledge.writer (locked, atomic), together with its simplified Chinese (knowledge/zh/<id>.yaml):
prompted after the English, or read from --zh-file. Every entry has both languages (`kb lint`
errors otherwise), so nothing is written without the Chinese, or with Chinese that states other
numbers than the English (knowledge.bilingual.translation). The lint checks and the writer are
imported inside the command: `visabot ask` must start fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
from pydantic import TypeAdapter, ValidationError

from bot.cli.common import fail, knowledge_or_exit, settings_or_exit
from knowledge.authoring import (
    Repeated,
    clean_alternate,
    clean_answer,
    clean_caveat,
    clean_question,
    review_days,
    url_problem,
)
from knowledge.model import MIN_ALTERNATES, Entry, Source, Status, Tier, Topic

if TYPE_CHECKING:
    from knowledge.bilingual import ChineseText
    from knowledge.caveats import SharedCaveats
    from knowledge.loader import KnowledgeBase

T = TypeVar("T")
STATUS_HELP = (
    "official = stated by the authority itself; reported = media or law firms report it, not "
    "confirmed officially; unclear = sources conflict; pending = the authority has not published it"
)
TIER_HELP = (
    "official = the authority's own page; copy-of-official = a faithful copy of it (e.g. an embassy "
    "re-post); law-firm; news"
)
SLUG_HELP = "lowercase letters, digits and single hyphens, at most 48 characters, e.g. h1b-new-rule"


def _message(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
    return str(exc)


@cache
def _entry_adapter(name: str) -> TypeAdapter[Any]:
    """The model's own type and constraints for one field of Entry."""
    info = Entry.model_fields[name]
    annotation: Any = info.annotation
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


def _field(name: str) -> Callable[[str], Any]:
    def check(text: str) -> Any:
        try:
            return _entry_adapter(name).validate_python(text)
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

    def url_check(text: str) -> Any:
        url = _source_field("url")(text)
        problem = url_problem(str(url))
        if problem:
            raise ValueError(problem)
        return url

    source["url"] = _ask(f"Source {number} URL (http:// or https://)", url_check)

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
    data["question"] = _ask("Question (the canonical wording)", clean_question)

    def alternate(text: str, given: list[str]) -> str:
        try:
            return clean_alternate(text, [data["question"], *given])
        except Repeated:
            raise ValueError("already given") from None

    click.echo(
        f"Alternates: at least {MIN_ALTERNATES} other ways users ask it (keywords, typos, Hinglish, Chinese…)."
    )
    data["alternates"] = _ask_list("Alternate", alternate, minimum=MIN_ALTERNATES)
    data["answer"] = _ask_answer()
    data["caveats"] = _ask_list("Caveat", lambda text, _: clean_caveat(text))
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
        "Re-check after how many days",
        _field("review_after_days"),
        default=str(review_days(Status(data["status"]))),
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


def _ask_answer(label: str = "Answer") -> str:
    """The answer: one or more lines, an empty line ends it (lines joined as knowledge.authoring
    joins them for Telegram's /add too)."""
    while True:
        lines = [
            _ask(f"{label} (plain text; more lines may follow, an empty line ends)", lambda t: t)
        ]
        while line := _ask_optional(f"{label}, continued"):
            lines.append(line)
        try:
            return clean_answer(lines)
        except ValueError as exc:
            click.echo(f"  ✗ {exc}. Type it again, shorter.", err=True)


def _prompt_chinese(entry: Entry, shared: SharedCaveats) -> ChineseText:
    """The entry's simplified Chinese, asked after the English, part by part; asked again until
    it says what the English says (the same numbers and dates, one caveat for each)."""
    from knowledge.bilingual import ChineseParts, Untranslated, shared_chinese, translation

    click.echo(
        "中文: the simplified-Chinese text, with the same numbers and dates (10万美元 = $100,000, 2025年9月21日 = 21 Sep 2025)."
    )
    while True:
        click.echo(f"  English question: {entry.question}")
        question = _ask("中文 question", clean_question)
        click.echo(f"  English answer: {entry.answer}")
        answer = _ask_answer("中文 answer")
        caveats: list[str | dict[str, str]] = []
        for n, (english, zh) in enumerate(
            zip(entry.caveats, shared_chinese(entry.caveats, shared), strict=True), 1
        ):
            if zh is not None:
                click.echo(f"  Caveat {n} is a shared caveat: its Chinese comes from caveats.yaml.")
                caveats.append(zh)
            else:
                click.echo(f"  English caveat {n}: {english}")
                caveats.append(_ask(f"中文 caveat {n}", clean_caveat))
        try:
            return translation(entry, ChineseParts(question, answer, caveats), shared)
        except Untranslated as exc:
            click.echo(f"  ✗ {exc}. Type the Chinese again.", err=True)


def _chinese_from_file(path: Path, entry: Entry, shared: SharedCaveats) -> ChineseText:
    """The Chinese of --zh-file (question, answer, caveats: each a text or a `ref: <id>` of a
    shared caveat), checked against `entry`; refuses (exits) when it is missing or does not fit."""
    import yaml

    from knowledge.bilingual import ChineseParts, Untranslated, translation

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        fail(f"Cannot read {path}: {exc}".splitlines()[0])
    if not isinstance(data, dict) or not set(data) <= {"question", "answer", "caveats"}:
        fail(
            f"Refused: {path} must hold the Chinese question, answer and caveats, nothing else. Nothing was written."
        )
    try:
        return translation(
            entry,
            ChineseParts(data.get("question"), data.get("answer"), data.get("caveats")),
            shared,
        )
    except Untranslated as exc:
        fail(f"Refused: {path}: {exc}. Nothing was written.")


def _write(root: Path, entry: Entry, zh: ChineseText) -> None:
    """Add `entry` and its Chinese under `root` with the safe writer; report the outcome and any
    match conflicts."""
    from knowledge.lint import conflicts_of
    from knowledge.loader import KnowledgeError
    from knowledge.matcher import Matcher
    from knowledge.writer import EntryExists, add_entry, entry_path, zh_path

    try:
        base = add_entry(root, entry, zh)
    except EntryExists:
        existing = next((root / "entries").glob(f"*/{entry.id}.yaml"), None)
        fail(
            f"Refused: an entry with id {entry.id!r} already exists ({existing}). Nothing was written."
        )
    except KnowledgeError as exc:
        fail(
            "Refused: the knowledge base would be invalid with this entry. Nothing was written.",
            exc.problems,
        )
    click.echo(
        f"Added {entry.id}: {entry_path(root, entry)} and {zh_path(root, entry.id)} ({len(base.entries)} entries)."
    )
    found = conflicts_of(Matcher(base), entry)
    if found:
        click.echo(
            "Check the wording: these phrasings do not lead to the new entry (`visabot kb lint` fails until fixed):"
        )
        for finding in found:
            click.echo(f"  {finding.detail}")
    click.echo("A running bot serves it after `visabot kb reload` (or /reload in Telegram).")


@click.command()
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Add the entry in this YAML file (the standard entry format) instead of asking.",
)
@click.option(
    "--zh-file",
    "zh_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --from-file: the entry's simplified Chinese (question, answer, caveats) in this YAML file; required.",
)
def add(from_file: Path | None, zh_file: Path | None) -> None:
    """Add an entry: interactive prompts checked at each step, or --from-file entry.yaml
    --zh-file entry.zh.yaml.

    The entry is validated by the same model as the shipped entries and written, locked and
    atomically, to entries/<topic>/<id>.yaml in the configured knowledge folder, with its
    Chinese in zh/<id>.yaml (prompted after the English, or --zh-file); nothing is written
    without the Chinese. A duplicate id is refused.
    """
    from knowledge.caveats import load_shared_caveats
    from knowledge.loader import parse_entry_text
    from knowledge.writer import chinese_to_yaml, entry_path, entry_to_yaml, zh_path

    root = settings_or_exit().knowledge_dir
    shared = load_shared_caveats(root)[0]
    if zh_file is not None and from_file is None:
        fail("--zh-file goes with --from-file; without it the Chinese is asked after the English.")
    if from_file is not None:
        try:
            text = from_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"Cannot read {from_file}: {exc}")
        entry, problems = parse_entry_text(text, from_file, shared)
        if entry is None:
            fail(
                f"Refused: {from_file} has {len(problems)} problem(s). Nothing was written.",
                problems,
            )
        if zh_file is None:
            fail(
                "Refused: every entry needs its Chinese: give it with --zh-file (see docs/maintainers.md). Nothing was written."
            )
        _write(root, entry, _chinese_from_file(zh_file, entry, shared))
        return
    data = _prompt_entry(knowledge_or_exit(root))
    try:
        entry = Entry.model_validate(data)
    except ValidationError as exc:  # the steps check each field; this catches what spans fields
        fail(f"Refused: {_message(exc)}. Nothing was written.")
    zh = _prompt_chinese(entry, shared)
    click.echo(f"\n# {entry_path(root, entry)}\n{entry_to_yaml(entry, shared)}")
    click.echo(f"# {zh_path(root, entry.id)}\n{chinese_to_yaml(zh, shared)}")
    if not click.confirm("Write this entry?", default=True):
        click.echo("Cancelled: nothing was written.")
        return
    _write(root, entry, zh)
