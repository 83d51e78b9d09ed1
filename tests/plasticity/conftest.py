"""Plasticity tests run hundreds of tiny per-step ops: one intra-op thread avoids synchronisation overhead."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
