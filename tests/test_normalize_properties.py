"""Properties of the normaliser (knowledge/normalize.py) for any text, found by hypothesis: what
every later stage of matching takes for granted about its input."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from knowledge.loader import KnowledgeBase
from knowledge.normalize import (
    MAX_QUERY_CHARS,
    MAX_WORD_CHARS,
    STOPWORDS,
    content_of,
    content_of_canonical,
    fold,
    normalizer_for,
    split_canonical,
)

# What the words of folded text are made of (normalize.py's _NON_WORD_RE, stated again here so a
# change to it is a decision, not an accident): digits; Latin with its accented and Vietnamese
# letters; Cyrillic; Arabic script; the Indic scripts; Thai; Hangul; kana; CJK ideographs.
WORD_CHARS = re.compile(
    "[0-9a-z\u00c0-\u024f\u1e00-\u1eff"  # Latin
    "\u0400-\u04ff"  # Cyrillic
    "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff"  # Arabic script (Urdu)
    "\u0900-\u0dff\u0e00-\u0e7f"  # Devanagari, Bengali ... Sinhala; Thai
    "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"  # Hangul
    "\u3041-\u30fa\u30fc-\u30ff\u31f0-\u31ff"  # kana
    "\u3005\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"  # CJK ideographs
)

# Text as users send it: any character at all, with the ones matching cares about made common.
MESSAGES = st.text() | st.lists(
    st.sampled_from(
        [
            "H-1B",
            "h1b",
            "K visa",
            "K字簽證",
            "签证",
            "<b>",
            "</i>",
            " ",
            "\u200b",
            "\x00",
            "ＦＥＥ",
            "100k",
            "$",
            "ビザ",
            "ｻﾞ",
            "비자를",
            "phí",
            "ویزا",
            "؟",
            "।",
        ]
    )
    | st.text(max_size=8),
    max_size=30,
).map("".join)


@given(MESSAGES)
def test_fold_gives_single_spaced_words_of_known_characters(text: str) -> None:
    folded = fold(text)
    assert folded == folded.strip() and "  " not in folded
    assert all(WORD_CHARS.fullmatch(word) for word in folded.split(" ") if folded), folded


@given(MESSAGES)
def test_fold_is_idempotent(text: str) -> None:
    """Entries' phrasings and questions are folded alike, and canonical text is folded again."""
    assert fold(fold(text)) == fold(text)


@given(st.text(min_size=MAX_QUERY_CHARS, max_size=MAX_QUERY_CHARS + 5), st.text())
def test_only_the_start_of_a_long_message_counts(start: str, rest: str) -> None:
    assert fold(start + rest) == fold(start)


@given(MESSAGES)
def test_tokens_are_non_empty_words(shipped_kb: KnowledgeBase, text: str) -> None:
    tokens = normalizer_for(shipped_kb.synonyms).tokens(text)  # built once, not per example
    assert all(token and " " not in token for token in tokens)


@given(MESSAGES)
def test_remembered_content_words_are_the_ones_computed(
    shipped_kb: KnowledgeBase, text: str
) -> None:
    """An index rebuilt after an edit takes each phrasing's words from content_of_canonical."""
    canonical = normalizer_for(shipped_kb.synonyms).canonical(text)
    assert content_of_canonical(canonical) == tuple(content_of(split_canonical(canonical)))


@given(st.lists(st.text(min_size=1).filter(lambda t: " " not in t)))
def test_content_words_are_distinct_and_neither_stopwords_nor_noise(tokens: list[str]) -> None:
    content = content_of(tokens)
    assert len(set(content)) == len(content)
    assert not set(content) & STOPWORDS
    assert all(len(word) <= MAX_WORD_CHARS for word in content)
