"""Turn a user's message into comparable tokens.

Steps, in order: truncate overlong input, NFKC (full-width → ASCII, compatibility forms), lowercase,
traditional Chinese → simplified (OpenCC), drop control and zero-width characters, punctuation →
space, curated synonyms → canonical term (found inside words in Chinese, Japanese and Korean,
as whole words in every other script), Chinese and Japanese runs split into two-character words
(they have no spaces between words).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import opencc
import Stemmer

from knowledge.disk_cache import remembered

MAX_QUERY_CHARS = 500  # longer messages are truncated for matching; the start carries the question
MAX_WORD_CHARS = 40  # "pneumonoultramicroscopic…" aside, no real word is longer

# The maintained C implementation of the Snowball English stemmer (PyStemmer). Its stemmer objects
# are not thread-safe, and a knowledge base is rebuilt in a worker thread while the bot answers.
_STEMMERS = threading.local()

# The scripts a word may be written in, as regex character classes. Chinese and Japanese are
# written without spaces, and Korean words carry attached particles (비자를, "the visa"), so their
# synonyms are looked up inside words; every other script's synonyms are whole words.
_CJK = r"\u3005\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # ideographs, and 々 (repeat mark)
_HIRAGANA = r"\u3041-\u309f"
# Katakana without its ・ (a separator); half-width ｶﾀｶﾅ are full-width after NFKC.
_KANA = _HIRAGANA + r"\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"
_HANGUL = r"\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_UNSPACED = _CJK + _KANA  # written without spaces between words
_INSIDE_WORDS = _UNSPACED + _HANGUL  # synonyms match inside words
_LATIN = r"0-9a-z\u00c0-\u024f\u1e00-\u1eff"  # Latin-1, Extended-A/B, Vietnamese letters
_CYRILLIC = r"\u0400-\u04ff"
_ARABIC = r"\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff"  # as Urdu is written
_INDIC = r"\u0900-\u0dff"  # Devanagari, Bengali, Gurmukhi ... Sinhala
_THAI = r"\u0e00-\u0e7f"
_CJK_RE = re.compile(f"[{_CJK}]")
INSIDE_WORDS_RE = re.compile(f"[{_INSIDE_WORDS}]")
KANA_RE = re.compile(f"[{_KANA}]")  # Japanese writes Han characters too, always with kana


def _edges(chars: str) -> str:
    """Where a run of `chars` meets another non-space character."""
    return f"(?<=[{chars}])(?=[^{chars} ])|(?<=[^{chars} ])(?=[{chars}])"


_SCRIPT_EDGE_RE = re.compile(f"{_edges(_UNSPACED)}|{_edges(_HANGUL)}")  # "h1b工作", "h1b를"
# Keep letters and digits; "$" is dropped so "$100k" and "100k" compare equal.
_NON_WORD_RE = re.compile(f"[^{_LATIN}{_CYRILLIC}{_ARABIC}{_INDIC}{_THAI}{_INSIDE_WORDS}]+")
_SPACES_RE = re.compile(r"\s+")
# Chinese and Japanese are written without spaces; a space between two of their characters only
# separates keywords ("K签证 年龄 限制"), so it is dropped before their curated terms are looked up.
_UNSPACED_GAP_RE = re.compile(f"(?<=[{_UNSPACED}]) (?=[{_UNSPACED}])")
_TAG_RE = re.compile(r"</?[a-zA-Z][^<>]{0,80}>")  # pasted HTML: "<b>H1B</b>" means "H1B"
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")  # the only category-C characters in ASCII

# Words that carry no meaning for matching: English; the Hindi/Urdu fillers users mix in, romanised
# and in their own scripts; Vietnamese and Indonesian function words; Chinese function characters;
# the Korean particles left over once a synonym is cut out of a word (비자를 → "visa 를").
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
    的 是 吗 呢 了 么 什 啊 吧 我 你 他 她 们 这 那 个 在 和 与 或 会 能 可 以 请 问 真
    은 는 이 가 을 를 의 에 에서 로 으로 와 과 도 만 요 까지 부터 에게 한테
    है हैं की का के को से में और क्या यह वह भी नहीं हो तो पर मैं मेरा मेरी मुझे
    ہے ہیں کی کا کے کو سے میں اور کیا یہ وہ بھی نہیں ہو تو پر
    là của có không được tôi và cho với thì này các những
    apa apakah yang dan di ke dari untuk saya ini itu dengan bisa boleh ada""".split()
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
    else:  # the scripts kept have their own punctuation (؟ ، ۔ ।), which separates words too
        text = "".join(map(_word_char, text))
    text = _SPACES_RE.sub(" ", _NON_WORD_RE.sub(" ", text)).strip()
    return text if text.isascii() else _UNSPACED_GAP_RE.sub("", text)


