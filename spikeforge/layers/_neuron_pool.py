"""A spiking neuron layer followed by ``TimeDistributed(nn.AvgPool2d(k))``, run as one fused kernel.

Containers (:class:`~spikeforge.layers.SpikingSequential`) call :func:`pooled_run` for every such
pair; it returns ``None`` whenever the fused kernel does not apply (see
:mod:`spikeforge.kernels.lif_pool` for the scope), and the container then runs the two layers one
after the other. The result is the same either way, bit for bit, gradients included.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..kernels import _tracing
from ..kernels._policy import fused_available, resolve_backend
from ..kernels.lif_pool import lif_pool_supports, run_lif_pool
from ..kernels.pool import pool_kernel_size
from ..kernels.specs import LIF, spec_for
from ..neurons._base import Neuron
from .time import TimeDistributed, _hooked

__all__ = ["pool_after", "pooled_run"]


def pool_after(neuron: nn.Module, pool: nn.Module) -> int | None:
    """``k`` if ``neuron`` followed by ``pool`` may run fused (the pair's types and backends allow it;
    the call's tensors are checked by :func:`pooled_run`), else ``None``."""
    if not isinstance(neuron, Neuron) or type(pool) is not TimeDistributed:
        return None
    spec = spec_for(type(neuron).step_fn)
    if spec is None or spec.kind != LIF or neuron.state_quant is not None:
        return None
    if resolve_backend(neuron.backend) not in ("auto", "cpp") or resolve_backend(pool.backend) == "torch":
        return None
    if _hooked(neuron) or _hooked(pool) or _hooked(pool.module):  # hooks must see each call
        return None
    return pool_kernel_size(pool.module)


def pooled_run(neuron: nn.Module, pool: nn.Module, k: int, xs: Tensor,
               state: Any = None) -> tuple[Tensor, Any] | None:
    """``(pool(neuron.run(xs, state)[0]), final neuron state)`` by the fused LIF + pooling kernel, or
    ``None`` if it does not apply to this call (the caller runs the layers itself); ``k`` is
    :func:`pool_after` of the pair, which the caller checked.

    Shapes: ``xs [T, B, C, H, W] -> [T, B, C, H // k, W // k]``; the state is the neuron's ``[B, C, H, W]``.
    """
    if xs.dim() != 5 or xs.device.type != "cpu" or _tracing():
        return None
    assert isinstance(neuron, Neuron) and isinstance(pool, TimeDistributed)  # pool_after checked both
    if pool.memory_format is not None and not xs.permute(0, 1, 3, 4, 2).is_contiguous():
        return None  # the pool's own layout would differ from the input's
    p, state, kwargs = neuron.prepare_run(xs, state)
    spec = spec_for(type(neuron).step_fn)
    if lif_pool_supports(spec, xs, state, p, kwargs, k) is not None or not fused_available():
        return None
    return run_lif_pool(spec, xs, state, p, kwargs, k)  # type: ignore[arg-type]
