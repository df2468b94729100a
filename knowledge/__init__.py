"""The domain: curated entries, their loader, and the matcher. Never imports telegram."""

import os
from pathlib import Path

# One BLAS thread, set before numpy is first imported (the matcher is its only user). Per question
# the matcher multiplies one small vector by the phrasing matrix; OpenBLAS's extra threads buy
# nothing at that size and, on a busy 2-core machine, spin against each other and the event loop
# (200 regression questions on this machine under load: p50 7.6 ms / p99 28 ms with two threads,
# 0.6 / 2.5 ms with one). Results are identical: each output element is one dot product either
# way. An operator's own OPENBLAS_NUM_THREADS wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

DEFAULT_KNOWLEDGE_DIR = Path(__file__).parent
