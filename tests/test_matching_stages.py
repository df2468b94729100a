"""Each stage of the matcher alone: scope signals, candidates, features, the decision model, the
semantic signal. Small inputs whose right answers can be worked out by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import knowledge.lexical as lexical_module
from knowledge.authoring import with_entry
from knowledge.bayes import TermBayes, terms
from knowledge.decision import DecisionModel, Thresholds, fit_logistic
from knowledge.features import FEATURES, Question, _margins, candidates, feature_matrix
from knowledge.lexical import LexicalIndex, answer_lead
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher
from knowledge.model import Topic
from knowledge.normalize import Normalizer, fold, normalizer_for, split_canonical, stem
from knowledge.scope import Scope, Signals, SmallTalk, load_scope_vocabulary
from knowledge.semantic import StaticEmbedder

SHIPPED = Path(__file__).resolve().parents[1] / "knowledge"


@pytest.fixture(scope="module")
def scope(shipped_kb: KnowledgeBase) -> Scope:
    return Scope(load_scope_vocabulary(SHIPPED), Normalizer(shipped_kb.synonyms))


def _signals(scope: Scope, norm: Normalizer, text: str) -> Signals:
    return scope.signals(norm.canonical(text), text)


# ---------------------------------------------------------------- normalise


def test_chinese_runs_become_two_character_words() -> None:
    assert split_canonical("学士学位 bachelor") == ["学士", "士学", "学位", "bachelor"]
    # function characters split runs; a character left alone stays a word
    assert split_canonical("签证的费用") == ["签证", "费用"]
    assert split_canonical("钱") == ["钱"]


def test_english_word_forms_meet_at_one_stem_and_codes_stay_as_written() -> None:
    assert stem("hiring") == stem("hire") == stem("hired")
    assert stem("terminated") == stem("terminate") == stem("termination")
    assert stem("visas") == stem("visa") and stem("lotteries") == stem("lottery")
    assert [stem(t) for t in ("h1b", "i129", "opt", "签证", "vợt")] == [
        "h1b",
        "i129",
        "opt",
        "签证",
        "vợt",
    ]


def test_traditional_chinese_is_folded_to_simplified(shipped_kb: KnowledgeBase) -> None:
    norm = Normalizer(shipped_kb.synonyms)
    assert norm.canonical("K字簽證申請") == norm.canonical("K字签证申请")


def test_an_edited_base_reuses_the_canonical_texts_of_the_unchanged_phrasings(
    matcher: Matcher,
) -> None:
    """A rebuilt index (/reload, a save's review, every `visabot kb` command) shares the normaliser
    of equal synonyms, whose remembered canonical texts are those a fresh one computes."""
    entry = matcher.base.entries[0]
    edited = entry.model_copy(update={"alternates": [*entry.alternates, "a brand new phrasing"]})
    before = Matcher(matcher.base)
    rebuilt = Matcher(with_entry(matcher.base, edited))
    assert rebuilt.normalizer is before.normalizer
    assert normalizer_for(dict(matcher.base.synonyms)) is before.normalizer  # equal, not same
    assert normalizer_for({**matcher.base.synonyms, "visa": ["vissa"]}) is not before.normalizer
    fresh = Normalizer(matcher.base.synonyms)
    texts, _ = rebuilt.lexical.phrasings()
    assert [rebuilt.normalizer.canonical(t) for t in texts] == [fresh.canonical(t) for t in texts]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("H-1Bビザの抽選", "h 1bビザの抽选"),  # kana kept (kanji folded by OpenCC as before)
        ("ｳﾞｨｻﾞ", "ヴィザ"),  # half-width katakana, widened
        ("H-1B 비자를 신청", "h 1b 비자를 신청"),  # Hangul
        ("Tôi ở Mỹ, phí thị thực thế nào?", "tôi ở mỹ phí thị thực thế nào"),  # Vietnamese
        ("thời gian xử lý", "thời gian xử lý"),
        ("ویزا کی فیس کتنی ہے؟", "ویزا کی فیس کتنی ہے"),  # Urdu; ؟ is punctuation
        ("ค่าธรรมเนียมวีซ่า", "ค่าธรรมเนียมวีซ่า"),  # Thai
        ("ভিসার ফি কত?", "ভিসার ফি কত"),  # Bengali
        ("फीस कितनी है।", "फीस कितनी है"),  # the danda ends a sentence, it is not a letter
    ],
)
def test_every_script_survives_folding(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_japanese_and_korean_synonyms_match_inside_words() -> None:
    """Japanese has no spaces and Korean attaches particles, so their variants are substrings;
    Vietnamese and Urdu variants are whole words like English ones."""
    norm = Normalizer(
        {
            "visa": ["ビザ", "비자", "thị thực", "ویزا"],
            "lottery": ["抽選", "추첨"],
            "fee": ["phí", "فیس"],
            "spouse": ["vợ"],
        }
    )
    assert norm.canonical("H-1Bビザの抽選はいつ") == "h 1b visa の lottery はいつ"
    # hiragana is grammar: split out like Chinese function characters
    assert norm.tokens("H-1Bビザの抽選はいつ") == ["h", "1b", "visa", "lottery"]
    # Korean particles (를, 은) are stopwords: content words keep only the meaning
    content = norm.content_tokens("H-1B 비자를 추첨은 언제")
    assert content == ["h", "1b", "visa", stem("lottery"), "언제"]
    assert norm.tokens("thị thực H-1B, phí?") == ["visa", "h", "1b", "fee"]
    assert norm.tokens("ویزا کی فیس") == ["visa", "کی", "fee"]
    # whole words: "vợ" inside a longer Vietnamese word is not the spouse
    assert norm.tokens("vợ") == ["spouse"] and norm.tokens("vợt") == ["vợt"]


# Questions written for this test (not taken from any question file), with the canonical terms of
# knowledge/synonyms.yaml's glossary that their words must become.
GLOSSARY_CASES = [
    (
        "ja",
        "H-1Bビザの抽選に当選したら、配偶者と子供の延長の手数料はいくらですか",
        "h1b, visa, lottery, selection, spouse, children, extension, fee, how much",
    ),
    (
        "ja",
        "転職するとグリーンカードの申請はどうなる？修士号が必要？",
        "change employer, green card, apply, master",
    ),
    (
        "ko",
        "H-1B 비자 추첨에 당첨되면 배우자와 자녀도 연장 수수료를 내야 하나요? 얼마나 걸리나요?",
        "h1b, visa, lottery, selection, spouse, children, extension, fee, how long",
    ),
    ("ko", "해고된 후 유예기간 동안 이직할 수 있나요", "layoff, grace period, change employer"),
    (
        "es",
        "¿Cuánto tiempo tarda el sorteo de la visa H-1B y cuánto cuesta para mi esposo?",
        "how long, lottery, visa, h1b, how much, spouse",
    ),
    (
        "pt",
        "Meu marido pode trabalhar com visto H-4? Quanto tempo demora a autorização de trabalho?",
        "spouse, visa, h4, how long, work permit",
    ),
    (
        "fr",
        "Mon employeur paie-t-il les frais du tirage au sort H-1B ? Combien de temps pour la carte verte ?",
        "employer, fee, lottery, h1b, how long, green card",
    ),
    (
        "de",
        "Wie lange dauert die Verlängerung für meine Ehefrau und Kinder?",
        "how long, extension, spouse, children",
    ),
    (
        "vi",
        "Chi phí thị thực H-1B là bao nhiêu? Vợ tôi có được giấy phép lao động không?",
        "cost, visa, h1b, how much, spouse, work permit",
    ),
    (
        "id",
        "Berapa lama proses visa H-1B dan berapa biaya untuk istri dan anak saya?",
        "how long, visa, h1b, how much, fee, spouse, children",
    ),
    (
        "hi",
        "H-1B वीज़ा की लॉटरी के लिए फीस कितनी है और पत्नी के दस्तावेज़ क्या हैं?",
        "visa, lottery, fee, spouse, documents",
    ),
    (
        "hi-latn",
        "h1b lottery ke baad biwi aur bacche ke kagzat kya chahiye",
        "h1b, lottery, spouse, children, documents",
    ),
    (
        "ur",
        "ایچ ون بی ویزا کی فیس کتنی ہے اور بیوی کو ورک پرمٹ ملے گا؟",
        "h1b, visa, fee, how much, spouse, work permit",
    ),
    (
        "ur-latn",
        "h1b visa ke liye shohar ki tankhwah kitni honi chahiye",
        "h1b, visa, spouse, salary",
    ),
    (
        "zh-hans",
        "H-1B抽签后多久能换雇主？绿卡和宽限期怎么算",
        "h1b, lottery, how long, change employer, green card, grace period",
    ),
    ("zh-hant", "綠卡申請的處理時間多久", "green card, apply, processing time, how long"),
]


@pytest.mark.parametrize(
    ("lang", "text", "terms"), GLOSSARY_CASES, ids=[c[0] for c in GLOSSARY_CASES]
)
def test_glossary_turns_core_terms_into_the_entries_words(
    shipped_kb: KnowledgeBase, lang: str, text: str, terms: str
) -> None:
    canonical = f" {Normalizer(shipped_kb.synonyms).canonical(text)} "
    assert [t for t in terms.split(", ") if f" {t} " not in canonical] == [], canonical


@pytest.mark.parametrize(
    ("text", "not_read_as"),
    [
        ("我在华为工作，能抽H1B吗", "china"),  # 在华为 is "at Huawei", not 在华 "in China"
        ("说四川普通话的人", "trump"),  # 川普 (Trump) straddles 四川 and 普通话
        ("这和K签证没有关系吗", "about"),  # 有关 (about) straddles 没有 and 关系
        ("does uscis send a termination of status for h1b", "layoff"),  # a status ends, not a job
    ],
)
def test_a_variant_inside_a_longer_phrase_of_another_meaning_is_not_read(
    shipped_kb: KnowledgeBase, text: str, not_read_as: str
) -> None:
    canonical = Normalizer(shipped_kb.synonyms).canonical(text)
    assert not_read_as not in canonical.split(), canonical


def test_glossary_variants_are_neither_canonical_terms_nor_claimed_twice(
    shipped_kb: KnowledgeBase,
) -> None:
    """synonyms.yaml's own rules, checked: a variant maps to one canonical term, and a canonical
    term is never another's variant (the second silently wins otherwise)."""
    owner: dict[str, str] = {}
    clashes = []
    for canonical, variants in shipped_kb.synonyms.items():
        for variant in variants:
            folded = fold(variant)
            if owner.setdefault(folded, canonical) != canonical:
                clashes.append((variant, owner[folded], canonical))
    folded_canonicals = {fold(c): c for c in shipped_kb.synonyms}
    clashes += [
        (v, c, folded_canonicals[v])
        for v, c in owner.items()
        if v in folded_canonicals and c != folded_canonicals[v]
    ]
    assert clashes == []


def test_japanese_runs_split_at_kana_particles() -> None:
    """Kanji and katakana carry a Japanese sentence's content; hiragana between them is particles
    and endings, dropped like Chinese function characters."""
    assert split_canonical("ビザの申込みは") == ["ビザ", "申込"]


# ---------------------------------------------------------------- scope


def test_signals_read_visa_names_and_places(scope: Scope, shipped_kb: KnowledgeBase) -> None:
    norm = Normalizer(shipped_kb.synonyms)
    assert _signals(scope, norm, "H-1B fee").h1b
    assert _signals(scope, norm, "K字签证").k_visa
    assert _signals(scope, norm, "Schengen visa for Indians").elsewhere
    assert _signals(scope, norm, "k1 visa for my fiancee").elsewhere
    young = _signals(scope, norm, "China's new visa for young scientists")
    assert young.china and young.k_traits and not young.k_visa


def test_us_counts_as_written_not_as_the_pronoun(scope: Scope, shipped_kb: KnowledgeBase) -> None:
    norm = Normalizer(shipped_kb.synonyms)
    assert not _signals(scope, norm, "can they send us to china").us
    assert _signals(scope, norm, "permanent residence in the US").us
    assert _signals(scope, norm, "美国工作签证").us


@pytest.mark.parametrize(
    ("signals", "topic", "expected"),
    [
        (Signals(h1b=True), Topic.H1B, 1.0),
        (Signals(h1b=True), Topic.K_VISA, -1.0),
        (Signals(k_visa=True), Topic.H1B, -1.0),
        (Signals(china=True, k_traits=True), Topic.K_VISA, 1.0),
        (Signals(us=True), Topic.K_VISA, -1.0),
        (Signals(h1b=True, k_visa=True), Topic.COMPARE, 1.0),
        (Signals(k_visa=True), Topic.COMPARE, 0.0),
        (Signals(k_visa=True, comparing=True), Topic.COMPARE, 0.5),
        (Signals(elsewhere=True), Topic.CONTEXT, -1.0),
        (Signals(), Topic.K_VISA, 0.0),
    ],
)
def test_topic_agreement(signals: Signals, topic: Topic, expected: float) -> None:
    assert signals.topic_agreement(topic) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("hello", SmallTalk.GREETING),
        ("Hi there!", SmallTalk.GREETING),
        ("thanks!", SmallTalk.THANKS),
        ("谢谢", SmallTalk.THANKS),
        ("who are you?", SmallTalk.IDENTITY),
        ("hi, is the h1b fee annual?", None),
        ("thanks, and what about the k visa age limit", None),
        ("", None),
    ],
)
def test_smalltalk_only_when_nothing_else_is_said(
    scope: Scope, text: str, kind: SmallTalk | None
) -> None:
    assert scope.smalltalk(text) is kind


