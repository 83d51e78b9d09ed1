"""Spiking neurons and time-folded conv/BN units shared by every transformer block.

The released spiking-transformer code uses SpikingJelly's ``MultiStepLIFNode(tau=2.0,
detach_reset=True)``: ``H = V + (X - V) / tau``, ``S = H(H - v_th)``, hard reset to 0 with the
reset term detached, surrogate ``Sigmoid(alpha=4)``. With ``tau_mem = 2 dt`` our forward-Euler
:class:`~spikeforge.neurons.LIF` is exactly that update (``a = dt / tau_mem = 1/2``), so the
default ``neuron="lif"`` reproduces it; any other registered spiking neuron can be dropped in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ...layers.time import TimeDistributed
from ...neurons import NEURONS, SEQUENCE_NEURONS, build_sequence_neuron
from ...surrogate import Surrogate

__all__ = ["ConvBN", "NeuronSpec", "make_neuron", "sequence_neuron_factory"]

NeuronSpec = Any  # a registry name (str) or a callable ``f(v_th=...) -> nn.Module`` on [T, B, ...]

DT = 1e-3  # s; the released models are discrete-time, only the ratio dt / tau matters
_SJ_LIF = {"tau_mem": 2 * DT}  # SpikingJelly tau = 2 (time steps)


def make_neuron(neuron: NeuronSpec = "lif", surrogate: str | Surrogate = "sigmoid", *,
                v_th: float = 1.0) -> nn.Module:
    """A fresh layer of spiking neurons mapping ``[T, B, *] -> [T, B, *]`` spikes, from rest.

    Args:
        neuron: Registry name of a spiking neuron (``spikeforge list neurons``), or a callable
            taking ``v_th=`` and returning such a module (for multi-level or custom neurons).
        surrogate: Registry name or :class:`~spikeforge.surrogate.Surrogate` (names use their
            default parameters; ``"sigmoid"`` is alpha = 4, the released models' choice).
        v_th: Firing threshold (attention neurons use 0.5).

    Neurons whose threshold is in normalised units (default ``v_th = 1``: LIF, PLIF, ALIF, IF,
    CubaLIF, UltraLIF ...) get ``v_th`` and, if they have ``tau_mem``, ``tau_mem = 2 dt`` with
    ``dt = 1 ms`` (SpikingJelly's ``tau=2``); neurons in physical units (Izhikevich, HH) keep their
    own ``dt`` and thresholds (give them an input scale with a factory). The reset is a hard
    reset to ``v_reset = 0`` where the model has one, with the reset term detached.
    """
    if callable(neuron) and not isinstance(neuron, str):
        module = neuron(v_th=v_th)
        if not isinstance(module, nn.Module):
            raise TypeError(f"neuron factory must return an nn.Module, got {type(module).__name__}")
        return module
    if isinstance(neuron, str) and neuron in SEQUENCE_NEURONS:
        raise ValueError(f"neuron {neuron!r} is a sequence neuron (non-causal, built for a fixed T), and a block "
                         "does not know T: build the model through the zoo (create_model(..., neuron="
                         f"{neuron!r}), which passes its T) or pass sequence_neuron_factory({neuron!r}, T)")
    cls = NEURONS.get(neuron)
    if not getattr(cls, "spiking", True):
        raise ValueError(f"transformer blocks need a spiking neuron; {neuron!r} is a non-spiking readout")
    fields = cls.params_cls._fields
    kwargs: dict[str, Any] = {"detach_reset": True}
    if not getattr(cls, "surrogate_free", False):  # UltraLIF's spike is its own gradient
        kwargs["surrogate"] = surrogate
    if "tau_mem" in fields:
        kwargs.update(dt=DT, **_SJ_LIF)
    if cls.params_cls._field_defaults.get("v_th") == 1.0:  # normalised units
        kwargs["v_th"] = v_th
    if "v_reset" in fields:
        kwargs["reset"] = "value"  # hard reset to v_reset = 0
    # neurons carry no trainable weights; build their scalar buffers on a real device so that
    # models can be built under ``torch.device("meta")`` for parameter counting
    device = torch.get_default_device()
    device = torch.device("cpu") if device.type == "meta" else device
    with torch.device(device):
        return NEURONS.create(neuron, **kwargs)


def sequence_neuron_factory(name: str, T: int, surrogate: str | Surrogate = "sigmoid") -> NeuronSpec:
    """A :data:`NeuronSpec` factory ``f(v_th=...)`` building the sequence neuron ``name`` (PSN) for ``T``
    steps; the zoo turns ``neuron="psn"`` into this. PSN's threshold is its learned per-step bias, which
    starts at ``-v_th`` (the attention neurons' 0.5 included). HD-LIF is refused: its gate is built for
    the channel count of its input, which blocks do not pass to their neurons."""
    SEQUENCE_NEURONS.get(name)

    def factory(v_th: float = 1.0) -> nn.Module:
        return build_sequence_neuron(name, t_steps=T, surrogate=surrogate, v_th=v_th, where="transformer block")

    return factory


def resolve_neuron(neuron: NeuronSpec, steps: Callable[[], int], surrogate: Any) -> NeuronSpec:
    """``neuron`` with a sequence neuron's name replaced by :func:`sequence_neuron_factory` for
    ``T = steps()`` (called only then); any other spec unchanged."""
    if isinstance(neuron, str) and neuron in SEQUENCE_NEURONS:
        return sequence_neuron_factory(neuron, steps(), surrogate)
    return neuron


class ConvBN(nn.Module):
    """``BN(Conv(x))`` at every time step, BN statistics shared over ``T * B`` (as released).

    Shapes:
        ``[T, B, C_in, H, W] -> [T, B, C_out, H', W']``.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 1, stride: int = 1, padding: int = 0,
                 *, groups: int = 1, bias: bool = False, bn: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel_size, stride, padding, groups=groups, bias=bias)]
        if bn:
            layers.append(nn.BatchNorm2d(c_out))
        self.body = TimeDistributed(nn.Sequential(*layers))

    def forward(self, xs: Tensor) -> Tensor:
        return self.body(xs)  # [T, B, C_out, H', W']


def repeat_static(x: Tensor, T: int, in_channels: int, who: str) -> Tensor:
    """Direct encoding: an image batch ``[B, C, H, W]`` is repeated ``T`` times; a sequence
    ``[T', B, C, H, W]`` (events) is passed through unchanged."""
    if x.dim() == 4:
        xs = x.unsqueeze(0).expand(T, *x.shape)  # [B, C, H, W] -> [T, B, C, H, W]
    elif x.dim() == 5:
        xs = x
    else:
        raise ValueError(f"{who}: expected an image batch [B, C, H, W] or a sequence [T, B, C, H, W], "
                         f"got shape {tuple(x.shape)}")
    if xs.shape[2] != in_channels:
        raise ValueError(f"{who}: expected {in_channels} input channels on dim {x.dim() - 3}, got shape "
                         f"{tuple(x.shape)}")
    return xs
