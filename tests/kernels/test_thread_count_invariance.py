"""Every fused neuron gives the same bits on any number of threads (outputs, final state, gradients).

``cpu.threads_for`` picks the thread count per call, and on a loaded machine picks fewer
(issue 17), so a result must never depend on it: a training run may not change with the machine's
load. Derived from the registry: every neuron with a spec (LIF kernel) or a model kernel."""

from __future__ import annotations

import pytest
import torch

from _fused import kernel_declines, parity_inputs, run_with_generic_loss, spread_params

from spikeforge.kernels import available_backends, cpu
from spikeforge.kernels.model_kernels import model_kernel_for
from spikeforge.kernels.specs import spec_for
from spikeforge.neurons import NEURONS

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

FUSED = [n for n in NEURONS.names()
         if spec_for(NEURONS.get(n).step_fn) is not None or model_kernel_for(NEURONS.get(n).step_fn) is not None]


def _run(name: str, xs: torch.Tensor, threads: int) -> list[torch.Tensor]:
    cls = NEURONS.get(name)
    torch.set_num_threads(threads)
    torch.manual_seed(7)  # the same heterogeneous per-neuron parameters on every run
    m = cls(backend="cpp", learn=cls.params_cls._fields, size=xs.shape[-1])
    spread_params(m)
    zs, final, grads = run_with_generic_loss(m, xs)
    return [zs, *final, *(g for g in grads if g is not None)]


def test_every_lif_family_neuron_is_fused() -> None:
    assert len(FUSED) >= 15  # guards the parametrisation below against an empty registry lookup


@pytest.mark.parametrize("name", FUSED)
def test_fused_results_do_not_depend_on_the_thread_count(name, gen, monkeypatch):
    if (why := kernel_declines(NEURONS.get(name))) is not None:  # backend="cpp" would raise; "auto" runs torch
        pytest.skip(f"{name}'s kernel declines this torch build: {why}")
    monkeypatch.setattr(cpu, "PARALLEL_GRAIN", 1)  # multithread even this small call
    monkeypatch.setattr(cpu, "CONTENDED_FACTOR", 1)  # whatever the machine's load
    xs = parity_inputs((12, 7, 97), torch.float32, gen)  # [T, B, N]: 97 neurons split unevenly
    old = torch.get_num_threads()
    try:
        one, three = _run(name, xs, 1), _run(name, xs, 3)
    finally:
        torch.set_num_threads(old)
    assert len(one) == len(three)
    for i, (a, b) in enumerate(zip(one, three, strict=True)):
        assert torch.equal(a, b), f"{name}: result {i} differs between 1 and 3 threads"
