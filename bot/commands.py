"""The one table of commands: it feeds set_my_commands, /help and the README's command list."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Flag, auto


class Scope(Flag):
    PRIVATE = auto()
    GROUP = auto()
    ADMIN = auto()  # maintainers only; listed in /help for admins, never in the public menu
    BOTH = PRIVATE | GROUP


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    scope: Scope = Scope.PRIVATE


COMMANDS: tuple[Command, ...] = (
    Command("start", "Welcome and how to ask", Scope.PRIVATE),
    Command("ask", "Ask a question, e.g. /ask is the H-1B fee annual?", Scope.BOTH),
    Command("topics", "Browse all questions by topic", Scope.BOTH),
    Command("help", "How to use visabot", Scope.BOTH),
    Command("about", "What the answers rest on and how to report an error", Scope.BOTH),
    Command("subscribe", "Get policy updates on the topics you choose", Scope.BOTH),
    Command("unsubscribe", "Stop policy updates", Scope.BOTH),
    Command("subscriptions", "Show your policy-update subscriptions", Scope.BOTH),
    Command("privacy", "What visabot stores about you, and why", Scope.BOTH),
    Command("forget", "Delete everything visabot stores about you", Scope.PRIVATE),
    Command("broadcast", "Send a policy update to subscribers", Scope.ADMIN),
    Command("broadcasts", "Recent broadcasts and their delivery status", Scope.ADMIN),
    Command("stats", "Subscribers per topic", Scope.ADMIN),
    Command("skip", "Skip linking entries in a broadcast draft", Scope.ADMIN),
    Command("add", "Add a knowledge-base entry, step by step, with a preview", Scope.ADMIN),
    Command("edit", "Change an entry: /edit ID", Scope.ADMIN),
    Command("delete", "Delete an entry (asks to confirm): /delete ID", Scope.ADMIN),
    Command("gaps", "Most frequent unanswered questions: add, attach or dismiss", Scope.ADMIN),
    Command("feedback", "Answers with the most 👎 and the questions behind them", Scope.ADMIN),
    Command("reload", "Reload the knowledge base from disk", Scope.ADMIN),
    Command("cancel", "Cancel the open draft (broadcast or entry)", Scope.ADMIN),
)


def commands_for(scope: Scope) -> list[Command]:
    return [c for c in COMMANDS if scope & c.scope and not c.scope & Scope.ADMIN]


def help_text(admin: bool = False) -> str:
    """Plain-text command list for /help (HTML-safe: no markup characters); admins see theirs too."""
    public = [f"/{c.name} — {c.description}" for c in COMMANDS if not c.scope & Scope.ADMIN]
    if not admin:
        return "\n".join(public)
    private = [f"/{c.name} — {c.description}" for c in COMMANDS if c.scope & Scope.ADMIN]
    return "\n".join([*public, "", "Maintainers:", *private])


def readme_table() -> str:
    """The README's command table; a test checks that the README contains exactly this."""
    rows = ["| Command | What it does | Where |", "|---|---|---|"]
    for c in COMMANDS:
        where = "admins" if c.scope & Scope.ADMIN else ("private and groups" if c.scope == Scope.BOTH else "private chat")
        rows.append(f"| /{c.name} | {c.description} | {where} |")
    return "\n".join(rows)
