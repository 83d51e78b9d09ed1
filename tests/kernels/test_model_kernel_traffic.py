"""The model kernels move no gradient tensor the loss does not need (issue 17).

Every registered neuron whose step function has a model kernel of its own (``MODEL_KERNELS``;
a new entry is covered here without editing this file): an output of its fused Function that the
loss does not use (the final state in ``layer(x).sum()``) must reach the kernel as a null gradient,
not as a zero-filled ``[M]`` tensor that autograd writes and the backward kernel then reads (the
pattern of ``test_lif_step_traffic.py`` for the LIF kernel). And the gradients must stay those of
the ``backend="torch"`` reference whichever outputs the loss uses: the spikes only (every final-state
gradient is null), the final state only (the spike gradient is null: a broadcast zero), one field of a
two-field state only (one null and one real final-state gradient), or all of them.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from _fused import FILLS, Ops, assert_parity, parity_inputs

from spikeforge.kernels import available_backends
from spikeforge.kernels.model_kernels import model_kernel_for
from spikeforge.neurons import NEURONS as REGISTRY

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

KERNELED = {name: cls for name in REGISTRY.names()
            if model_kernel_for((cls := REGISTRY.get(name)).step_fn) is not None}
def _make(name: str, backend: str, dtype: torch.dtype, size: int | None, learn: bool = True) -> Any:
    cls = KERNELED[name]
    if backend == "cpp":
        xs = torch.rand(3, 2, 4)  # [T, B, N]
        _, state, kwargs = cls(backend="cpp").prepare_run(xs, None)
        why = model_kernel_for(cls.step_fn).supports(xs, state, kwargs)
        if why is not None:  # some kernels call torch's own exp/SLEEF routines and decline other builds
            pytest.skip(f"{name}'s kernel declines this torch build: {why}")
    torch.manual_seed(5)  # same parameters for both backends
    m = cls(backend=backend, learn=cls.params_cls._fields if learn else (), size=size, dtype=dtype)
    if size is not None:  # heterogeneous per-neuron parameters, same sign as the defaults
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(1 + 0.05 * torch.rand_like(p))
    return m


@pytest.mark.parametrize("learn", [False, True], ids=["fixed", "learned"])
@pytest.mark.parametrize("name", list(KERNELED))
def test_backward_of_output_sum_fills_nothing(name: str, learn: bool) -> None:
    xs = parity_inputs((6, 4, 33), torch.float32, torch.Generator().manual_seed(0))  # [T, B, N]
    m = _make(name, "cpp", torch.float32, 33 if learn else None, learn)
    x = xs.clone().requires_grad_()
    loss = m(x).sum()
    with Ops() as rec:
        loss.backward()
    fills = [(op, shapes) for op, shapes in rec.ops if op in FILLS]
    assert fills == [], f"{name}: backward wrote zero-filled tensors: {fills}"
    assert x.grad is not None and x.grad.shape == xs.shape and x.grad.abs().sum() > 0


def _grads(m: Any, xs: torch.Tensor, use: str) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], tuple[Any, ...]]:
    """Spikes, final state and the gradients of input, parameters and initial state of a loss that
    uses the outputs named by ``use``."""
    xs = xs.detach().clone().requires_grad_()
    state = m.init_state(xs[0])  # a perturbed, differentiable initial state: its gradient is checked too
    state = type(state)(*(s.detach().clone().add_(0.1 * torch.rand_like(s)).requires_grad_() for s in state))
    zs, final = m.run(xs, state)
    loss = zs.new_zeros(())
    if use in ("spikes", "both"):
        w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)  # a generic output gradient
        loss = loss + (zs * w).sum()
    fields = [s for s in final if s.is_floating_point()]
    for s in {"final": fields, "last_field": fields[-1:], "both": fields}.get(use, []):
        loss = loss + (s * s).sum()
    params = [p for _, p in sorted(m.named_parameters())]
    return zs, final, torch.autograd.grad(loss, [xs, *params, *state], allow_unused=True)


@pytest.mark.parametrize("use", ["spikes", "final", "last_field", "both"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(KERNELED))
def test_gradients_of_any_used_outputs_match_reference(name: str, dtype: torch.dtype, use: str) -> None:
    xs = parity_inputs((9, 3, 17), dtype, torch.Generator().manual_seed(1))  # [T, B, N]
    torch.manual_seed(2)
    ref = _grads(_make(name, "torch", dtype, 17), xs, use)
    torch.manual_seed(2)  # the same initial-state perturbation
    got = _grads(_make(name, "cpp", dtype, 17), xs, use)
    assert_parity(ref, got, dtype)  # the model-kernel contract's check and tolerance
    assert got[2][0] is not None and got[2][0].abs().sum() > 0, "the input gradient is zero: nothing was tested"