# ---------------------------------------------------------------- candidates and features


def test_candidates_take_the_leaders_of_both_signals_once() -> None:
    lexical = np.array([0.0, 90.0, 10.0, 50.0])
    semantic = np.array([0.9, 0.8, 0.0, 0.1])
    assert candidates(lexical, semantic, k=2) == [1, 3, 0]


def test_margins_are_leads_over_the_best_other() -> None:
    assert _margins(np.array([0.9, 0.5, 0.7])).round(2).tolist() == [0.2, -0.4, -0.2]


@pytest.mark.parametrize("keep_texts", [True, False], ids=["texts kept", "texts recomputed"])
def test_an_answers_opening_sentences_match_but_its_later_ones_do_not(
    shipped_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch, keep_texts: bool
) -> None:
    if not keep_texts:  # a large base drops the phrasing texts and recomputes them from the entry
        monkeypatch.setattr(lexical_module, "KEEP_TEXTS_UP_TO", 0)
    entries = [shipped_kb.by_id["h1b-h4-ead"], shipped_kb.by_id["k-visa-age-limit"]]
    norm = Normalizer(shipped_kb.synonyms)
    index = LexicalIndex(entries, norm)

    def words(texts: tuple[str, ...] | list[str]) -> set[str]:
        return {w for t in texts for w in norm.content_tokens(t)}

    h4 = entries[0]
    asked = words([h4.question, *h4.alternates, *h4.keywords]) | words(
        [entries[1].question, *entries[1].alternates, *entries[1].keywords, entries[1].answer]
    )
    lead = answer_lead(h4)
    assert len(lead) == 2 and h4.answer.startswith(lead[0])
    only_in_lead = sorted(words(lead) - asked)
    later = sorted(words([h4.answer]) - words(lead) - asked)
    assert only_in_lead and later
    for word in only_in_lead:
        assert index.scores([word], word)[0] > 0, word
    for word in later:
        assert index.scores([word], word)[0] == 0, word


