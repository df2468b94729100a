"""The `visabot` command line: in-process through click's CliRunner, and once end to end as the
installed console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from knowledge.loader import KnowledgeBase
from tests.bot_harness import clean_env
from tests.cli import VISABOT, visabot, visabot_process

DEV_SET = Path(__file__).resolve().parents[1] / "eval" / "dev.yaml"
JSON_FIELDS = {
    "query",
    "outcome",
    "matched",
    "id",
    "score",
    "question",
    "answer",
    "summary",
    "caveats",
    "sources",
    "status",
    "as_of",
    "in_force_until",
    "lapse_note",
    "alternatives",
    "also",
    "smalltalk",
    "lang",
}


def test_the_projects_env_is_read_whatever_the_current_folder(tmp_path: Path) -> None:
    # `.venv/bin/visabot` run from another folder read only that folder's .env and said "not set".
    project_env = Path(__file__).resolve().parents[1] / ".env"
    try:
        fd = os.open(project_env, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pytest.skip("this checkout has its own .env, which a test must not touch")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("VISABOT_KNOWLEDGE_DIR=/nonexistent/named-in-the-project-env\n")
        (tmp_path / ".env").write_text(
            "VISABOT_KNOWLEDGE_DIR=/nonexistent/named-in-the-current-folder\n"
        )
        env = {k: v for k, v in clean_env().items() if k != "VISABOT_ENV_FILE"}
        out = subprocess.run(
            [VISABOT, "ask", "h1b cap"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
    finally:
        project_env.unlink()
    assert out.returncode == 2, out.stderr  # the settings error proves which .env was read
    assert "named-in-the-project-env" in out.stderr and "current-folder" not in out.stderr


def test_readme_tells_a_newcomer_what_the_first_run_needs() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    for fact in ("package index", "python3-venv", "make clean", "PYTHON=", ".venv/bin/visabot"):
        assert fact in quick_start, fact
    configuration = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "whatever the current folder" in configuration and "VISABOT_ENV_FILE" in configuration


def test_console_script_ask_prints_answer_caveats_sources() -> None:
    """Smoke test of the installed entry point: the one `ask` that runs as a real process."""
    out = visabot_process("ask", "Is the $100,000 H-1B fee charged every year?")
    assert out.returncode == 0, out.stderr
    assert "one-time" in out.stdout.lower()
    assert "Caveats:" in out.stdout and "Sources:" in out.stdout and "As of 20" in out.stdout
    assert "https://" in out.stdout


def test_ask_json_single_object() -> None:
    out = visabot("ask", "--json", "h1b 100k fee anual or one time??")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == JSON_FIELDS
    assert data["outcome"] == "answer" and data["matched"] is True
    assert data["id"] == "h1b-100k-one-time"
    assert all(set(s) == {"title", "url", "publisher", "date", "tier"} for s in data["sources"])
    assert isinstance(data["caveats"], list) and data["caveats"]


def test_ask_json_lines_from_stdin_in_order() -> None:
    questions = ["What is China's K visa?", "bitcoin price today", "", "H1B cap how many"]
    out = visabot("ask", "--json", stdin="\n".join(questions) + "\n")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["query"] for r in rows] == questions
    assert rows[1]["outcome"] == "decline" and rows[1]["matched"] is False and rows[1]["id"] is None
    assert rows[2]["outcome"] == "decline"


def test_kb_validate_shipped_ok() -> None:
    out = visabot("kb", "validate")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OK:")


def test_kb_validate_bad_folder_names_file_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "entries" / "h1b" / "broken.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text("id: broken\ntopic: h1b\nquestion: [oops\n", encoding="utf-8")
    out = visabot("kb", "validate", str(tmp_path))
    assert out.returncode == 1
    assert "broken.yaml:" in out.stderr and "malformed YAML" in out.stderr
    assert "Traceback" not in out.stderr


def test_ask_with_broken_knowledge_dir_exits_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "entries" / "h1b" / "x.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text("id: x\n", encoding="utf-8")
    out = visabot("ask", "hello", env={"VISABOT_KNOWLEDGE_DIR": str(tmp_path)})
    assert out.returncode == 1
    assert "x.yaml" in out.stderr and "Traceback" not in out.stderr


def test_kb_export_json(shipped_kb: KnowledgeBase) -> None:
    out = visabot("kb", "export", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data) == len(shipped_kb.entries)
    assert {"id", "question", "answer", "sources", "as_of"} <= set(data[0])


def test_eval_command_reports_scores() -> None:
    out = visabot("eval", str(DEV_SET))
    assert out.returncode == 0, out.stderr
    assert "combined score:" in out.stdout


def test_chat_answers_then_exits() -> None:
    out = visabot("chat", stdin="What is the H-1B master's cap?\nexit\n")
    assert out.returncode == 0, out.stderr
    assert "20,000" in out.stdout


def test_chat_answers_short_then_more_and_sources_expand(shipped_kb: KnowledgeBase) -> None:
    entry = shipped_kb.by_id["h1b-100k-one-time"]
    out = visabot("chat", stdin="h1b 100k fee anual or one time??\nmore\nsources\nexit\n")
    assert out.returncode == 0, out.stderr
    answer, more, sources = out.stdout.split("you> ")[1:4]
    last_caveat_start = entry.caveats[-1][:30]
    assert (
        entry.question in answer
        and last_caveat_start not in answer
        and entry.sources[0].url not in answer
    )
    assert f"`more` for {len(entry.caveats) - 1} more caveats" in answer
    assert last_caveat_start in more and entry.sources[0].url not in more
    assert entry.sources[0].url in sources


def test_ask_answers_in_the_questions_language_or_the_one_asked_for() -> None:
    traditional = json.loads(visabot("ask", "--json", "K字簽證有年齡限制嗎").stdout)
    assert (
        traditional["lang"] == "zh-hant"
        and "簽證" in traditional["question"]
        and traditional["id"] == "k-visa-age-limit"
    )
    english = json.loads(visabot("ask", "--json", "--lang", "en", "K字签证有年龄限制吗").stdout)
    assert english["lang"] == "en" and english["question"].startswith("Is there an age limit")
    chinese = visabot("ask", "--lang", "zh", "is there an age limit for the k visa?").stdout
    assert chinese.startswith("K字签证有年龄限制吗") and "截至" in chinese
    chat = visabot("chat", "--lang", "zh", stdin="k visa age limit?\nexit\n").stdout
    assert "K字签证有年龄限制吗" in chat


def test_chat_quits_on_eof() -> None:
    out = visabot("chat", stdin="")
    assert out.returncode == 0


def test_start_without_token_explains_and_opens_chat() -> None:
    out = visabot("start", stdin="exit\n", env={"TELEGRAM_BOT_TOKEN": ""})
    assert out.returncode == 0, out.stderr
    assert "@BotFather" in out.stdout.splitlines()[0]
