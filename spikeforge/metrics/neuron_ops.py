"""Membrane updates and neuron operations of spikeforge neurons.

**Membrane updates** (NeuroBench's ``MembraneUpdates``): at the first step every neuron element
counts as updated; at each later step, an element counts if its membrane value changed. The
counts cover every sample and step of a call.

**Neuron operations** (NeuroBench's ``NeuronOperations``): membrane updates × the elementary
operations one update costs (effective), and elements × steps × that cost (dense).

The cost of one update (:data:`NEURON_OPS`) is counted from the model's step equation:

- one operation per multiply, add/subtract and comparison on a state variable, and one per
  reset action (``subtract``, ``zero`` and ``value`` each set one variable; ``none`` costs 0);
- products of constants (parameters and ``dt``) are folded into one constant, and a constant
  gain between two state variables is folded by rescaling the state (``a r i'`` costs nothing
  more than ``i'``);
- the input's gain (``dt r / tau``, ``w_in``) belongs to the synapse and constant offsets
  (the ``v_leak`` term) to its bias: adding the scaled input costs 1, scaling it costs 0.

For the models NeuroBench counts (``LIF`` = snnTorch ``Leaky``: 4; ``CubaLIF`` = ``Synaptic``:
6 with subtractive reset, 8 with reset to zero) this gives NeuroBench's numbers, except
``Synaptic``'s reset to zero, which NeuroBench prices at 8 (two more than the rule); spikeforge
keeps NeuroBench's 8 there, and prices the hard reset to ``v_reset`` like the reset to zero.
Every registered neuron has an entry (a contract test enforces it).

The membrane is recomputed by re-running the neuron's pure step function on the recorded input
(``Neuron.step_fn``), so any :class:`~spikeforge.neurons.Neuron` subclass works, custom ones
included, without storing its state at every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..neurons import (
    ALIF, CLIF, EIF, GLIF, HH, IF, ILIF, KLIF, LI, LIF, NILIF, BurstIF, CubaLI, CubaLIF, Integrator, Izhikevich,
    AstroLIF, TCLIF, Neuron, SignedIF, UltraDLIF, UltraLIF,
)

__all__ = ["NEURON_OPS", "ops_per_update", "membrane_updates", "membrane_field"]

NEURON_OPS: dict[type[Neuron[Any, Any]], dict[str, int]] = {
    # v' = βv + x (2); compare (1); reset (1) — NeuroBench's count for snnTorch Leaky.
    LIF: {"subtract": 4, "zero": 4, "value": 4, "none": 3},
    # i' = αi + x (2); v' = βv + i' (2); compare (1); reset (1) — NeuroBench's count for snnTorch
    # Synaptic (its reset to zero costs 8 in NeuroBench; the hard reset to a value is priced alike).
    CubaLIF: {"subtract": 6, "zero": 8, "value": 8, "none": 5},
    # v' = v + x (1); compare (1); reset (1).
    IF: {"subtract": 3, "zero": 3, "value": 3, "none": 2},
    # LIF's v' (2); θ = v_th + κa (2); compare v' > θ (1); reset (1); trace a' = ρa + z (2).
    ALIF: {"subtract": 8, "zero": 8, "value": 8, "none": 7},
    # as ALIF: v' (2); θ = v_th + (v_th k_a)·a (2); compare (1); reset (1); a' = α·a + (1 − α)·z̄ with (1 − α)
    # folded into a (2). A shared domain (domain=d) adds the domain sum (~1 per neuron), not counted here.
    AstroLIF: {"subtract": 8, "zero": 8, "value": 8, "none": 7},
    # v' = (0.04h)·v·v + (1 + 5h)·v − h·u + x (+ 140h, a bias): v·v, ×, ×, +, h·u, −, +x (7);
    # u' = (hab)·v + (1 − ha)·u (3); compare (1); built-in reset v ← c, u ← u + d (2).
    Izhikevich: {"subtract": 13, "zero": 13, "value": 13, "none": 13},
    # v' = βv + x (2); no threshold or reset.
    LI: {"subtract": 2, "zero": 2, "value": 2, "none": 2},
    # i' = αi + x (2); v' = βv + i' (2); no threshold or reset.
    CubaLI: {"subtract": 4, "zero": 4, "value": 4, "none": 4},
    # v' = v + x (1): a running sum.
    Integrator: {"subtract": 1, "zero": 1, "value": 1, "none": 1},
    # V' = ε·log(exp((V + log τ)/ε) + exp(I/ε)): +log τ, /ε, /ε, exp, exp, +, log, ×ε (8);
    # s = σ((V' − θ)/ε): −, /ε, σ (3); own reset V ← V'(1 − s): −, × (2).
    UltraLIF: {"subtract": 13, "zero": 13, "value": 13, "none": 13},
    # V'_i = ε·log(e^{V_{i−1}/ε} + e^{V_i/ε} + e^{V_{i+1}/ε}) + I_i: three /ε, three exp, two +, log, ×ε, +I (11);
    # s = σ((V' − θ)/ε): −, /ε, σ (3); own reset V ← V'(1 − s): −, × (2).
    UltraDLIF: {"subtract": 16, "zero": 16, "value": 16, "none": 16},
    # v' = v + x (1); v' >= θ⁺, v' <= θ⁻, m > 0 (3); gate × (1); z = pos − neg (1); reset (1); m + z (1).
    SignedIF: {"subtract": 8, "zero": 8, "value": 8, "none": 8},
    # v' = v + x (1); compare (1); n = min(floor(v'/θ), Γ): /, floor, min (3); reset v − θ·n: ×, − (2).
    BurstIF: {"subtract": 7, "zero": 7, "value": 7, "none": 7},
    # v' = (kβ)v + x (2; k·β and the input gain k·a are constants); ReLU (1); compare (1); reset (1).
    KLIF: {"subtract": 5, "zero": 5, "value": 5, "none": 4},
    # v' = βv + x (2); m·σ(v'/τ): ×, σ, × (3); compare (1); m + z (1); v − zθ (1); − z·σ(m): σ, ×, − (3).
    CLIF: {"subtract": 11, "zero": 11, "value": 11, "none": 11},
    # v' = (1 − a)v + x + (aΔ e^{−θ_rh/Δ})·e^{v/Δ}: (1 − a)·v, +x, v/Δ, exp, ×const, + (6); compare (1); reset (1).
    EIF: {"subtract": 8, "zero": 8, "value": 8, "none": 7},
    # v' = βv + x (2); v'/θ, max 0, min D, round (4); own reset v − s·θ: ×, − (2).
    ILIF: {"subtract": 8, "zero": 8, "value": 8, "none": 8},
    # as ILIF plus the division by D (1).
    NILIF: {"subtract": 9, "zero": 9, "value": 9, "none": 9},
    # v' = A·v·(1 − γz) − B + x' − C·z (A, B, C constants, x' the gated input): γ·z, 1 −, A·v, ×, +x', C·z, − (7);
    # compare (1); the gated reset is inside those terms.
    GLIF: {"subtract": 8, "zero": 8, "value": 8, "none": 8},
    # rates (21): α_m = u/expm1(u), u = 2.5 − 0.1v (4); α_n = 0.1u/expm1(u) (5); β_m, α_h, β_n = c·e^{−v/s}
    # (3 each); β_h = σ((v − 30)/10) (3). Conductances (9): g_Na m³h (4), g_K n⁴ (3), G = sum (2).
    # v_∞ = (x + g_Na E_Na + g_K E_K + g_L E_L)/G: 2 ×, 2 +, / (5; g_L E_L a bias).
    # v' = v_∞ + (v − v_∞)·e^{−kG/C}: ×, exp, −, ×, + (5). Each gate q' = q_∞ + (q − q_∞)e^{−k(α+β)}:
    # α+β, α/(α+β), ×k, exp, −, ×, + (7; 21 for m, h, n). Upward crossing: two compares, × (3).
    HH: {"subtract": 64, "zero": 64, "value": 64, "none": 64},
    # u^d' = u^d − σ(β1)·u^s + x: ·, −, + (3); u^s' = u^s + σ(β2)·u^d': ·, + (2); compare (1); two soft resets
    # u^d − γ·s and u^s − θ·s (one action each, 2). (MetaNeuron is lif_step: it inherits LIF's entry.)
    TCLIF: {"subtract": 8},
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
def membrane_updates(module: nn.Module, xs: Tensor, state: Any = None) -> tuple[int, int, int]:
    """Count the membrane updates of a neuron layer run on ``xs`` from ``state`` (``None``: from
    rest, where the first step counts every element as updated; a given state is the one before
    ``xs[0]``, as a stepped graph passes it in ``module(xs, state)``).

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
    start = state is not None
    state = stateful.init_state(xs[0]) if state is None else state
    path = membrane_field(state)
    if isinstance(module, Neuron):
        p = module._params_for(xs)
        step_fn, kwargs = type(module).step_fn, module.step_kwargs()

        def advance(x: Tensor, s: Any) -> Any:
            return step_fn(x, s, p, **kwargs)[1]
    else:

        def advance(x: Tensor, s: Any) -> Any:
            return stateful.step(x, s)[1]

    prev: Tensor | None = _get(state, path) if start else None
    updates = 0
    for x in xs:  # x: [B, *]
        state = advance(x, state)
        v = _get(state, path)
        updates += v.numel() if prev is None else int((v != prev).sum())
        prev = v
    per_step = prev.numel() if prev is not None else 0
    return updates, per_step * xs.shape[0], len(_get(state, path[:-1]) if len(path) > 1 else state)
