r"""DCLS-Delays classifier (Hammouamri et al., ICLR 2024): feed-forward spiking layers whose synapses
carry learned delays (:class:`~spikeforge.layers.DelayLinear`); no recurrence.

.. math:: x \xrightarrow{\Sigma\,\text{pool}} \big[\text{DelayLinear}(K) \to \text{BN} \to \text{LIF}
          \to \text{Dropout}\big]^{L} \to \text{DelayLinear}(K) \to \text{LI}

The SHD recipe (``configs/shd_dcls.yaml``): 700 channels summed in groups of 5 → 140, two hidden
layers of 256, ``K = 25`` taps (delays 0–24 steps of 10 ms), no biases, BatchNorm after each hidden
delay layer, discrete-time LIF ``v' = βv + x`` with ``β = 1 − dt/τ`` (τ = 10.05 ms, dt = 10 ms,
as the reference's ``decay_input=False`` neuron), hard reset with the reset detached, dropout
shared over time, and a non-spiking readout (the reference's LIF with an unreachable threshold).
Trainable parameters: ``140·256 + 256·256 + 256·20 = 106,496`` weights, as many positions, and
1,024 BatchNorm parameters = **214,016**.

Training support used by :func:`spikeforge.experiment.run_training` when a model has delay layers:
:func:`delay_optimizer` (Adam; positions in their own group at ``lr_positions`` without weight decay,
clamped into range after every step) and :func:`set_delay_sigma` (``SIG`` decays geometrically from
``⌊K/2⌋`` to 0.23 over the first quarter of the epochs, then stays, as in the reference script).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..layers.dcls import DelayLinear, LearnableDelay, delay_param_groups, sigma_schedule
from ..neurons import LI, LIF
from ._factory import MODELS, config_surrogate

__all__ = ["DCLSClassifier", "dcls_classifier", "delay_layers", "delay_optimizer", "set_delay_sigma"]

SIGMA_END = 0.23  # SIG at the end of the decay (σ_eff = 0.5); the reference's value


class DCLSClassifier(nn.Module):
    """Channel pooling + delay layers; ``xs [T, B, F]`` → readout membrane ``[T, B, C]``.

    Args:
        in_features: Input channels ``F`` (a multiple of ``pool``).
        hidden: Hidden widths.
        num_classes: Readout width ``C``.
        K: Taps per delay layer (delays ``0 … K−1`` steps).
        pool: Sum groups of ``pool`` adjacent input channels (``F → F/pool``).
        beta: Membrane decay per step of the hidden LIF and the readout.
        dropout: Dropout on hidden spikes (mask shared over time).
        surrogate: Spike-function surrogate of the hidden LIF.
        neuron: Builds the hidden neuron layer of a given width instead of the recipe's LIF (``beta`` and
            ``surrogate`` then apply to the readout only / not at all).
        reset: The recipe LIF's reset (``"zero"``: hard reset to 0, as the reference); unused with ``neuron``.
    """

    def __init__(self, in_features: int, hidden: tuple[int, ...], num_classes: int, *, K: int = 25, pool: int = 1,
                 beta: float = 0.005, dropout: float = 0.0, surrogate: Any = "atan",
                 neuron: Callable[[int], nn.Module] | None = None, reset: str = "zero") -> None:
        super().__init__()
        if pool < 1 or in_features % pool:
            raise ValueError(f"DCLSClassifier: in_features={in_features} is not a multiple of pool={pool}")
        from ..layers.dropout import SequenceDropout

        self.pool = int(pool)
        widths = [in_features // pool, *hidden]
        self.delays = nn.ModuleList(DelayLinear(a, b, K=K) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in hidden)
        self.neurons = nn.ModuleList(
            LIF.from_decay(beta, surrogate=surrogate, reset=reset, detach_reset=True) if neuron is None else neuron(w)
            for w in hidden)
        self.dropouts = nn.ModuleList(SequenceDropout(dropout) if dropout > 0 else nn.Identity() for _ in hidden)
        self.readout = DelayLinear(widths[-1], num_classes, K=K)
        self.out_neuron = LI.from_decay(beta)

    def forward(self, xs: Tensor) -> Tensor:
        if xs.dim() != 3:
            raise ValueError(f"DCLSClassifier: expected input [T, B, F], got {tuple(xs.shape)}")
        T, B, F = xs.shape
        h = xs.reshape(T, B, F // self.pool, self.pool).sum(-1)  # [T, B, F] -> [T, B, F/pool]
        for delay, norm, neuron, drop in zip(self.delays, self.norms, self.neurons, self.dropouts):
            a = delay(h)  # [T, B, H]
            a = norm(a.flatten(0, 1)).unflatten(0, (T, B))  # [T*B, H] -> [T, B, H]
            h = drop(neuron(a))  # [T, B, H] spikes
        return self.out_neuron(self.readout(h))  # [T, B, C]

    @torch.no_grad()
    def predict(self, xs: Tensor) -> Tensor:
        """Class with the largest mean readout membrane, ``[B]``."""
        return self(xs).mean(0).argmax(-1)


@MODELS.register("dcls", kind="classifier", data="temporal")
def dcls_classifier(cfg: Any, *, in_features: int, num_classes: int, temporal: bool) -> DCLSClassifier:
    """DCLS-Delays network sized by ``cfg.hidden``, ``cfg.delay_taps`` (K) and ``cfg.channel_pool``;
    LIF decay ``β = 1 − dt/tau_mem`` (0 if ``tau_mem <= dt``), the recipe's reset to zero unless ``cfg.reset``
    is set; temporal data only. ``cfg.neuron`` other than
    ``"lif"`` replaces the recipe's hidden LIF (built as the mlp builder builds it)."""
    if not temporal:
        raise ValueError("model 'dcls' needs temporal data (input [T, B, F]); "
                         f"dataset {cfg.data!r} is static")
    from ..surrogate import get_surrogate

    beta = max(0.0, 1.0 - cfg.resolved("dt") / cfg.resolved("tau_mem"))
    neuron = None
    if cfg.neuron != "lif":  # any other registered spiking neuron replaces the recipe's LIF, as in mlp
        from ..neurons import neuron_class
        from .mlp import _neuron_kwargs

        cls = neuron_class(cfg.neuron)
        if not getattr(cls, "spiking", True):
            raise ValueError(f"model 'dcls': hidden neuron must spike; {cfg.neuron!r} is a non-spiking readout")

        def neuron(width: int) -> nn.Module:
            return cls(**_neuron_kwargs(cfg, cls, width))
    return DCLSClassifier(in_features, tuple(cfg.hidden), num_classes, K=cfg.delay_taps, pool=cfg.channel_pool,
                          beta=beta, dropout=cfg.dropout, surrogate=get_surrogate(config_surrogate(cfg)),
                          neuron=neuron, reset="zero" if cfg.reset is None else cfg.reset)