def test_feature_matrix_on_a_tiny_index(shipped_kb: KnowledgeBase) -> None:
    entries = [shipped_kb.by_id["h1b-h4-ead"], shipped_kb.by_id["k-visa-age-limit"]]
    norm = Normalizer(shipped_kb.synonyms)
    index = LexicalIndex(entries, norm)
    canonical = " ".join(norm.tokens("can my h4 spouse work"))
    question = Question(
        "can my h4 spouse work",
        canonical,
        tuple(norm.content_tokens("can my h4 spouse work")),
        Signals(h1b=True),
    )
    lexical = index.scores(question.tokens, question.canonical)
    rows = feature_matrix(
        question,
        [0, 1],
        [Topic.H1B, Topic.K_VISA],
        lexical,
        np.array([0.8, 0.3]),
        index,
        lambda i: frozenset(norm.content_tokens(entries[i].answer)),
        np.array([0.7, 0.2]),
        np.array([0.9, 0.1]),
    )
    f = {name: rows[:, n] for n, name in enumerate(FEATURES)}
    assert f["lexical"][0] > f["lexical"][1]
    assert f["lead"][0] == pytest.approx(min(f["lexical_margin"][0], f["semantic_margin"][0]))
    assert f["lead"][0] > 0 > f["lead"][1]
    assert f["topic_agreement"].tolist() == [1.0, -1.0]
    assert f["coverage"][0] == pytest.approx(1.0)
    assert f["vague"].tolist() == [0.0, 0.0]
    assert f["bayes"].tolist() == [0.9, 0.1]
    assert f["bayes_first"].tolist() == [1.0, 0.0]
    assert f["bayes_margin"].round(2).tolist() == [0.8, -0.8]


