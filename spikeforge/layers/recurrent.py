"""Recurrent spiking layer: input and recurrent synapses feeding any registered neuron."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from ..neurons._base import NEURONS, Neuron, check_sequence, check_step_input
from ..numerics import check_finite
from .sparse_linear import EventLinear

__all__ = ["RecurrentState", "RecurrentSpiking"]


class RecurrentState(NamedTuple):
    neuron: Any  # the neuron's own State NamedTuple, fields [B, out_features]
    z: Tensor  # output at the previous step [B, out_features]


def resolve_neuron(neuron: Any, neuron_kwargs: dict[str, Any], who: str, **factory: Any) -> Neuron[Any, Any]:
    """A registry name built with ``neuron_kwargs`` (and ``factory``: device/dtype), or a ready
    :class:`Neuron` (then ``neuron_kwargs`` must be empty); anything else is a ``TypeError``."""
    if isinstance(neuron, str):
        return cast(Neuron[Any, Any], NEURONS.create(neuron, **factory, **neuron_kwargs))
    if not isinstance(neuron, Neuron):
        raise TypeError(f"{who}: neuron must be a registry name or a Neuron, got {type(neuron).__name__}")
    if neuron_kwargs:
        raise TypeError(f"{who}: neuron kwargs {sorted(neuron_kwargs)} need a neuron *name*, not an instance")
    return neuron


class RecurrentSpiking(nn.Module):
    r"""A layer of neurons driven by its input and by its own previous output (RLIF-style).

    .. math:: i_t = W_{in} x_t + W_{rec} z_{t-1}, \qquad (z_t, s_t) = \mathrm{step}(i_t, s_{t-1})

    ``step`` is the neuron model's pure step function (any name in ``NEURONS``); the state is
    ``RecurrentState(neuron=s, z=z_{t-1})`` and starts from the neuron's rest with ``z = 0``.

    Args:
        in_features: Input size.
        out_features: Number of neurons.
        neuron: Registry name (built with ``**neuron_kwargs``) or a neuron module to use.
        bias: Bias on the input synapses (an :class:`~spikeforge.layers.EventLinear`: event-driven
            per call when the input is binary and sparse enough to win; ``rnn.input.mode = "dense"``
            or ``SPIKEFORGE_EVENT_DRIVEN=0`` turns that off).
        recurrent_bias: Bias on the recurrent synapses.
        device, dtype: Factory kwargs for the weights.
        **neuron_kwargs: Passed to the neuron constructor when ``neuron`` is a name.

    Shapes:
        ``forward(xs [T, B, in]) -> zs [T, B, out]`` from rest; ``run(xs, state) -> (zs, state)``;
        ``step(x [B, in], state) -> (z [B, out], state)``.

    Example:
        >>> rnn = RecurrentSpiking(40, 64, neuron="lif", tau_mem=20e-3)
        >>> zs, state = rnn.run(torch.rand(100, 8, 40))      # [100, 8, 64]
        >>> zs2, state = rnn.run(torch.rand(50, 8, 40), state)  # continues the sequence
    """

    spiking = True  # picked up by spikeforge.monitors

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        neuron: str | Neuron[Any, Any] = "lif",
        bias: bool = True,
        recurrent_bias: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **neuron_kwargs: Any,
    ) -> None:
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"RecurrentSpiking: {name} must be a positive int, got {n!r}")
        factory = {"device": device, "dtype": dtype}
        self.input = EventLinear(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.recurrent = nn.Linear(out_features, out_features, bias=recurrent_bias, **factory)
        self.neuron: Neuron[Any, Any] = resolve_neuron(neuron, neuron_kwargs, "RecurrentSpiking", **factory)
        self.in_features, self.out_features = in_features, out_features

    def init_state(self, x: Tensor) -> RecurrentState:
        """Resting state for a single-step input ``x [B, in_features]``."""
        z = x.new_zeros((*x.shape[:-1], self.out_features))  # [B, out]
        return RecurrentState(neuron=self.neuron.init_state(z), z=z)

    def _check(self, x: Tensor) -> None:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"RecurrentSpiking: expected {self.in_features} input features on the last dim, "
                             f"got shape {tuple(x.shape)}")

    def _check_state(self, state: RecurrentState, x: Tensor) -> None:
        """``state`` must be a :class:`RecurrentState` for single-step inputs ``x [B, in]``."""
        if not isinstance(state, RecurrentState):
            raise TypeError(f"RecurrentSpiking: state must be a RecurrentState(neuron, z), got {type(state).__name__}")
        out = (*x.shape[:-1], self.out_features)
        if not isinstance(state.z, Tensor) or state.z.shape != out:
            raise ValueError(f"RecurrentSpiking: state.z must have shape {out} ([B, out_features]), got "
                             f"{tuple(state.z.shape) if isinstance(state.z, Tensor) else type(state.z).__name__}")
        self.neuron.check_state(state.neuron, state.z)

    def step(self, x: Tensor, state: RecurrentState | None = None) -> tuple[Tensor, RecurrentState]:
        """Advance one step. ``x [B, in]`` -> ``(z [B, out], state)``."""
        check_step_input(x, "RecurrentSpiking")
        self._check(x)
        check_finite(x, "RecurrentSpiking", time_major=False)
        if state is None:
            state = self.init_state(x)
        else:
            self._check_state(state, x)
        return self._advance(self.input(x), state)

    def _advance(self, i_in: Tensor, state: RecurrentState) -> tuple[Tensor, RecurrentState]:
        i = i_in + self.recurrent(state.z)  # [B, out]
        z, s = self.neuron.step(i, state.neuron)
        return z, RecurrentState(neuron=s, z=z)

    def run(self, xs: Tensor, state: RecurrentState | None = None) -> tuple[Tensor, RecurrentState]:
        """Run over ``xs [T, B, in]`` from ``state`` (rest if ``None``); returns ``(zs [T, B, out], state)``."""
        check_sequence(xs, "RecurrentSpiking")
        self._check(xs)
        check_finite(xs, "RecurrentSpiking")
        if state is None:
            state = self.init_state(xs[0])
        else:
            self._check_state(state, xs[0])
        i_in = self.input(xs)  # [T, B, in] -> [T, B, out], all steps at once
        zs = []
        for i in i_in:  # i: [B, out]
            z, state = self._advance(i, state)
            zs.append(z)
        return torch.stack(zs), state  # [T, B, out]

    def forward(self, xs: Tensor) -> Tensor:
        """Run a whole sequence ``[T, B, in]`` from rest; returns ``[T, B, out]``."""
        return self.run(xs)[0]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"
