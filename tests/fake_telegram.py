"""A local fake of the Telegram Bot API for end-to-end tests. Nothing here talks to Telegram.

``FakeTelegram`` is a real HTTP server on 127.0.0.1 (ephemeral port, background thread) that a
python-telegram-bot ``Bot``/``Application`` can be pointed at::

    with FakeTelegram() as fake:
        app = ApplicationBuilder().token("123:ABC").base_url(fake.base_url) \
            .base_file_url(fake.base_file_url).build()
        fake.push_update(make_private_text("hello"))
        ...
        calls = await fake.wait_for("sendMessage", chat_id=1001)

It serves getMe, getUpdates (long poll), the webhook/command methods and the sending methods the
bot uses; every request is recorded (decoded parameters, token, timestamps, the answer). Methods
the fake does not know answer 404 and are recorded as unknown, see ``assert_no_unknown_calls``.

Faults: ``fail_next`` (HTTP 400/403/429/500... with Telegram's error JSON), ``hang_next`` (slow
answer) and a pluggable ``rate_policy``. With ``strict=True`` (default) the sending methods are
checked the way Telegram checks them (HTML parse errors, 4096 limit, callback_data <= 64 bytes,
"message is not modified", ...) and answer 400 like Telegram would.

The module-level ``make_*`` factories build update dicts so tests never paste JSON.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from bot.replies.html_check import utf16_len, validate_telegram_html, visible_length, visible_text

__all__ = [
    "BOT_ID",
    "BOT_USER",
    "BOT_USERNAME",
    "DEFAULT_GROUP_ID",
    "DEFAULT_USER_ID",
    "Call",
    "FakeTelegram",
    "make_bot_message",
    "make_callback_query",
    "make_command",
    "make_document",
    "make_edited_message",
    "make_group_text",
    "make_inline_query",
    "make_mention",
    "make_my_chat_member",
    "make_photo",
    "make_private_text",
    "make_sticker",
    "make_user",
    "make_voice",
]

BOT_ID = 777
BOT_USERNAME = "visabot_test_bot"
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "visabot",
    "username": BOT_USERNAME,
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}
DEFAULT_USER_ID = 1001
DEFAULT_GROUP_ID = -1001234567890
MAX_MESSAGE_LENGTH = 4096
RESULT_WAIT_SECONDS = 5.0  # how long Call.result waits for an answer the fake is still writing
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200

# Update types Telegram sends when getUpdates was never given allowed_updates.
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Parameters that are plain strings in the Bot API: never JSON-decode these ("123" stays "123").
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "query",
        "callback_query_id",
        "inline_query_id",
        "inline_message_id",
        "url",
        "next_offset",
        "switch_pm_text",
        "switch_pm_parameter",
        "secret_token",
        "action",
        "business_connection_id",
        "language_code",
        "emoji",
        "title",
        "description",
        "short_description",
        "name",
        "file_id",
        "message_effect_id",
        "ip_address",
        "custom_title",
        "sticker",
        "photo",
        "document",
        "voice",
        "audio",
        "video",
        "animation",
        "question",
        "explanation",
        "address",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "foursquare_id",
        "google_place_id",
    }
)

_ids = itertools.count(1)
_ids_lock = threading.Lock()


def _next_id() -> int:
    """Process-wide unique ids for message_id / callback ids (no collisions between tests)."""
    with _ids_lock:
        return next(_ids)


def _now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------------------------
# Update factories
# --------------------------------------------------------------------------------------------


def make_user(
    user_id: int = DEFAULT_USER_ID,
    first_name: str = "Alice",
    *,
    username: str | None = "alice",
    last_name: str | None = None,
    language_code: str | None = "en",
    is_bot: bool = False,
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if last_name is not None:
        user["last_name"] = last_name
    if username is not None:
        user["username"] = username
    if language_code is not None:
        user["language_code"] = language_code
    return user


def make_chat(chat_id: int, user: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Chat dict: private if chat_id > 0 (named after ``user``), else (super)group."""
    if chat_id > 0:
        chat: dict[str, Any] = {"id": chat_id, "type": "private"}
        user = user or {}
        chat["first_name"] = user.get("first_name", "User")
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        return chat
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": "Test Group"}


