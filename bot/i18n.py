"""The reply language: chosen from the question's script or the user's /language, and the texts.

Every string the bot shows around an entry (labels, buttons, declines, small talk) lives here in
English and simplified Chinese, so the two cannot drift apart across modules. Traditional Chinese
is not written by hand: a question in traditional characters gets the simplified text converted
with OpenCC, the maintained converter the matcher already uses the other way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import opencc

from knowledge.bilingual import ChineseText, fingerprint
from knowledge.model import Entry, Status


class Lang(StrEnum):
    EN = "en"
    ZH = "zh"  # simplified
    ZH_HANT = "zh-hant"  # simplified text converted to traditional

    @property
    def chinese(self) -> bool:
        return self is not Lang.EN


class Preference(StrEnum):
    """What /language stores; `auto` follows each question's script."""

    AUTO = "auto"
    EN = "en"
    ZH = "zh"


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


@cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def detect(text: str) -> Lang:
    """Chinese when Han characters make up a real share of the letters ("h1b 10万美元每年吗"
    counts; one Chinese name in an English sentence does not); traditional when folding to
    simplified changes the text."""
    han = len(_HAN.findall(text))
    if han < 2 or han < 0.3 * (han + len(_LATIN.findall(text))):
        return Lang.EN
    return Lang.ZH_HANT if _converter("t2s").convert(text) != text else Lang.ZH


def choose(preference: str | None, text: str, language_code: str | None = None) -> Lang:
    """The user's /language choice, else the question's script; with no text to go by (/start,
    /help), the language of the user's Telegram app."""
    if preference == Preference.EN:
        return Lang.EN
    if preference == Preference.ZH:
        return Lang.ZH_HANT if detect(text) is Lang.ZH_HANT else Lang.ZH
    if not text.strip() and language_code and language_code.lower().startswith("zh"):
        return Lang.ZH_HANT if language_code.lower() in {"zh-hant", "zh-tw", "zh-hk", "zh-mo"} else Lang.ZH
    return detect(text)


def script(text: str, lang: Lang) -> str:
    """Simplified Chinese turned traditional for a question asked in traditional characters."""
    return _converter("s2t").convert(text) if lang is Lang.ZH_HANT else text


@dataclass(frozen=True)
class EntryText:
    """What a reply shows of an entry, in one language. `lang` is the language actually used."""

    question: str
    answer: str
    caveats: tuple[str, ...]
    lang: Lang
    requested: Lang = Lang.EN

    @property
    def fallback_note(self) -> str | None:
        """Said in the language asked for when the entry has no text in it yet."""
        return t("english_only", self.requested) if self.requested.chinese and not self.lang.chinese else None


def entry_text(entry: Entry, lang: Lang, chinese: Mapping[str, ChineseText]) -> EntryText:
    """The entry in `lang`: the Chinese only while it is in step with the English it translates
    (an out-of-step translation might state an old fact), else the English."""
    zh = chinese.get(entry.id) if lang.chinese else None
    if zh is None or zh.translates != fingerprint(entry) or len(zh.caveats) != len(entry.caveats):
        return EntryText(entry.question, entry.answer, tuple(entry.caveats), Lang.EN, lang)
    caveats = tuple(script(c, lang) for c in zh.caveats)
    return EntryText(script(zh.question, lang), script(zh.answer, lang), caveats, lang, lang)


