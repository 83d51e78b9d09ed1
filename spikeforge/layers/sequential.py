"""A container that threads explicit state through a stack of layers, for streaming."""

from __future__ import annotations

from typing import Any, cast

from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite
from ._context import in_child
from ._neuron_pool import pool_after, pooled_run

__all__ = ["SpikingSequential", "is_stateful"]


def is_stateful(layer: nn.Module) -> bool:
    """True if ``layer`` follows the streaming protocol ``run(xs, state) -> (ys, state)``."""
    return callable(getattr(layer, "run", None))


class SpikingSequential(nn.Sequential):
    """``nn.Sequential`` for time-major spiking networks, with explicit state for streaming.

    Layers with a ``run(xs, state) -> (ys, state)`` method (neurons, :class:`RecurrentSpiking`,
    nested :class:`SpikingSequential`, ...) get their own entry in the state tuple; every other
    layer must be stateless and act on each step independently (``nn.Linear``,
    :class:`TimeDistributed`, an eval-mode norm or dropout), and has ``None`` there.

    Streaming a sequence chunk by chunk with :meth:`run`, passing the states back in, gives the
    same outputs as one :meth:`run` (or :meth:`forward`) over the whole sequence.

    A LIF-kind neuron directly followed by ``TimeDistributed(nn.AvgPool2d(k))`` (stride ``k``) runs
    as one fused CPU kernel where it applies (:mod:`spikeforge.kernels.lif_pool`): it writes only the
    pooled spikes, with the same values and gradients, bit for bit; the pair's state entries are the
    neuron's state and ``None`` as usual. Hooks on either layer, ``backend="torch"`` on either, or
    ``SPIKEFORGE_BACKEND=torch`` run the two layers separately.

    Shapes:
        ``forward(xs [T, B, *]) -> ys [T, B, *']`` from rest;
        ``run(xs, states) -> (ys, states)`` with ``states`` a tuple with one entry per layer.

    Example:
        >>> from spikeforge.neurons import LIF
        >>> net = SpikingSequential(nn.Linear(10, 32), LIF(), nn.Linear(32, 4), LIF())
        >>> ys, states = net.run(torch.rand(20, 2, 10))          # first chunk, from rest
        >>> ys2, states = net.run(torch.rand(20, 2, 10), states)  # next chunk
    """

    def run(self, xs: Tensor, states: tuple[Any, ...] | None = None) -> tuple[Tensor, tuple[Any, ...]]:
        """Run ``xs [T, B, *]`` from ``states`` (all at rest if ``None``); returns ``(ys, states)``."""
        check_sequence(xs, "SpikingSequential")
        check_finite(xs, "SpikingSequential")
        layers = list(self)
        if states is None:
            states = (None,) * len(layers)
        if not isinstance(states, tuple) or len(states) != len(layers):
            raise ValueError(
                f"SpikingSequential: states must be a tuple with one entry per layer ({len(layers)}), "
                f"got {type(states).__name__}"
                + (f" of length {len(states)}" if isinstance(states, (tuple, list)) else "")
            )
        for i, (layer, state) in enumerate(zip(layers, states)):
            if not is_stateful(layer) and state is not None:
                raise ValueError(f"SpikingSequential: layer {i} ({type(layer).__name__}) is stateless "
                                 f"but got state of type {type(state).__name__}")
        new_states: list[Any] = []
        fused = -1  # index of a pooling layer already run by the fused kernel with the neuron before it
        for i, (layer, state) in enumerate(zip(layers, states)):
            if i == fused:
                new_states.append(None)
                continue
            out = self._fused_pair(layers, i, xs, state)
            if out is not None:
                xs, state = out
                new_states.append(state)
                fused = i + 1
                continue
            with in_child("SpikingSequential", f"layer {i}", layer, xs):
                if is_stateful(layer):
                    xs, state = cast(Any, layer).run(xs, state)
                else:
                    xs = layer(xs)
            new_states.append(state)
        return xs, tuple(new_states)

    def forward(self, xs: Tensor) -> Tensor:
        """Run ``xs [T, B, *]`` through every layer from rest (each layer's ``forward``)."""
        check_sequence(xs, "SpikingSequential")
        check_finite(xs, "SpikingSequential")
        layers, fused = list(self), -1
        for i, layer in enumerate(layers):
            if i == fused:
                continue
            out = self._fused_pair(layers, i, xs, None)
            if out is not None:
                xs, fused = out[0], i + 1
                continue
            with in_child("SpikingSequential", f"layer {i}", layer, xs):
                xs = layer(xs)
        return xs

    @staticmethod
    def _fused_pair(layers: list[nn.Module], i: int, xs: Any, state: Any) -> tuple[Tensor, Any] | None:
        """Layers ``i`` (a neuron) and ``i + 1`` (its pooling) run by one fused kernel, or ``None``."""
        k = None if i + 1 >= len(layers) or not isinstance(xs, Tensor) else pool_after(layers[i], layers[i + 1])
        if k is None:
            return None
        with in_child("SpikingSequential", f"layers {i}-{i + 1} (fused neuron + pooling)", layers[i], xs):
            return pooled_run(layers[i], layers[i + 1], k, xs, state)
