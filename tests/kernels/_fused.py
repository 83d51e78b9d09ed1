"""The neurons the kernel tests cover, derived from the registry: every registered neuron class
whose step function has a kernel spec, so a new fused neuron is tested without editing a test."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from spikeforge.kernels.specs import spec_for
from spikeforge.neurons import NEURONS as REGISTRY


def fused_neurons(spiking: bool) -> dict[str, type]:
    """``{registry name: class}`` of the fused neurons that spike (or, ``spiking=False``, read out ``v``)."""
    classes = {name: REGISTRY.get(name) for name in REGISTRY.names()}
    return {name: cls for name, cls in classes.items()
            if spec_for(cls.step_fn) is not None and bool(cls.spiking) == spiking}


NEURONS = fused_neurons(spiking=True)
READOUTS = fused_neurons(spiking=False)


TOL = {torch.float32: dict(rtol=2e-4, atol=2e-5), torch.float64: dict(rtol=1e-9, atol=1e-11)}


def parity_inputs(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    """Inputs that drive the fused neurons over and under threshold (drawn in float64, then cast)."""
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * 2.0 + 1.2).to(dtype)


def assert_parity(ref: tuple, got: tuple, dtype: torch.dtype) -> None:
    """``(outputs, final state, gradients)`` of the reference and a fused backend: outputs and state
    bit-identical, gradients equal to ``TOL`` after scaling by the reference's largest magnitude."""
    z0, s0, g0 = ref
    z1, s1, g1 = got
    assert torch.equal(z0, z1), "forward outputs differ"
    for a, b in zip(s0, s1, strict=True):
        assert torch.equal(a, b), "final state differs"
    for a, b in zip(g0, g1, strict=True):
        if a is None or b is None:  # unused parameter: None in one, zeros in the other
            assert all(g is None or not g.any() for g in (a, b))
            continue
        scale = a.abs().max().clamp_min(1.0)
        torch.testing.assert_close(b / scale, a / scale, **TOL[dtype])


FILLS = ("fill_", "zero_", "zeros", "zeros_like", "full", "full_like", "new_zeros")  # ops that write a constant


class Ops(TorchDispatchMode):
    """Records the name and output shapes of every aten op run inside it (the traffic tests look for
    ``FILLS`` among them: a zero-filled gradient that a backward did not need)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, list[tuple[int, ...]]]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (tuple, list)) else [out]
        self.ops.append((func.overloadpacket.__name__, [tuple(o.shape) for o in outs if isinstance(o, torch.Tensor)]))
        return out


def spread_params(m: torch.nn.Module) -> None:
    """Scale every parameter by 1 + U(0, 0.05): heterogeneous per-neuron values (``[M]`` arrays in the kernel)."""
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(1 + 0.05 * torch.rand_like(p))


def run_with_generic_loss(m: torch.nn.Module, xs: torch.Tensor) -> tuple[torch.Tensor, Any, list]:
    """``m.run`` on a leaf copy of ``xs``; loss = spikes · linspace(-1, 2) + sum of squared final float states.

    Returns ``(zs, final, grads)`` with the gradients of ``[x, *parameters sorted by name]`` (``None`` where a
    parameter does not reach the loss)."""
    x = xs.clone().requires_grad_()
    zs, final = m.run(x)
    w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)  # generic output gradient
    loss = (zs * w).sum() + sum((s * s).sum() for s in final if s.is_floating_point())
    params = [p for _, p in sorted(m.named_parameters())]
    return zs, final, list(torch.autograd.grad(loss, [x, *params], allow_unused=True))


def kernel_declines(cls: type) -> str | None:
    """Why this machine's torch build cannot run ``cls``'s model kernel at all, or ``None``: some kernels
    reproduce the exp / SLEEF code of torch's own AVX2 or AVX512 vector loops and decline other builds."""
    from spikeforge.kernels.model_kernels import model_kernel_for

    kernel = model_kernel_for(cls.step_fn)
    if kernel is None:
        return None
    xs = torch.rand(3, 2, 4)  # [T, B, N]
    _, state, kwargs = cls(backend="cpp").prepare_run(xs, None)
    return kernel.supports(xs, state, kwargs)


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values with equal signs (so -0.0 != +0.0), NaN where the other is NaN (any payload)."""
    nan = a.isnan()
    if not torch.equal(nan, b.isnan()):
        return False
    a, b = a[~nan], b[~nan]
    return torch.equal(a, b) and torch.equal(a.signbit(), b.signbit())
