"""Fixtures of the kernel tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from spikeforge.kernels import cpu


@pytest.fixture
def many_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Run the kernels' multithreaded paths on test-sized inputs: the parallel grain (below which a
    kernel runs on one thread, :data:`spikeforge.kernels.cpu.PARALLEL_GRAIN`) drops to one element
    and torch's pool, which the kernels share, gets 4 threads (more than the 2 cores of the test VM,
    so every thread's share is small and a dropped or misplaced share shows)."""
    monkeypatch.setattr(cpu, "PARALLEL_GRAIN", 1)
    monkeypatch.setattr(cpu, "CONTENDED_FACTOR", 1)  # multithreaded even on a loaded machine
    old = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        assert cpu.threads_for(2) == 4
        yield 4
    finally:
        torch.set_num_threads(old)
