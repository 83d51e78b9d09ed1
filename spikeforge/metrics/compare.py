"""ANN-vs-SNN comparison: the same architecture with ReLU instead of spiking neurons, both priced
by the same energy models."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..neurons import Neuron
from .energy import DEFAULT_ENERGY_MODELS, EnergyModel, price
from .profile import profile

__all__ = ["SequenceReLU", "ann_counterpart", "Comparison", "compare_ann_snn"]


class SequenceReLU(nn.ReLU):
    """``nn.ReLU`` marked as time-major (``[T, B, ...]``) so profiles can read the batch size
    from it, as they do from the neurons it replaces."""

    time_major = True


def ann_counterpart(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every spiking neuron replaced by :class:`SequenceReLU` and
    every non-spiking neuron (e.g. the ``LI`` readout) by ``nn.Identity``; weights are shared
    values, not shared tensors.

    Raises:
        ValueError: if the model holds other spiking modules (e.g. recurrent spiking layers),
            which have no stateless ReLU equivalent.
    """
    ann = copy.deepcopy(model)

    def replace(parent: nn.Module, prefix: str) -> None:
        for name, child in parent.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(child, Neuron):
                setattr(parent, name, SequenceReLU() if child.spiking else nn.Identity())
            elif getattr(child, "spiking", False):
                raise ValueError(f"ann_counterpart: {path} ({type(child).__name__}) is a spiking module "
                                 "without a stateless ReLU equivalent")
            else:
                replace(child, path)

    if isinstance(ann, Neuron):
        return SequenceReLU() if ann.spiking else nn.Identity()
    replace(ann, "")
    return ann


@dataclass(frozen=True)
class Comparison:
    """Energy per sample of an SNN and its ANN counterpart under each model.

    ``snn[name]``/``ann[name]`` are totals in that model's ``units[name]``; ``ratio[name]`` is
    ANN / SNN (> 1: the SNN is cheaper). ``ann_steps`` is the number of time steps the ANN was
    priced for and ``snn_steps`` the SNN's ``T``.
    """

    snn: dict[str, float]
    ann: dict[str, float]
    units: dict[str, str]
    snn_synops: dict[str, float]
    ann_synops: dict[str, float]
    snn_steps: int
    ann_steps: int

    @property
    def ratio(self) -> dict[str, float]:
        return {k: (self.ann[k] / self.snn[k] if self.snn[k] else float("inf")) for k in self.snn}

    def to_dict(self) -> dict[str, Any]:
        return {"snn": self.snn, "ann": self.ann, "units": self.units, "ratio": self.ratio,
                "snn_synops": self.snn_synops, "ann_synops": self.ann_synops,
                "snn_steps": self.snn_steps, "ann_steps": self.ann_steps}


@torch.no_grad()
def compare_ann_snn(
    model: nn.Module,
    x: Tensor,
    models: Iterable[EnergyModel] = DEFAULT_ENERGY_MODELS,
    *,
    ann_steps: int | None = 1,
    batch_size: int | None = None,
) -> Comparison:
    """Price ``model`` and :func:`ann_counterpart` of it on the same input with the same models.

    The ANN runs on the same time-major input; its per-sample costs are then scaled by
    ``ann_steps / T``: an ANN classifying a static input needs one step (``ann_steps=1``,
    exact for direct encoding, where every step is identical), while one processing every frame
    of a temporal input needs ``T`` (``ann_steps=None``).

    Args:
        model: The SNN.
        x: Input accepted by ``model`` (e.g. ``[T, B, ...]``, or ``[B, ...]`` with an encoder).
        models: Energy models (the default prices 45 nm fp32 ops, the bit budget and memory).
        ann_steps: Steps the ANN is priced for; ``None`` keeps the SNN's ``T``.
        batch_size: Samples in ``x`` when it cannot be read from a time-major layer.
    """
    models = tuple(models)
    was_training = model.training
    model.eval()
    try:
        with profile(model, batch_size=batch_size) as snn_prof:
            model(x)
        ann = ann_counterpart(model)
        with profile(ann, batch_size=batch_size) as ann_prof:
            ann(x)
    finally:
        model.train(was_training)
    steps = snn_prof.steps or 1
    if ann_steps is not None and (isinstance(ann_steps, bool) or int(ann_steps) < 1):
        raise ValueError(f"ann_steps must be a positive int or None, got {ann_steps!r}")
    n_ann = steps if ann_steps is None else int(ann_steps)
    scale = n_ann / steps
    ann_layers = [c.scaled(scale) for c in ann_prof.layers().values()]
    ann_syn = {k: v * scale for k, v in ann_prof.synops().items()}
    return Comparison(
        snn={m.name: snn_prof.energy(m).total for m in models},
        ann={m.name: price(ann_layers, m).total for m in models},
        units={m.name: m.unit for m in models},
        snn_synops=snn_prof.synops(), ann_synops=ann_syn, snn_steps=steps, ann_steps=n_ann,
    )
