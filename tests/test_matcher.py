"""The whole matcher: outcomes, the topic rule, small talk, compound questions, follow-ups, and
behaviour on hostile input. Each stage alone is tested in test_matching_stages.py."""

from __future__ import annotations

import dataclasses

import pytest

from knowledge.decision import Thresholds
from knowledge.features import FEATURES, Question
from knowledge.loader import KnowledgeBase
from knowledge.matcher import MAX_PARTS, Matcher, Outcome
from knowledge.model import Topic
from knowledge.normalize import MAX_QUERY_CHARS, Normalizer, fold


def test_fold_handles_width_case_punctuation_controls() -> None:
    assert fold("Ｈ－１Ｂ\u200b  FEE!!!\x00") == "h 1b fee"
    assert fold("K字签证是什么？") == "k字签证是什么"


def test_synonyms_map_variants_to_canonical(shipped_kb: KnowledgeBase) -> None:
    norm = Normalizer(shipped_kb.synonyms)
    for variant in ["H1B", "H-1B", "h1-b", "h 1 b", "H1b visa"]:
        assert "h1b" in norm.tokens(variant), variant
    for variant in ["K visa", "K-visa", "K字签证", "K签证", "青年科技人才签证"]:
        assert norm.canonical(variant).startswith("k visa"), variant


def test_spaces_between_chinese_words_do_not_hide_curated_terms(matcher: Matcher) -> None:
    assert fold("K签证 年龄 限制 h1b 费用") == "k签证年龄限制 h1b 费用"
    result = matcher.match("K签证 年龄 限制")
    assert result.entry is not None and result.entry.id == "k-visa-age-limit"


@pytest.mark.parametrize(
    "text", ["can i bring my dog to china", "how to get green card through marriage"]
)
def test_sharing_words_without_an_entrys_anchors_is_not_an_answer(
    matcher: Matcher, text: str
) -> None:
    # Each once got a confident answer (K-visa family; H-1B dual intent) from words like "bring
    # ... to china" and "green card", though neither names a visa the entry is about.
    assert matcher.match(text).outcome is not Outcome.ANSWER


def test_a_marker_word_the_entry_never_uses_counts_against_it(matcher: Matcher) -> None:
    # "100k" anchors the payment entries; the cap-exemption entry never uses it. It is one of the
    # question's three marker words (h1b, cap, 100k), and about as rare as "cap": a large share.
    features = {e.id: f for e, _, f in matcher.explain("h1b cap exempt university 100k?", limit=5)}
    assert features["h1b-cap-exempt-employers"]["marker_miss"] > 0.35
    assert features["h1b-100k-cap-exempt-employers"]["marker_miss"] == 0.0
    assert matcher.model.weights[FEATURES.index("marker_miss")] < 0


def test_h4_names_the_h1b_side(matcher: Matcher) -> None:
    result = matcher.match("can my wife and kid come on h4")
    assert result.entry is not None and result.entry.id == "h1b-h4-dependents"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "😀😀😀🎉",
        "\x00\x01\x02\x1b[31m",
        "<b>",
        "**__`",
        "?!?!",
        "\u202e\u200f\u200b",
    ],
)
def test_empty_or_meaningless_input_declines(matcher: Matcher, text: str) -> None:
    result = matcher.match(text)
    assert result.outcome is Outcome.DECLINE
    assert result.entry is None


def test_huge_input_is_truncated_and_still_matches(matcher: Matcher) -> None:
    question = "Is the $100,000 H-1B fee charged every year? "
    assert len(question + "x" * 10_000) > MAX_QUERY_CHARS * 10
    result = matcher.match(question + "x" * 10_000)
    assert result.outcome is Outcome.ANSWER and result.entry is not None
    assert result.entry.id == "h1b-100k-one-time"


def test_html_and_markdown_fragments_do_not_break_matching(matcher: Matcher) -> None:
    result = matcher.match("<b>H1B</b> **cap** how many?")
    assert result.entry is not None and result.entry.id == "h1b-cap"


