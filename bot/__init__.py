"""Everything around the knowledge base: storage, delivery, the Telegram runtime, the CLI."""

# Imported first, for its side effect: knowledge/__init__.py limits OpenBLAS to one thread, which
# works only before numpy is loaded, and sqlite-utils (bot/storage.py) loads numpy. Without this a
# process entering through bot.storage ran the matcher with two BLAS threads spinning against
# each other: under load ~7x the CPU per question (the test suite's lint runs, 1,900 questions).
import knowledge  # noqa: F401
