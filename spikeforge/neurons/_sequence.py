"""Sequence neurons: whole-sequence maps over a fixed number of steps ``T`` (non-causal).

A *sequence neuron* (STEP's PSN and HD-LIF) computes the output at step ``t`` from the inputs at
every step of a window of exactly ``T`` steps, later ones included. The neuron contract of
:class:`~spikeforge.neurons.Neuron` (``step``, a run continued from a returned state, any ``T``)
cannot hold for it, so it has its own registry, :data:`SEQUENCE_NEURONS`, with declared
capabilities instead:

- ``causal = False``: no ``step`` and no state; :meth:`SequenceNeuron.step` and a ``run`` given a
  state raise a ``ValueError`` saying why;
- ``fixed_t = True``: built for ``t_steps``; another sequence length is a ``ValueError`` naming both;
- ``needs_features``: the channel count ``C`` of the last input axis is fixed at build time too
  (HD-LIF's gate reads ``T·C`` values); PSN shares one ``T×T`` map across all neurons and needs none.

Model builders take a neuron name from either registry (:func:`neuron_class`) and build a sequence
neuron with :func:`build_sequence_neuron`, passing the ``T`` they know; where ``T`` is not known at
build time (temporal datasets, step-by-step training, recurrent layers) they refuse it with an error
that names the problem.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .._registry import Registry, UnknownNameError
from ..numerics import check_finite, check_finite_enabled
from ._base import NEURONS, check_sequence

__all__ = ["SEQUENCE_NEURONS", "SequenceNeuron", "build_sequence_neuron", "is_sequence_neuron", "neuron_class",
           "neuron_names"]


class SequenceNeuron(nn.Module):
    """Base of the fixed-``T``, non-causal neuron layers (see the module docstring).

    Subclasses define ``t_steps`` (the built ``T``), ``_map(xs) -> zs`` for a checked sequence of
    that length, and ``op_count(xs)`` (elementary operations of one call, hand-counted in the class).
    """

    causal: ClassVar[bool] = False  # the output at t reads inputs after t
    fixed_t: ClassVar[bool] = True  # runs sequences of exactly t_steps steps
    needs_features: ClassVar[bool] = False  # the last-axis width is fixed at build time too
    spiking: ClassVar[bool] = True  # outputs spikes (the profiler records the layer as spiking)
    surrogate_free: ClassVar[bool] = False  # takes surrogate=
    # Run settings (TrainConfig's reset, tau_mem) the neuron has no quantity for, each with the reason;
    # a set value is refused with it (TrainConfig, build_sequence_neuron), never ignored.
    refused_settings: ClassVar[dict[str, str]] = {"reset": "it has no membrane reset",
                                                  "tau_mem": "it has no membrane time constant"}

    @classmethod
    def setting_kwargs(cls, *, tau_mem: float | None, dt: float) -> dict[str, Any]:
        """Constructor keyword arguments that honour ``tau_mem`` [s] at the step ``dt`` [s] (``{}`` for
        ``None``: the neuron's own default); a ``ValueError`` if the neuron cannot take the value."""
        if tau_mem is not None:
            raise ValueError(cls.refused_settings.get("tau_mem", f"{cls.__name__} takes no tau_mem"))
        return {}

    @property
    def t_steps(self) -> int:
        raise NotImplementedError

    def _map(self, xs: Tensor) -> Tensor:
        raise NotImplementedError

    def op_count(self, xs: Tensor) -> int:
        """Elementary operations of one call on ``xs [T, B, *]`` (multiplies, adds, compares, ...)."""
        raise NotImplementedError

    def check_input(self, xs: Tensor) -> Tensor:
        """``xs`` checked: a floating time-major ``[T, B, ...]`` of exactly ``t_steps`` steps, finite
        (unless checking is disabled, :mod:`spikeforge.numerics`)."""
        who = type(self).__name__
        check_sequence(xs, who)
        if xs.shape[0] != self.t_steps:
            raise ValueError(f"{who} was built for T = {self.t_steps} steps, got a sequence of {xs.shape[0]} steps "
                             f"(shape {tuple(xs.shape)}); a sequence neuron maps a whole window of a fixed length "
                             f"and cannot run other lengths: build it with t_steps={xs.shape[0]}")
        if check_finite_enabled():
            check_finite(xs, who, "input")
        return xs

    def run(self, xs: Tensor, state: Any = None) -> Tensor:
        """Spikes ``[T, B, *]`` for the whole sequence ``xs [T, B, *]``; there is no state to continue."""
        if state is not None:
            raise ValueError(f"{type(self).__name__} is a sequence neuron (non-causal, fixed T = {self.t_steps}): "
                             "it has no state, so a run cannot be continued from one; pass the whole sequence")
        return self._map(self.check_input(xs))

    def forward(self, xs: Tensor) -> Tensor:
        return self.run(xs)

    def step(self, x: Tensor, state: Any = None) -> Any:
        """Refused: the output at a step depends on inputs at later steps."""
        raise ValueError(f"{type(self).__name__} is a sequence neuron (non-causal, fixed T = {self.t_steps}): "
                         "its output at step t reads the inputs at every step of the window, so it cannot "
                         "advance one step at a time; call it on the whole [T, B, ...] sequence")

    def init_state(self, x: Tensor) -> Any:
        """Refused, as :meth:`step`."""
        return self.step(x)


SEQUENCE_NEURONS: Registry[type[SequenceNeuron]] = Registry("sequence neuron")
"""Registry of sequence (fixed-``T``, non-causal) neuron classes: ``psn``, ``hdlif``."""


def is_sequence_neuron(cls: Any) -> bool:
    """True for a :class:`SequenceNeuron` class or instance."""
    return isinstance(cls, SequenceNeuron) or (isinstance(cls, type) and issubclass(cls, SequenceNeuron))


def neuron_names() -> list[str]:
    """Every name a model builder takes for ``neuron=``: :data:`NEURONS` and :data:`SEQUENCE_NEURONS`, sorted."""
    return sorted([*NEURONS.names(), *SEQUENCE_NEURONS.names()])


def neuron_class(name: str) -> Any:
    """The class registered as ``name`` in :data:`NEURONS` or :data:`SEQUENCE_NEURONS`; an unknown name
    raises :class:`~spikeforge._registry.UnknownNameError` listing both."""
    if name in SEQUENCE_NEURONS:
        return SEQUENCE_NEURONS.get(name)
    if name in NEURONS or not isinstance(name, str):
        return NEURONS.get(name)
    raise UnknownNameError(f"unknown neuron {name!r}; valid names: {', '.join(neuron_names())}")


def build_sequence_neuron(name: str, *, t_steps: int | None, features: int | None = None,
                          surrogate: Any = None, v_th: float | None = None, tau_mem: float | None = None,
                          dt: float = 1e-3, dtype: torch.dtype | None = None,
                          device: torch.device | str | None = None, where: str = "model") -> SequenceNeuron:
    """A layer of the sequence neuron ``name`` for ``t_steps`` steps (and ``features`` channels on the last
    axis where the model needs them); ``where`` names the caller in the errors.

    ``t_steps=None`` (the caller does not know ``T``) and a missing ``features`` raise a ``ValueError``
    naming the problem. ``surrogate=None`` keeps the model's own (PSN: sigmoid α = 2, HD-LIF: α = 4).
    ``v_th`` (where the model has a threshold argument: PSN's bias starts at ``-v_th``) is passed if given.
    ``tau_mem`` [s] at the step ``dt`` [s] is mapped by the class's ``setting_kwargs`` (HD-LIF: its
    experts' ``tau = tau_mem / dt`` steps); ``None`` keeps the model's own, and a neuron without a time
    constant (PSN) raises a ``ValueError`` for a value.
    """
    cls = SEQUENCE_NEURONS.get(name)
    if t_steps is None:
        raise ValueError(f"{where}: neuron {name!r} is a sequence neuron (non-causal, fixed T): it must be built "
                         "for the number of time steps, which is not known here; use it where T is fixed at "
                         "build time (static data with an encoder of `steps` steps, or a zoo model's T=)")
    kwargs: dict[str, Any] = {"surrogate": surrogate, "dtype": dtype, "device": device}
    if cls.needs_features:
        if features is None:
            raise ValueError(f"{where}: neuron {name!r} is built for a fixed channel count C of its input's last "
                             "axis, which this model does not pass to its neurons; use it in a model that does "
                             "(e.g. the mlp builder)")
        kwargs["features"] = int(features)
    if v_th is not None:
        kwargs["v_th"] = float(v_th)
    try:
        kwargs.update(cls.setting_kwargs(tau_mem=tau_mem, dt=dt))
    except ValueError as e:
        raise ValueError(f"{where}: neuron {name!r}: tau_mem={tau_mem!r}: {e}") from None
    return cls(t_steps=int(t_steps), **kwargs)
