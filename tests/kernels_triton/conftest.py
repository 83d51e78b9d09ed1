"""Fixtures of the Triton kernel tests: on a machine without a CUDA GPU they run in Triton's
interpreter (``TRITON_INTERPRET=1``, NumPy on CPU tensors), natively on the GPU where one exists."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from spikeforge.kernels import triton_lif

HAS_TRITON = importlib.util.find_spec("triton") is not None
ON_GPU = torch.cuda.is_available()


@pytest.fixture(autouse=True)
def triton_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Interpreter on CPU-only machines, for this test only (the variable is read when the kernels
    are jitted and on every dispatch, never at ``import triton``), and a block of 64 neurons so the
    tests' ``M = 2 * 37`` columns span two programs, the second one partial."""
    if not HAS_TRITON:
        pytest.skip("triton is not installed (pip install -e '.[dev]')")
    if not ON_GPU:
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(triton_lif, "BLOCK", 64)


@pytest.fixture
def tdevice() -> torch.device:
    """Where the Triton kernels run: the GPU if there is one, else CPU tensors in the interpreter."""
    return torch.device("cuda" if ON_GPU else "cpu")
