"""The publisher→tier table (knowledge/publishers.yaml): who a source's host is decides its tier.

A tier is a claim about who published the text, so it belongs to the publisher, not to each
citation: the same article must carry the same tier in every entry. The entry model checks each
source against this table; `kb lint` reports hosts the table does not list yet.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import yaml

PUBLISHERS_PATH = Path(__file__).with_name("publishers.yaml")
TIERS = ("official", "copy-of-official", "education", "law-firm", "news")


@cache
def publisher_tiers(path: Path = PUBLISHERS_PATH) -> dict[str, str]:
    """Host suffix → tier name, read once. A key listed under two tiers is a broken table."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    table: dict[str, str] = {}
    for tier, keys in raw.items():
        if tier not in TIERS:
            raise ValueError(f"{path}: unknown tier {tier!r}")
        for key in keys:
            if key in table:
                raise ValueError(f"{path}: {key!r} is listed under {table[key]!r} and {tier!r}")
            table[key.lower()] = tier
    return table


def tier_of_url(url: str, table: dict[str, str] | None = None) -> str | None:
    """The tier of the longest table key that is the URL's host or a parent domain of it; None when
    the table does not list the publisher."""
    table = publisher_tiers() if table is None else table
    host = (urlparse(url).hostname or "").lower().removeprefix("www.")
    labels = host.split(".")
    for i in range(len(labels)):
        tier = table.get(".".join(labels[i:]))
        if tier is not None:
            return tier
    return None