def test_topic_guard_keeps_h1b_questions_off_k_visa_entries(matcher: Matcher) -> None:
    # The ranking itself, not only the reply: a bare decline must not pass for obeying the rule.
    for text in [
        "h1b age limit",
        "h1b fees for family",
        "H-1B documents needed",
        "h1b permanent residence",
    ]:
        ranked = matcher.ranked(text, 5)
        assert ranked, text
        assert all(c.entry.topic is not Topic.K_VISA for c in ranked), (
            text,
            [c.entry.id for c in ranked],
        )


def test_topic_guard_keeps_us_questions_off_k_visa_entries(matcher: Matcher) -> None:
    # Naming the US (not the pronoun "us") without China or the K visa rules K-visa entries out.
    for text in [
        "how to get permanent residency in usa",
        "permanent residence in the U.S.",
        "US work permit",
    ]:
        ranked = matcher.ranked(text, 5)
        assert ranked, text
        assert all(c.entry.topic is not Topic.K_VISA for c in ranked), (
            text,
            [c.entry.id for c in ranked],
        )
    # ...but lower-case "us" is the pronoun: K-visa entries stay candidates.
    ranked = matcher.ranked("can they send us to china on a k visa")
    assert ranked and all(c.entry.topic is not Topic.H1B for c in ranked[:3])


def test_a_question_describing_the_k_visa_without_naming_it_reaches_it(matcher: Matcher) -> None:
    """Answered, or offered first: "china talent visa" is officially the R visa's name, so asking
    which was meant is as right as answering."""
    result = matcher.match("china talent visa age limit")
    first = result.entry or (result.alternatives[0].entry if result.alternatives else None)
    assert result.outcome in (Outcome.ANSWER, Outcome.CLARIFY)
    assert first is not None and first.id == "k-visa-age-limit"


def test_topic_guard_keeps_k_visa_questions_off_h1b_entries(matcher: Matcher) -> None:
    for text in [
        "k visa lottery",
        "k visa registration fee",
        "K visa grace period",
        "k visa 60 days",
    ]:
        ranked = matcher.ranked(text, 5)
        assert ranked, text
        assert all(c.entry.topic is not Topic.H1B for c in ranked), (
            text,
            [c.entry.id for c in ranked],
        )


def test_comparison_questions_reach_compare_entries(matcher: Matcher) -> None:
    result = matcher.match("k visa vs h1b which is better")
    assert result.entry is not None and result.entry.topic is Topic.COMPARE


@pytest.mark.parametrize(
    "text",
    [
        "Schengen visa processing time",
        "UK skilled worker visa salary threshold",
        "Canada express entry draw",
        "Australia 482 visa requirements",
        "Japan working holiday visa age limit",
    ],
)
def test_other_countries_visas_decline(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).outcome is Outcome.DECLINE


def test_one_plain_word_is_not_answered(matcher: Matcher) -> None:
    result = matcher.match("visa")
    assert result.outcome is not Outcome.ANSWER
    assert len(result.alternatives) <= 3


def test_result_is_structured(matcher: Matcher) -> None:
    result = matcher.match("h1b master's cap")
    assert result.outcome is Outcome.ANSWER and result.matched
    assert result.entry is not None and result.entry.id == "h1b-masters-cap"
    assert 0 < result.score <= 100
    assert all(c.score <= result.score for c in result.alternatives)


@pytest.mark.parametrize("text", ["hello", "thanks!", "who are you"])
def test_small_talk_gets_its_own_outcome(matcher: Matcher, text: str) -> None:
    result = matcher.match(text)
    assert result.outcome is Outcome.SMALLTALK and result.smalltalk is not None
    assert result.entry is None


def test_a_compound_question_is_answered_part_by_part(matcher: Matcher) -> None:
    result = matcher.match("is the 100k fee annual for h1b and also what is the k visa age limit?")
    assert result.outcome is Outcome.ANSWER and result.entry is not None
    answered = {result.entry.id, *(c.entry.id for c in result.also)}
    assert answered == {"h1b-100k-one-time", "k-visa-age-limit"}


