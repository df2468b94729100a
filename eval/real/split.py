"""Split the real-question corpus into its train half and its locked test half, by source site.

Every question of one site goes to the same half, so the test half holds wordings from sites the
matcher was never calibrated on (a site's FAQ shares a house style). Sites are ordered by a hash
of their name (stable, blind to content) and each goes to whichever half has fewer questions so
far, which keeps the halves near equal in size. Re-running on the union of both files gives the
same split, but only while no site is added: a new site shifts which half later sites land in.
Since alternates and synonyms have been written from the train half, do not re-split: it would
move tuned-on questions into the locked half. New questions from new sites are appended to the
train half (or to eval/real/validation.yaml) instead; tests/test_eval_split.py keeps the sites apart.

Run: python eval/real/split.py [extra.yaml ...]   (rewrites eval/real/train.yaml and test.yaml)
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from pathlib import Path

import yaml

HERE = Path(__file__).parent
HALVES = ("train", "test")
FIELDS = ("q", "url", "site", "lang", "kind", "ids", "decline", "missing_topic")
HEADER = {
    "train": "The TRAIN half of the real questions: calibration (`visabot kb calibrate`), alternates and\n"
    "synonyms may learn from these.",
    "test": "The LOCKED TEST half of the real questions. Nothing is tuned on it: no calibration reads it, and\n"
    "none of its questions may appear in entries, synonyms, code, commits or the train half\n"
    "(tests/test_eval_split.py). `make bench` scores it and lists every miss.",
}
COMMON = """
Questions real people asked on public pages, wording kept as written (trimmed to 300 characters),
with the page (url), its site, the language and the kind of page. `ids`: the entries that answer
it; `decline: out-of-scope` (not our topic) or `decline: missing` (our topic, no entry yet, with
missing_topic). Split by site: python eval/real/split.py (see its docstring)."""


def key(question: str) -> str:
    """A question's identity for de-duplication: folded, punctuation and spaces dropped."""
    text = unicodedata.normalize("NFKC", question).lower()
    return re.sub(r"[\W_]+", "", text)


def site_rank(site: str) -> str:
    return hashlib.sha256(site.encode()).hexdigest()


def split(items: list[dict]) -> dict[str, list[dict]]:
    by_site: dict[str, list[dict]] = {}
    for item in items:
        by_site.setdefault(item["site"], []).append(item)
    halves: dict[str, list[dict]] = {h: [] for h in HALVES}
    # Largest sites first (stable by hash), each to the smaller half: balanced sizes.
    for site in sorted(by_site, key=lambda s: (-len(by_site[s]), site_rank(s))):
        target = min(HALVES, key=lambda h: (len(halves[h]), h == "test"))
        halves[target].extend(by_site[site])
    return halves


def normalised(raw: dict) -> dict:
    """The stored form of one collected item (`expect` from the collectors becomes ids/decline)."""
    item = {k: raw[k] for k in FIELDS if raw.get(k) not in (None, "", [])}
    expect = raw.get("expect")
    if isinstance(expect, list):
        item["ids"] = list(expect)
    elif expect in ("out-of-scope", "missing"):
        item["decline"] = expect
    item["q"] = str(item["q"])[:300]
    if item.get("decline") != "missing":
        item.pop("missing_topic", None)
    return {k: item[k] for k in FIELDS if k in item}


def main(extra: list[str]) -> None:
    items: list[dict] = []
    seen: set[str] = set()
    for path in [HERE / f"{h}.yaml" for h in HALVES] + [Path(p) for p in extra]:
        if not path.exists():
            continue
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            item = normalised(raw)
            k = key(item["q"])
            if k and k not in seen:
                seen.add(k)
                items.append(item)
    for half, chosen in split(items).items():
        text = "".join(
            f"# {line}\n" if line else "#\n" for line in (HEADER[half] + COMMON).splitlines()
        )
        body = yaml.safe_dump(chosen, sort_keys=False, allow_unicode=True, width=100)
        (HERE / f"{half}.yaml").write_text(text + "\n" + body, encoding="utf-8")
        sites = len({i["site"] for i in chosen})
        print(f"{half}: {len(chosen)} questions from {sites} sites")


if __name__ == "__main__":
    main(sys.argv[1:])