def _word_char(ch: str) -> str:
    """A character of non-ASCII text: controls and zero-width characters dropped, punctuation
    and symbols of any script a space."""
    kind = unicodedata.category(ch)[0]
    return "" if kind == "C" else " " if kind in "PS" else ch


_UNSPACED_RUN_RE = re.compile(f"[{_UNSPACED}]+")
_STOP_CHARS = "的是吗呢了么什啊吧我你他她们这那个在和与或会能可以请问真"
# Chinese function characters, and Japanese hiragana: the particles and endings between the
# kanji and katakana words that carry a Japanese sentence's content (ビザの申請は → ビザ, 申请).
_FUNCTION_RE = re.compile(f"[{_STOP_CHARS}{_HIRAGANA}]+")


def _unspaced_words(run: str) -> str:
    """A run of Chinese or Japanese characters as overlapping two-character words: most words are
    two characters, and a pair ("签证", "配偶") says far more than either character alone.
    Function characters (的, 吗, の...) split runs first, so they do not pair with content; a
    character left alone is kept as a word."""
    words = []
    for piece in _FUNCTION_RE.split(run):
        if len(piece) == 1:
            words.append(piece)
        words.extend(piece[i : i + 2] for i in range(len(piece) - 1))
    return f" {' '.join(words)} "


def _split_unspaced(text: str) -> str:
    return _UNSPACED_RUN_RE.sub(lambda m: _unspaced_words(m.group(0)), text)


# Canonical texts remembered per Normalizer: an index is rebuilt whole after every change to the
# base (/reload, a save's review, each `visabot kb` command), and all but the changed phrasings
# and answers were made canonical already. Room for twice today's ~3,900 texts; users' messages
# pass through it too, cut to MAX_QUERY_CHARS (all fold reads), so it holds ~16 MB at the worst.
CANONICAL_CACHE_SIZE = 1 << 13


