"""Run `visabot ...` for a test: in-process through click's CliRunner (fast, and seen by coverage),
or as the real console script in a subprocess for the few end-to-end smoke tests.

Both take the same arguments and give back the same three things (returncode, stdout, stderr), so
a test reads the same whichever way it runs. Both start from a clean slate: no TELEGRAM_* or
VISABOT_* variable of the developer's shell, no `.env` (VISABOT_ENV_FILE points at nothing: the
project's own .env is read whatever the folder), and a scratch working directory.
Commands are invoked only through the top-level click group, as a user types them, so the tests
do not depend on how the CLI's modules are split.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from click.testing import CliRunner

from bot.cli.main import main
from tests.bot_harness import clean_env

VISABOT = str(Path(sys.executable).parent / "visabot")
OWN_PREFIXES = ("TELEGRAM_", "VISABOT_")


@dataclass(frozen=True)
class Ran:
    """What a `visabot` run left: the exit code and its two output streams."""

    returncode: int
    stdout: str
    stderr: str


def visabot(
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Ran:
    """`visabot ARGS` in this process. An exception other than SystemExit escapes: a command that
    would print a traceback fails the test with that traceback."""
    # None removes a variable for the duration of the run; CliRunner restores them afterwards.
    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith(OWN_PREFIXES)}
    overrides["VISABOT_ENV_FILE"] = os.devnull  # the project's .env is read whatever the folder
    overrides.update(env or {})
    with contextlib.ExitStack() as stack:
        where = cwd or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        stack.enter_context(contextlib.chdir(where))
        stack.enter_context(_root_logging_restored())
        result = CliRunner().invoke(
            main, list(args), input=stdin, env=overrides, catch_exceptions=False
        )
    return Ran(result.exit_code, result.stdout, result.stderr)


@contextlib.contextmanager
def _root_logging_restored() -> Iterator[None]:
    """`visabot run` sets up logging as a process does (bot/logs.py: one handler on the root
    logger, writing to the stderr of the moment, here CliRunner's). Undo it afterwards, so later
    tests neither write to a closed stream nor lose pytest's own log capture."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def visabot_process(
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> Ran:
    """The installed console script in a subprocess: the end-to-end check that the entry point,
    its imports and its exit codes work as a user meets them."""
    full_env = {**clean_env(), **(env or {})}
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run(
            [VISABOT, *args],
            check=False,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
        )
    return Ran(done.returncode, done.stdout, done.stderr)


class SignalWitness:
    """A stand-in process for a pid file, which reports each SIGHUP it receives, so a test can say
    for certain that `kb reload` did not signal it, without sleeping and hoping.

    `check()` sends SIGUSR1 and waits for the witness to echo it. Pending signals are delivered
    lowest number first (SIGHUP is 1, SIGUSR1 10), so any SIGHUP sent before `check()` has been
    reported by the time the echo arrives. `extra_args` lands in its command line (`kb reload`
    reads /proc/PID/cmdline to tell visabot from other processes; argv[0] is "witness").
    """

    SCRIPT = (
        "import signal, sys\n"
        "signal.signal(signal.SIGHUP, lambda *_: print('HUP', flush=True))\n"
        "signal.signal(signal.SIGUSR1, lambda *_: print('USR1', flush=True))\n"
        "print('ready', flush=True)\n"
        "while True: signal.pause()\n"
    )

    def __init__(self, *extra_args: str) -> None:
        self.proc = subprocess.Popen(
            # argv[0] "witness", not the interpreter's path, which may well contain "visabot".
            ["witness", "-c", self.SCRIPT, *extra_args],
            executable=sys.executable,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout
        assert self.stdout.readline() == "ready\n"  # handlers installed

    @property
    def pid(self) -> int:
        return self.proc.pid

    def hangups(self) -> int:
        """How many SIGHUPs the witness got until now."""
        os.kill(self.proc.pid, signal.SIGUSR1)
        count = 0
        for line in self.stdout:
            if line == "USR1\n":
                return count
            count += line == "HUP\n"
        raise AssertionError("the witness ended without echoing SIGUSR1")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()
        self.stdout.close()
