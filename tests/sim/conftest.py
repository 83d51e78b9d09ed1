"""One intra-op thread for the simulator tests: their dense references multiply tiny matrices, which
BLAS would otherwise spread over threads (milliseconds of spin-waiting per product on a busy machine)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs on one intra-op thread (``one_thread`` in tests/conftest.py)."""
