"""The LIF backward kernel's block pipeline (``backward_impl`` in ``csrc/lif.cpp``, issue 17).

Each thread claims its next block of neurons when it starts one; for streamed calls (``T * M`` float32
values of at least ``STREAM_BYTES`` = 16 MiB) it prefetches that block's input rows while it works on the
current one and writes ``grad x`` with streaming stores. The other fused tests stay far below 16 MiB, so
this file is what reaches the streamed backward; with the cache-resident sizes it also covers a last block
shorter than the rest, one block per thread and fewer blocks than threads, at ``T = 1`` too. Every
block must be computed exactly once: outputs and gradients against the torch reference (the loop of the
step function), gradients to float tolerance (``_fused.assert_parity``).
"""

from __future__ import annotations

import pytest
import torch

from _fused import assert_parity, parity_inputs, run_with_generic_loss, spread_params

from spikeforge.kernels import available_backends
from spikeforge.neurons import LIF

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")


def _run(backend: str, xs: torch.Tensor, size: int | None, learn: tuple[str, ...]):
    torch.manual_seed(3)  # the same parameters for both backends
    m = LIF(backend=backend, learn=learn, size=size, reset="zero", detach_reset=True)
    if size is not None:  # per-neuron parameters, read from [M] arrays by the kernel
        spread_params(m)
    zs, final, grads = run_with_generic_loss(m, xs)  # LIF's final state is v alone
    return zs, final, tuple(grads)


# [T, B, N] above 16 MiB of float32: 512-neuron blocks, the last one shorter (M = 2 * 2_097_157 = 8192
# blocks of 512 + 10; 1_400_003 = 2734 blocks + 195)
@pytest.mark.parametrize("shape", [(1, 2, 2_097_157), (3, 1, 1_400_003)], ids=["T1", "T3"])
def test_streamed_backward_matches_reference(shape, gen, many_threads):
    xs = parity_inputs(shape, torch.float32, gen)
    assert xs.numel() * 4 >= 16 << 20  # the kernel's STREAM_BYTES: grad x is streamed
    ref = _run("torch", xs, None, ("tau_mem",))
    got = _run("cpp", xs, None, ("tau_mem",))
    assert_parity(ref, got, torch.float32)


# T = 100: blocks of 240 neurons (192 KiB of trajectory each); 4 threads (many_threads)
@pytest.mark.parametrize("n", [721, 960, 481], ids=["last-block-of-1", "one-block-per-thread", "fewer-blocks"])
def test_cached_backward_blocks_match_reference(n, gen, many_threads):
    xs = parity_inputs((100, 1, n), torch.float32, gen)
    ref = _run("torch", xs, n, ("tau_mem", "v_th"))
    got = _run("cpp", xs, n, ("tau_mem", "v_th"))
    assert_parity(ref, got, torch.float32)