def test_bayes_prefers_the_entry_whose_phrasings_single_out_the_words() -> None:
    texts = ["h1b lottery odds", "h1b lottery result check", "h1b lottery how it works", "h4 ead"]
    bayes = TermBayes(texts, np.array([0, 1, 2, 3]), 4)
    posterior = bayes.posterior("check my h1b lottery".split())
    assert posterior.sum() == pytest.approx(1.0)
    # "h1b" and "lottery" are shared by three entries; "check" belongs to one of them.
    assert posterior.argmax() == 1 and posterior[1] > 0.5
    assert posterior[3] < posterior[0]  # shares no word with the question


def test_bayes_counts_word_pairs_not_only_words() -> None:
    texts = ["visa fee work", "work visa fee"]
    bayes = TermBayes(texts, np.array([0, 1]), 2)
    assert list(terms(["work", "visa"])) == ["work", "visa", "work visa"]
    assert bayes.posterior(["work", "visa"]).argmax() == 1  # same words; only entry 1 has the pair


def test_bayes_knows_a_chinese_phrasing_by_the_words_a_question_is_split_into(
    matcher: Matcher,
) -> None:
    """Phrasings are counted split as questions are: a Chinese run kept whole would share no word
    with a Chinese question, and the Bayes opinion would be silent for every Chinese message."""
    entry = next(e for e in matcher.base.entries if e.id == "context-china-talent-programmes")
    chinese = next(a for a in entry.alternates if not any(c.isascii() and c.isalnum() for c in a))
    words = matcher.question(chinese).canonical.split()
    assert any(len(w) == 2 and not w.isascii() for w in words)  # it was split into bigrams
    posterior = matcher.bayes.posterior(words)
    assert posterior.sum() == pytest.approx(1.0)
    assert matcher.base.entries[int(posterior.argmax())].id == entry.id