@pytest.mark.parametrize(
    ("story", "entry_id"),
    [
        (
            (
                "I am a postdoc from Nigeria with a PhD in chemistry, 31 years old, and I heard "
                "China launched a new visa for young scientists; do I need a job offer from a "
                "Chinese employer to get the K visa?"
            ),
            "k-visa-no-employer-needed",
        ),
        (
            (
                "my cousin told me lots of stuff and I am confused now; is the h1b 100k fee "
                "paid every year?"
            ),
            "h1b-100k-one-time",
        ),
    ],
)
def test_a_story_whose_closing_question_is_clear_gets_that_answer(
    matcher: Matcher, story: str, entry_id: str
) -> None:
    """Read whole, the background dilutes the question below the answer threshold; its last
    part, read alone, is confident, and answers the message, with that part's own runners-up."""
    whole = matcher.ranked(story, 1)
    assert whole[0].score < matcher.model.thresholds.answer * 100
    result = matcher.match(story)
    assert result.outcome is Outcome.ANSWER and result.entry is not None
    assert result.entry.id == entry_id and not result.also
    closing = matcher.match(story.split(";")[-1])
    assert closing.entry == result.entry
    assert [c.entry.id for c in result.alternatives] == [c.entry.id for c in closing.alternatives]


def test_a_single_question_has_no_other_parts(matcher: Matcher) -> None:
    result = matcher.match("is the 100k h1b fee annual?")
    assert result.entry is not None and result.entry.id == "h1b-100k-one-time"
    assert result.also == []


@pytest.mark.parametrize(
    ("text", "previous", "expected"),
    [
        ("and how much does it cost?", "k-visa-age-limit", "k-visa-fees"),
        ("and how long is it valid?", "k-visa-age-limit", "k-visa-validity-entries-stay"),
        ("can my wife come too", "k-visa-age-limit", "k-visa-family"),
    ],
)
def test_a_follow_up_is_read_with_the_previous_answer(
    matcher: Matcher, shipped_kb: KnowledgeBase, text: str, previous: str, expected: str
) -> None:
    alone = matcher.match(text)
    followed = matcher.match(text, context=shipped_kb.get(previous))
    assert followed.outcome is Outcome.ANSWER and followed.entry is not None
    assert followed.entry.id == expected and followed.followup
    assert alone.entry is None or alone.entry.id != expected  # the context made the difference


def test_an_unsure_follow_up_offers_choices_within_the_conversations_subject(
    matcher: Matcher, shipped_kb: KnowledgeBase
) -> None:
    """Short of a confident answer, the reading in context still beats the message alone: after
    a K-visa answer, "what about the fees?" offers the K visa's fee first, not the H-1B's."""
    alone = matcher.match("what about the fees?")
    followed = matcher.match("what about the fees?", context=shipped_kb.get("k-visa-age-limit"))
    first = followed.entry or followed.alternatives[0].entry
    assert followed.followup and followed.outcome in (Outcome.ANSWER, Outcome.CLARIFY)
    assert first.id == "k-visa-fees"
    assert not any(c.entry.topic is Topic.H1B for c in followed.alternatives)
    assert alone.entry is None and alone.alternatives[0].entry.topic is Topic.H1B


def test_a_new_question_is_not_bent_by_the_previous_answer(
    matcher: Matcher, shipped_kb: KnowledgeBase
) -> None:
    result = matcher.match("h1b lottery dates", context=shipped_kb.get("k-visa-age-limit"))
    assert result.entry is not None and result.entry.id == "h1b-timeline"
    assert not result.followup


def test_a_follow_up_naming_the_other_visa_switches_topic(
    matcher: Matcher, shipped_kb: KnowledgeBase
) -> None:
    result = matcher.match("and for the k visa?", context=shipped_kb.get("h1b-h4-dependents"))
    assert result.outcome is Outcome.ANSWER and result.entry is not None
    assert result.entry.id == "k-visa-family"


def test_a_confident_answer_offers_close_runners_up(matcher: Matcher) -> None:
    # Each is answered; the runners-up offered are exactly the next candidates at or above the
    # offer threshold (none for two of them, so an empty list must not pass for all of them).
    threshold = matcher.model.thresholds.offer * 100
    offered = {}
    for text in ["h1b 100k who pays", "k visa age limit", "h1b transfer 100k"]:
        result = matcher.match(text)
        assert result.outcome is Outcome.ANSWER and result.entry is not None, text
        close = [c.entry.id for c in matcher.ranked(text, 4)[1:] if c.score >= threshold]
        offered[text] = [c.entry.id for c in result.alternatives]
        assert offered[text] == close, text
    assert offered["h1b 100k who pays"] and not offered["k visa age limit"]


