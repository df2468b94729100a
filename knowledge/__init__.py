"""The domain: curated entries, their loader, and the matcher. Never imports telegram."""

from pathlib import Path

DEFAULT_KNOWLEDGE_DIR = Path(__file__).parent