_TEXTS: dict[str, tuple[str, str]] = {
    # key: (English, simplified Chinese)
    "status.official": ("✅ Official", "✅ 官方"),
    "status.reported": ("📰 Reported, not confirmed officially", "📰 媒体报道，未经官方确认"),
    "status.unclear": ("⚖️ Unclear: sources conflict", "⚖️ 不明确：来源互相矛盾"),
    "status.pending": ("⏳ Pending: not yet published by the authority", "⏳ 待定：主管部门尚未公布"),
    "as_of": ("As of {date}", "截至 {date}"),
    "caveats": ("Caveats", "注意事项"),
    "lapsed": (
        "⏳ This rule was set to end on {end} unless extended; our sources do not show what happened since — check {check}",
        "⏳ 这项规定原定于{end}到期（除非延期）；我们的资料没有显示此后的情况，请查看 {check}",
    ),
    "sources": ("Sources", "来源"),
    "not_advice": ("Sourced information, not legal advice.", "有来源的信息，不构成法律意见。"),
    "stale": (
        "Note: this entry was due for re-checking on {date}; the facts may have changed.",
        "注意：本条目应在 {date} 复核，相关事实可能已有变化。",
    ),
    "english_only": ("", "（本条目暂无中文版本，以下为英文原文。）"),
    "more_caveats": ("⚠️ {n} more caveats", "⚠️ 另有 {n} 条注意事项"),
    "more_caveat": ("⚠️ 1 more caveat", "⚠️ 另有 1 条注意事项"),
    "sources_button": ("📚 Sources", "📚 来源"),
    "history": ("History", "变化记录"),
    "history_button": ("🕓 History", "🕓 变化记录"),
    "show_less": ("🔼 Show less", "🔼 收起"),
    "helpful": ("👍 Helpful", "👍 有帮助"),
    "not_helpful": ("👎 Not helpful", "👎 没帮助"),
    "updates_on": ("🔔 Updates on {topic}", "🔔 订阅{topic}更新"),
    "private_link": ("📖 Caveats and sources (private chat)", "📖 注意事项与来源（私聊查看）"),
    "clarify": ("Did you mean one of these?", "你是想问下面哪一个？"),
    "decline_known": (
        "I don't have a sourced answer to that {visa} question yet; it has been passed to the maintainers.",
        "关于这个{visa}问题，我还没有有来源的答案；已转给维护者。",
    ),
    "decline": (
        "I don't have a sourced answer to that. I cover China's K visa and the US H-1B; try other words, or browse /topics.",
        "这个问题我没有有来源的答案。我只回答中国K字签证和美国H-1B签证的问题；请换个说法，或用 /topics 浏览。",
    ),
    "closest": (
        "The closest entries I have are below; they may not fit your question.",
        "下面是最接近的条目，可能并不完全对应你的问题。",
    ),
    "browse": ("Browse what I know: /topics", "浏览全部内容：/topics"),
    "covers": (
        "I answer questions about China's K visa and the US H-1B (including the $100,000 payment), with sources.",
        "我回答关于中国K字签证和美国H-1B签证（包括10万美元费用）的问题，并附上来源。",
    ),
    "smalltalk.greeting": (
        "Hello! {covers} Ask me anything about them, e.g. \"is the H-1B $100,000 fee annual?\"",
        "你好！{covers}欢迎提问，例如：“H-1B的10万美元费用是每年交吗？”",
    ),
    "smalltalk.thanks": ("You're welcome! Ask again any time.", "不客气！随时再来提问。"),
    "smalltalk.identity": (
        "I'm visabot. {covers} I answer only from sourced entries, and say so when I don't know.",
        "我是 visabot。{covers}我只根据有来源的条目作答，不知道时会直说。",
    ),
    "welcome_html": (
        ("👋 <b>Hi, I'm visabot.</b>\n\n"
        "I answer questions about <b>China's K visa</b> (for young science and technology talent) and "
        "the <b>US H-1B</b> (including the $100,000 payment). Just type your question in your own words, "
        "for example: <i>h1b 100k fee annual?</i> or <i>K字签证是什么</i>.\n\n"
        "Every answer shows its caveats, sources and the date it is true as of. "
        "It is sourced information, not legal advice."),
        ("👋 <b>你好，我是 visabot。</b>\n\n"
        "我回答关于<b>中国K字签证</b>（面向外国青年科技人才）和<b>美国H-1B签证</b>（包括10万美元费用）的问题。"
        "直接用自己的话提问即可，例如：<i>K字签证有年龄限制吗</i> 或 <i>H-1B的10万美元每年都要交吗</i>。\n\n"
        "每个回答都附有注意事项、来源和截至日期。这些是有来源的信息，不构成法律意见。"
        "用 /language 可切换回复语言。"),
    ),
    "help_intro_html": (
        (
            "<b>How to use visabot</b>\n\n"
            "Type a question in a private chat. In groups, use /ask, mention me, or reply to one of my "
            "messages. In any chat, type <code>@{username} your question</code> to share an answer.\n\n"
        ),
        (
            "<b>如何使用 visabot</b>\n\n"
            "在私聊中直接输入问题即可。在群组中，请用 /ask、@我，或回复我的消息。"
            "在任何聊天中输入 <code>@{username} 你的问题</code>，即可分享一个回答。\n\n"
        ),
    ),
    "inline_button": ("Ask me in a private chat", "在私聊中向我提问"),
    "browse_button": ("📂 Browse topics", "📂 按主题浏览"),
    "updates_button": ("🔔 Get policy updates", "🔔 订阅政策更新"),
    "language.ask": ("Reply language:", "回复语言："),
    "language.auto": ("🌐 Auto (follow my question)", "🌐 自动（跟随提问语言）"),
    "language.set": ("Replies will now be in: {choice}", "回复语言已设为：{choice}"),
    # ---- the answer's first screen (bot/telegram_render.py): one compact status line ----
    "lapsed_short": (
        "⏳ This rule was set to end on {end} unless extended; our sources stop there:",
        "⏳ 这项规定原定于{end}到期（除非延期），我们的资料止于此：",
    ),
    "lapsed_check": ("check the official page", "请查看官方页面"),
    "stale_short": ("re-check due {date}", "应于 {date} 复核"),
    # Badges for the first screen's status line; the expanded views give the long ones above.
    "status_short.official": ("✅ Official", "✅ 官方"),
    "status_short.reported": ("📰 Reported, unofficial", "📰 媒体报道，非官方"),
    "status_short.unclear": ("⚖️ Unclear", "⚖️ 不明确"),
    "status_short.pending": ("⏳ Pending", "⏳ 待定"),
    "not_advice_short": ("not legal advice", "不构成法律意见"),
    "full_answer": ("📖 Full answer", "📖 完整回答"),
}
_VISA_NAMES_ZH = {"H-1B": "H-1B", "K visa": "K字签证", "K visa / H-1B": "K字签证 / H-1B"}


def t(key: str, lang: Lang, **values: object) -> str:
    """The text for `key` in `lang`, with `values` filled in."""
    english, chinese = _TEXTS[key]
    text = chinese if lang.chinese else english
    if "covers" in text and "covers" not in values:
        values["covers"] = t("covers", lang)
    return script(text.format(**values), lang)


def status_badge(status: Status, lang: Lang) -> str:
    return t(f"status.{status.value}", lang)


def visa_name(name: str, lang: Lang) -> str:
    return _VISA_NAMES_ZH.get(name, name) if lang.chinese else name