def test_declines_say_which_visa_was_asked_about(matcher: Matcher) -> None:
    assert matcher.match("h1b rules for my pet parrot").asked_about is Topic.H1B
    assert matcher.match("what is the weather in paris").asked_about is None
    assert matcher.match("k visa for my cat").asked_about is Topic.K_VISA


def test_only_the_read_start_of_a_long_message_is_split_into_parts(
    matcher: Matcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = Matcher(matcher.base, model=matcher.model)  # the shared index stays untouched
    ranked: list[str] = []
    rank = own.rank

    def counting_rank(question: Question) -> object:
        ranked.append(question.raw)
        return rank(question)

    monkeypatch.setattr(own, "rank", counting_rank)
    question = "is the h1b 100k fee annual? "
    message = question * (4000 // len(question))
    result = own.match(message)
    assert result.outcome is Outcome.ANSWER
    # The whole message, then at most MAX_PARTS of its parts.
    assert len(ranked) <= 1 + MAX_PARTS
    assert sum(len(raw) for raw in ranked[1:]) <= MAX_QUERY_CHARS


def test_a_compound_question_after_a_long_story_is_still_answered_part_by_part(
    matcher: Matcher,
) -> None:
    story = (
        "I moved to Texas in 2019. My wife is a teacher. We have two kids. "
        "My manager likes my work. We bought a house last year. "
    ).replace(". ", "; ")
    result = matcher.match(
        story + "is the 100k fee annual for h1b and also what is the k visa age limit?"
    )
    assert result.outcome is Outcome.ANSWER and result.entry is not None
    assert {result.entry.id, *(c.entry.id for c in result.also)} == {
        "h1b-100k-one-time",
        "k-visa-age-limit",
    }


# ---------------------------------------------------------------- an entry's own phrasings


def _unsure(base: KnowledgeBase, shipped: Matcher) -> Matcher:
    """A matcher with the shipped model whose answer threshold the model alone never reaches."""
    never = Thresholds(0.999, 0.998, 0.2)
    return Matcher(base, model=dataclasses.replace(shipped.model, thresholds=never))


def test_an_entrys_own_phrasing_is_answered_with_it_whatever_the_threshold(
    shipped_kb: KnowledgeBase, matcher: Matcher
) -> None:
    matcher = _unsure(shipped_kb, matcher)
    entry = shipped_kb.by_id["k-visa-age-limit"]
    for text in (entry.question, entry.alternates[0], entry.question.upper() + "!!"):
        result = matcher.match(text)
        assert result.outcome is Outcome.ANSWER and result.entry is not None, text
        assert result.entry.id == entry.id
    # A rewording is not the entry's own phrasing: the model decides, and here it is unsure.
    assert matcher.match("so what is the oldest you can be for the k visa").outcome is not (
        Outcome.ANSWER
    )


def test_a_keyword_alone_is_not_a_way_of_asking(
    shipped_kb: KnowledgeBase, matcher: Matcher
) -> None:
    entry = shipped_kb.by_id["h1b-weighted-selection"]
    assert "weighted" in entry.keywords
    assert _unsure(shipped_kb, matcher).match("weighted").outcome is not Outcome.ANSWER


def test_a_phrasing_two_entries_share_belongs_to_neither(
    shipped_kb: KnowledgeBase, matcher: Matcher
) -> None:
    fees = shipped_kb.by_id["k-visa-fees"]
    age = shipped_kb.by_id["k-visa-age-limit"]
    shared = age.alternates[0]
    entries = [
        e.model_copy(update={"alternates": [*e.alternates, shared]}) if e.id == fees.id else e
        for e in shipped_kb.entries
    ]
    matcher = _unsure(KnowledgeBase(entries, shipped_kb.synonyms), matcher)
    assert matcher.match(shared).outcome is not Outcome.ANSWER
    assert matcher.match(age.question).entry is not None  # the rest still stand
