"""The maintainers' commands (`visabot kb ...`, `visabot gaps`), run in-process through the CLI's
top-level click group; `kb lint` runs once more as the real console script (tests/cli.py).

Each test works on a temporary copy of the shipped knowledge folder (VISABOT_KNOWLEDGE_DIR) and a
temporary database (VISABOT_DB_PATH). Review dates are checked with `--today` pinned to the day
the shipped entries were verified, so the suite does not start failing when they come due.
"""

from __future__ import annotations

import datetime as dt
import re
import signal
import subprocess
import threading
from collections.abc import Collection, Iterator
from pathlib import Path

import click
import pytest
import yaml

from bot.cli.main import main
from bot.runtime.runner import PID_FILE_NAME
from bot.storage import Storage
from knowledge import DEFAULT_KNOWLEDGE_DIR
from knowledge.loader import KnowledgeBase, load_knowledge_base, parse_entry_text
from knowledge.model import Entry
from knowledge.writer import entry_to_yaml
from tests.bot_harness import TOKEN, clean_env
from tests.cli import VISABOT, Ran, SignalWitness, visabot, visabot_process
from tests.fake_telegram import FakeTelegram, make_private_text
from tests.knowledge_copies import FEW_ENTRIES, copy_knowledge

README = Path(__file__).resolve().parents[1] / "README.md"
NEW_QUESTION = "Can a K visa holder bring a pet panda to China?"
NEW_ANSWER = "No sourced rule covers pandas; this entry exists only for the tests."
ZH_QUESTION = "K字签证持有人可以带宠物熊猫去中国吗？"
ZH_ANSWER = "没有任何有来源的规定涉及熊猫；此条目仅供测试。"
PANDA_ZH: dict[str, object] = {
    "question": ZH_QUESTION,
    "answer": ZH_ANSWER,
    "caveats": ["测试数据。"],
}


# ---- helpers


class Env:
    """A knowledge-folder copy and a database path, and a way to run `visabot` against them."""

    def __init__(self, root: Path, entry_ids: Collection[str] | None = None):
        self.root = root
        self.kb = copy_knowledge(root / "kb", entry_ids)  # all the entries, or these few
        self.db = root / "data" / "visabot.sqlite3"
        self.vars = {"VISABOT_KNOWLEDGE_DIR": str(self.kb), "VISABOT_DB_PATH": str(self.db)}

    def run(self, *args: str, stdin: str | None = None) -> Ran:
        return visabot(*args, stdin=stdin, env=self.vars)

    def run_process(self, *args: str) -> Ran:
        out = visabot_process(*args, env=self.vars)
        assert "Traceback" not in out.stderr, out.stderr
        return out

    def path(self, entry_id: str) -> Path:
        (found,) = (self.kb / "entries").glob(f"*/{entry_id}.yaml")
        return found

    def entry(self, entry_id: str) -> Entry:
        base = load_knowledge_base(self.kb)
        found = base.get(entry_id)
        assert found is not None
        return found

    def change(self, entry_id: str, **update: object) -> None:
        """Rewrite one entry with some fields changed (validated by the model, standard format)."""
        changed = Entry.model_validate({**self.entry(entry_id).model_dump(), **update})
        self.path(entry_id).write_text(entry_to_yaml(changed), encoding="utf-8")

    def count(self) -> int:
        return len(list((self.kb / "entries").glob("*/*.yaml")))


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


@pytest.fixture(scope="module")
def verified_day(shipped_kb: KnowledgeBase) -> str:
    """A day on which no shipped entry is past its review date."""
    return min(e.verified_on for e in shipped_kb.entries).isoformat()


def new_entry(entry_id: str = "k-visa-panda", **update: object) -> Entry:
    data: dict[str, object] = {
        "id": entry_id,
        "topic": "k-visa",
        "question": NEW_QUESTION,
        "alternates": ["k visa panda", "bring panda on k visa", "K签证 熊猫"],
        "answer": NEW_ANSWER,
        "caveats": ["Test data."],
        "status": "pending",
        "sources": [
            {
                "title": "Test page",
                "publisher": "Tests",
                "url": "https://example.org/panda",
                "date": "2025-10-01",
                "tier": "news",
            }
        ],
        "as_of": "2025-10-01",
        "verified_on": "2025-10-02",
        "review_after_days": 90,
        "related": ["k-visa-what-is-it"],
    }
    return Entry.model_validate({**data, **update})