def test_bayes_gives_nothing_for_words_no_phrasing_uses() -> None:
    bayes = TermBayes(["h1b fee"], np.array([0]), 2)
    assert bayes.posterior(["weather", "beijing"]).tolist() == [0.0, 0.0]
    assert bayes.posterior([]).tolist() == [0.0, 0.0]


# ---------------------------------------------------------------- decide


def test_fit_logistic_separates_what_is_separable() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] > 0).astype(float)
    weights, bias = fit_logistic(x, y, np.ones(len(y)), l2=0.1)
    predicted = (x @ weights + bias > 0).astype(float)
    assert (predicted == y).mean() > 0.97
    assert weights[0] > 0 > weights[1]


def test_decision_model_round_trips_and_rejects_bad_files(tmp_path: Path) -> None:
    model = DecisionModel(
        tuple(float(i) for i in range(len(FEATURES))), -1.5, Thresholds(0.6, 0.4, 0.2)
    )
    path = tmp_path / "decision.yaml"
    model.dump(path, "test model")
    assert DecisionModel.load(path).weights == model.weights
    path.write_text(path.read_text().replace("vague", "vagueness"))
    with pytest.raises(ValueError, match="weights do not match"):
        DecisionModel.load(path)
    bad = tmp_path / "bad.yaml"
    model.dump(bad, "x")
    bad.write_text(bad.read_text().replace("answer: 0.6", "answer: 0.1"))
    with pytest.raises(ValueError, match="thresholds"):
        DecisionModel.load(bad)


def test_probabilities_follow_the_weights() -> None:
    weights = [0.0] * len(FEATURES)
    weights[FEATURES.index("lexical")] = 10.0
    model = DecisionModel(tuple(weights), -5.0, Thresholds(0.6, 0.4, 0.2))
    rows = np.zeros((2, len(FEATURES)))
    rows[0, FEATURES.index("lexical")] = 1.0
    p = model.probabilities(rows)
    assert p[0] == pytest.approx(1 / (1 + np.exp(-5)))
    assert p[1] == pytest.approx(1 / (1 + np.exp(5)))


# ---------------------------------------------------------------- semantic


def test_static_embeddings_load_offline_and_rank_meaning() -> None:
    embedder = StaticEmbedder.shipped()
    a, b, c = embedder.embed(
        ["my husband wants to work", "can my spouse get a job", "weather in beijing"]
    )
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert a @ b > a @ c
    assert not embedder.embed([""]).any()


