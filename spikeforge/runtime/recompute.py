"""Checkpointing through time: exact BPTT whose memory does not grow with the sequence length.

Plain BPTT keeps every layer's activations for all ``T`` steps. Here the sequence is cut into
chunks of ``chunk`` steps; only the neuron states at chunk boundaries and the network outputs
are kept, and each chunk's activations are recomputed during the backward pass
(``torch.utils.checkpoint`` without re-entrance). The recomputation replays exactly the same
operations, so the gradients equal plain BPTT (same spikes, same surrogate derivatives) and peak
memory is set by one chunk, not by ``T``.

``runtime`` sits below ``neurons`` in the dependency order, so neuron layers are recognised by
their interface: a module with ``run(xs, state) -> (ys, state)`` and ``init_state(x)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = ["checkpoint_through_time", "is_stateful"]


def is_stateful(module: nn.Module) -> bool:
    """True for modules that carry state over time (spikeforge neurons)."""
    return callable(getattr(module, "run", None)) and callable(getattr(module, "init_state", None))


def _layers(module: nn.Module | Sequence[nn.Module]) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return list(module)
    if isinstance(module, nn.Module):
        return [module]
    return list(module)


def _run_chunk(layers: list[nn.Module], state_types: list[Any], xs: Tensor, *flat_state: Tensor
               ) -> tuple[Tensor, ...]:
    """Run one chunk ``xs [K, B, *]`` through ``layers`` from the given flattened states."""
    out, k, new_states = xs, 0, []
    for layer, cls in zip(layers, state_types):
        if cls is not None:
            n = len(cls._fields)
            state = cls(*flat_state[k:k + n])
            out, state = layer.run(out, state)  # type: ignore[operator]
            new_states.extend(state)
            k += n
        else:
            out = layer(out)  # stateless: acts on [K, B, *] (Linear) or folds time itself
    return (out, *new_states)


_DUMMY = torch.empty(0, requires_grad=True)


def _run_chunk_dummy(layers: list[nn.Module], state_types: list[Any], xs: Tensor, dummy: Tensor,
                     *flat_state: Tensor) -> tuple[Tensor, ...]:
    return _run_chunk(layers, state_types, xs, *flat_state)


def checkpoint_through_time(module: nn.Module | Sequence[nn.Module], xs: Tensor, *, chunk: int = 32,
                            states: list[Any] | None = None) -> Tensor:
    """Run ``module`` over ``xs [T, B, *]`` keeping only chunk-boundary states for backward.

    Args:
        module: An ``nn.Sequential`` (or list) of stateless layers and neuron layers.
        xs: Time-major input ``[T, B, *]``.
        chunk: Steps per recomputed chunk; memory ~ activations of ``chunk`` steps.
        states: Optional initial state per stateful layer (in order); ``None`` = rest.

    Returns:
        The outputs ``[T, B, *']`` of the last layer, with gradients equal to plain BPTT.
        Backpropagate with ``loss.backward()`` (re-entrant checkpointing does not support
        ``torch.autograd.grad``).

    Example:
        >>> net = nn.Sequential(nn.Linear(700, 256), LIF(), nn.Linear(256, 20), LI())
        >>> xs = (torch.rand(200, 8, 700) < 0.05).float()     # [T=200, B=8, 700] spikes
        >>> ys = checkpoint_through_time(net, xs, chunk=50)   # [T, B, 20], exact BPTT gradients
        >>> ys.sum().backward()
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1 step, got {chunk!r}")
    if not isinstance(xs, Tensor) or xs.dim() < 2:
        got = f"shape {tuple(xs.shape)}" if isinstance(xs, Tensor) else type(xs).__name__
        raise ValueError(f"checkpoint_through_time: expected a time-major input [T, B, ...], got {got}")
    if xs.shape[0] == 0:
        raise ValueError(f"checkpoint_through_time: got an empty sequence (T = 0 time steps, shape "
                         f"{tuple(xs.shape)}); need T >= 1")
    layers = _layers(module)
    stateful = [is_stateful(m) for m in layers]
    init = list(states) if states is not None else [None] * sum(stateful)
    if len(init) != sum(stateful):
        raise ValueError(f"expected {sum(stateful)} initial states, got {len(init)}")
    # Find each stateful layer's initial state by running the first step's shapes through.
    flat: list[Tensor] = []
    state_types: list[Any] = []  # the State NamedTuple class of each stateful layer, else None
    it = iter(init)
    with torch.no_grad():
        probe = xs[:1]
        for layer, sf in zip(layers, stateful):
            if sf:
                s0 = next(it)
                if s0 is None:
                    s0 = layer.init_state(probe[0])  # type: ignore[operator]
                state_types.append(type(s0))
                flat.extend(s0)
                probe, _ = layer.run(probe, s0)  # type: ignore[operator]
            else:
                state_types.append(None)
                probe = layer(probe)
    outs = []
    grad = torch.is_grad_enabled()
    for t0 in range(0, xs.shape[0], chunk):
        x = xs[t0:t0 + chunk]  # [K, B, *]
        if grad:
            # Re-entrant checkpointing runs the chunk under no_grad, so nothing of its graph is
            # kept (the non-reentrant variant keeps every node of every chunk: memory grows with
            # T). Its outputs only require grad if an input does, hence the dummy for chunk 0.
            res = checkpoint(_run_chunk_dummy, layers, state_types, x, _DUMMY, *flat, use_reentrant=True)
        else:
            res = _run_chunk(layers, state_types, x, *flat)
        outs.append(res[0])
        flat = list(res[1:])
    return torch.cat(outs)  # [T, B, *']