def add_from_file(env: Env, source: Path, zh: dict[str, object] = PANDA_ZH) -> Ran:
    """`kb add --from-file SOURCE --zh-file` with `zh` (the panda's Chinese) beside it."""
    zh_file = source.with_name(source.stem + ".zh.yaml")
    zh_file.write_text(yaml.safe_dump(zh, allow_unicode=True), encoding="utf-8")
    return env.run("kb", "add", "--from-file", str(source), "--zh-file", str(zh_file))


def lines(*items: str) -> str:
    return "\n".join(items) + "\n"


# ---- kb add


def test_add_from_file_writes_standard_file_answerable_at_once(env: Env, tmp_path: Path) -> None:
    source = tmp_path / "panda.yaml"
    source.write_text(entry_to_yaml(new_entry()), encoding="utf-8")
    before = env.count()
    out = add_from_file(env, source)
    assert out.returncode == 0, out.stderr
    written = env.kb / "entries" / "k-visa" / "k-visa-panda.yaml"
    assert f"Added k-visa-panda: {written}" in out.stdout
    assert env.count() == before + 1
    assert env.entry("k-visa-panda") == new_entry()
    assert env.run("kb", "validate").returncode == 0
    asked = env.run("ask", NEW_QUESTION)
    assert NEW_ANSWER in asked.stdout


def test_add_from_file_refuses_duplicate_id(env: Env, tmp_path: Path) -> None:
    existing = env.path("h1b-100k-one-time")
    original = existing.read_bytes()
    source = tmp_path / "dup.yaml"
    source.write_text(entry_to_yaml(new_entry("h1b-100k-one-time", topic="h1b")), encoding="utf-8")
    out = add_from_file(env, source)
    assert out.returncode == 1
    assert "already exists" in out.stderr and "h1b-100k-one-time" in out.stderr
    assert "Nothing was written" in out.stderr
    assert existing.read_bytes() == original


