"""The reply language: chosen from the question's script or the user's /language, and the texts.

Every string the bot shows users (labels, buttons, declines, small talk, subscriptions, the
privacy text, broadcasts' header and footer) lives here in English and simplified Chinese, so the
two cannot drift apart across modules. Traditional Chinese
is not written by hand: a question in traditional characters gets the simplified text converted
with OpenCC, the maintained converter the matcher already uses the other way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import opencc

from knowledge.bilingual import ChineseText, fingerprint
from knowledge.model import Entry, Status
from knowledge.normalize import KANA_RE


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
    simplified changes the text. Japanese (kana among the Han characters) gets English: we have no
    Japanese text, and a Chinese reply would read as a mistake."""
    han = len(_HAN.findall(text))
    if KANA_RE.search(text) or han < 2 or han < 0.3 * (han + len(_LATIN.findall(text))):
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
        return (
            Lang.ZH_HANT
            if language_code.lower() in {"zh-hant", "zh-tw", "zh-hk", "zh-mo"}
            else Lang.ZH
        )
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
        return (
            t("english_only", self.requested)
            if self.requested.chinese and not self.lang.chinese
            else None
        )


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
    "status.reported": ("📰 Reported; no official text cited", "📰 媒体或律所报道；未引用官方文本"),
    "status.unclear": ("⚖️ Unclear: sources conflict", "⚖️ 不明确：来源互相矛盾"),
    "status.pending": (
        "⏳ Pending: not yet published by the authority",
        "⏳ 待定：主管部门尚未公布",
    ),
    # An entry whose rule passed its own end date (in_force_until) is shown unclear for that reason.
    "status.lapsed": ("⚖️ Unclear: the rule may have lapsed", "⚖️ 不明确：该规定可能已失效"),
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
    "decline_unsure": (
        "I'm not sure which of my sourced answers fits that {visa} question, so I won't guess; it has been passed to the maintainers.",
        "我不确定哪条有来源的答案适用于这个{visa}问题，所以不作猜测；已转给维护者。",
    ),
    "decline": (
        "I don't have a sourced answer to that. I cover China's K visa and the US H-1B; try other words, or browse /topics.",
        "这个问题我没有有来源的答案。我只回答中国K字签证和美国H-1B签证的问题；请换个说法，或用 /topics 浏览。",
    ),
    "decline_close": (
        "I'm not sure which of my sourced answers fits that, so I won't guess. I cover China's K visa and the US H-1B; try other words, or browse /topics.",
        "我不确定哪条有来源的答案适用于这个问题，所以不作猜测。我只回答中国K字签证和美国H-1B签证的问题；请换个说法，或用 /topics 浏览。",
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
        'Hello! {covers} Ask me anything about them, e.g. "is the H-1B $100,000 fee annual?"',
        "你好！{covers}欢迎提问，例如：“H-1B的10万美元费用是每年交吗？”",
    ),
    "smalltalk.thanks": ("You're welcome! Ask again any time.", "不客气！随时再来提问。"),
    "smalltalk.identity": (
        "I'm visabot. {covers} I answer only from sourced entries, and say so when I don't know.",
        "我是 visabot。{covers}我只根据有来源的条目作答，不知道时会直说。",
    ),
    "welcome_html": (
        (
            "👋 <b>Hi, I'm visabot.</b>\n\n"
            "I answer questions about <b>China's K visa</b> (for young science and technology talent) and "
            "the <b>US H-1B</b> (including the $100,000 payment). Just type your question in your own words, "
            "for example: <i>h1b 100k fee annual?</i> or <i>K字签证是什么</i>.\n\n"
            "Every answer shows its caveats, sources and the date it is true as of. "
            "It is sourced information, not legal advice."
        ),
        (
            "👋 <b>你好，我是 visabot。</b>\n\n"
            "我回答关于<b>中国K字签证</b>（面向外国青年科技人才）和<b>美国H-1B签证</b>（包括10万美元费用）的问题。"
            "直接用自己的话提问即可，例如：<i>K字签证有年龄限制吗</i> 或 <i>H-1B的10万美元每年都要交吗</i>。\n\n"
            "每个回答都附有注意事项、来源和截至日期。这些是有来源的信息，不构成法律意见。"
            "用 /language 可切换回复语言。"
        ),
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
    # ---- topics, subscriptions, broadcasts' frame ----
    "topic.k-visa": ("🇨🇳 China's K visa", "🇨🇳 中国K字签证"),
    "topic.h1b": ("🇺🇸 US H-1B", "🇺🇸 美国H-1B"),
    "topic.compare": ("⚖️ K visa vs H-1B", "⚖️ K字签证与H-1B对比"),
    "topic.context": ("🌐 Background", "🌐 背景"),
    "topic.all": ("📬 Everything", "📬 全部"),
    "sub.choose": (
        "Choose the topics you want policy updates on (one message per change, never spam):",
        "请选择要订阅政策更新的主题（每次变化发一条消息，绝不刷屏）：",
    ),
    "sub.none": (
        "You have no subscriptions. Use /subscribe to get policy updates.",
        "你还没有订阅。用 /subscribe 订阅政策更新。",
    ),
    "sub.current": (
        "🔔 You get policy updates on: {names}.\nUse /unsubscribe to stop.",
        "🔔 你订阅了以下政策更新：{names}。\n用 /unsubscribe 退订。",
    ),
    "sub.added": (
        "🔔 Subscribed to {what}. You will get a message when the official position changes.",
        "🔔 已订阅{what}。官方立场有变化时，你会收到一条消息。",
    ),
    "sub.already": ("You are already subscribed to {what}.", "你已经订阅了{what}。"),
    "sub.group_added": (
        "🔔 This group is now subscribed to {what}: the group gets a message when the official position changes.",
        "🔔 本群已订阅{what}：官方立场有变化时，本群会收到一条消息。",
    ),
    "sub.group_already": ("This group is already subscribed to {what}.", "本群已经订阅了{what}。"),
    "sub.group_admins_only": (
        "Only this group's administrators can change the group's subscriptions.",
        "只有本群管理员可以更改本群的订阅。",
    ),
    "sub.group_check_failed": (
        "I could not check that you are an administrator of this group. Please try again.",
        "无法确认你是本群管理员，请稍后再试。",
    ),
    "sub.bad_link": (
        "That subscription link is not valid. Use /subscribe to choose topics.",
        "这个订阅链接无效。请用 /subscribe 选择主题。",
    ),
    "sub.which_stop": ("Which updates should stop?", "要退订哪些更新？"),
    "sub.stop_all": ("🔕 Stop all updates", "🔕 退订全部更新"),
    "sub.unsubscribed": ("Unsubscribed.", "已退订。"),
    "broadcast.header": (
        "📣 <b>Policy update · {scope} · {day.day} {day:%b %Y}</b>",
        "📣 <b>政策更新 · {scope} · {day.year}年{day.month}月{day.day}日</b>",
    ),
    "broadcast.all_topics": ("all topics", "全部主题"),
    "broadcast.footer": (
        "<i>You get this because you subscribed to updates. To stop: /unsubscribe</i>",
        "<i>你收到这条消息，是因为你订阅了政策更新。退订：/unsubscribe</i>",
    ),
    # ---- browsing, small replies ----
    "browse.menu": (
        "📂 <b>Browse by topic</b>\nPick a topic, then a question.",
        "📂 <b>按主题浏览</b>\n先选主题，再选问题。",
    ),
    "browse.page": ("{topic} — page {page} of {pages}", "{topic} — 第 {page}/{pages} 页"),
    "browse.prev": ("◀ Prev", "◀ 上一页"),
    "browse.next": ("Next ▶", "下一页 ▶"),
    "browse.back": ("⬅ Back to topics", "⬅ 返回主题列表"),
    "entry_gone": ("That entry no longer exists. Try /topics.", "该条目已不存在。请试试 /topics。"),
    "vote.thanks": ("Thanks for the feedback!", "感谢反馈！"),
    "vote.already": ("You already rated this answer.", "你已经评价过这个回答。"),
    "ask_usage": (
        "Ask your question after the command, e.g. <code>/ask is the H-1B $100,000 fee annual?</code>",
        "请在命令后写上你的问题，例如：<code>/ask H-1B的10万美元每年都要交吗？</code>",
    ),
    "text_only": (
        "I can only read text. Type your question about the K visa or the H-1B, or use /topics.",
        "我只能读文字。请输入关于K字签证或H-1B的问题，或使用 /topics。",
    ),
    "apology": (
        "😔 Sorry, something went wrong on my side. Please try again in a moment.",
        "😔 抱歉，我这边出了点问题。请稍后再试。",
    ),
    "unknown_command": (
        "I don't know that command. See /help, or just type your question.",
        "我不认识这个命令。请看 /help，或直接输入你的问题。",
    ),
    "about_html": (
        (
            "<b>About visabot</b>\n\n"
            "{count} curated entries ({by_topic}) on China's K visa and the US H-1B. "
            "Each answer cites its sources with publisher and date, states its caveats, and says what is "
            "unknown; official sources are preferred, and unofficial figures are labelled as such.\n\n"
            "Newest verification: {newest}. Policy moves fast: check the as-of date on each answer.\n\n"
            "<b>Found an error?</b> Tap 👎 under the answer; maintainers review every 👎 and the "
            "questions I could not answer.\n\n<i>Sourced information, not legal advice.</i>"
        ),
        (
            "<b>关于 visabot</b>\n\n"
            "共 {count} 条精选条目（{by_topic}），涵盖中国K字签证和美国H-1B签证。"
            "每个回答都注明来源的发布者和日期，列出注意事项，并说明哪些情况尚不清楚；优先采用官方来源，非官方数字都有标注。\n\n"
            "最近一次核实：{newest}。政策变化很快：请留意每个回答的截至日期。\n\n"
            "<b>发现错误？</b>点回答下方的 👎；维护者会查看每一个 👎 以及我答不上来的问题。\n\n"
            "<i>有来源的信息，不构成法律意见。</i>"
        ),
    ),
    "about.topic_count": ("{n} {topic}", "{topic} {n} 条"),
    # ---- /privacy and /forget ----
    "privacy_html": (
        (
            "🔒 <b>What visabot stores, and why</b>\n\n"
            "• <b>Subscriptions</b>: your chat id and the topics you chose, because that is the address "
            "policy updates are sent to. /unsubscribe or /forget removes them.\n"
            "• <b>Language</b>: only if you choose one with /language, your user id and that choice, so "
            "replies come in it. /language → Auto or /forget removes it.\n"
            "• <b>Watches</b> (👁): your chat id and the answers you watch, because that is where a change "
            "is sent. /watching or /forget removes them.\n"
            "• <b>Votes</b> (👍/👎): only a tally per answer is stored, with nothing about who voted. To "
            "count one vote per person, I remember in memory (never on disk) which answers you rated and "
            "how (so you can change your vote), for two days at most; /forget clears that too.\n"
            "• <b>Broadcast deliveries</b>: which chats an update was sent to, so nobody gets it twice.\n"
            "• <b>Questions I could not answer</b> and <b>questions behind a 👎</b>: kept as text (with the day only) "
            "without any user or chat id, so maintainers can add the missing answers. Because nothing links them to "
            "you, they cannot be traced back to you (nor singled out by /forget): please keep personal "
            "details out of your questions.\n"
            "• <b>How often each answer is shown</b>: a count per answer, nothing about who asked.\n"
            "• <b>Unfinished drafts</b> (maintainers only) are kept in memory until finished or cancelled.\n"
            "• <b>Logs</b> never hold the bot token. They hold what you type only when the operator turns "
            "on <code>VISABOT_LOG_USER_TEXT</code> (here: <b>{log_state}</b>).\n\n"
            "Nothing is sold or shared. /forget deletes everything linked to you, at once."
        ),
        (
            "🔒 <b>visabot 存储什么，以及为什么</b>\n\n"
            "• <b>订阅</b>：你的聊天 id 和你选择的主题，因为政策更新要发到这个地址。"
            "/unsubscribe 或 /forget 会删除它们。\n"
            "• <b>语言</b>：仅当你用 /language 选择了语言时，存储你的用户 id 和这个选择，以便用该语言回复。"
            "/language → 自动 或 /forget 会删除它。\n"
            "• <b>关注</b>（👁）：你的聊天 id 和你关注的回答，因为回答有变化时要发到这里。"
            "/watching 或 /forget 会删除它们。\n"
            "• <b>投票</b>（👍/👎）：每个回答只存储一个计数，不记录谁投了票。为了每人只计一票，"
            "我会在内存中（从不写入磁盘）记住你评价过哪些回答以及怎么评价的（以便你更改评价），最多两天；"
            "/forget 也会清除这些。\n"
            "• <b>广播投递记录</b>：一条更新发到了哪些聊天，以免有人收到两次。\n"
            "• <b>我答不上来的问题</b>和<b>被点 👎 的回答所对应的问题</b>：以文本形式保存（只记日期），"
            "不带任何用户或聊天 id，方便维护者补充缺少的答案。因为没有任何东西把它们和你联系起来，"
            "所以无法追溯到你（/forget 也无法单独找出它们）：请不要在问题中写入个人信息。\n"
            "• <b>每个回答被展示的次数</b>：每个回答一个计数，不记录是谁问的。\n"
            "• <b>未完成的草稿</b>（仅限维护者）保存在内存中，直到完成或取消。\n"
            "• <b>日志</b>从不包含机器人令牌。只有运营者开启 <code>VISABOT_LOG_USER_TEXT</code> 时，"
            "日志才会记录你输入的内容（当前：<b>{log_state}</b>）。\n\n"
            "不出售、不分享任何数据。/forget 会立即删除与你有关的全部信息。"
        ),
    ),
    "privacy.on": ("on", "开启"),
    "privacy.off": ("off", "关闭"),
    "forget.private_only": (
        "Send /forget to me in a private chat: there it deletes what I store about you.",
        "请在私聊中向我发送 /forget：在那里它会删除我存储的关于你的信息。",
    ),
    "forget.kept_note": (
        (
            "Questions I could not answer and questions behind a 👎 are kept as text with no link to you, "
            "so nothing left identifies you."
        ),
        "我答不上来的问题和被点 👎 的问题以文本形式保存，与你没有任何关联，因此剩下的内容无法识别出你。",
    ),
    "forget.done": (
        "🗑 <b>Done.</b> I deleted everything I stored about you:",
        "🗑 <b>完成。</b>我已删除存储的关于你的全部信息：",
    ),
    "forget.nothing": (
        "🗑 <b>Done.</b> I had nothing stored about you:",
        "🗑 <b>完成。</b>我没有存储关于你的任何信息：",
    ),
    # Each count /forget reports: the plural form, and ".one" for exactly one.
    "forget.votes": ("{n} votes", "投票 {n} 条"),
    "forget.votes.one": ("1 vote", "投票 1 条"),
    "forget.subscriptions": ("{n} subscriptions", "订阅 {n} 个"),
    "forget.subscriptions.one": ("1 subscription", "订阅 1 个"),
    "forget.broadcast deliveries": ("{n} broadcast deliveries", "广播投递记录 {n} 条"),
    "forget.broadcast deliveries.one": ("1 broadcast delivery", "广播投递记录 1 条"),
    "forget.broadcast authorships": ("{n} broadcast authorships", "广播作者记录 {n} 条"),
    "forget.broadcast authorships.one": ("1 broadcast authorship", "广播作者记录 1 条"),
    "forget.language choice": ("{n} language choices", "语言选择 {n} 个"),
    "forget.language choice.one": ("1 language choice", "语言选择 1 个"),
    "forget.unfinished drafts": ("{n} unfinished drafts", "未完成的草稿 {n} 份"),
    "forget.unfinished drafts.one": ("1 unfinished draft", "未完成的草稿 1 份"),
    "forget.watches": ("{n} watches", "关注 {n} 个"),
    "forget.watches.one": ("1 watch", "关注 1 个"),
}
# ---- 👁 Watch an answer (bot/delivery/watch.py, handlers/watch.py): kept apart from the block above.
_WATCH_TEXTS: dict[str, tuple[str, str]] = {
    "watch.button": ("👁 Watch", "👁 关注"),
    "watch.watching": ("👁 Watching ✓", "👁 已关注 ✓"),
    "watch.on": (
        "👁 Watching: you get one message when this answer, its status or its history changes. /watching lists your watches.",
        "👁 已关注：这个回答、它的状态或变化记录有更新时，你会收到一条消息。/watching 查看你的关注。",
    ),
    "watch.off": ("Stopped watching this answer.", "已取消关注这个回答。"),
    "watch.private_only": (
        "Watching works in a private chat with me.",
        "关注功能只能在与我的私聊中使用。",
    ),
    "watch.gone": ("That entry no longer exists. Try /topics.", "该条目已不存在。请试试 /topics。"),
    "watch.changed": ("An answer you watch has changed", "你关注的回答有更新"),
    "watch.status": ("Status: {old} → {new}", "状态：{old} → {new}"),
    "watch.new_history": ("New in its history:", "新增变化记录："),
    "watch.new_answer": ("The answer now reads:", "现在的回答："),
    "watch.corrected": ("Its change history was corrected.", "它的变化记录已更正。"),
    "watch.footer": (
        "You get this because you tapped 👁 Watch under this answer. To stop: /watching",
        "你收到这条消息，是因为你在这个回答下点了 👁 关注。取消关注：/watching",
    ),
    "watching.none": (
        "You watch no answers. Tap 👁 Watch under an answer to get one message when it changes.",
        "你还没有关注任何回答。在回答下点 👁 关注，回答有更新时你会收到一条消息。",
    ),
    "watching.list": (
        "👁 Answers you watch ({n}). Tap one to stop watching it:",
        "👁 你关注的回答（{n}）。点击一个即可取消关注：",
    ),
    "watching.more": ("… and {n} more.", "……另有 {n} 个。"),
    "watching.removed": ("Stopped watching.", "已取消关注。"),
}
_TEXTS.update(_WATCH_TEXTS)
# Toasts for votes (handlers/browse.py) and the /subscribe topic toggles (handlers/subscriptions.py).
_TEXTS |= {
    "vote.counted": ("Thanks for the feedback!", "感谢你的反馈！"),
    "vote.changed": ("Vote changed. Thanks!", "已更改评价，谢谢！"),
    "vote.same": ("Your vote is already counted.", "你的评价已计入。"),
    "sub.off": ("🔕 Unsubscribed from {topic}.", "🔕 已取消订阅：{topic}。"),
    "sub.off_group": (
        "🔕 This group is no longer subscribed to {topic}.",
        "🔕 本群已取消订阅：{topic}。",
    ),
    # ---- the answer's first screen (bot/replies/telegram_view.py): one compact status line ----
    "lapsed_short": (
        "⏳ This rule was set to end on {end} unless extended; our sources stop there:",
        "⏳ 这项规定原定于{end}到期（除非延期），我们的资料止于此：",
    ),
    "lapsed_check": ("check the official page", "请查看官方页面"),
    "stale_short": ("re-check due {date}", "应于 {date} 复核"),
    # Badges for the first screen's status line; the expanded views give the long ones above.
    "status_short.official": ("✅ Official", "✅ 官方"),
    "status_short.reported": ("📰 Reported, unofficial source", "📰 报道，非官方来源"),
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


def count_text(key: str, n: int, lang: Lang) -> str:
    """`n` things, worded by `key` and, for exactly one, `key.one`."""
    return t(f"{key}.one" if n == 1 else key, lang, n=n)


def topic_label(topic: str, lang: Lang) -> str:
    """A topic's button label ("all" is every topic), with its emoji."""
    return t(f"topic.{topic}", lang)


def topic_name(topic: str, lang: Lang) -> str:
    """The label without its emoji, for use inside a sentence."""
    return topic_label(topic, lang).split(" ", 1)[1]


def status_badge(status: Status, lang: Lang) -> str:
    return t(f"status.{status.value}", lang)


def shown_badge(entry: Entry, today: dt.date | None, lang: Lang) -> str:
    """The badge users see: an entry past its rule's end date is unclear because the rule may
    have lapsed, which "sources conflict" would misstate."""
    return t("status.lapsed", lang) if entry.lapsed(today) else status_badge(entry.status, lang)


def visa_name(name: str, lang: Lang) -> str:
    return _VISA_NAMES_ZH.get(name, name) if lang.chinese else name