def test_large_bases_compare_entry_means_first_then_refine_candidates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from knowledge import semantic

    texts = [
        "my spouse wants to work",
        "can my husband get a job",
        "weather in beijing",
        "rain in beijing",
    ]
    owners = np.array([0, 0, 1, 1], dtype=np.int32)
    embedder = StaticEmbedder.shipped()
    exact = semantic.SemanticIndex(embedder, texts, owners, 2)
    monkeypatch.setattr(semantic, "EXACT_UP_TO", 2)
    large = semantic.SemanticIndex(embedder, texts, owners, 2)
    query = embedder.embed(["can my wife work"])[0]
    rough = large.similarities(query)
    assert rough[0] > rough[1]  # the mean vectors still rank the entries
    assert not np.allclose(rough, exact.similarities(query))
    assert np.allclose(large.refined(query, [0, 1], rough), exact.similarities(query), atol=1e-6)


def test_numpy_runs_one_blas_thread_even_when_bot_storage_loads_it() -> None:
    """knowledge/__init__.py limits OpenBLAS to one thread before numpy loads (two spin against
    each other on a busy machine: ~7x the CPU per question); sqlite-utils loads numpy too, so
    `bot` imports `knowledge` first. Counted in a fresh interpreter: OpenBLAS starts its extra
    threads when numpy loads."""
    code = (
        "import os, sys, bot.storage\n"
        "assert 'numpy' in sys.modules\n"
        "print(len(os.listdir('/proc/self/task')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "1"


def test_the_embedding_cache_keeps_only_the_most_recently_used_phrasing_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from knowledge import disk_cache, semantic

    monkeypatch.setenv("VISABOT_CACHE_DIR", str(tmp_path))
    embedder = StaticEmbedder.shipped()
    files: dict[str, Path] = {}

    def embed(text: str, used_at: int | None = None) -> None:
        before = set(tmp_path.glob("phrasings-*.npy"))
        semantic.embed_cached(embedder, [text])
        files.setdefault(text, *(set(tmp_path.glob("phrasings-*.npy")) - before))
        if used_at is not None:
            os.utime(files[text], (used_at, used_at))  # a clock the test controls

    for n in range(disk_cache.CACHE_KEEP):
        embed(f"set {n}", used_at=1000 + n)
    assert len(list(tmp_path.glob("phrasings-*.npy"))) == disk_cache.CACHE_KEEP
    embed("set 0")  # read again: marked as used now
    assert files["set 0"].stat().st_mtime > 1000 + disk_cache.CACHE_KEEP
    embed("a new set")
    left = set(tmp_path.glob("phrasings-*.npy"))
    assert len(left) == disk_cache.CACHE_KEEP
    assert files["set 0"] in left and files["a new set"] in left
    assert files["set 1"] not in left  # the least recently used went


def test_canonical_phrasings_are_read_back_from_disk_only_for_the_same_synonyms_and_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISABOT_CACHE_DIR", str(tmp_path))
    synonyms = {"h1b": ["h 1b"], "fee": ["fees"]}
    texts = ["H-1B fees?", "签证 fees"]
    first = Normalizer(synonyms, cache_key="synonyms v1")
    first.remember(texts)
    (written,) = tmp_path.glob("canonical-*.json")
    assert json.loads(written.read_bytes()) == ["h1b fee", "签证 fee"]

    def never(text: str) -> str:
        raise AssertionError(f"made canonical again: {text!r}")

    again = Normalizer(synonyms, cache_key="synonyms v1")
    monkeypatch.setattr(again, "_remembered", never)
    again.remember(texts)
    assert [again.canonical(t) for t in texts] == ["h1b fee", "签证 fee"]

    # Other synonyms (another key) or other texts miss the file and are computed afresh.
    other = Normalizer({"h1b": ["h 1b"]}, cache_key="synonyms v2")
    other.remember(texts)
    assert other.canonical("H-1B fees?") == "h1b fees"
    written.write_text('["wrong length"]')
    first.remember(texts)
    assert json.loads(written.read_bytes()) == ["h1b fee", "签证 fee"]  # a bad file is replaced


def test_a_cached_set_that_cannot_be_marked_used_is_still_read_not_embedded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from knowledge import semantic

    monkeypatch.setenv("VISABOT_CACHE_DIR", str(tmp_path))
    embedder = StaticEmbedder.shipped()
    first = semantic.embed_cached(embedder, ["h1b fee"])

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only cache")

    def never(texts: object) -> np.ndarray:
        raise AssertionError("embedded again although the cache holds the set")

    monkeypatch.setattr(os, "utime", refused)
    monkeypatch.setattr(embedder, "embed", never)
    assert np.array_equal(semantic.embed_cached(embedder, ["h1b fee"]), first)
