"""Shared fixtures (a seeded generator per test, the test device, one intra-op thread) and the missing-peer policy
(``_peers.py``: under ``SPIKEFORGE_REQUIRE_PEERS=1``, set by ``make test``, a skipped peer test fails)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

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


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op torch thread for the test, restored after it: for tests made of many tiny
    per-step ops, which only contend on a shared 2-core machine. Use it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")`` or from a directory's autouse fixture."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)



@pytest.fixture
def lif_pool_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Grows by one per run of the fused neuron + average-pooling kernel (``SpikingSequential``'s fusion)."""
    import spikeforge.layers._neuron_pool as neuron_pool

    calls: list[int] = []
    real = neuron_pool.run_lif_pool

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(neuron_pool, "run_lif_pool", counting)
    return calls
