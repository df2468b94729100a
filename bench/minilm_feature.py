"""Would a stronger sentence model help the decision? MiniLM's similarity as a feature, cross-validated.

The matcher's semantic signal is wordllama's static embeddings, chosen for speed (a MiniLM query
costs ~13-36 ms against the 5 ms p99 budget). This checks whether that choice is what keeps real
questions from being answered: each training question's candidates (the shipped matcher's) get
MiniLM's cosine to the entry's best phrasing and its lead over the best other entry, then the
calibration's site-grouped cross-validation (knowledge/calibration.py) runs three ways:

  * shipped    - the shipped features;
  * +MiniLM    - the shipped features and the two MiniLM ones;
  * MiniLM for wordllama - MiniLM's two in place of `semantic` and `semantic_margin`.

It also counts how often MiniLM alone puts a right entry first. Only counts are printed; the
held-out questions' texts never are. Latency is not measured here: MiniLM fails that target anyway.

Run: .venv/bin/python -m bench.minilm_feature   (needs the bench extras: `make bench` installs them)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.peers import MiniLMPeer
from knowledge import calibration
from knowledge.features import FEATURES
from knowledge.loader import load_knowledge_base
from knowledge.matcher import Matcher


def main() -> None:
    base = load_knowledge_base(Path("knowledge"))
    matcher = Matcher(base)
    minilm = MiniLMPeer(base)
    items = calibration.training_items()
    questions = minilm.embed([item.question for item, _ in items])
    shipped, added, swapped = [], [], []
    first_right = in_scope = 0
    semantic, margin = FEATURES.index("semantic"), FEATURES.index("semantic_margin")
    for (item, weight), vector in zip(items, questions):
        ranking = matcher.rank(matcher.question(item.question))
        right = np.array([calibration.is_right(item, base.entries[i]) for i in ranking.entries])
        per_entry = np.maximum.reduceat(minilm.vectors @ vector, minilm.starts)
        if item.site and not item.expect_no_match:
            in_scope += 1
            first_right += calibration.is_right(item, base.entries[int(per_entry.argmax())])
        similarity = per_entry[ranking.entries]
        others = [np.delete(per_entry, i).max() for i in ranking.entries]
        extra = np.column_stack([similarity, similarity - np.array(others)]).reshape(-1, 2)
        rows = ranking.rows
        shipped.append(calibration.Example(item, weight, rows, right))
        added.append(calibration.Example(item, weight, np.hstack([rows, extra]), right))
        replaced = rows.copy()
        replaced[:, [semantic, margin]] = extra
        swapped.append(calibration.Example(item, weight, replaced, right))
    for name, examples in (
        ("shipped", shipped),
        ("+MiniLM", added),
        ("MiniLM for wordllama", swapped),
    ):
        print(f"{name:22} {calibration.describe(calibration.cross_validate(examples))}")
    print(
        f"MiniLM alone: a right entry first for {first_right} of {in_scope} real in-scope questions"
    )


if __name__ == "__main__":
    main()
