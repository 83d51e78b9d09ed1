"""A container that threads explicit state through a stack of layers, for streaming."""

from __future__ import annotations

from typing import Any, cast

from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite
from ._context import in_child

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
        new_states: list[Any] = []
        for i, (layer, state) in enumerate(zip(layers, states)):
            if not is_stateful(layer) and state is not None:
                raise ValueError(f"SpikingSequential: layer {i} ({type(layer).__name__}) is stateless "
                                 f"but got state of type {type(state).__name__}")
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
        for i, layer in enumerate(self):
            with in_child("SpikingSequential", f"layer {i}", layer, xs):
                xs = layer(xs)
        return xs
