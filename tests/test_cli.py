"""The real `visabot` console script, run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

VISABOT = str(Path(sys.executable).parent / "visabot")
DEV_SET = Path(__file__).resolve().parents[1] / "eval" / "dev.yaml"
JSON_FIELDS = {
    "query", "outcome", "matched", "id", "score", "question", "answer", "summary", "caveats", "sources",
    "status", "as_of", "in_force_until", "lapse_note", "alternatives", "also", "smalltalk", "lang",
}


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "VISABOT_"))}
    full_env.update(env or {})
    # A scratch working directory, so a developer's own .env cannot leak into the test.
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run(
            [VISABOT, *args], check=False, input=stdin, capture_output=True, text=True, timeout=60, env=full_env, cwd=cwd
        )


def test_ask_prints_answer_caveats_sources() -> None:
    out = run("ask", "Is the $100,000 H-1B fee charged every year?")
    assert out.returncode == 0, out.stderr
    assert "one-time" in out.stdout.lower()
    assert "Caveats:" in out.stdout and "Sources:" in out.stdout and "As of 20" in out.stdout
    assert "https://" in out.stdout


def test_ask_json_single_object() -> None:
    out = run("ask", "--json", "h1b 100k fee anual or one time??")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == JSON_FIELDS
    assert data["outcome"] == "answer" and data["matched"] is True
    assert data["id"] == "h1b-100k-one-time"
    assert all(set(s) == {"title", "url", "publisher", "date", "tier"} for s in data["sources"])
    assert isinstance(data["caveats"], list) and data["caveats"]


def test_ask_json_lines_from_stdin_in_order() -> None:
    questions = ["What is China's K visa?", "bitcoin price today", "", "H1B cap how many"]
    out = run("ask", "--json", stdin="\n".join(questions) + "\n")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["query"] for r in rows] == questions
    assert rows[1]["outcome"] == "decline" and rows[1]["matched"] is False and rows[1]["id"] is None
    assert rows[2]["outcome"] == "decline"


def test_kb_validate_shipped_ok() -> None:
    out = run("kb", "validate")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OK:")


def test_kb_validate_bad_folder_names_file_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "entries" / "h1b" / "broken.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text("id: broken\ntopic: h1b\nquestion: [oops\n", encoding="utf-8")
    out = run("kb", "validate", str(tmp_path))
    assert out.returncode == 1
    assert "broken.yaml:" in out.stderr and "malformed YAML" in out.stderr
    assert "Traceback" not in out.stderr


def test_ask_with_broken_knowledge_dir_exits_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "entries" / "h1b" / "x.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text("id: x\n", encoding="utf-8")
    out = run("ask", "hello", env={"VISABOT_KNOWLEDGE_DIR": str(tmp_path)})
    assert out.returncode == 1
    assert "x.yaml" in out.stderr and "Traceback" not in out.stderr


def test_kb_export_json(shipped_kb) -> None:  # type: ignore[no-untyped-def]
    out = run("kb", "export", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data) == len(shipped_kb.entries)
    assert {"id", "question", "answer", "sources", "as_of"} <= set(data[0])


def test_eval_command_reports_scores() -> None:
    out = run("eval", str(DEV_SET))
    assert out.returncode == 0, out.stderr
    assert "combined score:" in out.stdout


def test_chat_answers_then_exits() -> None:
    out = run("chat", stdin="What is the H-1B master's cap?\nexit\n")
    assert out.returncode == 0, out.stderr
    assert "20,000" in out.stdout


def test_chat_answers_short_then_more_and_sources_expand(shipped_kb) -> None:  # type: ignore[no-untyped-def]
    entry = shipped_kb.get("h1b-100k-one-time")
    out = run("chat", stdin="h1b 100k fee anual or one time??\nmore\nsources\nexit\n")
    assert out.returncode == 0, out.stderr
    answer, more, sources = out.stdout.split("you> ")[1:4]
    last_caveat_start = entry.caveats[-1][:30]
    assert entry.question in answer and last_caveat_start not in answer and entry.sources[0].url not in answer
    assert f"`more` for {len(entry.caveats) - 1} more caveats" in answer
    assert last_caveat_start in more and entry.sources[0].url not in more
    assert entry.sources[0].url in sources


def test_ask_answers_in_the_questions_language_or_the_one_asked_for() -> None:
    traditional = json.loads(run("ask", "--json", "K字簽證有年齡限制嗎").stdout)
    assert traditional["lang"] == "zh-hant" and "簽證" in traditional["question"] and traditional["id"] == "k-visa-age-limit"
    english = json.loads(run("ask", "--json", "--lang", "en", "K字签证有年龄限制吗").stdout)
    assert english["lang"] == "en" and english["question"].startswith("Is there an age limit")
    chinese = run("ask", "--lang", "zh", "is there an age limit for the k visa?").stdout
    assert chinese.startswith("K字签证有年龄限制吗") and "截至" in chinese
    chat = run("chat", "--lang", "zh", stdin="k visa age limit?\nexit\n").stdout
    assert "K字签证有年龄限制吗" in chat


def test_chat_quits_on_eof() -> None:
    out = run("chat", stdin="")
    assert out.returncode == 0


def test_start_without_token_explains_and_opens_chat() -> None:
    out = run("start", stdin="exit\n", env={"TELEGRAM_BOT_TOKEN": ""})
    assert out.returncode == 0, out.stderr
    assert "@BotFather" in out.stdout.splitlines()[0]
