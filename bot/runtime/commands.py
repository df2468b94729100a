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
    description_zh: str = ""  # public commands: the menu Telegram shows a Chinese-language app

    def describe(self, chinese: bool = False) -> str:
        return self.description_zh if chinese and self.description_zh else self.description


COMMANDS: tuple[Command, ...] = (
    Command("start", "Welcome and how to ask", Scope.PRIVATE, "欢迎与提问方式"),
    Command("ask", "Ask a question, e.g. /ask is the H-1B fee annual?", Scope.BOTH, "提问，例如 /ask H-1B费用是每年交吗？"),
    Command("topics", "Browse all questions by topic", Scope.BOTH, "按主题浏览全部问题"),
    Command("help", "How to use visabot", Scope.BOTH, "使用说明"),
    Command("about", "What the answers rest on and how to report an error", Scope.BOTH, "回答的依据，以及如何报告错误"),
    Command("subscribe", "Get policy updates on the topics you choose", Scope.BOTH, "订阅你选择的主题的政策更新"),
    Command("unsubscribe", "Stop policy updates", Scope.BOTH, "停止政策更新"),
    Command("subscriptions", "Show your policy-update subscriptions", Scope.BOTH, "查看你的政策更新订阅"),
    Command("watching", "Answers you watch (👁), with buttons to stop", Scope.PRIVATE, "你关注的回答（👁），可取消关注"),
    Command("language", "Reply language: English, 中文 or auto", Scope.PRIVATE, "回复语言：English、中文或自动"),
    Command("privacy", "What visabot stores about you, and why", Scope.BOTH, "visabot 存储了你的哪些信息，以及原因"),
    Command("forget", "Delete everything visabot stores about you", Scope.PRIVATE, "删除 visabot 存储的关于你的全部信息"),
    Command("broadcast", "Send a policy update to subscribers", Scope.ADMIN),
    Command("broadcasts", "Recent broadcasts and their delivery status", Scope.ADMIN),
    Command("stats", "Subscribers per topic", Scope.ADMIN),
    Command("skip", "Skip linking entries in a broadcast draft", Scope.ADMIN),
    Command("add", "Add a knowledge-base entry, step by step, with a preview", Scope.ADMIN),
    Command("edit", "Change an entry: /edit ID, or /edit words to find it", Scope.ADMIN),
    Command("delete", "Delete an entry (asks to confirm): /delete ID", Scope.ADMIN),
    Command("gaps", "Unanswered questions, near-duplicates grouped: add, attach or dismiss", Scope.ADMIN),
    Command("feedback", "Answers with the most 👎 and the questions behind them", Scope.ADMIN),
    Command("changes", "Entries whose official source changed since verified: mark verified or edit", Scope.ADMIN),
    Command("reload", "Reload the knowledge base from disk", Scope.ADMIN),
    Command("cancel", "Cancel the open draft (broadcast or entry)", Scope.ADMIN),
)


def commands_for(scope: Scope) -> list[Command]:
    return [c for c in COMMANDS if scope & c.scope and not c.scope & Scope.ADMIN]


def help_text(admin: bool = False, chinese: bool = False) -> str:
    """Plain-text command list for /help (HTML-safe: no markup characters); admins see theirs too."""
    public = [f"/{c.name} — {c.describe(chinese)}" for c in COMMANDS if not c.scope & Scope.ADMIN]
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
