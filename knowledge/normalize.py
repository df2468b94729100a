"""Turn a user's message into comparable tokens.

Steps, in order: truncate overlong input, NFKC (full-width → ASCII, compatibility forms), lowercase,
traditional Chinese → simplified (OpenCC), drop control and zero-width characters, punctuation →
space, curated synonyms → canonical term, Chinese characters split into one token each (Chinese
has no spaces between words).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence

import opencc

MAX_QUERY_CHARS = 500  # longer messages are truncated for matching; the start carries the question
MAX_WORD_CHARS = 40  # "pneumonoultramicroscopic…" aside, no real word is longer

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_SCRIPT_EDGE_RE = re.compile(f"(?<=[{_CJK}])(?=[^{_CJK} ])|(?<=[^{_CJK} ])(?=[{_CJK}])")
# Keep letters, digits and CJK; "$" is dropped so "$100k" and "100k" compare equal.
_NON_WORD_RE = re.compile(rf"[^0-9a-z\u00c0-\u024f\u0400-\u04ff\u0900-\u097f{_CJK}]+")
_SPACES_RE = re.compile(r"\s+")
# Chinese is written without spaces; a space between two Chinese characters only separates
# keywords ("K签证 年龄 限制"), so it is dropped before curated Chinese terms are looked up.
_CJK_GAP_RE = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")
_TAG_RE = re.compile(r"</?[a-zA-Z][^<>]{0,80}>")  # pasted HTML: "<b>H1B</b>" means "H1B"
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")  # the only category-C characters in ASCII

# Words that carry no meaning for matching, in English and the Hindi/Urdu fillers users mix in.
# Question words that do carry meaning stay in ("who" pays, "where" to apply, "when", "how long").
STOPWORDS = frozenset(
    """a an the is are was were be been am do does did doing i me my we our you your he she it its
    they them their this that these those of to in on at for from by with as or and but if so than
    then there here what which whom whose can could would should will shall
    may might must has have had having yes any some all about into over under up down out
    just also too very please pls plz tell know want need get got give s t m ll ve re d hi hello
    hey sir madam ok okay thanks thank bro guys u ur im ive id dont doesnt cant cannot wont isnt
    arent didnt ppl people still only now really actually even like something anything someone
    anyone everyone new ask asked heard saw said says told right currently
    kya hai hain ka ki ke ko se me mein mera meri mere mujhe hum aap tum yeh ye woh wo
    koi bhi nahi nahin na ho hoga hogi tha thi kar karna karo liye wala wali
    haan ji bhai yaar hoon hu karte kare karta karti lagi laga jaa raha rahi rahe sakta sakti sakte
    chahta chahti don won isn doesn didn wasn aren couldn wouldn shouldn her his him hers wat whats
    wht
    的 是 吗 呢 了 么 什 啊 吧 我 你 他 她 们 这 那 个 在 和 与 或 会 能 可 以 请 问 真""".split()
)
# Kept as tokens because they carry meaning next to other words ("who pays", "how long"), but
# a message made of nothing else has nothing to match on.
QUESTION_WORDS = frozenset(
    "who where when why how much many long kab kitna kitne kitni kyun".split()
)


@functools.cache
def _to_simplified() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """NFKC, lowercase, HTML tags, punctuation and controls to single spaces; traditional Chinese
    folded to simplified (簽證 → 签证), so one set of Chinese phrasings serves both scripts."""
    text = unicodedata.normalize("NFKC", text[:MAX_QUERY_CHARS])
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    text = text.lower()
    if _CJK_RE.search(text):
        text = _to_simplified().convert(text)
    if text.isascii():  # fast path, same result: ASCII's category-C characters are its controls
        if not text.isprintable():
            text = _ASCII_CONTROL_RE.sub("", text)
    else:
        text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _SPACES_RE.sub(" ", _NON_WORD_RE.sub(" ", text)).strip()
    return text if text.isascii() else _CJK_GAP_RE.sub("", text)


_CJK_RUN_RE = re.compile(f"[{_CJK}]+")
_STOP_CHARS = frozenset("的是吗呢了么什啊吧我你他她们这那个在和与或会能可以请问真")


def _cjk_words(run: str) -> str:
    """A run of Chinese characters as overlapping two-character words: most Chinese words are two
    characters, and a pair ("签证", "配偶") says far more than either character alone. Function
    characters (的, 吗...) split runs first, so they do not pair with content; a character left
    alone is kept as a word."""
    words = []
    for piece in re.split(f"[{''.join(_STOP_CHARS)}]+", run):
        if len(piece) == 1:
            words.append(piece)
        words.extend(piece[i : i + 2] for i in range(len(piece) - 1))
    return f" {' '.join(words)} "


def _split_cjk(text: str) -> str:
    return _CJK_RUN_RE.sub(lambda m: _cjk_words(m.group(0)), text)


class Normalizer:
    """Applies the curated synonyms file; built once per knowledge base."""

    def __init__(self, synonyms: Mapping[str, Sequence[str]]):
        pairs: list[tuple[str, str]] = []
        for canonical, variants in synonyms.items():
            target = fold(canonical)
            for variant in variants:
                folded = fold(variant)
                if folded and folded != target:
                    pairs.append((folded, target))
        # Longest first so "h 1 b visa" wins over "h 1 b".
        pairs.sort(key=lambda p: len(p[0]), reverse=True)
        self._replacements = dict(pairs)
        # Latin (and Devanagari) variants are whole-word sequences: looked up by words, the
        # longest first, which costs a dict per length instead of compiling a regex of them all.
        self._by_words: dict[str, str] = {
            v: t for v, t in self._replacements.items() if not _CJK_RE.search(v)
        }
        self._longest = max((v.count(" ") + 1 for v in self._by_words), default=0)
        cjk = [re.escape(v) for v, _ in pairs if _CJK_RE.search(v)]
        self._cjk_re = re.compile("|".join(cjk)) if cjk else None

    def canonical(self, text: str) -> str:
        """Folded text with variants replaced by canonical terms (before CJK splitting)."""
        text = fold(text)
        if not text.isascii():
            if self._cjk_re:  # every CJK variant has a CJK character
                text = self._cjk_re.sub(lambda m: f" {self._replacements[m.group(0)]} ", text)
            text = _SCRIPT_EDGE_RE.sub(" ", text)  # "h1b工作" is two words
        words = text.split()
        out: list[str] = []
        i = 0
        while i < len(words):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                canonical = self._by_words.get(" ".join(words[i : i + n]))
                if canonical is not None:
                    if canonical:
                        out.append(canonical)
                    i += n
                    break
            else:
                out.append(words[i])
                i += 1
        return " ".join(out)

    def tokens(self, text: str) -> list[str]:
        """Canonical tokens; Chinese characters become one token each."""
        return split_canonical(self.canonical(text))

    def content_tokens(self, text: str) -> list[str]:
        """Stemmed tokens without stopwords, deduplicated in order."""
        return content_of(self.tokens(text))


def split_canonical(canonical: str) -> list[str]:
    """The tokens of an already canonical text (what `Normalizer.tokens` returns for its source)."""
    return _split_cjk(canonical).split() if _CJK_RE.search(canonical) else canonical.split()


def content_of(tokens: Sequence[str]) -> list[str]:
    """Stemmed tokens without stopwords, deduplicated in order (`content_tokens` from `tokens`).
    A "word" longer than MAX_WORD_CHARS is keyboard noise ("xxxx…"), not evidence of a topic."""
    seen: dict[str, None] = {}
    for tok in tokens:
        if tok in STOPWORDS or len(tok) > MAX_WORD_CHARS:
            continue
        stemmed = stem(tok)
        if stemmed not in STOPWORDS:
            seen.setdefault(stemmed, None)
    return list(seen)


@functools.lru_cache(maxsize=1 << 16)
def stem(token: str) -> str:
    """A deliberately light English stemmer: plurals and -ing/-ed, so "visas" meets "visa" and
    "launched" meets "launch". Anything subtler is left to fuzzy token matching."""
    if not token.isascii() or not token.isalpha() or len(token) < 4:
        return token
    if token.endswith(("ies", "ied")) and len(token) > 4:
        return token[:-3] + "y"
    if len(token) >= 6 and token.endswith("ing"):
        return token[:-3]
    if len(token) >= 6 and token.endswith("ed") and not token.endswith("eed"):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token
