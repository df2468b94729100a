"""Cold start of `visabot ask --json QUESTION` as a whole process.

One untimed run warms the OS file cache, then RUNS timed runs of the console script (wall time
from spawn to exit). A breakdown in fresh processes shows where the time goes: interpreter
start, importing bot.cli.main, loading the knowledge base, building the index, answering; and the
heaviest top-level imports from `python -X importtime`.

Run: .venv/bin/python -m bench.coldstart
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO, Section, print_section, table

RUNS = 15
BREAKDOWN_RUNS = 5
QUESTION = "Is there an age limit for the K visa?"
TARGET_MEDIAN_S = 1.0

_BREAKDOWN = """
import json, time
t0 = time.perf_counter()
import bot.cli.main as cli
t1 = time.perf_counter()
kb = cli.knowledge_or_exit()
t2 = time.perf_counter()
m = cli.Matcher(kb)
t3 = time.perf_counter()
m.match({q!r})
t4 = time.perf_counter()
print(json.dumps({{"import bot.cli.main": t1 - t0, "load knowledge base": t2 - t1, "build Matcher": t3 - t2,
                  "answer one question": t4 - t3, "entries": len(kb.entries)}}))
"""


def _visabot() -> str:
    local = REPO / ".venv" / "bin" / "visabot"
    if local.exists():
        return str(local)
    found = shutil.which("visabot", path=str(Path(sys.executable).parent))
    if not found:
        raise RuntimeError("visabot console script not found; run `pip install -e .` in the venv")
    return found


def _python() -> str:
    local = REPO / ".venv" / "bin" / "python"
    return str(local) if local.exists() else sys.executable


def _timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed, proc


def _top_imports(python: str, limit: int = 8) -> list[tuple[str, float]]:
    proc = subprocess.run([python, "-X", "importtime", "-c", "import bot.cli.main"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    by_package: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        package = parts[2].strip().split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(parts[0]) / 1e6
    rows = sorted(by_package.items(), key=lambda r: -r[1])
    return rows[:limit]


def run(verbose: bool = True) -> Section:
    def log(msg: str) -> None:
        if verbose:
            print(f"[coldstart] {msg}", flush=True)

    cmd = [_visabot(), "ask", "--json", QUESTION]
    _, proc = _timed(cmd)  # warm the file cache; also checks the output is a JSON answer
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    times = [_timed(cmd)[0] for _ in range(RUNS)]
    med = statistics.median(times)
    log(f"median {med:.3f}s min {min(times):.3f}s max {max(times):.3f}s over {RUNS} runs")

    python = _python()
    startup = statistics.median(_timed([python, "-c", "pass"])[0] for _ in range(BREAKDOWN_RUNS))
    stages: dict[str, list[float]] = {}
    entries = 0
    for _ in range(BREAKDOWN_RUNS):
        out = json.loads(_timed([python, "-c", _BREAKDOWN.format(q=QUESTION)])[1].stdout.strip().splitlines()[-1])
        entries = out.pop("entries")
        for k, v in out.items():
            stages.setdefault(k, []).append(v)
    breakdown = [("interpreter start (`python -c pass`)", startup)] + [(k, statistics.median(v)) for k, v in stages.items()]
    imports = _top_imports(python)

    parts = [
        (f"`{' '.join(['.venv/bin/visabot', *cmd[1:3]])} \"{QUESTION}\"` ({entries} entries; outcome "
        f"`{answer.get('outcome')}` `{answer.get('id')}`), wall time from spawn to exit, {RUNS} runs after one "
        "untimed warm-up run (warm OS file cache, fresh interpreter each time)."),
        "",
        table(["Runs", "Median s", "Min s", "Max s"], [[RUNS, f"**{med:.3f}**", f"{min(times):.3f}", f"{max(times):.3f}"]]),
        "",
        (f"Breakdown (medians of {BREAKDOWN_RUNS} fresh processes; the stages sum to less than the total because of "
        "process spawn and exit):"),
        "",
        table(["Stage", "s"], [[k, f"{v:.3f}"] for k, v in breakdown]),
        "",
        ("Import time of `import bot.cli.main` by top-level package (`python -X importtime`, self times summed per "
        "package, one run):"),
        "",
        table(["Package", "s"], [[f"`{k}`", f"{v:.3f}"] for k, v in imports]),
    ]
    targets = [(f"cold start median ≤ {TARGET_MEDIAN_S:g} s", f"{med:.3f} s", med <= TARGET_MEDIAN_S)]
    return Section("Cold start of `visabot ask --json`", "\n".join(parts), targets)


def main() -> None:
    section = run()
    print_section(section)


if __name__ == "__main__":
    main()
