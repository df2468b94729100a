"""Peak memory of a process that does what the bot does: load the shipped knowledge base, build
the matcher and answer questions (every question of every question set, the real ones included).

It runs in a fresh process so that nothing the other benchmarks loaded (torch, the peers'
indexes) counts; its peak is `resource.getrusage(RUSAGE_SELF).ru_maxrss`, read after each stage.
Linux carries ru_maxrss over fork and exec, so a child of the benchmark process would start at
the benchmark's own peak (hundreds of MB once torch is loaded): the measured process is therefore
started by a small trampoline process, and its VmHWM (reset by exec) is reported as a check.

Run: .venv/bin/python -m bench.memory
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.common import Section

PEAK_RSS_TARGET_MB = 250.0
# Runs argv[1:] as its own child: that grandchild's ru_maxrss starts from this small process's.
_TRAMPOLINE = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child() -> dict:
    """The measured process: one stage at a time, the peak so far after each. Nothing but the
    standard library is imported before the first reading (this module imports bench.common,
    and with it numpy, only inside functions)."""
    stages: list[tuple[str, float]] = [("interpreter", _peak_mb())]
    from bench.common import question_sets
    from knowledge import DEFAULT_KNOWLEDGE_DIR
    from knowledge.loader import load_knowledge_base
    from knowledge.matcher import Matcher

    stages.append(("imports (knowledge, numpy, rapidfuzz, yaml)", _peak_mb()))
    base = load_knowledge_base(DEFAULT_KNOWLEDGE_DIR)
    stages.append(("load the shipped knowledge base", _peak_mb()))
    matcher = Matcher(base)
    stages.append(("build the matcher", _peak_mb()))
    sets = question_sets()
    questions = [q for s in sets for q in s.questions]
    stages.append(("read the question sets", _peak_mb()))
    for q in questions:
        matcher.match(q)
    stages.append((f"answer {len(questions)} questions", _peak_mb()))
    return {
        "stages": stages,
        "sets": [s.name for s in sets],
        "entries": len(base.entries),
        "vmhwm_mb": _vmhwm_mb(),
    }


def _vmhwm_mb() -> float:
    for line in open("/proc/self/status", encoding="ascii"):  # noqa: SIM115 -- a few lines, closed at exit
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(verbose: bool = True) -> Section:
    from bench.common import REPO, Section, table

    t0 = time.perf_counter()
    cmd = [sys.executable, "-c", _TRAMPOLINE, sys.executable, "-m", "bench.memory", "--child"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = out["stages"][-1][1]
    if verbose:
        print(f"[memory] peak RSS {peak:.0f} MB ({time.perf_counter() - t0:.1f}s)", flush=True)
    md = "\n".join(
        [
            (
                f"A fresh process loads the shipped knowledge base ({out['entries']} entries), builds the matcher and answers "
                f"every question of {', '.join(f'`{s}`' for s in out['sets'])}. Peak RSS (`ru_maxrss`) after each stage:"
            ),
            "",
            table(["Stage", "Peak RSS MB"], [[name, f"{mb:.0f}"] for name, mb in out["stages"]]),
            "",
            (
                f"Check: the same process's VmHWM (/proc/self/status) at the end: {out['vmhwm_mb']:.0f} MB. The process is "
                "started through a small trampoline process because Linux carries `ru_maxrss` over fork and exec."
            ),
        ]
    )
    target = (
        f"peak RSS ≤ {PEAK_RSS_TARGET_MB:g} MB (load the shipped KB, answer the question sets)",
        f"{peak:.0f} MB",
        peak <= PEAK_RSS_TARGET_MB,
    )
    return Section("Peak memory answering the question sets", md, [target])


def main() -> None:
    if "--child" in sys.argv[1:]:
        print(json.dumps(child()))
        return
    from bench.common import print_section

    section = run()
    print_section(section)


if __name__ == "__main__":
    main()
