"""Every fused neuron gives the same bits on any number of threads (outputs, final state, gradients).

``cpu.threads_for`` picks the thread count per call, and on a loaded machine picks fewer
(issue 17), so a result must never depend on it: a training run may not change with the machine's
load. Derived from the registry: every neuron with a spec (LIF kernel) or a model kernel."""

from __future__ import annotations

import pytest
import torch

from _fused import parity_inputs

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
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(1 + 0.05 * torch.rand_like(p))
    x = xs.clone().requires_grad_()
    zs, final = m.run(x)
    w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)  # generic output gradient
    loss = (zs * w).sum() + sum((s * s).sum() for s in final if s.is_floating_point())
    params = [p for _, p in sorted(m.named_parameters())]
    grads = torch.autograd.grad(loss, [x, *params], allow_unused=True)
    return [zs, *final, *(g for g in grads if g is not None)]


def test_every_lif_family_neuron_is_fused() -> None:
    assert len(FUSED) >= 15  # guards the parametrisation below against an empty registry lookup


@pytest.mark.parametrize("name", FUSED)
def test_fused_results_do_not_depend_on_the_thread_count(name, gen, monkeypatch):
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
