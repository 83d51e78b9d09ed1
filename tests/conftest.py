"""Shared fixtures: a seeded generator per test (function scope) and the test device."""

from __future__ import annotations

import os

import matplotlib
import pytest
import torch

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