def delay_layers(model: nn.Module) -> list[DelayLinear | LearnableDelay]:
    """Every learnable-delay layer of ``model``."""
    return [m for m in model.modules() if isinstance(m, (DelayLinear, LearnableDelay))]


def delay_optimizer(model: nn.Module, lr: float, lr_positions: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam over :func:`~spikeforge.layers.delay_param_groups`; after every ``step()`` the delay
    positions are clamped into range (so a position pushed past the window can come back)."""
    opt = torch.optim.Adam(delay_param_groups(model, lr, lr_positions, weight_decay))
    layers = delay_layers(model)

    def clamp(*_: Any) -> None:
        for layer in layers:
            layer.clamp_positions_()

    opt.register_step_post_hook(clamp)
    return opt


def set_delay_sigma(model: nn.Module, epoch: int, epochs: int) -> None:
    """``SIG`` of every delay layer for ``epoch`` (0-based) of ``epochs``: geometric decay from ``⌊K/2⌋``
    to 0.23 over the first ``max(1, epochs // 4)`` epochs, then 0.23 (layers with ``K // 2 == 0``: 0)."""
    for layer in delay_layers(model):
        start = layer.K // 2
        sig = sigma_schedule(epoch, max(1, epochs // 4), start, SIGMA_END, "exponential") if start > 0 else 0.0
        layer.set_sigma(sig)
