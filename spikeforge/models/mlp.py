"""Fully connected spiking classifier: encoder → (Linear → spiking neuron)×L → Linear → LI."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..layers.sparse_linear import EventLinear
from ..neurons import LI, build_sequence_neuron, is_sequence_neuron, neuron_class
from ._factory import MODELS, config_surrogate

__all__ = ["SNNClassifier", "recurrent_snn", "spiking_mlp"]


class SNNClassifier(nn.Module):
    """Encoder (optional) + spiking body + non-spiking leaky-integrator readout.

    Shapes:
        forward: ``x [B, *F]`` (static, encoded to ``[T, B, F]``) or ``xs [T, B, *F]``
        (temporal) → readout membrane ``[T, B, C]``. :meth:`predict` gives ``[B]`` classes.
    """

    def __init__(self, body: nn.Sequential, encoder: nn.Module | None) -> None:
        super().__init__()
        self.encoder = encoder
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        xs = self.encoder(x) if self.encoder is not None else x  # [T, B, *F]
        xs = xs.flatten(2)  # [T, B, *F] -> [T, B, F]
        return self.body(xs)  # [T, B, C]

    def online_layers(self, x: Tensor) -> tuple[Tensor, list[nn.Module]]:
        """``(xs [T, B, F], body layers)`` for the online training modes (they run the body step by step)."""
        xs = self.encoder(x) if self.encoder is not None else x  # [T, B, *F]
        return xs.flatten(2), list(self.body)  # [T, B, *F] -> [T, B, F]

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Class with the largest mean readout membrane, ``[B]``."""
        return self(x).mean(0).argmax(-1)


def _neuron_kwargs(cfg: Any, neuron_cls: Any, width: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dt": cfg.resolved("dt"), "reset": cfg.resolved("reset")}
    if not getattr(neuron_cls, "surrogate_free", False):  # I-LIF, NI-LIF, UltraLIF refuse a surrogate
        kwargs["surrogate"] = config_surrogate(cfg)
    if "tau_mem" in neuron_cls.params_cls._fields:
        kwargs["tau_mem"] = cfg.resolved("tau_mem")
        if cfg.learn_tau:
            kwargs.update(learn=("tau_mem",), size=width)
    return kwargs


def _encoder(cfg: Any, temporal: bool) -> tuple[nn.Module | None, int]:
    """The configured encoder for static data (None for temporal data) and its width factor."""
    if temporal:
        return None, 1
    from ..encoders import ENCODERS

    encoder = ENCODERS.create(cfg.encoder, steps=cfg.steps)
    return encoder, int(getattr(encoder, "n_pop", 1))  # population coding widens each feature


def _classifier(cfg: Any, in_features: int, num_classes: int, temporal: bool,
                make_hidden: Any) -> SNNClassifier:
    """Encoder + hidden layers from ``make_hidden(width_in, width_out, neuron_cls)`` (each
    followed by time-shared dropout if configured) + Linear → LI readout."""
    neuron_cls = neuron_class(cfg.neuron)  # NEURONS or SEQUENCE_NEURONS
    if not getattr(neuron_cls, "spiking", True):
        raise ValueError(f"hidden neuron must spike; {cfg.neuron!r} is a non-spiking readout")
    encoder, factor = _encoder(cfg, temporal)
    layers: list[nn.Module] = []
    width = in_features * factor
    for h in cfg.hidden:
        layers += make_hidden(width, h, neuron_cls)
        if cfg.dropout > 0:
            from ..layers.dropout import SequenceDropout

            layers.append(SequenceDropout(cfg.dropout))
        width = h
    layers += [nn.Linear(width, num_classes), LI(tau_mem=cfg.tau_out, dt=cfg.resolved("dt"))]
    return SNNClassifier(nn.Sequential(*layers), encoder)


@MODELS.register("mlp", kind="classifier")
def spiking_mlp(cfg: Any, *, in_features: int, num_classes: int, temporal: bool) -> SNNClassifier:
    """MLP SNN sized by ``cfg.hidden``, neurons ``cfg.neuron``, readout LI with ``cfg.tau_out``.

    Hidden synapses are :class:`~spikeforge.layers.EventLinear` (an ``nn.Linear`` that runs
    event-driven per call when its input is binary and sparse enough to win; same values)."""

    def hidden(w_in: int, w_out: int, neuron_cls: Any) -> list[nn.Module]:
        if is_sequence_neuron(neuron_cls):  # PSN, HD-LIF: built for T = the encoder's steps and w_out channels
            neuron = build_sequence_neuron(cfg.neuron, t_steps=None if temporal else cfg.steps, features=w_out,
                                           surrogate=config_surrogate(cfg), tau_mem=cfg.tau_mem,
                                           dt=cfg.resolved("dt"), where="model 'mlp'")
            return [EventLinear(w_in, w_out), neuron]
        return [EventLinear(w_in, w_out), neuron_cls(**_neuron_kwargs(cfg, neuron_cls, w_out))]

    return _classifier(cfg, in_features, num_classes, temporal, hidden)


@MODELS.register("rsnn", kind="classifier")
def recurrent_snn(cfg: Any, *, in_features: int, num_classes: int, temporal: bool) -> SNNClassifier:
    """Recurrent SNN: each hidden layer is a :class:`~spikeforge.layers.RecurrentSpiking` layer
    (input and recurrent weights, neurons ``cfg.neuron``), then a Linear → LI readout."""
    from ..layers import RecurrentSpiking

    def hidden(w_in: int, w_out: int, neuron_cls: Any) -> list[nn.Module]:
        if is_sequence_neuron(neuron_cls):
            raise ValueError(f"model 'rsnn': neuron {cfg.neuron!r} is a sequence neuron (non-causal, fixed T); a "
                             "recurrent layer feeds each step's spikes into the next step and needs a step-by-step "
                             "neuron")
        return [RecurrentSpiking(w_in, w_out, neuron=cfg.neuron, **_neuron_kwargs(cfg, neuron_cls, w_out))]

    return _classifier(cfg, in_features, num_classes, temporal, hidden)
