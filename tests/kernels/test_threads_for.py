"""The kernels' per-call thread count (``kernels.cpu.threads_for``): one thread below the grain,
and a grain ``CONTENDED_FACTOR`` times larger while the load average per core exceeds
``CONTENDED_LOAD`` (issue 17: on a loaded 2-core VM the [100, 32, 512] LIF step took 31 ms on one
kernel thread and 112 ms on two)."""

import pytest
import torch

from spikeforge.kernels import cpu


@pytest.fixture
def two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(old)


@pytest.mark.parametrize("load, work, expect", [
    (0.5, 100 * 32 * 512, 2),  # quiet: above PARALLEL_GRAIN (2^20) -> all threads
    (0.5, 1 << 19, 1),  # quiet, below the grain
    (5.0, 100 * 32 * 512, 1),  # contended: below 8 * 2^20 -> one thread
    (5.0, 100 * 128 * 2048, 2),  # contended, large: still all threads
    (5.0, 1 << 19, 1),
])
def test_threads_for_load(monkeypatch, two_threads, load, work, expect):
    monkeypatch.setattr(cpu._LOAD, "per_core", lambda: load)
    assert cpu.threads_for(work) == expect


def test_load_reading_is_cached(monkeypatch):
    """The load average is read at most once a second, not on every kernel call."""
    calls = []
    monkeypatch.setattr(cpu.os, "getloadavg", lambda: calls.append(1) or (0.0, 0.0, 0.0))
    load = cpu._Load()
    for _ in range(100):
        assert load.per_core() == 0.0
    assert len(calls) == 1
