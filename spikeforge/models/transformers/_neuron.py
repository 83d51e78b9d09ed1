"""Spiking neurons and time-folded conv/BN units shared by every transformer block.

The released spiking-transformer code uses SpikingJelly's ``MultiStepLIFNode(tau=2.0,
detach_reset=True)``: ``H = V + (X - V) / tau``, ``S = H(H - v_th)``, hard reset to 0 with the
reset term detached, surrogate ``Sigmoid(alpha=4)``. With ``tau_mem = 2 dt`` our forward-Euler
:class:`~spikeforge.neurons.LIF` is exactly that update (``a = dt / tau_mem = 1/2``), so the
default ``neuron="lif"`` reproduces it; any other registered spiking neuron can be dropped in.

Every neuron site passes its channel count ``C`` (``features=``) and its layout: conv maps
``[T, B, C, H, W]`` and the head's ``[T, B, D]`` hold ``C`` on dim 2 (``layout="channels"``); the
attention neuron sees head-split maps ``[T, B, h, N, d]`` and reads all ``C = h·d`` channels of a
token (``layout="heads"``, as Spikformer's ``attn_lif`` runs after the heads are merged). A neuron that
declares ``needs_features`` (HD-LIF: its gate reads the ``T·C`` values of each position from the last
axis) is built with ``features=C`` and run through :class:`FeaturesLast`, which moves that site's
channel axis last and back; every other neuron is elementwise and runs on the site's tensor as is.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ...layers.time import TimeDistributed
from ...neurons import NEURONS, SEQUENCE_NEURONS, build_sequence_neuron
from ...surrogate import Surrogate

__all__ = ["ConvBN", "FeaturesLast", "NeuronSpec", "make_neuron", "sequence_neuron_factory"]

NeuronSpec = Any  # a registry name (str) or a callable ``f(v_th=...[, features=C]) -> nn.Module`` on [T, B, ...]
LAYOUTS = ("channels", "heads")  # where a site's C is: dim 2 of [T, B, C, *]; h·d of [T, B, h, N, d]

DT = 1e-3  # s; the released models are discrete-time, only the ratio dt / tau matters
_SJ_LIF = {"tau_mem": 2 * DT}  # SpikingJelly tau = 2 (time steps)


def _call_factory(factory: Callable[..., Any], v_th: float, features: int | None) -> Any:
    """``factory(v_th=v_th, features=features)``, leaving ``features`` out when it is ``None`` or the
    factory has no parameter of that name (factories written for ``f(v_th=...)`` keep working)."""
    if features is not None:
        try:
            takes = "features" in inspect.signature(factory).parameters
        except (TypeError, ValueError):  # a callable without an inspectable signature
            takes = False
        if takes:
            return factory(v_th=v_th, features=features)
    return factory(v_th=v_th)


def make_neuron(neuron: NeuronSpec = "lif", surrogate: str | Surrogate = "sigmoid", *,
                v_th: float = 1.0, features: int | None = None, layout: str = "channels") -> nn.Module:
    """A fresh layer of spiking neurons mapping ``[T, B, *] -> [T, B, *]`` spikes, from rest.

    Args:
        neuron: Registry name of a spiking neuron (``spikeforge list neurons``), or a callable
            taking ``v_th=`` (and, if it has that parameter, ``features=``) and returning such a
            module (for multi-level, custom or sequence neurons: :func:`sequence_neuron_factory`).
        surrogate: Registry name or :class:`~spikeforge.surrogate.Surrogate` (names use their
            default parameters; ``"sigmoid"`` is alpha = 4, the released models' choice).
        v_th: Firing threshold (attention neurons use 0.5).
        features: The site's channel count ``C``, passed to a factory that takes ``features=``.
        layout: Where ``C`` is in the site's input: ``"channels"`` (dim 2 of ``[T, B, C, *]``) or
            ``"heads"`` (``[T, B, h, N, d]``, ``C = h·d``). Only a module that declares
            ``needs_features`` is affected: it is wrapped in :class:`FeaturesLast`.

    Neurons whose threshold is in normalised units (default ``v_th = 1``: LIF, PLIF, ALIF, IF,
    CubaLIF, UltraLIF ...) get ``v_th`` and, if they have ``tau_mem``, ``tau_mem = 2 dt`` with
    ``dt = 1 ms`` (SpikingJelly's ``tau=2``); neurons in physical units (Izhikevich, HH) keep their
    own ``dt`` and thresholds (give them an input scale with a factory). The reset is a hard
    reset to ``v_reset = 0`` where the model has one, with the reset term detached.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if callable(neuron) and not isinstance(neuron, str):
        module = _call_factory(neuron, v_th, features)
        if not isinstance(module, nn.Module):
            raise TypeError(f"neuron factory must return an nn.Module, got {type(module).__name__}")
        return FeaturesLast(module, layout) if getattr(module, "needs_features", False) else module
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
    """A :data:`NeuronSpec` factory ``f(v_th=..., features=C)`` building the sequence neuron ``name`` for
    ``T`` steps; the zoo turns ``neuron="psn"`` / ``"hdlif"`` into this. PSN's threshold is its learned
    per-step bias, which starts at ``-v_th`` (the attention neurons' 0.5 included); ``features`` is ignored.
    HD-LIF gets ``v_th`` as its experts' threshold (STEP's config passes the model's threshold, 1, and
    0.5 to the attention neuron) and ``features = C`` of the site (:func:`make_neuron`) for its gate
    ``[E = 4, T·C]``; called without ``features`` it raises a ``ValueError`` saying so."""
    SEQUENCE_NEURONS.get(name)

    def factory(v_th: float = 1.0, features: int | None = None) -> nn.Module:
        return build_sequence_neuron(name, t_steps=T, features=features, surrogate=surrogate, v_th=v_th,
                                     where="transformer block")

    return factory


def resolve_neuron(neuron: NeuronSpec, steps: Callable[[], int], surrogate: Any) -> NeuronSpec:
    """``neuron`` with a sequence neuron's name replaced by :func:`sequence_neuron_factory` for
    ``T = steps()`` (called only then); any other spec unchanged."""
    if isinstance(neuron, str) and neuron in SEQUENCE_NEURONS:
        return sequence_neuron_factory(neuron, steps(), surrogate)
    return neuron


class FeaturesLast(nn.Module):
    """Runs ``neuron`` (one that reads the channel vector of each position on its input's last axis:
    ``needs_features``, HD-LIF) at a site whose channels are elsewhere, and puts them back.

    Layouts (``C`` = ``neuron``'s ``features``; a position = one pixel or token of one sample):

    * ``"channels"``: ``[T, B, C, *S] -> [T, B, *S, C] -> neuron -> [T, B, C, *S]`` (``*S`` = ``H, W``
      for conv maps, empty for the head's ``[T, B, C]``);
    * ``"heads"``: ``[T, B, h, N, d] -> [T, B, N, h·d] -> neuron -> [T, B, h, N, d]``: one gate per
      token reads all ``C = h·d`` channels of its heads.
    """

    def __init__(self, neuron: nn.Module, layout: str = "channels") -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.neuron, self.layout = neuron, layout

    def forward(self, xs: Tensor) -> Tensor:
        if self.layout == "heads":
            if xs.dim() != 5:
                raise ValueError(f"{type(self.neuron).__name__} at an attention site expects head-split maps "
                                 f"[T, B, h, N, d], got shape {tuple(xs.shape)}")
            h, d = xs.shape[2], xs.shape[4]
            tokens = xs.transpose(2, 3).flatten(3)  # [T, B, h, N, d] -> [T, B, N, h, d] -> [T, B, N, h·d]
            return self.neuron(tokens).unflatten(3, (h, d)).transpose(2, 3)  # [T, B, N, h, d] -> [T, B, h, N, d]
        if xs.dim() < 3:
            raise ValueError(f"{type(self.neuron).__name__} expects [T, B, C, ...] with the channels on dim 2, "
                             f"got shape {tuple(xs.shape)}")
        zs = self.neuron(xs.movedim(2, -1))  # [T, B, C, *S] -> [T, B, *S, C]
        return zs.movedim(-1, 2)  # [T, B, *S, C] -> [T, B, C, *S]

    def extra_repr(self) -> str:
        return f"layout={self.layout!r}"


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
