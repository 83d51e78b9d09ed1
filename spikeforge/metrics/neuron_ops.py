"""Membrane updates and neuron operations of spikeforge neurons.

**Membrane updates** (NeuroBench's ``MembraneUpdates``): at the first step every neuron element
counts as updated; at each later step, an element counts if its membrane value changed. The
counts cover every sample and step of a call.

**Neuron operations** (NeuroBench's ``NeuronOperations``): membrane updates × the elementary
operations one update costs (effective), and elements × steps × that cost (dense). The costs of
:data:`NEURON_OPS` come from NeuroBench for the models that have an snnTorch twin (``LIF`` =
``Leaky``: 4; ``CubaLIF`` = ``Synaptic``: 6 with subtractive reset, 8 with reset to zero); the
others are counted from their step equations, with constants folded and the synaptic input
(already a synaptic operation) excluded.

The membrane is recomputed by re-running the neuron's pure step function on the recorded input
(``Neuron.step_fn``), so any :class:`~spikeforge.neurons.Neuron` subclass works, custom ones
included, without storing its state at every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..neurons import ALIF, IF, LI, LIF, CubaLIF, Izhikevich, Neuron

__all__ = ["NEURON_OPS", "ops_per_update", "membrane_updates", "membrane_field"]

NEURON_OPS: dict[type[Neuron[Any, Any]], dict[str, int]] = {
    # v' = βv + x; compare; reset — NeuroBench's count for snnTorch Leaky (subtract, zero).
    LIF: {"subtract": 4, "zero": 4, "value": 4, "none": 3},
    # i' = αi + x; v' = βv + i'; compare; reset — NeuroBench's count for snnTorch Synaptic.
    CubaLIF: {"subtract": 6, "zero": 8, "value": 8, "none": 5},
    # LIF without the leak multiply.
    IF: {"subtract": 3, "zero": 3, "value": 3, "none": 2},
    # LIF + adaptive threshold θ = v_th + κa (2) + trace a' = ρa + z (2).
    ALIF: {"subtract": 8, "zero": 8, "value": 8, "none": 7},
    # v: 0.04·v·v + 5v + 140 − u + x, ×h, +v (8); u: a(bv − u), ×h, +u (5); compare (1);
    # built-in reset v ← c, u += d (2).
    Izhikevich: {"subtract": 16, "zero": 16, "value": 16, "none": 16},
    # v' = βv + x, no threshold or reset.
    LI: {"subtract": 2, "zero": 2, "value": 2, "none": 2},
}
"""Elementary operations per membrane update, by neuron class (subclasses inherit, e.g. PLIF)
and reset name."""


def ops_per_update(neuron: Neuron[Any, Any], table: Mapping[type, Any] | None = None) -> int | None:
    """Operations one membrane update of ``neuron`` costs, or ``None`` if its class is unknown.

    Args:
        neuron: A neuron module.
        table: Extra entries checked first: ``{cls: int}`` or ``{cls: {reset_name: int}}``.
    """
    for source in (table or {}, NEURON_OPS):
        for cls in type(neuron).__mro__:
            if cls in source:
                entry = source[cls]
                if isinstance(entry, int):
                    return entry
                reset = getattr(neuron, "reset_name", "subtract")
                return entry.get(reset) if isinstance(entry, Mapping) else None
    return None


def membrane_field(state: Any) -> tuple[str, ...]:
    """Path of field names to the membrane inside a (possibly nested) state NamedTuple: ``v``
    if present, else the first field of a nested state (``RecurrentState.neuron``), else the
    first field."""
    fields = getattr(state, "_fields", None)
    if not fields:
        raise TypeError(f"neuron state must be a NamedTuple, got {type(state).__name__}")
    if "v" in fields:
        return ("v",)
    for name in fields:
        if hasattr(getattr(state, name), "_fields"):
            return (name, *membrane_field(getattr(state, name)))
    return (fields[0],)


def _get(state: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        state = getattr(state, name)
    return state


@torch.no_grad()
def membrane_updates(module: nn.Module, xs: Tensor) -> tuple[int, int, int]:
    """Count the membrane updates of a neuron layer run from rest on ``xs``.

    ``module`` is a :class:`~spikeforge.neurons.Neuron` (its pure step function is re-run) or
    any stateful layer with ``init_state(x)`` and ``step(x, state) -> (z, state)`` (e.g.
    :class:`~spikeforge.layers.RecurrentSpiking`).

    Shapes:
        xs: ``[T, B, *]``.

    Returns:
        ``(updates, elements_times_steps, state_fields)``: updated membrane elements summed over
        steps, the dense count ``B · N · T``, and the number of state variables per neuron.
    """
    stateful: Any = module  # a Neuron or any module with init_state/step
    state = stateful.init_state(xs[0])
    path = membrane_field(state)
    if isinstance(module, Neuron):
        p = module._params_for(xs)
        step_fn, kwargs = type(module).step_fn, module.step_kwargs()

        def advance(x: Tensor, s: Any) -> Any:
            return step_fn(x, s, p, **kwargs)[1]
    else:

        def advance(x: Tensor, s: Any) -> Any:
            return stateful.step(x, s)[1]

    prev: Tensor | None = None
    updates = 0
    for x in xs:  # x: [B, *]
        state = advance(x, state)
        v = _get(state, path)
        updates += v.numel() if prev is None else int((v != prev).sum())
        prev = v
    per_step = prev.numel() if prev is not None else 0
    return updates, per_step * xs.shape[0], len(_get(state, path[:-1]) if len(path) > 1 else state)
