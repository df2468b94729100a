"""`visabot kb reload` and `visabot kb remove`: change what a running bot serves.

Both end by signalling the bot that runs on the configured database (SIGHUP: it reloads its
knowledge folder), found through its pid file and checked so that no other process is ever
signalled. The writer and the loader are imported inside the commands: `visabot ask` must start
fast.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import click

from bot.cli.common import fail, settings_or_exit


def _running_bot(db_path: Path) -> tuple[int | None, str]:
    """The pid of the bot running on this database (from its pid file, checked against the
    process's command line and the instance lock), or None with the reason."""
    from bot.runtime.runner import PID_FILE_NAME, lock_is_held

    pid_file = db_path.parent / PID_FILE_NAME
    try:
        pid = int(pid_file.read_text().strip())
    except FileNotFoundError:
        return None, f"no bot is running (no pid file at {pid_file})"
    except (OSError, ValueError):
        return None, f"no bot is running (unreadable pid file {pid_file})"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return (
            None,
            f"no bot is running (pid file {pid_file} names process {pid}, which has exited)",
        )
    except PermissionError:
        pass  # it exists; the real signal below reports the permission problem
    # A pid file left by a killed bot may name a reused pid: SIGHUP would end most programs. On
    # Linux, signal only a process whose command line names visabot.
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.is_dir():
        try:
            is_visabot = b"visabot" in cmdline.read_bytes()
        except OSError:
            is_visabot = True
        if not is_visabot:
            return (
                None,
                f"no bot is running (pid file {pid_file} names process {pid}, which is not visabot)",
            )
    if not lock_is_held(db_path):
        return None, f"no bot is running (stale pid file {pid_file}: no bot holds the lock on {db_path}); not signalled"
    return pid, ""


def reload_running_bot(db_path: Path, said: str, effect: str, otherwise: str = "") -> None:
    """SIGHUP the bot running on `db_path` so it reloads its knowledge folder, and say what
    happened after `said` (the command's own result): `effect` once signalled, or why nothing was
    signalled (then `otherwise`, when given). Exit 1 when the signal is not permitted."""
    lead = f"{said}\n" if said else ""
    pid, reason = _running_bot(db_path)
    if pid is None:
        click.echo(f"{lead}Nothing to reload: {reason}" + (f"; {otherwise}." if otherwise else "."))
        return
    try:
        os.kill(pid, signal.SIGHUP)
    except PermissionError:
        fail(f"{lead}Cannot signal the bot (pid {pid}): permission denied. Run `visabot kb reload` as the bot's user.")
    click.echo(f"{lead}Sent SIGHUP to the running bot (pid {pid}): {effect}.")


@click.command()
def reload() -> None:
    """Validate the knowledge folder, then make the running bot reload it (SIGHUP).

    An invalid folder is refused with its problems (exit 1) and the running bot keeps serving its
    last good knowledge base. The bot is found through `visabot.pid` next to VISABOT_DB_PATH, so
    run this with the bot's settings.
    """
    from knowledge.loader import KnowledgeError, load_knowledge_base

    settings = settings_or_exit()
    try:
        base = load_knowledge_base(settings.knowledge_dir)
    except KnowledgeError as exc:
        fail(
            f"Refused: {settings.knowledge_dir} has {len(exc.problems)} problem(s); nothing was reloaded, "
            "and a running bot keeps serving its last good knowledge base.",
            exc.problems,
        )
    valid = f"Knowledge base valid: {len(base.entries)} entries in {settings.knowledge_dir}."
    reload_running_bot(settings.db_path, valid, "it reloads now", "the next start will load it")


@click.command()
@click.argument("entry_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove(entry_id: str, yes: bool) -> None:
    """Delete the entry ENTRY_ID's file (under the write lock) and make a running bot reload."""
    from knowledge.writer import NoSuchEntry, remove_entry

    settings = settings_or_exit()
    root = settings.knowledge_dir
    path = next((root / "entries").glob(f"*/{entry_id}.yaml"), None)
    if path is None:
        fail(f"No entry {entry_id!r} in {root}. Nothing was removed.")
    if not yes and not click.confirm(f"Delete {path}?", default=False):
        fail("Not removed.")
    try:
        base, referring = remove_entry(root, entry_id)
    except NoSuchEntry:
        fail(f"No entry {entry_id!r} in {root} (removed meanwhile?). Nothing was removed.")
    click.echo(f"Removed {entry_id}: {path} ({len(base.entries)} entries left).")
    if referring:
        click.echo(f"Still listed as related by: {', '.join(referring)} (`visabot kb lint` reports them).")
    reload_running_bot(settings.db_path, "", f"it stops serving {entry_id} now")
