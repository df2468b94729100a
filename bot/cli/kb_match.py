"""`visabot kb search / why / calibrate` and `visabot gaps`: how the matcher treats questions.

For maintainers deciding whether a question needs a new entry, a new alternate, or a refit of
the decision model. The matcher and SQLite are imported inside the commands: `visabot ask` must
start fast.
"""

from __future__ import annotations

import click

from bot.cli.common import fail, knowledge_or_exit, settings_or_exit


@click.command()
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
    from knowledge.matcher import Matcher, Outcome

    matcher = Matcher(knowledge_or_exit())
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


@click.command()
@click.argument("text")
@click.option(
    "--limit", default=3, show_default=True, type=click.IntRange(1, 20), help="How many candidates."
)
def why(text: str, limit: int) -> None:
    """Why the matcher ranks entries as it does for TEXT: each candidate's features and weights."""
    from knowledge.features import FEATURES
    from knowledge.matcher import Matcher

    matcher = Matcher(knowledge_or_exit())
    question = matcher.question(text)
    click.echo(f"Normalised: {question.canonical!r}")
    named = [name for name, on in vars(question.signals).items() if on]
    click.echo(f"Names: {', '.join(named) or 'nothing in knowledge/scope.yaml'}")
    weights = dict(zip(FEATURES, matcher.model.weights))
    for entry, probability, features in matcher.explain(text, limit):
        click.echo(f"\n{probability:6.1%}  {entry.id}: {entry.question}")
        for name, value in features.items():
            click.echo(
                f"         {name:<16} {value:+.3f} × {weights[name]:+.2f} = {value * weights[name]:+.3f}"
            )
    click.echo(
        f"\n(bias {matcher.model.bias:+.2f}; probability = logistic(bias + Σ value × weight))"
    )


@click.command()
@click.option(
    "--dry-run", is_flag=True, help="Fit and report, but do not write knowledge/decision.yaml."
)
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
        fail("No training questions found under eval/ (run from a clone of the repository).")
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
    from knowledge.matcher import Matcher, Outcome

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
        matcher: Matcher | None = Matcher(load_knowledge_base(settings.knowledge_dir))
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
