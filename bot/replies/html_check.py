"""A strict checker for Telegram's HTML parse mode: refuses bad broadcast markup before sending,
and lets the tests check every reply the bot sends.

Telegram's rules (https://core.telegram.org/bots/api#html-style and #formatting-options):

* only the tags b, strong, i, em, u, ins, s, strike, del, span class="tg-spoiler", tg-spoiler,
  a href=..., tg-emoji emoji-id=..., code, pre (optionally holding one code class="language-..."),
  blockquote (optionally ``expandable``);
* tags must be properly nested and closed; code/pre hold no other tags (except the pre>code pair),
  blockquotes do not nest, links do not nest;
* only the named entities &lt; &gt; &amp; &quot; plus numeric ones; a '<' or '&' that does not
  start a tag or an entity is an error.

``validate_telegram_html(text)`` returns a list of problems (empty = valid).
``visible_text(html)`` / ``visible_length(html)`` give the text as Telegram sees it after parsing
(tags stripped, entities decoded); the length is in UTF-16 code units, which is how Telegram
measures its 4096-character message limit and entity offsets.
"""

from __future__ import annotations

import html as _html
import re

__all__ = [
    "ALLOWED_TAGS",
    "utf16_len",
    "validate_telegram_html",
    "visible_length",
    "visible_text",
]

ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del",
        "span", "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji",
    }
)
_ALLOWED_ATTRS: dict[str, frozenset[str]] = {
    "a": frozenset({"href"}),
    "span": frozenset({"class"}),
    "code": frozenset({"class"}),
    "blockquote": frozenset({"expandable"}),
    "tg-emoji": frozenset({"emoji-id"}),
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_TAG_RE = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)"
    r"((?:\s+[^\s=>/\"']+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)"
    r"\s*(/?)>"
)
_ATTR_RE = re.compile(r"([^\s=>/\"']+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")
_ENTITY_RE = re.compile(r"&(?:#([0-9]+)|#[xX]([0-9A-Fa-f]+)|([A-Za-z][A-Za-z0-9]*));")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (how Telegram counts characters)."""
    return len(text.encode("utf-16-le")) // 2


def _parse_attrs(raw: str) -> tuple[dict[str, str | None], list[str]]:
    attrs: dict[str, str | None] = {}
    dupes: list[str] = []
    for m in _ATTR_RE.finditer(raw):
        name = m.group(1).lower()
        value = m.group(2)
        if value is not None:
            if value[:1] in "\"'":
                value = value[1:-1]
            value = _html.unescape(value)
        if name in attrs:
            dupes.append(name)
        attrs[name] = value
    return attrs, dupes


def _scan(text: str) -> tuple[str, list[str]]:
    """Tokenize ``text``; return (visible text, problems)."""
    out: list[str] = []
    problems: list[str] = []
    stack: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "<":
            m = _TAG_RE.match(text, i)
            if m is None:
                problems.append(f"raw '<' at position {i} (escape it as &lt;)")
                out.append("<")
                i += 1
                continue
            closing, name, raw_attrs, self_closing = (
                m.group(1) == "/",
                m.group(2).lower(),
                m.group(3),
                m.group(4) == "/",
            )
            i = m.end()
            if name not in ALLOWED_TAGS:
                kind = "end" if closing else "start"
                problems.append(f"unsupported {kind} tag <{'/' if closing else ''}{name}> "
                                f"at position {m.start()}")
                continue
            if closing:
                if raw_attrs.strip() or self_closing:
                    problems.append(f"end tag </{name}> at position {m.start()} has attributes")
                if not stack:
                    problems.append(f"unexpected end tag </{name}> at position {m.start()}")
                elif stack[-1] != name:
                    problems.append(
                        f"end tag </{name}> at position {m.start()} does not match "
                        f"open tag <{stack[-1]}>"
                    )
                    if name in stack:
                        while stack and stack.pop() != name:
                            pass
                else:
                    stack.pop()
                continue
            # start tag
            if self_closing:
                problems.append(f"self-closing tag <{name}/> at position {m.start()}")
            attrs, dupes = _parse_attrs(raw_attrs)
            for d in dupes:
                problems.append(f"duplicate attribute {d!r} on <{name}> at position {m.start()}")
            allowed = _ALLOWED_ATTRS.get(name, frozenset())
            for attr in attrs:
                if attr not in allowed:
                    problems.append(
                        f"unsupported attribute {attr!r} on <{name}> at position {m.start()}"
                    )
            parent = stack[-1] if stack else None
            if name == "a":
                if not (attrs.get("href") or "").strip():
                    problems.append(f"<a> without href at position {m.start()}")
                if "a" in stack:
                    problems.append(f"nested <a> at position {m.start()}")
            elif name == "span":
                if attrs.get("class") != "tg-spoiler":
                    problems.append(
                        f'<span> at position {m.start()} must have class="tg-spoiler"'
                    )
            elif name == "tg-emoji":
                if not (attrs.get("emoji-id") or "").isdigit():
                    problems.append(f"<tg-emoji> without numeric emoji-id at position {m.start()}")
            elif name == "blockquote":
                if "blockquote" in stack:
                    problems.append(f"nested <blockquote> at position {m.start()}")
            elif name == "code" and "class" in attrs:
                cls = attrs["class"] or ""
                if parent != "pre":
                    problems.append(
                        f"<code class=...> at position {m.start()} is only allowed directly "
                        "inside <pre>"
                    )
                if not cls.startswith("language-") or len(cls) <= len("language-"):
                    problems.append(
                        f'<code> class at position {m.start()} must be "language-NAME"'
                    )
            # code / pre hold no tags, except one <code> directly inside <pre>
            for holder in ("code", "pre"):
                if holder in stack and not (name == "code" and parent == "pre"):
                    problems.append(f"<{name}> at position {m.start()} inside <{holder}>")
                    break
            if not self_closing:
                stack.append(name)
            continue
        if ch == "&":
            m = _ENTITY_RE.match(text, i)
            if m is None:
                problems.append(f"raw '&' at position {i} (escape it as &amp;)")
                out.append("&")
                i += 1
                continue
            dec, hexa, named = m.groups()
            if named is not None:
                if named not in _NAMED_ENTITIES:
                    problems.append(
                        f"unsupported named entity &{named}; at position {i} "
                        "(only &lt; &gt; &amp; &quot; and numeric entities)"
                    )
                    out.append(m.group(0))
                else:
                    out.append(_NAMED_ENTITIES[named])
            else:
                cp = int(dec) if dec is not None else int(hexa, 16)
                if cp == 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                    problems.append(f"invalid numeric entity {m.group(0)} at position {i}")
                    out.append("\ufffd")
                else:
                    out.append(chr(cp))
            i = m.end()
            continue
        out.append(ch)
        i += 1
    for name in reversed(stack):
        problems.append(f"unclosed tag <{name}>")
    return "".join(out), problems


def validate_telegram_html(text: str) -> list[str]:
    """Problems with ``text`` as a Telegram ``parse_mode="HTML"`` message; [] means valid."""
    return _scan(text)[1]


def visible_text(html_text: str) -> str:
    """The text Telegram shows for ``html_text``: tags stripped, entities decoded.

    Best effort for invalid input (stray '<' / '&' are kept as literal characters).
    """
    return _scan(html_text)[0]


def visible_length(html_text: str) -> int:
    """Length of :func:`visible_text` in UTF-16 code units (Telegram's 4096 limit applies here)."""
    return utf16_len(visible_text(html_text))