def _message(
    *,
    user_id: int,
    chat_id: int | None,
    text: str | None = None,
    entities: list[dict[str, Any]] | None = None,
    message_id: int | None = None,
    date: int | None = None,
    reply_to_message: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    user = user or make_user(user_id)
    chat_id = user["id"] if chat_id is None else chat_id
    msg: dict[str, Any] = {
        "message_id": message_id if message_id is not None else _next_id(),
        "from": user,
        "chat": make_chat(chat_id, user),
        "date": date if date is not None else _now(),
    }
    if text is not None:
        msg["text"] = text
    if entities:
        msg["entities"] = entities
    if reply_to_message is not None:
        msg["reply_to_message"] = reply_to_message
    if extra:
        msg.update(extra)
    return msg


def make_bot_message(
    text: str = "Hello from visabot",
    chat_id: int = DEFAULT_USER_ID,
    *,
    message_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A full Message dict as if the bot had sent it (for callback queries / replies)."""
    msg: dict[str, Any] = {
        "message_id": message_id if message_id is not None else _next_id(),
        "from": dict(BOT_USER),
        "chat": make_chat(chat_id),
        "date": date if date is not None else _now(),
        "text": text,
    }
    if reply_markup is not None:
        msg["reply_markup"] = reply_markup
    return msg


def make_private_text(
    text: str,
    user_id: int = DEFAULT_USER_ID,
    *,
    first_name: str = "Alice",
    username: str | None = "alice",
    language_code: str | None = "en",
    entities: list[dict[str, Any]] | None = None,
    message_id: int | None = None,
    date: int | None = None,
    reply_to_message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A private-chat text message update from ``user_id`` (a reply when ``reply_to_message``)."""
    user = make_user(user_id, first_name, username=username, language_code=language_code)
    return {
        "message": _message(
            user_id=user_id,
            chat_id=None,
            text=text,
            entities=entities,
            message_id=message_id,
            date=date,
            user=user,
            reply_to_message=reply_to_message,
        )
    }


def make_command(
    text: str,
    user_id: int = DEFAULT_USER_ID,
    *,
    chat_id: int | None = None,
    language_code: str | None = "en",
    message_id: int | None = None,
) -> dict[str, Any]:
    """A command message ("/start payload", "/help@visabot_test_bot") with a bot_command entity.

    Private chat with ``user_id`` unless ``chat_id`` (negative = group) is given.
    """
    if not text.startswith("/"):
        raise ValueError(f"a command starts with '/': {text!r}")
    command = text.split(maxsplit=1)[0]
    entities = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
    user = make_user(user_id, language_code=language_code)
    return {
        "message": _message(
            user_id=user_id,
            chat_id=chat_id,
            text=text,
            entities=entities,
            message_id=message_id,
            user=user,
        )
    }


def make_group_text(
    text: str,
    chat_id: int = DEFAULT_GROUP_ID,
    *,
    user_id: int = DEFAULT_USER_ID,
    entities: list[dict[str, Any]] | None = None,
    reply_to_bot: bool = False,
    reply_to_message: dict[str, Any] | None = None,
    message_id: int | None = None,
) -> dict[str, Any]:
    """A group text message. ``reply_to_bot=True`` makes it a reply to a message by the bot."""
    if reply_to_bot and reply_to_message is None:
        reply_to_message = make_bot_message("Earlier answer from the bot", chat_id)
    return {
        "message": _message(
            user_id=user_id,
            chat_id=chat_id,
            text=text,
            entities=entities,
            reply_to_message=reply_to_message,
            message_id=message_id,
        )
    }


def make_mention(
    text: str,
    chat_id: int = DEFAULT_GROUP_ID,
    *,
    user_id: int = DEFAULT_USER_ID,
    message_id: int | None = None,
) -> dict[str, Any]:
    """A group message mentioning @visabot_test_bot (prepended if ``text`` lacks it)."""
    handle = f"@{BOT_USERNAME}"
    if handle not in text:
        text = f"{handle} {text}"
    offset = utf16_len(text[: text.index(handle)])
    entities = [{"type": "mention", "offset": offset, "length": utf16_len(handle)}]
    return make_group_text(text, chat_id, user_id=user_id, entities=entities, message_id=message_id)


def make_callback_query(
    data: str,
    user_id: int = DEFAULT_USER_ID,
    message_id: int | None = None,
    chat_id: int | None = None,
    *,
    message_text: str = "Pick a topic",
    reply_markup: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
    callback_id: str | None = None,
) -> dict[str, Any]:
    """A callback query (button press) on a message sent by the bot.

    ``message`` may be a Message dict the fake returned (e.g. ``call.response["result"]``);
    otherwise one is built from ``message_id``/``chat_id`` (default: private chat with the user).
    """
    if message is None:
        message = make_bot_message(
            message_text,
            user_id if chat_id is None else chat_id,
            message_id=message_id,
            reply_markup=reply_markup,
        )
    return {
        "callback_query": {
            "id": callback_id or str(_next_id()),
            "from": make_user(user_id),
            "message": message,
            "chat_instance": f"ci{message['chat']['id']}",
            "data": data,
        }
    }


def make_inline_query(
    query: str,
    user_id: int = DEFAULT_USER_ID,
    *,
    offset: str = "",
    chat_type: str | None = "sender",
    query_id: str | None = None,
) -> dict[str, Any]:
    inline: dict[str, Any] = {
        "id": query_id or str(_next_id()),
        "from": make_user(user_id),
        "query": query,
        "offset": offset,
    }
    if chat_type is not None:
        inline["chat_type"] = chat_type
    return {"inline_query": inline}


def _media_message(
    user_id: int, chat_id: int | None, extra: dict[str, Any], caption: str | None
) -> dict[str, Any]:
    if caption is not None:
        extra["caption"] = caption
    return {"message": _message(user_id=user_id, chat_id=chat_id, extra=extra)}


def make_sticker(
    user_id: int = DEFAULT_USER_ID, chat_id: int | None = None, *, emoji: str = "👍"
) -> dict[str, Any]:
    n = _next_id()
    sticker = {
        "file_id": f"STICKER{n}",
        "file_unique_id": f"S{n}",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
    }
    return _media_message(user_id, chat_id, {"sticker": sticker}, None)


def make_photo(
    user_id: int = DEFAULT_USER_ID, chat_id: int | None = None, *, caption: str | None = None
) -> dict[str, Any]:
    n = _next_id()
    photo = [
        {
            "file_id": f"PHOTO{n}s",
            "file_unique_id": f"P{n}s",
            "width": 90,
            "height": 90,
            "file_size": 1200,
        },
        {
            "file_id": f"PHOTO{n}m",
            "file_unique_id": f"P{n}m",
            "width": 800,
            "height": 800,
            "file_size": 64000,
        },
    ]
    return _media_message(user_id, chat_id, {"photo": photo}, caption)


def make_voice(
    user_id: int = DEFAULT_USER_ID, chat_id: int | None = None, *, duration: int = 3
) -> dict[str, Any]:
    n = _next_id()
    voice = {
        "file_id": f"VOICE{n}",
        "file_unique_id": f"V{n}",
        "duration": duration,
        "mime_type": "audio/ogg",
        "file_size": 9000,
    }
    return _media_message(user_id, chat_id, {"voice": voice}, None)


def make_document(
    user_id: int = DEFAULT_USER_ID,
    chat_id: int | None = None,
    *,
    file_name: str = "passport.pdf",
    mime_type: str = "application/pdf",
    caption: str | None = None,
) -> dict[str, Any]:
    n = _next_id()
    document = {
        "file_id": f"DOC{n}",
        "file_unique_id": f"D{n}",
        "file_name": file_name,
        "mime_type": mime_type,
        "file_size": 20000,
    }
    return _media_message(user_id, chat_id, {"document": document}, caption)


def make_edited_message(
    text: str,
    user_id: int = DEFAULT_USER_ID,
    *,
    chat_id: int | None = None,
    message_id: int | None = None,
) -> dict[str, Any]:
    msg = _message(
        user_id=user_id, chat_id=chat_id, text=text, message_id=message_id, date=_now() - 60
    )
    msg["edit_date"] = _now()
    return {"edited_message": msg}


def _chat_member(status: str) -> dict[str, Any]:
    member: dict[str, Any] = {"user": dict(BOT_USER), "status": status}
    if status == "kicked":
        member["until_date"] = 0
    elif status == "restricted":
        member.update(
            is_member=True,
            can_send_messages=False,
            can_send_audios=False,
            can_send_documents=False,
            can_send_photos=False,
            can_send_videos=False,
            can_send_video_notes=False,
            can_send_voice_notes=False,
            can_send_polls=False,
            can_send_other_messages=False,
            can_add_web_page_previews=False,
            can_change_info=False,
            can_invite_users=False,
            can_pin_messages=False,
            can_manage_topics=False,
            until_date=0,
        )
    elif status == "administrator":
        member.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=False,
            can_manage_video_chats=False,
            can_restrict_members=False,
            can_promote_members=False,
            can_change_info=False,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
        )
    elif status == "creator":
        member["is_anonymous"] = False
    elif status not in ("member", "left"):
        raise ValueError(f"unknown chat member status {status!r}")
    return member


def make_my_chat_member(
    user_id: int = DEFAULT_USER_ID,
    old_status: str = "member",
    new_status: str = "kicked",
    *,
    chat_id: int | None = None,
) -> dict[str, Any]:
    """The bot's own membership changed (user blocked/unblocked it, bot added/removed in group).

    Private chat with ``user_id`` unless ``chat_id`` is given. Statuses: member, kicked, left,
    administrator, restricted, creator.
    """
    user = make_user(user_id)
    cid = user_id if chat_id is None else chat_id
    return {
        "my_chat_member": {
            "chat": make_chat(cid, user),
            "from": user,
            "date": _now(),
            "old_chat_member": _chat_member(old_status),
            "new_chat_member": _chat_member(new_status),
        }
    }


# --------------------------------------------------------------------------------------------
# Recorded calls
# --------------------------------------------------------------------------------------------


# How long a test waits for the bot's reply. A reply normally takes milliseconds; the slack is for
# a loaded machine (a helper's run saw one wait of 5 s time out at a load average near 10).
REPLY_WAIT_S = 15.0


@dataclass
class Call:
    """One request the fake received."""

    method: str  # as sent, e.g. "sendMessage"
    params: dict[str, Any]  # decoded: JSON values -> Python objects, plain strings stay strings
    raw_params: dict[str, str]  # exactly as received (form / multipart text fields)
    files: dict[str, dict[str, Any]]  # multipart uploads: name -> {filename, content_type, content}
    token: str
    timestamp: float  # time.monotonic() at arrival (same clock as rate_policy's ``now``)
    wall_time: float  # time.time() at arrival
    unknown: bool = False  # method not supported by the fake (answered 404)
    http_status: int | None = None  # set when the answer is sent
    response: dict[str, Any] | None = None  # the JSON answer
    answered_at: float | None = None  # time.monotonic() when answered
    # Set once `response` is: a call is recorded on arrival (so a test can see a request the fake
    # is still holding), and its answer lands a moment later, on the fake's own thread.
    answered: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str:
        """The message text, "" for a call without one, so a test can search it as it is."""
        return str(self.params.get("text") or "")

    @property
    def result(self) -> Any:
        """The answer's result (a sent Message, say), waiting briefly for the answer when the
        call was seen on arrival; None when it was not answered (a hung call) or had no result."""
        self.answered.wait(RESULT_WAIT_SECONDS)
        return None if self.response is None else self.response.get("result")


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    times: int


@dataclass
class _Hang:
    seconds: float
    times: int


def _default_description(status: int, retry_after: int | None) -> str:
    return {
        400: "Bad Request: fake failure",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict: terminated by other getUpdates request",
        429: f"Too Many Requests: retry after {retry_after or 1}",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }.get(status, f"Error {status}")


def _decode_value(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


RatePolicy = Callable[[str, dict[str, Any], float], "tuple[int, str, int | None] | None"]


class FakeTelegram:
    """Fake Bot API server. See the module docstring.

    Args:
        strict: validate sending methods like Telegram does (default True).
        token: if given, requests with another token answer 401 Unauthorized.
        rate_policy: ``callable(method, params, now) -> None | (status, description, retry_after)``
            consulted before answering each request (``now`` is ``time.monotonic()``).
        max_poll_wait: cap (seconds) on how long an empty getUpdates long-poll blocks.
    """

    def __init__(
        self,
        *,
        strict: bool = True,
        token: str | None = None,
        rate_policy: RatePolicy | None = None,
        max_poll_wait: float = 1.0,
    ) -> None:
        self.strict = strict
        self.token = token
        self.rate_policy = rate_policy
        self.max_poll_wait = max_poll_wait
        self.allow_unknown = False  # the fixture skips assert_no_unknown_calls at teardown if True
        self.bot_user: dict[str, Any] = dict(BOT_USER)
        self.webhook: dict[str, Any] | None = None  # last setWebhook params while active
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._delivered_up_to = 0  # highest update_id returned by getUpdates
        self._allowed_updates: list[str] | None = None
        self._faults: dict[str, list[_Fault]] = {}
        self._hangs: dict[str, list[_Hang]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        # raw (pre-parse) text of bot messages, for "message is not modified"
        self._raw_text: dict[tuple[int, int], Any] = {}
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._custom: dict[str, Callable[[dict[str, Any]], Any]] = {}
        # getChatMember: (chat id, user id) -> status; anyone else is a plain "member".
        self.member_status: dict[tuple[int, int], str] = {}
        self._conns: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getme": lambda p: dict(self.bot_user),
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "answerinlinequery": self._answer_inline_query,
            "sendchataction": lambda p: True,
            "getchatmember": self._get_chat_member,
            "close": lambda p: True,
            "logout": lambda p: True,
        }

    def _get_chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        """A ChatMember: "creator"/"administrator" as set in ``member_status``, else "member"."""
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = self.member_status.get((chat_id, user_id), "member")
        member: dict[str, Any] = {"status": status, "user": make_user(user_id)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                }
            )
        return member

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._server is not None:
            return self
        fake = self

        class Handler(_Handler):
            pass

        Handler.owner = fake

        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        self._closing.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            # How often the loop looks for stop(): every test waits up to this long at teardown.
            kwargs={"poll_interval": 0.01},
            name="FakeTelegram",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        server.shutdown()
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeTelegram is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)`` / ``Bot(base_url=...)`` (token appended)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---------------------------------------------------------------- updates

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update (a copy; update_id assigned) for getUpdates. Returns the update_id."""
        update = json.loads(json.dumps(update))
        with self._cond:
            update_id = self._next_update_id
            self._next_update_id += 1
            update["update_id"] = update_id
            self._remember(update)
            self._updates.append(update)
            self._cond.notify_all()
        return update_id

    def push_updates(self, updates: Iterable[dict[str, Any]]) -> list[int]:
        return [self.push_update(u) for u in updates]

    @property
    def pending_updates(self) -> int:
        """Updates queued but not yet handed out by getUpdates."""
        with self._cond:
            return sum(1 for u in self._updates if u["update_id"] > self._delivered_up_to)

    async def wait_for_updates_delivered(self, timeout: float = 5.0) -> None:
        """Wait until getUpdates has handed out every pushed update."""
        deadline = time.monotonic() + timeout
        while self.pending_updates:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{self.pending_updates} update(s) not fetched by getUpdates within "
                    f"{timeout}s; is the bot polling?\n{self.describe_calls()}"
                )
            await asyncio.sleep(0.01)

    def _remember(self, obj: Any) -> None:
        """Index chats and messages that appear in pushed updates (for realistic replies)."""
        if isinstance(obj, dict):
            chat = obj.get("chat")
            if isinstance(chat, dict) and "id" in chat and "type" in chat:
                self._chats.setdefault(chat["id"], chat)
                if "message_id" in obj:
                    self._messages[(chat["id"], obj["message_id"])] = obj
            for value in obj.values():
                self._remember(value)
        elif isinstance(obj, list):
            for value in obj:
                self._remember(value)

    # ---------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        status: int = 400,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` ("*" = any method but getUpdates) with
        HTTP ``status`` and Telegram's error JSON. For 429 ``retry_after`` defaults to 1."""
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = _Fault(
            status, description or _default_description(status, retry_after), retry_after, times
        )
        with self._cond:
            self._faults.setdefault(method.lower(), []).append(fault)

    def hang_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Delay the answer to the next ``times`` calls of ``method`` ("*" = any) by ``seconds``."""
        with self._cond:
            self._hangs.setdefault(method.lower(), []).append(_Hang(seconds, times))

    def register_method(self, method: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        """Support an extra method: ``handler(params) -> result`` (JSON-able). Raise
        ``FakeTelegram.error(status, description)`` from it to answer an error."""
        self._custom[method.lower()] = handler

    @staticmethod
    def error(status: int, description: str, retry_after: int | None = None) -> Exception:
        return _ApiError(
            status, description, {"retry_after": retry_after} if retry_after is not None else None
        )

    def _take(self, table: dict[str, list[Any]], method: str) -> Any:
        for key in (method.lower(), "*"):
            if key == "*" and method.lower() == "getupdates":
                continue
            queue = table.get(key)
            if queue:
                item = queue[0]
                item.times -= 1
                if item.times <= 0:
                    queue.pop(0)
                return item
        return None

    # ---------------------------------------------------------------- inspection

    def calls(self, method: str | None = None, chat_id: int | str | None = None) -> list[Call]:
        """Recorded calls (snapshot), optionally filtered by method (case-insensitive) and
        chat_id (compared as strings, so -100123 matches "-100123")."""
        with self._cond:
            return self._match(method, None, chat_id)

    def last_call(self, method: str | None = None, chat_id: int | str | None = None) -> Call:
        found = self.calls(method, chat_id)
        if not found:
            raise AssertionError(f"no {method or ''} call recorded\n{self.describe_calls()}")
        return found[-1]

    def sent_texts(self, chat_id: int | str | None = None) -> list[str]:
        """Texts of sendMessage calls (in order), optionally for one chat."""
        return [c.params.get("text", "") for c in self.calls("sendMessage", chat_id)]

    def unknown_calls(self) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if c.unknown]

    def assert_no_unknown_calls(self) -> None:
        unknown = self.unknown_calls()
        if unknown:
            listing = "\n".join(f"  {c.method}({c.params})" for c in unknown)
            raise AssertionError(f"the bot called methods the fake does not support:\n{listing}")

    def clear_calls(self) -> None:
        with self._cond:
            self._calls.clear()

    def describe_calls(self, limit: int = 30) -> str:
        with self._cond:
            calls = [c for c in self._calls if c.method.lower() != "getupdates"][-limit:]
        if not calls:
            return "(no calls besides getUpdates)"
        return "recorded calls:\n" + "\n".join(
            f"  {c.method} -> {c.http_status} {c.params}" for c in calls
        )

    def _match(
        self,
        method: str | None,
        predicate: Callable[[Call], bool] | None,
        chat_id: int | str | None,
    ) -> list[Call]:
        out = []
        for c in self._calls:
            if method is not None and c.method.lower() != method.lower():
                continue
            if chat_id is not None and str(c.params.get("chat_id")) != str(chat_id):
                continue
            if predicate is not None and not predicate(c):
                continue
            out.append(c)
        return out

    async def wait_for(
        self,
        method: str | None,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = REPLY_WAIT_S,
        count: int = 1,
        *,
        chat_id: int | str | None = None,
    ) -> list[Call]:
        """Wait (without blocking the event loop) until at least ``count`` calls match; return
        all matching calls. Raises AssertionError listing the recorded calls on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = self._match(method, predicate, chat_id)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {count} {method} call(s) within {timeout}s, got {len(found)}\n"
                    f"{self.describe_calls()}"
                )
            await asyncio.sleep(0.01)

    def wait_for_sync(
        self,
        method: str | None,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = REPLY_WAIT_S,
        count: int = 1,
        *,
        chat_id: int | str | None = None,
    ) -> list[Call]:
        """Thread-blocking variant of :meth:`wait_for` (never call it on the bot's event loop)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self._match(method, predicate, chat_id)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        raise AssertionError(
            f"expected {count} {method} call(s) within {timeout}s, got {len(found)}\n"
            f"{self.describe_calls()}"
        )

    # ---------------------------------------------------------------- request handling

    def _handle(
        self, token: str, method: str, raw: dict[str, str], files: dict[str, dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        params = {k: _decode_value(k, v) for k, v in raw.items()}
        key = method.lower()
        known = key in self._handlers or key in self._custom
        call = Call(
            method=method,
            params=params,
            raw_params=raw,
            files=files,
            token=token,
            timestamp=time.monotonic(),
            wall_time=time.time(),
            unknown=not known,
        )
        with self._cond:
            self._calls.append(call)
            hang = self._take(self._hangs, method)
            self._cond.notify_all()
        if hang is not None:
            self._closing.wait(hang.seconds)
        status, body = self._answer(token, method, key, params, known)
        with self._cond:
            call.http_status, call.response, call.answered_at = status, body, time.monotonic()
            call.answered.set()
            self._cond.notify_all()
        return status, body

    def _answer(
        self, token: str, method: str, key: str, params: dict[str, Any], known: bool
    ) -> tuple[int, dict[str, Any]]:
        try:
            if self.token is not None and token != self.token:
                raise _ApiError(401, "Unauthorized")
            if not known:
                raise _ApiError(404, f"Not Found: method {method} not supported by the fake")
            with self._cond:
                fault = self._take(self._faults, method)
            if fault is not None:
                raise _ApiError(
                    fault.status,
                    fault.description,
                    {"retry_after": fault.retry_after} if fault.retry_after is not None else None,
                )
            if self.rate_policy is not None:
                verdict = self.rate_policy(method, params, time.monotonic())
                if verdict is not None:
                    status, description, retry_after = verdict
                    raise _ApiError(
                        status, description, {"retry_after": retry_after} if retry_after else None
                    )
            handler = self._custom.get(key) or self._handlers[key]
            return 200, {"ok": True, "result": handler(params)}
        except _ApiError as err:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": err.status,
                "description": err.description,
            }
            if err.parameters:
                body["parameters"] = err.parameters
            return err.status, body

    # ---------------------------------------------------------------- methods

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        deadline = time.monotonic() + min(timeout, self.max_poll_wait)
        with self._cond:
            if self.webhook is not None:
                raise _ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is "
                    "active; use deleteWebhook to delete the webhook first",
                )
            if isinstance(allowed, list):
                self._allowed_updates = allowed or None
            while True:
                if offset < 0:
                    self._updates = self._updates[offset:]
                elif offset > 0:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                self._updates = [u for u in self._updates if self._is_allowed(u)]
                batch = self._updates[:limit]
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0 or self._closing.is_set():
                    break
                self._cond.wait(remaining)
            if batch:
                self._delivered_up_to = max(self._delivered_up_to, batch[-1]["update_id"])
            return batch

    def _is_allowed(self, update: dict[str, Any]) -> bool:
        kinds = [k for k in update if k != "update_id"]
        if self._allowed_updates:
            return any(k in self._allowed_updates for k in kinds)
        return not any(k in _DEFAULT_EXCLUDED_UPDATES for k in kinds)

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self.webhook = None
            if params.get("drop_pending_updates"):
                self._updates.clear()
                self._delivered_up_to = self._next_update_id - 1
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if url and self.strict and not str(url).startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        with self._cond:
            if params.get("drop_pending_updates"):
                self._updates.clear()
                self._delivered_up_to = self._next_update_id - 1
            self.webhook = dict(params) if url else None
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            hook = self.webhook or {}
            return {
                "url": hook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        if self.strict:
            if len(commands) > 100:
                raise _bad("too many commands")
            for cmd in commands:
                if not re.fullmatch(r"[a-z0-9_]{1,32}", str(cmd.get("command", ""))):
                    raise _bad("BOT_COMMAND_INVALID")
                if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                    raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        with self._cond:
            self._commands[self._commands_key(params)] = commands
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._commands.get(self._commands_key(params), []))

    def _chat_for(self, chat_id: Any) -> dict[str, Any]:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            return {
                "id": -1009999999999,
                "type": "channel",
                "title": chat_id[1:],
                "username": chat_id[1:],
            }
        try:
            cid = int(chat_id)
        except (TypeError, ValueError):
            raise _bad("chat not found") from None
        with self._cond:
            return dict(self._chats.get(cid) or make_chat(cid))

    def _check_text(self, params: dict[str, Any], field_name: str = "text") -> None:
        text = params.get(field_name)
        if not isinstance(text, str) or not text.strip():
            raise _bad("message text is empty")
        parse_mode = str(params.get("parse_mode") or "")
        if parse_mode.upper() == "HTML":
            problems = validate_telegram_html(text)
            if problems:
                raise _bad(f"can't parse entities: {problems[0]}")
            length = visible_length(text)
        else:
            length = utf16_len(text)
        if length > MAX_MESSAGE_LENGTH:
            raise _bad("message is too long")

    def _check_markup(self, markup: Any) -> None:
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return
        for row in rows:
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise _bad("BUTTON_TEXT_EMPTY")
                actions = [k for k in button if k != "text"]
                if not actions:
                    raise _bad("text buttons are unallowed in the inline keyboard")
                if "callback_data" in button:
                    size = len(str(button["callback_data"]).encode("utf-8"))
                    if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                        raise _bad("BUTTON_DATA_INVALID")
                if "url" in button and not re.match(r"(https?|tg)://", str(button["url"])):
                    raise _bad(f"inline keyboard button URL '{button['url']}' is invalid")

    @staticmethod
    def _shown_text(text: Any, parse_mode: Any) -> str:
        """What Telegram echoes back: for HTML the text after parsing (entities not built)."""
        text = "" if text is None else str(text)
        if str(parse_mode or "").upper() == "HTML":
            return visible_text(text)
        return str(text)

    def _message_result(
        self, params: dict[str, Any], message_id: int, date: int | None = None
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": self._chat_for(params.get("chat_id")),
            "date": date if date is not None else _now(),
            "text": self._shown_text(params.get("text", ""), params.get("parse_mode")),
        }
        if params.get("message_thread_id") is not None:
            msg["message_thread_id"] = params["message_thread_id"]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        return msg

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("chat_id") in (None, ""):
            raise _bad("chat_id is empty")
        if self.strict:
            self._check_text(params)
            self._check_markup(params.get("reply_markup"))
        msg = self._message_result(params, _next_id())
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and reply.get("message_id") is not None:
            with self._cond:
                original = self._messages.get((msg["chat"]["id"], reply["message_id"]))
            if original is not None:
                msg["reply_to_message"] = original
        with self._cond:
            self._messages[(msg["chat"]["id"], msg["message_id"])] = msg
            self._raw_text[(msg["chat"]["id"], msg["message_id"])] = params.get("text")
        return msg

    def _edit(self, params: dict[str, Any], new_text: str | None) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        if params.get("chat_id") in (None, "") or params.get("message_id") is None:
            raise _bad("message identifier is not specified")
        chat = self._chat_for(params["chat_id"])
        key = (chat["id"], int(params["message_id"]))
        with self._cond:
            old = self._messages.get(key)
            old_raw = self._raw_text.get(key, old.get("text") if old else None)
        if old is None:
            old = self._message_result(params, key[1], date=_now() - 1)
            old.pop("reply_markup", None)
            old_raw = None
        new_markup = params.get("reply_markup")
        new_markup = (
            new_markup
            if isinstance(new_markup, dict) and "inline_keyboard" in (new_markup)
            else None
        )
        text = old_raw if new_text is None else new_text
        if (
            self.strict
            and old_raw is not None
            and text == old_raw
            and new_markup == old.get("reply_markup")
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        msg = dict(old)
        if new_text is not None:
            msg["text"] = self._shown_text(new_text, params.get("parse_mode"))
        msg["edit_date"] = _now()
        msg.pop("reply_markup", None)
        if new_markup is not None:
            msg["reply_markup"] = new_markup
        with self._cond:
            self._messages[key] = msg
            self._raw_text[key] = text
        return msg

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if self.strict:
            self._check_text(params)
            self._check_markup(params.get("reply_markup"))
        return self._edit(params, params.get("text"))

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if self.strict:
            self._check_markup(params.get("reply_markup"))
        return self._edit(params, None)

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if self.strict and utf16_len(str(params.get("text") or "")) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        return True

    def _answer_inline_query(self, params: dict[str, Any]) -> bool:
        if not params.get("inline_query_id"):
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        results = params.get("results")
        if not isinstance(results, list):
            raise _bad('parameter "results" is required')
        if self.strict:
            if len(results) > 50:
                raise _bad("RESULTS_TOO_MUCH")
            seen: set[str] = set()
            for result in results:
                rid = str(result.get("id", ""))
                if not 1 <= len(rid.encode("utf-8")) <= 64:
                    raise _bad("RESULT_ID_INVALID")
                if rid in seen:
                    raise _bad("RESULT_ID_DUPLICATE")
                seen.add(rid)
                content = result.get("input_message_content")
                if isinstance(content, dict) and "message_text" in content:
                    self._check_text(content, "message_text")
                self._check_markup(result.get("reply_markup"))
        return True


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # PTB opens up to 256 connections at once; the default backlog is 5

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, OSError, TimeoutError)):
            return  # client went away (timeouts, shutdown): not interesting
        super().handle_error(request, client_address)


_PATH_RE = re.compile(r"^/bot([^/]*)/([^/?]+)$")


class _Handler(BaseHTTPRequestHandler):
    owner: FakeTelegram
    protocol_version = "HTTP/1.1"
    server_version = "FakeTelegram/1.0"

    def setup(self) -> None:
        super().setup()
        try:  # answer immediately: no Nagle / delayed-ACK stalls on keep-alive connections
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.owner._cond:
            self.owner._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.owner._cond:
                self.owner._conns.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _read_body(self) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type") or ""
        params: dict[str, str] = {}
        files: dict[str, dict[str, Any]] = {}
        query = urlsplit(self.path).query
        if query:
            params.update(parse_qsl(query, keep_blank_values=True))
        if not body:
            return params, files
        if ctype.startswith("multipart/form-data"):
            raw = b"Content-Type: " + ctype.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n"
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw + body)
            for part in msg.iter_parts():
                name = str(part.get_param("name", header="content-disposition"))
                payload = part.get_payload(decode=True) or b""
                assert isinstance(payload, bytes)
                filename = part.get_filename()
                if filename is not None:
                    files[name] = {
                        "filename": filename,
                        "content_type": part.get_content_type(),
                        "content": payload,
                    }
                else:
                    params[name] = payload.decode("utf-8")
        elif ctype.startswith("application/json"):
            for k, v in json.loads(body.decode("utf-8")).items():
                params[k] = v if isinstance(v, str) else json.dumps(v)
        else:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return params, files

    def _dispatch(self) -> None:
        params, files = self._read_body()
        path = urlsplit(self.path).path
        m = _PATH_RE.match(path)
        if m is None:
            token, method = "", f"HTTP {self.command} {path}"
        else:
            token, method = m.group(1), m.group(2)
        status, body = self.owner._handle(token, method, params, files)
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.owner._closing.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self._headers_buffer.append(b"\r\n" + data)  # type: ignore[attr-defined]  # headers and body in one write
        self.flush_headers()
