"""Shared fixtures (a seeded generator per test, the test device) and the missing-peer policy
(``_peers.py``: under ``SPIKEFORGE_REQUIRE_PEERS=1``, set by ``make test``, a skipped peer test fails)."""

from __future__ import annotations

import os

import matplotlib
import pytest
import torch
from _peers import (  # noqa: F401  (hooks, found by name in this conftest)
    pytest_collectreport,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)

matplotlib.use("Agg")


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def device() -> torch.device:
    return torch.device(os.environ.get("SPIKEFORGE_TEST_DEVICE", "cpu"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)

