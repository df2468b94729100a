"""The terminal chat (`visabot chat`, and `make run` without a token): the bot's answers, offline.

It keeps the little state a conversation needs: the entries just offered (typing "2" opens the
second) and the entry just answered, so a short follow-up ("and for the K visa?") is read in
its light, as in Telegram.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.i18n import Lang, choose
from bot.replies.plain import entry_as_text, result_as_text
from bot.replies.telegram_view import TOPIC_LABELS
from bot.runtime.context import FOLLOWUP_SECONDS
from knowledge.matcher import Matcher, MatchResult, Outcome
from knowledge.model import Entry

QUIT = {"exit", "quit", ":q", "/exit", "/quit"}


class TerminalChat:
    def __init__(self, matcher: Matcher, say: Callable[[str], None], language: str | None = None):
        self.matcher = matcher
        self.say = say
        self.language = language  # "en" / "zh" from --lang; None follows each question's script
        self.lang = Lang.EN
        self.offered: list[Entry] = []
        self.previous: tuple[Entry, float] | None = None

    def run(self, help_text: str) -> None:
        self.say(f"visabot: {len(self.matcher)} sourced entries on China's K visa and the US H-1B. Not legal advice.")
        self.say(help_text)
        while True:
            try:
                text = input("\nyou> ").strip()
            except (EOFError, KeyboardInterrupt):
                self.say("")
                return
            if text.lower() in QUIT:
                return
            if text:
                self.say(self.reply(text, help_text))

    def reply(self, text: str, help_text: str) -> str:
        """The reply to one line: a command, a number picking an offered entry, or a question."""
        command = text.lower().split()[0]
        if command in {"/help", "help", "/start"}:
            return help_text
        if command in {"/topics", "topics"}:
            return self._topics()
        if command in {"more", "/more", "sources", "/sources"}:
            return self._expand(sources=command.endswith("sources"))
        if text.isdigit() and 1 <= int(text) <= len(self.offered):
            return self._show(self.offered[int(text) - 1])
        result = self.matcher.match(text, context=self._context())
        self._remember(result)
        self.lang = choose(self.language, text)
        return result_as_text(result, short=True, lang=self.lang, chinese=self.matcher.base.chinese)

    def _context(self) -> Entry | None:
        if self.previous is None or time.monotonic() - self.previous[1] >= FOLLOWUP_SECONDS:
            return None
        return self.previous[0]

    def _remember(self, result: MatchResult) -> None:
        self.offered = [c.entry for c in result.alternatives]
        if result.outcome is Outcome.ANSWER and result.entry is not None:
            last = result.also[-1].entry if result.also else result.entry
            self.previous = (last, time.monotonic())

    def _show(self, entry: Entry) -> str:
        self.offered = []
        self.previous = (entry, time.monotonic())
        return entry_as_text(entry, False, False, self.lang, self.matcher.base.chinese)

    def _expand(self, sources: bool) -> str:
        """`more` and `sources`: the last answer with every caveat, or with its sources."""
        if self.previous is None:
            return "Ask a question first; `more` and `sources` then expand its answer."
        return entry_as_text(self.previous[0], not sources, sources, self.lang, self.matcher.base.chinese)

    def _topics(self) -> str:
        entries = list(self.matcher.base.entries)
        self.offered = entries
        lines = []
        for topic, label in TOPIC_LABELS.items():
            lines.append(label)
            lines += [f"  {n}. {e.question}" for n, e in enumerate(entries, 1) if e.topic is topic]
        return "\n".join(lines) + "\n(type a number to open that entry)"