def test_add_from_file_refuses_invalid_file_with_its_problems(env: Env, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = entry_to_yaml(new_entry()).replace(
        "https://example.org/panda", "ftp://example.org/panda"
    )
    text = text.replace(f"answer: {NEW_ANSWER}", "answer: " + "x" * 901)
    bad.write_text(text, encoding="utf-8")
    before = env.count()
    out = add_from_file(env, bad)
    assert out.returncode == 1
    url_line = text.splitlines().index("    url: ftp://example.org/panda") + 1
    assert (
        f"bad.yaml:{url_line}: sources.0.url:" in out.stderr and "not an http(s) URL" in out.stderr
    )
    assert re.search(
        r"bad\.yaml:\d+: answer: String should have at most 900 characters", out.stderr
    )
    assert "Refused" in out.stderr and "2 problem(s)" in out.stderr
    assert env.count() == before


def test_add_from_file_refuses_unsafe_or_malformed_yaml(env: Env, tmp_path: Path) -> None:
    before = env.count()
    for name, text in [
        ("tag.yaml", "!!python/object/apply:os.system ['true']\n"),
        ("bad.yaml", "id: [oops\n"),
    ]:
        source = tmp_path / name
        source.write_text(text, encoding="utf-8")
        out = add_from_file(env, source)
        assert out.returncode == 1
        assert re.search(rf"{name}:\d+: malformed YAML", out.stderr), out.stderr
    assert env.count() == before


def test_add_from_file_warns_when_a_phrasing_leads_elsewhere(env: Env, tmp_path: Path) -> None:
    """Written (the file is valid), with the phrasings lint will fail on named at once."""
    taken = env.entry("h1b-100k-one-time").question
    source = tmp_path / "panda.yaml"
    source.write_text(
        entry_to_yaml(new_entry(alternates=[*new_entry().alternates, taken])), encoding="utf-8"
    )
    out = add_from_file(env, source)
    assert out.returncode == 0, out.stderr
    assert "Check the wording: these phrasings do not lead to the new entry" in out.stdout
    assert taken in out.stdout.split("Check the wording", 1)[1]


def test_add_from_an_unreadable_file_is_refused(env: Env, tmp_path: Path) -> None:
    source = tmp_path / "latin1.yaml"
    source.write_bytes("question: café".encode("latin-1"))
    out = add_from_file(env, source)
    assert out.returncode == 1 and f"Cannot read {source}" in out.stderr


def test_add_from_file_refuses_broken_related_id(env: Env, tmp_path: Path) -> None:
    source = tmp_path / "panda.yaml"
    source.write_text(entry_to_yaml(new_entry(related=["no-such-entry"])), encoding="utf-8")
    out = add_from_file(env, source)
    assert out.returncode == 1
    assert "related id 'no-such-entry' does not exist" in out.stderr
    assert not (env.kb / "entries" / "k-visa" / "k-visa-panda.yaml").exists()


INTERACTIVE = [
    "Bad Id!",  # not a slug
    "h1b-100k-one-time",  # exists
    "k-visa-panda",
    "moon",  # not a topic (click re-asks)
    "k-visa",
    NEW_QUESTION,
    "k visa panda",
    "",  # too few alternates
    "K VISA PANDA",  # already given
    "bring panda on k visa",
    "K签证 熊猫",
    "",
    "x" * 901,  # too long
    "",
    "No sourced rule covers pandas;",
    "this entry exists only for the tests.",
    "",
    "Test data.",
    "",
    "pending",
    "",  # no source yet
    "Test page",
    "Tests",
    "ftp://example.org/panda",  # not http(s)
    "https://example.org/panda",
    "2025-13-01",  # no such month
    "2025-10-01",
    "n",  # not approximate
    "blog",  # not a tier
    "news",
    "",  # sources end
    "",  # as_of: the newest source date
    "2025-09-01",  # verified before as_of
    "2025-10-02",
    "0",  # review_after_days below 1
    "90",
    "k-visa-panda",  # itself
    "no-such-entry",
    "k-visa-what-is-it",
    "k-visa-what-is-it",  # twice
    "",
    ZH_QUESTION,  # the Chinese, after the English
    ZH_ANSWER,
    "",
    "测试数据。",
]


def test_add_interactive_checks_each_step_then_writes(env: Env) -> None:
    out = env.run("kb", "add", stdin=lines(*INTERACTIVE, "y"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert env.entry("k-visa-panda") == new_entry()
    for problem in [
        "not a valid id",
        "an entry 'h1b-100k-one-time' already exists",
        "at least 3 needed, 1 so far",
        "already given",
        "901 characters; an answer has at most 900",
        "at least one source is needed",
        "not an http(s) URL: 'ftp://example.org/panda'",
        "not YYYY-MM-DD or n.d.",
        "verified_on cannot be earlier than as_of (2025-10-01)",
        "greater than or equal to 1",
        "an entry cannot be related to itself",
        "no entry 'no-such-entry'",
        "already listed",
    ]:
        assert problem in out.stderr, problem
    assert "'moon' is not one of" in out.stdout + out.stderr
    # The YAML is shown before the confirmation, exactly as it is written.
    written = (env.kb / "entries" / "k-visa" / "k-visa-panda.yaml").read_text(encoding="utf-8")
    assert written in out.stdout
    assert out.stdout.index(written) < out.stdout.index("Write this entry?")
    assert "Added k-visa-panda" in out.stdout


def test_add_interactive_cancel_writes_nothing(env: Env) -> None:
    before = env.count()
    out = env.run("kb", "add", stdin=lines(*INTERACTIVE, "n"))
    assert out.returncode == 0
    assert "Cancelled: nothing was written." in out.stdout
    assert env.count() == before


def test_add_interactive_end_of_input_writes_nothing(env: Env) -> None:
    before = env.count()
    out = env.run("kb", "add", stdin=lines("k-visa-panda", "k-visa"))
    assert out.returncode == 1
    assert env.count() == before


def test_add_is_not_blocked_by_a_broken_file_elsewhere(env: Env, tmp_path: Path) -> None:
    """The loader skips (and reports) an invalid file; a valid new entry is written beside it."""
    broken = env.kb / "entries" / "h1b" / "broken.yaml"
    broken.write_text("id: broken\n", encoding="utf-8")
    source = tmp_path / "panda.yaml"
    source.write_text(entry_to_yaml(new_entry()), encoding="utf-8")
    out = add_from_file(env, source)
    assert out.returncode == 0, out.stderr
    assert (env.kb / "entries" / "k-visa" / "k-visa-panda.yaml").exists()
    assert broken.read_text(encoding="utf-8") == "id: broken\n"


# ---- list, show, search


def test_list_all_and_by_topic(env: Env, shipped_kb: KnowledgeBase) -> None:
    out = env.run("kb", "list")
    assert out.returncode == 0, out.stderr
    assert f"{len(shipped_kb.entries)} entries" in out.stdout
    compare = env.run("kb", "list", "--topic", "compare")
    rows = compare.stdout.splitlines()[:-1]
    expected = sorted(e.id for e in shipped_kb.entries if e.topic.value == "compare")
    assert [row.split()[0] for row in rows] == expected
    assert all(" compare " in row for row in rows)
    assert env.run("kb", "list", "--topic", "moon").returncode == 2


def test_show_renders_like_ask_plus_file_status_review(env: Env) -> None:
    out = env.run("kb", "show", "h1b-100k-one-time")
    assert out.returncode == 0, out.stderr
    asked = env.run("ask", "Is the $100,000 H-1B payment charged every year?")
    assert out.stdout.startswith(asked.stdout.rstrip("\n"))
    entry = env.entry("h1b-100k-one-time")
    assert f"file: {env.path('h1b-100k-one-time')}" in out.stdout
    assert "status: reported" in out.stdout
    assert f"review due {entry.review_due.isoformat()}" in out.stdout
    assert "related: h1b-100k-fee-amount, h1b-100k-exemptions, h1b-100k-lawsuits" in out.stdout


def test_show_unknown_id_suggests_close_ones(env: Env) -> None:
    out = env.run("kb", "show", "h1b-100k-one-tim")
    assert out.returncode == 1
    assert "No entry 'h1b-100k-one-tim'" in out.stderr and "h1b-100k-one-time" in out.stderr


def test_search_answer_and_decline(env: Env) -> None:
    out = env.run("kb", "search", "h1b 100k fee anual or one time??")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Outcome: answer with h1b-100k-one-time (probability ")
    first = out.stdout.splitlines()[2]
    assert re.match(r"^\s+\d+\.\d\s+h1b-100k-one-time\s", first)
    declined = env.run("kb", "search", "bitcoin price today")
    assert declined.stdout.startswith("Outcome: decline")
    hello = env.run("kb", "search", "hello")
    assert hello.stdout.startswith("Outcome: small talk (")
    nothing = env.run("kb", "search", "😀😀😀")
    assert "No entry matches at all" in nothing.stdout


def plant_conflict(env: Env) -> None:
    """h1b-cap gains, as an alternate, the very question of h1b-100k-one-time."""
    cap = env.entry("h1b-cap")
    env.change("h1b-cap", alternates=[*cap.alternates, env.entry("h1b-100k-one-time").question])


def plant_duplicate(env: Env) -> None:
    source = env.entry("h1b-cap")
    copy = source.model_copy(
        update={"id": "h1b-cap-again", "question": source.question + "!", "related": []}
    )
    (env.kb / "entries" / "h1b" / "h1b-cap-again.yaml").write_text(
        entry_to_yaml(copy), encoding="utf-8"
    )


def test_search_shows_clarify_when_two_entries_tie(env: Env) -> None:
    plant_duplicate(env)
    out = env.run("kb", "search", env.entry("h1b-cap").question)
    assert out.stdout.startswith("Outcome: clarify")
    assert "h1b-cap-again" in out.stdout.splitlines()[0]
    assert "h1b-cap," in out.stdout.splitlines()[0] or out.stdout.splitlines()[0].endswith(
        "h1b-cap"
    )


# ---- why, calibrate


def test_why_shows_each_candidates_features_and_weights(env: Env) -> None:
    out = env.run("kb", "why", "h1b fee annual?", "--limit", "2")
    assert out.returncode == 0, out.stderr
    assert "Normalised: 'h1b fee annual'" in out.stdout and "Names: h1b" in out.stdout
    candidates = re.findall(r"^\s*\d+\.\d%\s+(\S+):", out.stdout, re.MULTILINE)
    assert len(candidates) == 2 and candidates[0] == "h1b-100k-one-time"
    assert re.search(r"^\s+lexical\s+[+-]\d\.\d{3} × [+-]\d+\.\d\d = ", out.stdout, re.MULTILINE)
    assert "probability = logistic(bias" in out.stdout


def test_calibrate_dry_run_fits_on_eval_and_writes_nothing(env: Env) -> None:
    decision = DEFAULT_KNOWLEDGE_DIR / "decision.yaml"
    shipped = decision.read_bytes()
    out = env.run("kb", "calibrate", "--dry-run")
    assert out.returncode == 0, out.stderr
    fitted = re.search(r"^Fitted on (\d+) questions \(real/train\.yaml,", out.stdout, re.MULTILINE)
    assert fitted and int(fitted.group(1)) > 100
    assert "5-fold cross-validation: in scope right" in out.stdout
    found = re.search(r"Thresholds: answer (\S+), clarify (\S+), offer (\S+)", out.stdout)
    assert found
    answer, clarify, offer = (float(v) for v in found.groups())
    assert 0 < clarify <= answer < 1 and 0 < offer <= answer
    assert decision.read_bytes() == shipped


# ---- lint, stale


def test_lint_clean_copy_passes_with_sourcing_warnings(
    env: Env, verified_day: str, shipped_kb: KnowledgeBase, tmp_path: Path
) -> None:
    unofficial = [e.id for e in shipped_kb.entries if not e.has_official_source]
    out = env.run_process("kb", "lint", "--today", verified_day)  # the console script, end to end
    assert out.returncode == 0, out.stdout
    assert out.stdout.rstrip().endswith(f"0 error(s), {len(unofficial)} warning(s).")
    for entry_id in unofficial:
        assert f"[no-official-source] {entry_id}:" in out.stdout
    # --strict fails on warnings alone: shown on a few entries, some without an official source.
    few = Env(tmp_path / "few", FEW_ENTRIES)
    assert not all(few.entry(i).has_official_source for i in FEW_ENTRIES)
    strict = few.run("kb", "lint", "--today", verified_day, "--strict")
    listed = [line.strip() for line in strict.stdout.splitlines() if line.startswith("  [")]
    assert strict.returncode == 1 and listed, strict.stdout
    assert all(line.startswith("[no-official-source] ") for line in listed)  # warnings, now errors


def plant_stale(env: Env) -> None:
    env.change("k-visa-fees", as_of="2000-01-01", verified_on="2000-01-02", review_after_days=30)


def plant_broken_related(env: Env) -> None:
    env.change("h1b-cap", related=["no-such-entry"])


def test_lint_reports_every_planted_problem_as_an_error_even_when_the_loader_refuses(
    tmp_path: Path, verified_day: str
) -> None:
    """One lint run over a copy of a few entries with one problem of each kind: each is listed
    among the errors, so each alone fails the lint; a file the loader refuses is reported beside
    them, not instead of them."""
    env = Env(tmp_path, FEW_ENTRIES)
    plant_duplicate(env)  # first: a copy of h1b-cap as shipped
    plant_conflict(env)
    plant_stale(env)
    plant_broken_related(env)
    (env.kb / "zh" / "k-visa-fees.yaml").unlink()  # untranslated: every entry has both languages
    (env.kb / "entries" / "h1b" / "broken.yaml").write_text(
        "id: broken\ntopic: h1b\n", encoding="utf-8"
    )
    out = env.run("kb", "lint", "--today", verified_day)
    assert out.returncode == 1, out.stdout
    errors = out.stdout.split("Errors (", 1)[1].split("Warnings (", 1)[0]
    for finding in [
        "[conflict] h1b-cap: 'Is the $100,000 H-1B payment charged every year?' → ",
        "[duplicate] h1b-cap-again: question is 100% like h1b-cap's",
        "[stale] k-visa-fees: review was due 2000-02-01",
        "[broken-related] h1b-cap: related id 'no-such-entry' does not exist",
        "[untranslated] k-visa-fees: no Chinese text yet",
    ]:
        assert finding in errors, finding
    # The broken related id is reported once, as a finding; only the bad file is [invalid].
    invalid = [line for line in out.stdout.splitlines() if "[invalid]" in line]
    assert invalid and all("broken.yaml:1: " in line for line in invalid)
    assert any(line.endswith("broken.yaml:1: question: Field required") for line in invalid)


def test_lint_help_explains_what_fails() -> None:
    out = visabot("kb", "lint", "--help")
    assert "Errors (exit 1)" in out.stdout and "Warnings (listed, exit 0)" in out.stdout


def test_stale_lists_oldest_first_with_days_overdue(env: Env, verified_day: str) -> None:
    assert "No entry is due" in env.run("kb", "stale", "--today", verified_day).stdout
    plant_stale(env)
    env.change("h1b-cap", as_of="2000-01-01", verified_on="2000-03-01", review_after_days=30)
    out = env.run("kb", "stale", "--today", verified_day)
    assert out.returncode == 0, out.stderr
    rows = out.stdout.splitlines()[1:3]
    day = dt.date.fromisoformat(verified_day)
    assert rows[0].split()[:3] == [
        "2000-02-01",
        f"{(day - dt.date(2000, 2, 1)).days}d",
        "k-visa-fees",
    ]
    assert rows[1].split()[:3] == ["2000-03-31", f"{(day - dt.date(2000, 3, 31)).days}d", "h1b-cap"]


# ---- reload


def test_reload_refuses_invalid_folder(env: Env) -> None:
    env.db.parent.mkdir(parents=True)
    with SignalWitness("visabot") as running:
        (env.db.parent / PID_FILE_NAME).write_text(str(running.pid))
        (env.kb / "entries" / "h1b" / "broken.yaml").write_text("id: broken\n", encoding="utf-8")
        out = env.run("kb", "reload")
        assert running.hangups() == 0
    assert out.returncode == 1
    assert "broken.yaml:1: topic: Field required" in out.stderr
    assert "keeps serving its last good knowledge base" in out.stderr


def test_reload_without_a_running_bot(env: Env) -> None:
    out = env.run("kb", "reload")
    assert out.returncode == 0, out.stderr
    assert "Knowledge base valid" in out.stdout and "the next start will load it" in out.stdout
    # A pid file that names nothing alive, or nothing at all, is reported, never acted on.
    env.db.parent.mkdir(parents=True)
    ended = subprocess.Popen(["true"])
    ended.wait()
    (env.db.parent / PID_FILE_NAME).write_text(str(ended.pid))
    exited = env.run("kb", "reload")
    assert (
        exited.returncode == 0 and f"names process {ended.pid}, which has exited" in exited.stdout
    )
    (env.db.parent / PID_FILE_NAME).write_text("not a pid")
    garbled = env.run("kb", "reload")
    assert garbled.returncode == 0 and "unreadable pid file" in garbled.stdout


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="the check reads /proc (Linux)")
def test_reload_never_signals_a_process_that_is_not_visabot(env: Env) -> None:
    env.db.parent.mkdir(parents=True)
    with SignalWitness() as other:
        (env.db.parent / PID_FILE_NAME).write_text(str(other.pid))
        out = env.run("kb", "reload")
        assert other.hangups() == 0
    assert out.returncode == 0, out.stderr
    assert "not visabot" in out.stdout


class BotProcess:
    """`visabot run` in a subprocess, its log read line by line as it comes."""

    def __init__(self, env: Env, fake: FakeTelegram) -> None:
        full_env = clean_env()
        full_env.update(
            env.vars,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
            TELEGRAM_API_FILE_URL=fake.base_file_url,
        )
        self.proc = subprocess.Popen(
            [VISABOT, "run"],
            cwd=env.root,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.pid = self.proc.pid
        self.log: list[str] = []
        self._grew = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._grew:
                self.log.append(line)
                self._grew.notify_all()

    def wait_for_log(self, text: str, after: int = 0, timeout: float = 20) -> None:
        """Wait until a log line from index `after` on contains `text`."""
        with self._grew:
            found = self._grew.wait_for(
                lambda: any(text in line for line in self.log[after:]), timeout
            )
        assert found, f"no log line {text!r} in {self.log[after:]}"

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self._reader.join(timeout=20)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return "".join(self.log)


@pytest.fixture
def bot(env: Env, fake_telegram: FakeTelegram) -> Iterator[BotProcess]:
    running = BotProcess(env, fake_telegram)
    try:
        yield running
    finally:
        output = running.stop()
        assert "Traceback" not in output, output


def ask_bot(fake: FakeTelegram, text: str) -> str:
    fake.clear_calls()
    fake.push_update(make_private_text(text))
    (reply,) = fake.wait_for_sync("sendMessage", timeout=30)
    return reply.text or ""


def test_reload_signals_the_running_bot_which_serves_the_new_entry(
    env: Env, bot: BotProcess, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    assert NEW_ANSWER not in ask_bot(fake_telegram, NEW_QUESTION)  # running, handler installed
    source = tmp_path / "panda.yaml"
    source.write_text(entry_to_yaml(new_entry()), encoding="utf-8")
    assert add_from_file(env, source).returncode == 0
    seen = len(bot.log)
    out = env.run("kb", "reload")
    assert out.returncode == 0, out.stderr
    assert f"Sent SIGHUP to the running bot (pid {bot.pid})" in out.stdout
    bot.wait_for_log("knowledge base reloaded", after=seen)
    assert NEW_ANSWER in ask_bot(fake_telegram, NEW_QUESTION)
    # An invalid folder: the CLI refuses, and even a direct SIGHUP leaves the last good one serving.
    (env.kb / "entries" / "h1b" / "broken.yaml").write_text("id: broken\n", encoding="utf-8")
    assert env.run("kb", "reload").returncode == 1
    seen = len(bot.log)
    bot.proc.send_signal(signal.SIGHUP)
    bot.wait_for_log("knowledge base reloaded", after=seen)  # without the invalid file
    assert bot.proc.poll() is None
    assert NEW_ANSWER in ask_bot(fake_telegram, NEW_QUESTION)


# ---- gaps


def test_gaps_lists_most_frequent_unanswered_with_dates(env: Env) -> None:
    storage = Storage(env.db)
    try:
        for text in [
            "pizza visa for cats",
            "pizza visa for cats",
            "pizza visa for cats",
            "moon work permit",
        ]:
            storage.log_unanswered(text)
        storage.log_unanswered("Is the $100,000 H-1B payment charged every year?")
    finally:
        storage.close()
    out = env.run("gaps")
    assert out.returncode == 0, out.stderr
    rows = [
        line
        for line in out.stdout.splitlines()
        if re.match(r"^\s+\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d\s", line)
    ]
    assert [row.split()[0] for row in rows] == ["3", "1", "1"]
    assert rows[0].endswith("pizza visa for cats")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert rows[0].split()[1] == today and rows[0].split()[3] == today
    assert "→ now answered by h1b-100k-one-time" in out.stdout
    limited = env.run("gaps", "--limit", "1")
    assert "pizza visa for cats" in limited.stdout and "moon work permit" not in limited.stdout


def test_gaps_without_database_creates_none(env: Env) -> None:
    out = env.run("gaps")
    assert out.returncode == 0
    assert "No unanswered questions recorded yet" in out.stdout
    assert not env.db.exists()


# ---- README


def _leaf_commands(group: click.Group, prefix: str = "visabot") -> Iterator[str]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}"


def test_every_cli_command_is_in_the_readme_table() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    documented = {
        m.group(1) for m in re.finditer(r"^\| `(visabot(?: [a-z-]+)+)", table, re.MULTILINE)
    }
    missing = [
        c
        for c in _leaf_commands(main)
        if not any(d == c or d.startswith(c + " ") for d in documented)
    ]
    assert not missing, f"add to README's Command line table: {missing}"


def test_maintainers_guide_example_is_a_valid_entry() -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "maintainers.md").read_text(
        encoding="utf-8"
    )
    example = guide.split("```yaml\n", 1)[1].split("```", 1)[0]
    entry, problems = parse_entry_text(example, Path("docs/maintainers.md"))
    assert entry is not None, problems
    assert len(entry.history) >= 1 and entry.related