class Normalizer:
    """Applies the curated synonyms file. Its output never changes once built, so the matchers of
    one base and of its edited versions share one (`normalizer_for`), and with it the canonical
    texts; `remember` only adds texts it would compute anyway (a dict update, atomic in CPython,
    so a matcher answering meanwhile is unaffected)."""

    def __init__(
        self,
        synonyms: Mapping[str, Sequence[str]],
        cache_key: str | None = None,
    ):
        """`cache_key`: a hash of the synonyms and of this module (`normalizer_for`), under which
        canonical texts are kept on disk between runs; None keeps them in memory only."""
        self._cache_key = cache_key
        self._known: dict[str, str] = {}  # canonical texts read back from disk (`remember`)
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
        # Variants in spaced scripts are whole-word sequences: looked up by words, the longest
        # first, which costs a dict per length instead of compiling a regex of them all.
        self._by_words: dict[str, str] = {
            v: t for v, t in self._replacements.items() if not INSIDE_WORDS_RE.search(v)
        }
        # Per first word, the word counts of the variants that start with it, longest first: a
        # word no variant starts with costs one lookup (the glossary has variants of up to a
        # dozen words, and trying every length at every word made building the index slow).
        lengths: dict[str, set[int]] = {}
        for variant in self._by_words:
            words = variant.split()
            lengths.setdefault(words[0], set()).add(len(words))
        self._lengths = {w: tuple(sorted(n, reverse=True)) for w, n in lengths.items()}
        inside = [re.escape(v) for v, _ in pairs if INSIDE_WORDS_RE.search(v)]
        self._inside_re = re.compile("|".join(inside)) if inside else None
        self._remembered = functools.lru_cache(maxsize=CANONICAL_CACHE_SIZE)(self._canonical)

    def canonical(self, text: str) -> str:
        """Folded text with variants replaced by canonical terms (before CJK and kana splitting)."""
        text = text[:MAX_QUERY_CHARS]
        known = self._known.get(text)
        return known if known is not None else self._remembered(text)

    def remember(self, texts: Sequence[str]) -> None:
        """Make many texts canonical at once, reading them back from disk when an earlier run
        with the same synonyms and code made the same texts canonical: every phrasing of the
        base is made canonical at each start (a fifth of a cold start), and they rarely change."""
        if self._cache_key is None:
            return
        texts = [t[:MAX_QUERY_CHARS] for t in texts]
        forms = remembered(
            "canonical",
            [self._cache_key, *texts],
            lambda: [self._remembered(t) for t in texts],
            read=lambda path: json.loads(path.read_bytes()),
            write=lambda value, file: file.write(json.dumps(value, ensure_ascii=False).encode()),
            suffix=".json",
            valid=lambda value: isinstance(value, list) and len(value) == len(texts),
        )
        self._known.update(zip(texts, forms))

    def _canonical(self, text: str) -> str:
        text = fold(text)
        if not text.isascii():
            if self._inside_re:  # every such variant has a CJK, kana or Hangul character
                text = self._inside_re.sub(lambda m: f" {self._replacements[m.group(0)]} ", text)
            text = _SCRIPT_EDGE_RE.sub(" ", text)  # "h1b工作", "h1b를" are two words
        words = text.split()
        out: list[str] = []
        i = 0
        while i < len(words):
            for n in self._lengths.get(words[i], ()):
                if i + n > len(words):
                    continue
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
        """Canonical tokens; Chinese and Japanese runs become two-character words."""
        return split_canonical(self.canonical(text))

    def content_tokens(self, text: str) -> list[str]:
        """Stemmed tokens without stopwords, deduplicated in order."""
        return content_of(self.tokens(text))


def normalizer_for(synonyms: Mapping[str, Sequence[str]]) -> Normalizer:
    """The Normalizer of these synonyms, shared by every caller with equal synonyms."""
    return _shared_normalizer(tuple((term, tuple(variants)) for term, variants in synonyms.items()))


@functools.lru_cache(maxsize=2)  # the base's synonyms, and the edited ones while both are in use
def _shared_normalizer(synonyms: tuple[tuple[str, tuple[str, ...]], ...]) -> Normalizer:
    return Normalizer(dict(synonyms), cache_key=f"{_code_key()}\x1e{json.dumps(synonyms)}")


@functools.cache
def _code_key() -> str:
    """What a canonical text depends on besides the synonyms: this module's code, the Unicode
    tables and OpenCC's conversion data. A change to any of them must not reuse old texts."""
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    return f"{source} {sys.version} {unicodedata.unidata_version} {metadata.version('opencc')}"


def split_canonical(canonical: str) -> list[str]:
    """The tokens of an already canonical text (what `Normalizer.tokens` returns for its source)."""
    if _UNSPACED_RUN_RE.search(canonical):
        return _split_unspaced(canonical).split()
    return canonical.split()


@functools.lru_cache(maxsize=CANONICAL_CACHE_SIZE)
def content_of_canonical(canonical: str) -> tuple[str, ...]:
    """`content_of(split_canonical(canonical))`, remembered: what an index keeps of each phrasing,
    recomputed for every unchanged one at each rebuild otherwise (see CANONICAL_CACHE_SIZE)."""
    return tuple(content_of(split_canonical(canonical)))


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
    """English words to their Snowball stem, so "hiring" meets "hire", "terminated" meets
    "terminate" and "visas" meets "visa". Other scripts, codes ("h1b", "i129") and short words
    are kept as written; typos are left to fuzzy token matching."""
    if not token.isascii() or not token.isalpha() or len(token) < 4:
        return token
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        stemmer = _STEMMERS.english = Stemmer.Stemmer("english")
    stemmed: str = stemmer.stemWord(token)
    return stemmed
