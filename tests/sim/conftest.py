"""One intra-op thread for the simulator tests: their dense references multiply tiny matrices, which
BLAS would otherwise spread over threads (milliseconds of spin-waiting per product on a busy machine)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
