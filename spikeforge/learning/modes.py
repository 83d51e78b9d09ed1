r"""Training modes: how :func:`~spikeforge.learning.fit` turns one batch into weight gradients.

A mode runs the forward pass of one batch and leaves the gradient of its loss in the
parameters' ``.grad``; ``fit`` then clips, steps the optimizer and checkpoints, whatever the mode.

- ``bptt``: ``out = model(x)``, ``loss_fn(out, y).backward()`` (exact, memory grows with ``T``).
- ``sltt``: the model is run one step at a time with the carried state detached, and the
  per-step loss :math:`\mathrm{loss\_fn}(o_t, y)/T` is backpropagated at once
  (:func:`~spikeforge.learning.online.sltt_backward`; memory constant in ``T``).
- ``sltt-k``: SLTT at ``k`` steps drawn without replacement from the global torch RNG (so a
  checkpoint, which stores that RNG, resumes exactly).
- ``ottt``: SLTT plus presynaptic traces :math:`\hat a_t = \lambda \hat a_{t-1} + s_t` in the
  weight gradient (:func:`~spikeforge.learning.online.ottt_backward`); ``decay`` is the neurons'
  leak per step.

The online modes need the model as a list of layers: an ``nn.Sequential`` taking ``[T, B, *]``,
or a model with ``online_layers(x) -> (xs [T, B, *], layers)`` (e.g. the zoo's classifiers,
which encode ``x`` first). Their per-step loss is ``loss_fn(o_t[None], y) / T`` — for
``ce_membrane`` the mean over steps of the per-step cross-entropy, as SLTT/OTTT train, not the
cross-entropy of the time-mean that ``bptt`` uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from torch import Tensor, nn

from .._registry import Registry
from ..layers.dropout import SequenceDropout
from .online.sltt import OnlineResult, ottt_backward, sltt_backward

__all__ = ["BPTT", "OTTT", "SLTT", "TRAINING_MODES", "TrainingMode", "get_training_mode"]

LossFn = Callable[[Tensor, Tensor], Tensor]
Guard = Callable[[Any, Tensor], None]


class TrainingMode(Protocol):
    """One batch: forward, loss and backward into ``.grad``; returns ``(outputs [T, B, C] detached, loss)``."""

    def backward(self, model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn,
                 regularizer: Callable[[nn.Module, Tensor], Tensor] | None, guard: Guard) -> tuple[Tensor, float]:
        ...


TRAINING_MODES: Registry[Callable[..., TrainingMode]] = Registry("training mode")
"""Training modes for ``fit(mode=...)`` and the ``train_mode`` config key."""


@TRAINING_MODES.register("bptt")
@dataclass(frozen=True)
class BPTT:
    """Backpropagation through time over the whole sequence."""

    def backward(self, model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn,
                 regularizer: Callable[[nn.Module, Tensor], Tensor] | None, guard: Guard) -> tuple[Tensor, float]:
        out = model(x)  # [T, B, C]
        loss = loss_fn(out, y)
        if regularizer is not None:
            loss = loss + regularizer(model, out)
        guard(out, loss)
        loss.backward()
        return out.detach(), float(loss.detach())


def online_layers(model: nn.Module, x: Tensor) -> tuple[Tensor, list[nn.Module]]:
    """The input sequence ``[T, B, *]`` and the layers an online mode runs step by step."""
    split = getattr(model, "online_layers", None)
    if callable(split):
        xs, layers = split(x)
        layers = list(layers)
    elif isinstance(model, nn.Sequential):
        xs, layers = x, list(model)
    else:
        raise TypeError(f"online training modes need an nn.Sequential or a model with online_layers(x) -> "
                        f"(xs [T, B, *], layers); got {type(model).__name__}")
    for i, m in enumerate(layers):
        if isinstance(m, (nn.modules.dropout._DropoutNd, SequenceDropout)):
            if m.training and float(getattr(m, "p", 0.0)) > 0:
                raise ValueError(f"online training modes run layer {i} ({type(m).__name__}) one step at a time, "
                                 "which would draw a new dropout mask every step; use dropout=0 or mode 'bptt'")
    return xs, layers


def _check_online(name: str, regularizer: object) -> None:
    if regularizer is not None:
        raise ValueError(f"training mode {name!r} does not support a regularizer (its forward hooks do not see "
                         "the per-step runs); use mode 'bptt' or drop the regularizer")


def _finish(res: OnlineResult, guard: Guard) -> tuple[Tensor, float]:
    guard(res.outputs, res.outputs.new_tensor(res.loss))
    return res.outputs, res.loss


@TRAINING_MODES.register("sltt")
@dataclass(frozen=True)
class SLTT:
    """Spatial learning through time; with ``k``, SLTT-K (backpropagate ``k`` random steps)."""

    k: int | None = None  # steps to backpropagate per batch (None: all T)

    def __post_init__(self) -> None:
        if self.k is not None and (isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1):
            raise ValueError(f"SLTT: k must be None or an int >= 1, got {self.k!r}")

    def backward(self, model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn,
                 regularizer: Callable[[nn.Module, Tensor], Tensor] | None, guard: Guard) -> tuple[Tensor, float]:
        _check_online("sltt" if self.k is None else "sltt-k", regularizer)
        xs, layers = online_layers(model, x)
        k = None if self.k is None else min(self.k, xs.shape[0])
        res = sltt_backward(layers, xs, lambda o, t: loss_fn(o.unsqueeze(0), y), k=k)  # o: [B, C] -> [1, B, C]
        return _finish(res, guard)


@TRAINING_MODES.register("sltt-k")
def sltt_k(k: int = 2) -> SLTT:
    """SLTT-K: SLTT backpropagating ``k`` steps per batch (``k > T`` means all ``T``)."""
    return SLTT(k=k)


@TRAINING_MODES.register("ottt")
@dataclass(frozen=True)
class OTTT:
    """Online training through time (OTTT_A: gradients accumulate over ``T``, one update per batch)."""

    decay: float = 0.5  # trace decay per step = the neurons' leak (1 - dt/tau_mem for Euler LIF)

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.decay) <= 1.0:
            raise ValueError(f"OTTT: decay must be the leak per step in [0, 1], got {self.decay!r}")

    def backward(self, model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn,
                 regularizer: Callable[[nn.Module, Tensor], Tensor] | None, guard: Guard) -> tuple[Tensor, float]:
        _check_online("ottt", regularizer)
        xs, layers = online_layers(model, x)
        res = ottt_backward(layers, xs, lambda o, t: loss_fn(o.unsqueeze(0), y), decay=float(self.decay))
        return _finish(res, guard)


def get_training_mode(mode: str | TrainingMode, **kwargs: Any) -> TrainingMode:
    """A mode object from a registry name (with its keyword arguments) or the object itself."""
    if isinstance(mode, str):
        return TRAINING_MODES.create(mode, **kwargs)
    if kwargs:
        raise TypeError("keyword arguments are only accepted with a mode name")
    if not callable(getattr(mode, "backward", None)):
        raise TypeError(f"mode must be a name in TRAINING_MODES ({', '.join(TRAINING_MODES.names())}) or an object "
                        f"with backward(model, x, y, loss_fn, regularizer, guard); got {type(mode).__name__}")
    return mode

